/* char_lstm: a character-level LSTM language model trained on a text file, then sampled one
 * character at a time from a prompt.
 *
 *   char_lstm [--text FILE] [--steps N] [--seed N] [--cpu] [--out PREFIX] [--quiet]
 *
 * --text FILE   the corpus (any bytes; the vocabulary is its distinct bytes); default: the King
 *               James Bible that tools/setup.sh installs as data/kjv.txt
 * --steps N     train for N steps instead of the default (the test suite runs a shortened version)
 * --cpu         use the CPU backend instead of the Vulkan device (VKDL_DEVICE picks the GPU)
 * Writes PREFIX.safetensors (PREFIX defaults to "char_lstm"): the model and the optimizer state.
 *
 * The model: embedding -> one LSTM layer -> linear head over the vocabulary, trained by
 * truncated back-propagation through BLOCK characters, each window starting from a zero state.
 * The last tenth of the text is held out for the validation loss printed at the end. */
#include "vkdl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(call)                                                                                       \
    do {                                                                                                  \
        vkdl_status s_ = (call);                                                                          \
        if (s_ != VKDL_OK) {                                                                              \
            fprintf(stderr, "char_lstm: %s: %s\n", vkdl_status_string(s_), vkdl_last_error());           \
            exit(1);                                                                                      \
        }                                                                                                 \
    } while (0)

/* Sized so that the default run takes a minute or two on a 2-core CPU Vulkan driver (lavapipe). */
enum { EMBED = 32, HIDDEN = 128, BLOCK = 64, BATCH = 32, DEFAULT_STEPS = 600 };
enum { EVAL_BATCHES = 8, SAMPLE_CHARS = 300 };
#define PROMPT "And God said"
#define TEMPERATURE 0.8

/* The children of the sequential model. */
enum { EMB, LSTM, HEAD };

typedef struct options {
    const char *text, *out;
    int cpu, quiet;
    long steps;
    uint64_t seed;
} options;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* SplitMix64: a small seeded generator for sampling on the host. */
static double uniform01(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static void parse(int argc, char **argv, options *o)
{
    *o = (options){.text = "data/kjv.txt", .out = "char_lstm", .steps = DEFAULT_STEPS, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--cpu")) {
            o->cpu = 1;
        } else if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else if (v && !strcmp(a, "--text")) {
            o->text = v, i++;
        } else if (v && !strcmp(a, "--out")) {
            o->out = v, i++;
        } else if (v && !strcmp(a, "--steps")) {
            o->steps = atol(v), i++;
        } else if (v && !strcmp(a, "--seed")) {
            o->seed = strtoull(v, NULL, 10), i++;
        } else {
            fprintf(stderr, "usage: %s [--text FILE] [--steps N] [--seed N] [--cpu] [--out PREFIX] [--quiet]\n",
                    argv[0]);
            exit(2);
        }
    }
    if (o->steps < 1) {
        fprintf(stderr, "char_lstm: --steps must be positive\n");
        exit(2);
    }
}

static vkdl_module *build_model(vkdl_context *ctx, int vocab)
{
    vkdl_module *m[3], *model;
    CHECK(vkdl_embedding_create(ctx, vocab, EMBED, &m[EMB]));
    CHECK(vkdl_lstm_create(ctx, EMBED, HIDDEN, &m[LSTM]));
    CHECK(vkdl_linear_create(ctx, HIDDEN, vocab, 1, &m[HEAD]));
    CHECK(vkdl_sequential_create(ctx, 3, m, &model));
    return model;
}

/* The data set gives windows as [B, T], the LSTM wants time first: x and y are transposed on the
 * device into x_tb and y_tb ([T, B]), so the model runs [T, B] -> [T, B, E] -> [T, B, H] ->
 * [T, B, V] and the logits flatten to [T*B, V] in the same order as the targets. */
typedef struct batch {
    vkdl_tensor *x, *y, *x_tb, *y_tb, *y_flat;
} batch;

