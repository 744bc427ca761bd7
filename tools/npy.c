/* The .npy format: "\x93NUMPY", a version, a header length, then a Python dict literal with the
 * element type, the order and the shape, padded to 64 bytes; then the raw elements. */
#include "npy.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct { vkdl_dtype dtype; const char *descr; } DESCR[] = {
    {VKDL_F32, "<f4"}, {VKDL_F64, "<f8"}, {VKDL_F16, "<f2"}, {VKDL_I64, "<i8"}, {VKDL_I32, "<i4"},
    {VKDL_I16, "<i2"}, {VKDL_I8, "|i1"}, {VKDL_U8, "|u1"}, {VKDL_U16, "<u2"}, {VKDL_U32, "<u4"},
    {VKDL_U64, "<u8"}, {VKDL_BOOL, "|b1"},
};

static vkdl_status bad(const char *path, const char *why)
{
    fprintf(stderr, "npy: %s: %s\n", path, why);
    return VKDL_ERROR_CORRUPT_DATA;
}

vkdl_status npy_read(const char *path, vkdl_host_tensor *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "npy: cannot open %s: %s\n", path, strerror(errno));
        return VKDL_ERROR_IO;
    }
    unsigned char pre[10];
    vkdl_status s = VKDL_OK;
    char *header = NULL;
    if (fread(pre, 1, 8, f) != 8 || memcmp(pre, "\x93NUMPY", 6) || pre[6] < 1 || pre[6] > 3) {
        s = bad(path, "not a .npy file");
        goto done;
    }
    size_t hl;
    if (pre[6] == 1) {
        if (fread(pre + 8, 1, 2, f) != 2) {
            s = bad(path, "truncated header");
            goto done;
        }
        hl = pre[8] | (size_t)pre[9] << 8;
    } else {
        unsigned char l[4];
        if (fread(l, 1, 4, f) != 4) {
            s = bad(path, "truncated header");
            goto done;
        }
        hl = l[0] | (size_t)l[1] << 8 | (size_t)l[2] << 16 | (size_t)l[3] << 24;
    }
    if (hl > (1u << 20) || !(header = malloc(hl + 1)) || fread(header, 1, hl, f) != hl) {
        s = bad(path, "bad header length");
        goto done;
    }
    header[hl] = 0;
    const char *d = strstr(header, "'descr':"), *o = strstr(header, "'fortran_order':"), *sh = strstr(header, "'shape':");
    if (!d || !o || !sh) {
        s = bad(path, "header lacks descr, fortran_order or shape");
        goto done;
    }
    if (strncmp(o + 16 + strspn(o + 16, " "), "False", 5)) {
        s = bad(path, "Fortran order is not supported (save with np.ascontiguousarray)");
        goto done;
    }
    d = strchr(d + 8, '\'');
    bool found = false;
    for (size_t i = 0; d && i < sizeof DESCR / sizeof *DESCR; i++)
        if (!strncmp(d + 1, DESCR[i].descr, 3) && d[4] == '\'') {
            out->dtype = DESCR[i].dtype;
            found = true;
        }
    if (!found) {
        s = bad(path, "element type not supported (little-endian numbers and bools only)");
        goto done;
    }
    const char *p = strchr(sh, '(');
    if (!p) {
        s = bad(path, "bad shape");
        goto done;
    }
    p++;
    int64_t numel = 1;
    while (*p && *p != ')') {
        p += strspn(p, " ,");
        if (*p == ')')
            break;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || out->ndim == VKDL_MAX_DIMS || (v && numel > INT64_MAX / v)) {
            s = bad(path, "bad shape");
            goto done;
        }
        out->shape[out->ndim++] = v;
        numel *= v;
        p = end;
    }
    size_t es = vkdl_dtype_size(out->dtype);
    if ((uint64_t)numel > SIZE_MAX / 2 / es) {
        s = bad(path, "too large");
        goto done;
    }
    out->bytes = (size_t)numel * es;
    void *data = malloc(out->bytes ? out->bytes : 1);
    if (!data) {
        s = VKDL_ERROR_OUT_OF_HOST_MEMORY;
        goto done;
    }
    if (fread(data, 1, out->bytes, f) != out->bytes) {
        free(data);
        s = bad(path, "shorter than its shape says");
        goto done;
    }
    out->data = data;
done:
    free(header);
    fclose(f);
    return s;
}

vkdl_status npy_write(const char *path, const vkdl_host_tensor *t)
{
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof DESCR / sizeof *DESCR; i++)
        if (DESCR[i].dtype == t->dtype)
            descr = DESCR[i].descr;
    if (!descr) {
        fprintf(stderr, "npy: %s: dtype %s has no NumPy equivalent\n", path, vkdl_dtype_name(t->dtype));
        return VKDL_ERROR_INVALID_ARGUMENT;
    }
    char shape[256] = "", header[512];
    size_t at = 0;
    for (int d = 0; d < t->ndim; d++)
        at += (size_t)snprintf(shape + at, sizeof shape - at, "%lld,%s", (long long)t->shape[d],
                               d + 1 < t->ndim ? " " : "");
    int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape);
    size_t total = 10 + (size_t)n + 1, pad = (64 - total % 64) % 64;
    memset(header + n, ' ', pad);
    header[n + pad] = '\n';
    size_t hl = (size_t)n + pad + 1;
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "npy: cannot write %s: %s\n", path, strerror(errno));
        return VKDL_ERROR_IO;
    }
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
    bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, hl, f) == hl &&
              fwrite(t->data, 1, t->bytes, f) == t->bytes;
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        fprintf(stderr, "npy: writing %s failed\n", path);
        return VKDL_ERROR_IO;
    }
    return VKDL_OK;
}
