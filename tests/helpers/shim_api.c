/* shim_api - exercises the malloc family's semantics under the shim.
 *
 *   shim_api COMMAND [ARGS]
 *
 * Each command prints "key=value" lines on stdout (without stdio: see
 * hout.h, so the shim's stats count only what the command itself asks for)
 * and exits 0, or 1 after "FAIL: ..." lines when a self-check failed. Sizes
 * and counts come from the caller, who sets POOLSHIM_CLASSES to match; the
 * test suite (tests/test_shim.c) documents the configuration of each call.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "hout.h"

/* glibc's own entry points: libc exports them, the shim shadows them. */
extern void *__libc_malloc(size_t n);
extern void __libc_free(void *p);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void *__libc_valloc(size_t n);
extern void *__libc_pvalloc(size_t n);

/* C23 and legacy frees that glibc 2.36 does not declare (or link): found at
 * run time, so the helper also runs without the shim. */
static void (*p_cfree)(void *);
static void (*p_free_sized)(void *, size_t);
static void (*p_free_aligned_sized)(void *, size_t, size_t);

static void find_frees(void)
{
    *(void **)&p_cfree = dlsym(RTLD_DEFAULT, "cfree");
    *(void **)&p_free_sized = dlsym(RTLD_DEFAULT, "free_sized");
    *(void **)&p_free_aligned_sized = dlsym(RTLD_DEFAULT, "free_aligned_sized");
}

/* Sizes the compiler cannot see through (no -Walloc-size warnings, no
 * folding of overflowing calls). */
static volatile size_t vsize_max = SIZE_MAX;

#define MAXOBJ 65536
static void *obj[MAXOBJ];

static size_t usable(void *p)
{
    return p ? malloc_usable_size(p) : 0;
}

static void fill(void *p, size_t n, unsigned seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(seed + i * 7 + (i >> 8));
}

static bool same(const void *p, size_t n, unsigned seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(seed + i * 7 + (i >> 8)))
            return false;
    return true;
}

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/* "ENOMEM" for NULL with errno ENOMEM, "nonnull" for a pointer, else the
 * errno's number. */
static const char *outcome(void *p, int err, char *buf, size_t len)
{
    if (p != NULL)
        return "nonnull";
    if (err == ENOMEM)
        return "ENOMEM";
    snprintf(buf, len, "null-errno-%d", err);
    return buf;
}

static size_t count_arg(const char *s)
{
    unsigned long n = harg(s);
    if (n > MAXOBJ) {
        hout_fd(2, "count %lu exceeds %d", n, MAXOBJ);
        exit(2);
    }
    return n;
}

/* obj[0..count) taken with alloc(size); how many came from the class of
 * size (their usable size is size). */
static size_t take_all(void *(*alloc)(size_t), size_t size, size_t count)
{
    size_t pooled = 0;
    for (size_t i = 0; i < count; i++) {
        obj[i] = alloc(size);
        pooled += usable(obj[i]) == size;
    }
    return pooled;
}

/* usable N...: one line "usable N=U" per size, all blocks live at once. */
static void cmd_usable(int argc, char **argv)
{
    void *p[64];
    int n = argc < 64 ? argc : 64;
    for (int i = 0; i < n; i++) {
        size_t sz = harg(argv[i]);
        p[i] = malloc(sz);
        expect(p[i] != NULL);
        memset(p[i], 0x5a, sz);
        say("usable %zu=%zu", sz, usable(p[i]));
    }
    for (int i = 0; i < n; i++)
        free(p[i]);
}

/* exhaust SIZE COUNT USIZE UN: COUNT+1 mallocs of SIZE, UN of USIZE (no
 * class covers it), then one free and one malloc of SIZE; frees all. */
