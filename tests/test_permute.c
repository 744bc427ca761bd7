/* vkdl_permute against the CPU twin: every dtype (4-, 2- and 1-byte elements), every permutation
 * of a 4-D shape, up to 8 dims, and views at unaligned offsets whose neighbours must survive. */
#include "harness.h"

#include <stdio.h>
#include <string.h>

static const vkdl_dtype DTYPES[] = {VKDL_F32, VKDL_I32, VKDL_F16, VKDL_BF16, VKDL_U8};

/* Integers and u8 get whole values over their range, so every byte pattern is exercised. */
static th_input input_of(vkdl_dtype d, th_shape s)
{
    if (d == VKDL_U8)
        return (th_input){.shape = s, .dtype = d, .lo = 0.0f, .hi = 256.0f};
    if (d == VKDL_I32)
        return (th_input){.shape = s, .dtype = d, .lo = -1e6f, .hi = 1e6f};
    return (th_input){.shape = s, .dtype = d, .lo = -10.0f, .hi = 10.0f};
}

static th_pair rand_of(vkdl_dtype d, int ndim, const int64_t *shape)
{
    th_input in = input_of(d, (th_shape){ndim, {0}});
    return th_rand(d, ndim, shape, in.lo, in.hi);
}

/* params: the permutation. */
static vkdl_status permute(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    return vkdl_permute(in[0], op->params, out[0]);
}

static void run(vkdl_dtype d, int ndim, const int64_t *shape, const int *perm)
{
    th_shape s = {ndim, {0}}, os = {ndim, {0}};
    int p[VKDL_MAX_DIMS] = {0}; /* never NULL, even for a scalar */
    char name[200];
    int used = snprintf(name, sizeof name, "%s ", vkdl_dtype_name(d));
    for (int i = 0; i < ndim; i++) {
        s.d[i] = shape[i];
        os.d[i] = shape[perm[i]];
        p[i] = perm[i];
        used += snprintf(name + used, sizeof name - (size_t)used, i ? "x%lld" : "%lld", (long long)shape[i]);
    }
    used += snprintf(name + used, sizeof name - (size_t)used, ndim ? " perm" : "scalar");
    for (int i = 0; i < ndim; i++)
        used += snprintf(name + used, sizeof name - (size_t)used, " %d", perm[i]);
    th_op c = {.name = name, .params = p, .n_in = 1, .n_out = 1, .in = {input_of(d, s)},
               .out = {{.shape = os, .dtype = d}}, .forward = permute, .tol = &TH_TOL_EXACT};
    th_run_op(&c);
}

