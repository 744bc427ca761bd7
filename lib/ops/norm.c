/* Batch norm, layer norm and RMS norm, forward and backward. Shader: shaders/norm.comp (one
 * source: a workgroup per row for layer/RMS norm, per column for their dgamma/dbeta, per channel
 * for batch norm). Tests: tests/test_norm.c.
 *
 * Statistics are two-pass (never E[x^2] - E[x]^2): in double on the CPU, around a pivot with
 * Kahan sums on the device. Eval-mode batch norm leaves save_mean/save_rstd untouched. */
#include "ops/ops.h"
#include "shaders.h"
#include "norm.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- checks */

/* An optional f32 tensor of x's context (NULL passes). */
static vkdl_status check_opt(const char *op, const char *name, const vkdl_tensor *t, const vkdl_tensor *x)
{
    if (!t)
        return VKDL_OK;
    VKDL_TRY(vkdl_check_same_ctx(op, x, t));
    return vkdl_check_dtype(op, name, t, VKDL_F32);
}

static vkdl_status check_req(const char *op, const char *name, const vkdl_tensor *t, const vkdl_tensor *x)
{
    VKDL_TRY(vkdl_check_tensor(op, name, t));
    return check_opt(op, name, t, x);
}

/* t (optional) must be the vector [n]; `what` says where n comes from. */
static vkdl_status check_vec(const char *op, const char *name, const vkdl_tensor *t, int64_t n, const char *what,
                             const vkdl_tensor *x)
{
    if (!t || (t->ndim == 1 && t->shape[0] == n))
        return VKDL_OK;
    char st[VKDL_SHAPE_BUF], sx[VKDL_SHAPE_BUF];
    return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s, expected [%lld] (the %s of x %s)", op, name,
                     vkdl_shape_str(t, st, sizeof st), (long long)n, what, vkdl_shape_str(x, sx, sizeof sx));
}

/* t (optional) holds one value per row of x, in any shape. */
static vkdl_status check_per_row(const char *op, const char *name, const vkdl_tensor *t, int64_t rows,
                                 const vkdl_tensor *x)
{
    if (!t || t->numel == rows)
        return VKDL_OK;
    char sx[VKDL_SHAPE_BUF];
    return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s has %lld elements, expected %lld (one per row of x %s)", op,
                     name, (long long)t->numel, (long long)rows, vkdl_shape_str(x, sx, sizeof sx));
}

static vkdl_status check_eps(const char *op, float eps)
{
    if (!(eps >= 0) || isinf(eps))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: eps is %g, expected a finite value >= 0", op, (double)eps);
    return VKDL_OK;
}

static vkdl_status check_size(const char *op, const vkdl_tensor *x)
{
    if (x->numel > UINT32_MAX) {
        char sx[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: x %s has more than 2^32 elements", op,
                         vkdl_shape_str(x, sx, sizeof sx));
    }
    return VKDL_OK;
}

static int64_t last_dim(const vkdl_tensor *x) { return x->shape[x->ndim - 1]; }

/* Layer and RMS norm normalise over x's last dim. */
static vkdl_status check_rows(const char *op, const vkdl_tensor *x)
{
    if (x->ndim > 0 && last_dim(x) > 0)
        return VKDL_OK;
    char sx[VKDL_SHAPE_BUF];
    return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: x is %s; it needs a last dim of at least 1 to normalise over", op,
                     vkdl_shape_str(x, sx, sizeof sx));
}

/* x viewed as [N, C, hw]. */
typedef struct bn_dims {
    int64_t n, c, hw, count;
} bn_dims;

static vkdl_status bn_shape(const char *op, const vkdl_tensor *x, bn_dims *d)
{
    if (x->ndim < 2 || x->ndim > 4) {
        char sx[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: x is %s, expected [N, C], [N, C, L] or [N, C, H, W]", op,
                         vkdl_shape_str(x, sx, sizeof sx));
    }
    d->n = x->shape[0];
    d->c = x->shape[1];
    d->hw = 1;
    for (int i = 2; i < x->ndim; i++)
        d->hw *= x->shape[i];
    d->count = d->n * d->hw;
    return VKDL_OK;
}

