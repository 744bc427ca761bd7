/* The pipeline cache file: written, reused, and every kind of corruption ignored. lib/runtime/pipeline.c */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* The one pipelines-*.bin entry in dir (path into out); counts leftover *.tmp files too. */
static int find_cache(const char *dir, char *out, size_t n, int *tmp_files)
{
    DIR *d = opendir(dir);
    int found = 0;
    if (tmp_files)
        *tmp_files = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "pipelines-", 10) == 0 && len > 4 && strcmp(e->d_name + len - 4, ".bin") == 0) {
            snprintf(out, n, "%s/%s", dir, e->d_name);
            found++;
        }
        if (tmp_files && len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0)
            (*tmp_files)++;
    }
    closedir(d);
    return found;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (long)st.st_size : -1;
}

static bool cache_valid(const char *path, const char *when)
{
    FILE *f = fopen(path, "rb");
    char hdr[72];
    bool ok = false;
    long size = file_size(path);
    if (f && size > 100 && fread(hdr, 1, sizeof hdr, f) == sizeof hdr && memcmp(hdr, "VKDLPC01", 8) == 0) {
        uint32_t header_size;
        uint64_t data_size;
        memcpy(&header_size, hdr + 8, 4);
        memcpy(&data_size, hdr + 56, 8);
        ok = header_size == sizeof hdr && (uint64_t)size == header_size + data_size;
    }
    if (f)
        fclose(f);
    if (!ok)
        th_fail("%s: %s is not a valid cache file (size %ld)", when, path, size);
    return ok;
}

/* A context on dir runs the graph correctly, sees no validation message and is destroyed. */
static void use_cache_dir(const char *dir, uint32_t flags, const char *when)
{
    vkdl_context *c = th_ctx_new(VKDL_BACKEND_VULKAN, flags, dir);
    if (!c) {
        th_fail("%s: no context", when);
        return;
    }
    th_graph_matches_cpu(c, when);
    th_ctx_done(c);
}

static bool write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(data, 1, n, f) == n;
    if (f)
        ok = fclose(f) == 0 && ok;
    if (!ok)
        th_fail("cannot write %s", path);
    return ok;
}

static void *read_file(const char *path, size_t *n)
{
    long size = file_size(path);
    FILE *f = fopen(path, "rb");
    void *p = size > 0 ? malloc((size_t)size) : NULL;
    if (!f || !p || fread(p, 1, (size_t)size, f) != (size_t)size) {
        free(p);
        p = NULL;
    }
    if (f)
        fclose(f);
    *n = p ? (size_t)size : 0;
    return p;
}

static void flip_byte(const char *path, long at)
{
    size_t n;
    uint8_t *p = read_file(path, &n);
    if (!p || (size_t)at >= n) {
        th_fail("cannot flip byte %ld of %s", at, path);
        free(p);
        return;
    }
    p[at] ^= 0x5a;
    write_file(path, p, n);
    free(p);
}

/* Flip a byte of the Vulkan data and fix up the checksum (64-bit FNV-1a over the data), so that
 * only the checks after the checksum can notice. */
static void flip_data_fix_checksum(const char *path, long at)
{
    size_t n;
    uint8_t *p = read_file(path, &n);
    if (!p || n <= 72 || (size_t)at >= n) {
        th_fail("cannot corrupt %s at %ld (%zu bytes)", path, at, n);
        free(p);
        return;
    }
    p[at] ^= 0x5a;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 72; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    memcpy(p + 64, &h, 8);
    write_file(path, p, n);
    free(p);
}

