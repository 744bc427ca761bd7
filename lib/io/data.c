/* Data sets held on the host and uploaded one batch at a time: MNIST-format IDX files, numeric CSV
 * tables (sklearn's bundled ones) and byte-level text. Files are untrusted input: every count a
 * header claims is checked against the bytes actually present before it sizes anything, and
 * buffers grow with the data read rather than with what a header promises. zlib's gz* reader
 * passes plain files through unchanged, so one path reads both plain and gzipped files.
 * Tests: tests/test_data.c. */
#include "io/io.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum ds_kind { DS_FEATURES, DS_TEXT };

struct vkdl_dataset {
    enum ds_kind kind;
    int64_t n;                      /* samples in the current order */
    int classes;
    int ndim;
    int64_t shape[VKDL_MAX_DIMS];   /* one sample's x */
    int64_t feat;                   /* elements of one sample's x */
    /* Sample i of the current order is row order[i] (features) or the window starting at text
     * position order[i] (text). Feature sets hold exactly n rows, so order is a permutation. */
    int64_t *order;
    float *x;                       /* features: [n, feat] */
    int32_t *y;                     /* features: [n] */
    uint8_t *text;                  /* text: len ids */
    int64_t len;
    int vocab_n;
    uint8_t vocab[256];             /* id -> byte */
    int16_t id_of[256];             /* byte -> id, -1 if absent */
};

static vkdl_status oom(const char *op)
{
    return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", op);
}

/* a * b, or false if the product exceeds limit. */
static bool mul_ok(uint64_t a, uint64_t b, uint64_t limit, uint64_t *out)
{
    if (b != 0 && a > limit / b)
        return false;
    *out = a * b;
    return true;
}

/* A malloc'd array of n elements of es bytes, failing cleanly when n * es does not fit. */
static vkdl_status alloc_array(const char *op, uint64_t n, size_t es, void **out)
{
    uint64_t bytes;
    *out = NULL;
    if (!mul_ok(n, es, SIZE_MAX, &bytes))
        return vkdl_fail(VKDL_ERROR_SIZE_OVERFLOW, "%s: %llu elements of %zu bytes do not fit in memory", op,
                         (unsigned long long)n, es);
    *out = malloc(bytes ? (size_t)bytes : 1);
    return *out ? VKDL_OK : oom(op);
}

static vkdl_status new_dataset(const char *op, enum ds_kind kind, vkdl_dataset **out)
{
    vkdl_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return oom(op);
    ds->kind = kind;
    memset(ds->id_of, 0xff, sizeof ds->id_of);
    *out = ds;
    return VKDL_OK;
}

void vkdl_dataset_destroy(vkdl_dataset *ds)
{
    if (!ds)
        return;
    free(ds->order);
    free(ds->x);
    free(ds->y);
    free(ds->text);
    free(ds);
}

static vkdl_status identity_order(const char *op, vkdl_dataset *ds)
{
    VKDL_TRY(alloc_array(op, (uint64_t)ds->n, sizeof *ds->order, (void **)&ds->order));
    for (int64_t i = 0; i < ds->n; i++)
        ds->order[i] = i;
    return VKDL_OK;
}

/* ------------------------------------------------------------------ reading files */

static vkdl_status open_file(const char *op, const char *path, gzFile *out)
{
    errno = 0;
    *out = gzopen(path, "rb");
    if (!*out)
        return vkdl_fail(VKDL_ERROR_IO, "%s: cannot open '%s': %s", op, path,
                         errno ? strerror(errno) : "out of memory");
    return VKDL_OK;
}

/* Read up to n bytes into buf; *got < n only at the end of the file. A damaged or truncated gzip
 * stream is corrupt data; a failing read is an I/O error. */
