/* fuzz_routing.c - libFuzzer target for the shim's routing (shim/malloc.c),
 * checked against a reference model.
 *
 * The whole shim is linked in with SHIM_NO_EXPORTS: the harness calls the
 * hidden shim_* entry points directly, and the real allocator behind them is
 * whatever dlsym(RTLD_NEXT) finds (libc's). LLVMFuzzerInitialize fixes the
 * configuration before the first call: classes small enough that inputs
 * exhaust them (CLASSES below; 256:48 is the one class with a per-thread
 * cache), strict mode. Each input then picks strict or lax mode for itself
 * (the harness sets shim.strict, which is all the configuration changes).
 *
 * Input: byte 0 bit 0 = strict; then ops until the input ends, each
 *   an op byte (low 4 bits: which op; high bits: variant), a slot byte
 *   (% NSLOTS), then its operands: sizes (pick_size), alignments
 *   (pick_align), counts. An allocation into a live slot frees it first.
 *
 * The model: a table of NSLOTS live blocks (address, requested and usable
 * size, class or the real allocator, a pattern seed) and, per class, the
 * blocks in use. From these it predicts where each request goes:
 *   class c = smallest class >= n (n == 0 counts as 1); an aligned request
 *   goes to c only when c's objects have the alignment (else: no class);
 *   c with in_use[c] < capacity: served by c (owner == c, usable == c's size);
 *   c full: strict -> NULL + ENOMEM; lax -> the real allocator (not pooled);
 *   no class: the real allocator (usable >= n; NULL + ENOMEM when huge).
 * Single-threaded, so the thread cache never hides a free object.
 *
 * Checked after every op: the prediction above; alignment; live blocks never
 * overlap; every block keeps its pattern (written over its whole usable size
 * when it is handed out, checked before it is freed or resized); realloc keeps
 * min(old, new) bytes, stays in place within its class, leaves the old block
 * intact when it fails; calloc memory is zero; calloc/reallocarray overflow
 * gives NULL + ENOMEM; posix_memalign gives EINVAL for a bad alignment and
 * never touches *memptr or errno when it fails; free preserves errno.
 * At the end of each input every block is freed, and then every class must be
 * full again and pool_classes_check() must pass, so inputs are independent.
 * A violation prints what went wrong, at which op, and aborts. With
 * FUZZ_ROUTING_TRACE set, every allocation prints a line (expected, got).
 *
 * Build and run (from the repository root; scripts/fuzz does this):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -DSHIM_NO_EXPORTS \
 *     fuzz/fuzz_routing.c shim/\*.c pool/\*.c -o build-fuzz/fuzz_routing -ldl -lpthread
 *   mkdir -p /tmp/new && build-fuzz/fuzz_routing -max_total_time=20 /tmp/new \
 *     fuzz/corpus/routing     (new units go to the first directory only)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim/shim.h"

extern char **environ;

/* ---- the configuration and the model ---- */

#define CLASSES "16:8,64:8,100:4,256:48,1500:3,4k:4,64k:2"
static const struct pool_class_spec spec[] = {
    {16, 8}, {64, 8}, {100, 4}, {256, 48}, {1500, 3}, {4096, 4}, {65536, 2},
};
#define NCLASSES ((int)(sizeof spec / sizeof spec[0]))

#define NSLOTS 64
#define MALLOC_ALIGN 16          /* what malloc, calloc, realloc guarantee */
#define HUGE_MIN ((size_t)1 << 48) /* beyond the address space: always fails */
#define BIG_ALIGN ((size_t)1 << 20) /* the real allocator may refuse above */
#define PATTERN_MAX ((size_t)1 << 20) /* a block's pattern covers this much */

enum { TO_REAL = -1, REFUSED = -2 }; /* predictions besides a class */

/* A live block; p == NULL: the slot is empty. Its contents are
 * pattern[seed + i] for i < min(usable, PATTERN_MAX). */
