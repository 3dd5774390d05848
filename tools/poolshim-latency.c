/* poolshim-latency - how long a program's allocator calls take, on the
 * system allocator and under the pools, from the shim's timing mode
 * (POOLSHIM_LATENCY, shim/latency.h).
 *
 *   poolshim-latency run --lib PATH [--runs N] [--set VAR=VALUE]... [--json]
 *                        [--png FILE] [--] PROGRAM [ARGS...]
 *   poolshim-latency report [--json] FILE...
 *
 * run: runs PROGRAM N times (default 3) with the pools off
 * (POOLSHIM_CLASSES=none: the shim passes every call to the system allocator
 * and times it) and N times with the pools on (the --set assignments, e.g.
 * POOLSHIM_CLASSES=...), alternating which comes first, each time with
 * LD_PRELOAD=PATH and POOLSHIM_LATENCY=DIR/lat.%p in a scratch directory (on
 * /dev/shm when it is there: the shim maps its files, tmpfs never writes them
 * back). Every process of a run writes its own file; all the files of one
 * side, over all its runs, merge into one histogram per kind of call. It
 * prints the side-by-side table (or one JSON object), the wall times, the
 * share served by the pools, the figures per kind of call and per thread,
 * and whether the program's output and exit status were the same in every
 * run; --png draws the tail (fraction of calls slower than x, log axes) of
 * both sides with gnuplot. Standard input, when it is not a terminal, is read
 * once and given to every run.
 * `poolshim latency` (scripts/poolshim) is its front end: --classes and
 * --config become --set.
 *
 * report: the same figures for latency files written by hand
 * (POOLSHIM_LATENCY=FILE), all FILEs merged.
 *
 * Exit status: 0; 1 when the program's output or exit status differed
 * between runs (the figures are printed all the same), or --png failed;
 * 2 for a usage error; 3 when nothing could be measured (a static or setuid
 * program, a configuration the shim refused, a file that cannot be read).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shim/latfile.h"
#include "tools/shared/tool.h"

#define RUNS_MAX 100
#define SETS_MAX 32
#define THREAD_LINES 16 /* threads listed per side */

extern char **environ;

static const char *me = "poolshim: latency";

static _Noreturn void die(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", me);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(status);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL)
        die(3, "out of memory");
    return p;
}

/* ---- one side: the merged calls of a set of processes ---- */

struct thread_line {
    uint64_t pid;
    unsigned run;
    struct lat_thread_record r;
};

struct side {
    const char *title;             /* "system", "pools", "all" */
    struct lat_hist kind[LAT_KINDS];
    struct lat_hist all;
    double ns_per_tick;            /* of the first file read */
    uint64_t floor_ticks;          /* the largest median timer floor */
    uint64_t fault_window;         /* the smallest window (ticks), UINT64_MAX: not counted */
    unsigned files, incomplete, threads;
    uint64_t lost;
    struct thread_line *thr;       /* its threads, each once (pids differ between runs) */
    unsigned nthr, cap;
    unsigned runs;
    double wall[RUNS_MAX];
    int status[RUNS_MAX];          /* exit status, or 128 + signal */
};

static struct side *side_new(const char *title)
{
    struct side *s = xcalloc(1, sizeof *s);
    s->title = title;
    s->fault_window = UINT64_MAX;
    return s;
}

/* A thread's own line: a thread that allocates again after its exit
 * handler freed its slot (later destructors) comes back with a second
 * record, and is still one thread. */
static struct thread_line *thread_line(struct side *s, uint64_t pid, uint64_t tid)
{
    for (unsigned i = 0; i < s->nthr; i++)
        if (s->thr[i].pid == pid && s->thr[i].r.tid == tid)
            return &s->thr[i];
    if (s->nthr == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->thr = realloc(s->thr, s->cap * sizeof *s->thr);
        if (s->thr == NULL)
            die(3, "out of memory");
    }
    struct thread_line *t = &s->thr[s->nthr++];
    memset(t, 0, sizeof *t);
    t->pid = pid;
    t->r.tid = tid;
    return t;
}

/* The threads of f: counted, and listed when they belong to run 1. */
static void keep_threads(struct side *s, const struct lat_file *f, unsigned run)
{
    enum { MAX = 4096 };
    struct lat_thread_record *rec = xcalloc(MAX, sizeof *rec);
    unsigned n = lat_file_threads(f, rec, MAX);
    s->threads += n; /* corrected below for threads seen twice */
    for (unsigned i = 0; i < n && i < MAX; i++) {
        unsigned before = s->nthr;
        struct thread_line *t = thread_line(s, f->h->pid, rec[i].tid);
        s->threads -= s->nthr == before;
        t->run = run;
        t->r.calls += rec[i].calls;
        t->r.faults += rec[i].faults;
        for (unsigned j = 0; j < LAT_OVER; j++)
            t->r.over[j] += rec[i].over[j];
        if (rec[i].max > t->r.max)
            t->r.max = rec[i].max;
    }
    free(rec);
}

