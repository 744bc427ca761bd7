/* vkdl_unary_backward and vkdl_binary_backward: finite differences of the CPU forward, and the GPU
 * against the CPU twin (TH_TOL_F32). lib/op_elementwise.c
 *
 * Gradchecks use central differences of the f32 forward with step 1e-3 (unary) or 1e-2 (binary,
 * whose perturbed operand may feed many outputs) and pass at 1e-2 relative: the f32 rounding of
 * the forward divided by the step is ~1e-4, and the truncation error is below 1e-3. */
#include "harness.h"
#include "runtime/runtime.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct shape {
    int ndim;
    int64_t d[VKDL_MAX_DIMS];
} shape;

static const char *UNARY_NAMES[] = {"relu", "gelu_tanh", "gelu_erf", "sigmoid", "tanh", "exp", "log", "sqrt", "neg", "abs"};
static const char *BINARY_NAMES[] = {"add", "sub", "mul", "div"};

/* Inputs in the op's domain, at least 0.05 away from the kinks of relu and abs at 0. */
static th_pair unary_input(vkdl_unary_op op, int ndim, const int64_t *d)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= d[i];
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) {
        if (op == VKDL_LOG || op == VKDL_SQRT)
            v[i] = th_randf(0.05f, 20.0f);
        else if (op == VKDL_EXP)
            v[i] = th_randf(-20.0f, 20.0f);
        else
            v[i] = (th_randu(2) ? 1.0f : -1.0f) * th_randf(0.05f, 8.0f);
    }
    th_pair p = th_from(VKDL_F32, ndim, d, v, VKDL_F32);
    free(v);
    return p;
}

typedef struct unary_case {
    vkdl_unary_op op;
    shape s;
} unary_case;

static void run_unary(void *arg)
{
    const unary_case *c = arg;
    th_pair x = unary_input(c->op, c->s.ndim, c->s.d);
    th_pair dy = th_rand(VKDL_F32, c->s.ndim, c->s.d, -1, 1);
    th_pair dx = th_empty(VKDL_F32, c->s.ndim, c->s.d);
    TH_OK(vkdl_unary_backward(c->op, x.cpu, dy.cpu, dx.cpu));
    TH_OK(vkdl_unary_backward(c->op, x.gpu, dy.gpu, dx.gpu));
    th_compare(&dx, TH_TOL_F32);
    th_free(&x);
    th_free(&dy);
    th_free(&dx);
}

typedef struct unary_fwd {
    vkdl_unary_op op;
    vkdl_tensor *x;
} unary_fwd;

static vkdl_status unary_forward(void *arg, vkdl_tensor *out)
{
    unary_fwd *f = arg;
    return vkdl_unary(f->op, f->x, out);
}

static void run_unary_grad(void *arg)
{
    vkdl_unary_op op = *(const vkdl_unary_op *)arg;
    int64_t n = 23;
    th_pair x = unary_input(op, 1, &n);
    th_pair dy = th_rand(VKDL_F32, 1, &n, -1, 1);
    th_pair y = th_empty(VKDL_F32, 1, &n), dx = th_empty(VKDL_F32, 1, &n);
    TH_OK(vkdl_unary_backward(op, x.cpu, dy.cpu, dx.cpu));
    unary_fwd f = {op, x.cpu};
    th_gradcheck(unary_forward, &f, y.cpu, dy.cpu, 1, &x.cpu, &dx.cpu, 100, 1e-3, 1e-2);
    th_free(&x);
    th_free(&dy);
    th_free(&y);
    th_free(&dx);
}

