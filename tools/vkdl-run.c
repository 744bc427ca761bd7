/* vkdl-run: try any ONNX model in one command.
 * usage: vkdl-run MODEL.onnx [--input NAME=FILE.npy]... [--shape NAME=1x3x224x224]... [--output DIR]
 *                 [--cpu] [--bench N] [--seed S]
 * Prints the model's inputs and outputs, a summary of each output (shape, a few values, min, max,
 * mean) and timings. An input without --input is filled with a seeded uniform pattern in [0, 1)
 * (integers: 0), and it says so. With --output DIR each output is written as DIR/<name>.npy in f32. */
#include "npy.h"
#include "vkdl.h"

#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_ARGS 64

typedef struct named { const char *name, *value; } named;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int usage(FILE *f)
{
    fprintf(f, "usage: vkdl-run MODEL.onnx [--input NAME=FILE.npy]... [--shape NAME=DxDx...]... [--output DIR]\n"
               "                [--cpu] [--bench N] [--seed S]\n"
               "Runs an ONNX model on the default Vulkan device (VKDL_DEVICE picks another; --cpu the CPU\n"
               "backend) and prints its outputs. Inputs not given are filled with a seeded pattern.\n");
    return f == stdout ? 0 : 2;
}

static bool split_named(const char *arg, named *out)
{
    const char *eq = strrchr(arg, '=');
    if (!eq || eq == arg || !eq[1])
        return false;
    char *name = strndup(arg, (size_t)(eq - arg));
    out->name = name;
    out->value = eq + 1;
    return true;
}

static const char *find(const named *list, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i].name, name))
            return list[i].value;
    return NULL;
}

static bool parse_shape(const char *s, vkdl_host_tensor *t)
{
    t->ndim = 0;
    if (!strcmp(s, "scalar"))
        return true;
    while (*s) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || errno || v < 0 || t->ndim == VKDL_MAX_DIMS || (*end && *end != 'x'))
            return false;
        t->shape[t->ndim++] = v;
        s = *end ? end + 1 : end;
    }
    return t->ndim > 0;
}

static char *shape_str(const vkdl_host_tensor *t, char *buf, size_t n)
{
    size_t at = 0;
    buf[0] = 0;
    if (t->ndim == 0)
        snprintf(buf, n, "scalar");
    for (int d = 0; d < t->ndim && at < n; d++)
        at += (size_t)snprintf(buf + at, n - at, d ? "x%lld" : "%lld", (long long)t->shape[d]);
    return buf;
}

/* Output i as f32 (a copy; NULL if the dtype does not convert). */
static float *as_f32(const vkdl_host_tensor *t, int64_t *n)
{
    size_t es = vkdl_dtype_size(t->dtype);
    *n = es ? (int64_t)(t->bytes / es) : 0;
    float *f = malloc((size_t)*n * sizeof *f + 1);
    for (int64_t i = 0; f && i < *n; i++) {
        const char *p = (const char *)t->data + (size_t)i * es;
        switch (t->dtype) {
        case VKDL_F32: f[i] = *(const float *)p; break;
        case VKDL_F64: f[i] = (float)*(const double *)p; break;
        case VKDL_I64: f[i] = (float)*(const int64_t *)p; break;
        case VKDL_I32: f[i] = (float)*(const int32_t *)p; break;
        case VKDL_U8: case VKDL_BOOL: f[i] = *(const uint8_t *)p; break;
        case VKDL_I8: f[i] = *(const int8_t *)p; break;
        case VKDL_I16: f[i] = *(const int16_t *)p; break;
        case VKDL_U16: f[i] = *(const uint16_t *)p; break;
        case VKDL_U32: f[i] = (float)*(const uint32_t *)p; break;
        case VKDL_U64: f[i] = (float)*(const uint64_t *)p; break;
        default: free(f); return NULL;                   /* f16, bf16: not produced by plans' outputs here */
        }
    }
    return f;
}

