/* Interface of rnn.comp and its launcher lib/ops/rnn.c (see interface.h). */
#ifndef VKDL_RNN_H
#define VKDL_RNN_H
#include "interface.h"

#define RNN_SPEC_WG 0       /* workgroup size */
#define RNN_SPEC_HAS_BIAS 1 /* GRU forward: b_hh is bound (else its binding is a stand-in) */
#define RNN_SPEC_COUNT 2

/* One step of every gate kernel, LSTM and GRU, forward and backward. */
#define RNN_PUSH \
    u32 n;       \
    u32 H;

#endif