struct block {
    char *p;
    size_t req;    /* bytes asked for (after a realloc in place: the new size) */
    size_t usable; /* malloc_usable_size when handed out */
    size_t align;  /* asked alignment (MALLOC_ALIGN for malloc and the like) */
    int cls;       /* its class, or TO_REAL */
    uint8_t seed;
};

static struct block slot[NSLOTS];
static size_t in_use[NCLASSES];    /* live blocks of each class */
static size_t class_align[NCLASSES]; /* from the set, checked at start */
static uint8_t pattern[PATTERN_MAX + 256];
#define ZEROS 65536
static const char zeros[ZEROS];
static size_t page;
static bool strict;
static bool trace;              /* FUZZ_ROUTING_TRACE set: one line per op */
static uint8_t next_seed;
static unsigned long op_no;
static const char *op_name = "start";

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    fprintf(stderr, "fuzz_routing: op %lu (%s, %s mode): ", op_no, op_name,
            strict ? "strict" : "lax");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static const char *where(int w);

static void say(int s, const void *p, size_t req, size_t align, int want)
{
    if (trace)
        fprintf(stderr, "fuzz_routing: op %lu %s slot %d: %zu bytes align %zu: "
                "expected %s, got %p\n", op_no, op_name, s, req, align,
                where(want), p);
}

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond))                                                           \
            fail(__VA_ARGS__);                                                 \
    } while (0)

static bool pow2(size_t a)
{
    return a != 0 && (a & (a - 1)) == 0;
}

static bool huge(size_t n)
{
    return n >= HUGE_MIN;
}

/* The class serving n bytes, or -1. */
static int model_lookup(size_t n)
{
    if (n == 0)
        n = 1;
    for (int c = 0; c < NCLASSES; c++)
        if (spec[c].size >= n)
            return c;
    return -1;
}

/* The class serving n bytes at alignment align (a power of two), or -1:
 * n's own class when its objects have the alignment (never a larger one). */
static int model_aligned(size_t align, size_t n)
{
    int c = model_lookup(n);
    return c >= 0 && class_align[c] >= align ? c : -1;
}

/* Where a request for class c goes (c < 0: no class covers it). */
static int route(int c)
{
    if (c < 0)
        return TO_REAL;
    if (in_use[c] < spec[c].count)
        return c;
    return strict ? REFUSED : TO_REAL;
}

static const char *where(int w)
{
    static char buf[4][64];
    static unsigned next;
    char *b = buf[next++ % 4];
    if (w == TO_REAL)
        return "the real allocator";
    if (w == REFUSED)
        return "a refusal";
    if (w == POOL_INTERIOR)
        return "inside the pools, not an object start";
    snprintf(b, sizeof buf[0], "class %zu (%zu of %zu in use)", spec[w].size,
             in_use[w], spec[w].count);
    return b;
}

static size_t pattern_len(const struct block *b)
{
    return b->usable < PATTERN_MAX ? b->usable : PATTERN_MAX;
}

/* The block's contents are still its pattern. */
static void verify(int s)
{
    const struct block *b = &slot[s];
    size_t len = pattern_len(b);
    if (memcmp(b->p, pattern + b->seed, len) == 0)
        return;
    size_t i = 0;
    while (b->p[i] == (char)pattern[b->seed + i])
        i++;
    fail("slot %d: block %p (%zu bytes asked, %zu usable, %s) changed at "
         "offset %zu", s, (void *)b->p, b->req, b->usable, where(b->cls), i);
}

static void install(int s, void *p, size_t req, size_t align, int cls,
                    size_t usable)
{
    struct block *b = &slot[s];
    *b = (struct block){p, req, usable, align, cls, next_seed++};
    memcpy(b->p, pattern + b->seed, pattern_len(b));
    if (cls >= 0)
        in_use[cls]++;
}

static void forget(int s)
{
    struct block *b = &slot[s];
    if (b->cls >= 0)
        in_use[b->cls]--;
    b->p = NULL;
}

enum free_kind { FREE, FREE_SIZED, FREE_ALIGNED_SIZED };