static void batch_create(vkdl_context *ctx, int64_t B, int64_t T, batch *b)
{
    int64_t bt[2] = {B, T}, tb[2] = {T, B}, flat = B * T;
    CHECK(vkdl_tensor_create(ctx, VKDL_I32, 2, bt, &b->x));
    CHECK(vkdl_tensor_create(ctx, VKDL_I32, 2, bt, &b->y));
    CHECK(vkdl_tensor_create(ctx, VKDL_I32, 2, tb, &b->x_tb));
    CHECK(vkdl_tensor_create(ctx, VKDL_I32, 2, tb, &b->y_tb));
    CHECK(vkdl_tensor_reshape(b->y_tb, 1, &flat, &b->y_flat));
}

static void batch_destroy(batch *b)
{
    vkdl_tensor_destroy(b->y_flat);
    vkdl_tensor_destroy(b->x_tb);
    vkdl_tensor_destroy(b->y_tb);
    vkdl_tensor_destroy(b->x);
    vkdl_tensor_destroy(b->y);
}

/* Load samples [first, first + B) and return the mean next-character cross-entropy on them. */
static vkdl_tensor *batch_loss(vkdl_module *model, const vkdl_dataset *ds, int64_t first, batch *b, int vocab)
{
    static const int swap[2] = {1, 0};
    CHECK(vkdl_dataset_batch(ds, first, vkdl_tensor_dim(b->x, 0), b->x, b->y));
    CHECK(vkdl_permute(b->x, swap, b->x_tb));
    CHECK(vkdl_permute(b->y, swap, b->y_tb));
    vkdl_tensor *logits, *flat, *loss;
    CHECK(vkdl_module_forward(model, b->x_tb, &logits));
    int64_t shape[2] = {vkdl_tensor_numel(b->y_flat), vocab};
    CHECK(vkdl_f_reshape(logits, 2, shape, &flat));
    CHECK(vkdl_f_cross_entropy(flat, b->y_flat, NULL, &loss));
    return loss;
}

/* Mean loss over up to EVAL_BATCHES batches of held-out windows, without recording a tape. */
static double evaluate(vkdl_context *ctx, vkdl_module *model, vkdl_dataset *val, batch *b, int vocab)
{
    const int64_t B = vkdl_tensor_dim(b->x, 0), n = vkdl_dataset_size(val) / B;
    int64_t batches = n < EVAL_BATCHES ? n : EVAL_BATCHES;
    double sum = 0;
    vkdl_module_set_training(model, 0);
    int was = vkdl_grad_enabled(ctx, 0);
    for (int64_t i = 0; i < batches; i++) {
        float l;
        CHECK(vkdl_tensor_download(batch_loss(model, val, i * B, b, vocab), &l, VKDL_F32, sizeof l));
        sum += l;
        vkdl_graph_free(ctx);
    }
    vkdl_grad_enabled(ctx, was);
    vkdl_module_set_training(model, 1);
    return batches ? sum / (double)batches : NAN;
}

/* Run ids[0, n) ([n, 1]: n steps of a batch of one) through the model, whose LSTM carries its
 * state from the previous call, and draw the next character from the last step's logits. */
static int next_char(vkdl_context *ctx, vkdl_module *model, const int32_t *ids, int64_t n, int vocab, float *logits,
                     double *p, uint64_t *rng)
{
    int64_t shape[2] = {n, 1};
    vkdl_tensor *x, *out;
    CHECK(vkdl_tensor_create(ctx, VKDL_I32, 2, shape, &x));
    CHECK(vkdl_tensor_upload(x, ids, VKDL_I32, sizeof(int32_t) * (size_t)n));
    CHECK(vkdl_module_forward(model, x, &out));
    vkdl_tensor *last;
    CHECK(vkdl_tensor_slice(out, n - 1, n, &last));
    CHECK(vkdl_tensor_download(last, logits, VKDL_F32, sizeof(float) * (size_t)vocab));
    vkdl_tensor_destroy(last);
    vkdl_graph_free(ctx);
    vkdl_tensor_destroy(x);

    double top = logits[0], total = 0;
    for (int v = 1; v < vocab; v++)
        top = logits[v] > top ? logits[v] : top;
    for (int v = 0; v < vocab; v++)
        total += p[v] = exp((logits[v] - top) / TEMPERATURE);
    double r = uniform01(rng) * total;
    for (int v = 0; v < vocab; v++)
        if ((r -= p[v]) < 0)
            return v;
    return vocab - 1;
}

