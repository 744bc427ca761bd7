/* Checkpoints in the Hugging Face safetensors format: u64 little-endian header length N, N bytes
 * of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then
 * the little-endian row-major data. The header is parsed by a strict parser for exactly that
 * subset, and every number in it is checked before it is used: files are untrusted input.
 * Tests: tests/test_safetensors.c. */
#include "io/io.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_HEADER ((uint64_t)100 << 20)
/* Nesting allowed inside __metadata__ values: bounds the recursion of skip_value. */
#define MAX_DEPTH 64

static const struct {
    const char *name;
    vkdl_dtype dtype;
} DTYPES[] = {{"F32", VKDL_F32}, {"F16", VKDL_F16}, {"BF16", VKDL_BF16}, {"I32", VKDL_I32}, {"U8", VKDL_U8}};

static const char *st_dtype_name(vkdl_dtype d)
{
    for (size_t i = 0; i < VKDL_ARRAY_LEN(DTYPES); i++)
        if (DTYPES[i].dtype == d)
            return DTYPES[i].name;
    return NULL;
}

/* The file holds little-endian data, tensors host-order data; the swap is its own inverse. */
static void swap_if_big_endian(void *p, size_t n, size_t es)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    uint8_t *b = p;
    for (size_t i = 0; i + es <= n; i += es)
        for (size_t j = 0; j < es / 2; j++) {
            uint8_t t = b[i + j];
            b[i + j] = b[i + es - 1 - j];
            b[i + es - 1 - j] = t;
        }
#else
    (void)p, (void)n, (void)es;
#endif
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid: no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0)
        len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
        len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
        len = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static bool utf8_valid(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len((const uint8_t *)s + i, n - i);
        if (!l)
            return false;
        i += l;
    }
    return true;
}

/* ------------------------------------------------------------------ growable buffer (save) */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_put(b, tmp, (size_t)n);
}

static void sb_json_string(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_put(b, e, 2);
        } else if (c < 0x20)
            sb_printf(b, "\\u%04x", c);
        else
            sb_put(b, (const char *)&c, 1);
    }
    sb_put(b, "\"", 1);
}

/* ------------------------------------------------------------------ save */

/* qsort_r, so saves from several threads (separate contexts) do not share a global. */
static int cmp_name_idx(const void *a, const void *b, void *names)
{
    const char *const *n = names;
    return strcmp(n[*(const int *)a], n[*(const int *)b]);
}

static vkdl_status check_list(const char *op, const char *path, int count, const char *const *names,
                              vkdl_tensor *const *tensors)
{
    if (!path)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: path is NULL", op);
    if (count < 0)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: count is %d", op, count);
    if (count > 0 && (!names || !tensors))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", op, names ? "tensors" : "names");
    for (int i = 0; i < count; i++) {
        if (!names[i])
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: names[%d] is NULL", op, i);
        char what[32];
        snprintf(what, sizeof what, "tensors[%d]", i);
        VKDL_TRY(vkdl_check_tensor(op, what, tensors[i]));
    }
    return VKDL_OK;
}

/* Write all of buf or record the error. */
static vkdl_status write_all(FILE *f, const void *buf, size_t n, const char *path)
{
    if (fwrite(buf, 1, n, f) != n)
        return vkdl_fail(VKDL_ERROR_IO, "safetensors_save: writing '%s': %s", path, strerror(errno));
    return VKDL_OK;
}

typedef struct st_file {
    const sbuf *hdr;
    int count;
    const int *order;
    vkdl_tensor *const *tensors;
} st_file;

static vkdl_status write_file(FILE *f, const char *tmp, void *user)
{
    const st_file *sf = user;
    const sbuf *hdr = sf->hdr;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)hdr->len >> (8 * i));
    VKDL_TRY(write_all(f, len8, 8, tmp));
    VKDL_TRY(write_all(f, hdr->p, hdr->len, tmp));
    for (int k = 0; k < sf->count; k++) {
        vkdl_tensor *t = sf->tensors[sf->order[k]];
        size_t bytes = vkdl_tensor_bytes(t);
        if (!bytes)
            continue;
        void *data = malloc(bytes);
        if (!data)
            return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "safetensors_save: out of host memory (%zu bytes)", bytes);
        vkdl_status s = vkdl_tensor_download(t, data, t->dtype, bytes);
        if (s == VKDL_OK) {
            swap_if_big_endian(data, bytes, vkdl_dtype_size(t->dtype));
            s = write_all(f, data, bytes, tmp);
        }
        free(data);
        VKDL_TRY(s);
    }
    return VKDL_OK;
}