/* The tensors every forward takes, and eps. */
static vkdl_status check_fwd(const char *op, const vkdl_tensor *x, const vkdl_tensor *gamma, const vkdl_tensor *beta,
                             float eps, const vkdl_tensor *out, const vkdl_tensor *save_mean,
                             const vkdl_tensor *save_rstd)
{
    VKDL_TRY(check_req(op, "x", x, x));
    VKDL_TRY(check_req(op, "out", out, x));
    VKDL_TRY(check_opt(op, "gamma", gamma, x));
    VKDL_TRY(check_opt(op, "beta", beta, x));
    VKDL_TRY(check_opt(op, "save_mean", save_mean, x));
    VKDL_TRY(check_opt(op, "save_rstd", save_rstd, x));
    return check_eps(op, eps);
}

/* The tensors every backward takes; save_mean is required unless RMS norm (which has none). */
static vkdl_status check_bwd(const char *op, bool rms, const vkdl_tensor *dy, const vkdl_tensor *x,
                             const vkdl_tensor *gamma, const vkdl_tensor *save_mean, const vkdl_tensor *save_rstd,
                             const vkdl_tensor *dx, const vkdl_tensor *dgamma, const vkdl_tensor *dbeta)
{
    VKDL_TRY(check_req(op, "x", x, x));
    VKDL_TRY(check_req(op, "dy", dy, x));
    VKDL_TRY(check_opt(op, "gamma", gamma, x));
    if (!rms)
        VKDL_TRY(check_req(op, "save_mean", save_mean, x));
    VKDL_TRY(check_req(op, "save_rstd", save_rstd, x));
    VKDL_TRY(check_opt(op, "dx", dx, x));
    VKDL_TRY(check_opt(op, "dgamma", dgamma, x));
    return check_opt(op, "dbeta", dbeta, x);
}

/* A backward's shapes: dy and dx as x, gamma and its gradients [n] (n is x's `what`). */
static vkdl_status check_bwd_shapes(const char *op, int64_t n, const char *what, const vkdl_tensor *dy,
                                    const vkdl_tensor *x, const vkdl_tensor *gamma, const vkdl_tensor *dx,
                                    const vkdl_tensor *dgamma, const vkdl_tensor *dbeta)
{
    VKDL_TRY(vkdl_check_same_shape(op, x, dy));
    if (dx)
        VKDL_TRY(vkdl_check_same_shape(op, x, dx));
    VKDL_TRY(check_vec(op, "gamma", gamma, n, what, x));
    VKDL_TRY(check_vec(op, "dgamma", dgamma, n, what, x));
    return check_vec(op, "dbeta", dbeta, n, what, x);
}

static vkdl_status check_row_fwd(const char *op, const vkdl_tensor *x, const vkdl_tensor *gamma,
                                 const vkdl_tensor *beta, float eps, const vkdl_tensor *out,
                                 const vkdl_tensor *save_mean, const vkdl_tensor *save_rstd)
{
    VKDL_TRY(check_fwd(op, x, gamma, beta, eps, out, save_mean, save_rstd));
    VKDL_TRY(check_rows(op, x));
    int64_t n = last_dim(x), rows = x->numel / n;
    VKDL_TRY(vkdl_check_same_shape(op, x, out));
    VKDL_TRY(check_vec(op, "gamma", gamma, n, "last dim", x));
    VKDL_TRY(check_vec(op, "beta", beta, n, "last dim", x));
    VKDL_TRY(check_per_row(op, "save_mean", save_mean, rows, x));
    VKDL_TRY(check_per_row(op, "save_rstd", save_rstd, rows, x));
    return check_size(op, x);
}

static vkdl_status check_row_bwd(const char *op, bool rms, const vkdl_tensor *dy, const vkdl_tensor *x,
                                 const vkdl_tensor *gamma, const vkdl_tensor *save_mean,
                                 const vkdl_tensor *save_rstd, const vkdl_tensor *dx, const vkdl_tensor *dgamma,
                                 const vkdl_tensor *dbeta)
{
    VKDL_TRY(check_bwd(op, rms, dy, x, gamma, save_mean, save_rstd, dx, dgamma, dbeta));
    VKDL_TRY(check_rows(op, x));
    int64_t n = last_dim(x), rows = x->numel / n;
    VKDL_TRY(check_bwd_shapes(op, n, "last dim", dy, x, gamma, dx, dgamma, dbeta));
    if (!rms)
        VKDL_TRY(check_per_row(op, "save_mean", save_mean, rows, x));
    VKDL_TRY(check_per_row(op, "save_rstd", save_rstd, rows, x));
    return check_size(op, x);
}