/* relu and abs have derivative 0 at 0; large inputs saturate without NaN. */
static void run_unary_special(void *arg)
{
    (void)arg;
    const float v[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 30.0f, -30.0f, 88.0f, -88.0f, 1e4f, -1e4f};
    int64_t n = 10;
    float ones[10];
    for (int i = 0; i < 10; i++)
        ones[i] = 1.0f;
    for (int op = 0; op < VKDL_UNARY_OP_COUNT; op++) {
        if (op == VKDL_LOG || op == VKDL_SQRT || op == VKDL_EXP)
            continue; /* outside their domain, or overflowing: checked on random data */
        th_pair x = th_from(VKDL_F32, 1, &n, v, VKDL_F32);
        th_pair dy = th_from(VKDL_F32, 1, &n, ones, VKDL_F32);
        th_pair dx = th_empty(VKDL_F32, 1, &n);
        TH_OK(vkdl_unary_backward(op, x.cpu, dy.cpu, dx.cpu));
        TH_OK(vkdl_unary_backward(op, x.gpu, dy.gpu, dx.gpu));
        if (!th_compare(&dx, TH_TOL_F32))
            th_fail("op %s", UNARY_NAMES[op]);
        if (op == VKDL_RELU || op == VKDL_ABS) {
            float *g = th_download(dx.gpu);
            if (g[0] != 0.0f || g[1] != 0.0f)
                th_fail("%s'(0) is %g, %g on the GPU, expected 0", UNARY_NAMES[op], g[0], g[1]);
            free(g);
        }
        th_free(&x);
        th_free(&dy);
        th_free(&dx);
    }
}

typedef struct binary_case {
    vkdl_binary_op op;
    shape a, b, out;
    int which; /* 0 both gradients, 1 only da, 2 only db */
} binary_case;

static void run_binary(void *arg)
{
    const binary_case *c = arg;
    th_pair a = th_rand(VKDL_F32, c->a.ndim, c->a.d, -4, 4);
    th_pair b = th_rand(VKDL_F32, c->b.ndim, c->b.d, 0.5f, 4); /* away from 0 for div */
    th_pair g = th_rand(VKDL_F32, c->out.ndim, c->out.d, -1, 1);
    th_pair da = th_empty(VKDL_F32, c->a.ndim, c->a.d), db = th_empty(VKDL_F32, c->b.ndim, c->b.d);
    bool want_a = c->which != 2, want_b = c->which != 1;
    TH_OK(vkdl_binary_backward(c->op, a.cpu, b.cpu, g.cpu, want_a ? da.cpu : NULL, want_b ? db.cpu : NULL));
    TH_OK(vkdl_binary_backward(c->op, a.gpu, b.gpu, g.gpu, want_a ? da.gpu : NULL, want_b ? db.gpu : NULL));
    if (want_a && !th_compare(&da, TH_TOL_F32))
        th_fail("da");
    if (want_b && !th_compare(&db, TH_TOL_F32))
        th_fail("db");
    th_free(&a);
    th_free(&b);
    th_free(&g);
    th_free(&da);
    th_free(&db);
}

typedef struct binary_fwd {
    vkdl_binary_op op;
    vkdl_tensor *a, *b;
} binary_fwd;

static vkdl_status binary_forward(void *arg, vkdl_tensor *out)
{
    binary_fwd *f = arg;
    return vkdl_binary(f->op, f->a, f->b, out);
}

static void run_binary_grad(void *arg)
{
    const binary_case *c = arg;
    th_pair a = th_rand(VKDL_F32, c->a.ndim, c->a.d, -2, 2);
    th_pair b = th_rand(VKDL_F32, c->b.ndim, c->b.d, 0.5f, 2);
    th_pair g = th_rand(VKDL_F32, c->out.ndim, c->out.d, -1, 1);
    th_pair o = th_empty(VKDL_F32, c->out.ndim, c->out.d);
    th_pair da = th_empty(VKDL_F32, c->a.ndim, c->a.d), db = th_empty(VKDL_F32, c->b.ndim, c->b.d);
    TH_OK(vkdl_binary_backward(c->op, a.cpu, b.cpu, g.cpu, da.cpu, db.cpu));
    binary_fwd f = {c->op, a.cpu, b.cpu};
    vkdl_tensor *in[2] = {a.cpu, b.cpu}, *gr[2] = {da.cpu, db.cpu};
    th_gradcheck(binary_forward, &f, o.cpu, g.cpu, 2, in, gr, 60, 1e-2, 1e-2);
    th_free(&a);
    th_free(&b);
    th_free(&g);
    th_free(&o);
    th_free(&da);
    th_free(&db);
}