/* Merge one latency file into s. Returns false (after a message) when it
 * cannot be read. */
static bool add_file(struct side *s, const char *path, unsigned run)
{
    struct lat_file f;
    char err[600];
    if (lat_file_open(&f, path, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", me, err);
        return false;
    }
    const struct lat_file_header *h = f.h;
    if (s->ns_per_tick == 0)
        s->ns_per_tick = h->ns_per_tick;
    else if (fabs(h->ns_per_tick / s->ns_per_tick - 1) > 0.01)
        fprintf(stderr, "%s: %s: its timer runs at another rate (%.4f ns a tick, not %.4f): "
                "files from another machine? its figures are merged as they are\n",
                me, path, h->ns_per_tick, s->ns_per_tick);
    if (h->floor_p50 > s->floor_ticks)
        s->floor_ticks = h->floor_p50;
    if (h->fault_window < s->fault_window)
        s->fault_window = h->fault_window;
    struct lat_hist *kind = xcalloc(LAT_KINDS, sizeof *kind);
    lat_file_sum(&f, kind);
    for (int k = 0; k < LAT_KINDS; k++) {
        lat_hist_merge(&s->kind[k], &kind[k]);
        lat_hist_merge(&s->all, &kind[k]);
    }
    free(kind);
    s->files++;
    s->incomplete += h->complete == 0;
    s->lost += h->lost_calls;
    keep_threads(s, &f, run);
    lat_file_close(&f);
    return true;
}

/* Merge the files lat.* of dir. Returns how many there were. */
static unsigned add_dir(struct side *s, const char *dir, unsigned run)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        die(3, "cannot read %s: %s", dir, strerror(errno));
    unsigned n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "lat.", 4) != 0)
            continue;
        char path[4800];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        n += add_file(s, path, run);
    }
    closedir(d);
    return n;
}

static double ns(const struct side *s, uint64_t ticks)
{
    return (double)ticks * s->ns_per_tick;
}

/* A percentile in whole ns, rounded up (the histogram never understates). */
static uint64_t q_ns(const struct side *s, const struct lat_hist *h, double q)
{
    return (uint64_t)ceil(ns(s, lat_hist_quantile(h, q)));
}

static uint64_t allocations(const struct side *s)
{
    return s->kind[LAT_POOL].calls + s->kind[LAT_DRY].calls + s->kind[LAT_UNCOVERED].calls;
}

static double median(const double *v, unsigned n)
{
    double c[RUNS_MAX];
    memcpy(c, v, n * sizeof *v);
    for (unsigned i = 1; i < n; i++)
        for (unsigned j = i; j > 0 && c[j - 1] > c[j]; j--) {
            double t = c[j];
            c[j] = c[j - 1];
            c[j - 1] = t;
        }
    return n ? (n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2) : 0;
}

/* ---- text ---- */

struct row {
    const char *label;
    double (*value)(const struct side *); /* NAN: "-" */
    const char *format;
};

static double v_calls(const struct side *s) { return (double)s->all.calls; }
static double v_p50(const struct side *s) { return (double)q_ns(s, &s->all, 0.5); }
static double v_p99(const struct side *s) { return (double)q_ns(s, &s->all, 0.99); }
static double v_p999(const struct side *s) { return (double)q_ns(s, &s->all, 0.999); }
static double v_p9999(const struct side *s) { return (double)q_ns(s, &s->all, 0.9999); }
static double v_max(const struct side *s) { return ceil(ns(s, s->all.max)); }
static double v_over1(const struct side *s) { return (double)s->all.over[0]; }
static double v_over10(const struct side *s) { return (double)s->all.over[1]; }
static double v_wall(const struct side *s) { return s->runs ? median(s->wall, s->runs) : NAN; }
static double v_procs(const struct side *s) { return s->files; }
static double v_threads(const struct side *s) { return s->threads; }

static double v_faults(const struct side *s)
{
    return s->fault_window == UINT64_MAX ? NAN : (double)s->all.faults;
}