static vkdl_status read_some(const char *op, const char *path, gzFile gz, void *buf, size_t n, size_t *got)
{
    size_t done = 0;
    while (done < n) {
        unsigned chunk = n - done > (1u << 30) ? 1u << 30 : (unsigned)(n - done);
        int r = gzread(gz, (char *)buf + done, chunk);
        if (r <= 0)
            break;
        done += (size_t)r;
    }
    /* zlib reports a stream that ends early only through gzerror (Z_BUF_ERROR), not through the
     * count gzread returns, so the error state is checked after every read. */
    int err;
    const char *msg = gzerror(gz, &err);
    if (err == Z_ERRNO)
        return vkdl_fail(VKDL_ERROR_IO, "%s: reading '%s': %s", op, path, strerror(errno));
    if (err == Z_MEM_ERROR)
        return oom(op);
    if (err != Z_OK)
        return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s' is a damaged gzip file: %s", op, path,
                         err == Z_BUF_ERROR ? "truncated (unexpected end of file)" : msg);
    *got = done;
    return VKDL_OK;
}

/* Read the next `want` bytes into a new buffer that grows as the data arrives, so a header that
 * promises far more than the file holds is reported as truncated instead of sizing an allocation;
 * then insist that nothing follows. */
static vkdl_status read_exact(const char *op, const char *path, gzFile gz, size_t want, uint8_t **out)
{
    size_t cap = want < ((size_t)1 << 20) ? want : (size_t)1 << 20, have = 0;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf)
        return oom(op);
    for (;;) {
        size_t got = 0;
        vkdl_status s = read_some(op, path, gz, buf + have, cap - have, &got);
        if (s != VKDL_OK) {
            free(buf);
            return s;
        }
        have += got;
        if (have < cap) {
            free(buf);
            return vkdl_fail(VKDL_ERROR_CORRUPT_DATA,
                             "%s: '%s' is truncated: its header promises %zu bytes of data, the file holds %zu", op,
                             path, want, have);
        }
        if (have == want)
            break;
        cap = want - cap < cap ? want : cap * 2;
        uint8_t *p = realloc(buf, cap);
        if (!p) {
            free(buf);
            return oom(op);
        }
        buf = p;
    }
    uint8_t extra;
    size_t got = 0;
    vkdl_status s = read_some(op, path, gz, &extra, 1, &got);
    if (s == VKDL_OK && got)
        s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s' holds more than the %zu bytes of data its header promises",
                      op, path, want);
    if (s != VKDL_OK) {
        free(buf);
        return s;
    }
    *out = buf;
    return VKDL_OK;
}

/* The whole (decompressed) file, NUL-terminated. */
static vkdl_status read_all(const char *op, const char *path, uint8_t **out, size_t *len)
{
    gzFile gz;
    VKDL_TRY(open_file(op, path, &gz));
    size_t cap = (size_t)1 << 16, have = 0;
    uint8_t *buf = malloc(cap);
    vkdl_status s = buf ? VKDL_OK : oom(op);
    while (s == VKDL_OK) {
        size_t got = 0;
        s = read_some(op, path, gz, buf + have, cap - have - 1, &got);
        have += got;
        if (s != VKDL_OK || have < cap - 1)
            break;
        uint8_t *p = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
        if (!p)
            s = oom(op);
        else
            buf = p, cap *= 2;
    }
    gzclose(gz);
    if (s != VKDL_OK) {
        free(buf);
        return s;
    }
    buf[have] = 0;
    *out = buf;
    *len = have;
    return VKDL_OK;
}

/* ------------------------------------------------------------------ IDX (MNIST) */

/* One IDX file of unsigned bytes with `ndim` dims: magic 0x0000 08 ndim, then big-endian u32 dims. */
static vkdl_status read_idx(const char *op, const char *path, int ndim, uint32_t dims[3], uint8_t **data)
{
    gzFile gz;
    VKDL_TRY(open_file(op, path, &gz));
    uint8_t hdr[16] = {0};
    size_t hdr_n = 4 + 4 * (size_t)ndim, got = 0, bytes = 1;
    vkdl_status s = read_some(op, path, gz, hdr, hdr_n, &got);
    if (s == VKDL_OK && got < hdr_n)
        s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s' is too short for an IDX header (%zu bytes)", op, path, got);
    const uint32_t want = 0x800u | (uint32_t)ndim;
    uint32_t magic = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (s == VKDL_OK && magic != want)
        s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA,
                      "%s: '%s' has IDX magic 0x%08x, expected 0x%08x (unsigned bytes, %d dims)", op, path, magic,
                      want, ndim);
    for (int d = 0; s == VKDL_OK && d < ndim; d++) {
        const uint8_t *p = hdr + 4 + 4 * d;
        dims[d] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        uint64_t b;
        if (dims[d] == 0)
            s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s' has an IDX dim %d of 0", op, path, d);
        else if (!mul_ok(bytes, dims[d], SIZE_MAX, &b))
            s = vkdl_fail(VKDL_ERROR_SIZE_OVERFLOW, "%s: the IDX dims of '%s' multiply past the address space", op,
                          path);
        else
            bytes = (size_t)b;
    }
    if (s == VKDL_OK)
        s = read_exact(op, path, gz, bytes, data);
    gzclose(gz);
    return s;
}

