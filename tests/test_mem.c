/* test_mem.c - pages from the system (pool/mem.h): one Check suite, "mem".
 *
 * The huge page side: mem_reserve_huge() never fails for want of huge pages,
 * hands back an aligned range that is readable and writable over its whole
 * rounded length, tells the truth about its backing (checked against the
 * kernel's own view in /proc/self/smaps), and mem_release_huge() gives all of
 * it back; mem_huge_explain() says, in one line, what the system offers.
 *
 * As root, three more cases change what the system offers: reserved hugetlb
 * pages (vm.nr_hugepages raised for the case by an unchecked fixture, in the
 * runner's process, and restored afterwards whatever the case did), and THP
 * "never" or "always" (a bind mount over the sysfs file, in a private mount
 * namespace of the case's own forked process: nothing outside it sees it).
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pool/mem.h"
#include "pool/report.h"
#include "tests/checkutil.h"
#include "tests/hugeutil.h"

#define MIB ((size_t)1 << 20)

/* whether [p, p + len) is mapped at all */
static bool mapped(void *p, size_t len)
{
    unsigned char vec[1];
    size_t page = mem_page_size();
    for (size_t off = 0; off < len; off += page)
        if (mincore((char *)p + off, page, vec) != 0)
            return false;
    return true;
}

/* Assert that how is what the kernel shows for the range at p, and what the
 * system offered for `bytes` (avail_before: free hugetlb pages then). */
static void check_backing(void *p, size_t bytes, enum mem_huge how, long avail_before)
{
    struct hu_block blk;
    ck_assert_msg(hu_smaps_of(p, &blk), "no smaps block for %p", p);
    char mode[32];
    hu_thp_mode(mode, sizeof mode);
    long needed = (long)(mem_round_up(bytes, MEM_HUGE_PAGE) / MEM_HUGE_PAGE);
    long small_kb = (long)(mem_page_size() / 1024);
    switch (how) {
    case MEM_HUGE_HUGETLB:
        ck_assert_int_eq(blk.kernel_page_kb, 2048);
        break;
    case MEM_HUGE_THP:
        ck_assert_int_eq(blk.kernel_page_kb, small_kb);
        ck_assert_msg(blk.hg, "THP claimed but VmFlags lack hg");
        ck_assert_msg(hu_thp_usable(), "THP claimed with THP mode '%s'", mode);
        ck_assert_msg(avail_before < needed, "THP chosen with %ld hugetlb pages free of %ld",
                      avail_before, needed);
        break;
    case MEM_HUGE_NONE:
        ck_assert_int_eq(blk.kernel_page_kb, small_kb);
        ck_assert_msg(!blk.hg, "no huge pages claimed but VmFlags have hg");
        ck_assert_msg(!hu_thp_usable(), "no huge pages with THP mode '%s'", mode);
        ck_assert_msg(avail_before < needed, "hugetlb pages were free");
        break;
    default:
        ck_abort_msg("how = %d", (int)how);
    }
}

/* Reserve, check alignment, writability of every 2 MiB and the last byte,
 * the backing, commit as a no-op; release and check that all of it is gone. */
static enum mem_huge reserve_use_release(size_t bytes, size_t align)
{
    enum mem_huge how = (enum mem_huge)-1;
    long avail = hu_hugetlb_available();
    char *p = mem_reserve_huge(bytes, align, NULL, 0, &how);
    ck_assert_msg(p != NULL, "mem_reserve_huge(%zu, %zu): %s", bytes, align, strerror(errno));
    size_t want_align = align > MEM_HUGE_PAGE ? align : MEM_HUGE_PAGE;
    ck_assert_msg(((uintptr_t)p & (want_align - 1)) == 0, "%p not %zu-aligned", (void *)p,
                  want_align);
    size_t len = mem_round_up(bytes, MEM_HUGE_PAGE);
    ck_assert(mapped(p, len));
    for (size_t off = 0; off < len; off += MEM_HUGE_PAGE)
        p[off] = (char)(off >> 21);
    p[len - 1] = 0x5a;
    ck_assert_int_eq(mem_commit(p + mem_page_size(), 2 * mem_page_size()), 0);
    ck_assert_int_eq(p[len - 1], 0x5a);
    check_backing(p, bytes, how, avail);
    mem_release_huge(p, bytes);
    ck_assert_msg(!mapped(p, mem_page_size()) && !mapped(p + len - mem_page_size(),
                                                         mem_page_size()),
                  "range still mapped after mem_release_huge");
    return how;
}