/* out is empty along a dim b is broadcast over: db is the sum of nothing. */
static void run_binary_empty(void *arg)
{
    (void)arg;
    int64_t sa[2] = {0, 5}, sb[1] = {5};
    th_pair a = th_rand(VKDL_F32, 2, sa, -1, 1), b = th_rand(VKDL_F32, 1, sb, -1, 1);
    th_pair g = th_rand(VKDL_F32, 2, sa, -1, 1);
    th_pair da = th_empty(VKDL_F32, 2, sa), db = th_empty(VKDL_F32, 1, sb);
    TH_OK(vkdl_binary_backward(VKDL_MUL, a.cpu, b.cpu, g.cpu, da.cpu, db.cpu));
    TH_OK(vkdl_binary_backward(VKDL_MUL, a.gpu, b.gpu, g.gpu, da.gpu, db.gpu));
    th_compare(&db, TH_TOL_EXACT);
    float *h = th_download(db.gpu);
    for (int i = 0; i < 5; i++)
        if (h[i] != 0.0f)
            th_fail("db[%d] = %g, expected 0", i, h[i]);
    free(h);
    int64_t e[1] = {0};
    th_pair x = th_rand(VKDL_F32, 1, e, -1, 1), dx = th_empty(VKDL_F32, 1, e);
    TH_OK(vkdl_unary_backward(VKDL_TANH, x.gpu, x.gpu, dx.gpu));
    th_free(&x);
    th_free(&dx);
    th_free(&a);
    th_free(&b);
    th_free(&g);
    th_free(&da);
    th_free(&db);
}

/* Views at unaligned offsets, and the same bits on a second run. */
static void run_views(void *arg)
{
    (void)arg;
    int64_t s[2] = {37, 3}, r[1] = {3};
    th_pair base = th_rand(VKDL_F32, 2, s, -2, 2), b = th_rand(VKDL_F32, 1, r, 0.5f, 2);
    th_pair grad = th_rand(VKDL_F32, 2, s, -1, 1);
    th_pair out = th_rand(VKDL_F32, 2, s, -1, 1);
    th_pair a, g, da;
    TH_OK(vkdl_tensor_slice(base.cpu, 5, 30, &a.cpu));
    TH_OK(vkdl_tensor_slice(base.gpu, 5, 30, &a.gpu));
    TH_OK(vkdl_tensor_slice(grad.cpu, 1, 26, &g.cpu));
    TH_OK(vkdl_tensor_slice(grad.gpu, 1, 26, &g.gpu));
    TH_OK(vkdl_tensor_slice(out.cpu, 11, 36, &da.cpu));
    TH_OK(vkdl_tensor_slice(out.gpu, 11, 36, &da.gpu));
    th_pair db = th_empty(VKDL_F32, 1, r), db2 = th_empty(VKDL_F32, 1, r);
    TH_OK(vkdl_binary_backward(VKDL_DIV, a.cpu, b.cpu, g.cpu, da.cpu, db.cpu));
    TH_OK(vkdl_binary_backward(VKDL_DIV, a.gpu, b.gpu, g.gpu, da.gpu, db.gpu));
    TH_OK(vkdl_binary_backward(VKDL_DIV, a.gpu, b.gpu, g.gpu, NULL, db2.gpu));
    th_compare(&out, TH_TOL_F32);
    th_compare(&db, TH_TOL_F32);
    float *h1 = th_download(db.gpu), *h2 = th_download(db2.gpu);
    if (memcmp(h1, h2, 3 * sizeof *h1) != 0)
        th_fail("db differs between two runs");
    free(h1);
    free(h2);
    TH_OK(vkdl_unary_backward(VKDL_GELU_ERF, a.cpu, g.cpu, da.cpu));
    TH_OK(vkdl_unary_backward(VKDL_GELU_ERF, a.gpu, g.gpu, da.gpu));
    th_compare(&out, TH_TOL_F32);
    th_free(&a);
    th_free(&g);
    th_free(&da);
    th_free(&db);
    th_free(&db2);
    th_free(&base);
    th_free(&b);
    th_free(&grad);
    th_free(&out);
}

