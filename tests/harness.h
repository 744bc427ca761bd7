/* One harness for every op test (in the spirit of ggml's test-backend-ops): each case builds the
 * same seeded inputs on the CPU backend (the oracle) and on the Vulkan device, runs the op on both
 * and compares. Every Vulkan context runs with the validation layer; a validation message fails
 * the case that caused it. Each test binary ends with "N passed, N failed, N skipped". */
#ifndef VKDL_HARNESS_H
#define VKDL_HARNESS_H

#include "vkdl.h"

#include <stdbool.h>
#include <stdint.h>

extern vkdl_context *th_cpu; /* CPU backend */
extern vkdl_context *th_gpu; /* Vulkan device chosen by VKDL_DEVICE, validation on */

/* Tolerances per dtype, documented in tests/README.md: a case passes when every element has
 * |gpu - cpu| <= atol + rtol * |cpu| and the normalised MSE sum((g-c)^2)/sum(c^2) <= nmse. */
typedef struct th_tol {
    double atol, rtol, nmse;
} th_tol;
extern const th_tol TH_TOL_F32;   /* elementwise / reductions in f32 */
extern const th_tol TH_TOL_GEMM;  /* f32 GEMM-shaped (long dot products) */
extern const th_tol TH_TOL_F16;
extern const th_tol TH_TOL_BF16;
extern const th_tol TH_TOL_EXACT; /* integer outputs, copies */

/* A pair of tensors with the same contents on both backends. */
typedef struct th_pair {
    vkdl_tensor *cpu, *gpu;
} th_pair;

/* Uniform random values in [lo, hi) from the harness RNG (seeded per case). */
th_pair th_rand(vkdl_dtype dtype, int ndim, const int64_t *shape, float lo, float hi);
/* Uninitialised output pair (both backends). Filled with NaN so unwritten elements show up. */
th_pair th_empty(vkdl_dtype dtype, int ndim, const int64_t *shape);
/* Upload the same host data to both. */
th_pair th_from(vkdl_dtype dtype, int ndim, const int64_t *shape, const void *data, vkdl_dtype data_dtype);
void th_free(th_pair *p);
/* Rows [start, end) of both of base's tensors, as views. */
th_pair th_slice(const th_pair *base, int64_t start, int64_t end);
/* Uniform random float in [lo, hi), and integer in [0, n). */
float th_randf(float lo, float hi);
uint32_t th_randu(uint32_t n);
/* The same generator (splitmix64) on a private state, for a test that restarts it from a fixed seed
 * for each backend so both see the same values: the next 64 bits, and a float uniform in [lo, hi). */
uint64_t th_mix(uint64_t *s);
float th_urand(uint64_t *s, float lo, float hi);
/* Backend b of the two (0: th_cpu, 1: th_gpu), and its name for messages. */
vkdl_context *th_ctx_of(int b);
extern const char *const TH_BACKEND[2];

/* Compare gpu against cpu; logs the worst element and the NMSE on failure. Returns pass. */
bool th_compare(const th_pair *p, th_tol tol);

/* Finite-difference check of a backward pass on the CPU backend. fwd(arg, out) recomputes the
 * forward output from the current contents of the CPU input tensors. With loss = sum(out * dout),
 * each analytic gradient grads[i] (what the op's backward produced from dout for inputs[i]) is
 * compared with central differences (step eps, in double where the loss is summed) at up to
 * max_checks elements per input (all of them when the input is small, else a seeded sample).
 * Passes when |fd - analytic| <= tol * max(1, |fd|, |analytic|) everywhere. */
typedef vkdl_status (*th_fwd_fn)(void *arg, vkdl_tensor *out);
bool th_gradcheck(th_fwd_fn fwd, void *arg, vkdl_tensor *out, const vkdl_tensor *dout, int n_inputs,
                  vkdl_tensor *const *inputs, vkdl_tensor *const *grads, int max_checks, double eps, double tol);
/* Download a tensor (any backend) as f32 into a new malloc'd array. */
float *th_download(const vkdl_tensor *t);

/* The device paths an op can take, forced the way a user would: through the environment
 * switches VKDL_DISABLE and VKDL_LIMIT (README.md), added to any the run itself was given.
 * th_env_begin points th_gpu at a context created with those switches (one per combination, kept
 * for the whole run; NULL, NULL is the default context) and th_env_end points it back. Begin
 * before the case creates its device tensors, since they belong to the context th_gpu then is. */
void th_env_begin(const char *disable, const char *limit);
void th_env_end(void);
enum th_variant { TH_V_DEFAULT, TH_V_NO_CPU_QUIRK, TH_V_NO_SUBGROUP, TH_V_COUNT };
extern const char *const TH_VARIANT_NAMES[TH_V_COUNT]; /* "", " [no cpu quirk]", ... */
/* th_env_begin with the variant's switches: no CPU-driver kernel choice; and no subgroup ops. */
void th_variant_begin(enum th_variant v);
void th_variant_end(void);

