/* test_faults.c - the shim's routing when the real allocator fails, its edge
 * cases (overflow, zero sizes, NULL, sized frees) and the bootstrap arena.
 *
 * Built with the whole shim linked in and SHIM_NO_EXPORTS (Makefile rule
 * $(BUILD)/tests/test_faults): nothing is interposed, the runner and Check
 * allocate from libc, and the cases call the shim_* entry points directly.
 * Fault injection replaces the function pointers of `real` (shim.h) after
 * start-up with stubs that fail (NULL and ENOMEM; ENOMEM from posix_memalign)
 * always, or every Nth call.
 *
 * Every case runs in its own forked child (forced below: the shim starts once
 * per process, at the case's first call, with the POOLSHIM_* variables that
 * the case sets through start()).
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim/shim.h"
#include "tests/checkutil.h"


extern char **environ;

/* ------------------------------------------------------------------------ */
/* start-up and fault injection                                              */

/* Start the shim with these classes, strict or not, the variables in extra
 * ("NAME=value", NULL-terminated; NULL for none) and nothing else. */
static void start_with(const char *classes, bool strict, const char *const *extra)
{
    for (size_t i = 0; environ[i] != NULL;) { /* drop any outer POOLSHIM_* */
        if (strncmp(environ[i], "POOLSHIM_", 9) != 0) {
            i++;
            continue;
        }
        char name[256];
        size_t len = strcspn(environ[i], "=");
        ck_assert_uint_lt(len, sizeof name);
        memcpy(name, environ[i], len);
        name[len] = '\0';
        unsetenv(name);
        i = 0;
    }
    setenv("POOLSHIM_CLASSES", classes, 1);
    setenv("POOLSHIM_STRICT", strict ? "1" : "0", 1);
    for (; extra != NULL && *extra != NULL; extra++)
        ck_assert_int_eq(putenv((char *)*extra), 0);
    ck_assert_int_eq(shim_init(), SHIM_ON);
    ck_assert_ptr_nonnull(shim.set);
}

static void start(const char *classes, bool strict)
{
    start_with(classes, strict, NULL);
}

static struct real_allocator saved; /* the real allocator, while broken */
static unsigned fail_every;          /* 0: every call fails; N: every Nth */
static unsigned long calls, faults, frees;

/* Whether this call to the real allocator fails. */
static bool fault(void)
{
    calls++;
    if (fail_every != 0 && calls % fail_every != 0)
        return false;
    faults++;
    return true;
}

static void *bad_malloc(size_t n)
{
    if (fault())
        return errno = ENOMEM, NULL;
    return saved.malloc(n);
}

static void *bad_calloc(size_t n, size_t size)
{
    if (fault())
        return errno = ENOMEM, NULL;
    return saved.calloc(n, size);
}

static void *bad_realloc(void *p, size_t n)
{
    if (fault())
        return errno = ENOMEM, NULL; /* p stays as it was */
    return saved.realloc(p, n);
}

static void *bad_memalign(size_t align, size_t n)
{
    if (fault())
        return errno = ENOMEM, NULL;
    return saved.memalign(align, n);
}

static int bad_posix_memalign(void **out, size_t align, size_t n)
{
    if (fault())
        return ENOMEM;
    return saved.posix_memalign(out, align, n);
}

static void *bad_aligned_alloc(size_t align, size_t n)
{
    if (fault())
        return errno = ENOMEM, NULL;
    return saved.aligned_alloc(align, n);
}

static void *bad_valloc(size_t n)
{
    if (fault())
        return errno = ENOMEM, NULL;
    return saved.valloc(n);
}

static void *bad_pvalloc(size_t n)
{
    if (fault())
        return errno = ENOMEM, NULL;
    return saved.pvalloc(n);
}

static void counting_free(void *p)
{
    frees++;
    saved.free(p);
}

/* free's fast path calls shim.free_other, the real free once on */
static void set_real_free(void (*f)(void *))
{
    if (shim.free_other == real.free)
        shim.free_other = f;
    real.free = f;
}