vkdl_status vkdl_dataset_load_idx(const char *images, const char *labels, vkdl_dataset **out)
{
    const char *op = "dataset_load_idx";
    if (!images || !labels || !out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         !images ? "images" : !labels ? "labels" : "out");
    *out = NULL;
    uint32_t idim[3], ldim[3];
    uint8_t *img = NULL, *lab = NULL;
    VKDL_TRY(read_idx(op, images, 3, idim, &img));
    vkdl_status s = read_idx(op, labels, 1, ldim, &lab);
    if (s == VKDL_OK && ldim[0] != idim[0])
        s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s' holds %u images but '%s' holds %u labels", op, images,
                      idim[0], labels, ldim[0]);
    int max_label = 0;
    for (uint32_t i = 0; s == VKDL_OK && i < ldim[0]; i++) {
        /* Labels index classes 0..classes-1, and classes must stay below 256. */
        if (lab[i] > 254)
            s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: label %u of sample %u in '%s' is outside 0..254", op, lab[i],
                          i, labels);
        else if (lab[i] > max_label)
            max_label = lab[i];
    }
    vkdl_dataset *ds = NULL;
    if (s == VKDL_OK)
        s = new_dataset(op, DS_FEATURES, &ds);
    if (s == VKDL_OK) {
        ds->n = idim[0];
        ds->classes = max_label + 1;
        ds->ndim = 3;
        ds->shape[0] = 1, ds->shape[1] = idim[1], ds->shape[2] = idim[2];
        ds->feat = (int64_t)idim[1] * idim[2];
        /* read_idx bounded n * feat by SIZE_MAX; floats are four times larger. */
        s = alloc_array(op, (uint64_t)ds->n * (uint64_t)ds->feat, sizeof(float), (void **)&ds->x);
    }
    if (s == VKDL_OK)
        s = alloc_array(op, (uint64_t)ds->n, sizeof(int32_t), (void **)&ds->y);
    if (s == VKDL_OK)
        s = identity_order(op, ds);
    if (s == VKDL_OK) {
        size_t total = (size_t)ds->n * (size_t)ds->feat;
        for (size_t i = 0; i < total; i++)
            ds->x[i] = (float)img[i] / 255.0f;
        for (int64_t i = 0; i < ds->n; i++)
            ds->y[i] = lab[i];
        *out = ds;
    } else
        vkdl_dataset_destroy(ds);
    free(img);
    free(lab);
    return s;
}

/* ------------------------------------------------------------------ CSV */

typedef struct csv_line {
    const char *p;
    size_t len;
    int64_t number;                 /* 1-based line number in the file, for messages */
    int fields;
} csv_line;

/* Fields are comma-separated, or separated by runs of blanks on a line without commas (sklearn
 * ships both kinds). Calls fn for each field until it returns false; returns the field count. */
typedef bool (*field_fn)(void *arg, int i, const char *p, size_t n);

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static int for_each_field(const csv_line *l, field_fn fn, void *arg)
{
    const char *p = l->p, *end = l->p + l->len;
    bool commas = memchr(p, ',', l->len) != NULL;
    int i = 0;
    while (p <= end) {
        if (!commas) {
            while (p < end && is_blank(*p))
                p++;
            if (p == end)
                break;
        }
        const char *q = p;
        while (q < end && (commas ? *q != ',' : !is_blank(*q)))
            q++;
        if (fn && !fn(arg, i, p, (size_t)(q - p)))
            return i;
        i++;
        p = q + 1;
    }
    return i;
}

