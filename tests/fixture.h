/* Golden fixtures written by tools/gen_fixtures.py (the file format is documented there): named
 * f32/i32 tensors computed by an independent implementation. Loading validates the whole file,
 * so a truncated or corrupt fixture is a clear failure, never a crash or a read out of bounds. */
#ifndef VKDL_TEST_FIXTURE_H
#define VKDL_TEST_FIXTURE_H

#include "vkdl.h"

#include <stddef.h>
#include <stdint.h>

typedef struct fx_tensor {
    const char *name;
    vkdl_dtype dtype; /* VKDL_F32 or VKDL_I32 */
    int ndim;
    int64_t shape[VKDL_MAX_DIMS];
    int64_t numel;
    const void *data; /* numel elements of dtype, host byte order */
} fx_tensor;

typedef struct fx_file fx_file;

/* Path of the fixture file `name` (e.g. "layernorm.bin") in the test data directory: $VKDL_TEST_DATA
 * if set, else tests/data of the source tree (compiled in). Writes at most size bytes. */
void fx_path(const char *name, char *path, size_t size);
/* Load and validate a fixture; NULL on failure with the reason in err (err may be NULL). */
fx_file *fx_load(const char *path, char *err, size_t err_size);
/* The tensor called name, or NULL if the file has none. */
const fx_tensor *fx_get(const fx_file *fx, const char *name);
int fx_count(const fx_file *fx);
const fx_tensor *fx_at(const fx_file *fx, int i);
void fx_free(fx_file *fx);

#endif
