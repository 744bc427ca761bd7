/* char_lstm: a character-level LSTM language model trained on a text file, then sampled one
 * character at a time from a prompt.
 *
 *   char_lstm [--text FILE] [--temperature T] [--steps N] [--seed N] [--cpu] [--out PREFIX] [--quiet]
 *
 * --text FILE       the corpus (any bytes; the vocabulary is its distinct bytes); default: the King
 *                   James Bible that tools/setup.sh installs as data/kjv.txt
 * --temperature T   sharpens (below 1) or flattens (above 1) the distribution the sample is drawn from
 * --steps N         train for N steps instead of the default (the test suite runs a shortened version)
 * --cpu             use the CPU backend instead of the Vulkan device (VKDL_DEVICE picks the GPU)
 * --help            every option with its default
 * Writes PREFIX.safetensors (PREFIX defaults to "char_lstm"): the model and the optimizer state.
 *
 * The model: embedding -> one LSTM layer -> linear head over the vocabulary, trained by
 * truncated back-propagation through BLOCK characters, each window starting from a zero state.
 * The last tenth of the text is held out for the validation loss printed at the end. This file
 * holds the model; support.c (its companion, shared with char_gpt) splits the text, runs the
 * training loop and draws the sample. */
#include "support.h"

#include <stdio.h>

/* Sized so that the default run takes a minute or two on a 2-core CPU Vulkan driver (lavapipe). */
enum { EMBED = 32, HIDDEN = 128, BLOCK = 64, BATCH = 32, DEFAULT_STEPS = 600 };
enum { EVAL_BATCHES = 8, SAMPLE_CHARS = 300 };
#define PROMPT "And God said"
#define TEMPERATURE 0.8 /* the default */

/* The children of the sequential model. */
enum { EMB, LSTM, HEAD };

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

/* What the loss and the sampling reuse. */
typedef struct run {
    vkdl_context *ctx;
    vkdl_module *model;
    batch *b;
    int vocab;
    int64_t fed; /* while sampling: how many characters the LSTM's carried state has seen */
} run;

/* The loss over windows [first, first + B) of ds, for support.c's training loop and held-out loss. */
static vkdl_tensor *window_loss(void *arg, const vkdl_dataset *ds, int64_t first)
{
    run *r = arg;
    return batch_loss(r->model, ds, first, r->b, r->vocab);
}

/* Sampling carries the LSTM's state from one call to the next, so each call feeds only what is new. */
static void sampling(void *arg, int on)
{
    run *r = arg;
    r->fed = 0;
    CHECK(vkdl_module_set_stateful(vkdl_module_child(r->model, LSTM), on));
}

/* Run ids[fed, n) ([n - fed, 1]: that many steps of a batch of one) through the model and keep the
 * last step's logits. */
static void next_logits(void *arg, const int32_t *ids, int n, float *out)
{
    run *r = arg;
    int64_t len = n - r->fed, shape[2] = {len, 1};
    vkdl_tensor *x, *logits, *last;
    CHECK(vkdl_tensor_create(r->ctx, VKDL_I32, 2, shape, &x));
    CHECK(vkdl_tensor_upload(x, ids + r->fed, VKDL_I32, sizeof(int32_t) * (size_t)len));
    CHECK(vkdl_module_forward(r->model, x, &logits));
    CHECK(vkdl_tensor_slice(logits, len - 1, len, &last));
    CHECK(vkdl_tensor_download(last, out, VKDL_F32, sizeof(float) * (size_t)r->vocab));
    vkdl_tensor_destroy(last);
    vkdl_graph_free(r->ctx);
    vkdl_tensor_destroy(x);
    r->fed = n;
}

int main(int argc, char **argv)
{
    ex_lm lm = {.o = {.steps = DEFAULT_STEPS, .seed = 1, .out = "char_lstm"}, .text = "data/kjv.txt",
                .temperature = TEMPERATURE, .loss = window_loss, .next_logits = next_logits, .sampling = sampling};
    ex_lm_start(&lm, argc, argv, "Trains a character-level LSTM on a text file, then samples it from a prompt.",
                BLOCK, BATCH);
    vkdl_context *ctx = lm.ctx;
    const int64_t B = lm.batch, T = BLOCK;

    vkdl_module *model = build_model(ctx, lm.vocab);
    CHECK(vkdl_module_init(model, lm.o.seed));
    printf("model: embedding %d, LSTM %d, %lld parameters\n", EMBED, HIDDEN, (long long)vkdl_module_numel(model));

    const long total = lm.o.steps;
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

    run r = {ctx, model, &b, lm.vocab, 0};
    lm.model = model, lm.opt = opt, lm.arg = &r;
    ex_lm_train(&lm);
    ex_lm_report(&lm, EVAL_BATCHES, PROMPT, SAMPLE_CHARS);

    batch_destroy(&b);
    ex_lm_destroy(&lm);
    return 0;
}