/* A finite number filling the whole field (blanks around it allowed), read in the C locale. */
static bool parse_number(const char *p, size_t n, double *v)
{
    while (n && is_blank(*p))
        p++, n--;
    while (n && is_blank(p[n - 1]))
        n--;
    char buf[64];
    if (!n || n >= sizeof buf)
        return false;
    memcpy(buf, p, n);
    buf[n] = 0;
    char *e;
    *v = strtod(buf, &e);
    return e == buf + n && isfinite(*v);
}

static bool numeric_field(void *arg, int i, const char *p, size_t n)
{
    double v;
    (void)arg, (void)i;
    return parse_number(p, n, &v);
}

static bool line_numeric(const csv_line *l) { return for_each_field(l, numeric_field, NULL) == l->fields; }

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The field count most lines share; on a tie, the last line's count (data follows headers). */
static int majority_width(const csv_line *lines, int64_t n, int *tmp)
{
    for (int64_t i = 0; i < n; i++)
        tmp[i] = lines[i].fields;
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_int);
    int best = tmp[0], last = lines[n - 1].fields;
    int64_t best_n = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && tmp[j] == tmp[i])
            j++;
        if (j - i > best_n || (j - i == best_n && tmp[i] == last))
            best = tmp[i], best_n = j - i;
        i = j;
    }
    return best;
}

typedef struct csv_row {
    const char *op, *path;
    int64_t line, row;
    int label_col;
    int64_t features;
    float *x;
    int32_t *y;
    vkdl_status s;
    int max_label;
} csv_row;

/* Largest label accepted: classes must fit an int, and labels round-trip through f32 exactly. */
#define CSV_MAX_LABEL (1 << 24)

static bool store_field(void *arg, int i, const char *p, size_t n)
{
    csv_row *r = arg;
    double v;
    if (!parse_number(p, n, &v)) {
        r->s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s' line %lld field %d ('%.*s') is not a finite number",
                         r->op, r->path, (long long)r->line, i + 1, (int)(n < 40 ? n : 40), p);
        return false;
    }
    if (i == r->label_col) {
        if (v < 0 || v > CSV_MAX_LABEL || v != floor(v)) {
            r->s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA,
                             "%s: '%s' line %lld: label %.*s is not an integer in 0..%d", r->op, r->path,
                             (long long)r->line, (int)(n < 40 ? n : 40), p, CSV_MAX_LABEL);
            return false;
        }
        r->y[r->row] = (int32_t)v;
        if ((int)v > r->max_label)
            r->max_label = (int)v;
    } else {
        /* Beyond float's range it would become infinity: as unusable as a non-number. */
        if (fabs(v) > 3.4028234663852886e38) {
            r->s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s' line %lld field %d is beyond the range of f32",
                             r->op, r->path, (long long)r->line, i + 1);
            return false;
        }
        r->x[r->row * r->features + (i < r->label_col ? i : i - 1)] = (float)v;
    }
    return true;
}