/* Feed the prompt once, then one character per step: the LSTM's carried state holds the context. */
static void sample(vkdl_context *ctx, vkdl_module *model, vkdl_dataset *ds, uint64_t seed)
{
    const int vocab = vkdl_dataset_classes(ds);
    int32_t prompt[sizeof PROMPT];
    int n = 0;
    for (const char *c = PROMPT; *c; c++)
        if (vkdl_dataset_encode(ds, (unsigned char)*c) >= 0) /* a small corpus may lack some letters */
            prompt[n++] = vkdl_dataset_encode(ds, (unsigned char)*c);
    if (n == 0)
        prompt[n++] = 0;
    for (int i = 0; i < n; i++)
        putchar(vkdl_dataset_decode(ds, prompt[i]));

    float *logits = malloc(sizeof(float) * (size_t)vocab);
    double *p = malloc(sizeof(double) * (size_t)vocab);
    if (!logits || !p) {
        fprintf(stderr, "char_lstm: out of memory\n");
        exit(1);
    }
    uint64_t rng = seed;
    vkdl_module *lstm = vkdl_module_child(model, LSTM);
    CHECK(vkdl_module_set_stateful(lstm, 1));
    vkdl_module_set_training(model, 0);
    int was = vkdl_grad_enabled(ctx, 0);
    int32_t c = next_char(ctx, model, prompt, n, vocab, logits, p, &rng);
    for (int k = 0; k < SAMPLE_CHARS; k++) {
        putchar(vkdl_dataset_decode(ds, c));
        if (k + 1 < SAMPLE_CHARS)
            c = next_char(ctx, model, &c, 1, vocab, logits, p, &rng);
    }
    putchar('\n');
    vkdl_grad_enabled(ctx, was);
    vkdl_module_set_training(model, 1);
    CHECK(vkdl_module_set_stateful(lstm, 0));
    free(p);
    free(logits);
}

