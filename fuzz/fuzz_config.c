/* fuzz_config.c - libFuzzer target for the POOLSHIM_* parser (shim/config.c).
 *
 * Input: segments separated by '\n' or '\0', at most MAX_ENTRIES. The first
 * byte of a segment picks the variable, (byte - 'a') % 20:
 *   a..l  POOLSHIM_CLASSES, STRICT, STATS, PREFAULT, MLOCK, CHECK, CACHE,
 *         VERBOSE, STATS_FILE, STATS_SIGNAL, PROFILE, BUDGET (table order)
 *   m     POOLSHIM_STAT (unknown, close to a name)   n  POOLSHIM_X (unknown)
 *   o     the rest of the segment is the whole entry  p  PATH (not ours)
 *   q..t  POOLSHIM_ON_ERROR, CHILDREN, ONLY, LIVE
 * and the rest of the segment is the value. E.g. "a64:1024,4k:8\nb1\n".
 *
 * Checked on every input: a failed parse leaves the configuration untouched
 * and writes only well-formed "poolshim: ..." lines, at least one, each
 * ending with the outcome that POOLSHIM_ON_ERROR chooses; a
 * successful one writes nothing and yields a configuration that keeps the
 * invariants of config.h, whose printed form parses back to the same classes
 * and budget. Any violation aborts.
 *
 * Build and run (from the repository root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. fuzz/fuzz_config.c \
 *     shim/config*.c pool/report.c -o build-fuzz/fuzz_config
 *   build-fuzz/fuzz_config -max_total_time=20 fuzz/corpus/config
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim/config.h"

#define MAX_ENTRIES 16
#define NNAMES 20

static const char *const names[NNAMES] = {
    "POOLSHIM_CLASSES",     "POOLSHIM_STRICT",  "POOLSHIM_STATS",
    "POOLSHIM_PREFAULT",    "POOLSHIM_MLOCK",   "POOLSHIM_CHECK",
    "POOLSHIM_CACHE",       "POOLSHIM_VERBOSE", "POOLSHIM_STATS_FILE",
    "POOLSHIM_STATS_SIGNAL", "POOLSHIM_PROFILE", "POOLSHIM_BUDGET",
    "POOLSHIM_STAT",        "POOLSHIM_X",       NULL, /* raw entry */
    "PATH",
    "POOLSHIM_ON_ERROR",    "POOLSHIM_CHILDREN", "POOLSHIM_ONLY",
    "POOLSHIM_LIVE",
};

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_config: %s:%d: %s\n", __FILE__, __LINE__,    \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

static int err_fd = -1, print_fd = -1;
static char text[1 << 20];

static int scratch_fd(const char *name)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    CHECK(fd >= 0);
    return fd;
}

static void rewind_fd(int fd)
{
    CHECK(ftruncate(fd, 0) == 0);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
}

/* What was written to fd since rewind_fd(), NUL-terminated, in text[]. */
static size_t read_fd(int fd)
{
    off_t n = lseek(fd, 0, SEEK_CUR);
    CHECK(n >= 0 && (size_t)n < sizeof text);
    CHECK(pread(fd, text, (size_t)n, 0) == n);
    text[n] = '\0';
    return (size_t)n;
}

static bool inside(const char *p, char *const *env, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(env[i]);
        if (p > env[i] && p <= env[i] + len)
            return true;
    }
    return false;
}

static void check_valid(const struct shim_config *c, char *const *env, size_t n)
{
    uint64_t total = 0;
    CHECK(c->nclasses >= 1 && c->nclasses <= POOL_CLASSES_MAX);
    for (unsigned i = 0; i < c->nclasses; i++) {
        const struct pool_class_spec *k = &c->classes[i];
        uint64_t stride = (k->size + POOL_GRANULE - 1) & ~(uint64_t)(POOL_GRANULE - 1);
        CHECK(k->size >= 1 && k->size <= POOL_CLASS_SIZE_MAX);
        CHECK(k->count >= 1 && k->count <= POOL_CLASS_COUNT_MAX);
        CHECK(stride * k->count <= POOL_CLASS_BYTES_MAX);
        if (i > 0) {
            const struct pool_class_spec *p = &c->classes[i - 1];
            CHECK(p->size < k->size);
            CHECK(((p->size + POOL_GRANULE - 1) & ~(uint64_t)(POOL_GRANULE - 1)) < stride);
        }
        total += stride * k->count;
    }
    CHECK(shim_config_bytes(c) == total);
    CHECK(c->budget > 0);
    int s = c->stats_signal;
    CHECK(s >= 0 && s <= 64);
    CHECK(s != SIGKILL && s != SIGSTOP && s != SIGSEGV && s != SIGBUS &&
          s != SIGILL && s != SIGFPE && s != SIGABRT);
    CHECK(c->stats_file == NULL || (*c->stats_file && inside(c->stats_file, env, n)));
    CHECK(c->profile == NULL || (*c->profile && inside(c->profile, env, n)));
    CHECK(c->on_error == SHIM_ON_ERROR_OFF || c->on_error == SHIM_ON_ERROR_ABORT);
    if (c->only != NULL) {
        size_t len = strlen(c->only);
        CHECK(len > 0 && inside(c->only, env, n) && strchr(c->only, '/') == NULL);
        CHECK(c->only[0] != ',' && c->only[len - 1] != ',' &&
              strstr(c->only, ",,") == NULL);
    }

    bool classes_given = false;
    for (size_t i = 0; i < n; i++)
        classes_given |= strncmp(env[i], "POOLSHIM_CLASSES=", 17) == 0;
    CHECK(c->classes_set == classes_given);
}