/* Free slot s's block (if any) through the shim, after checking it. */
static void drop(int s, enum free_kind how)
{
    struct block *b = &slot[s];
    if (b->p == NULL)
        return;
    verify(s);
    errno = EDOM;
    switch (how) {
    case FREE: shim_free(b->p); break;
    case FREE_SIZED: shim_free_sized(b->p, b->req); break;
    case FREE_ALIGNED_SIZED: shim_free_aligned_sized(b->p, b->align, b->req); break;
    }
    CHECK(errno == EDOM, "free of %p (%s) changed errno to %d", (void *)b->p,
          where(b->cls), errno);
    forget(s);
}

/* The live block other than slot s's that [p, p + usable) overlaps, or -1
 * (a zero-sized block counts as one byte). Not instrumented for coverage:
 * its comparisons tell the fuzzer nothing and cost a third of its time. */
__attribute__((noinline, no_sanitize("coverage"))) static int
overlapping(int s, const char *p, size_t usable)
{
    uintptr_t lo = (uintptr_t)p, hi = lo + (usable ? usable : 1);
    for (int i = 0; i < NSLOTS; i++) {
        const struct block *o = &slot[i];
        if (i == s || o->p == NULL)
            continue;
        uintptr_t olo = (uintptr_t)o->p, ohi = olo + (o->usable ? o->usable : 1);
        if (lo < ohi && olo < hi)
            return i;
    }
    return -1;
}

/* A new block p, for req bytes at alignment align (1: none to check), that
 * the model sends to `want` (a class or TO_REAL); s is the slot it will go to.
 * Returns its class or TO_REAL, and its usable size in *usable. */
static int check_fresh(int s, char *p, size_t req, size_t align, int want,
                       size_t *usable)
{
    struct pool_classes *set = shim.set;
    int owner = pool_classes_owner(set, p);
    bool inside = (uintptr_t)p - (uintptr_t)set->base < set->span;
    CHECK(owner != POOL_INTERIOR, "%zu bytes: %p is inside the pools but not "
          "an object start", req, (void *)p);
    CHECK(inside == (owner >= 0), "%p: owner %d disagrees with the range",
          (void *)p, owner);
    if (want >= 0)
        CHECK(owner == want, "%zu bytes (align %zu): expected %s, got %s at %p",
              req, align, where(want), where(owner), (void *)p);
    else
        CHECK(owner == POOL_NOT_OURS, "%zu bytes (align %zu): expected the "
              "real allocator, got %s at %p", req, align, where(owner),
              (void *)p);
    *usable = shim_malloc_usable_size(p);
    if (owner >= 0)
        CHECK(*usable == spec[owner].size, "%p: usable %zu, class size %zu",
              (void *)p, *usable, spec[owner].size);
    else
        CHECK(*usable >= req, "%p: usable %zu < %zu asked", (void *)p, *usable,
              req);
    if (pow2(align))
        CHECK((uintptr_t)p % align == 0, "%p: not aligned to %zu", (void *)p,
              align);
    int i = overlapping(s, p, *usable);
    CHECK(i < 0, "%p + %zu (%s) overlaps slot %d: %p + %zu (%s)", (void *)p,
          *usable, where(owner), i, (void *)slot[i].p, slot[i].usable,
          where(slot[i].cls));
    return owner;
}

/* The outcome p of a request for req bytes at align that the model sends to
 * want; real_may_fail: the real allocator may refuse it (odd alignment). */