static void cmd_exhaust(char **argv)
{
    size_t size = harg(argv[0]), count = count_arg(argv[1]);
    size_t usize = harg(argv[2]), un = harg(argv[3]);
    char eb[32];

    say("pid=%d", (int)getpid());
    say("pooled=%zu", take_all(malloc, size, count));
    errno = 0;
    void *extra = malloc(size);
    int err = errno;
    say("extra=%s", outcome(extra, err, eb, sizeof eb));
    say("extra_usable=%zu", usable(extra));

    size_t uncovered_ok = 0;
    for (size_t i = 0; i < un; i++) {
        void *u = malloc(usize);
        if (u != NULL && usable(u) >= usize)
            uncovered_ok++;
        escape(u);
        free(u);
    }
    say("uncovered_ok=%zu", uncovered_ok);

    free(obj[0]);
    obj[0] = malloc(size);
    say("again_usable=%zu", usable(obj[0]));

    for (size_t i = 0; i < count; i++)
        free(obj[i]);
    free(extra);
}

/* calloc SIZE COUNT: dirty COUNT blocks, free them, calloc them back. */
static void cmd_calloc(char **argv)
{
    size_t size = harg(argv[0]), count = count_arg(argv[1]);
    size_t pooled = 0, zeroed = 0;

    for (size_t i = 0; i < count; i++) {
        obj[i] = malloc(size);
        expect(obj[i] != NULL);
        memset(obj[i], 0xa5, usable(obj[i]));
    }
    for (size_t i = 0; i < count; i++)
        free(obj[i]);
    for (size_t i = 0; i < count; i++) {
        /* alternate the split of n * size over the two arguments */
        obj[i] = (i & 1) ? calloc(size, 1) : calloc(1, size);
        if (obj[i] == NULL) {
            fail("calloc returned NULL");
            continue;
        }
        if (usable(obj[i]) == size)
            pooled++;
        if (all_zero(obj[i], size))
            zeroed++;
    }
    say("calloc_pooled=%zu", pooled);
    say("calloc_zeroed=%zu", zeroed);
    for (size_t i = 0; i < count; i++)
        free(obj[i]);
}

/* overflow: every size computation that wraps fails with ENOMEM; nothing
 * is allocated. Expects a class of 64 bytes (so a wrapped product of 64
 * would be served). */
static void cmd_overflow(void)
{
    char eb[32];
    size_t max = vsize_max;
    size_t wrap64 = max / 64 + 2;     /* wrap64 * 64 == 64 (mod 2^64) */
    void *p;

#define TRY(key, call)                                                       \
    do {                                                                     \
        errno = 0;                                                           \
        p = (call);                                                          \
        int e_ = errno;                                                      \
        say("%s=%s", key, outcome(p, e_, eb, sizeof eb));                    \
        free(p);                                                             \
    } while (0)

    TRY("calloc_half", calloc(max / 2 + 2, 2));
    TRY("calloc_max", calloc(max, max));
    size_t big = (size_t)1 << (vsize_max & 32);
    TRY("calloc_2_32", calloc(big, big));
    TRY("calloc_wrap64", calloc(wrap64, 64));
    TRY("calloc_wrap64_rev", calloc(64, wrap64));
    TRY("reallocarray_null_wrap64", reallocarray(NULL, wrap64, 64));
    TRY("malloc_max", malloc(max));
    TRY("malloc_max_minus_8", malloc(max - 8));

    /* reallocarray of a live block: NULL, ENOMEM, block untouched */
    void *q = malloc(64);
    fill(q, 64, 3);
    errno = 0;
    void *keep = launder(q);
    p = reallocarray(q, wrap64, 64);
    int e = errno;
    q = keep;
    say("reallocarray_live_wrap64=%s", outcome(p, e, eb, sizeof eb));
    say("reallocarray_live_intact=%d", same(q, 64, 3));
    p = reallocarray(q, 4, 16);
    say("reallocarray_4x16_same=%d", p == q);
    say("reallocarray_4x16_usable=%zu", usable(p));
    free(p ? p : q);

    /* realloc of a live block to an impossible size */
    q = malloc(64);
    fill(q, 64, 4);
    errno = 0;
    keep = launder(q);
    p = realloc(q, max - 8);
    e = errno;
    q = keep;
    say("realloc_huge=%s", outcome(p, e, eb, sizeof eb));
    say("realloc_huge_intact=%d", same(q, 64, 4));
    free(p ? p : q);

    void *m = (void *)1;
    int rc = posix_memalign(&m, 64, max - 64);
    say("posix_memalign_huge=%d", rc);
    say("posix_memalign_huge_untouched=%d", m == (void *)1);
    TRY("aligned_alloc_huge", aligned_alloc(64, max - 63));
#undef TRY
}

