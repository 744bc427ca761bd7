/* NumPy's .npy files (format 1.0 to 3.0, little-endian, C order) as vkdl_host_tensor, for the tools
 * and examples that exchange tensors with Python, ONNX Runtime or each other. */
#ifndef VKDL_TOOLS_NPY_H
#define VKDL_TOOLS_NPY_H

#include "vkdl.h"

/* Read path into out: name NULL, data malloc'ed (free it with free((void *)out->data)). */
vkdl_status npy_read(const char *path, vkdl_host_tensor *out);
/* Write t (any dtype with a NumPy equivalent) to path. */
vkdl_status npy_write(const char *path, const vkdl_host_tensor *t);

#endif
