/* char_gpt: a small character-level GPT trained on a text file, then asked to continue a prompt.
 *
 *   char_gpt [--text FILE] [--temperature T] [--steps N] [--seed N] [--cpu] [--out PREFIX] [--quiet]
 *
 * --text FILE       the corpus (any bytes; the vocabulary is its distinct bytes); default: the King
 *                   James Bible that tools/setup.sh installs as data/kjv.txt
 * --temperature T   sharpens (below 1) or flattens (above 1) the distribution the sample is drawn from
 * --steps N         train for N steps instead of the default (the test suite runs a shortened version)
 * --cpu             use the CPU backend instead of the Vulkan device (VKDL_DEVICE picks the GPU)
 * --help            every option with its default
 * Writes PREFIX.safetensors (PREFIX defaults to "char_gpt"): the model and the optimizer state.
 *
 * The model: token embedding + learned position embedding, LAYERS pre-norm causal transformer
 * blocks, a final layer norm and a linear head over the vocabulary. The last tenth of the text is
 * held out for the validation loss printed at the end. This file holds the model; support.c (its
 * companion, shared with char_lstm) splits the text, runs the training loop and draws the sample. */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>

/* Sized so that the default run takes a few minutes on a 2-core CPU Vulkan driver (lavapipe). */
enum { DIM = 64, HEADS = 4, LAYERS = 2, BLOCK = 64, BATCH = 16, DEFAULT_STEPS = 1200 };
enum { EVAL_BATCHES = 8, SAMPLE_CHARS = 300 };
#define PROMPT "And God said"
#define TEMPERATURE 0.8 /* the default */

/* Children of the container that holds the whole model, so one optimizer and one checkpoint
 * cover everything. */
enum { TOK_EMB, POS_EMB, FIRST_BLOCK, LN_F = FIRST_BLOCK + LAYERS, HEAD, N_MODULES };

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

/* The tensors the loss and the sampling reuse. */
typedef struct gpt {
    vkdl_context *ctx;
    vkdl_module *model;
    vkdl_tensor *x, *y, *y_flat, *pos;
    int vocab;
} gpt;

/* The loss over windows [first, first + B) of ds, for support.c's training loop and held-out loss. */
static vkdl_tensor *window_loss(void *arg, const vkdl_dataset *ds, int64_t first)
{
    gpt *g = arg;
    CHECK(vkdl_dataset_batch(ds, first, vkdl_tensor_dim(g->x, 0), g->x, g->y));
    return batch_loss(g->model, g->x, g->y_flat, g->pos, g->vocab);
}

/* For sampling: run the last BLOCK characters of ids[0, n) through the model and keep the logits
 * at the last position. */
static void next_logits(void *arg, const int32_t *ids, int n, float *out)
{
    gpt *g = arg;
    int64_t L = n < BLOCK ? n : BLOCK, shape[2] = {1, L}, rows[2] = {L, g->vocab};
    vkdl_tensor *x, *where, *logits, *last;
    CHECK(vkdl_tensor_create(g->ctx, VKDL_I32, 2, shape, &x));
    CHECK(vkdl_tensor_upload(x, ids + n - L, VKDL_I32, sizeof(int32_t) * (size_t)L));
    CHECK(vkdl_tensor_slice(g->pos, 0, L, &where));
    CHECK(vkdl_tensor_reshape(forward(g->model, x, where), 2, rows, &logits));
    CHECK(vkdl_tensor_slice(logits, L - 1, L, &last));
    CHECK(vkdl_tensor_download(last, out, VKDL_F32, sizeof(float) * (size_t)g->vocab));
    vkdl_tensor_destroy(last);
    vkdl_tensor_destroy(logits);
    vkdl_graph_free(g->ctx);
    vkdl_tensor_destroy(where);
    vkdl_tensor_destroy(x);
}

int main(int argc, char **argv)
{
    ex_lm lm = {.o = {.steps = DEFAULT_STEPS, .seed = 1, .out = "char_gpt"}, .text = "data/kjv.txt",
                .temperature = TEMPERATURE, .loss = window_loss, .next_logits = next_logits};
    ex_lm_start(&lm, argc, argv, "Trains a small character-level GPT on a text file, then asks it to continue a "
                "prompt.", BLOCK, BATCH);
    vkdl_context *ctx = lm.ctx;
    const int64_t B = lm.batch, T = BLOCK;

    vkdl_module *model = build_model(ctx, lm.vocab);
    CHECK(vkdl_module_init(model, lm.o.seed));
    printf("model: %d layers, dim %d, %d heads, %lld parameters\n", LAYERS, DIM, HEADS,
           (long long)vkdl_module_numel(model));

    const long total = lm.o.steps;
    vkdl_optim_create_info oi = {
        .hyper = {.type = VKDL_ADAMW, .lr = 3e-3f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .weight_decay = 0.1f},
        .warmup_steps = total >= 200 ? total / 20 : 0,
        .total_steps = total,
        .min_lr = 1e-4f,
        .max_grad_norm = 1.0f,
    };
    vkdl_optim *opt;
    CHECK(vkdl_optim_create(model, &oi, &opt));

    int64_t xs[2] = {B, T}, flat = B * T;
    vkdl_tensor *x, *y, *y_flat, *pos;
    CHECK(vkdl_tensor_create(ctx, VKDL_I32, 2, xs, &x));
    CHECK(vkdl_tensor_create(ctx, VKDL_I32, 2, xs, &y));
    CHECK(vkdl_tensor_reshape(y, 1, &flat, &y_flat));
    CHECK(vkdl_tensor_create(ctx, VKDL_I32, 1, &T, &pos));
    int32_t positions[BLOCK];
    for (int t = 0; t < BLOCK; t++)
        positions[t] = t;
    CHECK(vkdl_tensor_upload(pos, positions, VKDL_I32, sizeof positions));

    gpt g = {ctx, model, x, y, y_flat, pos, lm.vocab};
    lm.model = model, lm.opt = opt, lm.arg = &g;
    ex_lm_train(&lm);
    ex_lm_report(&lm, EVAL_BATCHES, PROMPT, SAMPLE_CHARS);

    vkdl_tensor_destroy(y_flat);
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(y);
    vkdl_tensor_destroy(pos);
    ex_lm_destroy(&lm);
    return 0;
}