static double v_served(const struct side *s)
{
    uint64_t a = allocations(s);
    return a && s->kind[LAT_POOL].calls ? 100.0 * (double)s->kind[LAT_POOL].calls / (double)a
                                        : NAN;
}

static const struct row rows[] = {
    {"calls", v_calls, "%.0f"},
    {"p50 (ns)", v_p50, "%.0f"},
    {"p99 (ns)", v_p99, "%.0f"},
    {"p99.9 (ns)", v_p999, "%.0f"},
    {"p99.99 (ns)", v_p9999, "%.0f"},
    {"max (ns)", v_max, "%.0f"},
    {"calls over 1 us", v_over1, "%.0f"},
    {"calls over 10 us", v_over10, "%.0f"},
    {"page faults in calls", v_faults, "%.0f"},
    {"allocations by pools (%)", v_served, "%.1f"},
    {"wall time (s, median)", v_wall, "%.3f"},
    {"processes (all runs)", v_procs, "%.0f"},
    {"threads (all runs)", v_threads, "%.0f"},
};

static void print_rows(struct side *const *col, int ncol)
{
    printf("%-26s", "");
    for (int c = 0; c < ncol; c++)
        printf("%14s", col[c]->title);
    printf("\n");
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        if (rows[r].value == v_wall && col[0]->runs == 0)
            continue;
        printf("%-26s", rows[r].label);
        for (int c = 0; c < ncol; c++) {
            char cell[32];
            double v = rows[r].value(col[c]);
            if (isnan(v))
                snprintf(cell, sizeof cell, "-");
            else
                snprintf(cell, sizeof cell, rows[r].format, v);
            printf("%14s", cell);
        }
        printf("\n");
    }
}

static void print_kinds(const struct side *s, const char *what)
{
    printf("\nby kind of call, %s:\n", what);
    printf("  %-26s %10s %7s %7s %8s %10s %7s %7s\n", "", "calls", "p50", "p99", "p99.9",
           "max", ">10us", "faults");
    for (int k = 0; k < LAT_KINDS; k++) {
        const struct lat_hist *h = &s->kind[k];
        if (h->calls == 0)
            continue;
        printf("  %-26s %10llu %7llu %7llu %8llu %10.0f %7llu %7llu\n", lat_kind[k].title,
               (unsigned long long)h->calls, (unsigned long long)q_ns(s, h, 0.5),
               (unsigned long long)q_ns(s, h, 0.99), (unsigned long long)q_ns(s, h, 0.999),
               ceil(ns(s, h->max)), (unsigned long long)h->over[1],
               (unsigned long long)h->faults);
    }
}

