/* Checkpoints in the safetensors format (lib/io/safetensors.c): bit-exact round trips of every
 * dtype and of scalar and empty tensors on both backends and across them, loading into another
 * dtype, a reference file written by tools/gen_safetensors_ref.py with json + struct only (keys
 * not sorted, data not in header order, no padding, \uXXXX names, extra metadata), and files that
 * must be rejected cleanly: every truncation, flipped header bytes, wrong header lengths and
 * hand-written headers breaking each rule of the format. Comparisons are exact (no tolerance):
 * saving and loading only copy bytes, and the conversions checked use exactly representable
 * values. */
#include "fixture.h"
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void path_in_dir(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

static const vkdl_dtype DTYPES[] = {VKDL_F32, VKDL_F16, VKDL_BF16, VKDL_I32, VKDL_U8};
static const struct {
    int ndim;
    int64_t shape[4];
} SHAPES[] = {{0, {0}}, {2, {0, 3}}, {1, {1}}, {2, {3, 17}}, {4, {2, 3, 1, 5}}, {1, {127}}};
#define N_DT (sizeof DTYPES / sizeof *DTYPES)
#define N_SH (sizeof SHAPES / sizeof *SHAPES)
#define N_RT (N_DT * N_SH)

static vkdl_tensor *make(vkdl_context *ctx, vkdl_dtype dt, int ndim, const int64_t *shape)
{
    vkdl_tensor *t = NULL;
    TH_OK(vkdl_tensor_create(ctx, dt, ndim, shape, &t));
    return t;
}

static void *download_raw(vkdl_tensor *t, size_t *bytes)
{
    *bytes = (size_t)vkdl_tensor_numel(t) * vkdl_dtype_size(vkdl_tensor_dtype(t));
    void *p = malloc(*bytes ? *bytes : 1);
    if (p)
        TH_OK(vkdl_tensor_download(t, p, vkdl_tensor_dtype(t), *bytes));
    return p;
}

static bool read_file(const char *path, uint8_t **buf, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc(*n ? *n : 1);
    bool ok = *buf && fread(*buf, 1, *n, f) == *n;
    fclose(f);
    return ok;
}

static void write_bytes(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, n, f) != n)
        th_fail("writing %s: %s", path, strerror(errno));
    if (f)
        fclose(f);
}

/* A file with the given header (its length field = hdr_len, or the real length if ~0) and data. */
static void write_st(const char *path, const char *json, uint64_t hdr_len, const void *data, size_t data_n)
{
    size_t jn = strlen(json);
    uint64_t len = hdr_len == ~(uint64_t)0 ? jn : hdr_len;
    uint8_t *buf = malloc(8 + jn + data_n);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(len >> (8 * i));
    memcpy(buf + 8, json, jn);
    if (data_n)
        memcpy(buf + 8 + jn, data, data_n);
    write_bytes(path, buf, 8 + jn + data_n);
    free(buf);
}

/* ------------------------------------------------------------------ round trips */

typedef struct rt_case {
    vkdl_context **save_ctx, **load_ctx;
} rt_case;