/* realloc: expects classes 64, 256 and 4096 and none above 4096. */
static void cmd_realloc(void)
{
    char eb[32];
    void *p, *q;

    /* within one class: in place, contents kept */
    p = malloc(40);
    fill(p, usable(p), 1);
    q = realloc(p, 60);
    bool inplace = q == p;
    q = realloc(q, 64);
    inplace = inplace && q == p;
    q = realloc(q, 1);
    inplace = inplace && q == p;
    say("same_class_inplace=%d", inplace);
    say("same_class_usable=%zu", usable(q));
    say("same_class_intact=%d", same(q, usable(q), 1));
    free(q);

    /* grow across classes: all of the old block's usable bytes move */
    p = malloc(50);
    size_t old = usable(p);
    fill(p, old, 2);
    q = realloc(p, 200);
    say("grow_old_usable=%zu", old);
    say("grow_new_usable=%zu", usable(q));
    say("grow_moved=%d", q != p);
    say("grow_intact=%d", q != NULL && same(q, old < 200 ? old : 200, 2));
    free(q);

    /* shrink across classes: the first new-size bytes survive */
    p = malloc(256);
    fill(p, 256, 3);
    q = realloc(p, 64);
    say("shrink_new_usable=%zu", usable(q));
    say("shrink_intact=%d", q != NULL && same(q, 64, 3));
    free(q);

    /* pool -> system */
    p = malloc(4096);
    old = usable(p);
    fill(p, old, 4);
    q = realloc(p, 10000);
    say("tosys_old_usable=%zu", old);
    say("tosys_new_big_enough=%d", usable(q) >= 10000);
    say("tosys_intact=%d", q != NULL && same(q, old, 4));
    if (q)
        memset(q, 0, 10000);
    free(q);

    /* system -> pool size */
    p = malloc(10000);
    fill(p, 10000, 5);
    q = realloc(p, 100);
    say("fromsys_big_enough=%d", usable(q) >= 100);
    say("fromsys_intact=%d", q != NULL && same(q, 100, 5));
    free(q);

    /* pool class 4096 -> 4096 again: stays */
    p = malloc(3000);
    q = realloc(p, 4096);
    say("class4k_inplace=%d", q == p);
    free(q);

    p = realloc(NULL, 64);
    say("realloc_null_usable=%zu", usable(p));
    free(p);

    /* realloc(p, 0) frees and returns NULL (glibc) */
    p = malloc(64);
    errno = 0;
    q = realloc(p, 0);
    int e = errno;
    say("realloc_zero=%s", outcome(q, e, eb, sizeof eb));
    free(q);
}

/* realloc0 SIZE COUNT (strict, one class of COUNT): realloc(p, 0) gives the
 * object back to its class. */
static void cmd_realloc0(char **argv)
{
    size_t size = harg(argv[0]), count = count_arg(argv[1]);
    char eb[32];
    say("pooled=%zu", take_all(malloc, size, count));
    void *r = realloc(obj[0], 0);
    say("realloc0_null=%d", r == NULL);
    errno = 0;
    obj[0] = malloc(size);
    int e = errno;
    say("after=%s", outcome(obj[0], e, eb, sizeof eb));
    say("after_usable=%zu", usable(obj[0]));
    for (size_t i = 0; i < count; i++)
        free(obj[i]);
}

/* zero: malloc(0) and calloc(0, ...) give unique, freeable pointers. */
static void cmd_zero(void)
{
    void *a = malloc(0), *b = malloc(0);
    say("malloc0_nonnull=%d", a != NULL && b != NULL);
    say("malloc0_distinct=%d", a != b);
    void *c = calloc(0, 0), *d = calloc(0, 64);
    say("calloc0_nonnull=%d", c != NULL && d != NULL);
    say("calloc0_distinct=%d", c != d && c != a && c != b && d != a && d != b);
    free(a);
    free(b);
    free(c);
    free(d);
    free(NULL);
}