static vkdl_status check_bn_fwd(const vkdl_tensor *x, const vkdl_tensor *gamma, const vkdl_tensor *beta,
                                const vkdl_tensor *running_mean, const vkdl_tensor *running_var, int training,
                                float momentum, float eps, const vkdl_tensor *out, const vkdl_tensor *save_mean,
                                const vkdl_tensor *save_rstd, bn_dims *d)
{
    const char *op = "batchnorm";
    VKDL_TRY(check_fwd(op, x, gamma, beta, eps, out, save_mean, save_rstd));
    VKDL_TRY(check_opt(op, "running_mean", running_mean, x));
    VKDL_TRY(check_opt(op, "running_var", running_var, x));
    if (!isfinite(momentum))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "batchnorm: momentum is %g", (double)momentum);
    VKDL_TRY(bn_shape(op, x, d));
    VKDL_TRY(vkdl_check_same_shape(op, x, out));
    VKDL_TRY(check_vec(op, "gamma", gamma, d->c, "channels", x));
    VKDL_TRY(check_vec(op, "beta", beta, d->c, "channels", x));
    VKDL_TRY(check_vec(op, "running_mean", running_mean, d->c, "channels", x));
    VKDL_TRY(check_vec(op, "running_var", running_var, d->c, "channels", x));
    VKDL_TRY(check_vec(op, "save_mean", save_mean, d->c, "channels", x));
    VKDL_TRY(check_vec(op, "save_rstd", save_rstd, d->c, "channels", x));
    VKDL_TRY(check_size(op, x));
    if (!training && (!running_mean || !running_var))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "batchnorm: eval mode needs running_mean and running_var");
    /* As PyTorch: one value per channel has no variance to normalise by (and no unbiased one). */
    if (training && d->c > 0 && d->count < 2) {
        char sx[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT,
                         "batchnorm: training needs more than one value per channel, x is %s",
                         vkdl_shape_str(x, sx, sizeof sx));
    }
    return VKDL_OK;
}

static vkdl_status check_bn_bwd(const vkdl_tensor *dy, const vkdl_tensor *x, const vkdl_tensor *gamma,
                                const vkdl_tensor *save_mean, const vkdl_tensor *save_rstd, const vkdl_tensor *dx,
                                const vkdl_tensor *dgamma, const vkdl_tensor *dbeta, bn_dims *d)
{
    const char *op = "batchnorm_backward";
    VKDL_TRY(check_bwd(op, false, dy, x, gamma, save_mean, save_rstd, dx, dgamma, dbeta));
    VKDL_TRY(bn_shape(op, x, d));
    VKDL_TRY(check_bwd_shapes(op, d->c, "channels", dy, x, gamma, dx, dgamma, dbeta));
    VKDL_TRY(check_vec(op, "save_mean", save_mean, d->c, "channels", x));
    VKDL_TRY(check_vec(op, "save_rstd", save_rstd, d->c, "channels", x));
    return check_size(op, x);
}

/* ---------------------------------------------------------------- CPU twin */

static void cpu_row_fwd(bool rms, const vkdl_tensor *x, const vkdl_tensor *gamma, const vkdl_tensor *beta, float eps,
                        vkdl_tensor *out, vkdl_tensor *save_mean, vkdl_tensor *save_rstd)
{
    int64_t n = last_dim(x), rows = x->numel / n;
    const float *px = vkdl_tensor_host(x);
    const float *pg = gamma ? vkdl_tensor_host(gamma) : NULL, *pb = beta ? vkdl_tensor_host(beta) : NULL;
    float *py = vkdl_tensor_host(out);
    float *pm = save_mean ? vkdl_tensor_host(save_mean) : NULL, *pr = save_rstd ? vkdl_tensor_host(save_rstd) : NULL;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = px + r * n;
        double mean = 0, ss = 0;
        if (!rms) {
            for (int64_t k = 0; k < n; k++)
                mean += xr[k];
            mean /= (double)n;
        }
        for (int64_t k = 0; k < n; k++)
            ss += (xr[k] - mean) * (xr[k] - mean);
        double rstd = 1 / sqrt(ss / (double)n + eps);
        for (int64_t k = 0; k < n; k++)
            py[r * n + k] = (float)((xr[k] - mean) * rstd * (pg ? pg[k] : 1.0) + (pb ? pb[k] : 0.0));
        if (pm)
            pm[r] = (float)mean;
        if (pr)
            pr[r] = (float)rstd;
    }
}