static void run_cache_file(void *arg)
{
    (void)arg;
    char dir[] = "/tmp/vkdl-test-runtime-XXXXXX";
    if (!mkdtemp(dir)) {
        th_fail("mkdtemp: %s", strerror(errno));
        return;
    }
    char path[1024], when[128];
    int tmp_files = 0;
    use_cache_dir(dir, 0, "first use");
    if (find_cache(dir, path, sizeof path, NULL) != 1) {
        th_fail("no pipelines-*.bin in %s after the first context", dir);
        rm_tree(dir);
        return;
    }
    cache_valid(path, "first use");
    use_cache_dir(dir, 0, "second use");
    cache_valid(path, "second use");

    enum { TRUNC10, TRUNC_HALF, FLIP_DATA, RANDOM, FOREIGN_CACHE_UUID, FOREIGN_DEVICE_UUID, FOREIGN_VENDOR, SIZE_FIELD,
           APPENDED, EMPTY, VK_HEADER, VK_HEADER_CHECKSUM, VK_UUID_CHECKSUM, VK_BODY_CHECKSUM, N_CORRUPT };
    static const char *names[] = {"truncated to 10 bytes", "truncated to half", "a data byte flipped",
                                  "4 KB of random bytes", "another cache UUID", "another device UUID",
                                  "another vendor", "data size field off by one", "a byte appended", "empty",
                                  "Vulkan header byte flipped", "Vulkan vendor id flipped, checksum fixed",
                                  "Vulkan cache UUID flipped, checksum fixed",
                                  "Vulkan data flipped past its header, checksum fixed"};
    for (int k = 0; k < N_CORRUPT; k++) {
        long size = file_size(path);
        switch (k) {
        case TRUNC10: TH_TRUE(truncate(path, 10) == 0); break;
        case TRUNC_HALF: TH_TRUE(truncate(path, size / 2) == 0); break;
        case FLIP_DATA: flip_byte(path, 72 + (size - 72) / 2); break;
        case RANDOM: {
            uint32_t junk[1024];
            for (int i = 0; i < 1024; i++)
                junk[i] = (uint32_t)th_randu(UINT32_MAX);
            write_file(path, junk, sizeof junk);
            break;
        }
        case FOREIGN_CACHE_UUID: flip_byte(path, 8 + 16); break;
        case FOREIGN_DEVICE_UUID: flip_byte(path, 8 + 16 + 16 + 3); break;
        case FOREIGN_VENDOR: flip_byte(path, 12); break;
        case SIZE_FIELD: {
            size_t n;
            uint8_t *p = read_file(path, &n);
            if (p) {
                uint64_t ds;
                memcpy(&ds, p + 56, 8);
                ds -= 1;
                memcpy(p + 56, &ds, 8);
                write_file(path, p, n);
            }
            free(p);
            break;
        }
        case APPENDED: {
            FILE *f = fopen(path, "ab");
            TH_TRUE(f && fputc(0, f) == 0 && fclose(f) == 0);
            break;
        }
        case EMPTY: TH_TRUE(truncate(path, 0) == 0); break;
        case VK_HEADER: flip_byte(path, 72 + 9); break; /* the vendor id inside Vulkan's own header */
        case VK_HEADER_CHECKSUM: flip_data_fix_checksum(path, 72 + 9); break;
        case VK_UUID_CHECKSUM: flip_data_fix_checksum(path, 72 + 16 + 5); break;
        case VK_BODY_CHECKSUM: /* lavapipe and SwiftShader save only Vulkan's 32-byte header */
            if (size > 72 + 32)
                flip_data_fix_checksum(path, 72 + 32 + (size - 72 - 32) / 2);
            break;
        }
        snprintf(when, sizeof when, "cache %s", names[k]);
        use_cache_dir(dir, 0, when);
        cache_valid(path, when);
        if (find_cache(dir, path, sizeof path, &tmp_files) != 1 || tmp_files)
            th_fail("%s: %d temporary files left, or not exactly one cache file", when, tmp_files);
    }

    /* a directory where the file should be: ignored, not replaced, nothing left behind */
    TH_TRUE(remove(path) == 0);
    TH_TRUE(mkdir(path, 0755) == 0);
    use_cache_dir(dir, 0, "cache file is a directory");
    struct stat st;
    TH_TRUE(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    find_cache(dir, path, sizeof path, &tmp_files);
    TH_TRUE(tmp_files == 0);
    TH_TRUE(rmdir(path) == 0);
    use_cache_dir(dir, 0, "after the directory");
    cache_valid(path, "after the directory");

    /* the cache directory is a file: nothing to save, nothing fails */
    char sub[1100];
    snprintf(sub, sizeof sub, "%s/plain-file", dir);
    write_file(sub, "x", 1);
    use_cache_dir(sub, 0, "cache dir is a file");
    TH_TRUE(file_size(sub) == 1);
    /* missing parent directories are made */
    snprintf(sub, sizeof sub, "%s/a/b/c", dir);
    use_cache_dir(sub, 0, "nested cache dir");
    char nested[1200];
    if (find_cache(sub, nested, sizeof nested, NULL) == 1)
        cache_valid(nested, "nested cache dir");
    else
        th_fail("no cache file in %s", sub);
    /* NO_DISK_CACHE writes nothing */
    snprintf(sub, sizeof sub, "%s/none", dir);
    use_cache_dir(sub, VKDL_CONTEXT_NO_DISK_CACHE, "no disk cache");
    TH_TRUE(access(sub, F_OK) != 0);
    TH_TRUE(mkdir(sub, 0755) == 0);
    use_cache_dir(sub, VKDL_CONTEXT_NO_DISK_CACHE, "no disk cache");
    TH_TRUE(find_cache(sub, nested, sizeof nested, &tmp_files) == 0 && tmp_files == 0);

    rm_tree(dir);
    TH_TRUE(access(dir, F_OK) != 0);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    th_run("runtime/pipeline-cache-file", run_cache_file, NULL);
    return th_finish();
}