static bool aligned(const void *p, size_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

/* align: every alignment 8 .. 65536 through posix_memalign, aligned_alloc
 * and memalign, for pooled and unpooled sizes; valloc and pvalloc; and the
 * bad alignments posix_memalign must refuse. */
static void cmd_align(void)
{
    static const size_t sizes[] = {1, 48, 64, 100, 256, 4000, 4096, 5000, 70000};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    size_t checks = 0, failures = 0;
    long page = sysconf(_SC_PAGESIZE);

    for (size_t a = 8; a <= 65536; a *= 2) {
        void *live[3 * NS];
        size_t nl = 0;
        for (int i = 0; i < NS; i++) {
            size_t n = sizes[i];
            void *p = (void *)1;
            int rc = posix_memalign(&p, a, n);
            void *q = aligned_alloc(a, (n + a - 1) / a * a);
            void *r = memalign(a, n);
            void *got[3] = {rc == 0 ? p : NULL, q, r};
            size_t want[3] = {n, (n + a - 1) / a * a, n};
            for (int k = 0; k < 3; k++) {
                checks++;
                if (got[k] == NULL || !aligned(got[k], a) ||
                    usable(got[k]) < want[k]) {
                    failures++;
                    fail("align %zu size %zu call %d: %p usable %zu", a, n, k,
                         got[k], usable(got[k]));
                    continue;
                }
                memset(got[k], k + 1, want[k]);
                live[nl++] = got[k];
            }
        }
        for (size_t i = 0; i < nl; i++)
            free(live[i]);
    }
    say("align_checks=%zu", checks);
    say("align_failures=%zu", failures);

    bool vok = true, pok = true;
    for (int i = 0; i < NS; i++) {
        size_t n = sizes[i];
        void *v = valloc(n), *pv = pvalloc(n);
        size_t round = (n + (size_t)page - 1) / (size_t)page * (size_t)page;
        vok = vok && v && aligned(v, (size_t)page) && usable(v) >= n;
        pok = pok && pv && aligned(pv, (size_t)page) && usable(pv) >= round;
        if (v)
            memset(v, 1, n);
        if (pv)
            memset(pv, 2, round);
        free(v);
        free(pv);
    }
    void *pv0 = pvalloc(0);        /* glibc: an aligned minimum-size block */
    pok = pok && pv0 && aligned(pv0, (size_t)page);
    free(pv0);
    say("valloc_ok=%d", vok);
    say("pvalloc_ok=%d", pok);

    /* not a power of two multiple of sizeof(void *) */
    static const size_t bad[] = {0, 1, 2, 3, 4, 12, 24, 48, 96, 100, 65535,
                                 65537, SIZE_MAX};
    size_t bad_ok = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *m = (void *)0x1234;
        int rc = posix_memalign(&m, bad[i], 64);
        if (rc == EINVAL && m == (void *)0x1234)
            bad_ok++;
        else
            fail("posix_memalign(align %zu): rc %d, memptr %p", bad[i], rc, m);
    }
    say("posix_memalign_bad=%zu/%zu", bad_ok, sizeof bad / sizeof bad[0]);
}

/* aligned_pooled: aligned requests that a 64-byte class's objects satisfy
 * (expects class 64, stride 64). */
static void cmd_aligned_pooled(void)
{
    void *p = NULL;
    int rc = posix_memalign(&p, 64, 64);
    say("posix_memalign_64_64=%d:%zu", rc, usable(p));
    void *q = aligned_alloc(16, 64);
    say("aligned_alloc_16_64=%zu", usable(q));
    void *r = memalign(32, 48);
    say("memalign_32_48=%zu", usable(r));
    say("aligned=%d", aligned(p, 64) && aligned(q, 16) && aligned(r, 32));
    free(p);
    free(q);
    free(r);
}