static int by_calls(const void *a, const void *b)
{
    uint64_t x = ((const struct thread_line *)a)->r.calls;
    uint64_t y = ((const struct thread_line *)b)->r.calls;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void print_threads(struct side *s, const char *what)
{
    if (s->nthr <= s->files)
        return; /* one thread a process: the table above says it all */
    qsort(s->thr, s->nthr, sizeof *s->thr, by_calls);
    printf("\nper thread, %s (%u threads in %u processes%s):\n", what, s->nthr, s->files,
           s->nthr > THREAD_LINES ? "; the busiest listed" : "");
    printf("  %4s %8s %8s %12s %10s %10s %8s %12s\n", "run", "pid", "tid", "calls", ">1us",
           ">10us", "faults", "max (ns)");
    for (unsigned i = 0; i < s->nthr && i < THREAD_LINES; i++) {
        const struct thread_line *t = &s->thr[i];
        printf("  %4u %8llu %8llu %12llu %10llu %10llu %8llu %12.0f\n", t->run,
               (unsigned long long)t->pid, (unsigned long long)t->r.tid,
               (unsigned long long)t->r.calls, (unsigned long long)t->r.over[0],
               (unsigned long long)t->r.over[1], (unsigned long long)t->r.faults,
               ceil(ns(s, t->r.max)));
    }
}

static void print_timer(const struct side *s)
{
    printf("every allocator call timed alone: rdtscp, %.4f ns a tick; timer floor %.0f ns "
           "(two back-to-back reads, included in every figure)\n",
           s->ns_per_tick, ns(s, s->floor_ticks));
    if (s->fault_window == UINT64_MAX)
        printf("page faults: not counted (getrusage RUSAGE_THREAD unavailable)\n");
    else
        printf("page faults: counted in every call of %.0f ns or more (no fault is shorter "
               "here)\n", ns(s, s->fault_window));
}

static void print_notes(const struct side *s)
{
    if (s->incomplete)
        printf("%s: %u process(es) ended without exit handlers (_exit, exec or a signal): "
               "their calls up to that moment are counted\n", s->title, s->incomplete);
    if (s->lost)
        printf("%s: %llu call(s) not counted (a thread could get no slot in the file)\n",
               s->title, (unsigned long long)s->lost);
}

/* ---- JSON ---- */

static void json_hist(const struct side *s, const struct lat_hist *h)
{
    printf("\"calls\":%llu,\"p50_ns\":%llu,\"p99_ns\":%llu,\"p99_9_ns\":%llu,"
           "\"p99_99_ns\":%llu,\"max_ns\":%.0f,",
           (unsigned long long)h->calls, (unsigned long long)q_ns(s, h, 0.5),
           (unsigned long long)q_ns(s, h, 0.99), (unsigned long long)q_ns(s, h, 0.999),
           (unsigned long long)q_ns(s, h, 0.9999), ceil(ns(s, h->max)));
    if (s->fault_window == UINT64_MAX)
        printf("\"faults\":null,");
    else
        printf("\"faults\":%llu,", (unsigned long long)h->faults);
    printf("\"over_1us\":%llu,\"over_10us\":%llu", (unsigned long long)h->over[0],
           (unsigned long long)h->over[1]);
}

static void json_side(const struct side *s)
{
    printf("{");
    json_hist(s, &s->all);
    double served = v_served(s);
    if (isnan(served))
        printf(",\"served_share\":null");
    else
        printf(",\"served_share\":%.4f", served / 100);
    printf(",\"processes\":%u,\"incomplete_processes\":%u,\"threads\":%u,\"lost_calls\":%llu",
           s->files, s->incomplete, s->threads, (unsigned long long)s->lost);
    if (s->runs) {
        printf(",\"wall_s_median\":%.4f,\"wall_s\":[", median(s->wall, s->runs));
        for (unsigned i = 0; i < s->runs; i++)
            printf("%s%.4f", i ? "," : "", s->wall[i]);
        printf("],\"exit_status\":[");
        for (unsigned i = 0; i < s->runs; i++)
            printf("%s%d", i ? "," : "", s->status[i]);
        printf("]");
    }
    printf(",\"kinds\":{");
    for (int k = 0; k < LAT_KINDS; k++) {
        printf("%s\"%s\":{", k ? "," : "", lat_kind[k].name);
        json_hist(s, &s->kind[k]);
        printf("}");
    }
    printf("}}");
}

static void json_timer(const struct side *s)
{
    printf("\"timer\":{\"name\":\"rdtscp\",\"ns_per_tick\":%.6f,\"floor_ns\":%.1f,", s->ns_per_tick,
           ns(s, s->floor_ticks));
    if (s->fault_window == UINT64_MAX)
        printf("\"fault_window_ns\":null}");
    else
        printf("\"fault_window_ns\":%.0f}", ns(s, s->fault_window));
}

/* ---- the tail plot ---- */

/* Exceedance points of s into f: (x, fraction of calls slower than x). */
static void write_tail(FILE *f, const struct side *s)
{
    const struct lat_hist *h = &s->all;
    uint64_t above = h->calls;
    bool first = true;
    for (unsigned b = 0; b < LAT_BUCKETS && above > 0; b++) {
        if (h->count[b] == 0)
            continue;
        if (first)
            fprintf(f, "%g 1\n", ns(s, lat_bucket_low(b)));
        first = false;
        above -= h->count[b];
        uint64_t hi = lat_bucket_high(b) < h->max ? lat_bucket_high(b) : h->max;
        fprintf(f, "%g %.10g\n", ns(s, hi), above ? (double)above / (double)h->calls : 0.0);
    }
    fprintf(f, "\n\n");
}

static int run_and_wait(char *const argv[], const char *out_path);

static bool plot(const char *png, const char *dir, struct side *const *col, int ncol,
                 const char *program)
{
    char data[4400], script[4400];
    snprintf(data, sizeof data, "%s/tail.dat", dir);
    snprintf(script, sizeof script, "%s/tail.gp", dir);
    FILE *f = fopen(data, "w");
    FILE *g = fopen(script, "w");
    if (f == NULL || g == NULL)
        die(3, "cannot write in %s: %s", dir, strerror(errno));
    double lo = 1e300, hi = 0, floor_y = 1;
    for (int c = 0; c < ncol; c++) {
        write_tail(f, col[c]);
        if (col[c]->all.calls == 0)
            continue;
        double a = ns(col[c], lat_hist_quantile(&col[c]->all, 0.0000001));
        lo = a < lo ? a : lo;
        hi = ns(col[c], col[c]->all.max) > hi ? ns(col[c], col[c]->all.max) : hi;
        floor_y = fmin(floor_y, 0.5 / (double)col[c]->all.calls);
    }
    fclose(f);
    fprintf(g, "set terminal pngcairo size 900,560 font \",10\"\nset output '%s'\n", png);
    fprintf(g, "set title \"allocator calls of %s: fraction slower than x\" noenhanced\n", program);
    fprintf(g, "set logscale xy\nset xlabel 'latency of one call (ns)'\n"
               "set ylabel 'fraction of calls slower'\nset grid\nset key top right\n"
               "set format y '10^{%%L}'\nset format x '10^{%%L}'\n"
               "set xrange [%g:%g]\nset yrange [%g:1.5]\n",
            lo / 1.5, hi * 1.5, floor_y);
    fprintf(g, "plot ");
    for (int c = 0; c < ncol; c++)
        fprintf(g, "%s'%s' index %d using 1:($2 > 0 ? $2 : 1/0) with steps lw 2 title '%s'",
                c ? ", " : "", data, c,
                strcmp(col[c]->title, "system") == 0 ? "system allocator" : "poolshim pools");
    fprintf(g, "\n");
    fclose(g);
    char *argv[] = {"gnuplot", script, NULL};
    char log[4400];
    snprintf(log, sizeof log, "%s/gnuplot.err", dir);
    int st = run_and_wait(argv, log);
    if (st != 0) {
        fprintf(stderr, "%s: --png %s: gnuplot %s (install gnuplot, e.g. apt-get install "
                "gnuplot-nox); the table is printed all the same\n", me, png,
                st == 127 ? "not found" : "failed");
        return false;
    }
    return true;
}

/* ---- running the program ---- */

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    interrupted = sig;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Start argv with envp (environ when NULL), stdin from in_path (NULL: as
 * ours), stdout and stderr to out_path and err_path (err NULL: stderr to
 * out as well); wait. Returns the exit status, 128 + signal, or 127 when it
 * could not be started. */
static int spawn(char *const argv[], char *const envp[], const char *in_path,
                 const char *out_path, const char *err_path)
{
    pid_t pid = fork();
    if (pid < 0)
        die(3, "fork: %s", strerror(errno));
    if (pid == 0) {
        int in = in_path ? open(in_path, O_RDONLY | O_CLOEXEC) : 0;
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int err = err_path ? open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : out;
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(127);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execvpe(argv[0], argv, envp ? envp : environ);
        dprintf(2, "%s: cannot run %s: %s\n", me, argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die(3, "waitpid: %s", strerror(errno));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int run_and_wait(char *const argv[], const char *out_path)
{
    return spawn(argv, NULL, "/dev/null", out_path, NULL);
}

/* What makes LD_PRELOAD useless for program: NULL when nothing does. */
static const char *unmeasurable(const char *program, char *path, size_t cap)
{
    if (strchr(program, '/') != NULL) {
        snprintf(path, cap, "%s", program);
    } else {
        const char *p = getenv("PATH");
        char dirs[8192];
        snprintf(dirs, sizeof dirs, "%s", p && *p ? p : "/usr/bin:/bin");
        path[0] = '\0';
        for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
            snprintf(path, cap, "%s/%s", *d ? d : ".", program);
            if (access(path, X_OK) == 0)
                break;
            path[0] = '\0';
        }
        if (path[0] == '\0')
            return NULL; /* execvp will say it is not found */
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return NULL;
    if (st.st_mode & (S_ISUID | S_ISGID))
        return "is setuid or setgid: the dynamic loader ignores LD_PRELOAD for it";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    Elf64_Ehdr eh;
    bool is_static = false;
    if (fd >= 0 && pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh &&
        memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_ident[EI_CLASS] == ELFCLASS64) {
        is_static = true;
        for (unsigned i = 0; i < eh.e_phnum; i++) {
            Elf64_Phdr ph;
            if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize)) !=
                (ssize_t)sizeof ph)
                break;
            if (ph.p_type == PT_INTERP)
                is_static = false;
        }
    }
    if (fd >= 0)
        close(fd);
    return is_static ? "is statically linked: nothing can be preloaded into it" : NULL;
}

struct run_opts {
    unsigned runs;
    const char *lib, *png;
    bool json;
    const char *set[SETS_MAX];
    unsigned nset;
    char **argv;                   /* PROGRAM ARGS..., NULL-terminated */
    char dir[4096];                /* scratch */
    char in[4200];                 /* stdin for every run */
};

static bool named(const char *entry, const char *name)
{
    size_t n = strlen(name);
    return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

static char *join(const char *a, const char *b, const char *c)
{
    char *s;
    if (asprintf(&s, "%s%s%s", a, b, c) < 0)
        die(3, "out of memory");
    return s;
}

/* The environment of one run: ours, less what the run sets, plus
 * LD_PRELOAD (the shim first), POOLSHIM_LATENCY, and either
 * POOLSHIM_CLASSES=none or the --set assignments. */
static char **run_env(const struct run_opts *o, bool pools, const char *dir)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = xcalloc(n + o->nset + 4, sizeof *env);
    size_t k = 0;
    const char *preload = getenv("LD_PRELOAD");
    for (size_t i = 0; i < n; i++) {
        const char *e = environ[i];
        bool drop = named(e, "LD_PRELOAD") || named(e, "POOLSHIM_LATENCY") ||
                    named(e, "POOLSHIM_PROFILE") || (!pools && named(e, "POOLSHIM_CLASSES"));
        for (unsigned j = 0; pools && j < o->nset && !drop; j++)
            drop = strncmp(e, o->set[j], (size_t)(strchr(o->set[j], '=') - o->set[j]) + 1) == 0;
        if (!drop)
            env[k++] = (char *)e;
    }
    env[k++] = preload && *preload ? join("LD_PRELOAD=", o->lib, join(":", preload, ""))
                                   : join("LD_PRELOAD=", o->lib, "");
    env[k++] = join("POOLSHIM_LATENCY=", dir, "/lat.%p");
    if (!pools)
        env[k++] = "POOLSHIM_CLASSES=none";
    for (unsigned j = 0; pools && j < o->nset; j++)
        env[k++] = (char *)o->set[j];
    env[k] = NULL;
    return env;
}

/* The lines of path that start with "poolshim:" (the shim's own), on stderr. */
static void show_shim_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "poolshim:", 9) == 0)
            fprintf(stderr, "  %s", line);
    if (f)
        fclose(f);
}

