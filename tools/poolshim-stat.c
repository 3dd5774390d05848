/* poolshim-stat - the live figures of running programs under the shim
 * (`poolshim stat`), read from their live files (shim/live.h) without a
 * signal and without their cooperation.
 *
 *   poolshim-stat [--json] [--watch SECONDS] PID...
 *   poolshim-stat [--json] [--watch SECONDS] --all
 *   poolshim-stat [--json] --file PATH...        (a live file as it is)
 *
 * Per process: the program, pid, uptime, time, configuration, and the class
 * table of the exit report (size, capacity, in use, peak out, served,
 * misses: requests that found their class empty, so fell back, or in
 * strict mode were refused) with the rates since the last look: the previous
 * refresh with --watch, else the previous `poolshim stat` of that process
 * (recorded in its file), else since start. --json: one JSON object per
 * process and per refresh, one per line. --watch: refresh every SECONDS (a
 * clear screen first when stdout is a terminal) until interrupted or until
 * every process watched has exited. --all: every process of this user whose
 * live file is in this user's directories, and every process of another pid
 * namespace (a container's, from the host) whose file find_file() finds.
 *
 * Finding a pid's file: in XDG_RUNTIME_DIR/poolshim (the process's own
 * XDG_RUNTIME_DIR, read from /proc/PID/environ) and /dev/shm/poolshim-UID,
 * also as the process sees them (/proc/PID/root, for private mounts).
 * A stale file (its process is gone, or is another one now, or exec'd into
 * a program without the shim) is removed, with a line saying so.
 *
 * Exit status: 0 when every process asked for was shown; 1 when one could
 * not be (no such process, no shim in it, another user's, a bad or stale
 * file: one line each on stderr); 2 for a usage error.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shim/live.h"
#include "shim/timefmt.h"
#include "tools/shared/tool.h"

#define PROG "poolshim stat"
#define TARGETS_MAX 256

struct target {
    uint64_t pid;            /* 0 with --file */
    uint64_t own_pid;        /* the pid it sees itself as: pid, unless it runs
                                in a pid namespace of its own */
    char path[4200];
    struct live_look prev;   /* the previous refresh's figures (time 0: none) */
    bool gone;               /* exited while watched */
    bool listed;             /* found by --all: exiting meanwhile is no error */
};

static struct target targets[TARGETS_MAX];
static unsigned ntargets;
static bool json;
static volatile sig_atomic_t interrupted;

static void usage(FILE *to)
{
    fputs("Usage: poolshim stat [--json] [--watch SECONDS] PID... | --all\n"
          "       poolshim stat [--json] --file PATH...\n"
          "The live figures of programs running under the shim: per class, capacity,\n"
          "in use, peak out, served, misses (fell back, or refused in strict mode) and their\n"
          "rates since the last look; the program, uptime and configuration.\n"
          "  --json           one JSON object per process (and per refresh), one per line\n"
          "  --watch SECONDS  refresh every SECONDS until interrupted\n"
          "  --all            every process of this user with live figures (containers' too)\n"
          "  --file PATH      read a live file as it is (no check of its process)\n"
          "Exit status: 0 all shown, 1 one could not be (one line each), 2 usage.\n",
          to);
}

