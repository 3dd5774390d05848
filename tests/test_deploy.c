/* test_deploy.c - the deployment examples of deploy/: the systemd drop-in
 * (deploy/systemd/poolshim.conf) and the container image
 * (deploy/container/Dockerfile).
 *
 * The drop-in is checked by systemd itself (systemd-analyze verify on a
 * demo unit with the drop-in beside it: no warning at all), its settings
 * are validated by poolshim check, and a program is run with exactly the
 * environment and memory-lock limit the drop-in gives a service (systemd
 * need not run here). The Dockerfile cannot be built without a container
 * engine: its ENV block is validated and run in the same way. The paths of
 * the examples (/usr/local/..., /opt/poolshim/...) are replaced with this
 * build's.
 *
 * Needs TEST_SHIM_LIB and TEST_HELPERS (scripts/run-tests sets them), and
 * systemd-analyze (scripts/install-deps deploy).
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/checkutil.h"

#define ANALYZE "/usr/bin/systemd-analyze"

/* A file of the source tree (BUILD/../path), whole, in a string that lives
 * until the next call. */
static const char *source(const char *path)
{
    static char buf[16384];
    char full[4400];
    snprintf(full, sizeof full, "%s", tu_shim_lib());
    char *slash = strrchr(full, '/');
    snprintf(slash != NULL ? slash : full, sizeof full - (size_t)(slash ? slash - full : 0),
             "/../%s", path);
    FILE *f = fopen(full, "r");
    ck_assert_msg(f != NULL, "cannot read %s", full);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* text with every `from` replaced by `to`, into out[cap]. */
static void replace(char *out, size_t cap, const char *text, const char *from, const char *to)
{
    size_t len = 0, nf = strlen(from), nt = strlen(to);
    for (const char *p = text; *p;) {
        const char *hit = strstr(p, from);
        size_t n = hit != NULL ? (size_t)(hit - p) : strlen(p);
        ck_assert(len + n + nt < cap);
        memcpy(out + len, p, n);
        len += n;
        p += n;
        if (hit != NULL) {
            memcpy(out + len, to, nt);
            len += nt;
            p += nf;
        }
    }
    out[len] = '\0';
}

/* The drop-in with this build's paths and PROGRAM = program. */
static const char *dropin(const char *program)
{
    static char a[16384], b[16384], c[16384];
    replace(a, sizeof a, source("deploy/systemd/poolshim.conf"),
            "/usr/local/lib/libpoolshim.so.0", tu_shim_lib());
    replace(b, sizeof b, a, "/usr/local/bin/poolshim", wrapper());
    replace(c, sizeof c, b, "=PROGRAM", program);
    return c;
}

/* A unit dir with demo.service and demo.service.d/poolshim.conf = conf. */
static const char *unit_dir(const char *conf)
{
    static char unit[4400];
    snprintf(unit, sizeof unit, "%s",
             tmp_file("demo.service", "[Unit]\nDescription=poolshim demo\n\n[Service]\n"
                                      "ExecStart=/bin/sleep 1\n"));
    char path[4500];
    snprintf(path, sizeof path, "%s.d", unit);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s.d/poolshim.conf", unit);
    ck_assert_int_eq(tu_write_file(path, conf, strlen(conf)), 0);
    return unit;
}

static void verify(struct tu_proc *p, const char *unit)
{
    ck_assert_msg(access(ANALYZE, X_OK) == 0,
                  ANALYZE " is missing: scripts/install-deps deploy installs it");
    run_plain(p, NOVARS, LIST(ANALYZE, "verify", "--man=no", unit));
}

/* systemd reads the drop-in without a single warning; a misspelt key in
 * it would have one (so that the check can fail). */
START_TEST(dropin_verifies)
{
    struct tu_proc p;
    verify(&p, unit_dir(dropin("=sleep")));
    ck_clean(&p);
    ck_assert_int_eq(p.out_len, 0);
    tu_proc_free(&p);

    char typo[16384];
    replace(typo, sizeof typo, dropin("=sleep"), "LimitMEMLOCK=", "LimitMEMLOK=");
    verify(&p, unit_dir(typo));
    ck_assert_msg(strstr(p.err, "Unknown key 'LimitMEMLOK'") != NULL, "%s", p.err);
    tu_proc_free(&p);
}
END_TEST

/* The environment a service gets from the drop-in: its Environment= lines
 * (systemd's %% is %), plus vars. */
static void service_env(struct tu_env *env, const char *conf, const char *const *vars)
{
    tu_env_init(env);
    for (const char *line = conf; *line; line = strchr(line, '\n') + 1) {
        if (strncmp(line, "Environment=", 12) == 0) {
            char assign[4400], plain_text[4400];
            snprintf(assign, sizeof assign, "%.*s", (int)strcspn(line + 12, "\n"), line + 12);
            replace(plain_text, sizeof plain_text, assign, "%%", "%");
            ck_assert_int_eq(tu_env_put(env, plain_text), 0);
        }
        if (strchr(line, '\n') == NULL)
            break;
    }
    for (; *vars; vars++)
        tu_env_put(env, *vars);
}

/* Run argv with the drop-in's environment (POOLSHIM_ONLY=live_hold, and
 * 1 MiB of classes: a limit can only be lowered here, and the usual hard
 * limit is 8 MiB) and a memory-lock limit of `memlock` bytes (as
 * LimitMEMLOCK=), without the root's CAP_IPC_LOCK, so that the limit counts;
 * stdin from a file of commands. */
static void as_service(struct tu_proc *p, unsigned long memlock, const char *stats,
                       const char *const *argv)
{
    char file[4400], limit[64];
    snprintf(file, sizeof file, "POOLSHIM_STATS_FILE=%s", stats);
    snprintf(limit, sizeof limit, "--memlock=%lu:%lu", memlock, memlock);
    struct tu_env env;
    service_env(&env, dropin("=live_hold"),
                LIST("POOLSHIM_ONLY=live_hold", "POOLSHIM_CLASSES=64:8192,4k:128", file));
    const char *args[16] = {"/usr/bin/prlimit", limit, "/usr/bin/setpriv",
                            "--bounding-set=-ipc_lock", "--"};
    int n = 5;
    for (; *argv && n < 15; argv++)
        args[n++] = *argv;
    struct tu_opts o = {.stdin_path = tmp_file("commands", "alloc 64 10\n")};
    ck_assert_int_eq(tu_run(p, args, &env, &o), 0);
    tu_env_free(&env);
}

/* A service as the drop-in starts it: the check passes, the program runs
 * under the shim with its pools locked and nothing said, the figures file
 * is there at exit. With a LimitMEMLOCK below the pools' 1 MiB, it stops
 * before main with 78. */
START_TEST(dropin_service_runs)
{
    char stats[4400];
    snprintf(stats, sizeof stats, "%s/poolshim-%%p.json", make_tmp());
    struct tu_proc p;
    as_service(&p, 4u << 20, stats, LIST(wrapper(), "check"));
    ck_exit(&p, 0);
    ck_assert_msg(strstr(p.out, "poolshim: configuration valid: 2 classes, 1048576 bytes of "
                                "objects") != NULL, "%s", p.out);
    tu_proc_free(&p);

    as_service(&p, 4u << 20, stats, LIST(tu_helper("live_hold")));
    ck_clean(&p);
    ck_assert_str_eq(p.out, "ok\n");
    char dir[4400];
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(stats, '/') - stats), stats);
    DIR *d = opendir(dir);
    int files = 0;
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        files += strncmp(e->d_name, "poolshim-", 9) == 0 && strstr(e->d_name, ".json") != NULL;
    if (d != NULL)
        closedir(d);
    ck_assert_msg(files == 1, "%d stats files in %s, want 1", files, dir);
    tu_proc_free(&p);

    as_service(&p, 512u << 10, stats, LIST(tu_helper("live_hold")));
    ck_exit(&p, 78);
    ck_assert_int_eq(p.out_len, 0);
    ck_assert_msg(strstr(p.err, "poolshim: POOLSHIM_MLOCK=1: mlock of 1048576 bytes failed") ==
                      p.err && strstr(p.err, "; poolshim stops the program with exit status 78 "
                                             "(POOLSHIM_ON_ERROR=abort)\n") != NULL,
                  "%s", p.err);
    tu_proc_free(&p);
}
END_TEST

