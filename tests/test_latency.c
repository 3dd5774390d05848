/* test_latency.c - the timing mode (POOLSHIM_LATENCY) and poolshim latency:
 *   histogram   bucket bounds, merging, percentiles of known distributions
 *               within the stated error (never below, at most 1/128 above);
 *   module      shim/latency.c linked in, in worker processes forked from
 *               the case: exact counts per kind and per thread, slots reused
 *               by later threads, fork (the child's own file, the parent's
 *               untouched), _exit (everything counted is in the file, marked
 *               incomplete), page faults inside timed calls counted exactly
 *               and the program's own faults between calls never charged to
 *               them, files it must not replace;
 *   shim        the preloaded library on tests/helpers/lat_calls.c: its calls
 *               counted exactly by kind (less the baseline of a run that makes
 *               none), on the pools and with POOLSHIM_CLASSES=none, fallbacks
 *               of a one-object class, threads, fork, _exit, faults;
 *   command     poolshim latency (scripts/poolshim, tools/poolshim-latency):
 *               JSON members and exact counts, the table, standard input,
 *               output that differs, what it refuses, --config, --png,
 *               report.
 * Needs TEST_SHIM_LIB and TEST_HELPERS (scripts/run-tests sets them).
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim/latency.h"
#include "tests/checkutil.h"

/* ------------------------------------------------------------------------ */
/* histogram                                                                 */

static const uint64_t no_over[LAT_OVER] = {UINT64_MAX, UINT64_MAX};

START_TEST(buckets_tile_the_range)
{
    ck_assert_uint_eq(lat_bucket_low(0), 0);
    for (unsigned b = 0; b + 1 < LAT_BUCKETS; b++) {
        uint64_t lo = lat_bucket_low(b), hi = lat_bucket_high(b);
        ck_assert_msg(lat_bucket(lo) == b && lat_bucket(hi) == b,
                      "bucket %u: [%lu, %lu] maps to %u and %u", b, (unsigned long)lo,
                      (unsigned long)hi, lat_bucket(lo), lat_bucket(hi));
        ck_assert_uint_eq(lat_bucket_low(b + 1), hi + 1);
        /* relative width at most 1/128 */
        ck_assert_msg((hi - lo + 1) * 128 <= (lo > 0 ? lo : 1) || lo < 256,
                      "bucket %u too wide: [%lu, %lu]", b, (unsigned long)lo, (unsigned long)hi);
        if (lo < 256)
            ck_assert_uint_eq(lo, hi);
    }
    ck_assert_uint_eq(lat_bucket((uint64_t)1 << LAT_TOP_BITS), LAT_BUCKETS - 1);
    ck_assert_uint_eq(lat_bucket(UINT64_MAX), LAT_BUCKETS - 1);
    ck_assert_uint_eq(lat_bucket_high(LAT_BUCKETS - 1), UINT64_MAX);
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Samples of a known distribution, in ticks of 1/2.3 ns (a 2.3 GHz TSC):
 * 0: log-uniform from 10 ns to 10 s (every decade the issue names);
 * 1: a fast body (20-60 ns) with a slow tail (1% at 15-40 us, 0.01% at
 *    1-3 ms), the shape of allocator latency. */
static uint64_t sample(int shape, uint64_t *rng)
{
    double u = (double)(tu_xorshift64(rng) >> 11) / 9007199254740992.0;
    const double tick = 1 / 2.3;
    if (shape == 0)
        return (uint64_t)(exp(log(10 / tick) + u * (log(1e10 / tick) - log(10 / tick))));
    double v = (double)(tu_xorshift64(rng) >> 11) / 9007199254740992.0;
    double ns = u < 0.0001 ? 1e6 + v * 2e6 : u < 0.01 ? 15000 + v * 25000 : 20 + v * 40;
    return (uint64_t)(ns / tick);
}

START_TEST(percentiles_within_stated_error)
{
    enum { n = 1000000 };
    uint64_t *v = malloc(n * sizeof *v), rng = 0x9e3779b97f4a7c15u + (uint64_t)_i;
    struct lat_hist *h = calloc(1, sizeof *h);
    ck_assert(v != NULL && h != NULL);
    for (int i = 0; i < n; i++) {
        v[i] = sample(_i, &rng);
        lat_hist_add(h, v[i], no_over);
    }
    qsort(v, n, sizeof *v, cmp_u64);
    static const double qs[] = {0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999, 1.0};
    for (int i = 0; i < N(qs); i++) {
        uint64_t rank = (uint64_t)ceil(qs[i] * n), exact = v[rank - 1];
        uint64_t got = lat_hist_quantile(h, qs[i]);
        ck_assert_msg(got >= exact && (double)got <= (double)exact * (1 + 1.0 / 128),
                      "shape %d q=%g: histogram says %lu ticks, exact %lu", _i, qs[i],
                      (unsigned long)got, (unsigned long)exact);
    }
    ck_assert_uint_eq(h->calls, n);
    ck_assert_uint_eq(h->max, v[n - 1]);
    free(v);
    free(h);
}
END_TEST

START_TEST(merge_and_counters)
{
    struct lat_hist *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    const uint64_t over_at[LAT_OVER] = {100, 1000};
    for (uint64_t x = 1; x <= 2000; x++)
        lat_hist_add(x % 2 ? a : b, x, over_at);
    a->faults = 3;
    b->faults = 4;
    lat_hist_merge(a, b);
    ck_assert_uint_eq(a->calls, 2000);
    ck_assert_uint_eq(a->over[0], 1900);
    ck_assert_uint_eq(a->over[1], 1000);
    ck_assert_uint_eq(a->faults, 7);
    ck_assert_uint_eq(a->max, 2000);
    ck_assert_uint_eq(a->sum, 2000 * 2001 / 2);
    ck_assert_uint_eq(lat_hist_quantile(a, 0.05), 100); /* exact below 256 */
    ck_assert_uint_eq(lat_hist_above(a, 255), 2000 - 255);
    struct lat_hist *empty = calloc(1, sizeof *empty);
    ck_assert_uint_eq(lat_hist_quantile(empty, 0.5), 0);
    free(a);
    free(b);
    free(empty);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* the module, in worker processes                                          */

/* Count `n` calls of kind k, each with nothing inside. */
static void calls(enum lat_kind k, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint64_t t0 = lat_begin();
        lat_record(k, t0, lat_now());
    }
}

static void *thread_calls(void *arg)
{
    calls(LAT_FREE_POOL, (unsigned)(uintptr_t)arg);
    return NULL;
}

/* Run work() in a forked worker, which times its calls into the file
 * lat_path first (lat_start; exit 3 when that fails; NULL: work starts
 * itself) and ends with exit(0) (or as work decides). Fails the case unless
 * the worker exits 0. Returns the worker's pid. */
static pid_t worker(void (*work)(void), const char *lat_path)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (lat_path != NULL && lat_start(lat_path) != 0)
            _exit(3);
        work();
        exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker status %#x", status);
    return pid;
}