static void settle(int s, void *p, size_t req, size_t align, int want,
                   bool real_may_fail, bool zeroed)
{
    int err = errno;
    say(s, p, req, align, want);
    if (want == REFUSED) {
        CHECK(p == NULL, "%zu bytes: expected a refusal, got %p", req, p);
        CHECK(err == ENOMEM, "%zu bytes: refused with errno %d", req, err);
        return;
    }
    if (p == NULL) {
        CHECK(want == TO_REAL, "%zu bytes (align %zu): NULL (errno %d) but %s "
              "has room", req, align, err, where(want));
        CHECK(huge(req) || real_may_fail, "%zu bytes (align %zu): the real "
              "allocator failed (errno %d)", req, align, err);
        CHECK(err == ENOMEM || (real_may_fail && err == EINVAL),
              "%zu bytes (align %zu): NULL with errno %d", req, align, err);
        return;
    }
    CHECK(!huge(req), "%zu bytes: served at %p", req, p);
    size_t usable;
    int cls = check_fresh(s, p, req, align, want, &usable);
    if (zeroed) {
        size_t len = cls >= 0 ? usable : req;
        for (size_t i = 0; i < len; i += ZEROS) {
            size_t k = len - i < ZEROS ? len - i : ZEROS;
            if (memcmp((char *)p + i, zeros, k) == 0)
                continue;
            while (((char *)p)[i] == 0)
                i++;
            fail("calloc %zu bytes (%s): byte %zu is not zero", req,
                 where(cls), i);
        }
    }
    install(s, p, req, align, cls, usable);
}

/* ---- decoding the input ---- */

struct input {
    const uint8_t *p;
    size_t n;
};