static _Noreturn void usage_error(const char *what, const char *arg)
{
    fprintf(stderr, PROG ": %s%s%s (see poolshim stat --help)\n", what, arg ? " " : "",
            arg ? arg : "");
    exit(2);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- finding a pid's file ---- */

/* The whole of a small /proc file into buf (NUL-terminated); its length or
 * -1. */
static ssize_t read_proc(uint64_t pid, const char *what, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%llu/%s", (unsigned long long)pid, what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    ssize_t n;
    while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

static void proc_name(uint64_t pid, char *out, size_t cap)
{
    if (read_proc(pid, "comm", out, cap) <= 0)
        snprintf(out, cap, "?");
    out[strcspn(out, "\n")] = '\0';
}

/* XDG_RUNTIME_DIR of the process's environment into out; false if unset. */
static bool proc_xdg(uint64_t pid, char *out, size_t cap)
{
    static char env[256 * 1024];
    ssize_t n = read_proc(pid, "environ", env, sizeof env);
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(env + i) + 1)
        if (strncmp(env + i, "XDG_RUNTIME_DIR=", 16) == 0 && env[i + 16] == '/') {
            snprintf(out, cap, "%s", env + i + 16);
            return true;
        }
    return false;
}

/* The pid process pid sees itself as: the last of the NSpid line of its
 * status (one pid per nested pid namespace), or pid when there is none. */
static uint64_t innermost_pid(uint64_t pid)
{
    char buf[4096];
    ssize_t n = read_proc(pid, "status", buf, sizeof buf);
    const char *line = n > 0 ? strstr(buf, "\nNSpid:") : NULL;
    if (line == NULL)
        return pid;
    uint64_t last = pid;
    for (const char *p = line + 7; *p != '\0' && *p != '\n';) {
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p)
            break;
        last = v;
        p = end;
    }
    return last;
}

/* uid (as this tool sees it) as process pid sees it: through the
 * process's /proc/PID/uid_map ("inside outside count" lines), which is the
 * identity unless it runs in a user namespace of its own. */
static unsigned uid_inside(uint64_t pid, unsigned uid)
{
    char map[4096];
    if (read_proc(pid, "uid_map", map, sizeof map) <= 0)
        return uid;
    for (const char *line = map; *line != '\0';) {
        unsigned long long in, out, count;
        if (sscanf(line, "%llu %llu %llu", &in, &out, &count) == 3 && uid >= out &&
            uid - out < count)
            return (unsigned)(in + (uid - out));
        const char *nl = strchr(line, '\n');
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    return uid;
}

/* The live file of pid into t->path: 0, or -1 when there is none. */
static int find_file(struct target *t, unsigned uid)
{
    char dirs[2][4096], xdg[4000];
    unsigned n = 0;
    if (proc_xdg(t->pid, xdg, sizeof xdg) && live_dir_xdg(dirs[n], sizeof dirs[n], xdg))
        n++;
    if (live_dir_shm(dirs[n], sizeof dirs[n], uid_inside(t->pid, uid)))
        n++;
    /* the file carries the target's pid namespace and the pid it sees
     * itself as (another than ours when it runs in a container of its own);
     * /proc may hide the namespace: then this tool's, the usual case */
    uint64_t ns = live_pid_ns(t->pid);
    if (ns == 0)
        ns = live_pid_ns(0);
    t->own_pid = ns == live_pid_ns(0) ? t->pid : innermost_pid(t->pid);
    for (int via_root = 0; via_root < 2; via_root++)
        for (unsigned i = 0; i < n; i++) {
            char dir[4150];
            if (via_root)
                snprintf(dir, sizeof dir, "/proc/%llu/root%.4095s", (unsigned long long)t->pid,
                         dirs[i]);
            else
                snprintf(dir, sizeof dir, "%.4095s", dirs[i]);
            if (live_path(t->path, sizeof t->path, dir, t->own_pid, ns) &&
                access(t->path, F_OK) == 0)
                return 0;
        }
    return -1;
}

/* One line on stderr about pid: "poolshim stat: pid N (NAME): WHAT". */
static void complain(const struct target *t, const char *what)
{
    char name[64];
    proc_name(t->pid, name, sizeof name);
    if (t->pid != 0)
        fprintf(stderr, PROG ": pid %llu (%s): %s\n", (unsigned long long)t->pid, name, what);
    else
        fprintf(stderr, PROG ": %s: %s\n", t->path, what);
}

/* Whether pid can be looked at: a live process of ours (or we are root). */
static bool check_process(const struct target *t, unsigned *uid)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%llu", (unsigned long long)t->pid);
    if (stat(path, &st) != 0) {
        if (!t->listed) /* --all's processes may end between the look and now */
            fprintf(stderr, PROG ": pid %llu: no such process\n", (unsigned long long)t->pid);
        return false;
    }
    *uid = (unsigned)st.st_uid;
    if (st.st_uid != getuid() && geteuid() != 0) {
        char what[160];
        snprintf(what, sizeof what, "another user's process (uid %u): only that user or root "
                 "can read its live figures", (unsigned)st.st_uid);
        complain(t, what);
        return false;
    }
    return true;
}