struct read {
    struct lat_file f;
    struct lat_hist *kind; /* LAT_KINDS */
    struct lat_thread_record thr[64];
    unsigned threads;
};

static void read_file(struct read *r, const char *path)
{
    char err[512];
    ck_assert_msg(lat_file_open(&r->f, path, err, sizeof err) == 0, "%s", err);
    r->kind = calloc(LAT_KINDS, sizeof *r->kind);
    ck_assert_ptr_nonnull(r->kind);
    lat_file_sum(&r->f, r->kind);
    r->threads = lat_file_threads(&r->f, r->thr, 64);
}

static void read_done(struct read *r)
{
    lat_file_close(&r->f);
    free(r->kind);
}

/* main thread: 10 pool, 3 dry, 5 uncovered, 7 free_other, 2 realloc; then 4
 * threads one after the other, 1000 free_pool calls each */
static void exact_work(void)
{
    calls(LAT_POOL, 10);
    calls(LAT_DRY, 3);
    calls(LAT_UNCOVERED, 5);
    calls(LAT_FREE_OTHER, 7);
    calls(LAT_REALLOC, 2);
    for (int i = 0; i < 4; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, thread_calls, (void *)(uintptr_t)1000) != 0)
            _exit(4);
        pthread_join(t, NULL);
    }
}

START_TEST(counts_exact_per_kind_and_thread)
{
    pid_t pid = worker(exact_work, case_path("lat.%p"));
    char name[64];
    snprintf(name, sizeof name, "lat.%d", (int)pid);
    struct read r;
    read_file(&r, case_path(name));
    static const uint64_t want[LAT_KINDS] = {10, 3, 5, 4000, 7, 2};
    for (int k = 0; k < LAT_KINDS; k++)
        ck_assert_msg(r.kind[k].calls == want[k], "%s: %lu calls, want %lu", lat_kind[k].name,
                      (unsigned long)r.kind[k].calls, (unsigned long)want[k]);
    ck_assert_uint_eq(r.f.h->pid, (uint64_t)pid);
    ck_assert_uint_eq(r.f.h->complete, 1);
    ck_assert_uint_eq(r.f.h->lost_calls, 0);
    /* the main thread's slot, and one slot the four threads took in turn */
    ck_assert_uint_eq(r.f.nslots, 2);
    ck_assert_uint_eq(r.threads, 5);
    unsigned thousands = 0, main_calls = 0;
    for (unsigned i = 0; i < r.threads; i++) {
        thousands += r.thr[i].calls == 1000;
        if (r.thr[i].tid == (uint64_t)pid)
            main_calls = (unsigned)r.thr[i].calls;
    }
    ck_assert_uint_eq(thousands, 4);
    ck_assert_uint_eq(main_calls, 27);
    ck_assert(r.f.h->ns_per_tick > 0.05 && r.f.h->ns_per_tick < 20);
    ck_assert(r.f.h->floor_min > 0 && r.f.h->floor_min <= r.f.h->floor_p50);
    read_done(&r);
}
END_TEST