/* aligned_strict ALIGN SIZE N: N live posix_memalign(ALIGN, SIZE) blocks;
 * prints ok= (how many succeeded) and rc= (the first failure's code, or 0). */
static void cmd_aligned_strict(char **argv)
{
    size_t align = harg(argv[0]), size = harg(argv[1]), n = count_arg(argv[2]);
    size_t ok = 0;
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        obj[i] = NULL;
        int rc = posix_memalign(&obj[i], align, size);
        if (rc == 0 && aligned(obj[i], align))
            ok++;
        else if (first == 0)
            first = rc ? rc : -1;
    }
    say("ok=%zu", ok);
    say("rc=%d", first);
    for (size_t i = 0; i < n; i++)
        free(obj[i]);
}

/* frees SIZE COUNT (strict, one class of COUNT, SIZE a multiple of 16):
 * every way of freeing gives the object back to its class, and keeps errno. */
/* The class's COUNT objects taken again with alloc, each pooled (its usable
 * size is the class's), then one more, which strict mode refuses:
 * "reacquired=N" and "extra=OUTCOME". Frees them all. */
static void reacquire(void *(*alloc)(size_t), size_t size, size_t count)
{
    char eb[32];
    say("reacquired=%zu", take_all(alloc, size, count));
    errno = 0;
    void *extra = alloc(size);
    int e = errno;
    say("extra=%s", outcome(extra, e, eb, sizeof eb));
    free(extra);
    for (size_t i = 0; i < count; i++)
        free(obj[i]);
}

static void cmd_frees(char **argv)
{
    size_t size = harg(argv[0]), count = count_arg(argv[1]);
    find_frees();
    if (!p_cfree || !p_free_sized || !p_free_aligned_sized)
        fail("not exported: cfree %p free_sized %p free_aligned_sized %p",
             *(void **)&p_cfree, *(void **)&p_free_sized,
             *(void **)&p_free_aligned_sized);

    size_t pooled = 0;
    for (size_t i = 0; i < count; i++) {
        obj[i] = i % 5 == 3 ? aligned_alloc(16, size) : malloc(size);
        pooled += usable(obj[i]) == size;
    }
    say("pooled=%zu", pooled);

    bool errno_kept = true;
    for (size_t i = 0; i < count; i++) {
        errno = 4242;
        switch (i % 5) {
        case 0: free(obj[i]); break;
        case 1: if (p_cfree) p_cfree(obj[i]); break;
        case 2: if (p_free_sized) p_free_sized(obj[i], size); break;
        case 3: if (p_free_aligned_sized) p_free_aligned_sized(obj[i], 16, size); break;
        default: __libc_free(obj[i]); break;
        }
        errno_kept = errno_kept && errno == 4242;
    }
    errno = 4242;
    free(NULL);
    if (p_cfree)
        p_cfree(NULL);
    if (p_free_sized)
        p_free_sized(NULL, 0);
    if (p_free_aligned_sized)
        p_free_aligned_sized(NULL, 16, 0);
    __libc_free(NULL);
    errno_kept = errno_kept && errno == 4242;
    say("errno_kept=%d", errno_kept);
    reacquire(malloc, size, count);
}

/* aliases SIZE COUNT (strict, one class of COUNT): glibc's __libc_* entry
 * points agree with the public ones. */
static void cmd_aliases(char **argv)
{
    size_t size = harg(argv[0]), count = count_arg(argv[1]);
    long page = sysconf(_SC_PAGESIZE);

    void *a = __libc_malloc(size);
    say("libc_malloc_usable=%zu", usable(a));
    memset(a, 0xee, size);
    __libc_free(a);
    void *b = __libc_calloc(1, size);
    say("libc_calloc_usable=%zu", usable(b));
    say("libc_calloc_zero=%d", b && all_zero(b, size));
    fill(b, size, 9);
    void *c = __libc_realloc(b, size / 2);
    say("libc_realloc_inplace=%d", c == b);
    say("libc_realloc_intact=%d", c && same(c, size / 2, 9));
    free(c);                                /* __libc_* -> public */
    void *d = __libc_memalign(16, size);
    say("libc_memalign_usable=%zu", usable(d));
    __libc_free(d);
    void *e = malloc(size);                 /* public -> __libc_* */
    __libc_free(e);
    void *v = __libc_valloc(100), *pv = __libc_pvalloc(100);
    say("libc_valloc_ok=%d", v && aligned(v, (size_t)page));
    say("libc_pvalloc_ok=%d", pv && aligned(pv, (size_t)page) &&
                                  usable(pv) >= (size_t)page);
    __libc_free(v);
    free(pv);
    reacquire(__libc_malloc, size, count);
}