static void run_bad(void *arg)
{
    (void)arg;
    int64_t s3[1] = {3}, s4[1] = {4}, s23[2] = {2, 3};
    th_pair a = th_rand(VKDL_F32, 1, s3, 0, 1), b = th_rand(VKDL_F32, 1, s4, 0, 1), m = th_rand(VKDL_F32, 2, s23, 0, 1);
    th_pair i = th_empty(VKDL_I32, 1, s3);
    TH_STATUS(vkdl_unary_backward(VKDL_RELU, NULL, a.gpu, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "x is NULL");
    TH_STATUS(vkdl_unary_backward(VKDL_RELU, a.gpu, NULL, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "dy is NULL");
    TH_STATUS(vkdl_unary_backward(VKDL_RELU, a.gpu, a.gpu, NULL), VKDL_ERROR_INVALID_ARGUMENT, "dx is NULL");
    TH_STATUS(vkdl_unary_backward(VKDL_UNARY_OP_COUNT, a.gpu, a.gpu, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "invalid op");
    TH_STATUS(vkdl_unary_backward(VKDL_TANH, a.gpu, b.gpu, a.gpu), VKDL_ERROR_SHAPE_MISMATCH, "3 vs 4");
    TH_STATUS(vkdl_unary_backward(VKDL_TANH, a.gpu, a.gpu, b.gpu), VKDL_ERROR_SHAPE_MISMATCH, "3 vs 4");
    TH_STATUS(vkdl_unary_backward(VKDL_TANH, a.gpu, i.gpu, a.gpu), VKDL_ERROR_DTYPE_MISMATCH, "dy is i32");
    TH_STATUS(vkdl_unary_backward(VKDL_TANH, a.gpu, a.cpu, a.gpu), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_binary_backward(VKDL_ADD, NULL, a.gpu, a.gpu, a.gpu, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "a is NULL");
    TH_STATUS(vkdl_binary_backward(VKDL_ADD, a.gpu, a.gpu, NULL, a.gpu, a.gpu), VKDL_ERROR_INVALID_ARGUMENT,
              "dout is NULL");
    TH_STATUS(vkdl_binary_backward((vkdl_binary_op)7, a.gpu, a.gpu, a.gpu, a.gpu, a.gpu), VKDL_ERROR_INVALID_ARGUMENT,
              "invalid op");
    TH_STATUS(vkdl_binary_backward(VKDL_MUL, a.gpu, b.gpu, a.gpu, a.gpu, b.gpu), VKDL_ERROR_SHAPE_MISMATCH,
              "cannot broadcast a 3 and b 4 to out 3");
    TH_STATUS(vkdl_binary_backward(VKDL_MUL, m.gpu, a.gpu, a.gpu, NULL, NULL), VKDL_ERROR_SHAPE_MISMATCH, "to out 3");
    TH_STATUS(vkdl_binary_backward(VKDL_MUL, m.gpu, a.gpu, m.gpu, a.gpu, NULL), VKDL_ERROR_SHAPE_MISMATCH, "2x3 vs 3");
    TH_STATUS(vkdl_binary_backward(VKDL_MUL, m.gpu, a.gpu, m.gpu, NULL, m.gpu), VKDL_ERROR_SHAPE_MISMATCH, "3 vs 2x3");
    TH_STATUS(vkdl_binary_backward(VKDL_MUL, a.gpu, a.gpu, a.gpu, i.gpu, NULL), VKDL_ERROR_DTYPE_MISMATCH, "da is i32");
    TH_STATUS(vkdl_binary_backward(VKDL_MUL, a.gpu, a.gpu, i.gpu, a.gpu, NULL), VKDL_ERROR_DTYPE_MISMATCH,
              "dout is i32");
    TH_STATUS(vkdl_binary_backward(VKDL_MUL, a.gpu, a.gpu, a.gpu, a.cpu, NULL), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    th_free(&a);
    th_free(&b);
    th_free(&m);
    th_free(&i);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    char name[128];
    static const shape SHAPES[] = {
        {1, {1}}, {1, {17}}, {1, {127}}, {2, {255, 257}}, {3, {4, 1000, 3}}, {1, {70001}}, {0, {0}},
    };
    for (int op = 0; op < VKDL_UNARY_OP_COUNT; op++) {
        for (size_t i = 0; i < VKDL_ARRAY_LEN(SHAPES); i++) {
            unary_case c = {(vkdl_unary_op)op, SHAPES[i]};
            snprintf(name, sizeof name, "unary_backward/%s/%zu", UNARY_NAMES[op], i);
            th_run(name, run_unary, &c);
        }
        vkdl_unary_op o = (vkdl_unary_op)op;
        snprintf(name, sizeof name, "unary_backward/%s/gradcheck", UNARY_NAMES[op]);
        th_run(name, run_unary_grad, &o);
    }
    th_run("unary_backward/special-values", run_unary_special, NULL);

    static const binary_case BIN[] = {
        {VKDL_ADD, {1, {1000}}, {1, {1000}}, {1, {1000}}, 0},
        {VKDL_SUB, {2, {17, 127}}, {1, {127}}, {2, {17, 127}}, 0},
        {VKDL_MUL, {2, {17, 1}}, {2, {1, 127}}, {2, {17, 127}}, 0},
        {VKDL_DIV, {3, {3, 1, 5}}, {3, {1, 4, 1}}, {3, {3, 4, 5}}, 0},
        {VKDL_MUL, {0, {0}}, {3, {2, 3, 4}}, {3, {2, 3, 4}}, 0},
        {VKDL_DIV, {4, {2, 1, 3, 1}}, {3, {5, 1, 7}}, {4, {2, 5, 3, 7}}, 0},
        {VKDL_SUB, {1, {1}}, {1, {1}}, {1, {1}}, 0},
        {VKDL_MUL, {8, {2, 1, 2, 1, 2, 1, 2, 1}}, {8, {1, 2, 1, 2, 1, 2, 1, 2}}, {8, {2, 2, 2, 2, 2, 2, 2, 2}}, 0},
        {VKDL_DIV, {2, {4096, 33}}, {2, {4096, 1}}, {2, {4096, 33}}, 0},
        {VKDL_ADD, {2, {4096, 300}}, {1, {300}}, {2, {4096, 300}}, 2},
        {VKDL_MUL, {1, {100003}}, {1, {1}}, {1, {100003}}, 0},
        {VKDL_SUB, {3, {7, 129, 3}}, {3, {7, 1, 3}}, {3, {7, 129, 3}}, 1},
    };
    for (size_t i = 0; i < VKDL_ARRAY_LEN(BIN); i++) {
        snprintf(name, sizeof name, "binary_backward/%s/%zu", BINARY_NAMES[BIN[i].op], i);
        th_run(name, run_binary, (void *)&BIN[i]);
    }
    static const binary_case GRAD[] = {
        {VKDL_ADD, {2, {3, 4}}, {1, {4}}, {2, {3, 4}}, 0},
        {VKDL_SUB, {2, {3, 1}}, {2, {1, 5}}, {2, {3, 5}}, 0},
        {VKDL_MUL, {3, {2, 1, 3}}, {2, {4, 1}}, {3, {2, 4, 3}}, 0},
        {VKDL_DIV, {3, {2, 4, 3}}, {3, {2, 1, 3}}, {3, {2, 4, 3}}, 0},
        {VKDL_DIV, {1, {1}}, {2, {3, 5}}, {2, {3, 5}}, 0},
        {VKDL_MUL, {1, {17}}, {1, {17}}, {1, {17}}, 0},
    };
    for (size_t i = 0; i < VKDL_ARRAY_LEN(GRAD); i++) {
        snprintf(name, sizeof name, "binary_backward/%s/gradcheck/%zu", BINARY_NAMES[GRAD[i].op], i);
        th_run(name, run_binary_grad, (void *)&GRAD[i]);
    }
    th_run("binary_backward/empty-out", run_binary_empty, NULL);
    th_run("elementwise_backward/unaligned-views", run_views, NULL);
    th_run("elementwise_backward/bad-input", run_bad, NULL);
    return th_finish();
}