/* dx (see norm.comp ROW_BWD), dgamma = sum over rows of dy xhat, dbeta = sum of dy. */
static void cpu_row_bwd(bool rms, const vkdl_tensor *dy, const vkdl_tensor *x, const vkdl_tensor *gamma,
                        const vkdl_tensor *save_mean, const vkdl_tensor *save_rstd, vkdl_tensor *dx,
                        vkdl_tensor *dgamma, vkdl_tensor *dbeta)
{
    int64_t n = last_dim(x), rows = x->numel / n;
    const float *px = vkdl_tensor_host(x), *pdy = vkdl_tensor_host(dy);
    const float *pg = gamma ? vkdl_tensor_host(gamma) : NULL;
    const float *pm = rms ? NULL : vkdl_tensor_host(save_mean), *pr = vkdl_tensor_host(save_rstd);
    float *pdx = dx ? vkdl_tensor_host(dx) : NULL;
    float *pdg = dgamma ? vkdl_tensor_host(dgamma) : NULL, *pdb = dbeta ? vkdl_tensor_host(dbeta) : NULL;
    for (int64_t k = 0; pdg && k < n; k++) {
        double s = 0;
        for (int64_t r = 0; r < rows; r++)
            s += (double)pdy[r * n + k] * ((px[r * n + k] - (pm ? (double)pm[r] : 0.0)) * pr[r]);
        pdg[k] = (float)s;
    }
    for (int64_t k = 0; pdb && k < n; k++) {
        double s = 0;
        for (int64_t r = 0; r < rows; r++)
            s += pdy[r * n + k];
        pdb[k] = (float)s;
    }
    for (int64_t r = 0; pdx && r < rows; r++) {
        double mu = pm ? pm[r] : 0.0, rs = pr[r], sg = 0, sgx = 0;
        for (int64_t k = 0; k < n; k++) {
            double g = (double)pdy[r * n + k] * (pg ? pg[k] : 1.0);
            sg += g;
            sgx += g * (px[r * n + k] - mu) * rs;
        }
        double mg = rms ? 0 : sg / (double)n, mgx = sgx / (double)n;
        for (int64_t k = 0; k < n; k++) {
            double g = (double)pdy[r * n + k] * (pg ? pg[k] : 1.0);
            pdx[r * n + k] = (float)(rs * (g - mg - (px[r * n + k] - mu) * rs * mgx));
        }
    }
}

static void cpu_bn_fwd(const bn_dims *d, const vkdl_tensor *x, const vkdl_tensor *gamma, const vkdl_tensor *beta,
                       vkdl_tensor *running_mean, vkdl_tensor *running_var, bool training, float momentum, float eps,
                       vkdl_tensor *out, vkdl_tensor *save_mean, vkdl_tensor *save_rstd)
{
    const float *px = vkdl_tensor_host(x);
    const float *pg = gamma ? vkdl_tensor_host(gamma) : NULL, *pb = beta ? vkdl_tensor_host(beta) : NULL;
    float *prm = running_mean ? vkdl_tensor_host(running_mean) : NULL;
    float *prv = running_var ? vkdl_tensor_host(running_var) : NULL;
    float *py = vkdl_tensor_host(out);
    float *psm = save_mean ? vkdl_tensor_host(save_mean) : NULL, *psr = save_rstd ? vkdl_tensor_host(save_rstd) : NULL;
    for (int64_t c = 0; c < d->c; c++) {
        double mean, rstd;
        if (training) {
            double s = 0, m2 = 0;
            for (int64_t n = 0; n < d->n; n++)
                for (int64_t k = 0; k < d->hw; k++)
                    s += px[(n * d->c + c) * d->hw + k];
            mean = s / (double)d->count;
            for (int64_t n = 0; n < d->n; n++)
                for (int64_t k = 0; k < d->hw; k++) {
                    double v = px[(n * d->c + c) * d->hw + k] - mean;
                    m2 += v * v;
                }
            rstd = 1 / sqrt(m2 / (double)d->count + eps);
            if (psm)
                psm[c] = (float)mean;
            if (psr)
                psr[c] = (float)rstd;
            if (prm)
                prm[c] = (float)((1.0 - momentum) * prm[c] + momentum * mean);
            if (prv)
                prv[c] = (float)((1.0 - momentum) * prv[c] + momentum * m2 / (double)(d->count - 1));
        } else {
            mean = prm[c];
            rstd = 1 / sqrt((double)prv[c] + eps);
        }
        double g = pg ? pg[c] : 1.0, b = pb ? pb[c] : 0.0;
        for (int64_t n = 0; n < d->n; n++)
            for (int64_t k = 0; k < d->hw; k++) {
                int64_t i = (n * d->c + c) * d->hw + k;
                py[i] = (float)((px[i] - mean) * rstd * g + b);
            }
    }
}

