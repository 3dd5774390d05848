/* test_live.c - live figures from outside: the live file (shim/live.c) of
 * running helpers, read by poolshim stat (tools/poolshim-stat.c, and the
 * wrapper's `poolshim stat`).
 *
 * The helper live_hold holds allocations on command and waits; the cases
 * read its figures while it runs, then end it and compare with its exit
 * table (POOLSHIM_STATS=1). Bad input (a dead pid, a process without the
 * shim, another user's process, stale, corrupted, truncated files and files
 * of another version) each get one line and exit status 1.
 *
 * Needs TEST_SHIM_LIB and TEST_HELPERS (scripts/run-tests sets them); the
 * tool is BUILD/tools/poolshim-stat beside the library.
 */
#define _GNU_SOURCE
#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "shim/live.h"
#include "tests/checkutil.h"

#define CLASSES "POOLSHIM_CLASSES=64:100,256:10"

static const char *stat_tool(void)
{
    static char buf[4200];
    snprintf(buf, sizeof buf, "%s", tu_shim_lib());
    char *slash = strrchr(buf, '/');
    snprintf(slash != NULL ? slash : buf, sizeof buf - (size_t)(slash ? slash - buf : 0),
             "%s", "/tools/poolshim-stat");
    return buf;
}

/* ------------------------------------------------------------------------ */
/* a helper in the background                                                */

struct bg {
    pid_t pid;
    int in, out;
    char err_path[4400];
    char buf[8192];
    size_t len;
};

/* The next line of the helper's stdout (10 s at most), in b->buf. */
static const char *bg_line(struct bg *b)
{
    for (;;) {
        char *nl = memchr(b->buf, '\n', b->len);
        static char line[512];
        if (nl != NULL) {
            size_t n = (size_t)(nl - b->buf);
            snprintf(line, sizeof line, "%.*s", (int)n, b->buf);
            memmove(b->buf, nl + 1, b->len - n - 1);
            b->len -= n + 1;
            return line;
        }
        struct pollfd p = {b->out, POLLIN, 0};
        ck_assert_msg(poll(&p, 1, 10000) == 1, "the helper said nothing for 10 s");
        ssize_t r = read(b->out, b->buf + b->len, sizeof b->buf - 1 - b->len);
        ck_assert_msg(r > 0, "the helper closed its stdout");
        b->len += (size_t)r;
    }
}

