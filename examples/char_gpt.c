/* char_gpt: a small character-level GPT trained on a text file, then asked to continue a prompt.
 *
 *   char_gpt [--text FILE] [--steps N] [--seed N] [--cpu] [--out PREFIX] [--quiet]
 *
 * --text FILE   the corpus (any bytes; the vocabulary is its distinct bytes); default: the King
 *               James Bible that tools/setup.sh installs as data/kjv.txt
 * --steps N     train for N steps instead of the default (the test suite runs a shortened version)
 * --cpu         use the CPU backend instead of the Vulkan device (VKDL_DEVICE picks the GPU)
 * Writes PREFIX.safetensors (PREFIX defaults to "char_gpt"): the model and the optimizer state.
 *
 * The model: token embedding + learned position embedding, LAYERS pre-norm causal transformer
 * blocks, a final layer norm and a linear head over the vocabulary. The last tenth of the text is
 * held out for the validation loss printed at the end. */
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
            fprintf(stderr, "char_gpt: %s: %s\n", vkdl_status_string(s_), vkdl_last_error());            \
            exit(1);                                                                                      \
        }                                                                                                 \
    } while (0)

/* Sized so that the default run takes a few minutes on a 2-core CPU Vulkan driver (lavapipe). */
enum { DIM = 64, HEADS = 4, LAYERS = 2, BLOCK = 64, BATCH = 16, DEFAULT_STEPS = 1200 };
enum { EVAL_BATCHES = 8, SAMPLE_CHARS = 300 };
#define PROMPT "And God said"
#define TEMPERATURE 0.8

/* Children of the container that holds the whole model, so one optimizer and one checkpoint
 * cover everything. */
enum { TOK_EMB, POS_EMB, FIRST_BLOCK, LN_F = FIRST_BLOCK + LAYERS, HEAD, N_MODULES };

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
    *o = (options){.text = "data/kjv.txt", .out = "char_gpt", .steps = DEFAULT_STEPS, .seed = 1};
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
        fprintf(stderr, "char_gpt: --steps must be positive\n");
        exit(2);
    }
}

static vkdl_module *build_model(vkdl_context *ctx, int vocab)
{
    vkdl_module *m[N_MODULES], *model;
    CHECK(vkdl_embedding_create(ctx, vocab, DIM, &m[TOK_EMB]));
    CHECK(vkdl_embedding_create(ctx, BLOCK, DIM, &m[POS_EMB]));
    for (int l = 0; l < LAYERS; l++)
        CHECK(vkdl_transformer_block_create(ctx, DIM, HEADS, 4 * DIM, 1, 0.0f, &m[FIRST_BLOCK + l]));
    CHECK(vkdl_layernorm_create(ctx, DIM, 1e-5f, &m[LN_F]));
    CHECK(vkdl_linear_create(ctx, DIM, vocab, 1, &m[HEAD]));
    CHECK(vkdl_sequential_create(ctx, N_MODULES, m, &model));
    return model;
}

/* ids [B, L] -> logits [B, L, V]; pos holds 0..L-1. The container is never run as a sequence:
 * the position embedding joins in the middle. */
static vkdl_tensor *forward(vkdl_module *model, vkdl_tensor *ids, vkdl_tensor *pos)
{
    vkdl_tensor *tok, *where, *h;
    CHECK(vkdl_module_forward(vkdl_module_child(model, TOK_EMB), ids, &tok));
    CHECK(vkdl_module_forward(vkdl_module_child(model, POS_EMB), pos, &where));
    CHECK(vkdl_f_binary(VKDL_ADD, tok, where, &h)); /* [B, L, D] + [L, D] broadcasts */
    for (int l = 0; l < LAYERS; l++)
        CHECK(vkdl_module_forward(vkdl_module_child(model, FIRST_BLOCK + l), h, &h));
    CHECK(vkdl_module_forward(vkdl_module_child(model, LN_F), h, &h));
    CHECK(vkdl_module_forward(vkdl_module_child(model, HEAD), h, &h));
    return h;
}

/* Mean cross-entropy of next-character prediction over a batch; logits and targets flattened to
 * [B*T, V] and [B*T]. */