/* ---- cases for any user ---- */

static const struct {
    size_t bytes, align;
} shapes[] = {
    {1, 0}, {3 * MIB + 5, 4096}, {2 * MIB, 8 * MIB}, {10 * MIB, 2 * MIB}, {64 * MIB, 1 * MIB},
};

START_TEST(reserve_huge_shapes)
{
    reserve_use_release(shapes[_i].bytes, shapes[_i].align);
}
END_TEST

START_TEST(reserve_huge_overflow)
{
    enum mem_huge how = MEM_HUGE_THP;
    errno = 0;
    ck_assert_ptr_null(mem_reserve_huge(SIZE_MAX - MIB, 0, NULL, 0, &how));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_int_eq(how, MEM_HUGE_NONE);
    errno = 0;
    ck_assert_ptr_null(mem_reserve_huge(0, 0, NULL, 0, &how));
    ck_assert_int_eq(errno, ENOMEM);
}
END_TEST

/* Prefault and lock work on the range (MADV_POPULATE_WRITE, mlock), and the
 * prefault leaves the range's contents alone. */
START_TEST(reserve_huge_prefault_lock)
{
    enum mem_huge how;
    size_t bytes = 4 * MIB;
    char *p = mem_reserve_huge(bytes, 0, NULL, 0, &how);
    ck_assert_ptr_nonnull(p);
    memset(p, 0x33, 4096);
    mem_prefault(p, bytes);
    ck_assert_int_eq(p[0], 0x33);
    ck_assert_int_eq(p[bytes - 1], 0);
    if (mem_lock(p, 4096) != 0)
        ck_assert_int_eq(errno, ENOMEM); /* only RLIMIT_MEMLOCK may refuse */
    mem_release_huge(p, bytes);
}
END_TEST

/* The explanation: one line, exactly the figures the files hold. */
START_TEST(explain_line)
{
    struct rbuf b = {0};
    size_t bytes = 12 * MIB + 1;
    mem_huge_explain(&b, bytes);
    const char *got = rb_cstr(&b);
    ck_assert_ptr_null(strchr(got, '\n'));
    char want[512], mode[32];
    long nr = hu_read_long(HU_HUGETLB_DIR "nr_hugepages"), avail = hu_hugetlb_available();
    int n = 0;
    if (nr < 0)
        n = snprintf(want, sizeof want, "hugetlb pages: none in this kernel");
    else
        n = snprintf(want, sizeof want,
                     "hugetlb pages: %ld free of the 7 needed (vm.nr_hugepages is %ld)",
                     avail > 0 ? avail : 0, nr);
    hu_thp_mode(mode, sizeof mode);
    if (mode[0] == '\0')
        snprintf(want + n, sizeof want - (size_t)n,
                 "; transparent huge pages: none in this kernel");
    else
        snprintf(want + n, sizeof want - (size_t)n,
                 "; transparent huge pages: %s (" HU_THP_ENABLED ")", mode);
    ck_assert_str_eq(got, want);
}
END_TEST

START_TEST(names)
{
    ck_assert_str_eq(mem_huge_name(MEM_HUGE_NONE), "none");
    ck_assert_str_eq(mem_huge_name(MEM_HUGE_HUGETLB), "hugetlb");
    ck_assert_str_eq(mem_huge_name(MEM_HUGE_THP), "transparent");
}
END_TEST