static void run_roundtrip(void *arg)
{
    const rt_case *c = arg;
    vkdl_tensor *src[N_RT + 2] = {0}, *dst[N_RT + 2] = {0};
    char name_store[N_RT][32];
    const char *names[N_RT + 2];
    int n = 0;
    for (size_t d = 0; d < N_DT; d++)
        for (size_t s = 0; s < N_SH; s++, n++) {
            /* Names in reverse of sorted order, so the writer has to sort them. */
            snprintf(name_store[n], sizeof name_store[n], "t%02d.%s", 99 - n, vkdl_dtype_name(DTYPES[d]));
            names[n] = name_store[n];
            src[n] = make(*c->save_ctx, DTYPES[d], SHAPES[s].ndim, SHAPES[s].shape);
        }
    names[n] = "caf\xc3\xa9 \xf0\x9f\x98\x80";
    src[n++] = make(*c->save_ctx, VKDL_F32, 1, (int64_t[]){3});
    names[n] = "q\"\\/\n\x01";
    src[n++] = make(*c->save_ctx, VKDL_U8, 1, (int64_t[]){2});
    for (int i = 0; i < n; i++) {
        if (!src[i])
            goto out;
        size_t bytes = (size_t)vkdl_tensor_numel(src[i]) * vkdl_dtype_size(vkdl_tensor_dtype(src[i]));
        uint8_t *r = malloc(bytes + 1);
        /* Raw random bits: NaN payloads and denormals must survive too. */
        for (size_t k = 0; k < bytes; k++)
            r[k] = (uint8_t)th_randu(256);
        TH_OK(vkdl_tensor_upload(src[i], r, vkdl_tensor_dtype(src[i]), bytes));
        free(r);
        dst[i] = make(*c->load_ctx, vkdl_tensor_dtype(src[i]), vkdl_tensor_ndim(src[i]),
                      (int64_t[]){vkdl_tensor_dim(src[i], 0), vkdl_tensor_dim(src[i], 1), vkdl_tensor_dim(src[i], 2),
                                  vkdl_tensor_dim(src[i], 3)});
        if (!dst[i])
            goto out;
        TH_OK(vkdl_tensor_fill(dst[i], 0));
    }
    char path[128];
    path_in_dir(path, sizeof path, "rt.safetensors");
    /* Twice: the second save replaces the first file. */
    TH_OK(vkdl_safetensors_save(path, n, names, src));
    TH_OK(vkdl_safetensors_save(path, n, names, src));
    TH_TRUE(th_tmpdir_count(dir, ".tmp") == 0);
    TH_OK(vkdl_safetensors_load(path, n, names, dst));
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        size_t a_n, b_n;
        void *a = download_raw(src[i], &a_n), *b = download_raw(dst[i], &b_n);
        if (!TH_TRUE(a && b && a_n == b_n && !memcmp(a, b, a_n)))
            th_fail("tensor \"%s\" differs after the round trip", names[i]);
        total += a_n;
        free(a);
        free(b);
    }
    uint8_t *file;
    size_t fn;
    if (TH_TRUE(read_file(path, &file, &fn))) {
        uint64_t hl = 0;
        for (int i = 7; i >= 0; i--)
            hl = hl << 8 | file[i];
        TH_TRUE(hl % 8 == 0 && fn == 8 + hl + total);
        TH_TRUE(!memcmp(file + 8, "{\"__metadata__\":{\"format\":\"pt\"}", 31));
        char *h = strndup((const char *)file + 8, (size_t)hl);
        /* sorted by bytes: "caf\xc3..." < "q..." < "t70..." < "t99..." */
        char *p1 = strstr(h, "\"caf"), *p2 = strstr(h, "\"q\\\"\\\\/\\u000a\\u0001\"");
        char *p3 = strstr(h, "\"t70."), *p4 = strstr(h, "\"t99.");
        if (!TH_TRUE(p1 && p2 && p3 && p4 && p1 < p2 && p2 < p3 && p3 < p4))
            th_fail("names not escaped or not sorted: %s", h);
        free(h);
        free(file);
    }
out:
    for (int i = 0; i < n; i++) {
        vkdl_tensor_destroy(src[i]);
        vkdl_tensor_destroy(dst[i]);
    }
}

/* An F32 entry loaded into every dtype, and entries of every dtype loaded into F32. */
static void run_convert(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    static const float v[5] = {0, 1, 2, 96, 100};
    int64_t shape[1] = {5};
    vkdl_tensor *src[N_DT] = {0};
    const char *names[N_DT] = {"f32", "f16", "bf16", "i32", "u8"};
    for (size_t d = 0; d < N_DT; d++) {
        src[d] = make(ctx, DTYPES[d], 1, shape);
        if (src[d])
            TH_OK(vkdl_tensor_upload(src[d], v, VKDL_F32, sizeof v));
    }
    char path[128];
    path_in_dir(path, sizeof path, "convert.safetensors");
    TH_OK(vkdl_safetensors_save(path, (int)N_DT, names, src));
    for (size_t d = 0; d < N_DT; d++) {
        vkdl_tensor *from_f32 = make(ctx, DTYPES[d], 1, shape), *to_f32 = make(ctx, VKDL_F32, 1, shape);
        float got[5];
        TH_OK(vkdl_safetensors_load(path, 1, &names[0], &from_f32));
        TH_OK(vkdl_tensor_download(from_f32, got, VKDL_F32, sizeof got));
        if (!TH_TRUE(!memcmp(got, v, sizeof v)))
            th_fail("F32 entry loaded into %s", vkdl_dtype_name(DTYPES[d]));
        TH_OK(vkdl_safetensors_load(path, 1, &names[d], &to_f32));
        TH_OK(vkdl_tensor_download(to_f32, got, VKDL_F32, sizeof got));
        if (!TH_TRUE(!memcmp(got, v, sizeof v)))
            th_fail("%s entry loaded into f32", names[d]);
        vkdl_tensor_destroy(from_f32);
        vkdl_tensor_destroy(to_f32);
    }
    for (size_t d = 0; d < N_DT; d++)
        vkdl_tensor_destroy(src[d]);
}