vkdl_status vkdl_safetensors_save(const char *path, int count, const char *const *names, vkdl_tensor *const *tensors)
{
    const char *op = "safetensors_save";
    VKDL_TRY(check_list(op, path, count, names, tensors));
    for (int i = 0; i < count; i++) {
        if (!st_dtype_name(tensors[i]->dtype))
            return vkdl_fail(VKDL_ERROR_DTYPE_MISMATCH, "%s: \"%s\" has dtype %d, which safetensors cannot hold", op,
                             names[i], (int)tensors[i]->dtype);
        if (!utf8_valid(names[i]))
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: names[%d] is not valid UTF-8", op, i);
        if (!strcmp(names[i], "__metadata__"))
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: \"__metadata__\" is reserved by the format", op);
    }
    int *order = malloc(sizeof(int) * ((size_t)(unsigned)count + 1));
    if (!order)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", op);
    for (int i = 0; i < count; i++)
        order[i] = i;
    qsort_r(order, (size_t)count, sizeof *order, cmp_name_idx, (void *)names);
    for (int k = 1; k < count; k++)
        if (!strcmp(names[order[k]], names[order[k - 1]])) {
            const char *dup = names[order[k]];
            free(order);
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: name \"%s\" appears twice", op, dup);
        }

    sbuf hdr = {0};
    sb_put(&hdr, "{\"__metadata__\":{\"format\":\"pt\"}", 31);
    uint64_t offset = 0;
    for (int k = 0; k < count; k++) {
        const vkdl_tensor *t = tensors[order[k]];
        uint64_t bytes = vkdl_tensor_bytes(t);
        sb_put(&hdr, ",", 1);
        sb_json_string(&hdr, names[order[k]]);
        sb_printf(&hdr, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            sb_printf(&hdr, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        sb_printf(&hdr, "],\"data_offsets\":[%llu,", (unsigned long long)offset);
        offset += bytes;
        sb_printf(&hdr, "%llu]}", (unsigned long long)offset);
    }
    sb_put(&hdr, "}", 1);
    /* The reference implementation pads with spaces so the data starts 8-byte aligned. */
    while (!hdr.oom && hdr.len % 8)
        sb_put(&hdr, " ", 1);
    if (hdr.oom) {
        free(hdr.p);
        free(order);
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory for the header", op);
    }

    vkdl_status s = vkdl_atomic_write(op, path, write_file, &(st_file){&hdr, count, order, tensors});
    free(hdr.p);
    free(order);
    return s;
}

/* ------------------------------------------------------------------ header parser (load) */

typedef struct st_entry {
    char *name;
    size_t name_len;
    vkdl_dtype dtype;
    int ndim;                       /* may exceed VKDL_MAX_DIMS; only the first dims are kept */
    int64_t shape[VKDL_MAX_DIMS];
    uint64_t numel, begin, end;
} st_entry;

typedef struct parser {
    const char *p, *start, *end;
    const char *err;                /* static description of the first problem */
    const char *err_at;
} parser;

static bool perr(parser *P, const char *msg)
{
    if (!P->err) {
        P->err = msg;
        P->err_at = P->p;
    }
    return false;
}

static void ws(parser *P)
{
    while (P->p < P->end && (*P->p == ' ' || *P->p == '\t' || *P->p == '\n' || *P->p == '\r'))
        P->p++;
}

static bool expect(parser *P, char c, const char *msg)
{
    ws(P);
    if (P->p >= P->end || *P->p != c)
        return perr(P, msg);
    P->p++;
    return true;
}

/* Is the next non-space character c? (consumed if so) */
static bool accept(parser *P, char c)
{
    ws(P);
    if (P->p < P->end && *P->p == c) {
        P->p++;
        return true;
    }
    return false;
}

static int hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* A JSON string, decoded into a new NUL-terminated buffer (*out, may be NULL to only validate). */
static bool parse_string(parser *P, char **out, size_t *out_len)
{
    if (!expect(P, '"', "expected a string"))
        return false;
    char *buf = NULL;
    if (out) {
        /* Decoding never makes a string longer than its escaped form. */
        buf = malloc((size_t)(P->end - P->p) + 1);
        if (!buf)
            return perr(P, "out of host memory");
    }
    size_t n = 0;
    for (;;) {
        if (P->p >= P->end) {
            free(buf);
            return perr(P, "unterminated string");
        }
        unsigned char c = (unsigned char)*P->p;
        if (c == '"') {
            P->p++;
            break;
        }
        if (c < 0x20) {
            free(buf);
            return perr(P, "control character in a string");
        }
        if (c != '\\') {
            size_t l = utf8_len((const uint8_t *)P->p, (size_t)(P->end - P->p));
            if (!l) {
                free(buf);
                return perr(P, "invalid UTF-8 in a string");
            }
            if (buf)
                memcpy(buf + n, P->p, l);
            n += l;
            P->p += l;
            continue;
        }
        if (P->end - P->p < 2) {
            free(buf);
            return perr(P, "unterminated string");
        }
        char e = P->p[1];
        P->p += 2;
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *k = e ? strchr(from, e) : NULL;
        if (k) {
            if (buf)
                buf[n] = to[k - from];
            n++;
            continue;
        }
        if (e != 'u' || P->end - P->p < 4 || hex4(P->p) < 0) {
            free(buf);
            return perr(P, "bad escape in a string");
        }
        uint32_t cp = (uint32_t)hex4(P->p);
        P->p += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            free(buf);
            return perr(P, "lone low surrogate in a string");
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            int lo = P->end - P->p >= 6 && P->p[0] == '\\' && P->p[1] == 'u' ? hex4(P->p + 2) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF) {
                free(buf);
                return perr(P, "lone high surrogate in a string");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
            P->p += 6;
        }
        uint8_t u[4];
        size_t l;
        if (cp < 0x80)
            u[0] = (uint8_t)cp, l = 1;
        else if (cp < 0x800)
            u[0] = (uint8_t)(0xC0 | cp >> 6), u[1] = (uint8_t)(0x80 | (cp & 0x3F)), l = 2;
        else if (cp < 0x10000)
            u[0] = (uint8_t)(0xE0 | cp >> 12), u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)),
            u[2] = (uint8_t)(0x80 | (cp & 0x3F)), l = 3;
        else
            u[0] = (uint8_t)(0xF0 | cp >> 18), u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F)),
            u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (uint8_t)(0x80 | (cp & 0x3F)), l = 4;
        if (buf)
            memcpy(buf + n, u, l);
        n += l;
    }
    if (buf) {
        buf[n] = 0;
        *out = buf;
        *out_len = n;
    }
    return true;
}

