/* The training examples' shared helpers: see support.h. */
#include "support.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The program's name in messages: argv[0] without its directory, once ex_start has run. */
static const char *program = "example";

void ex_check(vkdl_status s)
{
    if (s != VKDL_OK) {
        fprintf(stderr, "%s: %s: %s\n", program, vkdl_status_string(s), vkdl_last_error());
        exit(1);
    }
}

void ex_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", program);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void *ex_alloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        ex_fail("out of memory");
    return p;
}

/* ---- Command line ---- */

enum { MAX_OPTIONS = 32, FIRST_VAL = 256 /* getopt_long's val for row i: above every char */ };

/* The example's rows, then the common ones it does not redeclare (none when o is NULL). */
static int collect(const ex_option *own, ex_common *o, ex_option *rows)
{
    if (!o) {
        int n = 0;
        for (; own[n].name; n++) {
            if (n >= MAX_OPTIONS)
                ex_fail("too many options");
            rows[n] = own[n];
        }
        return n;
    }
    const ex_option common[] = {
        {"steps", EX_LONG, &o->steps, EX_POSITIVE, "N", "train for N steps"},
        {"seed", EX_U64, &o->seed, EX_ANY, "N", "seeds the initial weights and every random choice"},
        {"cpu", EX_FLAG, &o->cpu, EX_ANY, NULL,
         "use the CPU backend instead of the Vulkan device (VKDL_DEVICE picks the GPU)"},
        {"out", EX_STRING, &o->out, EX_ANY, "PREFIX", "the names of the files written start with PREFIX"},
        {"quiet", EX_FLAG, &o->quiet, EX_ANY, NULL, "print no progress lines"},
    };
    const int n_common = (int)(sizeof common / sizeof *common);
    int n = 0;
    for (; own[n].name; n++) {
        if (n + n_common >= MAX_OPTIONS)
            ex_fail("too many options");
        rows[n] = own[n];
    }
    for (int c = 0; c < n_common; c++) {
        int i = 0;
        while (i < n && strcmp(rows[i].name, common[c].name))
            i++;
        if (i == n)
            rows[n++] = common[c];
    }
    return n;
}

/* "--name VALUE", or "--name" for a flag. */
static const char *spelled(const ex_option *r, char *buf, size_t size)
{
    snprintf(buf, size, "--%s%s%s", r->name, r->value ? " " : "", r->value ? r->value : "");
    return buf;
}

/* The names of the operands after the options ("IMAGE.png"), NULL when there are none. */
static const char *operand_names;

static void usage(FILE *f, const ex_option *rows, int n)
{
    char buf[64];
    fprintf(f, "usage: %s", program);
    if (operand_names)
        fprintf(f, " %s", operand_names);
    for (int i = 0; i < n; i++)
        fprintf(f, " [%s]", spelled(&rows[i], buf, sizeof buf));
    fprintf(f, " [--help]\n");
}

static void print_default(const ex_option *r)
{
    switch (r->type) {
    case EX_STRING: {
        const char *s = *(const char **)r->store;
        printf("%s", s ? s : "none");
        break;
    }
    case EX_INT: printf("%d", *(int *)r->store); break;
    case EX_LONG: printf("%ld", *(long *)r->store); break;
    case EX_U64: printf("%llu", (unsigned long long)*(uint64_t *)r->store); break;
    case EX_DOUBLE: printf("%g", *(double *)r->store); break;
    case EX_FLAG: printf("%s", *(int *)r->store ? "on" : "off"); break;
    }
}

static void help(const char *about, const ex_option *rows, int n)
{
    usage(stdout, rows, n);
    printf("%s\n\n", about);
    for (int i = 0; i < n; i++) {
        char buf[64];
        printf("  %-20s %s (default: ", spelled(&rows[i], buf, sizeof buf), rows[i].help);
        print_default(&rows[i]);
        printf(")\n");
    }
    printf("  %-20s %s\n", "--help", "print this and exit");
}

static int in_range(ex_range range, double v)
{
    return range == EX_ANY || (range == EX_NOT_NEGATIVE && v >= 0) || (range == EX_POSITIVE && v > 0);
}

/* Stores s into r->store; 0 when it is not a whole, in-range value of r's type. */
static int store(const ex_option *r, const char *s)
{
    if (r->type == EX_FLAG) {
        *(int *)r->store = 1;
        return 1;
    }
    if (r->type == EX_STRING) {
        *(const char **)r->store = s;
        return 1;
    }
    /* The strto* functions skip leading blanks, and strtoull takes "-1" as a huge number. */
    if (!*s || isspace((unsigned char)*s) || (r->type == EX_U64 && *s == '-'))
        return 0;
    char *end;
    errno = 0;
    if (r->type == EX_DOUBLE) {
        double v = strtod(s, &end);
        if (*end || errno || !isfinite(v) || !in_range(r->range, v))
            return 0;
        *(double *)r->store = v;
    } else if (r->type == EX_U64) {
        unsigned long long v = strtoull(s, &end, 10);
        if (*end || errno || !in_range(r->range, (double)v))
            return 0;
        *(uint64_t *)r->store = v;
    } else {
        long v = strtol(s, &end, 10);
        if (*end || errno || !in_range(r->range, (double)v) || (r->type == EX_INT && (v < INT_MIN || v > INT_MAX)))
            return 0;
        if (r->type == EX_LONG)
            *(long *)r->store = v;
        else
            *(int *)r->store = (int)v;
    }
    return 1;
}

