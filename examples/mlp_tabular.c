/* mlp_tabular: a small MLP classifier on a numeric table (a CSV file, one sample per row).
 *
 *   mlp_tabular [--csv FILE] [--label-column K] [--steps N] [--seed N] [--cpu] [--out PREFIX] [--quiet]
 *   mlp_tabular --help    (every option with its default)
 *
 * --csv FILE         the table (plain or gzip; header lines are skipped); default: scikit-learn's
 *                    breast cancer table. iris.csv and wine_data.csv from the same directory work too
 * --label-column K   the column holding the class (0-based; negative counts from the end); default -1
 * --steps N          train for N steps of batch 32 instead of the default
 * --cpu              use the CPU backend instead of the Vulkan device (VKDL_DEVICE picks the GPU)
 * Writes PREFIX.safetensors (PREFIX defaults to "mlp_tabular"): the model and the optimizer state.
 *
 * A fifth of the shuffled rows is held out for the test accuracy; features are standardised with
 * the training rows' statistics. support.c, this file's companion, holds the command line and the
 * small helpers every example shares. */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>

#define SKLEARN_DATA "/usr/lib/python3/dist-packages/sklearn/datasets/data/"
enum { HIDDEN1 = 64, HIDDEN2 = 32, BATCH = 32, DEFAULT_STEPS = 400, LOSS_WINDOW = 50 };
#define DROPOUT 0.1f

static vkdl_module *build_model(vkdl_context *ctx, int64_t features, int classes, uint64_t seed)
{
    vkdl_module *l[6], *m;
    CHECK(vkdl_linear_create(ctx, features, HIDDEN1, 1, &l[0]));
    CHECK(vkdl_activation_create(ctx, VKDL_RELU, &l[1]));
    CHECK(vkdl_dropout_create(ctx, DROPOUT, seed, &l[2]));
    CHECK(vkdl_linear_create(ctx, HIDDEN1, HIDDEN2, 1, &l[3]));
    CHECK(vkdl_activation_create(ctx, VKDL_RELU, &l[4]));
    CHECK(vkdl_linear_create(ctx, HIDDEN2, classes, 1, &l[5]));
    CHECK(vkdl_sequential_create(ctx, 6, l, &m));
    return m;
}

/* Accuracy over a whole data set in one batch (these tables are small), in evaluation mode
 * (dropout off) and without recording a tape. */
static double evaluate(vkdl_context *ctx, vkdl_module *model, const vkdl_dataset *ds, int64_t features)
{
    const int64_t n = vkdl_dataset_size(ds), xs[2] = {n, features};
    vkdl_tensor *x, *y, *logits, *pred;
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, 2, xs, &x));
    CHECK(vkdl_tensor_create(ctx, VKDL_I32, 1, &n, &y));
    CHECK(vkdl_tensor_create(ctx, VKDL_I32, 1, &n, &pred));
    CHECK(vkdl_dataset_batch(ds, 0, n, x, y));
    vkdl_module_set_training(model, 0);
    int was = vkdl_grad_enabled(ctx, 0);
    CHECK(vkdl_module_forward(model, x, &logits));
    CHECK(vkdl_reduce(VKDL_ARGMAX, logits, -1, pred));
    int32_t *p = malloc(sizeof(int32_t) * 2 * (size_t)n), *label = p + n;
    CHECK(vkdl_tensor_download(pred, p, VKDL_I32, sizeof(int32_t) * (size_t)n));
    CHECK(vkdl_tensor_download(y, label, VKDL_I32, sizeof(int32_t) * (size_t)n));
    vkdl_graph_free(ctx);
    vkdl_grad_enabled(ctx, was);
    vkdl_module_set_training(model, 1);
    int64_t hits = 0;
    for (int64_t i = 0; i < n; i++)
        hits += p[i] == label[i];
    free(p);
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(y);
    vkdl_tensor_destroy(pred);
    return (double)hits / (double)n;
}