/* ---- root: reserved hugetlb pages for the case ---- */

/* With pages free, hugetlb is chosen; the pages are taken while the range
 * lives (4 for 7 MiB, whatever the alignment: the trimmed over-map gives its
 * extra pages back) and all return at release. */
START_TEST(hugetlb_when_reserved)
{
    long avail;
    ck_skip_if("hugetlb_when_reserved", hu_hugetlb_unready(&avail));
    for (int i = 0; i < 2; i++) {
        enum mem_huge how;
        size_t align = i == 0 ? 0 : 16 * MIB;
        char *p = mem_reserve_huge(7 * MIB, align, NULL, 0, &how);
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(how, MEM_HUGE_HUGETLB);
        ck_assert_int_eq(hu_hugetlb_available(), avail - 4);
        mem_prefault(p, 7 * MIB);
        ck_assert_int_eq(hu_read_long(HU_HUGETLB_DIR "free_hugepages"),
                         hu_read_long(HU_HUGETLB_DIR "nr_hugepages") - 4);
        ck_assert_int_eq(mem_lock(p, 3 * MIB), 0);
        mem_release_huge(p, 7 * MIB);
        ck_assert_int_eq(hu_hugetlb_available(), avail);
    }
    /* more than is free: transparent pages or none, never a failure */
    ck_assert(reserve_use_release((size_t)(avail + 1) * MEM_HUGE_PAGE, 0) != MEM_HUGE_HUGETLB);
}
END_TEST

/* ---- root: THP mode faked in a private mount namespace ---- */

/* false when this machine does not let root make a mount namespace (a
 * container without CAP_SYS_ADMIN, a read-only /sys): the case skips */
static bool fake_thp(const char *mode)
{
    char seen[32];
    if (!hu_fake_thp(mode)) {
        ck_assert_msg(errno == EPERM || errno == EACCES || errno == EROFS,
                      "faking THP '%s': %s", mode, strerror(errno));
        return false;
    }
    hu_thp_mode(seen, sizeof seen);
    ck_assert_str_eq(seen, mode);
    return true;
}

/* THP "never" and too few hugetlb pages: ordinary pages, said so, no failure */
START_TEST(thp_never_gives_none)
{
    if (!hu_can_change_system() || !fake_thp("never"))
        ck_skip("thp_never_gives_none", "needs root and a mount namespace");
    size_t bytes = (size_t)(hu_hugetlb_available() + 1) * MEM_HUGE_PAGE;
    ck_assert_int_eq(reserve_use_release(bytes, 0), MEM_HUGE_NONE);
    struct rbuf b = {0};
    mem_huge_explain(&b, bytes);
    ck_assert_ptr_nonnull(strstr(rb_cstr(&b), "; transparent huge pages: never ("));
}
END_TEST

START_TEST(thp_always_gives_thp)
{
    if (!hu_can_change_system() || !fake_thp("always"))
        ck_skip("thp_always_gives_thp", "needs root and a mount namespace");
    size_t bytes = (size_t)(hu_hugetlb_available() + 1) * MEM_HUGE_PAGE;
    ck_assert_int_eq(reserve_use_release(bytes, 0), MEM_HUGE_THP);
}
END_TEST

/* What hugetlb would take for runs: each rounded out to whole 2 MiB pages,
 * overlapping and touching ones once, nothing past the range; no runs: all. */