static void bad_value(const ex_option *r, const char *s)
{
    static const char *const want[] = {[EX_ANY] = "", [EX_NOT_NEGATIVE] = " >= 0", [EX_POSITIVE] = " > 0"};
    const char *bound = r->type == EX_U64 && r->range == EX_ANY ? " >= 0" : want[r->range];
    fprintf(stderr, "%s: --%s: bad value '%s' (want %s%s)\n", program, r->name, s,
            r->type == EX_DOUBLE ? "a number" : "an integer", bound);
    exit(2);
}

/* Returns the index of the first of the n_operands operands, which must follow. */
static int parse(int argc, char **argv, const char *about, const ex_option *own, ex_common *common, int n_operands)
{
    const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;
    program = slash ? slash + 1 : argc > 0 ? argv[0] : program;
    ex_option rows[MAX_OPTIONS];
    int n = collect(own, common, rows);
    struct option longs[MAX_OPTIONS + 2];
    for (int i = 0; i < n; i++)
        longs[i] = (struct option){rows[i].name, rows[i].type == EX_FLAG ? no_argument : required_argument, NULL,
                                   FIRST_VAL + i};
    longs[n] = (struct option){"help", no_argument, NULL, 'h'};
    longs[n + 1] = (struct option){0};

    opterr = 0; /* our own messages, below */
    for (int c; (c = getopt_long(argc, argv, ":h", longs, NULL)) != -1;) {
        if (c == 'h') {
            help(about, rows, n);
            exit(0);
        } else if (c == ':') {
            fprintf(stderr, "%s: --%s needs a value\n", program, rows[optopt - FIRST_VAL].name);
            exit(2);
        } else if (c == '?' && optopt >= FIRST_VAL) {
            fprintf(stderr, "%s: --%s takes no value\n", program, rows[optopt - FIRST_VAL].name);
            exit(2);
        } else if (c == '?') {
            fprintf(stderr, "%s: unknown option: %s\n", program, argv[optind - 1]);
            usage(stderr, rows, n);
            exit(2);
        } else if (!store(&rows[c - FIRST_VAL], optarg ? optarg : "")) {
            bad_value(&rows[c - FIRST_VAL], optarg ? optarg : "");
        }
    }
    if (argc - optind > n_operands) {
        fprintf(stderr, "%s: unexpected argument: %s\n", program, argv[optind + n_operands]);
        usage(stderr, rows, n);
        exit(2);
    }
    if (argc - optind < n_operands) {
        fprintf(stderr, "%s: missing %s\n", program, operand_names);
        usage(stderr, rows, n);
        exit(2);
    }
    return optind;
}

int ex_parse(int argc, char **argv, const char *about, const char *operands, int n_operands, const ex_option *own)
{
    operand_names = operands;
    return parse(argc, argv, about, own, NULL, n_operands);
}

vkdl_context *ex_start(int argc, char **argv, const char *about, const ex_option *own, ex_common *common)
{
    parse(argc, argv, about, own, common, 0);
    vkdl_context *ctx;
    vkdl_context_create_info ci = {.backend = common->cpu ? VKDL_BACKEND_CPU : VKDL_BACKEND_VULKAN};
    CHECK(vkdl_context_create(&ci, &ctx));
    printf("device: %s\n", vkdl_context_device_name(ctx));
    return ctx;
}

/* ---- Time, randomness, losses ---- */

double ex_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t ex_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double ex_uniform01(uint64_t *state)
{
    return (double)(ex_splitmix64(state) >> 11) * 0x1.0p-53;
}

void ex_record(vkdl_tensor *series, long step, vkdl_tensor *value)
{
    vkdl_tensor *slot;
    CHECK(vkdl_tensor_slice(series, step, step + 1, &slot));
    CHECK(vkdl_copy(value, slot));
    vkdl_tensor_destroy(slot);
}

float ex_read(vkdl_tensor *series, long step)
{
    vkdl_tensor *slot;
    float v;
    CHECK(vkdl_tensor_slice(series, step, step + 1, &slot));
    CHECK(vkdl_tensor_download(slot, &v, VKDL_F32, sizeof v));
    vkdl_tensor_destroy(slot);
    return v;
}

