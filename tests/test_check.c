/* test_check.c - fail-closed configuration: POOLSHIM_ON_ERROR=abort ends a
 * program before main with status 78 after a malformed configuration or a
 * failed reservation; `poolshim check` (tools/poolshim-check) validates
 * without running anything; the wrapper validates before it execs.
 *
 * "Before main" shows in shim_api's stdout: its main prints "usable 64=..."
 * first thing, so an empty stdout means main never ran.
 *
 * Needs TEST_SHIM_LIB and TEST_HELPERS (scripts/run-tests sets them).
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/checkutil.h"

#define ABORT_TAIL "; poolshim stops the program with exit status 78 (POOLSHIM_ON_ERROR=abort)\n"
#define OFF_TAIL "; poolshim is off, the program runs on the system allocator\n"

/* err is exactly one line that starts with start and ends with tail. */
static void ck_one_line(const struct tu_proc *p, const char *start, const char *tail)
{
    size_t n = p->err_len, t = strlen(tail);
    ck_assert_msg(tu_count_lines(p->err) == 1 && strncmp(p->err, start, strlen(start)) == 0 &&
                      n > t && strcmp(p->err + n - t, tail) == 0,
                  "want one line \"%s...%s\"; %s", start, tail, tu_describe(p));
}

/* ------------------------------------------------------------------------ */
/* POOLSHIM_ON_ERROR=abort                                                   */

static const struct {
    const char *var;
    const char *start; /* of the line */
    unsigned long long rlimit_as;
} aborts[] = {
    {"POOLSHIM_CLASSES=64:x", "poolshim: POOLSHIM_CLASSES=\"64:x\": bad count", 0},
    {"POOLSHIM_STRICT=2", "poolshim: POOLSHIM_STRICT=\"2\": not a boolean", 0},
    {"POOLSHIM_STATZ=1", "poolshim: POOLSHIM_STATZ=\"1\": unknown variable, did you "
                         "mean POOLSHIM_STATS?", 0},
    /* parses, but 2000 MiB do not fit in 1 GiB of address space (weighed
     * before anything is mapped: shim/limits.c) */
    {"POOLSHIM_CLASSES=1m:2000", "poolshim: POOLSHIM_CLASSES=\"1m:2000\": the pools "
                                 "would reserve ", 1ULL << 30},
};

START_TEST(abort_before_main)
{
    struct tu_opts o = {.rlimit_as = aborts[_i].rlimit_as};
    struct tu_proc p;
    run_with(&p, true, LIST("POOLSHIM_ON_ERROR=abort", aborts[_i].var),
             LIST("shim_api", "usable", "64"), &o);
    ck_exit(&p, 78);
    ck_assert_msg(p.out_len == 0, "main ran: %s", p.out);
    ck_one_line(&p, aborts[_i].start, ABORT_TAIL);
    tu_proc_free(&p);

    /* the same with off (the default): the line, then main on glibc */
    run_with(&p, true, LIST(aborts[_i].var), LIST("shim_api", "usable", "64"), &o);
    ck_exit(&p, 0);
    ck_kv(&p, "usable 64", "72");
    ck_one_line(&p, aborts[_i].start, OFF_TAIL);
    tu_proc_free(&p);
}
END_TEST

/* POOLSHIM_CHILDREN=0 takes the variables out of the environment: not
 * before the failure is reported and acted on. */
START_TEST(abort_with_children_off)
{
    struct tu_opts o = {.rlimit_as = 1ULL << 30};
    struct tu_proc p;
    run_with(&p, true, LIST("POOLSHIM_ON_ERROR=abort", "POOLSHIM_CHILDREN=0",
                            "POOLSHIM_CLASSES=1m:2000"),
             LIST("shim_api", "usable", "64"), &o);
    ck_exit(&p, 78);
    ck_assert_int_eq(p.out_len, 0);
    ck_one_line(&p, "poolshim: POOLSHIM_CLASSES=\"1m:2000\": the pools would reserve",
                ABORT_TAIL);
    tu_proc_free(&p);
}
END_TEST

/* A malformed POOLSHIM_ON_ERROR fails closed. */
START_TEST(abort_on_malformed_on_error)
{
    struct tu_proc p;
    run_shim(&p, LIST("POOLSHIM_ON_ERROR=abrot"), LIST("shim_api", "usable", "64"));
    ck_exit(&p, 78);
    ck_assert_int_eq(p.out_len, 0);
    ck_one_line(&p, "poolshim: POOLSHIM_ON_ERROR=\"abrot\": unknown value (expected off "
                    "or abort)", ABORT_TAIL);
    tu_proc_free(&p);
}
END_TEST