START_TEST(huge_need_of_runs)
{
    const struct mem_run one[] = {{100, 4096}, {32 * MIB + 100, 3 * MIB}};
    ck_assert_uint_eq(mem_huge_need(64 * MIB, one, 2), 6 * MIB);
    const struct mem_run touching[] = {{0, MIB}, {MIB + MIB / 2, MIB}, {4 * MIB, 1}};
    ck_assert_uint_eq(mem_huge_need(64 * MIB, touching, 3), 6 * MIB);
    const struct mem_run past[] = {{60 * MIB, 8 * MIB}, {70 * MIB, MIB}};
    ck_assert_uint_eq(mem_huge_need(64 * MIB, past, 2), 4 * MIB);
    const struct mem_run empty[] = {{2 * MIB, 0}};
    ck_assert_uint_eq(mem_huge_need(64 * MIB, empty, 1), 0);
    ck_assert_uint_eq(mem_huge_need(7 * MIB, NULL, 0), 8 * MIB);
}
END_TEST

/* whether the kernel can read [p, p + 1): write(2) from an inaccessible
 * address fails with EFAULT instead of a signal */
static bool readable(const char *p)
{
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    ssize_t n = write(fd[1], p, 1);
    int err = errno;
    close(fd[0]);
    close(fd[1]);
    ck_assert(n == 1 || err == EFAULT);
    return n == 1;
}

/* hugetlb pages for the used runs only: a range of 64 MiB (32 pages, more
 * than are free) whose runs take 3 gets them, the rest inaccessible; runs
 * that need more than are free get transparent pages or none, and nothing
 * stays reserved. */
START_TEST(hugetlb_for_runs_only)
{
    long avail;
    ck_skip_if("hugetlb_for_runs_only", hu_hugetlb_unready(&avail));
    ck_assert_int_lt(avail, 32);
    const struct mem_run used[] = {{100, 4096}, {32 * MIB + 100, 3 * MIB}};
    enum mem_huge how;
    char *p = mem_reserve_huge(64 * MIB, 0, used, 2, &how);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(how, MEM_HUGE_HUGETLB);
    ck_assert_int_eq(hu_hugetlb_available(), avail - 3);
    memset(p, 1, 2 * MIB);
    memset(p + 32 * MIB, 2, 4 * MIB);
    ck_assert(mapped(p + 32 * MIB, MIB));
    struct hu_block blk;
    ck_assert(hu_smaps_of(p + 32 * MIB, &blk));
    ck_assert_int_eq(blk.kernel_page_kb, 2048);
    ck_assert_int_eq(mem_commit(p + mem_page_size(), mem_page_size()), 0);
    ck_assert(readable(p + 2 * MIB - 1) && readable(p + 36 * MIB - 1));
    ck_assert(!readable(p + 2 * MIB) && !readable(p + 31 * MIB) && !readable(p + 36 * MIB) &&
              !readable(p + 64 * MIB - 1));
    mem_release_huge(p, 64 * MIB);
    ck_assert_int_eq(hu_hugetlb_available(), avail);
    ck_assert(!mapped(p, mem_page_size()) && !mapped(p + 32 * MIB, mem_page_size()));

    const struct mem_run many[] = {{0, (size_t)(avail + 1) * MEM_HUGE_PAGE}};
    p = mem_reserve_huge(64 * MIB, 0, many, 1, &how);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_ne(how, MEM_HUGE_HUGETLB);
    ck_assert_int_eq(hu_hugetlb_available(), avail);
    mem_release_huge(p, 64 * MIB);
}
END_TEST

static void mem_cases(Suite *s)
{
    TCase *tc = add_tcase(s, "huge", 0, TC_PLAIN);
    tcase_add_loop_test(tc, reserve_huge_shapes, 0, N(shapes));
    add_tests(tc, reserve_huge_overflow, reserve_huge_prefault_lock, explain_line, names,
              huge_need_of_runs);
    /* root only (they say SKIP otherwise) */
    TCase *root = add_tcase(s, "huge-root", 0, TC_PLAIN);
    tcase_add_unchecked_fixture(root, hu_hugetlb_setup, hu_hugetlb_restore);
    add_tests(root, hugetlb_when_reserved, hugetlb_for_runs_only, thp_never_gives_none,
              thp_always_gives_thp);
}

TU_SUITE("mem", mem_cases, 0);
