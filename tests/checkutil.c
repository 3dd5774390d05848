/* checkutil.c - the bodies of checkutil.h (compiled once, linked into every
 * suite). */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/checkutil.h"

/* ------------------------------------------------------------------------ */
/* test cases                                                                */

TCase *add_tcase_with(Suite *s, const char *name, unsigned timeout, int dirs,
                      const TTest *const *tests)
{
    TCase *tc = tcase_create(name);
    if (timeout != 0)
        tcase_set_timeout(tc, timeout);
    if (dirs != TC_PLAIN)
        tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown);
    if (dirs == TC_CASE_DIR)
        tcase_add_checked_fixture(tc, case_dir_setup, NULL);
    suite_add_tcase(s, tc);
    add_test_list(tc, tests);
    return tc;
}

void add_test_list(TCase *tc, const TTest *const *tests)
{
    for (; *tests != NULL; tests++)
        tcase_add_test(tc, *tests);
}

/* ------------------------------------------------------------------------ */
/* running helpers                                                           */

void run_with(struct tu_proc *p, bool preload, const char *const *vars,
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

void run_shim(struct tu_proc *p, const char *const *vars, const char *const *argv)
{
    run_with(p, true, vars, argv, NULL);
}

void run_plain(struct tu_proc *p, const char *const *vars, const char *const *argv)
{
    run_with(p, false, vars, argv, NULL);
}

void ck_kvs(const struct tu_proc *p, const char *const *want)
{
    for (; *want != NULL; want++) {
        const char *eq = strchr(*want, '=');
        ck_assert_msg(eq != NULL, "not key=value: %s", *want);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(eq - *want), *want);
        ck_kv(p, key, eq + 1);
    }
}

void run_clean(struct tu_proc *p, const char *const *vars, const char *const *argv,
               const char *const *want)
{
    run_shim(p, vars, argv);
    ck_clean(p);
    ck_kvs(p, want);
}

void expect_clean(const char *const *vars, const char *const *argv, const char *const *want)
{
    struct tu_proc p;
    run_clean(&p, vars, argv, want);
    tu_proc_free(&p);
}

void ck_quiet_as_without(struct tu_proc *with, struct tu_proc *without)
{
    ck_exit(without, 7);
    ck_exit(with, 7);
    ck_quiet_stderr(with);
    ck_assert_str_eq(with->out, without->out);
    tu_proc_free(with);
    tu_proc_free(without);
}

void run_commands(struct tu_proc *p, const char *const *vars, const char *script)
{
    struct tu_opts o = {.stdin_path = tmp_file("commands", script)};
    run_with(p, true, vars, LIST("live_hold"), &o);
}

/* ------------------------------------------------------------------------ */
/* the wrapper                                                               */

const char *wrapper(void)
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

void run_wrapper(struct tu_proc *p, const char *const *vars, const char *const *args)
{
    const char *argv[16] = {wrapper()};
    int n = 1;
    for (; args[n - 1] && n < 15; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    run_plain(p, vars, argv);
}

/* ------------------------------------------------------------------------ */
/* scratch directories                                                       */

static char tmp_base[4096];

void tmp_setup(void)
{
    const char *d = tu_tmpdir();
    snprintf(tmp_base, sizeof tmp_base, "%s", d ? d : "");
}

void tmp_teardown(void)
{
    if (tmp_base[0])
        tu_rm_rf(tmp_base);
    tmp_base[0] = '\0';
}

const char *make_tmp(void)
{
    static char path[4200];
    ck_assert_msg(tmp_base[0] != '\0', "no scratch directory");
    snprintf(path, sizeof path, "%s/XXXXXX", tmp_base);
    ck_assert_ptr_nonnull(mkdtemp(path));
    return path;
}

char case_dir[4200];

void case_dir_setup(void)
{
    snprintf(case_dir, sizeof case_dir, "%s", make_tmp());
}

/* "A" SEP "B" in the next of the rotating buffers */
static const char *joined(const char *a, char sep, const char *b)
{
    static char buf[16][4800];
    static unsigned next;
    char *s = buf[next++ % 16];
    snprintf(s, sizeof buf[0], "%s%c%s", a, sep, b);
    return s;
}

const char *case_path(const char *name)
{
    return joined(case_dir, '/', name);
}

const char *path_in(const char *dir, const char *name)
{
    return joined(dir, '/', name);
}

const char *var_eq(const char *name, const char *value)
{
    return joined(name, '=', value);
}

const char *tmp_file(const char *name, const char *text)
{
    const char *path = path_in(make_tmp(), name);
    ck_assert_int_eq(tu_write_file(path, text, strlen(text)), 0);
    return path;
}
