/* vkdl-onnx-test: ONNX's own backend test cases (Debian's libonnx-testdata), each a model.onnx with
 * test_data_set_N/{input,output}_K.pb, run through vkdl and compared with the expected outputs.
 * usage: vkdl-onnx-test [--cpu] [--filter TEXT] [--limit N] [--quiet] [DIR...]
 * DIR is a folder of test cases or one case; the default is the four folders of
 * /usr/share/libonnx-testdata/data. Prints a line per case, a line per op, and last
 * "N passed, N failed, N unsupported". A case is unsupported when vkdl refuses it with
 * VKDL_ERROR_UNSUPPORTED (an op, dtype or attribute it does not implement); anything else that is
 * not a match fails, and the exit status is 1. */
#include "onnx/onnx.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DATA "/usr/share/libonnx-testdata/data"
#define MAX_IO 32

typedef enum verdict { PASS, FAIL, UNSUPPORTED } verdict;

typedef struct op_count { char *op; int n[3]; } op_count;

static op_count *ops;
static int n_ops, cap_ops;
static bool quiet;

static void count_op(const char *op, verdict v)
{
    for (int i = 0; i < n_ops; i++)
        if (!strcmp(ops[i].op, op)) {
            ops[i].n[v]++;
            return;
        }
    if (n_ops == cap_ops) {
        cap_ops = cap_ops ? 2 * cap_ops : 64;
        ops = realloc(ops, (size_t)cap_ops * sizeof *ops);
    }
    ops[n_ops] = (op_count){strdup(op), {0}};
    ops[n_ops++].n[v]++;
}

static void *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static bool load_pb(const char *path, onnx_host *out, char **name)
{
    size_t size;
    void *buf = read_file(path, &size);
    if (!buf)
        return false;
    vkdl_status s = onnx_tensor_parse(buf, size, out, name);
    free(buf);
    return s == VKDL_OK;
}

/* Expected vs got: integers and bools exactly; floats within 1e-5 + 1e-3 |expected| (ONNX's own
 * backend tests use rtol 1e-3), f16 within 1e-3 + 1e-3 |expected|; NaN matches NaN. */
static bool compare(const onnx_host *want, const vkdl_host_tensor *got, char *why, size_t n)
{
    char a[VKDL_SHAPE_BUF], b[VKDL_SHAPE_BUF];
    if (got->dtype != want->dtype) {
        snprintf(why, n, "dtype %s, expected %s", vkdl_dtype_name(got->dtype), vkdl_dtype_name(want->dtype));
        return false;
    }
    bool same = got->ndim == want->ndim;
    for (int d = 0; same && d < want->ndim; d++)
        same = got->shape[d] == want->dims[d];
    if (!same) {
        snprintf(why, n, "shape %s, expected %s", onnx_dims_str(got->ndim, got->shape, a, sizeof a),
                 onnx_dims_str(want->ndim, want->dims, b, sizeof b));
        return false;
    }
    onnx_host g = {.dtype = got->dtype, .ndim = got->ndim, .numel = want->numel, .data = (void *)got->data};
    bool fl = onnx_dtype_is_float(want->dtype);
    double atol = want->dtype == VKDL_F16 || want->dtype == VKDL_BF16 ? 1e-3 : 1e-5;
    for (int64_t i = 0; i < want->numel; i++) {
        if (fl) {
            double x = onnx_get_f(&g, i), y = onnx_get_f(want, i);
            if (isnan(y) ? !isnan(x) : isinf(y) ? x != y : !(fabs(x - y) <= atol + 1e-3 * fabs(y))) {
                snprintf(why, n, "element %lld is %.9g, expected %.9g", (long long)i, x, y);
                return false;
            }
        } else if (onnx_get_i(&g, i) != onnx_get_i(want, i)) {
            snprintf(why, n, "element %lld is %lld, expected %lld", (long long)i, (long long)onnx_get_i(&g, i),
                     (long long)onnx_get_i(want, i));
            return false;
        }
    }
    return true;
}

