/* Reader for the golden fixtures of tools/gen_fixtures.py: see fixture.h. */
#include "fixture.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX_MAGIC "VKDLFIX1"
#define FX_MAX_FILE (64u << 20)
#define FX_MAX_TENSORS 4096u
#define FX_MAX_NAME 255u

struct fx_file {
    int count;
    fx_tensor *tensors;
};

/* A bounds-checked cursor over the file's bytes. */
typedef struct reader {
    const uint8_t *p;
    size_t left;
} reader;

static int fail(char *err, size_t err_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t err_size, const char *fmt, ...)
{
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int take(reader *r, void *dst, size_t n)
{
    if (r->left < n)
        return -1;
    memcpy(dst, r->p, n);
    r->p += n;
    r->left -= n;
    return 0;
}

/* Little-endian decoding by shifts, so the host's byte order does not matter. */
static int take_u32(reader *r, uint32_t *v)
{
    uint8_t b[4];
    if (take(r, b, 4))
        return -1;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 0;
}

static int take_i64(reader *r, int64_t *v)
{
    uint8_t b[8];
    if (take(r, b, 8))
        return -1;
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--)
        u = u << 8 | b[i];
    memcpy(v, &u, sizeof u);
    return 0;
}

static uint8_t *read_all(const char *path, size_t *size, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            if (cap >= FX_MAX_FILE) {
                fail(err, err_size, "%s: larger than %u bytes", path, FX_MAX_FILE);
                goto bad;
            }
            cap = cap ? 2 * cap : 1u << 16;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                fail(err, err_size, "%s: out of memory", path);
                goto bad;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                fail(err, err_size, "%s: read error", path);
                goto bad;
            }
            break;
        }
    }
    fclose(f);
    *size = n;
    return buf;
bad:
    free(buf);
    fclose(f);
    return NULL;
}

static int parse_tensor(reader *r, fx_tensor *t, int index, const char *path, char *err, size_t err_size)
{
    uint32_t name_len, dtype, ndim;
    if (take_u32(r, &name_len))
        return fail(err, err_size, "%s: truncated in tensor %d's name length", path, index);
    if (name_len == 0 || name_len > FX_MAX_NAME)
        return fail(err, err_size, "%s: tensor %d has a name of %u bytes", path, index, name_len);
    char *name = calloc(name_len + 1, 1);
    if (!name)
        return fail(err, err_size, "%s: out of memory", path);
    t->name = name;
    if (take(r, name, name_len))
        return fail(err, err_size, "%s: truncated in tensor %d's name", path, index);
    for (uint32_t i = 0; i < name_len; i++)
        if (name[i] < 0x21 || name[i] > 0x7e)
            return fail(err, err_size, "%s: tensor %d's name has a non-printable byte", path, index);
    if (take_u32(r, &dtype) || take_u32(r, &ndim))
        return fail(err, err_size, "%s: truncated in the header of tensor \"%s\"", path, name);
    if (dtype != VKDL_F32 && dtype != VKDL_I32)
        return fail(err, err_size, "%s: tensor \"%s\" has dtype code %u (only f32 = 0, i32 = 3)", path, name, dtype);
    if (ndim > VKDL_MAX_DIMS)
        return fail(err, err_size, "%s: tensor \"%s\" has %u dims (max %d)", path, name, ndim, VKDL_MAX_DIMS);
    t->dtype = (vkdl_dtype)dtype;
    t->ndim = (int)ndim;
    int64_t numel = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        if (take_i64(r, &t->shape[d]))
            return fail(err, err_size, "%s: truncated in the dims of tensor \"%s\"", path, name);
        if (t->shape[d] < 0 || t->shape[d] > (int64_t)FX_MAX_FILE)
            return fail(err, err_size, "%s: tensor \"%s\" has dim %u = %lld", path, name, d, (long long)t->shape[d]);
        numel *= t->shape[d];
        if (numel > (int64_t)FX_MAX_FILE)
            return fail(err, err_size, "%s: tensor \"%s\" has too many elements", path, name);
    }
    t->numel = numel;
    size_t bytes = (size_t)numel * 4;
    if (r->left < bytes)
        return fail(err, err_size, "%s: truncated: tensor \"%s\" needs %zu data bytes, %zu left", path, name, bytes,
                    r->left);
    uint32_t *data = malloc(bytes ? bytes : 1);
    if (!data)
        return fail(err, err_size, "%s: out of memory", path);
    t->data = data;
    for (int64_t i = 0; i < numel; i++)
        take_u32(r, &data[i]);
    return 0;
}

fx_file *fx_load(const char *path, char *err, size_t err_size)
{
    size_t size = 0;
    uint8_t *buf = read_all(path, &size, err, err_size);
    if (!buf)
        return NULL;
    reader r = {buf, size};
    fx_file *fx = calloc(1, sizeof *fx);
    char magic[8];
    uint32_t count = 0;
    if (!fx) {
        fail(err, err_size, "%s: out of memory", path);
        goto bad;
    }
    if (take(&r, magic, sizeof magic) || memcmp(magic, FX_MAGIC, sizeof magic) != 0) {
        fail(err, err_size, "%s: not a vkdl fixture (bad magic)", path);
        goto bad;
    }
    if (take_u32(&r, &count) || count > FX_MAX_TENSORS) {
        fail(err, err_size, "%s: bad or missing tensor count", path);
        goto bad;
    }
    fx->tensors = calloc(count ? count : 1, sizeof *fx->tensors);
    if (!fx->tensors) {
        fail(err, err_size, "%s: out of memory", path);
        goto bad;
    }
    for (uint32_t i = 0; i < count; i++) {
        /* counted before parsing so that fx_free releases a partly filled tensor */
        fx->count = (int)i + 1;
        if (parse_tensor(&r, &fx->tensors[i], (int)i, path, err, err_size))
            goto bad;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(fx->tensors[j].name, fx->tensors[i].name) == 0) {
                fail(err, err_size, "%s: tensor \"%s\" appears twice", path, fx->tensors[i].name);
                goto bad;
            }
    }
    if (r.left) {
        fail(err, err_size, "%s: %zu unexpected bytes after the last tensor", path, r.left);
        goto bad;
    }
    free(buf);
    return fx;
bad:
    free(buf);
    fx_free(fx);
    return NULL;
}

void fx_path(const char *name, char *path, size_t size)
{
    const char *dir = getenv("VKDL_TEST_DATA");
    snprintf(path, size, "%s/%s", dir && *dir ? dir : VKDL_TEST_DATA, name);
}

const fx_tensor *fx_get(const fx_file *fx, const char *name)
{
    for (int i = 0; fx && i < fx->count; i++)
        if (strcmp(fx->tensors[i].name, name) == 0)
            return &fx->tensors[i];
    return NULL;
}

int fx_count(const fx_file *fx) { return fx ? fx->count : 0; }

const fx_tensor *fx_at(const fx_file *fx, int i) { return fx && i >= 0 && i < fx->count ? &fx->tensors[i] : NULL; }

void fx_free(fx_file *fx)
{
    if (!fx)
        return;
    for (int i = 0; i < fx->count; i++) {
        free((void *)fx->tensors[i].name);
        free((void *)fx->tensors[i].data);
    }
    free(fx->tensors);
    free(fx);
}