/* ------------------------------------------------------------------ reference file */

static void run_reference(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    char path[512];
    fx_path("safetensors_ref.safetensors", path, sizeof path);
    /* A subset, in another order than the file's; "count" and "z.weight" as other dtypes too. */
    const char *names[] = {"emb.\xc3\xa9", "z.weight", "mask \xf0\x9f\x98\x80", "a.bias", "scalar", "empty", "count",
                           "z.weight", "count"};
    vkdl_tensor *t[9] = {
        make(ctx, VKDL_F16, 1, (int64_t[]){4}),  make(ctx, VKDL_F32, 2, (int64_t[]){2, 3}),
        make(ctx, VKDL_U8, 1, (int64_t[]){5}),   make(ctx, VKDL_BF16, 2, (int64_t[]){2, 2}),
        make(ctx, VKDL_F32, 0, NULL),            make(ctx, VKDL_F32, 2, (int64_t[]){0, 3}),
        make(ctx, VKDL_I32, 1, (int64_t[]){3}),  make(ctx, VKDL_BF16, 2, (int64_t[]){2, 3}),
        make(ctx, VKDL_F32, 1, (int64_t[]){3}),
    };
    if (TH_OK(vkdl_safetensors_load(path, 9, names, t))) {
        float f[6];
        TH_OK(vkdl_tensor_download(t[0], f, VKDL_F32, 4 * sizeof *f));
        TH_TRUE(f[0] == 0.5f && f[1] == -1.0f && f[2] == 65504.0f && f[3] == 0x1p-24f);
        TH_OK(vkdl_tensor_download(t[1], f, VKDL_F32, 6 * sizeof *f));
        TH_TRUE(f[0] == 1.5f && f[1] == -2.0f && f[2] == 0.25f && f[3] == 3.0f && f[4] == -0.125f && f[5] == 1e-3f);
        uint8_t u[5];
        TH_OK(vkdl_tensor_download(t[2], u, VKDL_U8, sizeof u));
        TH_TRUE(u[0] == 0 && u[1] == 1 && u[2] == 127 && u[3] == 128 && u[4] == 255);
        TH_OK(vkdl_tensor_download(t[3], f, VKDL_F32, 4 * sizeof *f));
        TH_TRUE(f[0] == 1.0f && f[1] == -3.5f && f[2] == 256.0f && f[3] == 0.0078125f);
        TH_OK(vkdl_tensor_download(t[4], f, VKDL_F32, sizeof *f));
        TH_TRUE(f[0] == 42.0f);
        int32_t i[3];
        TH_OK(vkdl_tensor_download(t[6], i, VKDL_I32, sizeof i));
        TH_TRUE(i[0] == 7 && i[1] == INT32_MIN && i[2] == INT32_MAX);
        TH_OK(vkdl_tensor_download(t[7], f, VKDL_F32, 6 * sizeof *f));
        TH_TRUE(f[0] == 1.5f && f[1] == -2.0f && f[2] == 0.25f && f[3] == 3.0f && f[4] == -0.125f);
        TH_OK(vkdl_tensor_download(t[8], f, VKDL_F32, 3 * sizeof *f));
        TH_TRUE(f[0] == 7.0f && f[2] == 2147483648.0f);
    }
    for (int k = 0; k < 9; k++)
        vkdl_tensor_destroy(t[k]);
}

/* ------------------------------------------------------------------ errors */

