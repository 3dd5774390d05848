/* checkutil.h - Check assertions for the suites that run programs under
 * the shim (test_shim.c, test_stats.c): start a helper or a system program
 * with a fresh environment, preloaded or not, and check its exit status,
 * stdout (key=value lines) and stderr. Unlike testutil.h, it needs Check.
 */
#ifndef TESTS_CHECKUTIL_H
#define TESTS_CHECKUTIL_H

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/testutil.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NOVARS ((const char *const[]){NULL})

/* ------------------------------------------------------------------------ */
/* running helpers                                                           */

/* Run argv (argv[0]: a helper's name, or a path when it holds a '/') with a
 * fresh environment plus vars ("NAME=value" each), under the shim when
 * preload is true. Fails the case when the program could not be started. */
static inline void run_with(struct tu_proc *p, bool preload, const char *const *vars,
                     const char *const *argv, const struct tu_opts *o)
{
    struct tu_env env;
    tu_env_init(&env);
    for (; *vars; vars++)
        tu_env_put(&env, *vars);
    if (preload)
        tu_env_preload(&env, tu_shim_lib());
    const char *args[64];
    int n = 0;
    for (; argv[n] && n < 63; n++)
        args[n] = argv[n];
    args[n] = NULL;
    if (strchr(args[0], '/') == NULL)
        args[0] = tu_helper(args[0]);
    int rc = tu_run(p, args, &env, o);
    tu_env_free(&env);
    ck_assert_msg(rc == 0, "cannot run %s: %s", args[0], strerror(errno));
}

static inline void shim(struct tu_proc *p, const char *const *vars,
                 const char *const *argv)
{
    run_with(p, true, vars, argv, NULL);
}

static inline void plain(struct tu_proc *p, const char *const *vars,
                  const char *const *argv)
{
    run_with(p, false, vars, argv, NULL);
}

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

/* ------------------------------------------------------------------------ */
/* scratch directories                                                       */

/* Scratch space: tmp_base is made by an unchecked fixture in the runner
 * itself (tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown)) and
 * removed after the test case, whatever its outcome (a failed assertion
 * ends the forked test at once); each test makes its own directory inside
 * it with make_tmp(). */
static char tmp_base[4096];

static inline void tmp_setup(void)
{
    const char *d = tu_tmpdir();
    snprintf(tmp_base, sizeof tmp_base, "%s", d ? d : "");
}

static inline void tmp_teardown(void)
{
    if (tmp_base[0])
        tu_rm_rf(tmp_base);
    tmp_base[0] = '\0';
}

/* A new empty directory for this test, in a string that lives until the
 * next call. */
static inline const char *make_tmp(void)
{
    static char path[4200];
    ck_assert_msg(tmp_base[0] != '\0', "no scratch directory");
    snprintf(path, sizeof path, "%s/XXXXXX", tmp_base);
    ck_assert_ptr_nonnull(mkdtemp(path));
    return path;
}

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

/* Run the helper live_hold under the shim with vars, its commands (lines
 * "alloc SIZE N", "sleep MS", ...; see tests/helpers/live_hold.c) from
 * `script`, written to a file of a new scratch directory. */
static inline void run_commands(struct tu_proc *p, const char *const *vars,
                                const char *script)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/commands", make_tmp());
    ck_assert_int_eq(tu_write_file(path, script, strlen(script)), 0);
    struct tu_opts o = {.stdin_path = path};
    run_with(p, true, vars, LIST("live_hold"), &o);
}

/* ------------------------------------------------------------------------ */
/* the wrapper                                                               */

/* The wrapper in the source tree: BUILD/../scripts/poolshim (BUILD holds the
 * .so), else scripts/poolshim from the current directory. */
static inline const char *wrapper(void)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s", tu_shim_lib());
    char *slash = strrchr(buf, '/');
    if (slash) {
        strcpy(slash, "/../scripts/poolshim");
        if (access(buf, X_OK) == 0)
            return buf;
    }
    return "scripts/poolshim";
}

/* Run the wrapper with up to 15 arguments (args NULL-terminated). */
static inline void run_wrapper(struct tu_proc *p, const char *const *vars,
                               const char *const *args)
{
    const char *argv[16] = {wrapper()};
    int n = 1;
    for (; args[n - 1] && n < 15; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    plain(p, vars, argv);
}

/* main() of a suite that runs programs under the shim: says when the
 * library is missing, runs the suite, exits 0 only when every test passed. */
static inline int run_shim_suite(const char *name, Suite *suite)
{
    if (access(tu_shim_lib(), R_OK) != 0)
        fprintf(stderr, "%s: %s: not found (set TEST_SHIM_LIB)\n", name, tu_shim_lib());
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
