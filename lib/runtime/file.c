/* Replacing a file atomically: the new contents go to a temporary file next to the target, are
 * synced, and renamed over it, so readers (and a crash) see the old file or the new one, never a
 * torn one. Tests: tests/test_safetensors.c, tests/test_data.c (pictures), tests/test_pipeline.c
 * (pipeline cache). */
#include "runtime/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A new file next to path, unique per process and per call, with the mode of the file it will
 * replace (so replacing keeps its permissions), else 0644 less the umask. */
static int open_temp(const char *path, char *tmp, size_t n)
{
    static atomic_uint counter;
    struct stat old;
    bool keep_mode = stat(path, &old) == 0 && S_ISREG(old.st_mode);
    for (int tries = 0; tries < 100; tries++) {
        snprintf(tmp, n, "%s.%ld.%u.tmp", path, (long)getpid(), atomic_fetch_add(&counter, 1));
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno == EEXIST)
            continue;
        /* open() applies the umask; the replaced file's mode is taken as it is. */
        if (fd >= 0 && keep_mode && fchmod(fd, old.st_mode & 07777) != 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            errno = e;
            return -1;
        }
        return fd;
    }
    return -1;
}

/* Persist the rename itself; a failure here loses nothing already written, so it is ignored. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Write through fn, then flush, sync and close f; the first failure is the one reported. */
static vkdl_status fill(const char *op, const char *tmp, FILE *f, vkdl_write_fn fn, void *user)
{
    vkdl_status s = fn(f, tmp, user);
    if (s == VKDL_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        s = vkdl_fail(VKDL_ERROR_IO, "%s: writing '%s': %s", op, tmp, strerror(errno));
    if (fclose(f) != 0 && s == VKDL_OK)
        s = vkdl_fail(VKDL_ERROR_IO, "%s: closing '%s': %s", op, tmp, strerror(errno));
    return s;
}

vkdl_status vkdl_atomic_write(const char *op, const char *path, vkdl_write_fn fn, void *user)
{
    size_t tmp_n = strlen(path) + 48;
    char *tmp = malloc(tmp_n);
    if (!tmp)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", op);
    int fd = open_temp(path, tmp, tmp_n);
    if (fd < 0) {
        vkdl_status s = vkdl_fail(VKDL_ERROR_IO, "%s: cannot create '%s': %s", op, tmp, strerror(errno));
        free(tmp);
        return s;
    }
    vkdl_status s;
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        s = vkdl_fail(VKDL_ERROR_IO, "%s: fdopen '%s': %s", op, tmp, strerror(errno));
        close(fd);
    } else {
        s = fill(op, tmp, f, fn, user);
    }
    if (s == VKDL_OK && rename(tmp, path) != 0)
        s = vkdl_fail(VKDL_ERROR_IO, "%s: renaming '%s' to '%s': %s", op, tmp, path, strerror(errno));
    if (s == VKDL_OK)
        sync_parent_dir(path);
    else
        unlink(tmp);
    free(tmp);
    return s;
}