/* The Dockerfile's ENV block: valid, and a program run with it is served
 * by the pools, silently. */
START_TEST(container_env_runs)
{
    const char *text = source("deploy/container/Dockerfile");
    const char *env_at = strstr(text, "\nENV ");
    ck_assert_ptr_nonnull(env_at);
    struct tu_env env;
    tu_env_init(&env);
    for (const char *p = env_at + 5;;) {
        p += strspn(p, " ");
        size_t n = strcspn(p, " \\\n");
        char assign[4400], fixed[4400];
        snprintf(assign, sizeof assign, "%.*s", (int)n, p);
        replace(fixed, sizeof fixed, assign, "/opt/poolshim/lib/libpoolshim.so.0", tu_shim_lib());
        if (strncmp(fixed, "POOLSHIM_ONLY=", 14) == 0)
            snprintf(fixed, sizeof fixed, "POOLSHIM_ONLY=live_hold");
        ck_assert_int_eq(tu_env_put(&env, fixed), 0);
        p += n;
        const char *nl = strchr(p, '\n');
        if (nl == NULL || memchr(p, '\\', (size_t)(nl - p)) == NULL)
            break;
        p = nl + 1;
    }
    ck_assert_msg(tu_env_get(&env, "POOLSHIM_ON_ERROR") != NULL, "no ENV block parsed");
    struct tu_proc p;
    const char *check[] = {wrapper(), "check", NULL};
    ck_assert_int_eq(tu_run(&p, check, &env, NULL), 0);
    ck_exit(&p, 0);
    tu_proc_free(&p);
    struct tu_opts o = {.stdin_path = tmp_file("commands", "alloc 64 10\n")};
    const char *hold[] = {tu_helper("live_hold"), NULL};
    ck_assert_int_eq(tu_run(&p, hold, &env, &o), 0);
    ck_clean(&p);
    tu_env_free(&env);
    tu_proc_free(&p);
}
END_TEST

static void deploy_cases(Suite *s)
{
    add_tcase(s, "deploy", 60, TC_SCRATCH, dropin_verifies, dropin_service_runs,
              container_env_runs);
}

TU_SUITE("deploy", deploy_cases, TU_SHIM);