/* A non-negative integer without sign, fraction or exponent. */
static bool parse_uint(parser *P, uint64_t *v)
{
    ws(P);
    if (P->p >= P->end || *P->p < '0' || *P->p > '9')
        return perr(P, "expected a non-negative integer");
    if (*P->p == '0' && P->end - P->p > 1 && P->p[1] >= '0' && P->p[1] <= '9')
        return perr(P, "integer with a leading zero");
    uint64_t x = 0;
    while (P->p < P->end && *P->p >= '0' && *P->p <= '9') {
        uint64_t d = (uint64_t)(*P->p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return perr(P, "integer overflow");
        x = x * 10 + d;
        P->p++;
    }
    if (P->p < P->end && (*P->p == '.' || *P->p == 'e' || *P->p == 'E'))
        return perr(P, "expected an integer");
    *v = x;
    return true;
}

static bool skip_digits(parser *P)
{
    const char *s = P->p;
    while (P->p < P->end && *P->p >= '0' && *P->p <= '9')
        P->p++;
    return P->p > s;
}

/* Any JSON value (only inside __metadata__, whose contents vkdl does not use). */
static bool skip_value(parser *P, int depth)
{
    if (depth > MAX_DEPTH)
        return perr(P, "nesting too deep");
    ws(P);
    if (P->p >= P->end)
        return perr(P, "expected a value");
    char c = *P->p;
    if (c == '"')
        return parse_string(P, NULL, NULL);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        P->p++;
        if (accept(P, close))
            return true;
        do {
            if (c == '{' && (!parse_string(P, NULL, NULL) || !expect(P, ':', "expected ':'")))
                return false;
            if (!skip_value(P, depth + 1))
                return false;
        } while (accept(P, ','));
        return expect(P, close, c == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    static const char *const lit[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(lit[i]);
        if ((size_t)(P->end - P->p) >= l && !memcmp(P->p, lit[i], l)) {
            P->p += l;
            return true;
        }
    }
    if (c == '-')
        P->p++;
    if (P->p < P->end && *P->p == '0')
        P->p++;
    else if (!skip_digits(P))
        return perr(P, "expected a value");
    if (P->p < P->end && *P->p == '.') {
        P->p++;
        if (!skip_digits(P))
            return perr(P, "bad number");
    }
    if (P->p < P->end && (*P->p == 'e' || *P->p == 'E')) {
        P->p++;
        if (P->p < P->end && (*P->p == '+' || *P->p == '-'))
            P->p++;
        if (!skip_digits(P))
            return perr(P, "bad number");
    }
    return true;
}

static bool key_is(const char *k, size_t n, const char *want) { return n == strlen(want) && !memcmp(k, want, n); }

/* {"dtype": "F32", "shape": [...], "data_offsets": [b, e]} with each key exactly once. */
static bool parse_entry(parser *P, st_entry *e)
{
    if (!expect(P, '{', "a tensor entry must be an object"))
        return false;
    bool have_dtype = false, have_shape = false, have_offsets = false;
    if (!accept(P, '}'))
        do {
            char *key;
            size_t kn;
            if (!parse_string(P, &key, &kn))
                return false;
            bool ok = expect(P, ':', "expected ':'");
            if (ok && key_is(key, kn, "dtype") && !have_dtype) {
                char *v;
                size_t vn;
                have_dtype = true;
                ok = parse_string(P, &v, &vn);
                if (ok) {
                    size_t i = 0;
                    while (i < VKDL_ARRAY_LEN(DTYPES) && !key_is(v, vn, DTYPES[i].name))
                        i++;
                    free(v);
                    ok = i < VKDL_ARRAY_LEN(DTYPES) ? (e->dtype = DTYPES[i].dtype, true)
                                                     : perr(P, "unknown dtype (F32, F16, BF16, I32, U8 are read)");
                }
            } else if (ok && key_is(key, kn, "shape") && !have_shape) {
                have_shape = true;
                e->numel = 1;
                ok = expect(P, '[', "shape must be an array");
                if (ok && !accept(P, ']')) {
                    do {
                        uint64_t d;
                        ok = parse_uint(P, &d);
                        if (ok && d && e->numel > ((uint64_t)1 << 62) / d)
                            ok = perr(P, "the shape's element count overflows");
                        if (ok && e->ndim < VKDL_MAX_DIMS)
                            e->shape[e->ndim] = (int64_t)d;
                        if (ok) {
                            e->numel *= d;
                            e->ndim++;
                        }
                    } while (ok && accept(P, ','));
                    ok = ok && expect(P, ']', "expected ',' or ']' in shape");
                }
            } else if (ok && key_is(key, kn, "data_offsets") && !have_offsets) {
                have_offsets = true;
                ok = expect(P, '[', "data_offsets must be an array") && parse_uint(P, &e->begin) &&
                     expect(P, ',', "data_offsets must have two integers") && parse_uint(P, &e->end) &&
                     expect(P, ']', "data_offsets must have two integers");
            } else if (ok)
                ok = perr(P, "unexpected or repeated key in a tensor entry");
            free(key);
            if (!ok)
                return false;
        } while (accept(P, ','));
    if (!expect(P, '}', "expected ',' or '}' in a tensor entry"))
        return false;
    if (!have_dtype || !have_shape || !have_offsets)
        return perr(P, "a tensor entry needs dtype, shape and data_offsets");
    return true;
}

typedef struct st_header {
    st_entry *e;
    size_t n, cap;
} st_header;

static void header_free(st_header *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->e[i].name);
    free(h->e);
}

static bool parse_header(parser *P, st_header *h)
{
    bool have_meta = false;
    if (!expect(P, '{', "the header must be a JSON object"))
        return false;
    if (!accept(P, '}'))
        do {
            char *key;
            size_t kn;
            if (!parse_string(P, &key, &kn))
                return false;
            if (!expect(P, ':', "expected ':'")) {
                free(key);
                return false;
            }
            if (key_is(key, kn, "__metadata__")) {
                free(key);
                if (have_meta)
                    return perr(P, "repeated __metadata__");
                have_meta = true;
                ws(P);
                if (P->p >= P->end || *P->p != '{')
                    return perr(P, "__metadata__ must be an object");
                if (!skip_value(P, 0))
                    return false;
                continue;
            }
            if (h->n == h->cap) {
                size_t cap = h->cap ? 2 * h->cap : 16;
                st_entry *e = realloc(h->e, cap * sizeof *e);
                if (!e) {
                    free(key);
                    return perr(P, "out of host memory");
                }
                h->e = e;
                h->cap = cap;
            }
            st_entry *e = &h->e[h->n++];
            memset(e, 0, sizeof *e);
            e->name = key;
            e->name_len = kn;
            if (!parse_entry(P, e))
                return false;
        } while (accept(P, ','));
    if (!expect(P, '}', "expected ',' or '}'"))
        return false;
    ws(P);
    if (P->p != P->end)
        return perr(P, "trailing characters after the header object");
    return true;
}

static int cmp_entry_name(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    int c = memcmp(x->name, y->name, x->name_len < y->name_len ? x->name_len : y->name_len);
    return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

static int cmp_entry_offset(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* Entries must tile the data section exactly, each as long as its shape and dtype say. */
static vkdl_status check_entries(const char *path, st_header *h, uint64_t data_bytes)
{
    const char *op = "safetensors_load";
    if (h->n)
        qsort(h->e, h->n, sizeof *h->e, cmp_entry_name);
    for (size_t i = 0; i < h->n; i++) {
        st_entry *e = &h->e[i];
        if (i && !cmp_entry_name(e, e - 1))
            return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s': duplicate tensor name \"%s\"", op, path, e->name);
        uint64_t bytes = e->numel * vkdl_dtype_size(e->dtype); /* numel <= 2^62: no overflow */
        if (e->end < e->begin || e->end - e->begin != bytes)
            return vkdl_fail(VKDL_ERROR_CORRUPT_DATA,
                             "%s: '%s': \"%s\" has data_offsets [%llu, %llu] but its shape and dtype need %llu bytes",
                             op, path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                             (unsigned long long)bytes);
    }
    const st_entry **by_off = malloc(sizeof *by_off * (h->n ? h->n : 1));
    if (!by_off)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", op);
    for (size_t i = 0; i < h->n; i++)
        by_off[i] = &h->e[i];
    if (h->n)
        qsort(by_off, h->n, sizeof *by_off, cmp_entry_offset);
    uint64_t pos = 0;
    vkdl_status s = VKDL_OK;
    for (size_t i = 0; i < h->n && s == VKDL_OK; i++) {
        if (by_off[i]->begin != pos)
            s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s': \"%s\" starts at data offset %llu, expected %llu (%s)",
                          op, path, by_off[i]->name, (unsigned long long)by_off[i]->begin, (unsigned long long)pos,
                          by_off[i]->begin < pos ? "overlap" : "gap");
        pos = by_off[i]->end;
    }
    free(by_off);
    if (s == VKDL_OK && pos != data_bytes)
        s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s': the data section is %llu bytes but the entries cover %llu%s",
                      op, path, (unsigned long long)data_bytes, (unsigned long long)pos,
                      pos > data_bytes ? " (truncated file)" : "");
    return s;
}

static vkdl_status read_at(FILE *f, const char *path, uint64_t off, void *dst, size_t n)
{
    if (fseeko(f, (off_t)off, SEEK_SET) != 0)
        return vkdl_fail(VKDL_ERROR_IO, "safetensors_load: seeking in '%s': %s", path, strerror(errno));
    if (fread(dst, 1, n, f) != n) {
        if (ferror(f))
            return vkdl_fail(VKDL_ERROR_IO, "safetensors_load: reading '%s': %s", path, strerror(errno));
        return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "safetensors_load: '%s' is truncated", path);
    }
    return VKDL_OK;
}