static void cpu_bn_bwd(const bn_dims *d, const vkdl_tensor *dy, const vkdl_tensor *x, const vkdl_tensor *gamma,
                       const vkdl_tensor *save_mean, const vkdl_tensor *save_rstd, vkdl_tensor *dx,
                       vkdl_tensor *dgamma, vkdl_tensor *dbeta)
{
    const float *px = vkdl_tensor_host(x), *pdy = vkdl_tensor_host(dy);
    const float *pg = gamma ? vkdl_tensor_host(gamma) : NULL;
    const float *pm = vkdl_tensor_host(save_mean), *pr = vkdl_tensor_host(save_rstd);
    float *pdx = dx ? vkdl_tensor_host(dx) : NULL;
    float *pdg = dgamma ? vkdl_tensor_host(dgamma) : NULL, *pdb = dbeta ? vkdl_tensor_host(dbeta) : NULL;
    for (int64_t c = 0; c < d->c; c++) {
        double mu = pm[c], rs = pr[c], sdy = 0, sdyx = 0;
        for (int64_t n = 0; n < d->n; n++)
            for (int64_t k = 0; k < d->hw; k++) {
                int64_t i = (n * d->c + c) * d->hw + k;
                sdy += pdy[i];
                sdyx += pdy[i] * ((px[i] - mu) * rs);
            }
        if (pdg)
            pdg[c] = (float)sdyx;
        if (pdb)
            pdb[c] = (float)sdy;
        if (!pdx)
            continue;
        double scale = rs * (pg ? pg[c] : 1.0), m = sdy / (double)d->count, mx = sdyx / (double)d->count;
        for (int64_t n = 0; n < d->n; n++)
            for (int64_t k = 0; k < d->hw; k++) {
                int64_t i = (n * d->c + c) * d->hw + k;
                pdx[i] = (float)(scale * (pdy[i] - m - (px[i] - mu) * rs * mx));
            }
    }
}

/* ---------------------------------------------------------------- GPU launcher */

VKDL_PUSH_STRUCT(norm_row_fwd_push, NORM_ROW_FWD_PUSH, 6);
VKDL_PUSH_STRUCT(norm_row_bwd_push, NORM_ROW_BWD_PUSH, 6);
VKDL_PUSH_STRUCT(norm_bn_fwd_push, NORM_BN_FWD_PUSH, 8);
VKDL_PUSH_STRUCT(norm_bn_bwd_push, NORM_BN_BWD_PUSH, 8);

#define NORM_KERNEL(var, nm, nb, push_struct, ...)  \
    static const vkdl_kernel var = {                \
        VKDL_SPIRV(nm),                             \
        .n_bindings = nb,                           \
        .access = {__VA_ARGS__},                    \
        .push_size = sizeof(push_struct),           \
        .n_spec = NORM_SPEC_COUNT,                  \
    }

#define R VKDL_READ
#define W VKDL_WRITE
NORM_KERNEL(K_ROW_FWD, norm_row_fwd, 6, struct norm_row_fwd_push, R, R, R, W, W, W);
NORM_KERNEL(K_ROW_FWD_SG, norm_row_fwd_sg, 6, struct norm_row_fwd_push, R, R, R, W, W, W);
NORM_KERNEL(K_ROW_BWD, norm_row_bwd, 6, struct norm_row_bwd_push, R, R, R, R, R, W);
NORM_KERNEL(K_ROW_BWD_SG, norm_row_bwd_sg, 6, struct norm_row_bwd_push, R, R, R, R, R, W);
NORM_KERNEL(K_COL_BWD, norm_col_bwd, 6, struct norm_row_bwd_push, R, R, R, R, W, W);
NORM_KERNEL(K_COL_BWD_SG, norm_col_bwd_sg, 6, struct norm_row_bwd_push, R, R, R, R, W, W);
NORM_KERNEL(K_BN_FWD, norm_bn_fwd, 8, struct norm_bn_fwd_push, R, R, R, VKDL_RW, VKDL_RW, W, W, W);
NORM_KERNEL(K_BN_FWD_SG, norm_bn_fwd_sg, 8, struct norm_bn_fwd_push, R, R, R, VKDL_RW, VKDL_RW, W, W, W);
NORM_KERNEL(K_BN_BWD, norm_bn_bwd, 8, struct norm_bn_bwd_push, R, R, R, R, R, W, W, W);
NORM_KERNEL(K_BN_BWD_SG, norm_bn_bwd_sg, 8, struct norm_bn_bwd_push, R, R, R, R, R, W, W, W);
#undef R
#undef W