float *ex_download(vkdl_tensor *series)
{
    size_t bytes = sizeof(float) * (size_t)vkdl_tensor_numel(series);
    float *v = ex_alloc(bytes);
    CHECK(vkdl_tensor_download(series, v, VKDL_F32, bytes));
    return v;
}

double ex_mean(const float *v, long n)
{
    double sum = 0;
    for (long i = 0; i < n; i++)
        sum += v[i];
    return sum / (double)n;
}

int64_t ex_batch_start(vkdl_dataset *ds, long step, int64_t batch, uint64_t seed)
{
    const int64_t per_epoch = vkdl_dataset_size(ds) / batch, b = step % per_epoch;
    if (b == 0)
        CHECK(vkdl_dataset_shuffle(ds, seed * 1000 + (uint64_t)(step / per_epoch)));
    return b * batch;
}

void ex_save_checkpoint(const char *out, vkdl_module *model, vkdl_optim *opt)
{
    char path[1024];
    snprintf(path, sizeof path, "%s.safetensors", out);
    CHECK(vkdl_checkpoint_save(path, model, opt));
    printf("checkpoint: %s\n", path);
}

vkdl_dataset *ex_load_idx(const char *dir, const char *name)
{
    char img[1024], lab[1024];
    vkdl_dataset *ds = NULL;
    for (int gz = 0; gz < 2 && !ds; gz++) {
        snprintf(img, sizeof img, "%s/%s-images-idx3-ubyte%s", dir, name, gz ? ".gz" : "");
        snprintf(lab, sizeof lab, "%s/%s-labels-idx1-ubyte%s", dir, name, gz ? ".gz" : "");
        vkdl_status s = vkdl_dataset_load_idx(img, lab, &ds);
        if (s != VKDL_OK && (s != VKDL_ERROR_IO || gz))
            ex_fail("%s\n(run tools/setup.sh to install MNIST, or pass --data DIR)", vkdl_last_error());
    }
    return ds;
}

/* ---- Character-level language models ---- */

void ex_lm_start(ex_lm *lm, int argc, char **argv, const char *about, int64_t block, int64_t batch)
{
    const ex_option own[] = {
        {"text", EX_STRING, &lm->text, EX_ANY, "FILE", "the corpus (any bytes; the vocabulary is its distinct bytes)"},
        {"temperature", EX_DOUBLE, &lm->temperature, EX_POSITIVE, "T", "of the distribution the sample is drawn from"},
        {NULL},
    };
    lm->ctx = ex_start(argc, argv, about, own, &lm->o);
    vkdl_status s = vkdl_dataset_load_text(lm->text, block, &lm->train);
    if (s != VKDL_OK)
        ex_fail("%s%s", vkdl_last_error(),
                s == VKDL_ERROR_IO ? "\n(run tools/setup.sh to install data/kjv.txt, or pass --text FILE)" : "");
    const int64_t size = vkdl_dataset_size(lm->train), n_val = size / 10 > batch ? size / 10 : batch;
    if (size - n_val - block < 1)
        ex_fail("%s is too short: need at least %lld bytes", lm->text, (long long)(2 * block + batch + 1));
    vkdl_dataset *gap;
    CHECK(vkdl_dataset_split(lm->train, n_val, &lm->val));
    CHECK(vkdl_dataset_split(lm->train, block, &gap));
    vkdl_dataset_destroy(gap);
    CHECK(vkdl_dataset_shuffle(lm->val, 12345));
    const int64_t n_train = vkdl_dataset_size(lm->train), steps = lm->o.steps;
    lm->batch = n_train < batch ? n_train : batch;
    lm->block = block;
    lm->vocab = vkdl_dataset_classes(lm->train);
    CHECK(vkdl_tensor_create(lm->ctx, VKDL_F32, 1, &steps, &lm->losses));
    printf("data: %s, vocabulary %d, %lld training and %lld held-out windows of %lld characters\n", lm->text,
           lm->vocab, (long long)n_train, (long long)n_val, (long long)block);
}

void ex_lm_train(ex_lm *lm)
{
    const ex_common *o = &lm->o;
    vkdl_tensor *losses = lm->losses;
    const long total = o->steps;
    const int64_t B = lm->batch, T = lm->block;
    double t0 = ex_now();
    for (long step = 0; step < total; step++) {
        vkdl_tensor *loss = lm->loss(lm->arg, lm->train, ex_batch_start(lm->train, step, B, o->seed));
        ex_record(losses, step, loss);
        CHECK(vkdl_optim_zero_grad(lm->opt));
        CHECK(vkdl_backward(loss));
        CHECK(vkdl_optim_update(lm->opt));
        /* Reading a value waits for the device, so only every 25th step does. */
        if (!o->quiet && (step % 25 == 0 || step == total - 1))
            fprintf(stderr, "step %5ld/%ld  loss %.4f  lr %.2e  %6.0f tokens/s\n", step + 1, total,
                    ex_read(losses, step), vkdl_optim_lr(lm->opt), (double)((step + 1) * B * T) / (ex_now() - t0));
    }
    CHECK(vkdl_sync(lm->ctx));
    double train_s = ex_now() - t0;
    printf("trained %ld steps of %lldx%lld characters in %.1f s (%.0f tokens/s)\n", total, (long long)B,
           (long long)T, train_s, (double)total * (double)(B * T) / train_s);
}