static void summarise(const vkdl_host_tensor *t)
{
    char s[128];
    int64_t n;
    float *f = as_f32(t, &n);
    printf("output '%s': %s %s", t->name, vkdl_dtype_name(t->dtype), shape_str(t, s, sizeof s));
    if (!f || n == 0) {
        printf("\n");
        free(f);
        return;
    }
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    int64_t nan = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(f[i])) {
            nan++;
            continue;
        }
        lo = f[i] < lo ? f[i] : lo;
        hi = f[i] > hi ? f[i] : hi;
        sum += f[i];
    }
    printf("  min %.6g  max %.6g  mean %.6g%s\n  ", lo, hi, n > nan ? sum / (double)(n - nan) : NAN,
           nan ? "  (has NaN)" : "");
    for (int64_t i = 0; i < n && i < 8; i++)
        printf("%.6g%s", f[i], i + 1 < n && i < 7 ? ", " : n > 8 ? ", ...\n" : "\n");
    free(f);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"input", required_argument, 0, 'i'}, {"shape", required_argument, 0, 's'},
                                         {"output", required_argument, 0, 'o'}, {"cpu", no_argument, 0, 'c'},
                                         {"bench", required_argument, 0, 'b'}, {"seed", required_argument, 0, 'S'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    named inputs[MAX_ARGS], shapes[MAX_ARGS];
    int n_inputs = 0, n_shapes = 0, bench = 0;
    const char *outdir = NULL;
    bool cpu = false;
    unsigned long long seed = 1;
    for (int c; (c = getopt_long(argc, argv, "i:s:o:cb:S:h", opts, NULL)) != -1;) {
        char *end;
        switch (c) {
        case 'i':
        case 's': {
            named *list = c == 'i' ? inputs : shapes;
            int *n = c == 'i' ? &n_inputs : &n_shapes;
            if (*n == MAX_ARGS || !split_named(optarg, &list[*n])) {
                fprintf(stderr, "vkdl-run: --%s wants NAME=%s, not '%s'\n", c == 'i' ? "input" : "shape",
                        c == 'i' ? "FILE.npy" : "DxDx...", optarg);
                return 2;
            }
            ++*n;
            break;
        }
        case 'o': outdir = optarg; break;
        case 'c': cpu = true; break;
        case 'b':
            bench = (int)strtol(optarg, &end, 10);
            if (*end || bench < 1) {
                fprintf(stderr, "vkdl-run: --bench wants a positive count, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'S':
            seed = strtoull(optarg, &end, 10);
            if (*end) {
                fprintf(stderr, "vkdl-run: --seed wants a number, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': return usage(stdout);
        default: return usage(stderr);
        }
    }
    if (optind != argc - 1)
        return usage(stderr);
    const char *path = argv[optind];

    double t0 = now_ms();
    vkdl_onnx_model *m;
    if (vkdl_onnx_load(path, &m) != VKDL_OK) {
        fprintf(stderr, "vkdl-run: %s\n", vkdl_last_error());
        return 1;
    }
    double t_load = now_ms() - t0;
    int ni = vkdl_onnx_input_count(m), no = vkdl_onnx_output_count(m);
    printf("model: %s (loaded in %.1f ms)\n", path, t_load);
    for (int i = 0; i < n_inputs + n_shapes; i++) {
        const char *name = i < n_inputs ? inputs[i].name : shapes[i - n_inputs].name;
        bool known = false;
        for (int k = 0; k < ni; k++) {
            vkdl_host_tensor d;
            vkdl_onnx_input(m, k, &d);
            known |= !strcmp(d.name, name);
        }
        if (!known) {
            fprintf(stderr, "vkdl-run: the model has no input '%s'\n", name);
            return 2;
        }
    }

    /* Every input's host data: from its .npy, or a seeded pattern in its declared or given shape. */
    vkdl_host_tensor *in = calloc((size_t)ni + 1, sizeof *in);
    uint64_t state = seed;
    for (int i = 0; i < ni; i++) {
        vkdl_host_tensor decl;
        vkdl_onnx_input(m, i, &decl);
        char s[128];
        const char *file = find(inputs, n_inputs, decl.name), *shape = find(shapes, n_shapes, decl.name);
        if (file) {
            if (npy_read(file, &in[i]) != VKDL_OK)
                return 1;
            in[i].name = decl.name;
            printf("input '%s': %s %s from %s\n", decl.name, vkdl_dtype_name(in[i].dtype),
                   shape_str(&in[i], s, sizeof s), file);
            continue;
        }
        in[i] = decl;
        if (shape && !parse_shape(shape, &in[i])) {
            fprintf(stderr, "vkdl-run: --shape %s=%s: want dims like 1x3x224x224\n", decl.name, shape);
            return 2;
        }
        int64_t n = 1;
        for (int d = 0; d < in[i].ndim; d++) {
            if (in[i].shape[d] < 0) {
                const char *sym = vkdl_onnx_input_dim_name(m, i, d);
                fprintf(stderr, "vkdl-run: input '%s' dim %d%s%s%s is symbolic: give --shape %s=...\n", decl.name, d,
                        sym ? " ('" : "", sym ? sym : "", sym ? "')" : "", decl.name);
                return 2;
            }
            n *= in[i].shape[d];
        }
        in[i].bytes = (size_t)n * vkdl_dtype_size(decl.dtype);
        void *data = calloc(in[i].bytes + 1, 1);
        bool is_float = decl.dtype == VKDL_F32 || decl.dtype == VKDL_F64;
        for (int64_t k = 0; is_float && k < n; k++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            double v = (double)(state >> 11) / 9007199254740992.0;
            if (decl.dtype == VKDL_F32)
                ((float *)data)[k] = (float)v;
            else
                ((double *)data)[k] = v;
        }
        in[i].data = data;
        printf("input '%s': %s %s, no --input given: %s\n", decl.name, vkdl_dtype_name(decl.dtype),
               shape_str(&in[i], s, sizeof s), is_float ? "uniform [0, 1) seeded" : "zeros");
    }

    vkdl_context *ctx;
    vkdl_context_create_info ci = {.backend = cpu ? VKDL_BACKEND_CPU : VKDL_BACKEND_VULKAN};
    if (vkdl_context_create(&ci, &ctx) != VKDL_OK) {
        fprintf(stderr, "vkdl-run: %s\n", vkdl_last_error());
        return 1;
    }
    printf("device: %s\n", vkdl_context_device_name(ctx));
    /* Shapes for every input; integer inputs are fixed as constants only when the plan needs their
     * values (a Reshape target, say). */
    vkdl_host_tensor *given = calloc((size_t)ni + 1, sizeof *given);
    vkdl_onnx_plan *p = NULL;
    vkdl_status s = VKDL_OK;
    bool fixed = false;
    for (int attempt = 0; attempt < 2 && !p; attempt++) {
        for (int i = 0; i < ni; i++) {
            given[i] = in[i];
            bool fl = in[i].dtype == VKDL_F32 || in[i].dtype == VKDL_F16 || in[i].dtype == VKDL_BF16;
            if (attempt == 0 && in[i].dtype != VKDL_F64 && in[i].dtype != VKDL_I8 && in[i].dtype != VKDL_I16 &&
                in[i].dtype != VKDL_U16 && in[i].dtype != VKDL_U32 && in[i].dtype != VKDL_U64)
                given[i].data = NULL;
            else if (attempt == 1 && fl)
                given[i].data = NULL;
        }
        vkdl_onnx_plan_info info = {.n_inputs = ni, .inputs = given};
        s = vkdl_onnx_plan_create(ctx, m, &info, &p);
        if (s != VKDL_OK && !strstr(vkdl_last_error(), "must be known when the plan is made"))
            break;
        fixed = attempt == 1;
    }
    if (!p) {
        fprintf(stderr, "vkdl-run: %s\n", vkdl_last_error());
        return 1;
    }
    if (fixed)
        printf("integer inputs fixed as constants of the plan (they decide shapes)\n");
    vkdl_onnx_plan_stats st = {0};
    vkdl_onnx_plan_stats_get(p, &st);
    printf("plan: %.1f ms; %d nodes: %d device steps%s, %d computed on the host; device memory: %.2f MB "
           "constants, %.2f MB activations (%.2f MB without sharing)\n",
           st.compile_ms, st.nodes, st.device_steps, st.recorded ? " (recorded once, replayed)" : "", st.host_nodes,
           st.constant_bytes / 1e6, st.arena_bytes / 1e6, st.unshared_bytes / 1e6);
    double t1 = now_ms();
    if (vkdl_onnx_run(p, ni, in) != VKDL_OK) {
        fprintf(stderr, "vkdl-run: %s\n", vkdl_last_error());
        return 1;
    }
    printf("first run: %.2f ms\n", now_ms() - t1);
    for (int i = 0; i < no; i++) {
        vkdl_host_tensor out;
        vkdl_onnx_plan_output(p, i, &out);
        summarise(&out);
    }
    if (bench) {
        double *ms = malloc((size_t)bench * sizeof *ms);
        for (int r = 0; r < bench; r++) {
            double a = now_ms();
            if (vkdl_onnx_run(p, ni, in) != VKDL_OK) {
                fprintf(stderr, "vkdl-run: %s\n", vkdl_last_error());
                return 1;
            }
            ms[r] = now_ms() - a;
        }
        qsort(ms, (size_t)bench, sizeof *ms, cmp_double);
        printf("bench: %d runs, median %.3f ms, min %.3f ms, max %.3f ms (upload, run, download)\n", bench,
               ms[bench / 2], ms[0], ms[bench - 1]);
        free(ms);
    }
    int rc = 0;
    if (outdir) {
        mkdir(outdir, 0755);
        for (int i = 0; i < no; i++) {
            vkdl_host_tensor out;
            vkdl_onnx_plan_output(p, i, &out);
            char file[4096], name[256];
            snprintf(name, sizeof name, "%s", out.name);
            for (char *c = name; *c; c++)
                if (*c == '/' || *c == '\\' || *c == ':' || (unsigned char)*c < 32)
                    *c = '_';
            snprintf(file, sizeof file, "%s/%s.npy", outdir, name);
            int64_t n;
            float *f = as_f32(&out, &n);
            vkdl_host_tensor w = out;
            w.dtype = VKDL_F32;
            w.data = f;
            w.bytes = (size_t)n * sizeof *f;
            if (!f || npy_write(file, &w) != VKDL_OK)
                rc = 1;
            else
                printf("wrote %s\n", file);
            free(f);
        }
    }
    vkdl_onnx_plan_destroy(p);
    vkdl_context_destroy(ctx);
    vkdl_onnx_model_destroy(m);
    for (int i = 0; i < ni; i++)
        free((void *)in[i].data);
    free(in);
    free(given);
    return rc;
}