/* From now on the real allocator fails every call (every_nth == 0) or
 * every Nth one; its free counts the blocks it gets back. */
static void break_real(unsigned every_nth)
{
    saved = real;
    fail_every = every_nth;
    calls = faults = frees = 0;
    real.malloc = bad_malloc;
    real.calloc = bad_calloc;
    real.realloc = bad_realloc;
    real.memalign = bad_memalign;
    real.posix_memalign = bad_posix_memalign;
    real.aligned_alloc = bad_aligned_alloc;
    real.valloc = bad_valloc;
    real.pvalloc = bad_pvalloc;
    real.free = saved.free;
    set_real_free(counting_free);
}

/* The real allocator as it was, only its free counts the blocks. */
static void count_frees(void)
{
    saved = real;
    frees = 0;
    set_real_free(counting_free);
}

static void mend_real(void)
{
    set_real_free(saved.free);
    real = saved;
}

/* ------------------------------------------------------------------------ */
/* helpers                                                                   */

static int owner(const void *p)
{
    return pool_classes_owner(shim.set, p);
}

static void fill(void *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        ((unsigned char *)p)[i] = (unsigned char)(seed + i * 7);
}

static bool intact(const void *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)p)[i] != (unsigned char)(seed + i * 7))
            return false;
    return true;
}

/* Free objects of the class of `size` right now. */
static size_t available(size_t size)
{
    return pool_classes_available(shim.set, pool_classes_lookup(shim.set, size));
}