static vkdl_status parse_csv(const char *op, const char *path, char *text, size_t len, int label_column,
                             vkdl_dataset *ds)
{
    if (memchr(text, 0, len))
        return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s' holds NUL bytes: not a text table", op, path);
    int64_t n_lines = 0;
    for (size_t i = 0; i < len; i++)
        n_lines += text[i] == '\n';
    n_lines++;
    csv_line *lines;
    VKDL_TRY(alloc_array(op, (uint64_t)n_lines, sizeof *lines, (void **)&lines));
    int64_t n = 0, number = 0;
    for (char *p = text, *end = text + len; p <= end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        number++;
        csv_line l = {p, (size_t)(e - p), number, 0};
        bool blank = true;
        for (const char *q = p; q < e && blank; q++)
            blank = is_blank(*q);
        if (!blank) {
            l.fields = for_each_field(&l, NULL, NULL);
            lines[n++] = l;
        }
        p = e + 1;
    }
    vkdl_status s = VKDL_OK;
    int *tmp = NULL;
    if (n == 0)
        s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s' holds no rows", op, path);
    else
        s = alloc_array(op, (uint64_t)n, sizeof *tmp, (void **)&tmp);
    int width = 0;
    int64_t first = 0;
    if (s == VKDL_OK) {
        width = majority_width(lines, n, tmp);
        while (first < n && (lines[first].fields != width || !line_numeric(&lines[first])))
            first++;
        if (first == n)
            s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s' holds no numeric rows", op, path);
    }
    int lc = label_column < 0 ? width + label_column : label_column;
    if (s == VKDL_OK && width < 2)
        s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s' has one column: no features besides the label", op, path);
    if (s == VKDL_OK && (lc < 0 || lc >= width))
        s = vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: label_column %d is outside the %d columns of '%s'", op,
                      label_column, width, path);
    for (int64_t i = first; s == VKDL_OK && i < n; i++)
        if (lines[i].fields != width)
            s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s' line %lld has %d fields, the table has %d", op, path,
                          (long long)lines[i].number, lines[i].fields, width);
    if (s == VKDL_OK) {
        ds->n = n - first;
        ds->feat = width - 1;
        ds->ndim = 1;
        ds->shape[0] = ds->feat;
        s = alloc_array(op, (uint64_t)ds->n * (uint64_t)ds->feat, sizeof(float), (void **)&ds->x);
    }
    if (s == VKDL_OK)
        s = alloc_array(op, (uint64_t)ds->n, sizeof(int32_t), (void **)&ds->y);
    csv_row r = {op, path, 0, 0, lc, ds->feat, ds->x, ds->y, VKDL_OK, 0};
    for (int64_t i = first; s == VKDL_OK && i < n; i++) {
        r.line = lines[i].number;
        r.row = i - first;
        for_each_field(&lines[i], store_field, &r);
        s = r.s;
    }
    if (s == VKDL_OK) {
        ds->classes = r.max_label + 1;
        s = identity_order(op, ds);
    }
    free(tmp);
    free(lines);
    return s;
}