/* Kernels bind a tensor in every slot; a missing optional one gets a stand-in (never accessed,
 * as FLAGS says it is absent) that is already bound with the same kind of access. */
static const vkdl_tensor *or_else(const vkdl_tensor *t, const vkdl_tensor *stand_in)
{
    return t ? t : stand_in;
}

/* Run a workgroup-per-row/channel kernel (plain or subgroup build): n_groups groups, each making
 * `passes` passes over n elements. */
static vkdl_status launch_reduce(const vkdl_kernel *plain, const vkdl_kernel *sg_kernel, uint32_t flags, int64_t n,
                                 int passes, uint64_t n_groups, const vkdl_tensor *const *tensors, const void *push)
{
    vkdl_context *ctx = tensors[0]->ctx;
    bool sg = vkdl_has_subgroup_arith(&ctx->dev.caps), one_sg;
    uint32_t wg = vkdl_row_workgroup(ctx, plain->name, (uint64_t)n, (uint32_t)passes, sg, &one_sg);
    if (!wg)
        return VKDL_ERROR_TOO_LARGE;
    uint32_t spec[NORM_SPEC_COUNT] = {
        [NORM_SPEC_WG] = wg, [NORM_SPEC_FLAGS] = flags, [NORM_SPEC_ONE_SUBGROUP] = one_sg};
    vkdl_dispatch_info d = {.kernel = sg ? sg_kernel : plain, .spec = spec, .push = push};
    memcpy(d.tensors, tensors, d.kernel->n_bindings * sizeof *tensors);
    vkdl_grid_1d(ctx, n_groups, d.groups);
    return vkdl_dispatch(ctx, &d);
}

static vkdl_status gpu_row_fwd(bool rms, const vkdl_tensor *x, const vkdl_tensor *gamma, const vkdl_tensor *beta,
                               float eps, vkdl_tensor *out, vkdl_tensor *save_mean, vkdl_tensor *save_rstd)
{
    int64_t n = last_dim(x), rows = x->numel / n;
    uint32_t flags = (rms ? NORM_FLAG_RMS : 0) | (gamma ? NORM_FLAG_GAMMA : 0) | (beta ? NORM_FLAG_BETA : 0) |
                     (save_mean ? NORM_FLAG_SAVE_MEAN : 0) | (save_rstd ? NORM_FLAG_SAVE_RSTD : 0);
    const vkdl_tensor *t[6] = {x, or_else(gamma, x), or_else(beta, x), out, or_else(save_mean, out),
                               or_else(save_rstd, out)};
    struct norm_row_fwd_push pc = {(uint32_t)n, (uint32_t)rows, eps};
    return launch_reduce(&K_ROW_FWD, &K_ROW_FWD_SG, flags, n, rms ? 2 : 3, (uint64_t)rows, t, &pc);
}

static vkdl_status gpu_row_bwd(bool rms, const vkdl_tensor *dy, const vkdl_tensor *x, const vkdl_tensor *gamma,
                               const vkdl_tensor *save_mean, const vkdl_tensor *save_rstd, vkdl_tensor *dx,
                               vkdl_tensor *dgamma, vkdl_tensor *dbeta)
{
    int64_t n = last_dim(x), rows = x->numel / n;
    if (rows == 0) {
        /* sums over no rows; the kernels cannot bind the empty inputs */
        if (dgamma)
            VKDL_TRY(vkdl_tensor_fill(dgamma, 0.0));
        if (dbeta)
            VKDL_TRY(vkdl_tensor_fill(dbeta, 0.0));
        return VKDL_OK;
    }
    const vkdl_tensor *mean = or_else(save_mean, save_rstd);
    struct norm_row_bwd_push pc = {(uint32_t)n, (uint32_t)rows};
    if (dx) {
        uint32_t flags = (rms ? NORM_FLAG_RMS : 0) | (gamma ? NORM_FLAG_GAMMA : 0);
        const vkdl_tensor *t[6] = {x, or_else(gamma, x), mean, save_rstd, dy, dx};
        VKDL_TRY(launch_reduce(&K_ROW_BWD, &K_ROW_BWD_SG, flags, n, 2, (uint64_t)rows, t, &pc));
    }
    if (dgamma || dbeta) {
        uint32_t flags = (rms ? NORM_FLAG_RMS : 0) | (dgamma ? NORM_FLAG_DGAMMA : 0) | (dbeta ? NORM_FLAG_DBETA : 0);
        const vkdl_tensor *t[6] = {x, mean, save_rstd, dy, or_else(dgamma, dbeta), or_else(dbeta, dgamma)};
        VKDL_TRY(launch_reduce(&K_COL_BWD, &K_COL_BWD_SG, flags, rows, 1, (uint64_t)n, t, &pc));
    }
    return VKDL_OK;
}