int main(int argc, char **argv)
{
    options o;
    parse(argc, argv, &o);

    vkdl_context *ctx;
    vkdl_context_create_info ci = {.backend = o.cpu ? VKDL_BACKEND_CPU : VKDL_BACKEND_VULKAN};
    CHECK(vkdl_context_create(&ci, &ctx));

    vkdl_dataset *train, *val, *gap;
    vkdl_status s = vkdl_dataset_load_text(o.text, BLOCK, &train);
    if (s != VKDL_OK) {
        fprintf(stderr, "char_lstm: %s\n%s", vkdl_last_error(),
                s == VKDL_ERROR_IO ? "(run tools/setup.sh to install data/kjv.txt, or pass --text FILE)\n" : "");
        exit(1);
    }
    /* Sample i is the window starting at byte i: the last tenth of the windows (at least one
     * batch) is held out, and the BLOCK windows before it are dropped so no training window reads
     * held-out text. */
    int64_t n_val = vkdl_dataset_size(train) / 10 > BATCH ? vkdl_dataset_size(train) / 10 : BATCH;
    if (vkdl_dataset_size(train) - n_val - BLOCK < 1) {
        fprintf(stderr, "char_lstm: %s is too short: need at least %d bytes\n", o.text, 2 * BLOCK + BATCH + 1);
        exit(1);
    }
    CHECK(vkdl_dataset_split(train, n_val, &val));
    CHECK(vkdl_dataset_split(train, BLOCK, &gap));
    vkdl_dataset_destroy(gap);
    CHECK(vkdl_dataset_shuffle(val, 12345));
    const int vocab = vkdl_dataset_classes(train);
    const int64_t n_train = vkdl_dataset_size(train);
    const int64_t B = n_train < BATCH ? n_train : BATCH, T = BLOCK;
    printf("device: %s\n", vkdl_context_device_name(ctx));
    printf("data: %s, vocabulary %d, %lld training and %lld held-out windows of %lld characters\n", o.text, vocab,
           (long long)n_train, (long long)n_val, (long long)T);

    vkdl_module *model = build_model(ctx, vocab);
    CHECK(vkdl_module_init(model, o.seed));
    printf("model: embedding %d, LSTM %d, %lld parameters\n", EMBED, HIDDEN, (long long)vkdl_module_numel(model));

    const long total = o.steps;
    vkdl_optim_create_info oi = {
        .hyper = {.type = VKDL_ADAM, .lr = 5e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f},
        .warmup_steps = total >= 200 ? total / 50 : 0,
        .total_steps = total,
        .min_lr = 1e-4f,
        .max_grad_norm = 1.0f,
    };
    vkdl_optim *opt;
    CHECK(vkdl_optim_create(model, &oi, &opt));

    batch b;
    batch_create(ctx, B, T, &b);
    int64_t steps64 = total;
    vkdl_tensor *losses;
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, 1, &steps64, &losses)); /* every step's loss, read at the end */

    const int64_t per_epoch = n_train / B;
    double t0 = now();
    for (long step = 0; step < total; step++) {
        int64_t i = step % per_epoch;
        if (i == 0)
            CHECK(vkdl_dataset_shuffle(train, o.seed * 1000 + (uint64_t)(step / per_epoch)));
        vkdl_tensor *loss = batch_loss(model, train, i * B, &b, vocab), *slot;
        CHECK(vkdl_tensor_slice(losses, step, step + 1, &slot));
        CHECK(vkdl_copy(loss, slot));
        CHECK(vkdl_optim_zero_grad(opt));
        CHECK(vkdl_backward(loss));
        CHECK(vkdl_optim_update(opt));
        /* Reading a value waits for the device, so only every 25th step does. */
        if (!o.quiet && (step % 25 == 0 || step == total - 1)) {
            float l;
            CHECK(vkdl_tensor_download(slot, &l, VKDL_F32, sizeof l));
            fprintf(stderr, "step %5ld/%ld  loss %.4f  lr %.2e  %6.0f tokens/s\n", step + 1, total, l,
                    vkdl_optim_lr(opt), (double)((step + 1) * B * T) / (now() - t0));
        }
        vkdl_tensor_destroy(slot);
    }
    CHECK(vkdl_sync(ctx));
    double train_s = now() - t0;
    printf("trained %ld steps of %lldx%lld characters in %.1f s (%.0f tokens/s)\n", total, (long long)B,
           (long long)T, train_s, (double)total * (double)(B * T) / train_s);

    char path[1024];
    snprintf(path, sizeof path, "%s.safetensors", o.out);
    CHECK(vkdl_checkpoint_save(path, model, opt));
    printf("checkpoint: %s\n", path);

    double val_loss = evaluate(ctx, model, val, &b, vocab);
    printf("held-out loss %.4f\n", val_loss);
    printf("sample:\n");
    sample(ctx, model, train, o.seed);

    float *loss_host = malloc(sizeof(float) * (size_t)total);
    if (!loss_host) {
        fprintf(stderr, "char_lstm: out of memory\n");
        exit(1);
    }
    CHECK(vkdl_tensor_download(losses, loss_host, VKDL_F32, sizeof(float) * (size_t)total));
    long tail = total / 10 > 0 ? total / 10 : 1;
    double last = 0;
    for (long i = total - tail; i < total; i++)
        last += loss_host[i];
    printf("first_loss %.6f last_loss %.6f val_loss %.6f\n", loss_host[0], last / (double)tail, val_loss);

    free(loss_host);
    batch_destroy(&b);
    vkdl_tensor_destroy(losses);
    vkdl_optim_destroy(opt);
    vkdl_module_destroy(model);
    vkdl_dataset_destroy(train);
    vkdl_dataset_destroy(val);
    vkdl_context_destroy(ctx);
    return 0;
}
