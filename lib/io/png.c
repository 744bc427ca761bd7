/* Pictures for the examples: image grids (generated or reconstructed samples) and line charts
 * (loss curves), written with libpng. Files are written to a temporary name and renamed, so a
 * crash never leaves a half-written picture under the final name. Tests: tests/test_data.c. */
#include "io/io.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

/* libpng's default limit on either side (PNG_USER_WIDTH_MAX / PNG_USER_HEIGHT_MAX). */
#define PNG_SIDE_MAX 1000000

typedef struct png_err {
    char msg[200];
} png_err;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_err *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(png, 1);
}

/* Warnings are about ancillary details of a file we write ourselves: nothing to report. */
static void on_png_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

/* Encode w x h pixels of `channels` (1: gray, 3: RGB) 8-bit samples, rows top to bottom. */
static vkdl_status encode(const char *op, const char *tmp, FILE *f, uint32_t w, uint32_t h, int channels,
                          const uint8_t *pixels)
{
    png_err err = {{0}};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", op);
    }
    /* Nothing set between here and a longjmp is read after it, so no local needs volatile. */
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return vkdl_fail(VKDL_ERROR_IO, "%s: writing '%s': %s", op, tmp, err.msg);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, 8, channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    const size_t stride = (size_t)w * (size_t)channels;
    for (uint32_t r = 0; r < h; r++)
        png_write_row(png, pixels + r * stride);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return VKDL_OK;
}

typedef struct picture {
    const char *op;
    uint32_t w, h;
    int channels;
    const uint8_t *pixels;
} picture;

static vkdl_status write_image(FILE *f, const char *tmp, void *user)
{
    const picture *im = user;
    return encode(im->op, tmp, f, im->w, im->h, im->channels, im->pixels);
}

static vkdl_status write_png(const char *op, const char *path, uint32_t w, uint32_t h, int channels,
                             const uint8_t *pixels)
{
    return vkdl_atomic_write(op, path, write_image, &(picture){op, w, h, channels, pixels});
}

/* ------------------------------------------------------------------ grid */

/* Between tiles: mid grey stays visible against both dark and light backgrounds. */
#define GAP_GRAY 128

vkdl_status vkdl_png_write_grid(const char *path, vkdl_tensor *x, int cols, float lo, float hi)
{
    const char *op = "png_write_grid";
    if (!path)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: path is NULL", op);
    VKDL_TRY(vkdl_check_tensor(op, "x", x));
    char sx[VKDL_SHAPE_BUF];
    if (x->ndim != 4 || (x->shape[1] != 1 && x->shape[1] != 3) || x->numel == 0)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH,
                         "%s: x is %s, expected N x C x H x W images with C = 1 or 3 and none empty", op,
                         vkdl_shape_str(x, sx, sizeof sx));
    if (cols < 1)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: cols is %d, must be at least 1", op, cols);
    if (!isfinite(lo) || !isfinite(hi) || !(lo < hi))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: the range [%g, %g] is empty or not finite", op,
                         (double)lo, (double)hi);
    const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int64_t nc = cols < N ? cols : N, nr = (N + nc - 1) / nc;
    /* nc * W and nr * H are at most the element count (< 2^62), so these cannot overflow. */
    const int64_t width = nc * (W + 1) - 1, height = nr * (H + 1) - 1;
    if (width > PNG_SIDE_MAX || height > PNG_SIDE_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE,
                         "%s: a grid of %lld x %lld tiles of %lld x %lld exceeds PNG's %d pixels a side", op,
                         (long long)nr, (long long)nc, (long long)H, (long long)W, PNG_SIDE_MAX);
    const size_t stride = (size_t)width * (size_t)C;
    if ((uint64_t)height > SIZE_MAX / stride)
        return vkdl_fail(VKDL_ERROR_SIZE_OVERFLOW, "%s: a %lld x %lld picture does not fit in memory", op,
                         (long long)width, (long long)height);
    float *v = NULL;
    uint8_t *pix = NULL;
    if ((uint64_t)x->numel <= SIZE_MAX / sizeof(float))
        v = malloc((size_t)x->numel * sizeof(float));
    pix = v ? malloc(stride * (size_t)height) : NULL;
    if (!pix) {
        free(v);
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory for a %lld x %lld picture", op,
                         (long long)width, (long long)height);
    }
    vkdl_status s = vkdl_tensor_download(x, v, VKDL_F32, (size_t)x->numel * sizeof(float));
    if (s == VKDL_OK) {
        memset(pix, GAP_GRAY, stride * (size_t)height);
        const float scale = 1.0f / (hi - lo);
        for (int64_t i = 0; i < N; i++) {
            const int64_t x0 = (i % nc) * (W + 1), y0 = (i / nc) * (H + 1);
            for (int64_t c = 0; c < C; c++)
                for (int64_t r = 0; r < H; r++)
                    for (int64_t q = 0; q < W; q++) {
                        float t = (v[((i * C + c) * H + r) * W + q] - lo) * scale;
                        /* NaN fails both tests and lands on 0, like values below lo. */
                        t = t > 1 ? 1 : t > 0 ? t : 0;
                        pix[(size_t)(y0 + r) * stride + (size_t)(x0 + q) * (size_t)C + (size_t)c] =
                            (uint8_t)lrintf(t * 255.0f);
                    }
        }
        s = write_png(op, path, (uint32_t)width, (uint32_t)height, (int)C, pix);
    }
    free(v);
    free(pix);
    return s;
}