static vkdl_status read_header(FILE *f, const char *path, st_header *h, uint64_t *data_start)
{
    const char *op = "safetensors_load";
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0)
        return vkdl_fail(VKDL_ERROR_IO, "%s: stat '%s': %s", op, path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return vkdl_fail(VKDL_ERROR_IO, "%s: '%s': %s", op, path, strerror(EISDIR));
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8)
        return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s' is %llu bytes, too short for a safetensors header", op,
                         path, (unsigned long long)size);
    uint8_t len8[8];
    VKDL_TRY(read_at(f, path, 0, len8, 8));
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | len8[i];
    if (n == 0 || n > MAX_HEADER || n > size - 8)
        return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s': header length %llu is impossible (file is %llu bytes, limit %llu)",
                         op, path, (unsigned long long)n, (unsigned long long)size, (unsigned long long)MAX_HEADER);
    char *text = malloc((size_t)n);
    if (!text)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory for a %llu-byte header", op,
                         (unsigned long long)n);
    vkdl_status s = read_at(f, path, 8, text, (size_t)n);
    if (s == VKDL_OK) {
        parser P = {text, text, text + n, NULL, NULL};
        if (!parse_header(&P, h))
            s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "%s: '%s': bad header at byte %zu: %s", op, path,
                          (size_t)(P.err_at - P.start), P.err);
    }
    free(text);
    VKDL_TRY(s);
    *data_start = 8 + n;
    return check_entries(path, h, size - 8 - n);
}