typedef struct io_set {
    int n_in, n_out;
    onnx_host in[MAX_IO], out[MAX_IO];
    char *in_name[MAX_IO], *out_name[MAX_IO];
} io_set;

static void io_free(io_set *io)
{
    for (int i = 0; i < io->n_in; i++) {
        onnx_host_free(&io->in[i]);
        free(io->in_name[i]);
    }
    for (int i = 0; i < io->n_out; i++) {
        onnx_host_free(&io->out[i]);
        free(io->out_name[i]);
    }
    memset(io, 0, sizeof *io);
}

static bool io_load(const char *dir, io_set *io)
{
    memset(io, 0, sizeof *io);
    char path[4400];
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < MAX_IO; i++) {
            snprintf(path, sizeof path, "%s/%s_%d.pb", dir, k ? "output" : "input", i);
            struct stat st;
            if (stat(path, &st) != 0)
                break;
            onnx_host *h = k ? &io->out[i] : &io->in[i];
            if (!load_pb(path, h, k ? &io->out_name[i] : &io->in_name[i]))
                return false;
            *(k ? &io->n_out : &io->n_in) += 1;
        }
    return true;
}

/* Cases whose data contradict their own model in ONNX 1.12's test data, left out by name. */
static const struct { const char *name, *why; } DEFECTIVE[] = {
    {"test_castlike_BFLOAT16_to_FLOAT", "input 'like' is [1] in the data set, 3x4 in the model"},
    {"test_castlike_BFLOAT16_to_FLOAT_expanded", "input 'like' is [1] in the data set, 3x4 in the model"},
    {"test_castlike_FLOAT_to_BFLOAT16_expanded", "input 'like' is [1] in the data set, 3x4 in the model"},
    {"test_cast_FLOAT_to_BFLOAT16", "expects bfloat16 by truncation (ONNX 1.12's generator); ONNX specifies round to "
     "nearest even since 1.13, as vkdl rounds"},
    {"test_castlike_FLOAT_to_BFLOAT16", "expects bfloat16 by truncation (ONNX 1.12's generator); ONNX specifies round "
     "to nearest even since 1.13, as vkdl rounds"},
};