/* Send a command, expect its answer; the answer. */
static const char *bg_do(struct bg *b, const char *cmd, const char *want_prefix)
{
    ck_assert_int_eq(write(b->in, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
    ck_assert_int_eq(write(b->in, "\n", 1), 1);
    const char *got = bg_line(b);
    ck_assert_msg(strncmp(got, want_prefix, strlen(want_prefix)) == 0, "%s: got \"%s\"", cmd, got);
    return got;
}

/* Start live_hold under the shim with vars (its stderr goes to a file) and
 * have it do `first`, which it answers "ok". */
static void bg_start_argv(struct bg *b, const char *const *vars, const char *first,
                          const char *const *argv);

static void bg_start(struct bg *b, const char *const *vars, const char *first)
{
    bg_start_argv(b, vars, first, NULL);
}

/* bg_start with the helper run by argv (NULL: live_hold itself; else the
 * helper's path is appended to argv) */
static void bg_start_argv(struct bg *b, const char *const *vars, const char *first,
                          const char *const *argv)
{
    memset(b, 0, sizeof *b);
    snprintf(b->err_path, sizeof b->err_path, "%s/stderr", make_tmp());
    struct tu_env env;
    tu_env_init(&env);
    for (; *vars; vars++)
        tu_env_put(&env, *vars);
    tu_env_preload(&env, tu_shim_lib());
    int in[2], out[2];
    ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
    const char *helper = tu_helper("live_hold");
    b->pid = fork();
    ck_assert_int_ge(b->pid, 0);
    if (b->pid == 0) {
        int err = open(b->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err, 2);
        if (argv == NULL) {
            execve(helper, (char *const[]){(char *)helper, NULL}, env.var);
        } else {
            char *args[16];
            size_t n = 0;
            for (; argv[n] != NULL && n < 14; n++)
                args[n] = (char *)argv[n];
            args[n++] = (char *)helper;
            args[n] = NULL;
            execve(args[0], args, env.var);
        }
        _exit(127);
    }
    tu_env_free(&env);
    close(in[0]);
    close(out[1]);
    b->in = in[1];
    b->out = out[0];
    bg_do(b, first, "ok");
}

/* End of stdin: the helper exits; its status, and its stderr into err. */
static int bg_end(struct bg *b, char *err, size_t cap)
{
    close(b->in);
    int status;
    ck_assert_int_eq(waitpid(b->pid, &status, 0), b->pid);
    close(b->out);
    int fd = open(b->err_path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, err, cap - 1) : 0;
    err[n > 0 ? n : 0] = '\0';
    if (fd >= 0)
        close(fd);
    return status;
}

/* bg_end, which must find the helper exited 0. */
static void bg_end_ok(struct bg *b)
{
    char err[4096];
    ck_assert_int_eq(bg_end(b, err, sizeof err), 0);
}

/* ------------------------------------------------------------------------ */
/* reading stat's JSON                                                       */

/* The number after "key": in the class object of `size` in json (the
 * process object when size is 0); -1 when missing. */
static long long jnum(const char *json, unsigned size, const char *key)
{
    const char *p = json;
    if (size != 0) {
        char at[64];
        snprintf(at, sizeof at, "{\"size\":%u,", size);
        p = strstr(json, at);
        if (p == NULL)
            return -1;
    }
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *end = size != 0 ? strchr(p, '}') : NULL;
    p = strstr(p, k);
    if (p == NULL || (end != NULL && p > end))
        return -1;
    return strtoll(p + strlen(k), NULL, 10);
}

static void stat_json(struct tu_proc *p, pid_t pid)
{
    char arg[32];
    snprintf(arg, sizeof arg, "%d", (int)pid);
    run_plain(p, NOVARS, LIST(stat_tool(), "--json", arg));
}

/* The live file of pid in the helpers' directory (no XDG_RUNTIME_DIR in
 * their environment: /dev/shm/poolshim-UID). */
static const char *file_of(pid_t pid)
{
    static char dir[4096], path[2][4200];
    static int turn;
    ck_assert(live_dir_shm(dir, sizeof dir, (unsigned)getuid()));
    char *out = path[turn++ & 1];
    ck_assert(live_path(out, sizeof path[0], dir, (uint64_t)pid, live_pid_ns(0)));
    return out;
}

/* ------------------------------------------------------------------------ */
/* live figures against the exit table                                      */

START_TEST(stat_matches_exit_table)
{
    struct bg b;
    bg_start(&b, LIST(CLASSES, "POOLSHIM_STATS=1"), "alloc 64 50");
    bg_do(&b, "alloc 256 20", "ok"); /* 10 pooled, 10 fall back */
    bg_do(&b, "free 64 20", "ok");
    struct tu_proc p;
    stat_json(&p, b.pid);
    ck_clean(&p);
    /* one page per process plus one per 4 threads alive: one thread here */
    struct stat fst;
    ck_assert_int_eq(stat(file_of(b.pid), &fst), 0);
    ck_assert_int_eq(fst.st_size, 2 * LIVE_PAGE);
    ck_assert_int_eq(fst.st_mode & 0777, 0600);
    char err[65536];
    ck_assert_int_eq(bg_end(&b, err, sizeof err), 0);
    struct tu_stats st;
    ck_assert_msg(tu_parse_stats(err, &st) == 0, "no exit table: %s", err);
    ck_assert_int_eq(jnum(p.out, 0, "pid"), b.pid);
    ck_assert_msg(strstr(p.out, "\"program\":\"live_hold\"") != NULL, "%s", p.out);
    static const unsigned sizes[] = {64, 256};
    for (int i = 0; i < 2; i++) {
        const struct tu_stats_row *r = tu_stats_class(&st, sizes[i]);
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(jnum(p.out, sizes[i], "capacity"), (long long)r->capacity);
        ck_assert_int_eq(jnum(p.out, sizes[i], "served"), (long long)r->served);
        ck_assert_int_eq(jnum(p.out, sizes[i], "misses"), (long long)r->misses);
        ck_assert_int_eq(jnum(p.out, sizes[i], "in_use"), (long long)r->in_use);
        ck_assert_int_eq(jnum(p.out, sizes[i], "peak_out"), (long long)r->peak_out);
    }
    ck_assert_int_eq(jnum(p.out, 0, "uncovered"), (long long)st.uncovered);
    /* what the commands did, exactly */
    ck_assert_int_ge(jnum(p.out, 64, "served"), 50);
    ck_assert_int_eq(jnum(p.out, 256, "misses"), 10);
    ck_assert_int_eq(jnum(p.out, 256, "in_use"), 10);
    tu_proc_free(&p);
}
END_TEST

/* The text table, through the wrapper. */
START_TEST(stat_text_through_wrapper)
{
    struct bg b;
    bg_start(&b, LIST(CLASSES, "POOLSHIM_STRICT=1"), "alloc 256 12");
    char arg[32];
    snprintf(arg, sizeof arg, "%d", (int)b.pid);
    struct tu_proc p;
    run_wrapper(&p, NOVARS, LIST("stat", "--lib", tu_shim_lib(), arg));
    ck_clean(&p);
    char head[128], row[160];
    snprintf(head, sizeof head, "poolshim: live_hold (pid %d), up ", (int)b.pid);
    ck_assert_msg(strncmp(p.out, head, strlen(head)) == 0, "%s", p.out);
    ck_assert_msg(tu_has_line(p.out, "poolshim: POOLSHIM_CLASSES=64:100,256:10 strict=1 "
                                     "cache=1 check=0 mlock=0 prefault=1 on_error=off"), "%s", p.out);
    ck_assert_msg(strstr(p.out, "    misses   served/s    misses/s\n") != NULL, "%s", p.out);
    snprintf(row, sizeof row, "poolshim: %8u%11u%11u%11u%13u%11u", 256, 10, 10, 10, 10, 2);
    ck_assert_msg(strstr(p.out, row) != NULL, "no row \"%s\" in %s", row, p.out);
    bg_end_ok(&b);
    tu_proc_free(&p);
}
END_TEST

/* --watch refreshes: the figures of each refresh, and the rates since the
 * previous one. */
START_TEST(stat_watch_updates)
{
    struct bg b;
    bg_start(&b, LIST(CLASSES), "alloc 64 5");
    char arg[32];
    snprintf(arg, sizeof arg, "%d", (int)b.pid);
    struct bg w = {0};
    int out[2];
    ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
    w.pid = fork();
    if (w.pid == 0) {
        dup2(out[1], 1);
        execl(stat_tool(), stat_tool(), "--json", "--watch", "0.2", arg, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    w.out = out[0];
    long long first = jnum(bg_line(&w), 64, "served");
    bg_do(&b, "alloc 64 7", "ok");
    long long later = first;
    for (int i = 0; i < 50 && later == first; i++)
        later = jnum(bg_line(&w), 64, "served");
    ck_assert_int_eq(later - first, 7);
    kill(w.pid, SIGINT);
    int status;
    waitpid(w.pid, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "watch status %d", status);
    close(w.out);
    bg_end_ok(&b);
}
END_TEST

/* Two processes, --all: both there, each with its own figures. */
START_TEST(stat_all_two_processes)
{
    struct bg a, b;
    bg_start(&a, LIST(CLASSES), "alloc 64 11");
    bg_start(&b, LIST(CLASSES), "alloc 64 23");
    struct tu_proc p;
    run_plain(&p, NOVARS, LIST(stat_tool(), "--json", "--all"));
    ck_clean(&p);
    long long got[2] = {-1, -1};
    for (const char *line = p.out; *line; line = strchr(line, '\n') + 1) {
        long long pid = jnum(line, 0, "pid");
        if (pid == a.pid || pid == b.pid)
            got[pid == b.pid] = jnum(line, 0, "uncovered") >= 0 ? jnum(line, 64, "in_use") : -1;
    }
    ck_assert_msg(got[0] >= 11 && got[1] >= 23 && got[1] - got[0] == 12, "a %lld b %lld: %s",
                  got[0], got[1], p.out);
    bg_end_ok(&a);
    bg_end_ok(&b);
    tu_proc_free(&p);
}
END_TEST

/* fork: the child has a file of its own, counting its own requests only;
 * the parent's figures do not move. Both files go at exit. */
START_TEST(stat_fork_child_own_file)
{
    struct bg b;
    bg_start(&b, LIST(CLASSES), "alloc 64 9");
    struct tu_proc p;
    stat_json(&p, b.pid);
    ck_clean(&p);
    long long parent_served = jnum(p.out, 64, "served");
    tu_proc_free(&p);

    pid_t child = (pid_t)atoi(bg_do(&b, "fork", "child=") + 6);
    bg_do(&b, "alloc 64 4", "ok"); /* the child answers from now on */
    ck_assert_msg(access(file_of(child), F_OK) == 0, "no file %s", file_of(child));
    stat_json(&p, child);
    ck_clean(&p);
    ck_assert_int_eq(jnum(p.out, 0, "pid"), child);
    ck_assert_int_eq(jnum(p.out, 64, "served"), 4);
    ck_assert_int_eq(jnum(p.out, 64, "in_use"), 4);
    tu_proc_free(&p);
    stat_json(&p, b.pid);
    ck_clean(&p);
    ck_assert_int_eq(jnum(p.out, 64, "served"), parent_served);
    tu_proc_free(&p);

    bg_end_ok(&b);
    ck_assert_msg(access(file_of(b.pid), F_OK) != 0 && access(file_of(child), F_OK) != 0,
                  "a live file is left after exit");
}
END_TEST

/* POOLSHIM_LIVE=0: no file, and stat says why. */
START_TEST(stat_live_off)
{
    struct bg b;
    bg_start(&b, LIST(CLASSES, "POOLSHIM_LIVE=0"), "alloc 64 1");
    ck_assert(access(file_of(b.pid), F_OK) != 0);
    struct tu_proc p;
    stat_json(&p, b.pid);
    ck_exit(&p, 1);
    ck_assert_int_eq(p.out_len, 0);
    char want[128];
    snprintf(want, sizeof want, "poolshim stat: pid %d (live_hold): no live figures: ", (int)b.pid);
    ck_assert_msg(strncmp(p.err, want, strlen(want)) == 0 && tu_count_lines(p.err) == 1, "%s",
                  p.err);
    tu_proc_free(&p);
    bg_end_ok(&b);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* bad input: one line, exit 1                                               */

/* A header as the shim writes it, for pid, with one class. */
static void fake_header(struct live_header *h, pid_t pid)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, LIVE_MAGIC, sizeof h->magic);
    h->version = LIVE_VERSION;
    h->page = LIVE_PAGE;
    h->chunk_blocks = COUNTERS_CHUNK_BLOCKS;
    h->counters_size = sizeof(struct shim_counters);
    h->nv = POOL_V_MAX;
    h->nclasses = 1;
    h->classes[0].size = 64;
    h->classes[0].capacity = 8;
    h->pid = (uint64_t)pid;
    h->start_ticks = 1; /* no process started 1 tick after boot */
    snprintf(h->program, sizeof h->program, "fake");
}

static void write_fake(const char *path, const struct live_header *h, size_t len)
{
    static char page[2 * LIVE_PAGE];
    memset(page, 0, sizeof page);
    memcpy(page, h, sizeof *h);
    ck_assert_int_eq(tu_write_file(path, page, len), 0);
}

/* A pid that was just used and is gone. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    return pid;
}

static void ck_one_error(struct tu_proc *p, const char *start)
{
    ck_exit(p, 1);
    ck_assert_int_eq(p->out_len, 0);
    ck_assert_msg(strncmp(p->err, start, strlen(start)) == 0 && tu_count_lines(p->err) == 1,
                  "want one line \"%s...\", got: %s", start, p->err);
}

/* poolshim stat PID, which must fail with one line starting with start (%d
 * in it: the pid). Free p afterwards. */
static void stat_fails(struct tu_proc *p, pid_t pid, const char *start)
{
    char arg[32], want[256];
    snprintf(arg, sizeof arg, "%d", (int)pid);
    snprintf(want, sizeof want, start, (int)pid);
    run_plain(p, NOVARS, LIST(stat_tool(), arg));
    ck_one_error(p, want);
}

START_TEST(stat_dead_pid)
{
    struct tu_proc p;
    stat_fails(&p, dead_pid(), "poolshim stat: pid %d: no such process");
    tu_proc_free(&p);
}
END_TEST

/* This test process: alive, no shim. */
START_TEST(stat_no_shim)
{
    struct tu_proc p;
    stat_fails(&p, getpid(), "poolshim stat: pid %d (test_live): no live figures:");
    tu_proc_free(&p);
}
END_TEST

/* Another user's process: root's helper read as nobody (setpriv), or, when
 * the tests do not run as root, init (pid 1, root's). */
START_TEST(stat_other_user)
{
    struct bg b;
    bool root = getuid() == 0;
    if (root)
        bg_start(&b, LIST(CLASSES), "alloc 64 1");
    char arg[32], want[128];
    snprintf(arg, sizeof arg, "%d", root ? (int)b.pid : 1);
    snprintf(want, sizeof want, "poolshim stat: pid %s (%s): another user's process (uid 0)",
             arg, root ? "live_hold" : "");
    struct tu_proc p;
    if (root)
        run_plain(&p, NOVARS, LIST("/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                   "--clear-groups", stat_tool(), arg));
    else
        run_plain(&p, NOVARS, LIST(stat_tool(), arg));
    if (root)
        ck_one_error(&p, want);
    else
        ck_assert_msg(p.exit_code == 1 && strstr(p.err, "another user's process (uid 0)"), "%s",
                      p.err);
    tu_proc_free(&p);
    if (root)
        bg_end_ok(&b);
}
END_TEST

/* A file named by a live pid that is not its process's (its start time
 * differs: the pid was reused): stale, removed. */
START_TEST(stat_stale_file_removed)
{
    struct live_header h;
    fake_header(&h, getpid());
    const char *path = file_of(getpid());
    char dir[4096];
    ck_assert(live_dir_shm(dir, sizeof dir, (unsigned)getuid()));
    mkdir(dir, 0700);
    write_fake(path, &h, LIVE_PAGE);
    struct tu_proc p;
    stat_fails(&p, getpid(), "poolshim stat: pid %d (test_live): no live figures; its file ");
    ck_assert_msg(strstr(p.err, "was stale (left by an earlier program of that pid) and is removed"),
                  "%s", p.err);
    ck_assert(access(path, F_OK) != 0);
    tu_proc_free(&p);

    /* --all removes the files of dead pids and shows nothing of them */
    pid_t dead = dead_pid();
    fake_header(&h, dead);
    write_fake(file_of(dead), &h, LIVE_PAGE);
    run_plain(&p, NOVARS, LIST(stat_tool(), "--json", "--all"));
    ck_assert_msg(access(file_of(dead), F_OK) != 0, "stale file of %d left", (int)dead);
    char want[64];
    snprintf(want, sizeof want, "\"pid\":%d,", (int)dead);
    ck_assert(strstr(p.out, want) == NULL);
    tu_proc_free(&p);
}
END_TEST

/* Processes of another pid namespace sharing the directory (the containers
 * of one pod share /dev/shm; each may be pid 1): their files carry their
 * namespace, and neither a starting shim's sweep nor --all touches them,
 * while the stale files of this namespace still go. */
START_TEST(stat_other_namespace_left_alone)
{
    uint64_t own = live_pid_ns(0);
    ck_assert_uint_ne(own, 0); /* /proc is there in the tests */
    pid_t dead = dead_pid();
    char dir[4096], other[4200];
    ck_assert(live_dir_shm(dir, sizeof dir, (unsigned)getuid()));
    mkdir(dir, 0700);
    ck_assert(live_path(other, sizeof other, dir, (uint64_t)dead, own + 1));
    struct live_header h;
    fake_header(&h, dead);
    write_fake(other, &h, LIVE_PAGE);
    write_fake(file_of(dead), &h, LIVE_PAGE);
    struct tu_proc p;
    run_shim(&p, NOVARS, LIST("/bin/true")); /* its start-up sweeps */
    ck_exit(&p, 0);
    tu_proc_free(&p);
    ck_assert_msg(access(file_of(dead), F_OK) != 0, "stale file of %d left", (int)dead);
    ck_assert_msg(access(other, F_OK) == 0, "another namespace's file swept");

    write_fake(file_of(dead), &h, LIVE_PAGE);
    run_plain(&p, NOVARS, LIST(stat_tool(), "--json", "--all"));
    ck_assert(access(file_of(dead), F_OK) != 0);
    ck_assert_msg(access(other, F_OK) == 0, "--all removed another namespace's file");
    char want[64];
    snprintf(want, sizeof want, "\"pid\":%d,", (int)dead);
    ck_assert(strstr(p.out, want) == NULL);
    tu_proc_free(&p);
    unlink(other);
}
END_TEST

/* From outside its pid namespace (a container's process seen from the
 * host): `poolshim stat HOSTPID` finds the file the process named by the pid
 * it sees, and says both pids; so does --all. The second time the process has a user namespace of its
 * own too, where it is uid 1000 (its directory: /dev/shm/poolshim-1000).
 * Root only (unshare). */
START_TEST(stat_from_outside_the_namespace)
{
    if (geteuid() != 0 || access("/usr/bin/unshare", X_OK) != 0)
        ck_skip("stat_from_outside_the_namespace", "needs root and unshare(1)");
    bool userns = _i == 1;
    struct bg b;
    bg_start_argv(&b, LIST(CLASSES), "alloc 64 30",
                  userns ? LIST("/usr/bin/unshare", "--map-user=1000", "--pid", "--fork",
                                "--kill-child")
                         : LIST("/usr/bin/unshare", "--pid", "--fork", "--kill-child"));
    char path[64], kids[64] = "";
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)b.pid, (int)b.pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(kids, sizeof kids, f));
    fclose(f);
    pid_t inner = (pid_t)atoi(kids);
    ck_assert_int_gt(inner, 1);
    uint64_t ns = live_pid_ns((uint64_t)inner);
    ck_assert_uint_ne(ns, live_pid_ns(0));
    char dir[4096], file[4200];
    ck_assert(live_dir_shm(dir, sizeof dir, userns ? 1000 : (unsigned)getuid()));
    ck_assert(live_path(file, sizeof file, dir, 1, ns));
    ck_assert_msg(access(file, F_OK) == 0, "no %s", file);

    struct tu_proc p;
    stat_json(&p, inner);
    ck_clean(&p);
    ck_assert_int_eq(jnum(p.out, 0, "pid"), inner);
    ck_assert_int_eq(jnum(p.out, 0, "pid_in_namespace"), 1);
    ck_assert_msg(strstr(p.out, "\"program\":\"live_hold\"") != NULL, "%s", p.out);
    ck_assert_int_ge(jnum(p.out, 64, "in_use"), 30);
    tu_proc_free(&p);
    char arg[32], want[96];
    snprintf(arg, sizeof arg, "%d", (int)inner);
    run_plain(&p, NOVARS, LIST(stat_tool(), arg));
    ck_clean(&p);
    snprintf(want, sizeof want, "poolshim: live_hold (pid %d; 1 in its pid namespace), ", (int)inner);
    ck_assert_msg(strncmp(p.out, want, strlen(want)) == 0, "%s", p.out);
    tu_proc_free(&p);

    run_plain(&p, NOVARS, LIST(stat_tool(), "--json", "--all"));
    ck_assert(access(file, F_OK) == 0);
    snprintf(want, sizeof want, "\"pid\":%d,\"pid_in_namespace\":1,\"program\":\"live_hold\"",
             (int)inner);
    ck_assert_msg(strstr(p.out, want) != NULL, "--all: %s", p.out);
    tu_proc_free(&p);
    bg_end_ok(&b);
    ck_assert_msg(access(file, F_OK) != 0, "%s left after exit", file);
}
END_TEST

/* What a live file's name says, and what is not one. */
START_TEST(live_names)
{
    char path[64];
    ck_assert(live_path(path, sizeof path, "/d", 1234, 4026531836u));
    ck_assert_str_eq(path, "/d/1234-4026531836.live");
    ck_assert(!live_path(path, 16, "/d", 1234, 4026531836u)); /* does not fit */
    uint64_t pid = 0, ns = 0;
    ck_assert(live_parse_name("1234-4026531836.live", &pid, &ns));
    ck_assert_uint_eq(pid, 1234);
    ck_assert_uint_eq(ns, 4026531836u);
    ck_assert(live_parse_name("1-0.live", &pid, &ns));
    ck_assert_uint_eq(pid, 1);
    ck_assert_uint_eq(ns, 0);
    static const char *const bad[] = {
        "1234.live", "0-1.live", "01-1.live", "1234-01.live", "1234-.live", "-1.live",
        "1234-1x.live", "1234-1.liv", "1234-1.live.tmp", "1073741824-1.live",
        "1234-99999999999999999999.live", "x1234-1.live", "", ".live",
    };
    for (size_t i = 0; i < N(bad); i++)
        ck_assert_msg(!live_parse_name(bad[i], &pid, &ns), "'%s' taken for a live file", bad[i]);
}
END_TEST

/* A process that exec'd a program without the shim keeps its pid and its
 * start time, and no longer maps its file: stale, removed. */
START_TEST(stat_after_exec_without_shim)
{
    struct tu_env env;
    tu_env_init(&env);
    tu_env_put(&env, "POOLSHIM_ONLY=bash");
    tu_env_preload(&env, tu_shim_lib());
    int out[2];
    ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        execve("/bin/bash", (char *const[]){"bash", "-c", "echo $$; exec /bin/sleep 20", NULL},
               env.var);
        _exit(127);
    }
    tu_env_free(&env);
    close(out[1]);
    struct bg b = {.pid = pid, .out = out[0]};
    ck_assert_int_eq(atoi(bg_line(&b)), pid);
    /* bash made its file, then became sleep: wait for the exec */
    char comm[64] = "";
    for (int i = 0; i < 200 && strncmp(comm, "sleep", 5) != 0; i++) {
        usleep(10000);
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            if (fgets(comm, sizeof comm, f) == NULL)
                comm[0] = '\0';
            fclose(f);
        }
    }
    ck_assert_msg(access(file_of(pid), F_OK) == 0, "bash left no file");
    struct tu_proc p;
    stat_fails(&p, pid, "poolshim stat: pid %d (sleep): no live figures; its file ");
    ck_assert(access(file_of(pid), F_OK) != 0);
    tu_proc_free(&p);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(out[0]);
}
END_TEST

/* Files that are not live files of this version, read with --file. */
static const struct {
    const char *name;
    size_t len;
    const char *why;
} bad_files[] = {
    {"garbage", LIVE_PAGE, "not a poolshim live file"},
    {"truncated", 100, "truncated: 100 bytes, a live file has at least 4096"},
    {"version", LIVE_PAGE, "a live file of version 99; this reader knows version 1 (use the "
                           "poolshim stat of the library the program runs with)"},
    {"layout", LIVE_PAGE, "a live file of another layout (another build of poolshim?)"},
    {"chunks", 2 * LIVE_PAGE, "truncated: its header counts 5 pages of counters, the file holds 1"},
};

START_TEST(stat_bad_files)
{
    struct live_header h;
    fake_header(&h, getpid());
    switch (_i) {
    case 0: memcpy(h.magic, "poolshim-LIVE\0\0\0", 16); break;
    case 2: h.version = 99; break;
    case 3: h.counters_size += 8; break;
    case 4: h.nchunks = 5; break;
    }
    const char *path = path_in(make_tmp(), bad_files[_i].name);
    write_fake(path, &h, bad_files[_i].len);
    struct tu_proc p;
    run_plain(&p, NOVARS, LIST(stat_tool(), "--file", path));
    char want[8192];
    snprintf(want, sizeof want, "poolshim stat: \"%s\": %s\n", path, bad_files[_i].why);
    ck_exit(&p, 1);
    ck_assert_int_eq(p.out_len, 0);
    ck_assert_str_eq(p.err, want);
    tu_proc_free(&p);
}
END_TEST

/* A good file read with --file: its figures as they are. */
START_TEST(stat_file_figures)
{
    struct live_header h;
    fake_header(&h, 4242);
    h.nchunks = 1;
    h.shared.retired.served[1] = 5;
    h.shared.retired.freed[1] = 2;
    h.shared.retired.dry[1] = 1;
    h.peak[1] = 4;
    snprintf(h.classes_text, sizeof h.classes_text, "64:8");
    static char file[2 * LIVE_PAGE];
    memcpy(file, &h, sizeof h);
    struct counters_chunk *k = (void *)(file + LIVE_PAGE);
    k->used[1] = 1;
    k->block[1].c.served[1] = 10;
    k->block[2].c.served[1] = 1000; /* not used: not counted */
    const char *path = path_in(make_tmp(), "good");
    ck_assert_int_eq(tu_write_file(path, file, sizeof file), 0);
    struct tu_proc p;
    run_plain(&p, NOVARS, LIST(stat_tool(), "--json", "--file", path));
    ck_clean(&p);
    ck_assert_int_eq(jnum(p.out, 64, "served"), 15);
    ck_assert_int_eq(jnum(p.out, 64, "in_use"), 13);
    ck_assert_int_eq(jnum(p.out, 64, "misses"), 1);
    ck_assert_int_eq(jnum(p.out, 64, "peak_out"), 4);
    tu_proc_free(&p);
}
END_TEST

static const struct {
    const char *args[3];
    const char *start;
} misuses[] = {
    {{NULL}, "poolshim stat: no PID given (or --all)"},
    {{"abc", NULL}, "poolshim stat: not a process id: abc"},
    {{"--watch", "0", "1"}, "poolshim stat: --watch: expected SECONDS from 0.1 to 86400, not 0"},
    {{"--all", "1", NULL}, "poolshim stat: --all takes no PID or --file"},
    {{"--frob", NULL}, "poolshim stat: unknown option --frob"},
};

START_TEST(stat_usage_errors)
{
    const char *argv[5] = {stat_tool()};
    for (int i = 0; i < 3 && misuses[_i].args[i]; i++)
        argv[1 + i] = misuses[_i].args[i];
    struct tu_proc p;
    run_plain(&p, NOVARS, argv);
    ck_exit(&p, 2);
    ck_assert_msg(strncmp(p.err, misuses[_i].start, strlen(misuses[_i].start)) == 0, "%s", p.err);
    tu_proc_free(&p);
}
END_TEST

static void live_cases(Suite *s)
{
    add_tcase(s, "running", 30, TC_SCRATCH, stat_matches_exit_table, stat_text_through_wrapper,
              stat_watch_updates, stat_all_two_processes, stat_fork_child_own_file,
              stat_live_off);

    TCase *tc = add_tcase(s, "bad input", 30, TC_SCRATCH, stat_dead_pid, stat_no_shim,
                          stat_other_user, stat_stale_file_removed, stat_after_exec_without_shim,
                          stat_other_namespace_left_alone, live_names);
    tcase_add_loop_test(tc, stat_from_outside_the_namespace, 0, 2);
    tcase_add_loop_test(tc, stat_bad_files, 0, N(bad_files));
    add_tests(tc, stat_file_figures);
    tcase_add_loop_test(tc, stat_usage_errors, 0, N(misuses));
}

TU_SUITE("live", live_cases, TU_SHIM);