vkdl_status vkdl_dataset_load_csv(const char *path, int label_column, vkdl_dataset **out)
{
    const char *op = "dataset_load_csv";
    if (!path || !out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", op, !path ? "path" : "out");
    *out = NULL;
    uint8_t *text;
    size_t len;
    VKDL_TRY(read_all(op, path, &text, &len));
    vkdl_dataset *ds = NULL;
    vkdl_status s = new_dataset(op, DS_FEATURES, &ds);
    if (s == VKDL_OK) {
        /* "1.5" must parse the same whatever locale the application chose (a German one reads
         * "1,5"); uselocale changes this thread only. */
        locale_t c_num = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
        if (!c_num)
            s = oom(op);
        else {
            locale_t old = uselocale(c_num);
            s = parse_csv(op, path, (char *)text, len, label_column, ds);
            uselocale(old);
            freelocale(c_num);
        }
    }
    free(text);
    if (s != VKDL_OK) {
        vkdl_dataset_destroy(ds);
        return s;
    }
    *out = ds;
    return VKDL_OK;
}

/* ------------------------------------------------------------------ text */

vkdl_status vkdl_dataset_load_text(const char *path, int64_t block, vkdl_dataset **out)
{
    const char *op = "dataset_load_text";
    if (!path || !out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", op, !path ? "path" : "out");
    *out = NULL;
    if (block < 1)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: block is %lld, must be at least 1", op, (long long)block);
    uint8_t *text;
    size_t len;
    VKDL_TRY(read_all(op, path, &text, &len));
    vkdl_dataset *ds = NULL;
    vkdl_status s = VKDL_OK;
    if ((uint64_t)len <= (uint64_t)block)
        s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s' holds %zu bytes, fewer than block + 1 = %lld", op, path, len,
                      (long long)block + 1);
    if (s == VKDL_OK)
        s = new_dataset(op, DS_TEXT, &ds);
    if (s == VKDL_OK) {
        bool seen[256] = {0};
        for (size_t i = 0; i < len; i++)
            seen[text[i]] = true;
        for (int b = 0; b < 256; b++)
            if (seen[b]) {
                ds->id_of[b] = (int16_t)ds->vocab_n;
                ds->vocab[ds->vocab_n++] = (uint8_t)b;
            }
        for (size_t i = 0; i < len; i++)
            text[i] = (uint8_t)ds->id_of[text[i]];
        ds->text = text;
        text = NULL;
        ds->len = (int64_t)len;
        ds->n = ds->len - block;
        ds->classes = ds->vocab_n;
        ds->ndim = 1;
        ds->shape[0] = ds->feat = block;
        s = identity_order(op, ds);
    }
    free(text);
    if (s != VKDL_OK) {
        vkdl_dataset_destroy(ds);
        return s;
    }
    *out = ds;
    return VKDL_OK;
}

/* ------------------------------------------------------------------ queries */

int64_t vkdl_dataset_size(const vkdl_dataset *ds) { return ds ? ds->n : 0; }
int vkdl_dataset_classes(const vkdl_dataset *ds) { return ds ? ds->classes : 0; }

int vkdl_dataset_sample_shape(const vkdl_dataset *ds, int64_t shape[VKDL_MAX_DIMS])
{
    if (!ds)
        return 0;
    if (shape)
        memcpy(shape, ds->shape, sizeof(int64_t) * (size_t)ds->ndim);
    return ds->ndim;
}

int vkdl_dataset_decode(const vkdl_dataset *ds, int id)
{
    return ds && ds->kind == DS_TEXT && id >= 0 && id < ds->vocab_n ? ds->vocab[id] : -1;
}

int vkdl_dataset_encode(const vkdl_dataset *ds, int byte)
{
    return ds && ds->kind == DS_TEXT && byte >= 0 && byte < 256 ? ds->id_of[byte] : -1;
}

/* ------------------------------------------------------------------ order */

/* Uniform in [0, bound) without modulo bias: draws below 2^64 mod bound are redrawn. */
static uint64_t below(uint64_t *state, uint64_t bound)
{
    uint64_t threshold = (0 - bound) % bound, r;
    do
        r = vkdl_splitmix64(state);
    while (r < threshold);
    return r % bound;
}

vkdl_status vkdl_dataset_shuffle(vkdl_dataset *ds, uint64_t seed)
{
    if (!ds)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "dataset_shuffle: dataset is NULL");
    /* Fisher-Yates over the current order: the result depends only on that order and the seed. */
    uint64_t state = seed;
    for (int64_t i = ds->n - 1; i > 0; i--) {
        int64_t j = (int64_t)below(&state, (uint64_t)i + 1);
        int64_t t = ds->order[i];
        ds->order[i] = ds->order[j];
        ds->order[j] = t;
    }
    return VKDL_OK;
}

/* Rows order[from, from + count) of a feature set, copied out in that order. */
static vkdl_status gather_rows(const char *op, const vkdl_dataset *ds, int64_t from, int64_t count, float **x,
                               int32_t **y)
{
    *x = NULL;
    *y = NULL;
    vkdl_status s = alloc_array(op, (uint64_t)count * (uint64_t)ds->feat, sizeof(float), (void **)x);
    if (s == VKDL_OK)
        s = alloc_array(op, (uint64_t)count, sizeof(int32_t), (void **)y);
    if (s != VKDL_OK) {
        free(*x);
        *x = NULL;
        return s;
    }
    for (int64_t i = 0; i < count; i++) {
        int64_t r = ds->order[from + i];
        memcpy(*x + i * ds->feat, ds->x + r * ds->feat, sizeof(float) * (size_t)ds->feat);
        (*y)[i] = ds->y[r];
    }
    return VKDL_OK;
}