/* One test case: every data set in it. */
static verdict run_case(vkdl_context *ctx, const char *dir, char *why, size_t n)
{
    const char *base = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    for (size_t i = 0; i < sizeof DEFECTIVE / sizeof *DEFECTIVE; i++)
        if (!strcmp(base, DEFECTIVE[i].name)) {
            snprintf(why, n, "defective test data: %s", DEFECTIVE[i].why);
            return UNSUPPORTED;
        }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    vkdl_onnx_model *m;
    vkdl_status s = vkdl_onnx_load(path, &m);
    if (s != VKDL_OK) {
        snprintf(why, n, "%s", vkdl_last_error());
        return s == VKDL_ERROR_UNSUPPORTED ? UNSUPPORTED : FAIL;
    }
    verdict v = PASS;
    int sets = 0;
    for (int d = 0; d < 100 && v == PASS; d++) {
        char set[4200];
        snprintf(set, sizeof set, "%s/test_data_set_%d", dir, d);
        struct stat st;
        if (stat(set, &st) != 0)
            break;
        sets++;
        io_set io;
        if (!io_load(set, &io)) {
            snprintf(why, n, "cannot read %.900s", set);
            io_free(&io);
            v = FAIL;
            break;
        }
        /* NumPy has no bfloat16, so ONNX's data sets store it as uint16 bits. */
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < (k ? io.n_out : io.n_in); i++) {
                vkdl_host_tensor decl = {0};
                if ((k ? vkdl_onnx_output : vkdl_onnx_input)(m, i, &decl) == VKDL_OK && decl.dtype == VKDL_BF16 &&
                    (k ? io.out : io.in)[i].dtype == VKDL_U16)
                    (k ? io.out : io.in)[i].dtype = VKDL_BF16;
            }
        int ni = vkdl_onnx_input_count(m);
        if (ni != io.n_in) {
            snprintf(why, n, "the model has %d inputs, the data set %d", ni, io.n_in);
            io_free(&io);
            v = FAIL;
            break;
        }
        /* Inputs by the model's names (the .pb names may be empty). Shape-deciding integer inputs
         * must be fixed when planning: a first try fixes only host-only dtypes, a second every
         * input that is not float. */
        vkdl_host_tensor in[MAX_IO];
        for (int i = 0; i < ni; i++) {
            vkdl_host_tensor decl;
            vkdl_onnx_input(m, i, &decl);
            in[i] = (vkdl_host_tensor){.name = decl.name, .dtype = io.in[i].dtype, .ndim = io.in[i].ndim,
                                       .data = io.in[i].data,
                                       .bytes = (size_t)io.in[i].numel * vkdl_dtype_size(io.in[i].dtype)};
            memcpy(in[i].shape, io.in[i].dims, sizeof in[i].shape);
        }
        /* Values are fixed for the plan only where needed: first for host-only dtypes, then for
         * each input a failure names as needed when planning, then for every integer input. */
        bool fix[MAX_IO];
        for (int i = 0; i < ni; i++) {
            vkdl_dtype dd;
            fix[i] = !onnx_device_dtype(in[i].dtype, &dd);
        }
        vkdl_onnx_plan *p = NULL;
        for (int attempt = 0; attempt <= ni + 1 && !p; attempt++) {
            vkdl_host_tensor given[MAX_IO];
            for (int i = 0; i < ni; i++) {
                given[i] = in[i];
                if (!fix[i])
                    given[i].data = NULL;
            }
            vkdl_onnx_plan_info info = {.n_inputs = ni, .inputs = given};
            s = vkdl_onnx_plan_create(ctx, m, &info, &p);
            const char *err = vkdl_last_error();
            if (s == VKDL_OK || !strstr(err, "must be known when the plan is made"))
                break;
            bool named = false;
            for (int i = 0; i < ni; i++) {
                char quoted[300];
                snprintf(quoted, sizeof quoted, "input '%s' (", in[i].name);
                if (!fix[i] && strstr(err, quoted))
                    fix[i] = named = true;
            }
            for (int i = 0; i < ni && !named; i++)
                if (!fix[i] && !onnx_dtype_is_float(in[i].dtype))
                    fix[i] = named = true;
            if (!named)
                break;
        }
        if (!p) {
            snprintf(why, n, "%s", vkdl_last_error());
            v = s == VKDL_ERROR_UNSUPPORTED ? UNSUPPORTED : FAIL;
        } else if ((s = vkdl_onnx_run(p, ni, in)) != VKDL_OK) {
            snprintf(why, n, "run: %s", vkdl_last_error());
            v = s == VKDL_ERROR_UNSUPPORTED ? UNSUPPORTED : FAIL;
        } else if (vkdl_onnx_plan_output_count(p) != io.n_out) {
            snprintf(why, n, "%d outputs, expected %d", vkdl_onnx_plan_output_count(p), io.n_out);
            v = FAIL;
        } else {
            for (int i = 0; i < io.n_out && v == PASS; i++) {
                vkdl_host_tensor got;
                vkdl_onnx_plan_output(p, i, &got);
                char w[512];
                if (!compare(&io.out[i], &got, w, sizeof w)) {
                    snprintf(why, n, "output '%s': %s", got.name, w);
                    v = FAIL;
                }
            }
        }
        vkdl_onnx_plan_destroy(p);
        io_free(&io);
    }
    if (v == PASS && sets == 0) {
        snprintf(why, n, "no test_data_set_0");
        v = FAIL;
    }
    /* Count the case under every op its model uses. */
    for (int i = 0; i < m->n_nodes; i++) {
        bool first = true;
        for (int j = 0; j < i && first; j++)
            first = strcmp(m->nodes[j].op_type, m->nodes[i].op_type) != 0;
        if (first)
            count_op(m->nodes[i].op_type, v);
    }
    vkdl_onnx_model_destroy(m);
    return v;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int by_op(const void *a, const void *b) { return strcmp(((const op_count *)a)->op, ((const op_count *)b)->op); }