/* Run one case: set the RNG seed from the name, call fn, check the statuses it recorded, the
 * validation counter and device sync; print "ok"/"FAIL" with the name. */
typedef void (*th_case_fn)(void *arg);
void th_run(const char *name, th_case_fn fn, void *arg);
/* th_run as "name/cpu" and as "name/gpu", arg pointing at th_cpu and then at th_gpu (a vkdl_context **). */
void th_run_both(const char *name, th_case_fn fn);
/* Inside a case: fail it with a message (printf-style); the case goes on. */
void th_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Skip the current case (a feature the device lacks), with the reason. */
void th_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Expect a call to return VKDL_OK; on failure, fail the case with vkdl_last_error(). */
#define TH_OK(expr) th_expect_ok((expr), #expr, __FILE__, __LINE__)
bool th_expect_ok(vkdl_status s, const char *expr, const char *file, int line);
/* Expect a specific error status and a message containing `needle` (NULL: any message). */
#define TH_STATUS(expr, want, needle) th_expect_status((expr), (want), (needle), #expr, __FILE__, __LINE__)
bool th_expect_status(vkdl_status s, vkdl_status want, const char *needle, const char *expr, const char *file, int line);
#define TH_TRUE(cond) ((cond) ? true : (th_fail("%s:%d: %s", __FILE__, __LINE__, #cond), false))

/* ---------------------------------------------------------------- op cases as descriptors
 * A test file states its numeric cases as rows of th_op and hands each to th_run_op, which runs
 * the forward on the CPU backend (the oracle) and on the device (once per requested kernel
 * variant, each its own case named name + TH_VARIANT_NAMES[v]) and compares every output with
 * tol. With a backward it then gives both backends the CPU forward's outputs and the same random
 * output gradients, compares every input gradient with tol (or grad_tol), and, when
 * grad.checks > 0, checks the CPU backward against central differences of the CPU forward
 * (th_gradcheck). Run with --perf, it also prints the device forward's median time. */
typedef struct th_shape {
    int ndim;
    int64_t d[VKDL_MAX_DIMS];
} th_shape;
/* TH_SHAPE(3, 4) is a 3x4 th_shape; TH_SCALAR the 0-d one. */
#define TH_SHAPE(...) {sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), {__VA_ARGS__}}
#define TH_SCALAR {0, {0}}

enum th_fill {
    TH_FILL_UNIFORM, /* uniform in [lo, hi) */
    TH_FILL_SIGNED,  /* a random sign times uniform in [lo, hi): keeps |x| >= lo off kinks at 0 */
    TH_FILL_LABELS,  /* integers in [0, hi) (class labels, indices) */
    TH_FILL_FN,      /* gen writes all the values (lo and hi are its to use) */
};

/* pad: the tensor is a view of a larger one with pad[0] rows (along dim 0) before it and pad[1]
 * after, so it starts mid-buffer; the rows around an input hold data filled the same way, and an
 * output is compared with its rows around it, which must be left untouched. */
typedef struct th_input {
    th_shape shape;
    vkdl_dtype dtype; /* 0 is VKDL_F32 */
    enum th_fill fill;
    float lo, hi;
    void (*gen)(float *v, int64_t n, const th_shape *s, float lo, float hi);
    int64_t pad[2];
    bool inout;              /* the op updates it in place (running statistics): compared after the forward (with
                              * the rows around it, if padded), and the backward starts from the CPU's contents */
    const th_tol *tol;       /* that comparison's, instead of the op's */
    const th_tol *grad_tol;  /* its gradient's, instead of the op's */
} th_input;

typedef struct th_output {
    th_shape shape;
    vkdl_dtype dtype;
    int64_t pad[2];
    float grad_lo, grad_hi; /* its gradient for the backward: uniform in [grad_lo, grad_hi), [-1, 1) if both 0 */
    bool accumulate;        /* the op adds into it, or must leave it alone: it starts uniform in [-1, 1), not NaN
                             * (and unpadded) */
    bool no_grad;           /* a float output the backward takes no gradient for (saved statistics, a workspace) */
    const th_tol *tol;      /* its comparison's, instead of the op's */
} th_output;

/* Finite-difference check of the backward: at most `checks` elements per input (0: none), step
 * eps, passing at |fd - analytic| <= tol * max(1, |fd|, |analytic|). The loss sums
 * out * dout over every output that gets a gradient (not integer ones such as indices, nor
 * no_grad ones). */
typedef struct th_grad {
    int checks;
    double eps, tol;
} th_grad;

enum { TH_MAX_OP_TENSORS = 8 };
#define TH_VS_ALL ((1u << TH_V_COUNT) - 1)
#define TH_VS_ONLY(v) (1u << (v))