/* ---- showing ---- */

/* The figures of one look, and the rates against an earlier one. */
struct view {
    const struct live_header *h;
    uint64_t pid;                 /* as this tool sees it: h->pid, unless the
                                     process has a pid namespace of its own */
    struct shim_counters now;
    uint64_t time_ns;
    const struct live_look *base; /* what rates are against */
    double over_s;                /* seconds since base */
    const char *since;            /* "the previous refresh", "the last look", "start" */
};

static double rate(const struct view *v, uint64_t now, uint64_t then)
{
    return v->over_s > 0 && now >= then ? (double)(now - then) / v->over_s : 0.0;
}

static uint64_t in_use(const struct view *v, unsigned c)
{
    uint64_t s = v->now.served[c + 1], f = v->now.freed[c + 1];
    return s > f ? s - f : 0;
}

static void iso_time(uint64_t ns, char *out, size_t cap)
{
    struct rbuf b = {0};
    rb_utc(&b, ns / 1000000000u);
    snprintf(out, cap, "%s", rb_cstr(&b));
}

static void print_text(const struct view *v)
{
    const struct live_header *h = v->h;
    char when[32];
    iso_time(v->time_ns, when, sizeof when);
    uint64_t up = v->time_ns > h->start_ns ? (v->time_ns - h->start_ns) / 1000000000u : 0;
    bool strict = h->flags & LIVE_STRICT;
    char ns_pid[64] = "";
    if (v->pid != h->pid)
        snprintf(ns_pid, sizeof ns_pid, "; %llu in its pid namespace", (unsigned long long)h->pid);
    printf("poolshim: %s (pid %llu%s), up %lluh%02llum%02llus, at %s\n", h->program,
           (unsigned long long)v->pid, ns_pid, (unsigned long long)(up / 3600),
           (unsigned long long)(up / 60 % 60), (unsigned long long)(up % 60), when);
    printf("poolshim: POOLSHIM_CLASSES=%s strict=%d cache=%d check=%d mlock=%d prefault=%d "
           "on_error=%s\n", h->classes_text, strict, !!(h->flags & LIVE_CACHE),
           !!(h->flags & LIVE_CHECK), !!(h->flags & LIVE_MLOCK), !!(h->flags & LIVE_PREFAULT),
           h->flags & LIVE_ABORT ? "abort" : "off");
    printf("poolshim: %8s%11s%11s%11s%13s%11s%11s%12s\n", "size", "capacity", "in use",
           "peak out", "served", "misses", "served/s", "misses/s");
    for (unsigned c = 0; c < h->nclasses; c++)
        printf("poolshim: %8llu%11llu%11llu%11u%13llu%11llu%11.1f%12.1f\n",
               (unsigned long long)h->classes[c].size,
               (unsigned long long)h->classes[c].capacity, (unsigned long long)in_use(v, c),
               h->peak[c + 1], (unsigned long long)v->now.served[c + 1],
               (unsigned long long)v->now.dry[c + 1],
               rate(v, v->now.served[c + 1], v->base->served[c + 1]),
               rate(v, v->now.dry[c + 1], v->base->dry[c + 1]));
    printf("poolshim: not covered by any class: %llu requests, %.1f/s\n",
           (unsigned long long)v->now.uncovered, rate(v, v->now.uncovered, v->base->uncovered));
    printf("poolshim: rates over the %.1f s since %s\n", v->over_s, v->since);
}