/* Print c, parse its CLASSES, BUDGET and STATS_SIGNAL lines back: the same
 * values. */
static void check_round_trip(const struct shim_config *c)
{
    static char cls[4096], bud[128], sig[128];
    rewind_fd(print_fd);
    shim_config_print(c, print_fd);
    read_fd(print_fd);
    const char *p = strstr(text, "\npoolshim: POOLSHIM_CLASSES=");
    CHECK(p != NULL);
    CHECK(sscanf(p + 11, "%4000s", cls) == 1);
    p = strstr(text, "\npoolshim: POOLSHIM_BUDGET=");
    CHECK(p != NULL);
    CHECK(sscanf(p + 11, "%100s", bud) == 1);

    p = strstr(text, "\npoolshim: POOLSHIM_STATS_SIGNAL");
    CHECK(p != NULL);
    CHECK(sscanf(p + 11, "%100s", sig) == 1);
    CHECK((c->stats_signal == 0) == (strchr(sig, '=') == NULL));

    char *env[] = {cls, bud, c->stats_signal ? sig : NULL, NULL};
    struct shim_config d;
    shim_config_defaults(&d);
    CHECK(shim_config_parse(&d, env, -1) == 0);
    CHECK(d.nclasses == c->nclasses);
    CHECK(memcmp(d.classes, c->classes, c->nclasses * sizeof c->classes[0]) == 0);
    CHECK(d.budget == c->budget);
    CHECK(d.stats_signal == c->stats_signal);
}

/* Every line of text[0..n) is one complete message, ending with the outcome
 * env's POOLSHIM_ON_ERROR gives. */
static void check_messages(size_t n, char *const *env)
{
    char tail[256];
    snprintf(tail, sizeof tail, "; %s", shim_config_outcome(env, NULL));
#define TAIL tail
    CHECK(n > 0 && text[n - 1] == '\n');
    for (char *line = text; *line;) {
        char *end = strchr(line, '\n');
        size_t len = (size_t)(end - line);
        CHECK(len < 1024);
        CHECK(strncmp(line, "poolshim: POOLSHIM_", 19) == 0);
        CHECK(len > strlen(TAIL) &&
              memcmp(end - strlen(TAIL), TAIL, strlen(TAIL)) == 0);
        line = end + 1;
    }
#undef TAIL
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (err_fd < 0) {
        err_fd = scratch_fd("fuzz_config_err");
        print_fd = scratch_fd("fuzz_config_print");
    }

    /* Build the environment: room for every segment with its name. */
    char *store = malloc(size + MAX_ENTRIES * 32 + 1);
    char *env[MAX_ENTRIES + 1];
    size_t n = 0, at = 0;
    CHECK(store != NULL);
    for (size_t i = 0; i < size && n < MAX_ENTRIES;) {
        size_t j = i;
        while (j < size && data[j] != '\n' && data[j] != '\0')
            j++;
        if (j > i) {
            const char *name = names[(uint8_t)(data[i] - 'a') % NNAMES];
            env[n++] = store + at;
            if (name != NULL)
                at += (size_t)sprintf(store + at, "%s=", name);
            memcpy(store + at, data + i + 1, j - i - 1);
            at += j - i - 1;
            store[at++] = '\0';
        }
        i = j + 1;
    }
    env[n] = NULL;

    struct shim_config cfg, before;
    shim_config_defaults(&cfg);
    memcpy(&before, &cfg, sizeof cfg); /* padding included */
    rewind_fd(err_fd);
    int rc = shim_config_parse(&cfg, env, err_fd);
    size_t written = read_fd(err_fd);
    if (rc == 0) {
        CHECK(written == 0);
        check_valid(&cfg, env, n);
        check_round_trip(&cfg);
    } else {
        CHECK(rc == -1);
        CHECK(memcmp(&cfg, &before, sizeof cfg) == 0);
        check_messages(written, env);
    }
    free(store);
    return 0;
}