static void run_dir(vkdl_context *ctx, const char *dir, const char *filter, int *totals, int *limit)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    struct stat st;
    if (stat(path, &st) == 0) {
        if ((filter && !strstr(dir, filter)) || *limit == 0)
            return;
        if (*limit > 0)
            --*limit;
        char why[1024] = "";
        verdict v = run_case(ctx, dir, why, sizeof why);
        totals[v]++;
        const char *name = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
        if (!quiet || v == FAIL)
            printf("%-11s %s%s%s\n", v == PASS ? "ok" : v == FAIL ? "FAIL" : "unsupported", name, v == PASS ? "" : ": ",
                   why);
        fflush(stdout);
        return;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "vkdl-onnx-test: cannot open %s: %s\n", dir, strerror(errno));
        totals[FAIL]++;
        return;
    }
    char **names = NULL;
    int n = 0, cap = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            names = realloc(names, (size_t)cap * sizeof *names);
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            run_dir(ctx, path, filter, totals, limit);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"cpu", no_argument, 0, 'c'}, {"filter", required_argument, 0, 'f'},
                                         {"limit", required_argument, 0, 'l'}, {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    bool cpu = false;
    const char *filter = NULL;
    int limit = -1;
    for (int c; (c = getopt_long(argc, argv, "cf:l:qh", opts, NULL)) != -1;) {
        switch (c) {
        case 'c': cpu = true; break;
        case 'f': filter = optarg; break;
        case 'l': limit = atoi(optarg); break;
        case 'q': quiet = true; break;
        case 'h':
            printf("usage: vkdl-onnx-test [--cpu] [--filter TEXT] [--limit N] [--quiet] [DIR...]\n"
                   "Runs ONNX backend test cases (default: the four folders of %s) and prints\n"
                   "\"N passed, N failed, N unsupported\". --quiet prints only failures and the totals.\n", DATA);
            return 0;
        default: return 2;
        }
    }
    vkdl_context *ctx;
    vkdl_context_create_info ci = {.backend = cpu ? VKDL_BACKEND_CPU : VKDL_BACKEND_VULKAN};
    if (vkdl_context_create(&ci, &ctx) != VKDL_OK) {
        fprintf(stderr, "vkdl-onnx-test: %s\n", vkdl_last_error());
        return 2;
    }
    printf("device: %s\n", vkdl_context_device_name(ctx));
    int totals[3] = {0};
    if (optind < argc) {
        for (int i = optind; i < argc; i++)
            run_dir(ctx, argv[i], filter, totals, &limit);
    } else {
        static const char *dirs[] = {DATA "/node", DATA "/pytorch-converted", DATA "/pytorch-operator",
                                     DATA "/simple"};
        for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
            run_dir(ctx, dirs[i], filter, totals, &limit);
    }
    uint64_t vmsgs = vkdl_context_validation_messages(ctx);
    vkdl_context_destroy(ctx);
    qsort(ops, (size_t)n_ops, sizeof *ops, by_op);
    printf("\n%-28s %6s %6s %11s\n", "op", "passed", "failed", "unsupported");
    for (int i = 0; i < n_ops; i++) {
        printf("%-28s %6d %6d %11d\n", ops[i].op, ops[i].n[PASS], ops[i].n[FAIL], ops[i].n[UNSUPPORTED]);
        free(ops[i].op);
    }
    free(ops);
    if (vmsgs) {
        printf("validation messages: %llu\n", (unsigned long long)vmsgs);
        totals[FAIL]++;
    }
    printf("%d passed, %d failed, %d unsupported\n", totals[PASS], totals[FAIL], totals[UNSUPPORTED]);
    return totals[FAIL] ? 1 : 0;
}