static void print_json(const struct view *v)
{
    const struct live_header *h = v->h;
    char when[32];
    iso_time(v->time_ns, when, sizeof when);
    printf("{\"version\":%u,\"pid\":%llu,", LIVE_VERSION, (unsigned long long)v->pid);
    if (v->pid != h->pid)
        printf("\"pid_in_namespace\":%llu,", (unsigned long long)h->pid);
    printf("\"program\":");
    json_string(h->program);
    printf(",\"time\":\"%s\",\"uptime_s\":%.3f,\"strict\":%s,\"config\":{\"classes\":",
           when, v->time_ns > h->start_ns ? (double)(v->time_ns - h->start_ns) / 1e9 : 0.0,
           h->flags & LIVE_STRICT ? "true" : "false");
    json_string(h->classes_text);
    printf(",\"cache\":%s,\"check\":%s,\"mlock\":%s,\"prefault\":%s,\"on_error\":\"%s\"}",
           h->flags & LIVE_CACHE ? "true" : "false", h->flags & LIVE_CHECK ? "true" : "false",
           h->flags & LIVE_MLOCK ? "true" : "false", h->flags & LIVE_PREFAULT ? "true" : "false",
           h->flags & LIVE_ABORT ? "abort" : "off");
    printf(",\"rates_over_s\":%.3f,\"rates_since\":\"%s\",\"uncovered\":%llu,"
           "\"uncovered_per_s\":%.3f,\"classes\":[", v->over_s, v->since,
           (unsigned long long)v->now.uncovered, rate(v, v->now.uncovered, v->base->uncovered));
    for (unsigned c = 0; c < h->nclasses; c++)
        printf("%s{\"size\":%llu,\"capacity\":%llu,\"in_use\":%llu,\"peak_out\":%u,"
               "\"served\":%llu,\"misses\":%llu,\"served_per_s\":%.3f,\"misses_per_s\":%.3f}",
               c ? "," : "", (unsigned long long)h->classes[c].size,
               (unsigned long long)h->classes[c].capacity, (unsigned long long)in_use(v, c),
               h->peak[c + 1], (unsigned long long)v->now.served[c + 1],
               (unsigned long long)v->now.dry[c + 1],
               rate(v, v->now.served[c + 1], v->base->served[c + 1]),
               rate(v, v->now.dry[c + 1], v->base->dry[c + 1]));
    printf("]}\n");
}

/* Sum f, print it, record the look. */
static void show(struct target *t, struct live_file *f)
{
    static const struct live_look none;
    struct view v = {.h = f->h, .pid = t->pid != 0 ? t->pid : f->h->pid, .time_ns = now_ns(),
                     .base = &none};
    live_sum(f, &v.now);
    struct live_look file_look = f->h->look;
    uint64_t then = f->h->start_ns;
    v.since = "start";
    if (t->prev.time_ns != 0) {
        v.base = &t->prev;
        then = t->prev.time_ns;
        v.since = "the previous refresh";
    } else if (file_look.time_ns != 0 && file_look.time_ns >= f->h->start_ns) {
        v.base = &file_look;
        then = file_look.time_ns;
        v.since = "the last look";
    }
    v.over_s = v.time_ns > then ? (double)(v.time_ns - then) / 1e9 : 0.0;
    if (json)
        print_json(&v);
    else
        print_text(&v);
    live_record_look(f, &v.now, v.time_ns);
    t->prev.time_ns = v.time_ns;
    memcpy(t->prev.served, v.now.served, sizeof t->prev.served);
    memcpy(t->prev.dry, v.now.dry, sizeof t->prev.dry);
    t->prev.uncovered = v.now.uncovered;
}

/* Open t's file and check that it belongs to t's process now. A stale file
 * is removed. Returns 0 with f open, else -1 after one line. */
