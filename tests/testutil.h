/* testutil.h - run a program in a child process with an environment built
 * from scratch, and capture its exit status, stdout and stderr.
 *
 * For test suites that check programs under LD_PRELOAD=libpoolshim.so: the
 * suite itself is never preloaded; it builds the child's whole environment
 * (a minimal PATH, then LD_PRELOAD and whatever POOLSHIM_* the case needs),
 * so nothing from the outer environment leaks in. Independent of Check
 * (functions return results; the suite asserts), and built for a process that
 * may allocate freely. The bodies are in testutil.c, linked into every suite.
 *
 *   struct tu_env env;
 *   tu_env_init(&env);                        PATH=/usr/bin:/bin only
 *   tu_env_set(&env, "POOLSHIM_CLASSES", "64:100");
 *   tu_env_preload(&env, tu_shim_lib());      LD_PRELOAD=$TEST_SHIM_LIB
 *   const char *argv[] = {tu_helper("shim_api"), "usable", "64", NULL};
 *   struct tu_proc p;
 *   tu_run(&p, argv, &env, NULL);             0, or -1 if it could not run
 *   ... p.exit_code, p.out, p.err, tu_kv(p.out, "usable 64") ...
 *   tu_proc_free(&p);
 *   tu_env_free(&env);
 *
 * Test plumbing comes from the runner's environment (scripts/run-tests):
 * TEST_SHIM_LIB (the .so) and TEST_HELPERS (the helper programs' directory).
 * No POOLSHIM_* name is ever used for plumbing: the shim rejects unknown ones.
 *
 * Also for the library suites (test_pool, test_classes): the process's own
 * VmSize read without allocating, misuse run in a forked child that must die
 * (tu_fork_misuse), and small pieces every suite wants (tu_cmp_ptr, ...).
 *
 * And the one main() of every suite's program (TU_SUITE, at the end).
 */
#ifndef TESTS_TESTUTIL_H
#define TESTS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ------------------------------------------------------------------------ */
/* environments                                                              */

#define TU_ENV_MAX 64

/* A child's complete environment: "NAME=value" strings, NULL-terminated. */
struct tu_env {
    char *var[TU_ENV_MAX + 1];
    int n;
};

void tu_env_free(struct tu_env *e);

/* Set NAME to value (replacing an earlier value); value NULL removes NAME.
 * Returns 0, or -1 when the environment is full. */
int tu_env_set(struct tu_env *e, const char *name, const char *value);

/* The value of NAME in e, or NULL. */
const char *tu_env_get(const struct tu_env *e, const char *name);

/* Set from "NAME=value" (a string without '=' is ignored). */
int tu_env_put(struct tu_env *e, const char *assignment);

/* A fresh environment holding only PATH=/usr/bin:/bin. */
void tu_env_init(struct tu_env *e);

/* LD_PRELOAD=lib (lib NULL: no preload). */
int tu_env_preload(struct tu_env *e, const char *lib);

/* ------------------------------------------------------------------------ */
/* plumbing from the runner                                                  */

/* $TEST_SHIM_LIB, else "build/libpoolshim.so". */
const char *tu_shim_lib(void);

/* $TEST_HELPERS, else "build/helpers". */
const char *tu_helpers_dir(void);

/* The path of helper `name`, in a string that lives until the 8th next call
 * (enough for one argv). */
const char *tu_helper(const char *name);

/* The first of `candidates` (NULL-terminated) that is an executable file,
 * else NULL. */
const char *tu_first_executable(const char *const *candidates);

/* ------------------------------------------------------------------------ */
/* running                                                                   */

struct tu_opts {
    const char *stdin_path;   /* NULL: /dev/null */
    const char *cwd;          /* NULL: the caller's */
    unsigned timeout_s;       /* 0: 20 s; then the child's process group is
                                 killed and timed_out set */
    unsigned long long rlimit_as;   /* bytes of address space; 0: unchanged */
};

struct tu_proc {
    int status;          /* raw waitpid() status */
    int exit_code;       /* exit status, or -1 when killed by a signal */
    int sig;             /* the killing signal, or 0 */
    bool timed_out;
    char *out, *err;     /* NUL-terminated captures (never NULL after run) */
    size_t out_len, err_len;
};

void tu_proc_free(struct tu_proc *p);

/* Run argv[0] (a path; no PATH search) with exactly the environment env, in
 * its own process group, stdout and stderr captured. Returns 0 when the child
 * ran (whatever its outcome: see p), -1 with errno when it could not start.
 * A child that cannot exec exits 127 with a message on its stderr. */
int tu_run(struct tu_proc *p, const char *const argv[],
           const struct tu_env *env, const struct tu_opts *o);

/* One-line summary of a finished run, for failure messages. */
const char *tu_describe(const struct tu_proc *p);

/* ------------------------------------------------------------------------ */
/* reading output                                                            */

/* Number of lines in text (a last line without '\n' counts). */
int tu_count_lines(const char *text);

/* Copy line i (0-based, without its '\n') of text into buf. Returns buf, or
 * NULL when there is no such line. */
char *tu_line(const char *text, int i, char *buf, size_t len);