/* env: LD_PRELOAD and every POOLSHIM_* variable, as "NAME=value". */
static void cmd_env(void)
{
    extern char **environ;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "LD_PRELOAD=", 11) == 0 ||
            strncmp(*e, "POOLSHIM_", 9) == 0)
            say("%s", *e);
}

/* quiet [usable]: a deterministic program (same output under any working
 * allocator) that exits 7. With "usable", also prints malloc_usable_size of
 * malloc(64) and malloc(100), which tells the shim's pools from glibc. */
static void cmd_quiet(int argc, char **argv)
{
    unsigned long long rng = 42, digest = 1469598103934665603ULL;
    for (int round = 0; round < 2000; round++) {
        size_t n = 1 + hrand(&rng) % 600;
        unsigned char *p = malloc(n);
        if (!p)
            exit(1);
        for (size_t i = 0; i < n; i++)
            p[i] = (unsigned char)(i * 31 + round);
        size_t m = 1 + hrand(&rng) % 900;
        p = realloc(p, m);
        for (size_t i = 0; i < (n < m ? n : m); i++)
            digest = (digest ^ p[i]) * 1099511628211ULL;
        size_t k = round % 100;
        free(obj[k]);
        obj[k] = p;
    }
    for (int k = 0; k < 100; k++)
        free(obj[k]);
    say("digest=%016llx", digest);
    if (argc > 0 && strcmp(argv[0], "usable") == 0) {
        void *a = malloc(64), *b = malloc(100);
        say("usable64=%zu", usable(a));
        say("usable100=%zu", usable(b));
        free(a);
        free(b);
    }
    exit(7);
}

/* faults SIZE COUNT: minor page faults taken while getting and writing
 * COUNT blocks of SIZE (the pools are pre-faulted by default). */
static void cmd_faults(char **argv)
{
    size_t size = harg(argv[0]), count = count_arg(argv[1]);
    struct rusage r0, r1;
    memset(obj, 0, sizeof obj);
    void *w = malloc(size);                 /* warm up every code path */
    memset(w, 1, size);
    free(w);
    getrusage(RUSAGE_SELF, &r0);
    getrusage(RUSAGE_SELF, &r0);
    for (size_t i = 0; i < count; i++) {
        obj[i] = malloc(size);
        memset(obj[i], 1, size);
    }
    getrusage(RUSAGE_SELF, &r1);
    size_t pooled = 0;
    for (size_t i = 0; i < count; i++)
        pooled += usable(obj[i]) == size;
    say("pooled=%zu", pooled);
    say("minflt=%ld", r1.ru_minflt - r0.ru_minflt);
    for (size_t i = 0; i < count; i++)
        free(obj[i]);
}

/* misuse MODE SIZE COUNT: prints "addr=0x..." and then misuses the block,
 * which the shim must answer with a message and abort (exit 3 otherwise).
 *   double      free(p); free(p)
 *   double_late free(p); free(q); free(p)
 *   double_many free(p), then COUNT mallocs and frees of other blocks (p's
 *               magazine travels to the depot), then free(p)
 *   double_thread free(p) in another thread, then free(p) here
 *   realloc_freed free(p); realloc(p, SIZE)
 *   interior    free(p + 16)
 *   waf         free(p); p[0] = 'X'; then COUNT mallocs of SIZE
 */
static void *free_in_thread(void *p)
{
    free(p);
    return NULL;
}