static vkdl_tensor *batch_loss(vkdl_module *model, vkdl_tensor *x, vkdl_tensor *y_flat, vkdl_tensor *pos, int vocab)
{
    vkdl_tensor *logits = forward(model, x, pos), *flat, *loss;
    int64_t shape[2] = {vkdl_tensor_numel(y_flat), vocab};
    CHECK(vkdl_f_reshape(logits, 2, shape, &flat));
    CHECK(vkdl_f_cross_entropy(flat, y_flat, NULL, &loss));
    return loss;
}

/* Mean loss over up to EVAL_BATCHES batches of held-out windows, without recording a tape. */
static double evaluate(vkdl_context *ctx, vkdl_module *model, vkdl_dataset *val, vkdl_tensor *x, vkdl_tensor *y,
                       vkdl_tensor *y_flat, vkdl_tensor *pos, int vocab)
{
    const int64_t B = vkdl_tensor_dim(x, 0), n = vkdl_dataset_size(val) / B;
    double sum = 0;
    int64_t batches = n < EVAL_BATCHES ? n : EVAL_BATCHES;
    vkdl_module_set_training(model, 0);
    int was = vkdl_grad_enabled(ctx, 0);
    for (int64_t b = 0; b < batches; b++) {
        CHECK(vkdl_dataset_batch(val, b * B, B, x, y));
        float l;
        CHECK(vkdl_tensor_download(batch_loss(model, x, y_flat, pos, vocab), &l, VKDL_F32, sizeof l));
        sum += l;
        vkdl_graph_free(ctx);
    }
    vkdl_grad_enabled(ctx, was);
    vkdl_module_set_training(model, 1);
    return batches ? sum / (double)batches : NAN;
}

/* Continue the prompt by SAMPLE_CHARS characters: run the last BLOCK characters through the model,
 * draw the next one from the last position's distribution at TEMPERATURE, repeat. */