int main(int argc, char **argv)
{
    ex_common o = {.steps = DEFAULT_STEPS, .seed = 1, .out = "mlp_tabular"};
    const char *csv = SKLEARN_DATA "breast_cancer.csv";
    int label_column = -1;
    const ex_option own[] = {
        {"csv", EX_STRING, &csv, EX_ANY, "FILE", "the table (plain or gzip; header lines are skipped)"},
        {"label-column", EX_INT, &label_column, EX_ANY, "K",
         "the column of the class (0-based; negative counts from the end)"},
        {NULL},
    };
    vkdl_context *ctx = ex_start(argc, argv, "Trains a small MLP classifier on a numeric table (a CSV file, one "
                                 "sample per row).", own, &o);

    vkdl_dataset *train, *test;
    CHECK(vkdl_dataset_load_csv(csv, label_column, &train));
    int64_t fs[VKDL_MAX_DIMS];
    if (vkdl_dataset_sample_shape(train, fs) != 1)
        ex_fail("%s is not a table of feature rows", csv);
    const int64_t features = fs[0], n_test = vkdl_dataset_size(train) / 5;
    const int classes = vkdl_dataset_classes(train);
    CHECK(vkdl_dataset_shuffle(train, o.seed));
    CHECK(vkdl_dataset_split(train, n_test, &test));
    CHECK(vkdl_dataset_standardize(train, test));
    const int64_t n_train = vkdl_dataset_size(train);
    if (n_train < BATCH || n_test < 1)
        ex_fail("%s has too few rows (%lld for training, %lld for testing)", csv, (long long)n_train,
                (long long)n_test);
    printf("data: %s: %lld features, %d classes, %lld training and %lld test rows\n", csv, (long long)features,
           classes, (long long)n_train, (long long)n_test);

    vkdl_module *model = build_model(ctx, features, classes, o.seed);
    CHECK(vkdl_module_init(model, o.seed));
    printf("model: %lld parameters\n", (long long)vkdl_module_numel(model));

    const long total = o.steps;
    vkdl_optim_create_info oi = {
        .hyper = {.type = VKDL_ADAMW, .lr = 3e-3f, .weight_decay = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f,
                  .eps = 1e-8f},
        .total_steps = total,
        .min_lr = 1e-4f,
    };
    vkdl_optim *opt;
    CHECK(vkdl_optim_create(model, &oi, &opt));

    const int64_t B = BATCH, xs[2] = {B, features}, nsteps = total;
    vkdl_tensor *x, *y, *losses;
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, 2, xs, &x));
    CHECK(vkdl_tensor_create(ctx, VKDL_I32, 1, &B, &y));
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, 1, &nsteps, &losses)); /* every step's loss, read at the end */
    const long log_every = total >= 10 ? total / 10 : 1;
    double t0 = ex_now();
    for (long step = 0; step < total; step++) {
        CHECK(vkdl_dataset_batch(train, ex_batch_start(train, step, B, o.seed), B, x, y));
        vkdl_tensor *logits, *loss;
        CHECK(vkdl_module_forward(model, x, &logits));
        CHECK(vkdl_f_cross_entropy(logits, y, NULL, &loss));
        ex_record(losses, step, loss);
        CHECK(vkdl_optim_zero_grad(opt));
        CHECK(vkdl_backward(loss));
        CHECK(vkdl_optim_update(opt));
        /* Reading a value waits for the device, so only the logged steps do. */
        if (!o.quiet && ((step + 1) % log_every == 0 || step == total - 1))
            printf("step %4ld/%ld  loss %.4f  lr %.2e\n", step + 1, total, ex_read(losses, step), vkdl_optim_lr(opt));
    }
    CHECK(vkdl_sync(ctx));
    printf("trained %ld steps of %lld in %.2f s\n", total, (long long)B, ex_now() - t0);
    ex_save_checkpoint(o.out, model, opt);

    double train_acc = evaluate(ctx, model, train, features);
    double acc = evaluate(ctx, model, test, features);
    printf("accuracy: train %.2f%%, test %.2f%% (%lld rows)\n", 100.0 * train_acc, 100.0 * acc, (long long)n_test);

    /* last_loss: the mean over the final steps, so one noisy batch does not decide. */
    float *loss_host = ex_download(losses);
    long window = total / 10 < 1 ? 1 : total / 10 > LOSS_WINDOW ? LOSS_WINDOW : total / 10;
    printf("first_loss %.6f last_loss %.6f test_accuracy %.4f\n", loss_host[0],
           ex_mean(loss_host + total - window, window), acc);

    free(loss_host);
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(y);
    vkdl_tensor_destroy(losses);
    vkdl_optim_destroy(opt);
    vkdl_module_destroy(model);
    vkdl_dataset_destroy(train);
    vkdl_dataset_destroy(test);
    vkdl_context_destroy(ctx);
    return 0;
}
