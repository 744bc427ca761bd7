/* The public API's own promises (include/vkdl.h): enum names from their lists, the version, chained
 * create-info structs, the log callback, device queries and host i64 data. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One row per value of a list: its value, its name function's answer. */
typedef struct enum_row {
    int value;
    const char *name;
} enum_row;

#define ROW_STATUS_(name, value, string) {value, vkdl_status_name((vkdl_status)(value))},
#define ROW_UNARY_(name, value, string) {value, vkdl_unary_op_name((vkdl_unary_op)(value))},
#define ROW_BINARY_(name, value, string) {value, vkdl_binary_op_name((vkdl_binary_op)(value))},
#define ROW_REDUCE_(name, value, string) {value, vkdl_reduce_op_name((vkdl_reduce_op)(value))},
#define ROW_OPTIMIZER_(name, value, string) {value, vkdl_optimizer_name((vkdl_optimizer)(value))},

/* Every value has a non-empty name no other value shares; a value outside the list (one past the
 * largest, and -1) is named "unknown...", never NULL. */
static void check_list(const char *what, const enum_row *rows, int n, const char *(*name)(int))
{
    int max = 0;
    for (int i = 0; i < n; i++) {
        const char *s = rows[i].name;
        if (!s || !*s || !strncmp(s, "unknown", 7)) {
            th_fail("%s %d has no name", what, rows[i].value);
            continue;
        }
        for (int j = 0; j < i; j++)
            if (rows[j].value == rows[i].value || (rows[j].name && !strcmp(s, rows[j].name)))
                th_fail("%s %d and %d share a value or the name \"%s\"", what, rows[j].value, rows[i].value, s);
        max = rows[i].value > max ? rows[i].value : max;
    }
    const int outside[] = {max + 1, -1};
    for (int i = 0; i < 2; i++) {
        const char *s = name(outside[i]);
        if (!s || strncmp(s, "unknown", 7))
            th_fail("%s %d outside the list is named \"%s\"", what, outside[i], s ? s : "(NULL)");
    }
}

static const char *status_name(int v) { return vkdl_status_name((vkdl_status)v); }
static const char *status_string(int v) { return vkdl_status_string((vkdl_status)v); }
static const char *unary_name(int v) { return vkdl_unary_op_name((vkdl_unary_op)v); }
static const char *binary_name(int v) { return vkdl_binary_op_name((vkdl_binary_op)v); }
static const char *reduce_name(int v) { return vkdl_reduce_op_name((vkdl_reduce_op)v); }
static const char *optimizer_name(int v) { return vkdl_optimizer_name((vkdl_optimizer)v); }

#define LEN(a) ((int)(sizeof(a) / sizeof *(a)))

static void run_enum_names(void *arg)
{
    (void)arg;
    const enum_row status[] = {VKDL_STATUS_LIST(ROW_STATUS_)};
    const enum_row unary[] = {VKDL_UNARY_OP_LIST(ROW_UNARY_)};
    const enum_row binary[] = {VKDL_BINARY_OP_LIST(ROW_BINARY_)};
    const enum_row reduce[] = {VKDL_REDUCE_OP_LIST(ROW_REDUCE_)};
    const enum_row optimizer[] = {VKDL_OPTIMIZER_LIST(ROW_OPTIMIZER_)};
    check_list("status", status, LEN(status), status_name);
    check_list("unary op", unary, LEN(unary), unary_name);
    check_list("binary op", binary, LEN(binary), binary_name);
    check_list("reduce op", reduce, LEN(reduce), reduce_name);
    check_list("optimizer", optimizer, LEN(optimizer), optimizer_name);
    /* The English strings: non-empty for every status, distinct, and "unknown status" outside. */
    enum_row strings[LEN(status)];
    for (int i = 0; i < LEN(status); i++)
        strings[i] = (enum_row){status[i].value, vkdl_status_string((vkdl_status)status[i].value)};
    check_list("status string", strings, LEN(strings), status_string);
    TH_TRUE(LEN(unary) == VKDL_UNARY_OP_COUNT && LEN(binary) == VKDL_BINARY_OP_COUNT &&
            LEN(reduce) == VKDL_REDUCE_OP_COUNT);
    TH_TRUE(!strcmp(vkdl_status_name(VKDL_ERROR_SHAPE_MISMATCH), "VKDL_ERROR_SHAPE_MISMATCH"));
    TH_TRUE(!strcmp(vkdl_status_string(VKDL_ERROR_SHAPE_MISMATCH), "shape mismatch"));
    TH_TRUE(!strcmp(vkdl_unary_op_name(VKDL_GELU_TANH), "gelu_tanh"));
    TH_TRUE(!strcmp(vkdl_reduce_op_name(VKDL_ARGMAX), "argmax"));
    /* Pinned values: the ABI. */
    TH_TRUE(VKDL_ERROR_CONTEXT_MISMATCH == 14 && VKDL_ABS == 9 && VKDL_DIV == 3 && VKDL_ARGMAX == 3);
    TH_TRUE(VKDL_RMSPROP == 3);
}

static void run_version(void *arg)
{
    (void)arg;
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", VKDL_VERSION_MAJOR, VKDL_VERSION_MINOR, VKDL_VERSION_PATCH);
    TH_TRUE(vkdl_version() == VKDL_MAKE_VERSION(VKDL_VERSION_MAJOR, VKDL_VERSION_MINOR, VKDL_VERSION_PATCH));
    TH_TRUE(vkdl_version() == VKDL_VERSION);
    TH_TRUE(!strcmp(vkdl_version_string(), want) && !strcmp(vkdl_version_string(), VKDL_VERSION_STRING));
    TH_TRUE(VKDL_MAKE_VERSION(0, 1, 0) < VKDL_MAKE_VERSION(0, 1, 1));
    TH_TRUE(VKDL_MAKE_VERSION(0, 9, 9) < VKDL_MAKE_VERSION(1, 0, 0));
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    th_run("api/enum-names", run_enum_names, NULL);
    th_run("api/version", run_version, NULL);
    return th_finish();
}