vkdl_status vkdl_dataset_split(vkdl_dataset *ds, int64_t n, vkdl_dataset **out)
{
    const char *op = "dataset_split";
    if (!ds || !out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", op, !ds ? "dataset" : "out");
    *out = NULL;
    if (n < 0 || n > ds->n)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: cannot take %lld samples from a dataset of %lld", op,
                         (long long)n, (long long)ds->n);
    vkdl_dataset *nd = NULL;
    VKDL_TRY(new_dataset(op, ds->kind, &nd));
    nd->n = n;
    nd->classes = ds->classes;
    nd->ndim = ds->ndim;
    memcpy(nd->shape, ds->shape, sizeof nd->shape);
    nd->feat = ds->feat;
    int64_t keep = ds->n - n;
    vkdl_status s;
    if (ds->kind == DS_TEXT) {
        /* Windows overlap and may be scattered by a shuffle: the new set gets the whole text. */
        s = alloc_array(op, (uint64_t)ds->len, 1, (void **)&nd->text);
        if (s == VKDL_OK)
            s = alloc_array(op, (uint64_t)n, sizeof(int64_t), (void **)&nd->order);
        if (s == VKDL_OK) {
            memcpy(nd->text, ds->text, (size_t)ds->len);
            memcpy(nd->order, ds->order + keep, sizeof(int64_t) * (size_t)n);
            nd->len = ds->len;
            nd->vocab_n = ds->vocab_n;
            memcpy(nd->vocab, ds->vocab, sizeof nd->vocab);
            memcpy(nd->id_of, ds->id_of, sizeof nd->id_of);
            ds->n = keep;
        }
    } else {
        /* Both parts are compacted into their current order, so each holds only its own rows. */
        float *kx = NULL;
        int32_t *ky = NULL;
        s = gather_rows(op, ds, keep, n, &nd->x, &nd->y);
        if (s == VKDL_OK)
            s = identity_order(op, nd);
        if (s == VKDL_OK)
            s = gather_rows(op, ds, 0, keep, &kx, &ky);
        if (s == VKDL_OK) {
            free(ds->x);
            free(ds->y);
            ds->x = kx;
            ds->y = ky;
            ds->n = keep;
            for (int64_t i = 0; i < keep; i++)
                ds->order[i] = i;
        }
    }
    if (s != VKDL_OK) {
        vkdl_dataset_destroy(nd);
        return s;
    }
    *out = nd;
    return VKDL_OK;
}

/* ------------------------------------------------------------------ standardize */

static void apply_standardize(vkdl_dataset *ds, const double *mean, const double *inv_std)
{
    for (int64_t r = 0; r < ds->n; r++) {
        float *row = ds->x + r * ds->feat;
        for (int64_t f = 0; f < ds->feat; f++)
            row[f] = (float)(((double)row[f] - mean[f]) * inv_std[f]);
    }
}

vkdl_status vkdl_dataset_standardize(vkdl_dataset *train, vkdl_dataset *other)
{
    const char *op = "dataset_standardize";
    if (!train)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: train is NULL", op);
    if (train->kind != DS_FEATURES || (other && other->kind != DS_FEATURES))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: %s is a text set, whose samples are token ids", op,
                         train->kind != DS_FEATURES ? "train" : "other");
    if (other && other->feat != train->feat)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: train has %lld features per sample, other has %lld", op,
                         (long long)train->feat, (long long)other->feat);
    if (train->n == 0)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: train is empty", op);
    const int64_t F = train->feat, N = train->n;
    double *mean;
    VKDL_TRY(alloc_array(op, (uint64_t)F * 4, sizeof(double), (void **)&mean));
    double *inv_std = mean + F, *lo = mean + 2 * F, *hi = mean + 3 * F;
    for (int64_t f = 0; f < F; f++) {
        mean[f] = inv_std[f] = 0;
        lo[f] = hi[f] = train->x[f];
    }
    for (int64_t r = 0; r < N; r++)
        for (int64_t f = 0; f < F; f++) {
            double v = train->x[r * F + f];
            mean[f] += v;
            lo[f] = v < lo[f] ? v : lo[f];
            hi[f] = v > hi[f] ? v : hi[f];
        }
    for (int64_t f = 0; f < F; f++)
        mean[f] /= (double)N;
    for (int64_t r = 0; r < N; r++)
        for (int64_t f = 0; f < F; f++) {
            double d = train->x[r * F + f] - mean[f];
            inv_std[f] += d * d;
        }
    for (int64_t f = 0; f < F; f++) {
        /* A constant feature is only centred, on its exact value: the rounding in its computed
         * mean would otherwise leave a tiny residue that dividing by a ~0 std would blow up. */
        if (lo[f] == hi[f]) {
            mean[f] = lo[f];
            inv_std[f] = 1;
        } else
            inv_std[f] = 1 / sqrt(inv_std[f] / (double)N);
    }
    apply_standardize(train, mean, inv_std);
    if (other && other != train)
        apply_standardize(other, mean, inv_std);
    free(mean);
    return VKDL_OK;
}