/* A valid configuration with abort: nothing said, the pools serve. */
START_TEST(abort_valid_runs)
{
    struct tu_proc p;
    run_shim(&p, LIST("POOLSHIM_ON_ERROR=abort", "POOLSHIM_CLASSES=64:8"),
             LIST("shim_api", "usable", "64"));
    ck_clean(&p);
    ck_kv(&p, "usable 64", "64");
    tu_proc_free(&p);
}
END_TEST

/* POOLSHIM_MLOCK=1 under a memlock limit of 0 without CAP_IPC_LOCK (dropped
 * by setpriv; prlimit sets the limit): with abort, status 78; with off, the
 * line and the program runs on unlocked pools. prlimit and setpriv (Debian's
 * util-linux) run untouched: POOLSHIM_ONLY keeps the shim to shim_api. */
START_TEST(abort_on_mlock_failure)
{
    static const char *const modes[] = {"POOLSHIM_ON_ERROR=abort", "POOLSHIM_ON_ERROR=off"};
    struct tu_proc p;
    run_shim(&p, LIST("POOLSHIM_MLOCK=1", "POOLSHIM_CLASSES=64:8", "POOLSHIM_ONLY=shim_api",
                      modes[_i]),
             LIST("/usr/bin/prlimit", "--memlock=0:0", "/usr/bin/setpriv",
                  "--bounding-set=-ipc_lock", "--", tu_helper("shim_api"), "usable", "64"));
    const char *start = "poolshim: POOLSHIM_MLOCK=1: mlock of 512 bytes failed (EPERM; "
                        "raise RLIMIT_MEMLOCK, see ulimit -l)";
    if (_i == 0) {
        ck_exit(&p, 78);
        ck_assert_int_eq(p.out_len, 0);
        ck_one_line(&p, start, ABORT_TAIL);
    } else {
        ck_exit(&p, 0);
        ck_kv(&p, "usable 64", "64");
        ck_one_line(&p, start, "; the pools stay unlocked, everything else is on\n");
    }
    tu_proc_free(&p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* poolshim check                                                            */

/* The check prints what the shim prints: the same line, byte for byte. */
START_TEST(check_same_messages)
{
    static const char *const vars[] = {
        "POOLSHIM_CLASSES=64:x", "POOLSHIM_CLASSES=60:1,64:1", "POOLSHIM_BUDGET=0",
        "POOLSHIM_STATZ=1", "POOLSHIM_ONLY=a,,b",
    };
    struct tu_proc shimmed, checked;
    run_shim(&shimmed, LIST(vars[_i]), LIST("shim_api", "usable", "64"));
    run_wrapper(&checked, LIST(vars[_i]), LIST("check", "--lib", tu_shim_lib()));
    ck_exit(&checked, 1);
    ck_assert_int_eq(checked.out_len, 0);
    ck_assert_int_eq(tu_count_lines(checked.err), 1);
    ck_assert_str_eq(checked.err, shimmed.err);
    tu_proc_free(&shimmed);
    tu_proc_free(&checked);
}
END_TEST

START_TEST(check_classes)
{
    struct tu_proc p;
    run_wrapper(&p, NOVARS, LIST("check", "--lib", tu_shim_lib(), "--classes", "64:1024,4k:64"));
    ck_exit(&p, 0);
    ck_quiet_stderr(&p);
    ck_assert_str_eq(p.out, "poolshim: configuration valid: 2 classes, 327680 bytes of objects\n");
    tu_proc_free(&p);

    /* --classes alone: a bad variable of the environment does not count */
    run_wrapper(&p, LIST("POOLSHIM_STRICT=2"),
                LIST("check", "--lib", tu_shim_lib(), "--classes", "64:x"));
    ck_exit(&p, 1);
    ck_one_line(&p, "poolshim: POOLSHIM_CLASSES=\"64:x\": bad count \"x\" in \"64:x\"",
                OFF_TAIL);
    tu_proc_free(&p);
}
END_TEST

/* A file as poolshim run reads it: comments, blanks, quotes, a later line
 * replacing an earlier one; -v prints the effective configuration. */
START_TEST(check_config_file)
{
    const char *path = tmp_file("app.conf", "# app\n\n  POOLSHIM_CLASSES='64:10'  \n"
                                            "POOLSHIM_STRICT=0\nPOOLSHIM_STRICT=\"1\"\n");
    struct tu_proc p;
    run_wrapper(&p, NOVARS, LIST("check", "--lib", tu_shim_lib(), "-v", "--config", path));
    ck_exit(&p, 0);
    ck_quiet_stderr(&p);
    ck_assert_msg(tu_has_line(p.out, "poolshim: configuration valid: 1 class, 640 bytes of objects"),
                  "%s", p.out);
    ck_assert_msg(strstr(p.out, "\npoolshim: POOLSHIM_CLASSES=64:10 ") != NULL, "%s", p.out);
    ck_assert_msg(strstr(p.out, "\npoolshim: POOLSHIM_STRICT=1 ") != NULL, "%s", p.out);
    tu_proc_free(&p);

    const char bad[] = "POOLSHIM_CLASSES=64:10\nFOO=1\nnonsense\nPOOLSHIM_CACHE=2\n";
    ck_assert_int_eq(tu_write_file(path, bad, sizeof bad - 1), 0);
    run_wrapper(&p, NOVARS, LIST("check", "--lib", tu_shim_lib(), "--config", path));
    ck_exit(&p, 1);
    ck_assert_int_eq(p.out_len, 0);
    char want[16384];
    snprintf(want, sizeof want,
             "poolshim: %s:2: not a POOLSHIM_ variable: \"FOO=1\" (expected "
             "POOLSHIM_VAR=VALUE lines, blank lines or # comments)\n"
             "poolshim: %s:3: not an assignment: \"nonsense\" (expected "
             "POOLSHIM_VAR=VALUE lines, blank lines or # comments)\n"
             "poolshim: POOLSHIM_CACHE=\"2\": not a boolean (expected 0, 1, true, "
             "false, yes, no, on or off)" OFF_TAIL, path, path);
    ck_assert_str_eq(p.err, want);
    tu_proc_free(&p);
}
END_TEST

static const struct {
    const char *const args[4];
    const char *needle;
} check_misuses[] = {
    {{"--classes", NULL}, "poolshim-check: --classes needs a SPEC"},
    {{"--config", "/nonexistent/x.conf", NULL}, "poolshim-check: cannot read /nonexistent/x.conf"},
    {{"--classes", "64:1", "--config", "x"}, "poolshim-check: give one of --classes and --config"},
    {{"--frobnicate", NULL}, "poolshim-check: unknown argument \"--frobnicate\""},
};

START_TEST(check_usage_errors)
{
    const char *args[8] = {"check", "--lib", tu_shim_lib()};
    for (int i = 0; i < 4 && check_misuses[_i].args[i]; i++)
        args[3 + i] = check_misuses[_i].args[i];
    struct tu_proc p;
    run_wrapper(&p, NOVARS, args);
    ck_exit(&p, 2);
    ck_assert_int_eq(p.out_len, 0);
    ck_assert_msg(strncmp(p.err, check_misuses[_i].needle, strlen(check_misuses[_i].needle)) == 0,
                  "%s", p.err);
    tu_proc_free(&p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* the wrapper validates before it execs                                     */

START_TEST(wrapper_refuses_invalid)
{
    struct tu_proc p;
    run_wrapper(&p, LIST("POOLSHIM_STRICT=2"),
                LIST("--lib", tu_shim_lib(), "--classes", "64:8", tu_helper("shim_api"),
                     "usable", "64"));
    ck_exit(&p, 2);
    ck_assert_msg(p.out_len == 0, "the program ran: %s", p.out);
    ck_assert_int_eq(tu_count_lines(p.err), 2);
    ck_assert_msg(strncmp(p.err, "poolshim: POOLSHIM_STRICT=\"2\": not a boolean", 44) == 0,
                  "%s", p.err);
    ck_assert_msg(strstr(p.err, "\npoolshim: ") != NULL && strstr(p.err, "not started") != NULL,
                  "%s", p.err);
    tu_proc_free(&p);

    /* run --config: the file's values are checked too */
    const char *path = tmp_file("bad.conf", "POOLSHIM_CLASSES=64:0\n");
    run_wrapper(&p, NOVARS, LIST("run", "--config", path, "--lib", tu_shim_lib(),
                                 tu_helper("shim_api"), "usable", "64"));
    ck_exit(&p, 2);
    ck_assert_int_eq(p.out_len, 0);
    ck_assert_msg(strncmp(p.err, "poolshim: POOLSHIM_CLASSES=\"64:0\": zero count", 45) == 0,
                  "%s", p.err);
    tu_proc_free(&p);
}
END_TEST

static void check_cases(Suite *s)
{
    TCase *tc = add_tcase(s, "on_error", 30, TC_PLAIN);
    tcase_add_loop_test(tc, abort_before_main, 0, N(aborts));
    add_tests(tc, abort_on_malformed_on_error, abort_with_children_off, abort_valid_runs);
    tcase_add_loop_test(tc, abort_on_mlock_failure, 0, 2);

    tc = add_tcase(s, "check", 30, TC_SCRATCH);
    tcase_add_loop_test(tc, check_same_messages, 0, 5);
    add_tests(tc, check_classes, check_config_file);
    tcase_add_loop_test(tc, check_usage_errors, 0, N(check_misuses));
    add_tests(tc, wrapper_refuses_invalid);
}

TU_SUITE("check", check_cases, TU_SHIM);
