/* checkutil.h - Check assertions for the suites that run programs under
 * the shim (test_shim.c, test_stats.c): start a helper or a system program
 * with a fresh environment, preloaded or not, and check its exit status,
 * stdout (key=value lines) and stderr. Unlike testutil.h, it needs Check.
 * The bodies are in checkutil.c, linked into every suite.
 */
#ifndef TESTS_CHECKUTIL_H
#define TESTS_CHECKUTIL_H

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "tests/testutil.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NOVARS ((const char *const[]){NULL})

/* ------------------------------------------------------------------------ */
/* test cases                                                                */

enum {
    TC_PLAIN,    /* nothing around the tests */
    TC_SCRATCH,  /* tmp_setup/tmp_teardown around the test case: make_tmp() works */
    TC_CASE_DIR, /* that, and case_dir_setup before each test: case_path() works */
};

/* A new test case `name` added to s, with a timeout of `timeout` seconds (0:
 * Check's default; scaled by CK_TIMEOUT_MULTIPLIER either way), the scratch
 * directories `dirs` asks for (below) and the tests listed after dirs
 * (START_TEST names, none or more), in this order. Add loop tests and more
 * tests to what it returns. */
#define add_tcase(s, name, timeout, dirs, ...)                               \
    add_tcase_with(s, name, timeout, dirs, (const TTest *const[]){__VA_ARGS__ __VA_OPT__(, ) NULL})
TCase *add_tcase_with(Suite *s, const char *name, unsigned timeout, int dirs,
                      const TTest *const *tests);

/* Add the tests to tc, in this order: add_tests(tc, a, b) is
 * tcase_add_test(tc, a); tcase_add_test(tc, b). */
#define add_tests(tc, ...) add_test_list(tc, (const TTest *const[]){__VA_ARGS__, NULL})
void add_test_list(TCase *tc, const TTest *const *tests);

/* ------------------------------------------------------------------------ */
/* running helpers                                                           */

/* Run argv (argv[0]: a helper's name, or a path when it holds a '/') with a
 * fresh environment plus vars ("NAME=value" each), under the shim when
 * preload is true. Fails the case when the program could not be started. */
void run_with(struct tu_proc *p, bool preload, const char *const *vars,
              const char *const *argv, const struct tu_opts *o);

/* run_with(p, true, vars, argv, NULL) and run_with(p, false, ...). */
void run_shim(struct tu_proc *p, const char *const *vars, const char *const *argv);
void run_plain(struct tu_proc *p, const char *const *vars, const char *const *argv);

/* key=value on the helper's stdout */
#define ck_kv(p, key, want)                                                  \
    do {                                                                     \
        const char *got_ = tu_kv((p)->out, key);                             \
        ck_assert_msg(got_ != NULL && strcmp(got_, want) == 0,               \
                      "%s: got %s, want %s; %s", key, got_ ? got_ : "(none)", \
                      want, tu_describe(p));                                 \
    } while (0)

#define ck_kv_num(p, key, want)                                              \
    do {                                                                     \
        long long got_ = tu_kv_num((p)->out, key, -1);                       \
        ck_assert_msg(got_ == (long long)(want), "%s: got %lld, want %lld; %s", \
                      key, got_, (long long)(want), tu_describe(p));         \
    } while (0)

#define ck_exit(p, code)                                                     \
    ck_assert_msg((p)->exit_code == (code) && !(p)->timed_out,               \
                  "want exit %d; %s", code, tu_describe(p))

#define ck_quiet_stderr(p)                                                   \
    ck_assert_msg((p)->err_len == 0, "stderr not empty: %s", (p)->err)

/* No stderr, exit 0. */
#define ck_clean(p)                                                          \
    do {                                                                     \
        ck_exit(p, 0);                                                       \
        ck_quiet_stderr(p);                                                  \
    } while (0)

/* ck_kv for each "key=value" of want (NULL-terminated; the key ends at the
 * first '='). */
void ck_kvs(const struct tu_proc *p, const char *const *want);

/* run_shim(p, vars, argv), then ck_clean(p) and ck_kvs(p, want); free p
 * afterwards. expect_clean is that without p (the run is freed). */
void run_clean(struct tu_proc *p, const char *const *vars, const char *const *argv,
               const char *const *want);
void expect_clean(const char *const *vars, const char *const *argv, const char *const *want);

/* `shim_api quiet` (exit status 7, lines on stdout) as it ran in with,
 * against its run without the shim: both exit 7 with the same stdout,
 * nothing on with's stderr. Frees both. */
void ck_quiet_as_without(struct tu_proc *with, struct tu_proc *without);

/* Run the helper live_hold under the shim with vars, its commands (lines
 * "alloc SIZE N", "sleep MS", ...; see tests/helpers/live_hold.c) from
 * `script`, written to a file of a new scratch directory. */
void run_commands(struct tu_proc *p, const char *const *vars, const char *script);

/* ------------------------------------------------------------------------ */
/* the wrapper                                                               */

/* The wrapper in the source tree: BUILD/../scripts/poolshim (BUILD holds the
 * .so), else scripts/poolshim from the current directory. */
const char *wrapper(void);

/* Run the wrapper with up to 15 arguments (args NULL-terminated). */
void run_wrapper(struct tu_proc *p, const char *const *vars, const char *const *args);

/* ------------------------------------------------------------------------ */
/* scratch directories                                                       */

/* Scratch space: tmp_base is made by an unchecked fixture in the runner
 * itself (tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown)) and
 * removed after the test case, whatever its outcome (a failed assertion
 * ends the forked test at once); each test makes its own directory inside
 * it with make_tmp(). */
void tmp_setup(void);
void tmp_teardown(void);

/* A new empty directory for this test, in a string that lives until the
 * next call. */
const char *make_tmp(void);

/* For suites whose every case wants a directory of its own: the checked
 * fixture case_dir_setup (tcase_add_checked_fixture(tc, case_dir_setup,
 * NULL), after the unchecked tmp_setup) makes case_dir with make_tmp();
 * case_path(name) is case_dir/name. */
extern char case_dir[4200];
void case_dir_setup(void);
const char *case_path(const char *name);

/* dir/name, and "NAME=value" (an environment entry). These three return one
 * of 16 rotating buffers: a string lives until the 16th next call of any of
 * them. */
const char *path_in(const char *dir, const char *name);
const char *var_eq(const char *name, const char *value);

/* A new file `name` in a new directory (make_tmp()), holding text; its path
 * (as path_in). Fails the case when it cannot be written. */
const char *tmp_file(const char *name, const char *text);

/* A case that cannot run on this machine (what it needs is not installed):
 * "SKIP: NAME: why" on stderr, then the case ends. scripts/run-tests counts
 * it as skipped, not passed. Use it only before a case asserts anything, or
 * after everything else it checks has passed. */
#define ck_skip(name, ...)                                                   \
    do {                                                                     \
        fprintf(stderr, "SKIP: %s: ", name);                                 \
        fprintf(stderr, __VA_ARGS__);                                        \
        fprintf(stderr, "\n");                                               \
        fflush(stderr);                                                      \
        return;                                                              \
    } while (0)

/* ck_skip(name, "%s", why) when why (a reason the case cannot run, or NULL)
 * is not NULL. */
#define ck_skip_if(name, why)                                                \
    do {                                                                     \
        const char *why_ = (why);                                            \
        if (why_ != NULL)                                                    \
            ck_skip(name, "%s", why_);                                       \
    } while (0)

#endif