/* The mean loss over up to max_batches batches of held-out windows, without recording a tape. */
static double heldout_loss(ex_lm *lm, int max_batches)
{
    const int64_t n = vkdl_dataset_size(lm->val) / lm->batch, batches = n < max_batches ? n : max_batches;
    double sum = 0;
    vkdl_module_set_training(lm->model, 0);
    int was = vkdl_grad_enabled(lm->ctx, 0);
    for (int64_t i = 0; i < batches; i++) {
        float l;
        CHECK(vkdl_tensor_download(lm->loss(lm->arg, lm->val, i * lm->batch), &l, VKDL_F32, sizeof l));
        sum += l;
        vkdl_graph_free(lm->ctx);
    }
    vkdl_grad_enabled(lm->ctx, was);
    vkdl_module_set_training(lm->model, 1);
    return batches ? sum / (double)batches : NAN;
}

/* A draw from softmax(logits / temperature); p is scratch space for vocab numbers. */
static int draw(const float *logits, int vocab, double temperature, double *p, uint64_t *rng)
{
    double top = logits[0], total = 0;
    for (int v = 1; v < vocab; v++)
        top = logits[v] > top ? logits[v] : top;
    for (int v = 0; v < vocab; v++)
        total += p[v] = exp((logits[v] - top) / temperature);
    double r = ex_uniform01(rng) * total;
    for (int v = 0; v < vocab; v++)
        if ((r -= p[v]) < 0)
            return v;
    return vocab - 1;
}

/* Prints the prompt and n characters drawn after it. */
static void sample(ex_lm *lm, const char *prompt, int n, double temperature, uint64_t seed)
{
    const int vocab = lm->vocab;
    int32_t *ids = ex_alloc(sizeof(int32_t) * (strlen(prompt) + 1 + (size_t)n));
    float *logits = ex_alloc(sizeof(float) * (size_t)vocab);
    double *p = ex_alloc(sizeof(double) * (size_t)vocab);
    int len = 0;
    for (const char *c = prompt; *c; c++)
        if (vkdl_dataset_encode(lm->train, (unsigned char)*c) >= 0) /* a small corpus may lack some letters */
            ids[len++] = vkdl_dataset_encode(lm->train, (unsigned char)*c);
    if (len == 0)
        ids[len++] = 0;
    for (int i = 0; i < len; i++)
        putchar(vkdl_dataset_decode(lm->train, ids[i]));

    uint64_t rng = seed;
    vkdl_module_set_training(lm->model, 0);
    int was = vkdl_grad_enabled(lm->ctx, 0);
    if (lm->sampling)
        lm->sampling(lm->arg, 1);
    for (int k = 0; k < n; k++) {
        lm->next_logits(lm->arg, ids, len, logits);
        ids[len] = draw(logits, vocab, temperature, p, &rng);
        putchar(vkdl_dataset_decode(lm->train, ids[len++]));
    }
    putchar('\n');
    if (lm->sampling)
        lm->sampling(lm->arg, 0);
    vkdl_grad_enabled(lm->ctx, was);
    vkdl_module_set_training(lm->model, 1);
    free(p);
    free(logits);
    free(ids);
}

void ex_lm_report(ex_lm *lm, int eval_batches, const char *prompt, int n)
{
    ex_save_checkpoint(lm->o.out, lm->model, lm->opt);
    double val_loss = heldout_loss(lm, eval_batches);
    printf("held-out loss %.4f\n", val_loss);
    printf("sample:\n");
    sample(lm, prompt, n, lm->temperature, lm->o.seed);

    const long total = lm->o.steps, tail = total / 10 > 0 ? total / 10 : 1;
    float *loss = ex_download(lm->losses);
    printf("first_loss %.6f last_loss %.6f val_loss %.6f\n", loss[0], ex_mean(loss + total - tail, tail), val_loss);
    free(loss);
}

void ex_lm_destroy(ex_lm *lm)
{
    vkdl_tensor_destroy(lm->losses);
    vkdl_optim_destroy(lm->opt);
    vkdl_module_destroy(lm->model);
    vkdl_dataset_destroy(lm->train);
    vkdl_dataset_destroy(lm->val);
    vkdl_context_destroy(lm->ctx);
}