/* Every permutation of ndim dims, in lexicographic order. */
static void all_perms(vkdl_dtype d, int ndim, const int64_t *shape)
{
    int p[VKDL_MAX_DIMS];
    for (int i = 0; i < ndim; i++)
        p[i] = i;
    for (;;) {
        run(d, ndim, shape, p);
        int i = ndim - 2;
        while (i >= 0 && p[i] > p[i + 1])
            i--;
        if (i < 0)
            return;
        int j = ndim - 1;
        while (p[j] < p[i])
            j--;
        int t = p[i];
        p[i] = p[j];
        p[j] = t;
        for (int a = i + 1, b = ndim - 1; a < b; a++, b--) {
            t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
    }
}

/* Input and output are row views of larger tensors starting at every offset modulo 4 elements,
 * so 1- and 2-byte outputs share their first and last words with elements outside the view.
 * Comparing the whole output buffer checks those neighbours kept their values. */
typedef struct vcase {
    vkdl_dtype dtype;
    int x_start, y_start;
} vcase;

static void run_view(void *arg)
{
    const vcase *c = arg;
    int64_t xs[3] = {13, 5, 3}, ys[3] = {13, 3, 5};
    int perm[3] = {0, 2, 1};
    th_pair xb = rand_of(c->dtype, 3, xs);
    th_pair yb = rand_of(c->dtype, 3, ys);
    int64_t rows = 7;
    th_pair x = th_slice(&xb, c->x_start, c->x_start + rows);
    th_pair y = th_slice(&yb, c->y_start, c->y_start + rows);
    TH_OK(vkdl_permute(x.cpu, perm, y.cpu));
    TH_OK(vkdl_permute(x.gpu, perm, y.gpu));
    th_free(&x);
    th_free(&y);
    th_compare(&yb, TH_TOL_EXACT);
    th_free(&xb);
    th_free(&yb);
}

/* Two permutes into neighbouring views that share a word, recorded back to back: the scheduler
 * sees disjoint byte ranges and need not put a barrier between them. */
static void run_neighbours(void *arg)
{
    const vcase *c = arg;
    int64_t xs[2] = {3, 7}, ys[2] = {14, 3};
    int perm[2] = {1, 0};
    th_pair x = rand_of(c->dtype, 2, xs);
    th_pair x2 = rand_of(c->dtype, 2, xs);
    th_pair yb = rand_of(c->dtype, 2, ys);
    th_pair a = th_slice(&yb, 0, 7);
    th_pair b = th_slice(&yb, 7, 14);
    TH_OK(vkdl_permute(x.cpu, perm, a.cpu));
    TH_OK(vkdl_permute(x2.cpu, perm, b.cpu));
    TH_OK(vkdl_permute(x.gpu, perm, a.gpu));
    TH_OK(vkdl_permute(x2.gpu, perm, b.gpu));
    th_free(&a);
    th_free(&b);
    th_compare(&yb, TH_TOL_EXACT);
    th_free(&x);
    th_free(&x2);
    th_free(&yb);
}

static void run_bad(void *arg)
{
    (void)arg;
    vkdl_context *ctx = th_gpu;
    int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s6[1] = {6};
    vkdl_tensor *x = NULL, *y = NULL, *y16 = NULL, *y23 = NULL, *y6 = NULL, *ycpu = NULL;
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, s23, &x));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, s32, &y));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F16, 2, s32, &y16));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, s23, &y23));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, s6, &y6));
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, 2, s32, &ycpu));
    int t[2] = {1, 0}, dup[2] = {1, 1}, big[2] = {0, 2}, neg[2] = {-1, 0};

    TH_STATUS(vkdl_permute(NULL, t, y), VKDL_ERROR_INVALID_ARGUMENT, "permute: x is NULL");
    TH_STATUS(vkdl_permute(x, t, NULL), VKDL_ERROR_INVALID_ARGUMENT, "permute: out is NULL");
    TH_STATUS(vkdl_permute(x, NULL, y), VKDL_ERROR_INVALID_ARGUMENT, "perm is NULL");
    TH_STATUS(vkdl_permute(x, dup, y), VKDL_ERROR_INVALID_ARGUMENT, "perm[1] = 1");
    TH_STATUS(vkdl_permute(x, big, y), VKDL_ERROR_INVALID_ARGUMENT, "not a permutation");
    TH_STATUS(vkdl_permute(x, neg, y), VKDL_ERROR_INVALID_ARGUMENT, "perm[0] = -1");
    TH_STATUS(vkdl_permute(x, t, y16), VKDL_ERROR_DTYPE_MISMATCH, "out is f16, expected f32");
    TH_STATUS(vkdl_permute(x, t, y23), VKDL_ERROR_SHAPE_MISMATCH, "out is 2x3");
    TH_STATUS(vkdl_permute(x, t, y6), VKDL_ERROR_SHAPE_MISMATCH, NULL);
    TH_STATUS(vkdl_permute(x, t, ycpu), VKDL_ERROR_CONTEXT_MISMATCH, NULL);

    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(y);
    vkdl_tensor_destroy(y16);
    vkdl_tensor_destroy(y23);
    vkdl_tensor_destroy(y6);
    vkdl_tensor_destroy(ycpu);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);

    const int64_t s4[] = {2, 3, 4, 5}, s4b[] = {3, 1, 17, 5};
    for (size_t d = 0; d < TH_LEN(DTYPES); d++) {
        all_perms(DTYPES[d], 4, s4);
        const int64_t l[][1] = {{1}, {3}, {17}, {1000}};
        const int p1[] = {0};
        for (size_t i = 0; i < TH_LEN(l); i++)
            run(DTYPES[d], 1, l[i], p1);
        run(DTYPES[d], 0, NULL, NULL);
        const int t[] = {1, 0};
        const int64_t m[][2] = {{3, 17}, {17, 3}, {127, 1000}, {4096, 3}, {1, 7}, {7, 1}, {1000, 1}};
        for (size_t i = 0; i < TH_LEN(m); i++)
            run(DTYPES[d], 2, m[i], t);
        const int p3[] = {2, 0, 1}, p3b[] = {1, 2, 0};
        const int64_t s3[] = {5, 1, 7}, s3b[] = {17, 127, 3}, s3c[] = {4096, 5, 3};
        run(DTYPES[d], 3, s3, p3);
        run(DTYPES[d], 3, s3b, p3);
        run(DTYPES[d], 3, s3b, p3b);
        run(DTYPES[d], 3, s3c, p3b);
        const int64_t s8[] = {2, 1, 3, 2, 1, 2, 3, 5};
        const int p8[] = {7, 3, 0, 6, 1, 5, 2, 4}, p8b[] = {0, 1, 2, 3, 6, 7, 4, 5};
        run(DTYPES[d], 8, s8, p8);
        run(DTYPES[d], 8, s8, p8b);
        const int p4[] = {2, 0, 3, 1};
        run(DTYPES[d], 4, s4b, p4);
    }
    /* All 24 permutations once more with dims that are not small multiples of anything. */
    const int64_t s4c[] = {3, 17, 5, 7};
    all_perms(VKDL_F16, 4, s4c);
    all_perms(VKDL_U8, 4, s4c);

    static vcase views[TH_LEN(DTYPES)][4][4];
    static vcase neigh[TH_LEN(DTYPES)];
    for (size_t d = 0; d < TH_LEN(DTYPES); d++) {
        for (int a = 0; a < 4; a++) {
            for (int b = 0; b < 4; b++) {
                views[d][a][b] = (vcase){DTYPES[d], a, b + 1};
                char name[100];
                snprintf(name, sizeof name, "%s views from rows %d and %d", vkdl_dtype_name(DTYPES[d]), a, b + 1);
                th_run(name, run_view, &views[d][a][b]);
            }
        }
        neigh[d] = (vcase){DTYPES[d], 0, 0};
        char name[100];
        snprintf(name, sizeof name, "%s neighbouring views", vkdl_dtype_name(DTYPES[d]));
        th_run(name, run_neighbours, &neigh[d]);
    }

    th_run("bad arguments", run_bad, NULL);
    return th_finish();
}