/* ------------------------------------------------------------------ curve */

#define CURVE_SIDE_MIN 32
#define CURVE_SIDE_MAX 8192
#define CURVE_SERIES_MAX 4

/* matplotlib's first four default colours: distinct for most forms of colour blindness. */
static const uint8_t SERIES_RGB[CURVE_SERIES_MAX][3] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}};

typedef struct canvas {
    uint8_t *pix;
    int w, h;
} canvas;

static void put(const canvas *cv, int x, int y, const uint8_t rgb[3])
{
    if (x < 0 || y < 0 || x >= cv->w || y >= cv->h)
        return;
    memcpy(cv->pix + ((size_t)y * (size_t)cv->w + (size_t)x) * 3, rgb, 3);
}

/* A square pen of side 2 * pen + 1, clipped to the box [x0, x1] x [y0, y1]. */
static void dot(const canvas *cv, int x, int y, int pen, const int box[4], const uint8_t rgb[3])
{
    for (int dy = -pen; dy <= pen; dy++)
        for (int dx = -pen; dx <= pen; dx++)
            if (x + dx >= box[0] && x + dx <= box[2] && y + dy >= box[1] && y + dy <= box[3])
                put(cv, x + dx, y + dy, rgb);
}

/* Bresenham's line. */
static void line(const canvas *cv, int x0, int y0, int x1, int y1, int pen, const int box[4], const uint8_t rgb[3])
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
    for (;;) {
        dot(cv, x0, y0, pen, box, rgb);
        if (x0 == x1 && y0 == y1)
            return;
        int e2 = 2 * err;
        if (e2 >= dy)
            err += dy, x0 += sx;
        if (e2 <= dx)
            err += dx, y0 += sy;
    }
}