/* Run i of one side; its files merged into s. */
static void run_side(const struct run_opts *o, struct side *s, bool pools, unsigned i)
{
    char dir[4400], out[4500], err[4500];
    snprintf(dir, sizeof dir, "%s/%s.%u", o->dir, s->title, i);
    if (mkdir(dir, 0700) != 0)
        die(3, "cannot make %s: %s", dir, strerror(errno));
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    char **env = run_env(o, pools, dir);
    double t0 = mono_s();
    int st = spawn(o->argv, env, o->in, out, err);
    s->wall[s->runs] = mono_s() - t0;
    s->status[s->runs++] = st;
    free(env); /* the joined strings are a few bytes a run */
    if (interrupted)
        return;
    fprintf(stderr, "%s: run %u of %u, %s: %.3f s, exit status %d\n", me, i, o->runs,
            pools ? "pools" : "system allocator", s->wall[s->runs - 1], st);
    if (add_dir(s, dir, i) == 0) {
        fprintf(stderr, "%s: nothing could be measured: no process of %s wrote a latency file "
                "(exit status %d)%s\n", me, o->argv[0], st,
                st == 127 ? "" : "; its stderr's poolshim lines:");
        show_shim_lines(err);
        interrupted = -1;
    }
}

/* ---- scratch space, standard input, outputs ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : 0;
}

static struct run_opts *scratch_owner; /* removed at exit */