static void run_bad_args(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    vkdl_tensor *a = make(ctx, VKDL_F32, 2, (int64_t[]){2, 3}), *b = make(ctx, VKDL_F32, 2, (int64_t[]){3, 2});
    vkdl_tensor *ab[2] = {a, b}, *an[2] = {a, NULL};
    const char *names[2] = {"a", "b"}, *dup[2] = {"w", "w"}, *nn[2] = {"a", NULL}, *meta[1] = {"__metadata__"};
    if (!a || !b)
        goto out;
    TH_OK(vkdl_tensor_fill(a, 1));
    TH_OK(vkdl_tensor_fill(b, 2));
    char path[128];
    path_in_dir(path, sizeof path, "args.safetensors");
    const vkdl_status INV = VKDL_ERROR_INVALID_ARGUMENT;
    TH_STATUS(vkdl_safetensors_save(NULL, 2, names, ab), INV, "path is NULL");
    TH_STATUS(vkdl_safetensors_save(path, -1, names, ab), INV, "count is -1");
    TH_STATUS(vkdl_safetensors_save(path, 2, NULL, ab), INV, "names is NULL");
    TH_STATUS(vkdl_safetensors_save(path, 2, names, NULL), INV, "tensors is NULL");
    TH_STATUS(vkdl_safetensors_save(path, 2, nn, ab), INV, "names[1] is NULL");
    TH_STATUS(vkdl_safetensors_save(path, 2, names, an), INV, "tensors[1]");
    TH_STATUS(vkdl_safetensors_save(path, 2, dup, ab), INV, "\"w\" appears twice");
    TH_STATUS(vkdl_safetensors_save(path, 1, meta, ab), INV, "reserved");
    TH_STATUS(vkdl_safetensors_save(path, 1, (const char *[]){"\xff"}, ab), INV, "UTF-8");
    TH_STATUS(vkdl_safetensors_save("/nonexistent-dir/x.safetensors", 1, names, ab), VKDL_ERROR_IO,
              "No such file or directory");
    TH_TRUE(th_tmpdir_count(dir, ".tmp") == 0);

    TH_OK(vkdl_safetensors_save(path, 1, names, ab));
    TH_STATUS(vkdl_safetensors_load(NULL, 1, names, ab), INV, "path is NULL");
    TH_STATUS(vkdl_safetensors_load(path, -3, names, ab), INV, "count is -3");
    TH_STATUS(vkdl_safetensors_load(path, 1, NULL, ab), INV, "names is NULL");
    TH_STATUS(vkdl_safetensors_load(path, 2, names, an), INV, "tensors[1]");
    TH_STATUS(vkdl_safetensors_load(path, 2, names, ab), INV, "no tensor \"b\"");
    TH_STATUS(vkdl_safetensors_load(path, 1, names, &b), VKDL_ERROR_SHAPE_MISMATCH, "\"a\" is 2x3 in");
    TH_STATUS(vkdl_safetensors_load(path, 1, names, &b), VKDL_ERROR_SHAPE_MISMATCH, "but the tensor is 3x2");
    TH_STATUS(vkdl_safetensors_load(dir, 1, names, ab), VKDL_ERROR_IO, "Is a directory");
    char missing[160];
    path_in_dir(missing, sizeof missing, "missing.safetensors");
    TH_STATUS(vkdl_safetensors_load(missing, 1, names, ab), VKDL_ERROR_IO, "No such file or directory");
    TH_OK(vkdl_safetensors_load(path, 0, NULL, NULL));
out:
    vkdl_tensor_destroy(a);
    vkdl_tensor_destroy(b);
}

/* A small valid file: an f32 [2, 3], an empty i32 [0, 4] and a u8 [3]. */
static bool make_sample(vkdl_context *ctx, const char *path, uint8_t **buf, size_t *n)
{
    vkdl_tensor *t[3] = {make(ctx, VKDL_F32, 2, (int64_t[]){2, 3}), make(ctx, VKDL_I32, 2, (int64_t[]){0, 4}),
                         make(ctx, VKDL_U8, 1, (int64_t[]){3})};
    const char *names[3] = {"w", "e", "m"};
    bool ok = t[0] && t[1] && t[2];
    if (ok) {
        TH_OK(vkdl_tensor_fill(t[0], 1.25));
        TH_OK(vkdl_tensor_fill(t[2], 9));
        ok = TH_OK(vkdl_safetensors_save(path, 3, names, t)) && TH_TRUE(read_file(path, buf, n));
    }
    for (int i = 0; i < 3; i++)
        vkdl_tensor_destroy(t[i]);
    return ok;
}