/* The value of the last "key=value" line of text, in a string that lives until
 * the 16th next call; NULL when no such line. */
const char *tu_kv(const char *text, const char *key);

/* tu_kv as a number; `otherwise` when missing or not a number. */
long long tu_kv_num(const char *text, const char *key, long long otherwise);

/* Whether text holds a line exactly equal to line. */
bool tu_has_line(const char *text, const char *line);

/* ------------------------------------------------------------------------ */
/* the shim's exit report (POOLSHIM_STATS=1)                                 */

#define TU_STATS_ROWS 32

struct tu_stats_row {
    unsigned long long size, capacity, in_use, peak_out, served, misses;
};

struct tu_stats {
    long pid;
    char program[64];       /* the title's (PROGRAM) */
    char time[32];          /* the title's "at 2026-12-02T15:03:04Z" */
    bool strict;            /* the title ends with ", strict" */
    int nrows;
    struct tu_stats_row row[TU_STATS_ROWS];
    unsigned long long uncovered;
    char header[256];       /* the column header line as printed */
};

/* Whether t is a UTC time as the shim writes it (2026-12-02T15:03:04Z),
 * within ten minutes of now. */
bool tu_time_ok(const char *t);

/* Parse the report out of a stderr capture (other lines are skipped):
 *   poolshim: stats for pid N (PROGRAM) at TIME[, strict]
 *   poolshim:     size   capacity     in use   peak out       served     misses
 *   poolshim: <six numbers>                  (one line per class)
 *   poolshim: not covered by any class: K requests   ("1 request")
 * Returns 0, or -1 when no complete report is found. */
int tu_parse_stats(const char *err, struct tu_stats *st);

/* The row of class `size`, or NULL. */
const struct tu_stats_row *tu_stats_class(const struct tu_stats *st, unsigned long long size);

/* ------------------------------------------------------------------------ */
/* files                                                                     */

/* Write len bytes to path (created or truncated). Returns 0 or -1. */
int tu_write_file(const char *path, const void *data, size_t len);

/* A new private directory (mkdtemp under $TMPDIR or /tmp), in a string that
 * lives until the next call; NULL on failure. Remove it with tu_rm_rf(). */
const char *tu_tmpdir(void);

/* rm -rf path (no shell involved). */
void tu_rm_rf(const char *path);

/* ------------------------------------------------------------------------ */
/* the test process itself                                                   */

size_t tu_page_size(void);

/* qsort comparator for an array of pointers, by address. */
int tu_cmp_ptr(const void *a, const void *b);

/* xorshift64: the next number of the sequence in *s (never 0 when *s is not). */
uint64_t tu_xorshift64(uint64_t *s);

/* Read a small file (a /proc one) into buf without allocating, NUL-terminated,
 * at most cap - 1 bytes. Returns its length, or -1 with errno when it cannot
 * be opened. */
ssize_t tu_read_proc(const char *path, char *buf, size_t cap);

/* This process's VmSize in kB, read without allocating (the reading must not
 * move what it measures); -1 when /proc/self/status cannot be read or has no
 * VmSize line. */
long tu_vm_size_kb(void);

/* Whether msg holds a hexadecimal number ("0x...") equal to addr. */
bool tu_mentions_addr(const char *msg, const void *addr);

/* How a misuse child ended: its signal (0 if it exited), its stderr, and the
 * address it reported with tu_report_addr() before misbehaving (NULL if none). */
struct tu_death {
    int sig;
    char msg[2048];
    void *addr;
};

/* In a misuse child: tell the parent the pointer about to be misused (fd < 0:
 * not in a child, nothing to tell). */
void tu_report_addr(int fd, const void *p);

/* Run fn(kind, addr_fd) in a forked child whose stderr goes to a pipe; fn
 * calls tu_report_addr(addr_fd, ...) with the pointer it is about to misuse,
 * and should not return (if it does, the child exits 0). fn must not use
 * Check's asserts: their result would go to the runner's channel. Returns 0
 * with d filled in, or -1 with errno when the child could not be run. */
int tu_fork_misuse(void (*fn)(int kind, int addr_fd), int kind, struct tu_death *d);

/* ------------------------------------------------------------------------ */
/* the suite's program                                                       */

struct Suite; /* Check's */

/* What a test program runs. Each tests/test_NAME.c says it once, at its end:
 *   TU_SUITE("NAME", NAME_cases, flags);
 * and the one main() (testutil.c) makes the suite NAME, has NAME_cases add
 * its test cases to it, runs it with Check's environment honoured
 * (CK_RUN_SUITE, CK_RUN_CASE, CK_FORK, CK_TIMEOUT_MULTIPLIER, ...), prints
 * Check's summary, and exits 0 only when every test passed. */
struct tu_suite {
    const char *name;
    void (*cases)(struct Suite *s);
    unsigned flags;
};

enum {
    TU_SHIM = 1, /* it runs programs under the shim: say when the library is missing */
    TU_FORK = 2, /* each case in its own process, even under CK_FORK=no */
};

extern const struct tu_suite tu_suite;
#define TU_SUITE(name, cases_fn, flags) const struct tu_suite tu_suite = {name, cases_fn, flags}

#endif