#define ck_enomem(expr)                                                        \
    do {                                                                       \
        errno = 0;                                                             \
        void *r_ = (expr);                                                     \
        int e_ = errno;                                                        \
        ck_assert_msg(r_ == NULL && e_ == ENOMEM, "%s: %p, errno %d (want "    \
                      "NULL, ENOMEM)", #expr, r_, e_);                         \
    } while (0)

/* ------------------------------------------------------------------------ */
/* the real allocator fails                                                  */

/* sizes that no class of "64:4" covers, from each entry point */
START_TEST(uncovered_fails)
{
    start("64:4", false);
    break_real(0);
    ck_enomem(shim_malloc(1000));
    ck_enomem(shim_calloc(10, 100));
    ck_enomem(shim_aligned_alloc(64, 8192));
    ck_enomem(shim_memalign(64, 8192));
    ck_enomem(shim_valloc(8192));
    ck_enomem(shim_pvalloc(8192));
    ck_enomem(shim_memalign(4096, 64)); /* a class size, not its alignment */
    ck_enomem(shim_realloc(NULL, 1000));
    ck_enomem(shim_reallocarray(NULL, 10, 100));

    void *untouched = &untouched, *out = untouched;
    errno = EDOM;
    ck_assert_int_eq(shim_posix_memalign(&out, 64, 8192), ENOMEM);
    ck_assert_ptr_eq(out, untouched);
    ck_assert_int_eq(errno, EDOM);
    ck_assert_int_eq(shim_posix_memalign(&out, 4096, 64), ENOMEM);
    ck_assert_ptr_eq(out, untouched);
    ck_assert_uint_eq(faults, 11);
    ck_assert_uint_eq(available(64), 4); /* no pool object was spent */
}
END_TEST

/* realloc to a size that fails leaves the old block as it was */
START_TEST(realloc_fails_keeps_block)
{
    start("64:4", false);
    char *r = shim_malloc(1000); /* the real allocator's */
    char *p = shim_malloc(64);   /* a pool's */
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(owner(r), POOL_NOT_OURS);
    ck_assert_int_ge(owner(p), 0);
    fill(r, 1000, 1);
    fill(p, 64, 2);
    break_real(0);

    ck_enomem(shim_realloc(r, 5000));
    ck_enomem(shim_realloc(p, 5000)); /* pooled, grows beyond every class */
    ck_enomem(shim_reallocarray(p, 100, 50));
    ck_assert(intact(r, 1000, 1));
    ck_assert(intact(p, 64, 2));
    ck_assert_uint_ge(shim_malloc_usable_size(r), 1000);
    ck_assert_uint_eq(shim_malloc_usable_size(p), 64);
    ck_assert_uint_eq(available(64), 3);
    ck_assert_uint_eq(frees, 0);

    mend_real();
    shim_free(r);
    shim_free(p);
    ck_assert_uint_eq(available(64), 4);
}
END_TEST

/* lax mode: a full class falls back to the real allocator, which fails */
START_TEST(exhausted_fallback_fails)
{
    start("64:2", false);
    char *a = shim_malloc(64), *b = shim_malloc(64);
    char *r = shim_malloc(1000); /* the real allocator's, to be resized */
    ck_assert_int_ge(owner(a), 0);
    ck_assert_int_ge(owner(b), 0);
    ck_assert_int_eq(owner(r), POOL_NOT_OURS);
    fill(r, 1000, 3);
    break_real(0);

    ck_enomem(shim_malloc(64));
    ck_enomem(shim_malloc(0));
    ck_enomem(shim_calloc(1, 64));
    ck_enomem(shim_aligned_alloc(64, 64));
    ck_enomem(shim_memalign(16, 40));
    ck_enomem(shim_realloc(NULL, 64));
    ck_enomem(shim_realloc(r, 64)); /* into the full class */
    ck_assert(intact(r, 1000, 3));
    void *untouched = &untouched, *out = untouched;
    ck_assert_int_eq(shim_posix_memalign(&out, 64, 64), ENOMEM);
    ck_assert_ptr_eq(out, untouched);
    ck_assert_uint_eq(faults, 8);

    /* a freed object serves again, though the real allocator still fails */
    shim_free(a);
    char *c = shim_malloc(64);
    ck_assert_ptr_eq(c, a);
    /* and a real block can move into the class once it has room */
    shim_free(b);
    char *q = shim_realloc(r, 64);
    ck_assert_ptr_eq(q, b);
    ck_assert(intact(q, 64, 3));
    ck_assert_uint_eq(frees, 1); /* r went back to the real allocator */
    shim_free(c);
    shim_free(q);
    mend_real();
}
END_TEST

/* strict mode refuses a full class without asking the real allocator */
START_TEST(strict_refuses_without_real)
{
    start("64:2", true);
    break_real(0);
    void *a = shim_malloc(64), *b = shim_calloc(8, 8);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_enomem(shim_malloc(64));
    ck_enomem(shim_calloc(64, 1));
    ck_enomem(shim_aligned_alloc(64, 64));
    void *untouched = &untouched, *out = untouched;
    errno = EDOM;
    ck_assert_int_eq(shim_posix_memalign(&out, 64, 64), ENOMEM);
    ck_assert_ptr_eq(out, untouched);
    ck_assert_int_eq(errno, EDOM); /* posix_memalign keeps errno (README) */
    ck_assert_uint_eq(calls, 0);
    shim_free(a);
    shim_free(b);
    ck_assert_uint_eq(available(64), 2);
}
END_TEST

/* pooled sizes never need the real allocator */
START_TEST(pooled_keep_working)
{
    start("16:4,64:4,4k:2", false);
    break_real(0);
    for (int i = 0; i < 1000; i++) {
        char *p = shim_malloc(64);
        char *q = shim_calloc(2, 8);
        ck_assert_ptr_nonnull(p);
        ck_assert_ptr_nonnull(q);
        for (int k = 0; k < 16; k++)
            ck_assert_int_eq(q[k], 0);
        fill(q, 16, (unsigned)i);
        q = shim_realloc(q, 60); /* class 16 to class 64 */
        ck_assert_ptr_nonnull(q);
        ck_assert(intact(q, 16, (unsigned)i));
        ck_assert_uint_eq(shim_malloc_usable_size(q), 64);
        void *a = NULL;
        ck_assert_int_eq(shim_posix_memalign(&a, 64, 64), 0);
        void *g = shim_aligned_alloc(4096, 4096);
        ck_assert_ptr_nonnull(g);
        ck_assert_uint_eq((uintptr_t)g % 4096, 0);
        fill(g, 4096, 9);
        shim_free(p);
        shim_free(q);
        shim_free(a);
        shim_free_aligned_sized(g, 4096, 4096);
        fill(p = shim_malloc(0), 16, 1);
        shim_free_sized(p, 0);
    }
    ck_assert_uint_eq(calls, 0);
    ck_assert(pool_classes_check(shim.set));
}
END_TEST

/* random operations while every third real call fails: every result is a
 * usable block or NULL with ENOMEM, and a failed realloc keeps its block */
#define SLOTS 32
START_TEST(random_faults_never_crash)
{
    start("16:8,64:8,256:4", _i == 1);
    break_real(3);
    static const size_t sizes[] = {0, 1, 16, 17, 64, 100, 256, 257, 1000, 5000};
    struct {
        char *p;
        size_t n;
        unsigned seed;
    } s[SLOTS] = {{0}};
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned k = (unsigned)(x >> 8) % SLOTS, op = (unsigned)(x >> 16) % 6;
        size_t n = sizes[(x >> 24) % 10];
        char *q = NULL;
        errno = 0;
        switch (op) {
        case 0: q = shim_malloc(n); break;
        case 1: q = shim_calloc(1, n); break;
        case 2: q = shim_memalign(32, n); break;
        case 3: {
            void *o = NULL;
            int rc = shim_posix_memalign(&o, 32, n);
            ck_assert(rc == 0 || (rc == ENOMEM && o == NULL));
            q = o;
            errno = rc;
            break;
        }
        case 4: /* realloc */
            if (n == 0)
                n = 1;
            q = shim_realloc(s[k].p, n);
            if (q == NULL) {
                ck_assert_int_eq(errno, ENOMEM);
                if (s[k].p != NULL)
                    ck_assert(intact(s[k].p, s[k].n, s[k].seed));
                continue;
            }
            if (s[k].p != NULL)
                ck_assert(intact(q, s[k].n < n ? s[k].n : n, s[k].seed));
            s[k].p = NULL;
            break;
        default:
            if (s[k].p != NULL)
                ck_assert(intact(s[k].p, s[k].n, s[k].seed));
            shim_free(s[k].p);
            s[k].p = NULL;
            continue;
        }
        if (q == NULL) {
            ck_assert_int_eq(errno, ENOMEM);
            continue;
        }
        ck_assert_uint_ge(shim_malloc_usable_size(q), n);
        if (s[k].p != NULL) {
            ck_assert(intact(s[k].p, s[k].n, s[k].seed));
            shim_free(s[k].p);
        }
        s[k].p = q;
        s[k].n = n;
        s[k].seed = (unsigned)i;
        fill(q, n, (unsigned)i);
    }
    ck_assert_uint_gt(faults, 100);
    for (int k = 0; k < SLOTS; k++) {
        if (s[k].p != NULL)
            ck_assert(intact(s[k].p, s[k].n, s[k].seed));
        shim_free(s[k].p);
    }
    ck_assert_uint_eq(available(16), 8);
    ck_assert_uint_eq(available(64), 8);
    ck_assert_uint_eq(available(256), 4);
    ck_assert(pool_classes_check(shim.set));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* edge cases                                                                */

static const size_t overflow[][2] = {
    {SIZE_MAX / 2 + 1, 2},
    {2, SIZE_MAX / 2 + 1},
    {(size_t)1 << 32, (size_t)1 << 32},
    {SIZE_MAX, SIZE_MAX},
    {SIZE_MAX / 3 + 1, 3},
};
#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

START_TEST(calloc_overflow)
{
    start("16:4,64:4", false);
    break_real(0); /* an overflow must not reach it */
    ck_enomem(shim_calloc(overflow[_i][0], overflow[_i][1]));
    ck_assert_uint_eq(calls, 0);
}
END_TEST

START_TEST(reallocarray_overflow)
{
    start("16:4,64:4", false);
    char *p = shim_malloc(64);
    fill(p, 64, 4);
    break_real(0);
    ck_enomem(shim_reallocarray(p, overflow[_i][0], overflow[_i][1]));
    ck_enomem(shim_reallocarray(NULL, overflow[_i][0], overflow[_i][1]));
    ck_assert(intact(p, 64, 4));
    ck_assert_uint_eq(calls, 0);
    ck_assert_uint_eq(available(64), 3);
    shim_free(p);
}
END_TEST

/* realloc(p, 0) frees p and returns NULL (as glibc does), pooled or not */
START_TEST(realloc_zero_frees)
{
    start("64:1", false);
    void *p = shim_malloc(64);
    ck_assert_int_ge(owner(p), 0);
    ck_assert_ptr_null(shim_realloc(p, 0));
    ck_assert_uint_eq(available(64), 1);
    void *q = shim_malloc(64);
    ck_assert_ptr_eq(q, p);
    ck_assert_ptr_null(shim_reallocarray(q, 0, 64));
    ck_assert_uint_eq(available(64), 1);

    count_frees();
    void *r = shim_malloc(1000);
    ck_assert_int_eq(owner(r), POOL_NOT_OURS);
    ck_assert_ptr_null(shim_realloc(r, 0));
    ck_assert_uint_eq(frees, 1);
    mend_real();
}
END_TEST

/* malloc(0) gives distinct blocks, from the smallest class and beyond it */
START_TEST(malloc_zero_unique)
{
    start("16:2", false);
    char *p[5];
    for (int i = 0; i < 5; i++) {
        p[i] = shim_malloc(0);
        ck_assert_ptr_nonnull(p[i]);
        for (int k = 0; k < i; k++)
            ck_assert_ptr_ne(p[i], p[k]);
    }
    ck_assert_int_ge(owner(p[0]), 0);
    ck_assert_int_ge(owner(p[1]), 0);
    ck_assert_uint_eq(shim_malloc_usable_size(p[0]), 16);
    ck_assert_int_eq(owner(p[2]), POOL_NOT_OURS);
    for (int i = 0; i < 5; i++)
        shim_free(p[i]);
    ck_assert_uint_eq(available(16), 2);
}
END_TEST

/* free(NULL) does nothing; no free changes errno */
START_TEST(free_keeps_errno)
{
    start("64:2", false);
    void *p = shim_malloc(64), *r = shim_malloc(1000);
    errno = EDOM;
    shim_free(NULL);
    shim_free_sized(NULL, 0);
    shim_free_aligned_sized(NULL, 64, 0);
    ck_assert_int_eq(errno, EDOM);
    shim_free(p);
    ck_assert_int_eq(errno, EDOM);
    shim_free(r);
    ck_assert_int_eq(errno, EDOM);
    ck_assert_uint_eq(shim_malloc_usable_size(NULL), 0);
}
END_TEST

/* free_sized and free_aligned_sized give blocks back like free */
START_TEST(sized_frees)
{
    start("64:1", false);
    void *p = shim_malloc(50);
    shim_free_sized(p, 50);
    ck_assert_uint_eq(available(64), 1);
    void *a = shim_aligned_alloc(64, 64);
    ck_assert_ptr_eq(a, p);
    shim_free_aligned_sized(a, 64, 64);
    ck_assert_uint_eq(available(64), 1);

    count_frees();
    shim_free_sized(shim_malloc(1000), 1000);
    shim_free_aligned_sized(shim_aligned_alloc(4096, 4096), 4096, 4096);
    ck_assert_uint_eq(frees, 2);
    mend_real();
}
END_TEST

/* posix_memalign: EINVAL for a bad alignment, *memptr and errno untouched */
static const size_t bad_align[] = {0, 1, 2, 3, 4, 12, 24, 48, 100, SIZE_MAX};

START_TEST(posix_memalign_einval)
{
    start("64:2", false);
    void *untouched = &untouched, *out = untouched;
    errno = EDOM;
    ck_assert_int_eq(shim_posix_memalign(&out, bad_align[_i], 64), EINVAL);
    ck_assert_ptr_eq(out, untouched);
    ck_assert_int_eq(errno, EDOM);
    ck_assert_uint_eq(available(64), 2);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* the stats file's temporary (shim/stats.c)                                 */

static uint64_t next_r;
static unsigned random_calls;

static uint64_t counting_random(void)
{
    random_calls++;
    return next_r++;
}

static uint64_t constant_random(void)
{
    random_calls++;
    return next_r;
}

/* The name stats_create_temp() makes for random value r (< 16: its hex
 * digits come least significant first). */
static void temp_name(char *out, size_t cap, const char *file, unsigned r)
{
    snprintf(out, cap, "%s.%d.%x00000000000.tmp", file, (int)getpid(), r);
}

/* Names that are taken (a symlink planted at the first, a dangling one at
 * the second) are skipped and never opened or followed; a new 0600 file is
 * made at the third; 16 taken names in a row give up with EEXIST. */
START_TEST(stats_temp_never_opens_a_taken_name)
{
    char dir[] = "/tmp/poolshim-temp-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char file[64], target[64], n1[128], n2[128], n3[128], tmp[128], buf[16] = {0};
    snprintf(file, sizeof file, "%s/s.json", dir);
    snprintf(target, sizeof target, "%s/target", dir);
    int t = open(target, O_WRONLY | O_CREAT | O_EXCL, 0644);
    ck_assert_int_eq(write(t, "target\n", 7), 7);
    close(t);
    temp_name(n1, sizeof n1, file, 1);
    temp_name(n2, sizeof n2, file, 2);
    temp_name(n3, sizeof n3, file, 3);
    ck_assert_int_eq(symlink(target, n1), 0);
    ck_assert_int_eq(symlink("dangling", n2), 0);

    next_r = 1;
    random_calls = 0;
    int fd = stats_create_temp(file, tmp, sizeof tmp, counting_random);
    ck_assert_int_ge(fd, 0);
    ck_assert_str_eq(tmp, n3);
    ck_assert_uint_eq(random_calls, 3);
    ck_assert_int_eq(write(fd, "ours\n", 5), 5);
    close(fd);
    struct stat st;
    ck_assert_int_eq(lstat(n3, &st), 0);
    ck_assert(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600);
    t = open(target, O_RDONLY);
    ck_assert_int_eq(read(t, buf, sizeof buf - 1), 7);
    close(t);
    ck_assert_str_eq(buf, "target\n");
    ck_assert_int_eq(lstat(n2, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    ck_assert_int_eq(stat(n2, &st), -1); /* still dangling: nothing made */

    next_r = 3; /* n3, now taken, every time */
    random_calls = 0;
    errno = 0;
    ck_assert_int_eq(stats_create_temp(file, tmp, sizeof tmp, constant_random), -1);
    ck_assert_int_eq(errno, EEXIST);
    ck_assert_uint_eq(random_calls, 16);

    const char *names[] = {n1, n2, n3, target};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(unlink(names[i]), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* POOLSHIM_STATS_SIGNAL and a handler that was there before the shim (one
 * installed before the shim started: here the harness starts it): after the
 * snapshot, that handler runs, with the signal's siginfo (_i 0: SA_SIGINFO)
 * or without (_i 1). */
static volatile sig_atomic_t earlier_calls, earlier_code, earlier_sig;

static void earlier_info(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    earlier_calls++;
    earlier_sig = sig;
    earlier_code = si->si_code;
}

static void earlier_plain(int sig)
{
    earlier_calls++;
    earlier_sig = sig;
}

START_TEST(stats_signal_chains_to_earlier_handler)
{
    char dir[] = "/tmp/poolshim-chain-XXXXXX", file[64], var[96], pid[48];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/s.json", dir);
    snprintf(var, sizeof var, "POOLSHIM_STATS_FILE=%s", file);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    if (_i == 0) {
        sa.sa_sigaction = earlier_info;
        sa.sa_flags = SA_SIGINFO;
    } else {
        sa.sa_handler = earlier_plain;
    }
    ck_assert_int_eq(sigaction(SIGTERM, &sa, NULL), 0);
    start_with("64:4", false, (const char *const[]){var, "POOLSHIM_STATS_SIGNAL=TERM", NULL});

    void *p = shim_malloc(64);
    ck_assert_int_eq(raise(SIGTERM), 0); /* still alive afterwards */
    ck_assert_int_eq(earlier_calls, 1);
    ck_assert_int_eq(earlier_sig, SIGTERM);
    if (_i == 0)
        ck_assert_int_eq(earlier_code, SI_TKILL);
    char buf[512] = {0};
    int fd = open(file, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_gt(read(fd, buf, sizeof buf - 1), 0);
    close(fd);
    snprintf(pid, sizeof pid, ",\"pid\":%d,", (int)getpid());
    ck_assert_msg(strncmp(buf, "{\"version\":1,", 12) == 0 && strstr(buf, pid) != NULL &&
                      strstr(buf, "\"in_use\":1,") != NULL, "snapshot: %s", buf);
    shim_free(p);
    ck_assert_int_eq(unlink(file), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* the bootstrap arena                                                       */

static bool disjoint(const char *a, size_t an, const char *b, size_t bn)
{
    return a + an <= b || b + bn <= a;
}

START_TEST(boot_blocks)
{
    start("64:2", false);
    static const size_t size[] = {100, 1, 4000, 0, 17, 64};
    static const size_t align[] = {16, 64, 4096, 8, 32, 1};
    char *p[6];
    for (int i = 0; i < 6; i++) {
        p[i] = boot_alloc(size[i], align[i]);
        ck_assert_ptr_nonnull(p[i]);
        ck_assert(boot_owns(p[i]));
        ck_assert_uint_eq(boot_usable(p[i]), size[i]);
        size_t want = align[i] < 16 ? 16 : align[i];
        ck_assert_uint_eq((uintptr_t)p[i] % want, 0);
        for (size_t k = 0; k < size[i]; k++)
            ck_assert_int_eq(p[i][k], 0);
        for (int j = 0; j < i; j++)
            ck_assert(disjoint(p[i], size[i] ? size[i] : 1, p[j],
                               size[j] ? size[j] : 1));
        memset(p[i], 0xa5, size[i]);
    }
    int local;
    void *heap = malloc(16); /* libc's: the harness is not interposed */
    void *pool = shim_malloc(64);
    ck_assert(!boot_owns(&local));
    ck_assert(!boot_owns(heap));
    ck_assert(!boot_owns(pool));
    ck_assert(!boot_owns(NULL));
    free(heap);
    shim_free(pool);
}
END_TEST

START_TEST(boot_exhausts)
{
    start("64:2", false);
    ck_assert_ptr_null(boot_alloc(SIZE_MAX / 2, 16));
    ck_assert_ptr_null(boot_alloc(16, 8192)); /* beyond its alignment */
    size_t total = 0;
    char *last = NULL;
    for (;;) {
        char *p = boot_alloc(1000, 16);
        if (p == NULL)
            break;
        ck_assert(last == NULL || p >= last + 1000);
        last = p;
        total += 1000;
        ck_assert_uint_le(total, 1u << 20);
    }
    ck_assert_uint_ge(total, 64000);
    while (boot_alloc(16, 16) != NULL)
        total += 16;
    ck_assert_ptr_null(boot_alloc(1, 16));
    ck_assert_ptr_null(boot_alloc(0, 16));
    ck_assert_ptr_null(boot_alloc(1000, 16));
}
END_TEST

/* a block of 0 bytes taken when the arena is all but full is still inside it
 * (it once came back one past the end, and free then passed it to libc) */
START_TEST(boot_zero_at_the_end_is_owned)
{
    start("64:2", false);
    ck_assert(boot_owns(boot_alloc(0, 16)));
    char *q;
    while ((q = boot_alloc(16, 16)) != NULL)
        ck_assert(boot_owns(q));
    q = boot_alloc(0, 16);
    ck_assert(q == NULL || boot_owns(q));
}
END_TEST

/* the shim's entry points on bootstrap blocks: free ignores them, realloc
 * moves them, malloc_usable_size reports their size */
START_TEST(boot_through_shim)
{
    start("64:2,256:2", false);
    char *p = boot_alloc(100, 16);
    fill(p, 100, 5);
    ck_assert_uint_eq(shim_malloc_usable_size(p), 100);
    shim_free(p); /* ignored */
    ck_assert(intact(p, 100, 5));
    char *q = shim_realloc(p, 200);
    ck_assert_ptr_nonnull(q);
    ck_assert(!boot_owns(q));
    ck_assert_int_ge(owner(q), 0);
    ck_assert(intact(q, 100, 5));
    char *b = boot_alloc(1000, 16);
    fill(b, 1000, 6);
    char *r = shim_realloc(b, 50); /* a shrink also leaves the arena */
    ck_assert_int_ge(owner(r), 0);
    ck_assert(intact(r, 50, 6));
    shim_free(q);
    shim_free(r);
    ck_assert_uint_eq(available(64), 2);
    ck_assert_uint_eq(available(256), 2);
}
END_TEST

/* With the real free counting: free ignores arena block b (n bytes filled
 * with seed) and sends a block of the real allocator to the real free. */
static void free_skips_the_arena(char *b, size_t n, int seed)
{
    shim_free(b); /* never the real free's */
    ck_assert(intact(b, n, seed));
    ck_assert_uint_eq(frees, 0);
    void *big = shim_malloc(100000);
    ck_assert_ptr_nonnull(big);
    shim_free(big);
    ck_assert_uint_eq(frees, 1);
}

/* A process whose arena gave nothing sends free's foreign pointers straight
 * to the real free; a block the arena gives once the shim is on (a thread
 * that found the real allocator missing a moment before) makes free look out
 * for the arena's blocks from then on. */
START_TEST(boot_block_after_start)
{
    start("64:2", false);
    ck_assert(shim.free_other == real.free);
    count_frees();
    char *b = boot_alloc(100, 16);
    ck_assert(boot_owns(b));
    ck_assert(shim.free_other != real.free);
    fill(b, 100, 7);
    free_skips_the_arena(b, 100, 7);
    void *pooled = shim_malloc(64);
    ck_assert_int_ge(owner(pooled), 0);
    shim_free(pooled);
    ck_assert_uint_eq(frees, 1);
    ck_assert_uint_eq(available(64), 2);
    mend_real();
}
END_TEST

/* A block the arena gave before start-up (while dlsym ran, on an older
 * glibc): free looks out for the arena's blocks once the shim is on. */
START_TEST(boot_block_before_start)
{
    char *b = boot_alloc(64, 16);
    ck_assert(boot_owns(b));
    fill(b, 64, 9);
    start("64:2", false);
    ck_assert(shim.free_other != real.free);
    ck_assert(shim.free_other != shim_free_slow);
    count_frees();
    free_skips_the_arena(b, 64, 9);
    mend_real();
}
END_TEST

/* ------------------------------------------------------------------------ */

static void faults_cases(Suite *s)
{
    TCase *t = add_tcase(s, "real_fails", 20, TC_PLAIN, uncovered_fails,
                         realloc_fails_keeps_block, exhausted_fallback_fails,
                         strict_refuses_without_real, pooled_keep_working);
    tcase_add_loop_test(t, random_faults_never_crash, 0, 2);

    t = add_tcase(s, "edges", 0, TC_PLAIN);
    tcase_add_loop_test(t, calloc_overflow, 0, N(overflow));
    tcase_add_loop_test(t, reallocarray_overflow, 0, N(overflow));
    add_tests(t, realloc_zero_frees, malloc_zero_unique, free_keeps_errno, sized_frees);
    tcase_add_loop_test(t, posix_memalign_einval, 0, N(bad_align));

    t = add_tcase(s, "stats", 0, TC_PLAIN, stats_temp_never_opens_a_taken_name);
    tcase_add_loop_test(t, stats_signal_chains_to_earlier_handler, 0, 2);

    add_tcase(s, "bootstrap", 0, TC_PLAIN, boot_blocks, boot_exhausts,
              boot_zero_at_the_end_is_owned, boot_through_shim, boot_block_after_start,
              boot_block_before_start);
}

/* each case starts its own shim: never share one process (CK_FORK=no) */
TU_SUITE("faults", faults_cases, TU_FORK);
