/* test_scope.c - which processes the shim serves and what their children
 * inherit (shim/scope.c): POOLSHIM_ONLY with a real bash in front of the
 * program, POOLSHIM_CHILDREN=0 with a real shell that runs programs, and
 * the wrapper's --only and --no-children.
 *
 * Whether a process ran under the shim shows in shim_api's usable size of a
 * 64-byte request: 64 from the pool (POOLSHIM_CLASSES=64:16), 72 from glibc
 * (test_shim.c's glibc_baseline_sizes). Each process that runs the shim with
 * POOLSHIM_STATS=1 prints one stats table at exit, so the number of tables
 * counts the processes under the shim. The shell is bash: dash ends with
 * _exit, which runs no destructor and so prints no table.
 *
 * Needs TEST_SHIM_LIB and TEST_HELPERS (scripts/run-tests sets them).
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/checkutil.h"

#define CLASSES "POOLSHIM_CLASSES=64:16"

/* How many stats tables err holds (one per process under the shim). */
static int tables(const char *err)
{
    int n = 0;
    for (const char *p = err; (p = strstr(p, "poolshim: stats for ")) != NULL; p++)
        n++;
    return n;
}

/* "CMD usable 64" for a shell, with shim_api's full path. */
static const char *usable_cmd(const char *prefix, const char *suffix)
{
    static char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s%s usable 64%s", prefix, tu_helper("shim_api"), suffix);
    return cmd;
}

/* bash running shim_api usable 64 */
#define BASH_USABLE LIST("/bin/bash", "-c", usable_cmd("", "; true"))

/* The run ended 0, shim_api's malloc(64) had the usable size `usable` ("64"
 * from the pool, "72" from glibc), and stderr held n stats tables: `what`. */
static void ck_scope(const struct tu_proc *p, const char *usable, int n, const char *what)
{
    ck_exit(p, 0);
    ck_kv(p, "usable 64", usable);
    ck_assert_msg(tables(p->err) == n, "want %s: %s", what, p->err);
}

/* ------------------------------------------------------------------------ */
/* POOLSHIM_ONLY                                                             */

/* bash is not listed: it runs on glibc, silently, and passes the variables
 * on; shim_api is: it runs on the pools. One table: shim_api's. */
START_TEST(only_with_bash_c)
{
    struct tu_proc p;
    run_shim(&p, LIST(CLASSES, "POOLSHIM_STATS=1", "POOLSHIM_ONLY=shim_api"), BASH_USABLE);
    ck_scope(&p, "64", 1, "shim_api's table only");
    /* the table is shim_api's: its one 64-byte request */
    struct tu_stats st;
    ck_assert_int_eq(tu_parse_stats(p.err, &st), 0);
    ck_assert_uint_eq(tu_stats_class(&st, 64)->served, 1);
    tu_proc_free(&p);
}
END_TEST

/* Only bash listed: bash under the shim, shim_api on glibc. */
START_TEST(only_other_name_stays_off)
{
    struct tu_proc p;
    run_shim(&p, LIST(CLASSES, "POOLSHIM_STATS=1", "POOLSHIM_ONLY=bash,server"), BASH_USABLE);
    ck_scope(&p, "72", 1, "bash's table only");
    tu_proc_free(&p);
}
END_TEST

/* The name of the executable file counts too: shim_api started through a
 * symbolic link named alias_api (argv[0] alias_api, /proc/self/exe
 * shim_api) is in scope for ONLY=shim_api; for ONLY=alias_api as well. */
START_TEST(only_matches_argv0_or_executable)
{
    const char *link = path_in(make_tmp(), "alias_api");
    ck_assert_int_eq(symlink(tu_helper("shim_api"), link), 0);
    static const char *const only[] = {"POOLSHIM_ONLY=shim_api",
                                       "POOLSHIM_ONLY=alias_api",
                                       "POOLSHIM_ONLY=other"};
    static const char *const want[] = {"64", "64", "72"};
    struct tu_proc p;
    run_shim(&p, LIST(CLASSES, only[_i]), LIST(link, "usable", "64"));
    ck_clean(&p);
    ck_kv(&p, "usable 64", want[_i]);
    tu_proc_free(&p);
}
END_TEST

/* Out of scope, the rest of the configuration is not even read: a
 * malformed variable says nothing in bash, and its line in shim_api. */