static vkdl_status load_sample(vkdl_context *ctx, const char *path)
{
    vkdl_tensor *t[3] = {make(ctx, VKDL_F32, 2, (int64_t[]){2, 3}), make(ctx, VKDL_I32, 2, (int64_t[]){0, 4}),
                         make(ctx, VKDL_U8, 1, (int64_t[]){3})};
    const char *names[3] = {"w", "e", "m"};
    vkdl_status s = vkdl_safetensors_load(path, 3, names, t);
    for (int i = 0; i < 3; i++)
        vkdl_tensor_destroy(t[i]);
    return s;
}

enum { PATH_LEN = 128 };

/* For the damaged-file cases: writes the sample file on ctx into path and returns its bytes (*buf, *n), and
 * names the file the damaged copies go to (copy_name in the test's directory) in copy_path. */
static bool damage_setup(vkdl_context *ctx, char *path, char *copy_path, const char *copy_name, uint8_t **buf,
                         size_t *n)
{
    path_in_dir(path, PATH_LEN, "sample.safetensors");
    path_in_dir(copy_path, PATH_LEN, copy_name);
    return make_sample(ctx, path, buf, n);
}

static void run_truncate(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    char path[PATH_LEN], cut_path[PATH_LEN];
    uint8_t *buf;
    size_t n;
    if (!damage_setup(ctx, path, cut_path, "cut.safetensors", &buf, &n))
        return;
    TH_OK(load_sample(ctx, path));
    for (size_t cut = 0; cut < n; cut++) {
        write_bytes(cut_path, buf, cut);
        if (!TH_STATUS(load_sample(ctx, cut_path), VKDL_ERROR_CORRUPT_DATA, cut_path)) {
            th_fail("file truncated to %zu of %zu bytes", cut, n);
            break;
        }
    }
    free(buf);
}

/* Every header byte flipped two ways: any outcome but a crash or a wrong success is fine. */
static void run_flip(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    char path[PATH_LEN], bad_path[PATH_LEN];
    uint8_t *buf;
    size_t n;
    if (!damage_setup(ctx, path, bad_path, "flip.safetensors", &buf, &n))
        return;
    size_t hl = buf[0] | (size_t)buf[1] << 8;
    for (size_t i = 0; i < 8 + hl; i++)
        for (int m = 0; m < 2; m++) {
            uint8_t orig = buf[i];
            buf[i] ^= m ? 0xFF : 0x01;
            write_bytes(bad_path, buf, n);
            vkdl_status s = load_sample(ctx, bad_path);
            buf[i] = orig;
            /* A flipped name byte makes a requested name missing (invalid argument). */
            if (s != VKDL_OK && s != VKDL_ERROR_CORRUPT_DATA && s != VKDL_ERROR_INVALID_ARGUMENT &&
                s != VKDL_ERROR_SHAPE_MISMATCH)
                th_fail("byte %zu ^ %s: unexpected status %s: %s", i, m ? "0xff" : "0x01", vkdl_status_string(s),
                        vkdl_last_error());
            if (s != VKDL_OK && !strstr(vkdl_last_error(), bad_path))
                th_fail("byte %zu: message does not name the file: %s", i, vkdl_last_error());
        }
    free(buf);
}

static void run_header_length(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    char path[128];
    path_in_dir(path, sizeof path, "len.safetensors");
    static const char json[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    static const float data[2] = {1, 2};
    const uint64_t real = strlen(json);
    const uint64_t lens[] = {0, real - 1, real + 1, real + 8, real + 9, (uint64_t)100 << 20, ((uint64_t)100 << 20) + 1,
                             (uint64_t)1 << 63, ~(uint64_t)1};
    vkdl_tensor *t = make(ctx, VKDL_F32, 1, (int64_t[]){2});
    const char *name = "a";
    write_st(path, json, ~(uint64_t)0, data, sizeof data);
    TH_OK(vkdl_safetensors_load(path, 1, &name, &t));
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        write_st(path, json, lens[i], data, sizeof data);
        if (!TH_STATUS(vkdl_safetensors_load(path, 1, &name, &t), VKDL_ERROR_CORRUPT_DATA, path))
            th_fail("header length %llu", (unsigned long long)lens[i]);
    }
    vkdl_tensor_destroy(t);
}

typedef struct crafted {
    const char *json;
    size_t data_bytes;
    vkdl_status want;
    const char *needle;
} crafted;