typedef struct th_op th_op;
/* One backend's tensors, for a th_check_fn: in and out as its forward left them, din the input
 * gradients its backward wrote (NULL without one), and before[i] the values input i had before
 * the forward (f32, host; the same on both). */
typedef struct th_op_result {
    vkdl_tensor *const *in, *const *out, *const *din;
    float *const *before;
} th_op_result;
/* Checks of a case beyond device against CPU (a formula, a naive reference, known values): called
 * after every other check of the case with both backends' results; it fails the case with
 * th_fail. */
typedef void (*th_check_fn)(const th_op *op, const th_op_result *cpu, const th_op_result *gpu);
/* Run the op on the tensors given, all on one context (CPU or device). */
typedef vkdl_status (*th_forward_fn)(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out);
/* din[i] is NULL for an input whose gradient is not asked for. */
typedef vkdl_status (*th_backward_fn)(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                                      vkdl_tensor *const *dout, vkdl_tensor *const *din);
struct th_op {
    const char *name;
    int op;             /* which op of the family (a vkdl_unary_op, log or not, ...) */
    int args[4];        /* small integer parameters (an axis, a flag, ...) */
    const void *params; /* whatever else the forward and backward need */
    int n_in, n_out;
    th_input in[TH_MAX_OP_TENSORS];
    th_output out[TH_MAX_OP_TENSORS];
    th_forward_fn forward;
    th_backward_fn backward; /* optional */
    unsigned no_grad;        /* bit i: no gradient asked for input i (integer inputs never get one) */
    unsigned no_gradcheck;   /* bit i: input i's gradient is compared but not finite-difference checked (the
                              * forward does not read it, as an absent initial state whose gradient is written) */
    const th_tol *tol;       /* every output and gradient, device against CPU (&TH_TOL_F32, ...) */
    const th_tol *grad_tol;  /* the gradients' instead, where they differ (th_input's own comes first) */
    bool deterministic;      /* the device forward and backward give the same bits when run again, into fresh
                              * tensors (so not for an accumulating output or an inout input) */
    th_grad grad;
    th_check_fn check;       /* optional */
    unsigned variants;       /* bit v: run as th_variant v (TH_VS_ALL: every one); 0: the default only */
    const char *limit;       /* VKDL_LIMIT words for the device side, with any variant's (th_env_begin) */
    const char *disable;     /* VKDL_DISABLE words (kernel variants, say) for the device side, likewise */
};
void th_run_op(const th_op *op);
/* "3x4x5", or "scalar" for 0-d, into buf. */
const char *th_shape_str(const th_shape *s, char *buf, size_t n);

/* Helpers for tests that make their own tensors and contexts (the runtime's tests). */
#define TH_LEN(a) (sizeof(a) / sizeof((a)[0]))
extern const vkdl_dtype TH_ALL_DTYPES[5];
size_t th_mem_current(const vkdl_context *c);
/* Create a tensor on c (failing the case when that fails): any shape, or 1-D of n elements. */
vkdl_tensor *th_mk(vkdl_context *c, vkdl_dtype d, int ndim, const int64_t *shape);
vkdl_tensor *th_mk1(vkdl_context *c, vkdl_dtype d, int64_t n);
/* Set an environment variable for the next context_create; th_env_restore puts back what was there. */
char *th_env_set(const char *name, const char *value);
void th_env_restore(const char *name, char *saved);
/* A fresh directory for a test's files: $TMPDIR (else /tmp) + "/<tag>-XXXXXX" into dir (n bytes); false, with
 * the reason on stderr, when it cannot be made. th_tmpdir_remove deletes it and the files in it. */
bool th_tmpdir_make(char *dir, size_t n, const char *tag);
void th_tmpdir_remove(const char *dir);
/* How many files in dir have `part` in their names (the temporary files a failed write may leave). */
int th_tmpdir_count(const char *dir, const char *part);
/* An extra context for one case: validation on for Vulkan, no disk cache unless a directory is
 * given. */
vkdl_context *th_ctx_new(vkdl_backend b, uint32_t flags, const char *cache_dir);
/* Sync, check that the context saw no validation messages and holds no tensor memory, destroy. */
void th_ctx_done(vkdl_context *c);
/* Every element within 1e-5 + 1e-4 |want| (fails the case naming what and the first bad element). */
bool th_close_f32(const float *got, const float *want, size_t n, const char *what);
/* out = scale(gelu_erf(x), -1.5, 0.25) + x on c and on the CPU backend, compared with th_close_f32. */
bool th_graph_matches_cpu(vkdl_context *c, const char *what);

/* Set up both contexts (argv: an optional case-name filter, and --perf), and finish: print the summary and
 * return the exit code (0 when nothing failed). A device that cannot be opened fails the run. */
void th_init(int argc, char **argv);
int th_finish(void);

#endif