START_TEST(only_out_of_scope_is_silent)
{
    struct tu_proc p;
    run_shim(&p, LIST("POOLSHIM_CLASSES=64:x", "POOLSHIM_ONLY=shim_api"), BASH_USABLE);
    ck_scope(&p, "72", 0, "no table");
    ck_assert_int_eq(tu_count_lines(p.err), 1);
    ck_assert_msg(strstr(p.err, "POOLSHIM_CLASSES=\"64:x\"") != NULL, "%s", p.err);
    tu_proc_free(&p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* POOLSHIM_CHILDREN                                                         */

/* A real shell under the shim with CHILDREN=0: it keeps the shim, the
 * programs it runs get an environment without it, other preloads kept in
 * their order. */
START_TEST(children_off_with_a_shell)
{
    char preload[4300], cmd[8192];
    snprintf(preload, sizeof preload, "LD_PRELOAD=libm.so.6 %s:libdl.so.2", tu_shim_lib());
    snprintf(cmd, sizeof cmd,
             "/usr/bin/env | /bin/grep -E '^(LD_PRELOAD|POOLSHIM_)' | /usr/bin/sort; %s",
             usable_cmd("", "; true"));
    struct tu_proc p;
    run_plain(&p, LIST(preload, CLASSES, "POOLSHIM_STATS=1", "POOLSHIM_CHILDREN=0"),
              LIST("/bin/bash", "-c", cmd));
    ck_exit(&p, 0);
    ck_assert_str_eq(p.out, "LD_PRELOAD=libm.so.6:libdl.so.2\nusable 64=72\n");
    ck_assert_msg(tables(p.err) == 1, "want the shell's table only: %s", p.err);
    tu_proc_free(&p);
}
END_TEST

/* The default: children inherit everything and run under the shim. */
START_TEST(children_inherit_by_default)
{
    struct tu_proc p;
    run_shim(&p, LIST(CLASSES, "POOLSHIM_STATS=1"), BASH_USABLE);
    ck_scope(&p, "64", 2, "two tables");
    tu_proc_free(&p);
}
END_TEST

/* LD_PRELOAD held only the shim: the variable goes altogether. */
START_TEST(children_off_removes_an_empty_preload)
{
    struct tu_proc p;
    run_shim(&p, LIST(CLASSES, "POOLSHIM_CHILDREN=0", "POOLSHIM_ONLY=bash"),
             LIST("/bin/bash", "-c", "/usr/bin/env; true"));
    ck_clean(&p);
    ck_assert_msg(strstr(p.out, "LD_PRELOAD") == NULL && strstr(p.out, "POOLSHIM_") == NULL,
                  "env: %s", p.out);
    ck_assert_msg(strstr(p.out, "PATH=/usr/bin:/bin\n") != NULL, "env: %s", p.out);
    tu_proc_free(&p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* the wrapper                                                               */

/* The wrapper's `option` (and its value, or NULL) in front of BASH_USABLE,
 * with stats on. */
static void wrapper_bash(struct tu_proc *p, const char *option, const char *value)
{
    const char *args[8] = {"--lib", tu_shim_lib(), option};
    int n = 3;
    if (value != NULL)
        args[n++] = value;
    memcpy(args + n, BASH_USABLE, 4 * sizeof args[0]);
    run_wrapper(p, LIST(CLASSES, "POOLSHIM_STATS=1"), args);
}

START_TEST(wrapper_only)
{
    struct tu_proc p;
    wrapper_bash(&p, "--only", "shim_api");
    ck_scope(&p, "64", 1, "shim_api's table only");
    tu_proc_free(&p);
}
END_TEST

START_TEST(wrapper_no_children)
{
    struct tu_proc p;
    wrapper_bash(&p, "--no-children", NULL);
    ck_scope(&p, "72", 1, "the shell's table only");
    tu_proc_free(&p);
}
END_TEST

/* --only with a path is refused before anything runs. */
START_TEST(wrapper_only_path_refused)
{
    struct tu_proc p;
    run_wrapper(&p, NOVARS, LIST("--lib", tu_shim_lib(), "--only", "/usr/bin/server",
                                 tu_helper("shim_api"), "usable", "64"));
    ck_exit(&p, 2);
    ck_assert_int_eq(p.out_len, 0);
    ck_assert_msg(strstr(p.err, "poolshim: POOLSHIM_ONLY=\"/usr/bin/server\": a path, "
                                "not a name: \"/usr/bin/server\"") == p.err,
                  "%s", p.err);
    ck_assert_int_eq(tu_count_lines(p.err), 2);
    tu_proc_free(&p);
}
END_TEST

static void scope_cases(Suite *s)
{
    TCase *tc = add_tcase(s, "only", 30, TC_SCRATCH, only_with_bash_c,
                          only_other_name_stays_off);
    tcase_add_loop_test(tc, only_matches_argv0_or_executable, 0, 3);
    add_tests(tc, only_out_of_scope_is_silent);

    add_tcase(s, "children", 30, TC_PLAIN, children_off_with_a_shell,
              children_inherit_by_default, children_off_removes_an_empty_preload);

    add_tcase(s, "wrapper", 30, TC_PLAIN, wrapper_only, wrapper_no_children,
              wrapper_only_path_refused);
}

TU_SUITE("scope", scope_cases, TU_SHIM);