static unsigned next(struct input *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

/* A size from a mix: class sizes and their neighbours, small and medium
 * sizes, and huge ones (>= HUGE_MIN). */
static size_t pick_size(struct input *in)
{
    unsigned k = next(in), a = next(in);
    size_t c = spec[a % NCLASSES].size;
    switch (k % 16) {
    case 0: return 0;
    case 5: return c + 1;
    case 6: return c - 1;
    case 7: return c - 8 + (a >> 3) % 16;
    case 8: return a;
    case 9: return (size_t)a << 4 | next(in) % 16;
    case 10: return (size_t)a << 8 | next(in);
    case 11: return 65536 + ((size_t)a << 7 | next(in) % 128);
    case 12:
        switch (a % 4) {
        case 0: return SIZE_MAX - next(in);
        case 1: return (SIZE_MAX >> (next(in) % 16)) - a;
        case 2: return (size_t)PTRDIFF_MAX + next(in) - 128;
        default: return (size_t)1 << (48 + next(in) % 16);
        }
    default: return c;
    }
}

/* An alignment: powers of two up to 128 KiB, the classes' own, odd ones. */
static size_t pick_align(struct input *in)
{
    static const size_t odd[] = {0, 3, 4, 12, 24, 48, 100, (size_t)1 << 63,
                                 SIZE_MAX};
    unsigned a = next(in);
    switch (a % 8) {
    case 4: return class_align[(a >> 3) % NCLASSES];
    case 5: return odd[(a >> 3) % (sizeof odd / sizeof odd[0])];
    case 6: return 16;
    case 7: return 64;
    default: return (size_t)1 << ((a >> 3) % 18);
    }
}

/* A (count, size) pair for calloc and reallocarray: products that fit,
 * overflow, or are huge. */
static void pick_pair(struct input *in, size_t *n, size_t *size)
{
    unsigned k = next(in), a = next(in);
    switch (k % 8) {
    case 4:
        *n = SIZE_MAX / (2 + a) + 1;
        *size = 2 + a;
        break;
    case 5:
        *n = (size_t)1 << (32 + a % 8);
        *size = (size_t)1 << (32 - a % 8 + a / 8 % 4);
        break;
    case 6:
        *n = (size_t)1 << (16 + a % 8);
        *size = (size_t)1 << 32;
        break;
    case 7:
        *n = a;
        *size = next(in) % 32;
        break;
    default:
        *n = a % 9;
        *size = pick_size(in);
        break;
    }
    if (k & 8) { /* either order */
        size_t t = *n;
        *n = *size;
        *size = t;
    }
}

/* ---- the ops ---- */

static void do_malloc(int s, size_t n)
{
    op_name = "malloc";
    drop(s, FREE);
    int want = route(model_lookup(n));
    errno = 0;
    void *p = shim_malloc(n);
    settle(s, p, n, MALLOC_ALIGN, want, false, false);
}

static void expect_overflow(const char *what, size_t n, size_t size, void *p)
{
    CHECK(p == NULL, "%s(%zu, %zu) overflows, yet gave %p", what, n, size, p);
    CHECK(errno == ENOMEM, "%s(%zu, %zu) overflows: errno %d, not ENOMEM",
          what, n, size, errno);
}

static void do_calloc(int s, size_t n, size_t size)
{
    op_name = "calloc";
    drop(s, FREE);
    size_t total;
    bool overflow = __builtin_mul_overflow(n, size, &total);
    int want = overflow ? REFUSED : route(model_lookup(total));
    errno = 0;
    void *p = shim_calloc(n, size);
    if (overflow)
        expect_overflow("calloc", n, size, p);
    else
        settle(s, p, total, MALLOC_ALIGN, want, false, true);
}

/* realloc(slot s, n), or reallocarray(slot s, cnt, size) when array. */
static void do_realloc(int s, bool array, size_t cnt, size_t size, size_t n)
{
    op_name = array ? "reallocarray" : "realloc";
    bool overflow = array && __builtin_mul_overflow(cnt, size, &n);
    struct block *b = &slot[s];
    if (b->p == NULL) {
        int want = overflow ? REFUSED : route(model_lookup(n));
        errno = 0;
        void *p = array ? shim_reallocarray(NULL, cnt, size) : shim_realloc(NULL, n);
        if (overflow)
            expect_overflow("reallocarray", cnt, size, p);
        else
            settle(s, p, n, MALLOC_ALIGN, want, false, false);
        return;
    }
    verify(s);
    /* A pooled block asked to fit in a smaller class moves there when that
     * class has a free object, else stays (it fits); within its own class,
     * or growing, as any request. */
    bool fits = b->cls >= 0 && n > 0 && !overflow && n <= spec[b->cls].size;
    int nc = fits ? model_lookup(n) : -1;
    bool in_place = fits && (nc == b->cls || in_use[nc] >= spec[nc].count);
    int want = in_place ? b->cls
               : fits ? nc
               : n > 0 && !overflow ? route(model_lookup(n)) : TO_REAL;
    errno = 0;
    char *q = array ? shim_reallocarray(b->p, cnt, size) : shim_realloc(b->p, n);
    int err = errno;
    say(s, q, n, MALLOC_ALIGN, overflow ? REFUSED : want);
    if (overflow) {
        expect_overflow("reallocarray", cnt, size, q);
        verify(s);
        return;
    }
    if (n == 0) { /* frees, returns NULL (glibc) */
        CHECK(q == NULL, "realloc(%p, 0) gave %p", (void *)b->p, (void *)q);
        forget(s);
        return;
    }
    if (in_place) {
        CHECK(q == b->p, "realloc(%p, %zu) within class %zu (or its own class "
              "full) moved it to %p", (void *)b->p, n, spec[b->cls].size, (void *)q);
        CHECK(shim_malloc_usable_size(q) == b->usable, "realloc in place "
              "changed the usable size");
        b->req = n;
        verify(s);
        return;
    }
    if (q == NULL) {
        CHECK(want == REFUSED || (want == TO_REAL && huge(n)), "realloc(%p, %zu)"
              " (from %s): NULL (errno %d), expected %s", (void *)b->p, n,
              where(b->cls), err, where(want));
        CHECK(err == ENOMEM, "realloc(%p, %zu) failed with errno %d",
              (void *)b->p, n, err);
        verify(s); /* the old block is intact and still ours */
        return;
    }
    CHECK(want != REFUSED && !huge(n), "realloc(%p, %zu): expected %s, got %p",
          (void *)b->p, n, where(want), (void *)q);
    size_t keep = b->req < n ? b->req : n;
    if (keep > pattern_len(b))
        keep = pattern_len(b);
    if (memcmp(q, pattern + b->seed, keep) != 0) {
        size_t i = 0;
        while (q[i] == (char)pattern[b->seed + i])
            i++;
        fail("realloc(%p, %zu) from %s to %p: byte %zu of %zu kept is lost",
             (void *)b->p, n, where(b->cls), (void *)q, i, keep);
    }
    size_t usable;
    int cls = check_fresh(s, q, n, MALLOC_ALIGN, want, &usable);
    forget(s);
    install(s, q, n, MALLOC_ALIGN, cls, usable);
}

static void do_posix_memalign(int s, size_t align, size_t n)
{
    op_name = "posix_memalign";
    drop(s, FREE);
    void *untouched = &untouched, *out = untouched;
    bool valid = pow2(align) && align % sizeof(void *) == 0;
    int want = valid ? route(model_aligned(align, n)) : REFUSED;
    errno = EDOM;
    int rc = shim_posix_memalign(&out, align, n);
    CHECK(errno == EDOM, "posix_memalign(%zu, %zu) changed errno to %d", align,
          n, errno);
    if (!valid) {
        CHECK(rc == EINVAL && out == untouched, "posix_memalign(%zu, %zu): bad "
              "alignment gave %d, *memptr %p", align, n, rc, out);
        return;
    }
    if (rc != 0)
        CHECK(out == untouched, "posix_memalign(%zu, %zu) failed (%d) but set "
              "*memptr to %p", align, n, rc, out);
    else
        CHECK(out != NULL, "posix_memalign(%zu, %zu) gave 0 and NULL", align, n);
    errno = rc;
    settle(s, rc == 0 ? out : NULL, n, align, want, align > BIG_ALIGN, false);
}

/* memalign and aligned_alloc */
static void do_aligned(int s, bool c11, size_t align, size_t n)
{
    op_name = c11 ? "aligned_alloc" : "memalign";
    drop(s, FREE);
    int want = pow2(align) ? route(model_aligned(align, n)) : TO_REAL;
    /* the real ones may refuse odd alignments (and ASan's aligned_alloc a
     * size that is not a multiple of the alignment) */
    bool may_fail = !pow2(align) || align > BIG_ALIGN || (c11 && n % align != 0);
    errno = 0;
    void *p = c11 ? shim_aligned_alloc(align, n) : shim_memalign(align, n);
    settle(s, p, n, pow2(align) ? align : 1, want, may_fail, false);
}

static void do_valloc(int s, bool pv, size_t n)
{
    op_name = pv ? "pvalloc" : "valloc";
    drop(s, FREE);
    size_t req = n;
    if (pv) {
        if (n > SIZE_MAX - (page - 1)) {
            errno = 0;
            void *p = shim_pvalloc(n);
            CHECK(p == NULL && errno == ENOMEM, "pvalloc(%zu) overflows, yet "
                  "gave %p (errno %d)", n, p, errno);
            return;
        }
        req = n == 0 ? page : (n + page - 1) & ~(page - 1);
    }
    int want = route(model_aligned(page, req));
    errno = 0;
    void *p = pv ? shim_pvalloc(n) : shim_valloc(n);
    settle(s, p, req, page, want, false, false);
}

static void do_usable(int s)
{
    op_name = "malloc_usable_size";
    CHECK(shim_malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) != 0");
    const struct block *b = &slot[s];
    if (b->p == NULL)
        return;
    size_t u = shim_malloc_usable_size(b->p);
    CHECK(u == b->usable, "%p (%s): usable %zu, was %zu", (void *)b->p,
          where(b->cls), u, b->usable);
    verify(s);
}

static void do_free(int s, enum free_kind how)
{
    op_name = how == FREE ? "free" : how == FREE_SIZED ? "free_sized"
                                                       : "free_aligned_sized";
    if (slot[s].p != NULL) {
        drop(s, how);
        return;
    }
    errno = EDOM;
    shim_free(NULL);
    CHECK(errno == EDOM, "free(NULL) changed errno to %d", errno);
}

static void run(struct input *in)
{
    unsigned op = next(in), s = next(in) % NSLOTS;
    unsigned variant = op >> 4;
    size_t n, m, align;
    switch (op % 16) {
    case 0:
    case 1:
        do_malloc((int)s, pick_size(in));
        break;
    case 2:
        pick_pair(in, &n, &m);
        do_calloc((int)s, n, m);
        break;
    case 3:
    case 4:
        do_realloc((int)s, false, 0, 0, pick_size(in));
        break;
    case 5:
        pick_pair(in, &n, &m);
        do_realloc((int)s, true, n, m, 0);
        break;
    case 6:
        align = pick_align(in);
        do_posix_memalign((int)s, align, pick_size(in));
        break;
    case 7:
    case 8:
        align = pick_align(in);
        do_aligned((int)s, op % 16 == 7, align, pick_size(in));
        break;
    case 9:
        do_valloc((int)s, variant & 1, pick_size(in));
        break;
    case 10:
    case 11:
        do_free((int)s, (enum free_kind)(variant % 3));
        break;
    case 12:
        do_usable((int)s);
        break;
    case 13: /* a burst of one size: exhausts a class quickly */
        n = pick_size(in);
        m = 1 + next(in) % 16;
        for (size_t i = 0; i < m; i++, op_no++)
            do_malloc((int)((s + i) % NSLOTS), n);
        break;
    case 14: /* free a run of slots */
        m = 1 + next(in) % 16;
        for (size_t i = 0; i < m; i++)
            do_free((int)((s + i) % NSLOTS), (enum free_kind)(variant % 3));
        break;
    default: /* a burst of callocs of one size */
        n = pick_size(in);
        m = 1 + next(in) % 16;
        for (size_t i = 0; i < m; i++, op_no++)
            do_calloc((int)((s + i) % NSLOTS), 1, n);
        break;
    }
}

/* ---- libFuzzer ---- */

static void clear_poolshim_env(void)
{
    for (size_t i = 0; environ[i] != NULL;) {
        if (strncmp(environ[i], "POOLSHIM_", 9) != 0) {
            i++;
            continue;
        }
        char name[256];
        size_t len = strcspn(environ[i], "=");
        if (len >= sizeof name)
            len = sizeof name - 1;
        memcpy(name, environ[i], len);
        name[len] = '\0';
        unsetenv(name);
        i = 0;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    clear_poolshim_env();
    setenv("POOLSHIM_CLASSES", CLASSES, 1);
    setenv("POOLSHIM_STRICT", "1", 1);
    strict = true;
    trace = getenv("FUZZ_ROUTING_TRACE") != NULL;
    page = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)(i * 151 + (i >> 8) * 13 + 1);

    CHECK(shim_init() == SHIM_ON && shim.set != NULL, "the shim did not start "
          "with POOLSHIM_CLASSES=%s", CLASSES);
    CHECK(shim.strict, "POOLSHIM_STRICT=1 did not make the shim strict");
    struct pool_classes *set = shim.set;
    CHECK(pool_classes_count(set) == (unsigned)NCLASSES, "%u classes, "
          "configured %d", pool_classes_count(set), NCLASSES);
    for (int c = 0; c < NCLASSES; c++) {
        struct pool_class_stats st;
        pool_classes_stats(set, c, &st);
        CHECK(st.size == spec[c].size && st.capacity == spec[c].count,
              "class %d is %zu x %zu, configured %zu x %zu", c, st.size,
              st.capacity, spec[c].size, spec[c].count);
        size_t stride = (spec[c].size + POOL_GRANULE - 1) & ~(size_t)(POOL_GRANULE - 1);
        size_t low = stride & -stride;
        CHECK(pow2(st.align) && st.align >= (low < page ? low : page),
              "class %zu: alignment %zu", spec[c].size, st.align);
        class_align[c] = st.align;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    strict = next(&in) & 1;
    shim.strict = strict;
    op_no = 0;
    while (in.n > 0) {
        run(&in);
        op_no++;
    }
    op_name = "end of input";
    for (int s = 0; s < NSLOTS; s++)
        drop(s, FREE);
    struct pool_classes *set = shim.set;
    for (int c = 0; c < NCLASSES; c++) {
        CHECK(in_use[c] == 0, "model: class %zu still has %zu in use",
              spec[c].size, in_use[c]);
        size_t avail = pool_classes_available(set, c);
        CHECK(avail == spec[c].count, "class %zu: %zu of %zu available after "
              "every block was freed", spec[c].size, avail, spec[c].count);
    }
    CHECK(pool_classes_check(set), "pool_classes_check failed");
    return 0;
}