static vkdl_status gpu_bn_fwd(const bn_dims *d, const vkdl_tensor *x, const vkdl_tensor *gamma,
                              const vkdl_tensor *beta, vkdl_tensor *running_mean, vkdl_tensor *running_var,
                              bool training, float momentum, float eps, vkdl_tensor *out, vkdl_tensor *save_mean,
                              vkdl_tensor *save_rstd)
{
    uint32_t flags = (gamma ? NORM_FLAG_GAMMA : 0) | (beta ? NORM_FLAG_BETA : 0);
    if (training)
        flags |= NORM_FLAG_TRAINING | (running_mean ? NORM_FLAG_RUN_MEAN : 0) |
                 (running_var ? NORM_FLAG_RUN_VAR : 0) | (save_mean ? NORM_FLAG_SAVE_MEAN : 0) |
                 (save_rstd ? NORM_FLAG_SAVE_RSTD : 0);
    const vkdl_tensor *t[8] = {x,
                               or_else(gamma, x),
                               or_else(beta, x),
                               or_else(running_mean, out),
                               or_else(running_var, out),
                               out,
                               training ? or_else(save_mean, out) : out,
                               training ? or_else(save_rstd, out) : out};
    struct norm_bn_fwd_push pc = {(uint32_t)d->c, (uint32_t)d->hw, (uint32_t)d->count, eps, momentum};
    return launch_reduce(&K_BN_FWD, &K_BN_FWD_SG, flags, d->count, training ? 3 : 1, (uint64_t)d->c, t, &pc);
}

static vkdl_status gpu_bn_bwd(const bn_dims *d, const vkdl_tensor *dy, const vkdl_tensor *x, const vkdl_tensor *gamma,
                              const vkdl_tensor *save_mean, const vkdl_tensor *save_rstd, vkdl_tensor *dx,
                              vkdl_tensor *dgamma, vkdl_tensor *dbeta)
{
    if (d->c == 0 || (!dx && !dgamma && !dbeta))
        return VKDL_OK;
    if (d->count == 0) {
        /* sums over no elements; the kernel cannot bind the empty inputs */
        if (dgamma)
            VKDL_TRY(vkdl_tensor_fill(dgamma, 0.0));
        if (dbeta)
            VKDL_TRY(vkdl_tensor_fill(dbeta, 0.0));
        return VKDL_OK;
    }
    uint32_t flags = (gamma ? NORM_FLAG_GAMMA : 0) | (dx ? NORM_FLAG_DX : 0) | (dgamma ? NORM_FLAG_DGAMMA : 0) |
                     (dbeta ? NORM_FLAG_DBETA : 0);
    const vkdl_tensor *any_out = dx ? dx : dgamma ? dgamma : dbeta;
    const vkdl_tensor *t[8] = {x,  or_else(gamma, x), save_mean, save_rstd, dy, any_out, or_else(dgamma, any_out),
                               or_else(dbeta, any_out)};
    struct norm_bn_bwd_push pc = {(uint32_t)d->c, (uint32_t)d->hw, (uint32_t)d->count};
    return launch_reduce(&K_BN_BWD, &K_BN_BWD_SG, flags, d->count, dx ? 2 : 1, (uint64_t)d->c, t, &pc);
}

/* ---------------------------------------------------------------- entry points */

static vkdl_status row_fwd(const char *op, bool rms, const vkdl_tensor *x, const vkdl_tensor *gamma,
                           const vkdl_tensor *beta, float eps, vkdl_tensor *out, vkdl_tensor *save_mean,
                           vkdl_tensor *save_rstd)
{
    VKDL_TRY(check_row_fwd(op, x, gamma, beta, eps, out, save_mean, save_rstd));
    if (x->numel == 0)
        return VKDL_OK;
    if (x->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_row_fwd(rms, x, gamma, beta, eps, out, save_mean, save_rstd);
        return VKDL_OK;
    }
    return gpu_row_fwd(rms, x, gamma, beta, eps, out, save_mean, save_rstd);
}