static const st_entry *find_entry(const st_header *h, const char *name)
{
    st_entry key = {.name = (char *)name, .name_len = strlen(name)};
    if (!h->n)
        return NULL;
    return bsearch(&key, h->e, h->n, sizeof *h->e, cmp_entry_name);
}

static void entry_shape_str(const st_entry *e, char *buf, size_t n)
{
    if (e->ndim > VKDL_MAX_DIMS) {
        snprintf(buf, n, "%d-dimensional", e->ndim);
        return;
    }
    vkdl_tensor t = {.ndim = e->ndim};
    memcpy(t.shape, e->shape, sizeof t.shape);
    vkdl_shape_str(&t, buf, n);
}

static vkdl_status load(const char *path, int count, const char *const *names, vkdl_tensor *const *tensors, bool *found)
{
    const char *op = "safetensors_load";
    VKDL_TRY(check_list(op, path, count, names, tensors));
    FILE *f = fopen(path, "rb");
    if (!f)
        return vkdl_fail(VKDL_ERROR_IO, "%s: cannot open '%s': %s", op, path, strerror(errno));
    st_header h = {0};
    uint64_t data_start = 0;
    vkdl_status s = read_header(f, path, &h, &data_start);
    /* Check every request before touching any tensor, so a bad call changes nothing. */
    for (int i = 0; i < count && s == VKDL_OK; i++) {
        const st_entry *e = find_entry(&h, names[i]);
        const vkdl_tensor *t = tensors[i];
        if (found)
            found[i] = e != NULL;
        if (!e && found)
            continue;
        if (!e) {
            s = vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: '%s' has no tensor \"%s\"", op, path, names[i]);
            break;
        }
        if (e->ndim != t->ndim || memcmp(e->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim)) {
            char fs[VKDL_SHAPE_BUF], ts[VKDL_SHAPE_BUF];
            entry_shape_str(e, fs, sizeof fs);
            s = vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: \"%s\" is %s in '%s' but the tensor is %s", op, names[i], fs,
                          path, vkdl_shape_str(t, ts, sizeof ts));
        }
    }
    for (int i = 0; i < count && s == VKDL_OK; i++) {
        const st_entry *e = find_entry(&h, names[i]);
        if (!e)
            continue;
        size_t bytes = (size_t)(e->end - e->begin);
        if (!bytes)
            continue;
        void *data = malloc(bytes);
        if (!data) {
            s = vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory (%zu bytes)", op, bytes);
            break;
        }
        s = read_at(f, path, data_start + e->begin, data, bytes);
        if (s == VKDL_OK) {
            swap_if_big_endian(data, bytes, vkdl_dtype_size(e->dtype));
            s = vkdl_tensor_upload(tensors[i], data, e->dtype, bytes);
        }
        free(data);
    }
    header_free(&h);
    fclose(f);
    return s;
}

vkdl_status vkdl_safetensors_load(const char *path, int count, const char *const *names, vkdl_tensor *const *tensors)
{
    return load(path, count, names, tensors, NULL);
}

vkdl_status vkdl_safetensors_load_found(const char *path, int count, const char *const *names,
                                        vkdl_tensor *const *tensors, bool *found)
{
    return load(path, count, names, tensors, found);
}