static void remove_scratch(void)
{
    if (scratch_owner != NULL && scratch_owner->dir[0] != '\0')
        nftw(scratch_owner->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A private directory on tmpfs (/dev/shm) when there is one: the shim maps
 * its files, and tmpfs never writes them back to a disk during the run. */
static void make_scratch(struct run_opts *o)
{
    const char *t = getenv("TMPDIR");
    const char *bases[] = {"/dev/shm", t && *t ? t : "/tmp", "/tmp"};
    for (int i = 0; i < 3; i++) {
        snprintf(o->dir, sizeof o->dir, "%s/poolshim-latency.XXXXXX", bases[i]);
        if (mkdtemp(o->dir) != NULL) {
            scratch_owner = o;
            atexit(remove_scratch);
            return;
        }
    }
    die(3, "cannot make a scratch directory in /dev/shm, $TMPDIR or /tmp: %s", strerror(errno));
}

/* Standard input, read once: every run gets the same bytes. A terminal is
 * not read (the runs get /dev/null). */
static void spool_stdin(struct run_opts *o)
{
    if (isatty(0)) {
        snprintf(o->in, sizeof o->in, "/dev/null");
        return;
    }
    snprintf(o->in, sizeof o->in, "%s/stdin", o->dir);
    int out = open(o->in, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0)
        die(3, "cannot write %s: %s", o->in, strerror(errno));
    char buf[65536];
    ssize_t r;
    while ((r = read(0, buf, sizeof buf)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            if (errno == EBADF) /* stdin closed: like an empty one */
                break;
            die(3, "reading standard input: %s", strerror(errno));
        }
        if (write(out, buf, (size_t)r) != r)
            die(3, "cannot write %s: %s", o->in, strerror(errno));
    }
    close(out);
}

/* Whole content of path (NUL-terminated, *len its length); "" when absent. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 4096, n = 0, r;
    char *s = xcalloc(1, cap);
    while (f && (r = fread(s + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2) {
            s = realloc(s, cap *= 2);
            if (s == NULL)
                die(3, "out of memory");
        }
    }
    if (f)
        fclose(f);
    s[n] = '\0';
    *len = n;
    return s;
}

/* Prints whether every run wrote the same stdout and exited the same way
 * as the first system run; returns true when they did. */
static bool same_outputs(const struct run_opts *o, struct side *const *col)
{
    char path[4500];
    size_t ref_len, len;
    snprintf(path, sizeof path, "%s/system.1/out", o->dir);
    char *ref = slurp(path, &ref_len);
    int ref_status = col[0]->status[0];
    bool same = true;
    for (int c = 0; c < 2; c++)
        for (unsigned i = 0; i < col[c]->runs; i++) {
            snprintf(path, sizeof path, "%s/%s.%u/out", o->dir, col[c]->title, i + 1);
            char *text = slurp(path, &len);
            bool ok = len == ref_len && memcmp(text, ref, len) == 0;
            if (!ok || col[c]->status[i] != ref_status) {
                if (!o->json)
                    printf("program output: DIFFERS: %s run %u %s than system run 1\n",
                           col[c]->title, i + 1,
                           ok ? "exited otherwise" : "wrote another standard output");
                same = false;
            }
            free(text);
        }
    if (same && !o->json)
        printf("program output: the same in all %u runs (%zu bytes on standard output, "
               "exit status %d)\n", 2 * o->runs, ref_len, ref_status);
    free(ref);
    return same;
}

/* ---- the commands ---- */

static void usage(FILE *to)
{
    fprintf(to,
            "Usage: poolshim-latency run --lib PATH [--runs N] [--set VAR=VALUE]... [--json]\n"
            "                            [--png FILE] [--] PROGRAM [ARGS...]\n"
            "       poolshim-latency report [--json] FILE...\n"
            "\n"
            "run: PROGRAM N times (default 3) on the system allocator and N times under\n"
            "the pools (the --set assignments, e.g. POOLSHIM_CLASSES=...), alternating, every\n"
            "allocator call timed by the shim (POOLSHIM_LATENCY); prints both sides' latency.\n"
            "report: the figures of latency files written with POOLSHIM_LATENCY=FILE.\n"
            "Usually called as `poolshim latency` (see poolshim(1)).\n");
}

static unsigned parse_runs(const char *s)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v < 1 || v > RUNS_MAX)
        die(2, "--runs \"%s\": expected a number of runs from 1 to %d", s, RUNS_MAX);
    return (unsigned)v;
}