static int open_target(struct target *t, struct live_file *f)
{
    char err[700];
    unsigned uid = (unsigned)getuid();
    if (t->pid != 0 && !check_process(t, &uid))
        return -1;
    if (t->pid != 0 && t->path[0] == '\0' && find_file(t, uid) != 0) {
        complain(t, "no live figures: poolshim is not loaded in it, is off (its stderr says "
                    "why), or runs with POOLSHIM_LIVE=0");
        return -1;
    }
    if (live_open(f, t->path, err, sizeof err) != 0) {
        if (!(t->listed && access(t->path, F_OK) != 0)) /* removed at its exit */
            fprintf(stderr, PROG ": %s\n", err);
        return -1;
    }
    if (t->pid == 0)
        return 0;
    uint64_t own = t->own_pid != 0 ? t->own_pid : t->pid;
    int alive = f->h->pid == own ? live_alive(f, t->pid) : ESTALE;
    if (alive == 0)
        return 0;
    if (alive == ESTALE || alive == ESRCH) {
        unlink(t->path);
        char what[4400];
        snprintf(what, sizeof what, "no live figures; its file %s was stale (left by an "
                 "earlier program of that pid) and is removed", t->path);
        if (!t->listed)
            complain(t, what);
    } else {
        complain(t, "cannot tell whether its live file is its own (/proc/PID/maps unreadable)");
    }
    live_close(f);
    return -1;
}

/* ---- which processes ---- */

static struct target *add_target(uint64_t pid, const char *path)
{
    if (ntargets == TARGETS_MAX)
        usage_error("too many processes; at most 256", NULL);
    struct target *t = &targets[ntargets++];
    memset(t, 0, sizeof *t);
    t->pid = pid;
    snprintf(t->path, sizeof t->path, "%s", path != NULL ? path : "");
    return t;
}

/* The pid a live file's name gives, when the file is of this pid namespace
 * (another's pids mean nothing here: its files are left alone), or 0. */
static uint64_t pid_of_name(const char *name)
{
    static uint64_t own_ns = UINT64_MAX;
    if (own_ns == UINT64_MAX)
        own_ns = live_pid_ns(0);
    uint64_t pid, ns;
    return live_parse_name(name, &pid, &ns) && ns == own_ns ? pid : 0;
}

/* --all, the processes of other pid namespaces (containers, seen from the
 * host) that this tool may read: those whose live file find_file() finds. */
static void find_other_namespaces(void)
{
    uint64_t own_ns = live_pid_ns(0);
    DIR *d = opendir("/proc");
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        char *end;
        unsigned long long pid = strtoull(e->d_name, &end, 10);
        if (*end != '\0' || pid == 0 || ntargets == TARGETS_MAX)
            continue;
        uint64_t ns = live_pid_ns(pid);
        char path[64];
        struct stat st;
        snprintf(path, sizeof path, "/proc/%llu", pid);
        if (ns == 0 || ns == own_ns || stat(path, &st) != 0 ||
            (st.st_uid != getuid() && geteuid() != 0))
            continue;
        struct target probe = {.pid = pid};
        if (find_file(&probe, (unsigned)st.st_uid) != 0)
            continue;
        struct target *t = add_target(pid, probe.path);
        t->own_pid = probe.own_pid;
        t->listed = true;
    }
    if (d != NULL)
        closedir(d);
}

/* --all: the live files of this user's directories, stale ones removed
 * silently, and those of processes in other pid namespaces. The targets
 * keep their previous looks across refreshes. */