/* ------------------------------------------------------------------ batches */

static void dims_str(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < ndim && at < n; i++) {
        int w = snprintf(buf + at, n - at, i ? "x%lld" : "%lld", (long long)shape[i]);
        if (w < 0)
            return;
        at += (size_t)w;
    }
}

static vkdl_status check_batch_tensor(const char *name, const vkdl_tensor *t, vkdl_dtype dtype, int ndim,
                                      const int64_t *shape)
{
    const char *op = "dataset_batch";
    VKDL_TRY(vkdl_check_dtype(op, name, t, dtype));
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char have[VKDL_SHAPE_BUF], want[VKDL_SHAPE_BUF];
        dims_str(ndim, shape, want, sizeof want);
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s, expected %s", op, name,
                         vkdl_shape_str(t, have, sizeof have), want);
    }
    return VKDL_OK;
}

vkdl_status vkdl_dataset_batch(const vkdl_dataset *ds, int64_t first, int64_t count, vkdl_tensor *x, vkdl_tensor *y)
{
    const char *op = "dataset_batch";
    if (!ds)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: dataset is NULL", op);
    VKDL_TRY(vkdl_check_tensor(op, "x", x));
    VKDL_TRY(vkdl_check_tensor(op, "y", y));
    if (first < 0 || count < 0 || first > ds->n || count > ds->n - first)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT,
                         "%s: samples [%lld, %lld + %lld) are outside the %lld samples of the dataset", op,
                         (long long)first, (long long)first, (long long)count, (long long)ds->n);
    bool text = ds->kind == DS_TEXT;
    int64_t shape[VKDL_MAX_DIMS + 1] = {count};
    memcpy(shape + 1, ds->shape, sizeof(int64_t) * (size_t)ds->ndim);
    VKDL_TRY(check_batch_tensor("x", x, text ? VKDL_I32 : VKDL_F32, ds->ndim + 1, shape));
    VKDL_TRY(check_batch_tensor("y", y, VKDL_I32, text ? 2 : 1, shape));

    /* x's shape matched, so count * feat is its (already bounded) element count. */
    size_t nx = (size_t)count * (size_t)ds->feat, ny = text ? nx : (size_t)count;
    void *hx = NULL;
    int32_t *hy = NULL;
    VKDL_TRY(alloc_array(op, nx, 4, &hx));
    vkdl_status s = alloc_array(op, ny, sizeof *hy, (void **)&hy);
    if (s == VKDL_OK) {
        const int64_t *ord = ds->order + first;
        if (text) {
            int32_t *ix = hx;
            for (int64_t i = 0; i < count; i++) {
                const uint8_t *w = ds->text + ord[i];
                for (int64_t t = 0; t < ds->feat; t++) {
                    ix[i * ds->feat + t] = w[t];
                    hy[i * ds->feat + t] = w[t + 1];
                }
            }
        } else {
            float *fx = hx;
            for (int64_t i = 0; i < count; i++) {
                memcpy(fx + i * ds->feat, ds->x + ord[i] * ds->feat, sizeof(float) * (size_t)ds->feat);
                hy[i] = ds->y[ord[i]];
            }
        }
        s = vkdl_tensor_upload(x, hx, text ? VKDL_I32 : VKDL_F32, nx * 4);
        if (s == VKDL_OK)
            s = vkdl_tensor_upload(y, hy, VKDL_I32, ny * sizeof *hy);
    }
    free(hx);
    free(hy);
    return s;
}
