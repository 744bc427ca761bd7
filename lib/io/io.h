/* The io layer (lib/io/): checkpoints, safetensors, data sets and pictures. May use every layer
 * below it (nn, ops, runtime). */
#ifndef VKDL_IO_H
#define VKDL_IO_H

#include "nn/module.h"

/* ------------------------------------------------------------------ checkpoints (io/safetensors.c) */

/* vkdl_safetensors_load where absent names are not an error: found[i] says which were loaded. */
vkdl_status vkdl_safetensors_load_found(const char *path, int count, const char *const *names,
                                        vkdl_tensor *const *tensors, bool *found);

#endif
