/* test_wrapper.c - the poolshim wrapper (scripts/poolshim) from the outside.
 *
 * Runs the script in the source tree with a fresh environment (PATH, plus
 * what a case sets) and asserts on its exit status, its stdout and its
 * stderr: usage errors exit 2 with one "poolshim: " line, a program that is
 * not found 127 and one that cannot run 126 (as env(1) does), help on
 * stdout with exit 0, the environment it hands the program.
 *
 * Needs TEST_SHIM_LIB and TEST_HELPERS (scripts/run-tests sets them).
 */
#define _GNU_SOURCE
#include <check.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool/version.h"
#include "tests/checkutil.h"

/* The whole of a small file, NUL-terminated, in a string that lives until
 * the next call; "" when it cannot be read. */
static const char *read_small(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n = 0;
    if (f) {
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    return buf;
}

/* ------------------------------------------------------------------------ */
/* running programs                                                          */

/* _i 0: 7 requests no class covers; _i 1: one ("1 request") */
START_TEST(wrapper_stats_table)
{
    struct tu_proc p;
    const char *uncovered = _i == 0 ? "7" : "1";
    run_wrapper(&p, NOVARS, LIST("--classes", "64:100", "--stats", "--lib", tu_shim_lib(), "--",
                                 tu_helper("shim_api"), "exhaust", "64", "100", "1000",
                                 uncovered));
    ck_exit(&p, 0);
    ck_kv(&p, "pooled", "100");
    struct tu_stats st;
    ck_assert_msg(tu_parse_stats(p.err, &st) == 0, "no stats: %s", p.err);
    ck_assert(!st.strict);
    ck_assert_int_eq(st.nrows, 1);
    ck_assert_uint_eq(st.row[0].size, 64);
    ck_assert_uint_eq(st.row[0].capacity, 100);
    ck_assert_uint_eq(st.row[0].served, 101);
    ck_assert_uint_eq(st.row[0].misses, 1);
    ck_assert_uint_eq(st.uncovered, _i == 0 ? 7 : 1);
    const char *last = _i == 0 ? "poolshim: not covered by any class: 7 requests\n"
                               : "poolshim: not covered by any class: 1 request\n";
    ck_assert_msg(strstr(p.err, last) != NULL, "stderr: %s", p.err);
    tu_proc_free(&p);
}
END_TEST

/* _i 0: with "--" before the program; _i 1: without, as env(1) takes it */
START_TEST(wrapper_sets_environment)
{
    struct tu_proc p;
    const char *libm = tu_first_executable(LIST("/lib/x86_64-linux-gnu/libm.so.6",
                                                "/usr/lib/x86_64-linux-gnu/libm.so.6",
                                                "/lib64/libm.so.6"));
    if (libm == NULL)
        libm = "/lib/x86_64-linux-gnu/libm.so.6";
    const char *dashdash = _i == 0 ? "--" : NULL;
    /* every option; an LD_PRELOAD already there stays, after ours */
    char pre[4200], want[8400];
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", libm);
    const char *all[] = {"--classes", "64:8,1k:2", "--strict", "--stats", "--check", "--lib",
                         tu_shim_lib(), dashdash ? dashdash : tu_helper("shim_api"),
                         dashdash ? tu_helper("shim_api") : "env", dashdash ? "env" : NULL,
                         NULL};
    run_wrapper(&p, LIST(pre), all);
    ck_exit(&p, 0);
    snprintf(want, sizeof want, "%s:%s", tu_shim_lib(), libm);
    ck_kv(&p, "LD_PRELOAD", want);
    ck_kv(&p, "POOLSHIM_CLASSES", "64:8,1k:2");
    ck_kv(&p, "POOLSHIM_STRICT", "1");
    ck_kv(&p, "POOLSHIM_STATS", "1");
    ck_kv(&p, "POOLSHIM_CHECK", "1");
    tu_proc_free(&p);

    /* no options: only LD_PRELOAD, nothing else set */
    const char *none[] = {"--lib", tu_shim_lib(), dashdash ? dashdash : tu_helper("shim_api"),
                          dashdash ? tu_helper("shim_api") : "env", dashdash ? "env" : NULL,
                          NULL};
    run_wrapper(&p, NOVARS, none);
    ck_clean(&p);
    snprintf(want, sizeof want, "LD_PRELOAD=%s\n", tu_shim_lib());
    ck_assert_str_eq(p.out, want);
    tu_proc_free(&p);
}
END_TEST

START_TEST(wrapper_passes_status_and_output)
{
    struct tu_proc with, without;
    run_wrapper(&with, NOVARS, LIST("--lib", tu_shim_lib(), tu_helper("shim_api"), "quiet"));
    run_plain(&without, NOVARS, LIST("shim_api", "quiet"));
    ck_quiet_as_without(&with, &without);
}
END_TEST

/* The options end at the program: what follows it is the program's, even
 * when it looks like the wrapper's options, "--" included. */
START_TEST(wrapper_leaves_program_arguments_alone)
{
    struct tu_proc p;
    run_wrapper(&p, NOVARS, LIST("--lib", tu_shim_lib(), "/bin/sh", "-c",
                                 "printf '%s|' \"$@\"; printf '%s' \"$POOLSHIM_STATS\"", "sh",
                                 "--stats", "--", "--help", "x y"));
    ck_clean(&p);
    ck_assert_str_eq(p.out, "--stats|--|--help|x y|");
    tu_proc_free(&p);
}
END_TEST

/* run: the file's settings, the options on top; no "--" needed */
START_TEST(wrapper_run_applies_config)
{
    const char *conf = tmp_file("app.conf", "# from a profile\n\nPOOLSHIM_CLASSES=64:8\n"
                                            "  POOLSHIM_CACHE=\"0\"  \n");
    struct tu_proc p;
    run_wrapper(&p, NOVARS, LIST("run", "--config", conf, "--lib", tu_shim_lib(), "--strict",
                                 tu_helper("shim_api"), "env"));
    ck_exit(&p, 0);
    ck_kv(&p, "POOLSHIM_CLASSES", "64:8");
    ck_kv(&p, "POOLSHIM_CACHE", "0");
    ck_kv(&p, "POOLSHIM_STRICT", "1");
    tu_proc_free(&p);

    run_wrapper(&p, NOVARS, LIST("run", "--classes=32:4", "--config", conf, "--lib",
                                 tu_shim_lib(), "--", tu_helper("shim_api"), "env"));
    ck_exit(&p, 0);
    ck_kv(&p, "POOLSHIM_CLASSES", "32:4");
    tu_proc_free(&p);
}
END_TEST

/* profile: runs the program (no "--" needed), writes FILE and FILE.conf
 * with the recommended classes, exits with the program's status */
START_TEST(wrapper_profile_writes_classes)
{
    const char *dir = make_tmp();
    const char *out = path_in(dir, "prof.txt"), *conf = path_in(dir, "prof.txt.conf");
    struct tu_proc p;
    run_wrapper(&p, NOVARS, LIST("profile", "--output", out, "--lib", tu_shim_lib(),
                                 tu_helper("shim_api"), "quiet"));
    ck_exit(&p, 7);
    ck_assert_msg(strstr(read_small(out), "# poolshim profile ") != NULL, "profile: %s",
                  read_small(out));
    ck_assert_msg(strstr(read_small(conf), "\nPOOLSHIM_CLASSES=") != NULL, "conf: %s",
                  read_small(conf));
    ck_assert_msg(strstr(p.err, "POOLSHIM_CLASSES=") != NULL, "report: %s", p.err);
    tu_proc_free(&p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* help, version                                                             */

/* The subcommands --help lists, one per line after "Subcommands:", as
 * "  NAME  summary". Returns their number (names copied into names[]). */
static int listed_subcommands(const char *help, char names[][32], int max)
{
    const char *s = strstr(help, "\nSubcommands:\n");
    int n = 0;
    if (s == NULL)
        return 0;
    s = strchr(s + 1, '\n') + 1;
    while (n < max && s[0] == ' ' && s[1] == ' ' && isalpha((unsigned char)s[2])) {
        size_t len = strcspn(s + 2, " \n");
        ck_assert_uint_lt(len, 32);
        memcpy(names[n], s + 2, len);
        names[n++][len] = '\0';
        s = strchr(s, '\n') + 1;
    }
    return n;
}

START_TEST(wrapper_help)
{
    struct tu_proc p, q;
    run_wrapper(&p, NOVARS, LIST("--help"));
    ck_clean(&p);
    static const char *const words[] = {"Usage: poolshim [OPTIONS] [--] PROGRAM", "--classes",
                                        "--strict", "--stats", "--check", "--lib",
                                        "--version", "Subcommands:"};
    for (int i = 0; i < N(words); i++)
        ck_assert_msg(strstr(p.out, words[i]) != NULL, "--help lacks %s: %s", words[i], p.out);
    /* -h and "help" say the same */
    run_wrapper(&q, NOVARS, LIST("-h"));
    ck_clean(&q);
    ck_assert_str_eq(q.out, p.out);
    tu_proc_free(&q);
    run_wrapper(&q, NOVARS, LIST("help"));
    ck_clean(&q);
    ck_assert_str_eq(q.out, p.out);
    tu_proc_free(&q);

    /* every listed subcommand has its help, the same both ways */
    char names[32][32], want[1100];
    int n = listed_subcommands(p.out, names, 32);
    ck_assert_msg(n >= 3, "subcommands listed: %d in %s", n, p.out);
    for (int i = 0; i < n; i++) {
        run_wrapper(&q, NOVARS, LIST(names[i], "--help"));
        ck_clean(&q);
        snprintf(want, sizeof want, "Usage: poolshim %s", names[i]);
        ck_assert_msg(strncmp(q.out, want, strlen(want)) == 0, "%s --help: %s", names[i],
                      q.out);
        struct tu_proc r;
        run_wrapper(&r, NOVARS, LIST("help", names[i]));
        ck_clean(&r);
        ck_assert_str_eq(r.out, q.out);
        tu_proc_free(&r);
        tu_proc_free(&q);
    }
    tu_proc_free(&p);
}
END_TEST

/* --version: "poolshim VERSION" with the VERSION file of the source tree */
START_TEST(wrapper_version)
{
    char path[4200], want[200];
    snprintf(path, sizeof path, "%s", wrapper());
    strcpy(strrchr(path, '/'), "/../VERSION");
    const char *v = read_small(path);
    ck_assert_msg(strlen(v) >= 5 && v[strlen(v) - 1] == '\n', "VERSION file: \"%s\"", v);
    snprintf(want, sizeof want, "poolshim %s", v);
    struct tu_proc p;
    run_wrapper(&p, NOVARS, LIST("--version"));
    ck_clean(&p);
    ck_assert_str_eq(p.out, want);
    tu_proc_free(&p);
}
END_TEST

/* no arguments: the usage on stderr, exit 2 */
START_TEST(wrapper_no_arguments)
{
    struct tu_proc p;
    run_wrapper(&p, NOVARS, LIST(NULL));
    ck_exit(&p, 2);
    ck_assert_msg(p.out_len == 0, "stdout: %s", p.out);
    ck_assert_msg(strncmp(p.err, "Usage: poolshim ", 16) == 0, "stderr: %s", p.err);
    ck_assert_msg(strstr(p.err, "poolshim --help") != NULL, "stderr: %s", p.err);
    tu_proc_free(&p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* errors                                                                    */

struct wrapper_misuse {
    const char *args[8];
    int status;
    const char *needle;   /* the one line on stderr must hold it */
};

static const struct wrapper_misuse wrapper_misuses[] = {
    {{"--bogus", "--", "/bin/true"}, 2, "unknown option --bogus"},
    {{"--bogus", "/bin/true"}, 2, "unknown option --bogus"},
    {{"--stats", "--"}, 2, "no program"},
    {{"--stats"}, 2, "no program"},
    {{"--classes"}, 2, "--classes needs"},
    {{"--lib", "/nonexistent/libpoolshim.so", "/bin/true"}, 2,
     "library not found: /nonexistent/libpoolshim.so"},
    {{"--lib"}, 2, "--lib needs"},
    {{"help", "bogus"}, 2, "no subcommand bogus"},
    {{"profile", "--bogus", "/bin/true"}, 2, "profile: unknown option --bogus"},
    {{"profile", "--budget", "12Q", "/bin/true"}, 2, "\"12Q\""},
    {{"profile"}, 2, "profile: no program"},
    {{"run", "/bin/true"}, 2, "run: --config FILE is required"},
    {{"run", "--config", "/nonexistent/app.conf", "/bin/true"}, 2,
     "not found: /nonexistent/app.conf"},
    {{"run", "--bogus", "/bin/true"}, 2, "run: unknown option --bogus"},
    /* a first word that is neither a subcommand nor a program */
    {{"frobnicate", "x"}, 127, "frobnicate: no such subcommand or program"},
    {{"--stats", "frobnicate"}, 127, "frobnicate: program not found"},
    /* after "--", a subcommand's name is a program's */
    {{"--", "help"}, 127, "help: program not found"},
    {{"/nonexistent/app"}, 127, "/nonexistent/app: no such file"},
    {{"/"}, 126, "/: not an executable program"},
    {{"/etc/passwd", "x"}, 126, "/etc/passwd: not an executable program"},
};

START_TEST(wrapper_usage_errors)
{
    const struct wrapper_misuse *m = &wrapper_misuses[_i];
    struct tu_proc p;
    run_wrapper(&p, NOVARS, m->args);
    ck_exit(&p, m->status);
    ck_assert_msg(p.out_len == 0, "stdout: %s", p.out);
    ck_assert_msg(strncmp(p.err, "poolshim: ", 10) == 0, "stderr: %s", p.err);
    ck_assert_msg(tu_count_lines(p.err) == 1, "not one line: %s", p.err);
    ck_assert_msg(strstr(p.err, m->needle) != NULL, "stderr lacks \"%s\": %s", m->needle,
                  p.err);
    tu_proc_free(&p);
}
END_TEST

/* Copy the wrapper to `to`; installed (as `make install` writes it): with
 * the version in place of "@VERSION@". */
static void copy_wrapper(const char *to, mode_t mode, bool installed)
{
    FILE *f = fopen(wrapper(), "rb");
    ck_assert_ptr_nonnull(f);
    static char data[1 << 20];
    size_t n = fread(data, 1, sizeof data - 64, f);
    fclose(f);
    data[n] = '\0';
    char *at = installed ? strstr(data, "'@VERSION@'") : NULL;
    if (at) {
        size_t len = strlen(POOL_VERSION_STRING);
        memmove(at + 1 + len, at + 10, n - (size_t)(at + 10 - data) + 1);
        memcpy(at + 1, POOL_VERSION_STRING, len);
        n = strlen(data);
    }
    ck_assert_int_eq(tu_write_file(to, data, n), 0);
    ck_assert_int_eq(chmod(to, mode), 0);
}

/* _i 0: installed, PREFIX/bin/poolshim + PREFIX/lib/libpoolshim.so;
 * _i 1: source tree, scripts/poolshim + build/libpoolshim.so;
 * _i 2: installed without the library: a clear error, exit 2;
 * _i 3: installed, with only the soname's file PREFIX/lib/libpoolshim.so.MAJOR. */
START_TEST(wrapper_finds_library)
{
    const char *tmp_root = make_tmp();
    char dir[4300], script[4400], lib[4400];
    const char *bin = _i == 1 ? "scripts" : "bin", *libdir = _i == 1 ? "build" : "lib";
    snprintf(dir, sizeof dir, "%s/%s", tmp_root, bin);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(script, sizeof script, "%s/poolshim", dir);
    copy_wrapper(script, 0755, _i != 1);
    snprintf(dir, sizeof dir, "%s/%s", tmp_root, libdir);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(lib, sizeof lib, "%s/libpoolshim.so", dir);
    if (_i == 3)
        snprintf(lib, sizeof lib, "%s/libpoolshim.so.%d", dir, POOL_VERSION_MAJOR);
    if (_i != 2)
        ck_assert_int_eq(symlink(tu_shim_lib(), lib), 0);

    struct tu_proc p;
    run_plain(&p, NOVARS,
              LIST(script, "--classes", "64:10", tu_helper("shim_api"), "usable", "64"));
    if (_i == 2) {
        ck_exit(&p, 2);
        ck_assert_msg(p.out_len == 0, "stdout: %s", p.out);
        ck_assert_msg(strncmp(p.err, "poolshim: ", 10) == 0 &&
                          strstr(p.err, "libpoolshim.so") != NULL,
                      "stderr: %s", p.err);
    } else {
        ck_clean(&p);
        ck_kv(&p, "usable 64", "64");
    }
    tu_proc_free(&p);
}
END_TEST

/* ------------------------------------------------------------------------ */

static void wrapper_cases(Suite *s)
{
    TCase *tc = add_tcase(s, "programs", 30, TC_SCRATCH);
    tcase_add_loop_test(tc, wrapper_stats_table, 0, 2);
    tcase_add_loop_test(tc, wrapper_sets_environment, 0, 2);
    add_tests(tc, wrapper_passes_status_and_output, wrapper_leaves_program_arguments_alone,
              wrapper_run_applies_config, wrapper_profile_writes_classes);
    tcase_add_loop_test(tc, wrapper_finds_library, 0, 4);

    tc = add_tcase(s, "usage", 30, TC_PLAIN, wrapper_help, wrapper_version, wrapper_no_arguments);
    tcase_add_loop_test(tc, wrapper_usage_errors, 0, N(wrapper_misuses));
}

TU_SUITE("wrapper", wrapper_cases, TU_SHIM);