static void cmd_misuse(char **argv)
{
    const char *mode = argv[0];
    size_t size = harg(argv[1]), count = count_arg(argv[2]);
    char *p = malloc(size), *q = malloc(size);
    char *again = launder(p);       /* the same block, for the misuse */
    say("usable=%zu", usable(p));
    if (strcmp(mode, "double") == 0) {
        say("addr=%p", (void *)p);
        free(p);
        free(again);
    } else if (strcmp(mode, "double_late") == 0) {
        say("addr=%p", (void *)p);
        free(p);
        free(q);
        free(again);
    } else if (strcmp(mode, "double_many") == 0) {
        say("addr=%p", (void *)p);
        free(p);
        void **held = calloc(count, sizeof *held);
        for (size_t i = 0; held != NULL && i < count; i++)
            escape(held[i] = malloc(size));
        for (size_t i = 0; held != NULL && i < count; i++)
            free(held[i]);
        free(held);
        free(again);
    } else if (strcmp(mode, "double_thread") == 0) {
        say("addr=%p", (void *)p);
        pthread_t t;
        if (pthread_create(&t, NULL, free_in_thread, p) != 0 || pthread_join(t, NULL) != 0)
            exit(2);
        free(again);
    } else if (strcmp(mode, "realloc_freed") == 0) {
        say("addr=%p", (void *)p);
        free(p);
        escape(realloc(again, size));
    } else if (strcmp(mode, "interior") == 0) {
        char *inside = launder(again + 16);
        say("addr=%p", (void *)inside);
        free(inside);
    } else if (strcmp(mode, "waf") == 0) {
        say("addr=%p", (void *)p);
        free(p);
        *(volatile char *)again = 'X';
        for (size_t i = 0; i < count; i++)
            escape(malloc(size));
    } else {
        hout_fd(2, "unknown misuse mode %s", mode);
        exit(2);
    }
    say("survived");
    exit(3);
}

static void usage(void)
{
    hout_fd(2, "usage: shim_api usable N... | exhaust SIZE COUNT USIZE UN | "
               "calloc SIZE COUNT | overflow | realloc | realloc0 SIZE COUNT | "
               "zero | align | aligned_pooled | aligned_strict ALIGN SIZE N | "
               "frees SIZE COUNT | "
               "aliases SIZE COUNT | env | quiet [usable] | faults SIZE COUNT | "
               "misuse MODE SIZE COUNT");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *cmd = argv[1];
    int n = argc - 2;
    char **a = argv + 2;
    if (strcmp(cmd, "usable") == 0)
        cmd_usable(n, a);
    else if (strcmp(cmd, "exhaust") == 0 && n == 4)
        cmd_exhaust(a);
    else if (strcmp(cmd, "calloc") == 0 && n == 2)
        cmd_calloc(a);
    else if (strcmp(cmd, "overflow") == 0)
        cmd_overflow();
    else if (strcmp(cmd, "realloc") == 0)
        cmd_realloc();
    else if (strcmp(cmd, "realloc0") == 0 && n == 2)
        cmd_realloc0(a);
    else if (strcmp(cmd, "zero") == 0)
        cmd_zero();
    else if (strcmp(cmd, "align") == 0)
        cmd_align();
    else if (strcmp(cmd, "aligned_pooled") == 0)
        cmd_aligned_pooled();
    else if (strcmp(cmd, "aligned_strict") == 0 && n == 3)
        cmd_aligned_strict(a);
    else if (strcmp(cmd, "frees") == 0 && n == 2)
        cmd_frees(a);
    else if (strcmp(cmd, "aliases") == 0 && n == 2)
        cmd_aliases(a);
    else if (strcmp(cmd, "env") == 0)
        cmd_env();
    else if (strcmp(cmd, "quiet") == 0)
        cmd_quiet(n, a);
    else if (strcmp(cmd, "faults") == 0 && n == 2)
        cmd_faults(a);
    else if (strcmp(cmd, "misuse") == 0 && n == 3)
        cmd_misuse(a);
    else
        usage();
    return hout_status();
}