static void add_set(struct run_opts *o, const char *a)
{
    const char *eq = strchr(a, '=');
    if (strncmp(a, "POOLSHIM_", 9) != 0 || eq == NULL || eq == a + 9)
        die(2, "--set \"%s\": expected POOLSHIM_VAR=VALUE", a);
    if (named(a, "POOLSHIM_LATENCY") || named(a, "POOLSHIM_PROFILE"))
        die(2, "--set \"%s\": poolshim latency sets that itself", a);
    if (o->nset == SETS_MAX)
        die(2, "--set: at most %d of them", SETS_MAX);
    o->set[o->nset++] = a;
}

/* Options of `run`; returns the index of PROGRAM in argv. */
static int parse_run(struct run_opts *o, int argc, char **argv)
{
    int i = 2;
    o->runs = 3;
    for (; i < argc; i++) {
        const char *a = argv[i];
        bool value = i + 1 < argc;
        tool_help(a, usage);
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (strcmp(a, "--runs") == 0 && value) {
            o->runs = parse_runs(argv[++i]);
        } else if (strcmp(a, "--lib") == 0 && value) {
            o->lib = argv[++i];
        } else if (strcmp(a, "--png") == 0 && value) {
            o->png = argv[++i];
        } else if (strcmp(a, "--set") == 0 && value) {
            add_set(o, argv[++i]);
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (a[0] == '-') {
            die(2, "unknown option %s, or it needs a value (see poolshim latency --help)", a);
        } else {
            break;
        }
    }
    if (o->png != NULL && strpbrk(o->png, "'\n") != NULL)
        die(2, "--png \"%s\": expected a file name without ' or a newline", o->png);
    if (o->lib == NULL)
        die(2, "--lib PATH is required (the libpoolshim.so to preload)");
    if (o->lib[0] != '/' || access(o->lib, R_OK) != 0)
        die(2, "--lib %s: expected the absolute path of a readable libpoolshim.so", o->lib);
    if (i >= argc)
        die(2, "no program given: poolshim latency [OPTIONS] [--] PROGRAM [ARGS...]");
    return i;
}

static void print_header(const struct run_opts *o, struct side *const *col)
{
    printf("poolshim latency:");
    for (char **a = o->argv; *a; a++)
        printf(" %s", *a);
    printf("\n%u run(s) each way, alternating; the figures are all the calls of a side's runs "
           "together\n(the system allocator's calls timed through the shim with "
           "POOLSHIM_CLASSES=none)\n", o->runs);
    printf("pools:");
    for (unsigned j = 0; j < o->nset; j++)
        printf(" %s", o->set[j]);
    printf("%s\n", o->nset ? "" : " the default classes");
    print_timer(col[1]->ns_per_tick ? col[1] : col[0]);
    printf("\n");
}

static int finish_run(const struct run_opts *o, struct side *const *col)
{
    if (o->json) {
        printf("{\"program\":[");
        for (char **a = o->argv; *a; a++) {
            printf("%s", a == o->argv ? "" : ",");
            json_string(*a);
        }
        printf("],\"runs\":%u,", o->runs);
        json_timer(col[0]);
        printf(",\"output_identical\":");
    } else {
        print_header(o, col);
        print_rows(col, 2);
        print_kinds(col[0], "system allocator runs");
        print_kinds(col[1], "pools runs");
        print_threads(col[0], "system allocator runs");
        print_threads(col[1], "pools runs");
        printf("\n");
        print_notes(col[0]);
        print_notes(col[1]);
    }
    bool same = same_outputs(o, col);
    if (o->json) {
        printf("%s,\"system\":", same ? "true" : "false");
        json_side(col[0]);
        printf(",\"pools\":");
        json_side(col[1]);
        printf("}\n");
    }
    fflush(stdout);
    bool drawn = o->png == NULL || plot(o->png, o->dir, col, 2, o->argv[0]);
    return same && drawn ? 0 : 1;
}

static int cmd_run(int argc, char **argv)
{
    static struct run_opts o;
    int first = parse_run(&o, argc, argv);
    o.argv = argv + first;
    char path[4096];
    const char *why = unmeasurable(o.argv[0], path, sizeof path);
    if (why != NULL)
        die(3, "%s %s; nothing could be measured", path, why);
    make_scratch(&o);
    spool_stdin(&o);
    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    struct side *col[2] = {side_new("system"), side_new("pools")};
    for (unsigned i = 1; i <= o.runs && !interrupted; i++) {
        bool pools_first = i % 2 == 0;
        run_side(&o, col[pools_first], pools_first, i);
        if (!interrupted)
            run_side(&o, col[!pools_first], !pools_first, i);
    }
    if (interrupted > 0)
        die(130, "interrupted: no figures");
    if (interrupted < 0)
        return 3;
    return finish_run(&o, col);
}

static int cmd_report(int argc, char **argv)
{
    bool json = false;
    int i = 2;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else
            die(2, "report: unknown option %s", argv[i]);
    }
    if (i >= argc)
        die(2, "report: no file given: poolshim-latency report [--json] FILE...");
    struct side *s = side_new("all");
    for (; i < argc; i++)
        if (!add_file(s, argv[i], 1))
            return 3;
    if (json) {
        printf("{");
        json_timer(s);
        printf(",\"all\":");
        json_side(s);
        printf("}\n");
        return 0;
    }
    print_timer(s);
    printf("\n");
    print_rows(&s, 1);
    print_kinds(s, "all files");
    print_threads(s, "all files");
    print_notes(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return cmd_run(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "report") == 0) {
        me = "poolshim-latency: report";
        return cmd_report(argc, argv);
    }
    if (argc >= 2)
        tool_help(argv[1], usage);
    usage(stderr);
    return 2;
}