static void find_all(void)
{
    char dirs[2][4096];
    unsigned n = 0;
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg != NULL && xdg[0] == '/' && live_dir_xdg(dirs[n], sizeof dirs[n], xdg))
        n++;
    if (live_dir_shm(dirs[n], sizeof dirs[n], (unsigned)getuid()))
        n++;
    struct target old[TARGETS_MAX];
    unsigned nold = ntargets;
    memcpy(old, targets, sizeof(struct target) * nold);
    ntargets = 0;
    for (unsigned i = 0; i < n; i++) {
        DIR *d = opendir(dirs[i]);
        for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
            uint64_t pid = pid_of_name(e->d_name);
            if (pid == 0 || ntargets == TARGETS_MAX)
                continue;
            char path[4400];
            snprintf(path, sizeof path, "%.4095s/%.255s", dirs[i], e->d_name);
            struct live_file f;
            char err[700];
            if (live_open(&f, path, err, sizeof err) != 0)
                continue;
            int alive = f.h->pid == pid ? live_alive(&f, pid) : ESTALE;
            live_close(&f);
            if (alive == ESTALE || alive == ESRCH) {
                unlink(path);
                continue;
            }
            struct target *t = add_target(pid, path);
            t->listed = true;
            for (unsigned k = 0; k < nold; k++)
                if (old[k].pid == pid)
                    t->prev = old[k].prev;
        }
        if (d != NULL)
            closedir(d);
    }
    unsigned before = ntargets;
    find_other_namespaces();
    for (unsigned i = before; i < ntargets; i++)
        for (unsigned k = 0; k < nold; k++)
            if (old[k].pid == targets[i].pid)
                targets[i].prev = old[k].prev;
}

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

static double parse_seconds(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= 0.1 && v <= 86400))
        usage_error("--watch: expected SECONDS from 0.1 to 86400, not", s);
    return v;
}

/* One refresh over every target. Returns how many were shown. */
static unsigned refresh(int *status)
{
    unsigned shown = 0;
    for (unsigned i = 0; i < ntargets; i++) {
        struct target *t = &targets[i];
        struct live_file f;
        if (t->gone)
            continue;
        if (open_target(t, &f) != 0) {
            if (t->prev.time_ns == 0 && !t->listed)
                *status = 1; /* never shown */
            t->gone = true;
            continue;
        }
        show(t, &f);
        live_close(&f);
        shown++;
    }
    fflush(stdout);
    return shown;
}

int main(int argc, char **argv)
{
    double watch = 0;
    bool all = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        tool_help(a, usage);
        if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--all") == 0) {
            all = true;
        } else if (strcmp(a, "--watch") == 0 || strcmp(a, "--file") == 0) {
            if (i + 1 == argc)
                usage_error(a[2] == 'w' ? "--watch needs SECONDS" : "--file needs a PATH", NULL);
            if (a[2] == 'w')
                watch = parse_seconds(argv[++i]);
            else
                add_target(0, argv[++i]);
        } else if (strncmp(a, "--watch=", 8) == 0) {
            watch = parse_seconds(a + 8);
        } else if (pid_of_name(a) != 0 || (a[0] >= '1' && a[0] <= '9' &&
                                              strspn(a, "0123456789") == strlen(a))) {
            unsigned long long pid = strtoull(a, NULL, 10);
            if (pid == 0 || pid >= (1u << 30))
                usage_error("not a process id:", a);
            add_target(pid, NULL);
        } else {
            usage_error(a[0] == '-' ? "unknown option" : "not a process id:", a);
        }
    }
    if (all && ntargets > 0)
        usage_error("--all takes no PID or --file", NULL);
    if (!all && ntargets == 0)
        usage_error("no PID given (or --all)", NULL);
    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    int status = 0;
    for (;;) {
        if (watch > 0 && !json && isatty(1))
            fputs("\033[H\033[2J", stdout);
        if (all)
            find_all();
        unsigned shown = refresh(&status);
        if (all && shown == 0 && watch == 0) {
            fprintf(stderr, PROG ": no process of this user has live figures\n");
            return 1;
        }
        if (watch == 0 || (!all && shown == 0) || interrupted)
            break;
        struct timespec ts = {(time_t)watch, (long)((watch - (double)(time_t)watch) * 1e9)};
        while (nanosleep(&ts, &ts) != 0 && !interrupted)
            ;
        if (interrupted)
            break;
    }
    return status;
}