#define E2 "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"
static const crafted CRAFTED[] = {
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", 8, VKDL_ERROR_CORRUPT_DATA, "truncated"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 12, VKDL_ERROR_CORRUPT_DATA, "need 8 bytes"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, VKDL_ERROR_CORRUPT_DATA, "[8, 0]"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[18446744073709551615,7]}}", 8,
     VKDL_ERROR_CORRUPT_DATA, "data_offsets"},
    {"{\"a\":" E2 ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, VKDL_ERROR_CORRUPT_DATA,
     "overlap"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, VKDL_ERROR_CORRUPT_DATA, "gap"},
    {"{\"a\":" E2 "}", 12, VKDL_ERROR_CORRUPT_DATA, "data section is 12 bytes"},
    {"{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, VKDL_ERROR_CORRUPT_DATA, "unknown dtype"},
    {"{\"a\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, VKDL_ERROR_CORRUPT_DATA, "unknown dtype"},
    {"{\"a\":{\"dtype\":5,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, VKDL_ERROR_CORRUPT_DATA, "expected a string"},
    {"{\"a\":{\"dtype\":\"F32", 8, VKDL_ERROR_CORRUPT_DATA, "unterminated string"},
    {"{\"a\":" E2 "}x", 8, VKDL_ERROR_CORRUPT_DATA, "trailing"},
    {"{\"a\":" E2 "}}", 8, VKDL_ERROR_CORRUPT_DATA, "trailing"},
    {"{\"a\":" E2, 8, VKDL_ERROR_CORRUPT_DATA, "expected ',' or '}'"},
    {"{\"a\":" E2 ",}", 8, VKDL_ERROR_CORRUPT_DATA, "expected a string"},
    {"{\"a\":" E2 ",\"a\":" E2 "}", 8, VKDL_ERROR_CORRUPT_DATA, "duplicate tensor name \"a\""},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,8]}}", 8,
     VKDL_ERROR_CORRUPT_DATA, "overflows"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", 8,
     VKDL_ERROR_CORRUPT_DATA, "integer overflow"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, VKDL_ERROR_CORRUPT_DATA, "non-negative"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, VKDL_ERROR_CORRUPT_DATA, "integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}", 8, VKDL_ERROR_CORRUPT_DATA, "leading zero"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 8, VKDL_ERROR_CORRUPT_DATA, "two integers"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, VKDL_ERROR_CORRUPT_DATA, "two integers"},
    {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, VKDL_ERROR_CORRUPT_DATA, "needs dtype"},
    {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, VKDL_ERROR_CORRUPT_DATA,
     "repeated key"},
    {"{\"a\":{\"dtype\":\"F32\",\"extra\":1,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, VKDL_ERROR_CORRUPT_DATA,
     "unexpected"},
    {"{\"a\":[1]}", 8, VKDL_ERROR_CORRUPT_DATA, "must be an object"},
    {"[]", 8, VKDL_ERROR_CORRUPT_DATA, "must be a JSON object"},
    {"{\"__metadata__\":[],\"a\":" E2 "}", 8, VKDL_ERROR_CORRUPT_DATA, "__metadata__ must be an object"},
    {"{\"__metadata__\":{},\"__metadata__\":{},\"a\":" E2 "}", 8, VKDL_ERROR_CORRUPT_DATA, "repeated __metadata__"},
    {"{\"__metadata__\":{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}", 0, VKDL_ERROR_CORRUPT_DATA,
     "too deep"},
    {"{\"__metadata__\":{\"x\":[1,}}", 0, VKDL_ERROR_CORRUPT_DATA, "expected a value"},
    {"{\"__metadata__\":{\"x\":tru}}", 0, VKDL_ERROR_CORRUPT_DATA, "expected a value"},
    {"{\"__metadata__\":{\"x\":1.}}", 0, VKDL_ERROR_CORRUPT_DATA, "bad number"},
    {"{\"\\ud800\":" E2 "}", 8, VKDL_ERROR_CORRUPT_DATA, "surrogate"},
    {"{\"\\udc00x\":" E2 "}", 8, VKDL_ERROR_CORRUPT_DATA, "surrogate"},
    {"{\"a\\x\":" E2 "}", 8, VKDL_ERROR_CORRUPT_DATA, "bad escape"},
    {"{\"a\\u12\":" E2 "}", 8, VKDL_ERROR_CORRUPT_DATA, "bad escape"},
    {"{\"a\tb\":" E2 "}", 8, VKDL_ERROR_CORRUPT_DATA, "control character"},
    {"{\"a\xff\":" E2 "}", 8, VKDL_ERROR_CORRUPT_DATA, "UTF-8"},
    {"{\"a\xc0\xaf\":" E2 "}", 8, VKDL_ERROR_CORRUPT_DATA, "UTF-8"},
    {"{\"a\xed\xa0\x80\":" E2 "}", 8, VKDL_ERROR_CORRUPT_DATA, "UTF-8"},
    {"{\"a\" " E2 "}", 8, VKDL_ERROR_CORRUPT_DATA, "expected ':'"},
    {"", 0, VKDL_ERROR_CORRUPT_DATA, "header length 0"},
    /* valid: whitespace, escapes that decode to "a", ignored entries and any metadata values */
    {" \t\r\n{ \"\\u0061\" : { \"data_offsets\" : [ 0 , 8 ] , \"shape\" : [ 2 ] , \"dtype\" : \"F32\" } ,"
     "\"__metadata__\":{\"n\":[-1.5e+3,0,true,false,null,{\"k\":\"\\\"\\ud83d\\ude00\"}],\"s\":\"v\"},"
     "\"big\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1,0],\"data_offsets\":[8,8]}} \n",
     8, VKDL_OK, NULL},
    {"{\"a\":" E2 ",\"z\":{\"dtype\":\"I32\",\"shape\":[0],\"data_offsets\":[8,8]},"
     "\"y\":{\"dtype\":\"BF16\",\"shape\":[3,0],\"data_offsets\":[0,0]}}", 8, VKDL_OK, NULL},
};

