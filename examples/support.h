/* support: what the training examples share, so that each example file shows its own model, data
 * and training. Copy this pair (support.h, support.c) along with an example; it uses only the
 * public vkdl.h and the C library.
 *
 * - CHECK(call): on an error, print "<program>: <status>: <message>" and exit 1.
 * - ex_start: the command line, with getopt_long, and the context. Every example takes --steps,
 *   --seed, --cpu, --out and --quiet (ex_common) and declares its own options in a table of
 *   ex_option rows; --help lists them all with their defaults.
 * - A clock, a seeded host-side generator, loss bookkeeping on the device.
 * - The character-level language model harness of char_gpt and char_lstm (ex_lm): the text split
 *   into training and held-out windows, the training loop, the held-out loss and sampling. */
#ifndef VKDL_EXAMPLES_SUPPORT_H
#define VKDL_EXAMPLES_SUPPORT_H

#include "vkdl.h"

#include <stddef.h>
#include <stdint.h>

#define CHECK(call) ex_check(call)

/* Exits with the message above unless s is VKDL_OK. */
void ex_check(vkdl_status s);
/* Prints "<program>: <message>" and exits 1. */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
_Noreturn void ex_fail(const char *fmt, ...);
/* malloc that exits on failure. */
void *ex_alloc(size_t bytes);

/* ---- Command line ---- */

typedef enum ex_type {
    EX_STRING, /* const char * */
    EX_INT,    /* int */
    EX_LONG,   /* long */
    EX_U64,    /* uint64_t */
    EX_DOUBLE, /* double */
    EX_FLAG,   /* int, set to 1 when given; takes no value */
} ex_type;

typedef enum ex_range { EX_ANY, EX_NOT_NEGATIVE, EX_POSITIVE } ex_range;

/* One option, --name VALUE or --name=VALUE. Its default is what *store holds when ex_start runs. */
typedef struct ex_option {
    const char *name;  /* without the dashes */
    ex_type type;
    void *store;       /* of the type's C type (above) */
    ex_range range;    /* numbers only */
    const char *value; /* the value's name in the help: "N", "FILE"; NULL for a flag */
    const char *help;  /* one line */
} ex_option;

/* The options every example takes; the example sets the defaults before calling ex_start. */
typedef struct ex_common {
    long steps;        /* --steps N: positive (an example may redeclare --steps with other rules) */
    uint64_t seed;     /* --seed N */
    int cpu;           /* --cpu: the CPU backend instead of the Vulkan device */
    const char *out;   /* --out PREFIX: where the example writes its files */
    int quiet;         /* --quiet: no progress lines */
} ex_common;

/* Parses argv into *common and the example's own options (a table ended by a row whose name is
 * NULL; a row named like a common option replaces it), then opens a context on the Vulkan device
 * (on the CPU with --cpu) and prints its name. --help (or -h) prints about and every option to
 * stdout and exits 0; a bad value or a missing one names the option and exits 2, and so does an
 * unknown option, after the usage. */
vkdl_context *ex_start(int argc, char **argv, const char *about, const ex_option *own, ex_common *common);
/* For an example that is not a training run: parses argv into its own options only (the common
 * ones are not added) followed by exactly n_operands operands, named in the usage by operands
 * ("IMAGE.png"), and returns the index of the first. The errors are ex_start's. */
int ex_parse(int argc, char **argv, const char *about, const char *operands, int n_operands, const ex_option *own);

/* ---- Time, randomness, losses ---- */

/* Seconds on a monotonic clock. */
double ex_now(void);
/* SplitMix64: a small seeded generator whose numbers are the same on every device. */
uint64_t ex_splitmix64(uint64_t *state);
/* Uniform in [0, 1), from the top 53 bits of ex_splitmix64. */
double ex_uniform01(uint64_t *state);

/* series[step] = value (a one-element tensor), on the device: no wait for the GPU. */
void ex_record(vkdl_tensor *series, long step, vkdl_tensor *value);
/* series[step], read back: this waits for the device. */
float ex_read(vkdl_tensor *series, long step);
/* The whole of a one-dimensional f32 tensor on the host (free it). */
float *ex_download(vkdl_tensor *series);
/* The mean of v[0, n). */
double ex_mean(const float *v, long n);

/* The first sample of batch `step` when batches of `batch` walk through ds in order, which is
 * shuffled (seeded by seed and the epoch) at the start of every epoch. */
int64_t ex_batch_start(vkdl_dataset *ds, long step, int64_t batch, uint64_t seed);

/* Saves the model and the optimizer state to <out>.safetensors and says so. */
void ex_save_checkpoint(const char *out, vkdl_module *model, vkdl_optim *opt);
/* The IDX pair NAME-images-idx3-ubyte / NAME-labels-idx1-ubyte in dir, plain or gzipped. */
vkdl_dataset *ex_load_idx(const char *dir, const char *name);

/* ---- Character-level language models ---- */

/* A model trained to predict the next byte of a text from windows of `block` bytes. The example
 * sets the defaults and the functions that run its model, calls ex_lm_start, then builds its model
 * and optimizer into model and opt. */
typedef struct ex_lm {
    ex_common o;               /* the common options */
    const char *text;          /* --text FILE */
    double temperature;        /* --temperature T, for sampling */
    /* The mean next-character cross-entropy over windows [first, first + batch) of ds. */
    vkdl_tensor *(*loss)(void *arg, const vkdl_dataset *ds, int64_t first);
    /* The logits of the character after ids[0, n) (n >= 1), into out[vocab]. */
    void (*next_logits)(void *arg, const int32_t *ids, int n, float *out);
    /* Optional: called with 1 before the first next_logits of a sample and with 0 after the last. */
    void (*sampling)(void *arg, int on);
    void *arg;

    vkdl_context *ctx;         /* from ex_lm_start, and the rest too */
    vkdl_dataset *train, *val;
    vkdl_tensor *losses;       /* every step's loss, [o.steps] */
    int64_t batch, block;
    int vocab;
    vkdl_module *model;        /* from the example */
    vkdl_optim *opt;
} ex_lm;

/* Parses the command line (the common options, --text and --temperature), opens the context,
 * loads the text into windows of block bytes (sample i starts at byte i) and holds out the last
 * tenth of them (at least `batch`), dropping the block windows before those so that no training
 * window reads held-out text. Prints the "device:" and "data:" lines. */
void ex_lm_start(ex_lm *lm, int argc, char **argv, const char *about, int64_t block, int64_t batch);
/* Trains for o.steps steps, printing progress unless o.quiet and a summary line at the end. */
void ex_lm_train(ex_lm *lm);
/* After training: saves <out>.safetensors, prints the mean loss over up to eval_batches batches of
 * held-out windows, then the prompt (its characters that the text has) continued by n characters
 * drawn one at a time, and last the "first_loss X last_loss Y val_loss Z" line, whose last_loss
 * averages the final tenth of the steps. */
void ex_lm_report(ex_lm *lm, int eval_batches, const char *prompt, int n);
/* Frees everything in lm, the model and the context included. */
void ex_lm_destroy(ex_lm *lm);

#endif