static vkdl_status row_bwd(const char *op, bool rms, const vkdl_tensor *dy, const vkdl_tensor *x,
                           const vkdl_tensor *gamma, const vkdl_tensor *save_mean, const vkdl_tensor *save_rstd,
                           vkdl_tensor *dx, vkdl_tensor *dgamma, vkdl_tensor *dbeta)
{
    VKDL_TRY(check_row_bwd(op, rms, dy, x, gamma, save_mean, save_rstd, dx, dgamma, dbeta));
    if (x->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_row_bwd(rms, dy, x, gamma, save_mean, save_rstd, dx, dgamma, dbeta);
        return VKDL_OK;
    }
    return gpu_row_bwd(rms, dy, x, gamma, save_mean, save_rstd, dx, dgamma, dbeta);
}

vkdl_status vkdl_layernorm(const vkdl_tensor *x, const vkdl_tensor *gamma, const vkdl_tensor *beta, float eps,
                           vkdl_tensor *out, vkdl_tensor *save_mean, vkdl_tensor *save_rstd)
{
    return row_fwd("layernorm", false, x, gamma, beta, eps, out, save_mean, save_rstd);
}

vkdl_status vkdl_layernorm_backward(const vkdl_tensor *dy, const vkdl_tensor *x, const vkdl_tensor *gamma,
                                    const vkdl_tensor *save_mean, const vkdl_tensor *save_rstd, vkdl_tensor *dx,
                                    vkdl_tensor *dgamma, vkdl_tensor *dbeta)
{
    return row_bwd("layernorm_backward", false, dy, x, gamma, save_mean, save_rstd, dx, dgamma, dbeta);
}

vkdl_status vkdl_rmsnorm(const vkdl_tensor *x, const vkdl_tensor *gamma, float eps, vkdl_tensor *out,
                         vkdl_tensor *save_rstd)
{
    return row_fwd("rmsnorm", true, x, gamma, NULL, eps, out, NULL, save_rstd);
}

vkdl_status vkdl_rmsnorm_backward(const vkdl_tensor *dy, const vkdl_tensor *x, const vkdl_tensor *gamma,
                                  const vkdl_tensor *save_rstd, vkdl_tensor *dx, vkdl_tensor *dgamma)
{
    return row_bwd("rmsnorm_backward", true, dy, x, gamma, NULL, save_rstd, dx, dgamma, NULL);
}

vkdl_status vkdl_batchnorm(const vkdl_tensor *x, const vkdl_tensor *gamma, const vkdl_tensor *beta,
                           vkdl_tensor *running_mean, vkdl_tensor *running_var, int training, float momentum,
                           float eps, vkdl_tensor *out, vkdl_tensor *save_mean, vkdl_tensor *save_rstd)
{
    bn_dims d = {0};
    VKDL_TRY(check_bn_fwd(x, gamma, beta, running_mean, running_var, training, momentum, eps, out, save_mean,
                          save_rstd, &d));
    if (x->numel == 0)
        return VKDL_OK;
    if (x->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_bn_fwd(&d, x, gamma, beta, running_mean, running_var, training != 0, momentum, eps, out, save_mean,
                   save_rstd);
        return VKDL_OK;
    }
    return gpu_bn_fwd(&d, x, gamma, beta, running_mean, running_var, training != 0, momentum, eps, out, save_mean,
                      save_rstd);
}

vkdl_status vkdl_batchnorm_backward(const vkdl_tensor *dy, const vkdl_tensor *x, const vkdl_tensor *gamma,
                                    const vkdl_tensor *save_mean, const vkdl_tensor *save_rstd, vkdl_tensor *dx,
                                    vkdl_tensor *dgamma, vkdl_tensor *dbeta)
{
    bn_dims d = {0};
    VKDL_TRY(check_bn_bwd(dy, x, gamma, save_mean, save_rstd, dx, dgamma, dbeta, &d));
    if (x->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_bn_bwd(&d, dy, x, gamma, save_mean, save_rstd, dx, dgamma, dbeta);
        return VKDL_OK;
    }
    return gpu_bn_bwd(&d, dy, x, gamma, save_mean, save_rstd, dx, dgamma, dbeta);
}