/* 100 calls in the parent, then a child that makes 20 and exits, then 5
 * more in the parent */
static void fork_work(void)
{
    calls(LAT_POOL, 100);
    pid_t c = fork();
    if (c == 0) {
        calls(LAT_UNCOVERED, 20);
        exit(0);
    }
    waitpid(c, NULL, 0);
    calls(LAT_POOL, 5);
    char line[32];
    int n = snprintf(line, sizeof line, "%d\n", (int)c);
    int fd = open(case_path("child"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, line, (size_t)n) != n)
        _exit(5);
    close(fd);
}

START_TEST(fork_child_starts_empty)
{
    pid_t pid = worker(fork_work, case_path("lat.%p"));
    char name[64], text[32] = "";
    int fd = open(case_path("child"), O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_gt(read(fd, text, sizeof text - 1), 0);
    close(fd);
    struct read r;
    snprintf(name, sizeof name, "lat.%d", (int)pid);
    read_file(&r, case_path(name));
    ck_assert_uint_eq(r.kind[LAT_POOL].calls, 105);
    ck_assert_uint_eq(r.kind[LAT_UNCOVERED].calls, 0);
    read_done(&r);
    snprintf(name, sizeof name, "lat.%d", atoi(text));
    read_file(&r, case_path(name));
    ck_assert_uint_eq(r.kind[LAT_POOL].calls, 0);
    ck_assert_uint_eq(r.kind[LAT_UNCOVERED].calls, 20);
    ck_assert_uint_eq(r.f.h->ppid, (uint64_t)pid);
    ck_assert_uint_eq(r.f.h->complete, 1);
    read_done(&r);
}
END_TEST

/* _exit (no exit handlers) while a second thread is still counting */
static int spun;

static void *spin_calls(void *arg)
{
    (void)arg;
    calls(LAT_REALLOC, 50);
    __atomic_store_n(&spun, 1, __ATOMIC_RELEASE);
    for (;;)
        pause();
    return NULL;
}

static void exit_work(void)
{
    calls(LAT_POOL, 42);
    pthread_t t;
    if (pthread_create(&t, NULL, spin_calls, NULL) != 0)
        _exit(4);
    while (!__atomic_load_n(&spun, __ATOMIC_ACQUIRE))
        usleep(1000);
    _exit(0);
}

START_TEST(underscore_exit_keeps_everything)
{
    pid_t pid = worker(exit_work, case_path("lat"));
    struct read r;
    read_file(&r, case_path("lat"));
    ck_assert_uint_eq(r.kind[LAT_POOL].calls, 42);
    ck_assert_uint_eq(r.kind[LAT_REALLOC].calls, 50);
    ck_assert_uint_eq(r.f.h->complete, 0);
    ck_assert_uint_eq(r.f.h->pid, (uint64_t)pid);
    ck_assert_uint_eq(r.threads, 2); /* both still counting: from their slots */
    read_done(&r);
}
END_TEST

/* Faults inside timed calls: 64 calls each writing a fresh page; 64 calls
 * that take no fault but last long enough to be checked for one, each right
 * after the program itself wrote a fresh page; 64 calls writing into pages
 * already there. */
static void fault_work(void)
{
    size_t page = tu_page_size();
    char *mem = mmap(NULL, 192 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED || madvise(mem, 192 * page, MADV_NOHUGEPAGE) != 0)
        _exit(4);
    calls(LAT_POOL, 1); /* takes the slot */
    for (int i = 0; i < 64; i++) {
        uint64_t t0 = lat_begin();
        ((volatile char *)mem)[(size_t)i * page] = 1;
        lat_record(LAT_UNCOVERED, t0, lat_now());
    }
    for (int i = 64; i < 128; i++) {
        ((volatile char *)mem)[(size_t)i * page] = 1;
        uint64_t t0 = lat_begin();
        while (lat_now() - t0 < 2 * lat_window + 1000)
            ; /* long enough to be checked for faults, but takes none */
        lat_record(LAT_FREE_OTHER, t0, lat_now());
    }
    for (int i = 0; i < 64; i++) {
        uint64_t t0 = lat_begin();
        ((volatile char *)mem)[(size_t)i * page + 8] = 2;
        lat_record(LAT_REALLOC, t0, lat_now());
    }
}

START_TEST(faults_inside_calls_exact)
{
    worker(fault_work, case_path("lat"));
    struct read r;
    read_file(&r, case_path("lat"));
    ck_assert_uint_eq(r.kind[LAT_UNCOVERED].calls, 64);
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    /* the sanitizer's shadow of a fresh page faults in the same call, and
     * its runtime may fault now and then on its own: the program's 64 (and
     * their shadows' 64) must still not be charged to the calls after them */
    ck_assert_uint_ge(r.kind[LAT_UNCOVERED].faults, 64);
    ck_assert_uint_lt(r.kind[LAT_FREE_OTHER].faults, 8);
    ck_assert_uint_lt(r.kind[LAT_REALLOC].faults, 8);
    ck_assert_uint_lt(r.kind[LAT_POOL].faults, 8);
#else
    ck_assert_uint_eq(r.kind[LAT_UNCOVERED].faults, 64);
    ck_assert_uint_eq(r.kind[LAT_FREE_OTHER].faults, 0);
    ck_assert_uint_eq(r.kind[LAT_REALLOC].faults, 0);
    ck_assert_uint_eq(r.kind[LAT_POOL].faults, 0);
#endif
    ck_assert(r.f.h->fault_min > 0 && r.f.h->fault_window == r.f.h->fault_min / 2);
    read_done(&r);
}
END_TEST

/* 200000 calls back to back read the fault count rarely: a read happens only
 * after a call or a gap as long as a fault (preemptions). */
static void dense_work(void)
{
    calls(LAT_POOL, 200000);
}

START_TEST(dense_calls_read_faults_rarely)
{
    worker(dense_work, case_path("lat"));
    struct read r;
    read_file(&r, case_path("lat"));
    ck_assert_uint_eq(r.kind[LAT_POOL].calls, 200000);
    uint64_t reads = lat_file_slot(&r.f, 0)->fault_reads;
    ck_assert_msg(reads < 2000, "%lu getrusage calls for 200000 calls", (unsigned long)reads);
    read_done(&r);
}
END_TEST

/* What lat_start must refuse: an existing file that is not one of ours (left
 * as it was), a directory that does not exist. One line on stderr each. */
static const char *refused_path;

static void refuse_work(void)
{
    int fd = open(case_path("err"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || dup2(fd, 2) < 0)
        _exit(4);
    if (lat_start(refused_path) != -1 || lat_active())
        _exit(5);
    calls(LAT_POOL, 3); /* nothing happens, nothing breaks */
}

START_TEST(refuses_foreign_files)
{
    static const char precious[] = "do not touch\n";
    const char *target = case_path("precious");
    ck_assert_int_eq(tu_write_file(target, precious, sizeof precious - 1), 0);
    const char *paths[] = {target, case_path("missing/lat.%p")};
    const char *want[] = {"will not replace", "cannot create"};
    for (int i = 0; i < 2; i++) {
        refused_path = paths[i];
        worker(refuse_work, NULL);
        char buf[1024] = "";
        int fd = open(case_path("err"), O_RDONLY);
        ck_assert_int_ge(fd, 0);
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        ck_assert_int_gt(n, 0);
        ck_assert_msg(strstr(buf, "poolshim: POOLSHIM_LATENCY=") == buf && strstr(buf, want[i]) &&
                          strstr(buf, "calls are not timed\n") && strchr(buf, '\n') == buf + n - 1,
                      "stderr: %s", buf);
    }
    char got[64] = "";
    int fd = open(target, O_RDONLY);
    ck_assert_int_eq(read(fd, got, sizeof got), (ssize_t)sizeof precious - 1);
    close(fd);
    ck_assert_str_eq(got, precious);
}
END_TEST

/* A latency file of an earlier run is replaced. */
START_TEST(replaces_own_files)
{
    worker(dense_work, case_path("lat"));
    worker(exact_work, case_path("lat"));
    struct read r;
    read_file(&r, case_path("lat"));
    ck_assert_uint_eq(r.kind[LAT_POOL].calls, 10);
    read_done(&r);
    char err[512];
    struct lat_file f;
    ck_assert_int_eq(tu_write_file(case_path("junk"), "poolshim-latenc", 15), 0);
    ck_assert_int_eq(lat_file_open(&f, case_path("junk"), err, sizeof err), -1);
    ck_assert_msg(strstr(err, "not a poolshim latency file"), "%s", err);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* the shim: POOLSHIM_LATENCY through the interposed calls                   */

#define MIX_CLASSES "POOLSHIM_CLASSES=64:100,256:10"

/* The sum of every latency file in the case's directory whose process is
 * (want_child: is not) the one that printed child=PID; removes them. */
static void read_runs(struct lat_hist kinds[LAT_KINDS], unsigned *complete, long child,
                      bool want_child)
{
    struct dirent **names;
    int n = scandir(case_dir, &names, NULL, alphasort);
    ck_assert_int_ge(n, 0);
    memset(kinds, 0, LAT_KINDS * sizeof *kinds);
    *complete = 0;
    unsigned files = 0;
    for (int i = 0; i < n; i++) {
        if (strncmp(names[i]->d_name, "lat.", 4) == 0) {
            struct lat_file f;
            char err[512];
            const char *path = case_path(names[i]->d_name);
            ck_assert_msg(lat_file_open(&f, path, err, sizeof err) == 0, "%s", err);
            if (((long)f.h->pid == child) == want_child) {
                lat_file_sum(&f, kinds);
                *complete += f.h->complete;
                files++;
            }
            lat_file_close(&f);
            unlink(path);
        }
        free(names[i]);
    }
    free(names);
    ck_assert_msg(files == 1, "%u latency files, want 1", files);
}

/* Run lat_calls CMD [ARG] under the shim with classes, timing into the
 * case's directory; fails the case unless it exits 0 with no stderr. */
static void timed_run(struct tu_proc *p, const char *classes, const char *cmd, const char *arg)
{
    char lat[4500];
    snprintf(lat, sizeof lat, "POOLSHIM_LATENCY=%s/lat.%%p", case_dir);
    run_shim(p, LIST(classes, lat), arg ? LIST("lat_calls", cmd, arg) : LIST("lat_calls", cmd));
    ck_clean(p);
}

/* timed_run of CMD, then its one latency file read into kinds (read_runs). */
static void timed_calls(struct lat_hist kinds[LAT_KINDS], unsigned *complete, const char *classes,
                        const char *cmd)
{
    struct tu_proc p;
    timed_run(&p, classes, cmd, NULL);
    tu_proc_free(&p);
    read_runs(kinds, complete, 0, false);
}

/* What the helper's CMD made, by kind: its run less the baseline's (what
 * ld.so and libc do around any program). */
static void helper_calls(uint64_t calls[LAT_KINDS], const char *classes, const char *cmd)
{
    struct lat_hist *base = calloc(LAT_KINDS, sizeof *base), *k = calloc(LAT_KINDS, sizeof *k);
    unsigned complete;
    timed_calls(base, &complete, classes, "none");
    timed_calls(k, &complete, classes, cmd);
    ck_assert_uint_eq(complete, 1);
    for (int i = 0; i < LAT_KINDS; i++)
        calls[i] = k[i].calls - base[i].calls;
    free(base);
    free(k);
}

static void assert_calls(const uint64_t got[LAT_KINDS], const uint64_t want[LAT_KINDS])
{
    for (int i = 0; i < LAT_KINDS; i++)
        ck_assert_msg(got[i] == want[i], "%s: %lu calls, want %lu", lat_kind[i].name,
                      (unsigned long)got[i], (unsigned long)want[i]);
}

/* The mix, counted exactly by kind: on the pools, and with them off. */
START_TEST(shim_counts_exact)
{
    static const uint64_t pools[LAT_KINDS] = {22, 2, 5, 3, 5, 2};
    static const uint64_t none[LAT_KINDS] = {0, 0, 29, 0, 8, 2};
    uint64_t got[LAT_KINDS];
    helper_calls(got, _i == 0 ? MIX_CLASSES : "POOLSHIM_CLASSES=none", "mix");
    assert_calls(got, _i == 0 ? pools : none);
}
END_TEST

/* A class of one object: the other 99 requests of its size fall back, and
 * show in the fallback histogram. */
START_TEST(shim_fallbacks_counted)
{
    static const uint64_t want[LAT_KINDS] = {1, 99, 0, 0, 0, 0};
    uint64_t got[LAT_KINDS];
    helper_calls(got, "POOLSHIM_CLASSES=64:1", "dry");
    assert_calls(got, want);
}
END_TEST

/* Four threads at once: each one's record, and the total. */
START_TEST(shim_threads_each_recorded)
{
    struct tu_proc p;
    timed_run(&p, "POOLSHIM_CLASSES=64:4096", "threads", "4");
    tu_proc_free(&p);
    struct dirent **names;
    int n = scandir(case_dir, &names, NULL, alphasort);
    ck_assert_int_eq(n, 3); /* ".", "..", one file */
    struct read r;
    read_file(&r, case_path(names[2]->d_name));
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    unsigned workers = 0;
    for (unsigned i = 0; i < r.threads; i++)
        workers += r.thr[i].calls == 2000 && r.thr[i].tid != r.f.h->pid;
    ck_assert_uint_eq(workers, 4);
    ck_assert_uint_ge(r.kind[LAT_POOL].calls, 4000);
    ck_assert_uint_ge(r.kind[LAT_FREE_POOL].calls, 4000);
    read_done(&r);
}
END_TEST

/* fork: the child's calls in its own file, the parent's file as if it had
 * not forked; _exit: the calls are there, the file says incomplete. */
START_TEST(shim_fork_and_underscore_exit)
{
    struct tu_proc p;
    struct lat_hist *k = calloc(LAT_KINDS, sizeof *k);
    unsigned complete;
    timed_run(&p, MIX_CLASSES, "fork", NULL);
    long child = (long)tu_kv_num(p.out, "child", -1);
    ck_assert_int_gt(child, 0);
    tu_proc_free(&p);
    read_runs(k, &complete, child, true);
    ck_assert_uint_eq(k[LAT_POOL].calls, 7);
    ck_assert_uint_eq(k[LAT_FREE_POOL].calls, 7);
    ck_assert_uint_eq(complete, 1);
    timed_run(&p, MIX_CLASSES, "fork", NULL); /* again, for the parent's file */
    child = (long)tu_kv_num(p.out, "child", -1);
    tu_proc_free(&p);
    read_runs(k, &complete, child, false);
    ck_assert_uint_eq(k[LAT_POOL].calls, 22);
    ck_assert_uint_eq(k[LAT_DRY].calls, 2);

    timed_calls(k, &complete, MIX_CLASSES, "mix-exit");
    ck_assert_uint_eq(complete, 0);
    ck_assert_uint_eq(k[LAT_POOL].calls, 22);
    ck_assert_uint_eq(k[LAT_REALLOC].calls, 2);
    free(k);
}
END_TEST

/* Faults: the real allocator's heap growth is counted in its calls; the
 * program's own faults between pooled calls are charged to none of them. */
START_TEST(shim_faults_where_they_happen)
{
    struct lat_hist *k = calloc(LAT_KINDS, sizeof *k);
    unsigned complete;
    timed_calls(k, &complete, "POOLSHIM_CLASSES=none", "grow");
    ck_assert_msg(k[LAT_UNCOVERED].faults >= 150, "%lu faults in 200 calls growing the heap",
                  (unsigned long)k[LAT_UNCOVERED].faults);
    timed_calls(k, &complete, "POOLSHIM_CLASSES=64:4096", "touch");
    ck_assert_uint_eq(k[LAT_POOL].calls, 2000);
    ck_assert_uint_eq(k[LAT_POOL].faults, 0);
    ck_assert_uint_eq(k[LAT_FREE_POOL].faults, 0);
    free(k);
}
END_TEST

/* A file that cannot be made: one line, and the program runs as ever. */
START_TEST(shim_bad_file_one_line)
{
    struct tu_proc p;
    run_shim(&p, LIST(MIX_CLASSES, "POOLSHIM_LATENCY=/nonexistent/dir/lat.%p"),
             LIST("lat_calls", "mix"));
    ck_exit(&p, 0);
    ck_kv(&p, "mix", "done");
    static const char head[] = "poolshim: POOLSHIM_LATENCY=\"/nonexistent/dir/lat.%p\": "
                               "cannot create \"/nonexistent/dir/lat.";
    ck_assert_msg(strncmp(p.err, head, sizeof head - 1) == 0 &&
                      strstr(p.err, "(ENOENT); calls are not timed\n") != NULL &&
                      tu_count_lines(p.err) == 1,
                  "stderr: %s", p.err);
    tu_proc_free(&p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* the command: poolshim latency (scripts/poolshim, tools/poolshim-latency)   */

/* Run `poolshim latency ARGS...` with the build's library; stdin from
 * in_path (NULL: /dev/null). */
static void latency_cmd(struct tu_proc *p, const char *in_path, const char *const *args)
{
    const char *argv[24] = {wrapper(), "latency", "--lib", tu_shim_lib()};
    int n = 4;
    for (; *args && n < 23; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    struct tu_opts o = {.stdin_path = in_path, .timeout_s = 120};
    run_with(p, false, NOVARS, argv, &o);
}

#define ck_has(text, needle)                                                 \
    ck_assert_msg(strstr(text, needle) != NULL, "no \"%s\" in:\n%s", needle, text)

/* --json: the members the issue names, and the mix counted exactly over two
 * runs each way (less the baseline's one free, which each run has too). */
START_TEST(cmd_json_exact)
{
    struct tu_proc p;
    latency_cmd(&p, NULL, LIST("--runs", "2", "--classes", "64:100,256:10", "--json", "--",
                               tu_helper("lat_calls"), "mix"));
    ck_exit(&p, 0);
    ck_has(p.out, "\"output_identical\":true");
    ck_has(p.out, "\"system\":{\"calls\":");
    ck_has(p.out, "\"pools\":{\"calls\":");
    static const char *const members[] = {"\"p50_ns\":", "\"p99_ns\":", "\"p99_9_ns\":",
                                          "\"p99_99_ns\":", "\"max_ns\":", "\"faults\":"};
    const char *pools = strstr(p.out, "\"pools\":");
    for (int i = 0; i < N(members); i++)
        ck_has(pools, members[i]);
    ck_has(pools, "\"pool\":{\"calls\":44,");
    ck_has(pools, "\"dry\":{\"calls\":4,");
    ck_has(pools, "\"uncovered\":{\"calls\":10,");
    ck_has(pools, "\"free_pool\":{\"calls\":6,");
    ck_has(pools, "\"realloc\":{\"calls\":4,");
    const char *sys = strstr(p.out, "\"system\":");
    ck_has(sys, "\"pool\":{\"calls\":0,");
    ck_has(sys, "\"uncovered\":{\"calls\":58,");
    ck_has(sys, "\"processes\":2,");
    tu_proc_free(&p);
}
END_TEST

/* The table; standard input read once and given to every run. */
START_TEST(cmd_table_and_stdin)
{
    const char *in = case_path("in");
    ck_assert_int_eq(tu_write_file(in, "one\ntwo\nthree\n", 14), 0);
    struct tu_proc p;
    latency_cmd(&p, in, LIST("--runs", "2", "--", "/bin/sh", "-c", "wc -l"));
    ck_exit(&p, 0);
    static const char *const rows[] = {"calls", "p50 (ns)", "p99 (ns)", "p99.9 (ns)",
                                       "p99.99 (ns)", "max (ns)", "calls over 1 us",
                                       "calls over 10 us", "page faults in calls",
                                       "allocations by pools (%)", "wall time (s, median)"};
    for (int i = 0; i < N(rows); i++)
        ck_has(p.out, rows[i]);
    ck_has(p.out, "program output: the same in all 4 runs (2 bytes on standard output, "
                  "exit status 0)");
    tu_proc_free(&p);
}
END_TEST

/* Output that differs between runs is said, and the exit status is 1. */
START_TEST(cmd_output_differs)
{
    struct tu_proc p;
    latency_cmd(&p, NULL, LIST("--runs", "1", "--", "/bin/sh", "-c", "echo $$"));
    ck_exit(&p, 1);
    ck_has(p.out, "program output: DIFFERS: pools run 1 wrote another standard output than "
                  "system run 1");
    tu_proc_free(&p);
}
END_TEST

/* What cannot be measured says so in one line, exit 3 (2 for a usage error). */
static const struct {
    const char *args[8];
    int status;
    const char *err;
} refused[] = {
    {{"--", "/sbin/ldconfig"}, 3, "is statically linked: nothing can be preloaded into it; "
                                  "nothing could be measured\n"},
    {{"--", "/usr/bin/su"}, 3, "is setuid or setgid: the dynamic loader ignores LD_PRELOAD "
                               "for it; nothing could be measured\n"},
    {{"--classes", "64:abc", "--", "/bin/true"}, 2, "poolshim: latency: /bin/true not started: "
                                                    "the configuration above is invalid"},
    {{"--classes", "64:1", "--config", "x", "--", "/bin/true"}, 2,
     "poolshim: latency: give one of --classes and --config\n"},
    {{"--runs", "0", "--", "/bin/true"}, 2,
     "poolshim: latency: --runs \"0\": expected a number of runs from 1 to 100\n"},
    {{"--png", "a'b.png", "--", "/bin/true"}, 2, "poolshim: latency: --png \"a'b.png\": "},
};

START_TEST(cmd_refuses)
{
    const char *prog = refused[_i].args[1] ? refused[_i].args[1] : "";
    if (_i < 2 && access(prog, X_OK) != 0)
        ck_skip("cmd_refuses", "%s is not here", prog);
    struct tu_proc p;
    latency_cmd(&p, NULL, refused[_i].args);
    ck_exit(&p, refused[_i].status);
    ck_has(p.err, refused[_i].err);
    ck_assert_str_eq(p.out, "");
    tu_proc_free(&p);
}
END_TEST

/* --config: the pools' settings from a file; its errors name the line. */
START_TEST(cmd_config_file)
{
    const char *conf = case_path("c.conf");
    static const char good[] = "# from a profile\nPOOLSHIM_CLASSES=64:1\n";
    ck_assert_int_eq(tu_write_file(conf, good, sizeof good - 1), 0);
    struct tu_proc p;
    latency_cmd(&p, NULL, LIST("--runs", "1", "--json", "--config", conf, "--",
                               tu_helper("lat_calls"), "dry"));
    ck_exit(&p, 0);
    ck_has(strstr(p.out, "\"pools\":"), "\"dry\":{\"calls\":99,");
    tu_proc_free(&p);
    static const char bad[] = "POOLSHIM_CLASSES=64:1\nFOO=1\n";
    ck_assert_int_eq(tu_write_file(conf, bad, sizeof bad - 1), 0);
    latency_cmd(&p, NULL, LIST("--config", conf, "--", "/bin/true"));
    ck_exit(&p, 2);
    ck_has(p.err, "poolshim: latency: ");
    ck_has(p.err, "c.conf:2: FOO is not a POOLSHIM_* variable");
    tu_proc_free(&p);
}
END_TEST

/* --png: a PNG from gnuplot (when it is installed). */
START_TEST(cmd_png)
{
    const char *gnuplot = tu_first_executable(LIST("/usr/bin/gnuplot", "/usr/local/bin/gnuplot"));
    if (gnuplot == NULL)
        ck_skip("cmd_png", "gnuplot is not installed");
    const char *png = case_path("tail.png");
    struct tu_proc p;
    const char *const vars[] = {"PATH=/usr/bin:/bin:/usr/local/bin", NULL};
    const char *argv[] = {wrapper(), "latency", "--lib", tu_shim_lib(), "--runs", "1", "--png",
                          png, "--", tu_helper("lat_calls"), "mix", NULL};
    struct tu_opts o = {.timeout_s = 120};
    run_with(&p, false, vars, argv, &o);
    ck_exit(&p, 0);
    char magic[8] = "";
    int fd = open(png, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(read(fd, magic, 8), 8);
    close(fd);
    ck_assert_mem_eq(magic, "\x89PNG\r\n\x1a\n", 8);
    tu_proc_free(&p);
}
END_TEST

/* report: the figures of files written by hand. */
START_TEST(cmd_report_files)
{
    struct tu_proc p;
    timed_run(&p, MIX_CLASSES, "mix", NULL);
    tu_proc_free(&p);
    char tool[4200];
    snprintf(tool, sizeof tool, "%s/../tools/poolshim-latency", tu_helpers_dir());
    run_plain(&p, NOVARS,
              LIST("/bin/sh", "-c", "\"$0\" report --json \"$1\"/lat.*", tool, case_dir));
    ck_exit(&p, 0);
    ck_has(p.out, "\"dry\":{\"calls\":2,");
    ck_has(p.out, "\"processes\":1,");
    tu_proc_free(&p);
    run_plain(&p, NOVARS, LIST(tool, "report", case_path("nothing")));
    ck_exit(&p, 3);
    ck_has(p.err, "cannot open (ENOENT)");
    tu_proc_free(&p);
}
END_TEST

static void latency_cases(Suite *s)
{
    TCase *tc = add_tcase(s, "histogram", 30, TC_PLAIN, buckets_tile_the_range);
    tcase_add_loop_test(tc, percentiles_within_stated_error, 0, 2);
    add_tests(tc, merge_and_counters);

    add_tcase(s, "module", 30, TC_CASE_DIR, counts_exact_per_kind_and_thread,
              fork_child_starts_empty, underscore_exit_keeps_everything,
              faults_inside_calls_exact, dense_calls_read_faults_rarely, refuses_foreign_files,
              replaces_own_files);

    /* a sanitizer build has the suites only: no library, no helpers */
    if (access(tu_shim_lib(), R_OK) != 0) {
        fprintf(stderr, "SKIP: test_latency shim, command: %s not built\n", tu_shim_lib());
        return;
    }
    tc = add_tcase(s, "shim", 60, TC_CASE_DIR);
    tcase_add_loop_test(tc, shim_counts_exact, 0, 2);
    add_tests(tc, shim_fallbacks_counted, shim_threads_each_recorded, shim_fork_and_underscore_exit,
              shim_faults_where_they_happen, shim_bad_file_one_line);

    tc = add_tcase(s, "command", 120, TC_CASE_DIR, cmd_json_exact, cmd_table_and_stdin,
                   cmd_output_differs);
    tcase_add_loop_test(tc, cmd_refuses, 0, N(refused));
    add_tests(tc, cmd_config_file, cmd_png, cmd_report_files);
}

TU_SUITE("latency", latency_cases, TU_SHIM);