static void sample(vkdl_context *ctx, vkdl_module *model, vkdl_dataset *ds, vkdl_tensor *pos, uint64_t seed)
{
    const int vocab = vkdl_dataset_classes(ds);
    int32_t ids[sizeof PROMPT + SAMPLE_CHARS];
    int n = 0;
    for (const char *c = PROMPT; *c; c++)
        if (vkdl_dataset_encode(ds, (unsigned char)*c) >= 0) /* a small corpus may lack some letters */
            ids[n++] = vkdl_dataset_encode(ds, (unsigned char)*c);
    if (n == 0)
        ids[n++] = 0;
    for (int i = 0; i < n; i++)
        putchar(vkdl_dataset_decode(ds, ids[i]));

    float *logits = malloc(sizeof(float) * BLOCK * (size_t)vocab);
    double *p = malloc(sizeof(double) * (size_t)vocab);
    if (!logits || !p) {
        fprintf(stderr, "char_gpt: out of memory\n");
        exit(1);
    }
    uint64_t rng = seed;
    vkdl_module_set_training(model, 0);
    int was = vkdl_grad_enabled(ctx, 0);
    for (int k = 0; k < SAMPLE_CHARS; k++) {
        int64_t L = n < BLOCK ? n : BLOCK, shape[2] = {1, L};
        vkdl_tensor *x, *where;
        CHECK(vkdl_tensor_create(ctx, VKDL_I32, 2, shape, &x));
        CHECK(vkdl_tensor_upload(x, ids + n - L, VKDL_I32, sizeof(int32_t) * (size_t)L));
        CHECK(vkdl_tensor_slice(pos, 0, L, &where));
        CHECK(vkdl_tensor_download(forward(model, x, where), logits, VKDL_F32, sizeof(float) * (size_t)(L * vocab)));
        vkdl_graph_free(ctx);
        vkdl_tensor_destroy(where);
        vkdl_tensor_destroy(x);

        const float *last = logits + (L - 1) * vocab;
        double top = last[0], total = 0;
        for (int v = 1; v < vocab; v++)
            top = last[v] > top ? last[v] : top;
        for (int v = 0; v < vocab; v++)
            total += p[v] = exp((last[v] - top) / TEMPERATURE);
        double r = uniform01(&rng) * total;
        int next = vocab - 1;
        for (int v = 0; v < vocab; v++)
            if ((r -= p[v]) < 0) {
                next = v;
                break;
            }
        ids[n++] = next;
        putchar(vkdl_dataset_decode(ds, next));
    }
    putchar('\n');
    vkdl_grad_enabled(ctx, was);
    vkdl_module_set_training(model, 1);
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
        fprintf(stderr, "char_gpt: %s\n%s", vkdl_last_error(),
                s == VKDL_ERROR_IO ? "(run tools/setup.sh to install data/kjv.txt, or pass --text FILE)\n" : "");
        exit(1);
    }
    /* Sample i is the window starting at byte i: the last tenth of the windows (at least one
     * batch) is held out, and the BLOCK windows before it are dropped so no training window reads
     * held-out text. */
    int64_t n_val = vkdl_dataset_size(train) / 10 > BATCH ? vkdl_dataset_size(train) / 10 : BATCH;
    if (vkdl_dataset_size(train) - n_val - BLOCK < 1) {
        fprintf(stderr, "char_gpt: %s is too short: need at least %d bytes\n", o.text, 2 * BLOCK + BATCH + 1);
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
    printf("model: %d layers, dim %d, %d heads, %lld parameters\n", LAYERS, DIM, HEADS,
           (long long)vkdl_module_numel(model));

    const long total = o.steps;
    vkdl_optim_create_info oi = {
        .hyper = {.type = VKDL_ADAMW, .lr = 3e-3f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .weight_decay = 0.1f},
        .warmup_steps = total >= 200 ? total / 20 : 0,
        .total_steps = total,
        .min_lr = 1e-4f,
        .max_grad_norm = 1.0f,
    };
    vkdl_optim *opt;
    CHECK(vkdl_optim_create(model, &oi, &opt));

    int64_t xs[2] = {B, T}, flat = B * T, steps64 = total;
    vkdl_tensor *x, *y, *y_flat, *pos, *losses;
    CHECK(vkdl_tensor_create(ctx, VKDL_I32, 2, xs, &x));
    CHECK(vkdl_tensor_create(ctx, VKDL_I32, 2, xs, &y));
    CHECK(vkdl_tensor_reshape(y, 1, &flat, &y_flat));
    CHECK(vkdl_tensor_create(ctx, VKDL_I32, 1, &T, &pos));
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, 1, &steps64, &losses)); /* every step's loss, read at the end */
    int32_t positions[BLOCK];
    for (int t = 0; t < BLOCK; t++)
        positions[t] = t;
    CHECK(vkdl_tensor_upload(pos, positions, VKDL_I32, sizeof positions));

    const int64_t per_epoch = n_train / B;
    double t0 = now();
    for (long step = 0; step < total; step++) {
        int64_t b = step % per_epoch;
        if (b == 0)
            CHECK(vkdl_dataset_shuffle(train, o.seed * 1000 + (uint64_t)(step / per_epoch)));
        CHECK(vkdl_dataset_batch(train, b * B, B, x, y));
        vkdl_tensor *loss = batch_loss(model, x, y_flat, pos, vocab), *slot;
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

    double val_loss = evaluate(ctx, model, val, x, y, y_flat, pos, vocab);
    printf("held-out loss %.4f\n", val_loss);
    printf("sample:\n");
    sample(ctx, model, train, pos, o.seed);

    float *loss_host = malloc(sizeof(float) * (size_t)total);
    if (!loss_host) {
        fprintf(stderr, "char_gpt: out of memory\n");
        exit(1);
    }
    CHECK(vkdl_tensor_download(losses, loss_host, VKDL_F32, sizeof(float) * (size_t)total));
    long tail = total / 10 > 0 ? total / 10 : 1;
    double last = 0;
    for (long i = total - tail; i < total; i++)
        last += loss_host[i];
    printf("first_loss %.6f last_loss %.6f val_loss %.6f\n", loss_host[0], last / (double)tail, val_loss);

    free(loss_host);
    vkdl_tensor_destroy(y_flat);
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(y);
    vkdl_tensor_destroy(pos);
    vkdl_tensor_destroy(losses);
    vkdl_optim_destroy(opt);
    vkdl_module_destroy(model);
    vkdl_dataset_destroy(train);
    vkdl_dataset_destroy(val);
    vkdl_context_destroy(ctx);
    return 0;
}