vkdl_status vkdl_png_write_curve(const char *path, int width, int height, int count, const float *const *series,
                                 const int64_t *n)
{
    const char *op = "png_write_curve";
    if (!path || !series || !n)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", op, !path ? "path" : !series ? "series" : "n");
    if (width < CURVE_SIDE_MIN || width > CURVE_SIDE_MAX || height < CURVE_SIDE_MIN || height > CURVE_SIDE_MAX)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: %d x %d pixels, each side must be in %d..%d", op, width,
                         height, CURVE_SIDE_MIN, CURVE_SIDE_MAX);
    if (count < 1 || count > CURVE_SERIES_MAX)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: count is %d, must be in 1..%d", op, count,
                         CURVE_SERIES_MAX);
    int present = 0;
    int64_t longest = 0;
    double ymin = INFINITY, ymax = -INFINITY;
    for (int k = 0; k < count; k++) {
        if (!series[k])
            continue;
        if (n[k] < 0)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: n[%d] is %lld", op, k, (long long)n[k]);
        present++;
        longest = n[k] > longest ? n[k] : longest;
        for (int64_t i = 0; i < n[k]; i++)
            if (isfinite(series[k][i])) {
                ymin = fmin(ymin, series[k][i]);
                ymax = fmax(ymax, series[k][i]);
            }
    }
    if (!present)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: all %d series are NULL", op, count);
    if (!(ymin <= ymax))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: the series hold no finite value", op);
    if (ymin == ymax) {
        double d = ymin != 0 ? fabs(ymin) * 0.1 : 1;
        ymin -= d, ymax += d;
    } else {
        /* A margin keeps the extremes off the frame. */
        double d = (ymax - ymin) * 0.05;
        ymin -= d, ymax += d;
    }

    canvas cv = {malloc((size_t)width * (size_t)height * 3), width, height};
    if (!cv.pix)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", op);
    memset(cv.pix, 255, (size_t)width * (size_t)height * 3);
    const int small = width < height ? width : height;
    const int margin = small / 16 > 2 ? small / 16 : 2, pen = small >= 400 ? 1 : 0;
    /* The frame, and inside it the area the data may cover. */
    const int fx0 = margin, fy0 = margin, fx1 = width - 1 - margin, fy1 = height - 1 - margin;
    const int box[4] = {fx0 + 1, fy0 + 1, fx1 - 1, fy1 - 1};
    static const uint8_t GRID[3] = {225, 225, 225}, FRAME[3] = {0, 0, 0};
    enum { DIVISIONS = 5 };
    for (int d = 1; d < DIVISIONS; d++) {
        int gx = fx0 + (fx1 - fx0) * d / DIVISIONS, gy = fy0 + (fy1 - fy0) * d / DIVISIONS;
        line(&cv, gx, fy0, gx, fy1, 0, box, GRID);
        line(&cv, fx0, gy, fx1, gy, 0, box, GRID);
    }
    const int all[4] = {0, 0, width - 1, height - 1};
    line(&cv, fx0, fy0, fx1, fy0, 0, all, FRAME);
    line(&cv, fx1, fy0, fx1, fy1, 0, all, FRAME);
    line(&cv, fx1, fy1, fx0, fy1, 0, all, FRAME);
    line(&cv, fx0, fy1, fx0, fy0, 0, all, FRAME);

    const double xspan = longest > 1 ? (double)(longest - 1) : 1;
    const double px0 = box[0] + pen, px1 = box[2] - pen, py0 = box[1] + pen, py1 = box[3] - pen;
    for (int k = 0; k < count; k++) {
        if (!series[k])
            continue;
        const uint8_t *rgb = SERIES_RGB[k];
        bool have = false;
        int lx = 0, ly = 0;
        for (int64_t i = 0; i < n[k]; i++) {
            double v = series[k][i];
            if (!isfinite(v)) {
                have = false;
                continue;
            }
            int x = (int)lround(longest > 1 ? px0 + (px1 - px0) * ((double)i / xspan) : (px0 + px1) / 2);
            int y = (int)lround(py1 - (py1 - py0) * ((v - ymin) / (ymax - ymin)));
            bool alone = !have && (i + 1 >= n[k] || !isfinite(series[k][i + 1]));
            if (have)
                line(&cv, lx, ly, x, y, pen, box, rgb);
            else if (alone)
                /* A point with no finite neighbour would be invisible as a line: draw it larger. */
                dot(&cv, x, y, pen + 1, box, rgb);
            have = true;
            lx = x, ly = y;
        }
    }
    vkdl_status s = write_png(op, path, (uint32_t)width, (uint32_t)height, 3, cv.pix);
    free(cv.pix);
    return s;
}