static void run_crafted(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    char path[128];
    path_in_dir(path, sizeof path, "crafted.safetensors");
    static const float data[3] = {3, -4, 5};
    vkdl_tensor *t = make(ctx, VKDL_F32, 1, (int64_t[]){2});
    const char *name = "a";
    for (size_t i = 0; i < sizeof CRAFTED / sizeof *CRAFTED; i++) {
        const crafted *c = &CRAFTED[i];
        write_st(path, c->json, ~(uint64_t)0, data, c->data_bytes);
        vkdl_status s = vkdl_safetensors_load(path, 1, &name, &t);
        bool ok = c->want == VKDL_OK ? TH_OK(s) : TH_STATUS(s, c->want, c->needle) && TH_STATUS(s, c->want, path);
        if (!ok)
            th_fail("crafted header %zu: %s", i, c->json);
        if (ok && c->want == VKDL_OK) {
            float got[2];
            TH_OK(vkdl_tensor_download(t, got, VKDL_F32, sizeof got));
            TH_TRUE(got[0] == 3 && got[1] == -4);
        }
    }
    /* A tensor with more dims than vkdl allows: ignored unless asked for. */
    write_st(path, "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,2]}}", ~(uint64_t)0,
             data, 2);
    TH_STATUS(vkdl_safetensors_load(path, 1, &name, &t), VKDL_ERROR_SHAPE_MISMATCH, "10-dimensional");
    TH_OK(vkdl_safetensors_load(path, 0, NULL, NULL));
    vkdl_tensor_destroy(t);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    if (!th_tmpdir_make(dir, sizeof dir, "vkdl-st"))
        return 1;
    vkdl_context **ctx[2] = {&th_cpu, &th_gpu};
    char name[64];
    for (int s = 0; s < 2; s++)
        for (int l = 0; l < 2; l++) {
            rt_case c = {ctx[s], ctx[l]};
            snprintf(name, sizeof name, "roundtrip/%s-to-%s", TH_BACKEND[s], TH_BACKEND[l]);
            th_run(name, run_roundtrip, &c);
        }
    static const struct {
        const char *name;
        th_case_fn fn;
    } CASES[] = {{"convert", run_convert},   {"reference", run_reference}, {"bad_args", run_bad_args},
                 {"truncate", run_truncate}, {"flip", run_flip},           {"header_length", run_header_length},
                 {"crafted", run_crafted}};
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++)
        th_run_both(CASES[i].name, CASES[i].fn);
    th_tmpdir_remove(dir);
    return th_finish();
}
