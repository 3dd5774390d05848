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
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>

#include "pool/mem.h"
#include "pool/report.h"

#define MIB ((size_t)1 << 20)
#define HUGETLB_DIR "/sys/kernel/mm/hugepages/hugepages-2048kB/"
#define THP_ENABLED "/sys/kernel/mm/transparent_hugepage/enabled"
#define THP_2M_ENABLED "/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/enabled"

/* ---- what the system offers, read with stdio (independently of mem.c) ---- */

static long read_long(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f != NULL) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* free hugetlb pages that nobody has reserved */
static long hugetlb_available(void)
{
    long f = read_long(HUGETLB_DIR "free_hugepages"), r = read_long(HUGETLB_DIR "resv_hugepages");
    return f < 0 ? 0 : f - (r > 0 ? r : 0);
}

/* the bracketed word of a sysfs choice file, "" when missing */
static void read_choice(const char *path, char *out, size_t size)
{
    char line[256] = "";
    FILE *f = fopen(path, "r");
    out[0] = '\0';
    if (f == NULL)
        return;
    if (fgets(line, sizeof line, f) != NULL) {
        char *a = strchr(line, '['), *b = a ? strchr(a, ']') : NULL;
        if (b != NULL && (size_t)(b - a) <= size) {
            memcpy(out, a + 1, (size_t)(b - a - 1));
            out[b - a - 1] = '\0';
        }
    }
    fclose(f);
}

static void thp_mode(char *out, size_t size)
{
    read_choice(THP_2M_ENABLED, out, size);
    if (out[0] == '\0' || strcmp(out, "inherit") == 0)
        read_choice(THP_ENABLED, out, size);
}

/* The smaps block of the mapping that holds p: its KernelPageSize in kB and
 * whether its VmFlags have "hg" (MADV_HUGEPAGE). False when not found. */
static bool smaps_of(const void *p, long *kernel_page_kb, bool *hg)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    bool inside = false, found = false;
    uintptr_t a = (uintptr_t)p;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = a >= lo && a < hi;
            continue;
        }
        if (!inside)
            continue;
        if (sscanf(line, "KernelPageSize: %ld kB", kernel_page_kb) == 1)
            found = true;
        if (strncmp(line, "VmFlags:", 8) == 0)
            *hg = strstr(line, " hg") != NULL;
    }
    fclose(f);
    return found;
}

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

/* Assert that *how is what the kernel shows for the range at p, and what the
 * system offered for `bytes`. */
static void check_backing(void *p, size_t bytes, enum mem_huge how, long avail_before)
{
    long kpage = 0;
    bool hg = false;
    ck_assert_msg(smaps_of(p, &kpage, &hg), "no smaps block for %p", p);
    char mode[32];
    thp_mode(mode, sizeof mode);
    bool thp_ok = mode[0] != '\0' && strcmp(mode, "never") != 0;
    long needed = (long)(mem_round_up(bytes, MEM_HUGE_PAGE) / MEM_HUGE_PAGE);
    switch (how) {
    case MEM_HUGE_HUGETLB:
        ck_assert_int_eq(kpage, 2048);
        break;
    case MEM_HUGE_THP:
        ck_assert_int_eq(kpage, (long)(mem_page_size() / 1024));
        ck_assert_msg(hg, "THP claimed but VmFlags lack hg");
        ck_assert_msg(thp_ok, "THP claimed with THP mode '%s'", mode);
        ck_assert_msg(avail_before < needed, "THP chosen with %ld hugetlb pages free of %ld",
                      avail_before, needed);
        break;
    case MEM_HUGE_NONE:
        ck_assert_int_eq(kpage, (long)(mem_page_size() / 1024));
        ck_assert_msg(!hg, "no huge pages claimed but VmFlags have hg");
        ck_assert_msg(!thp_ok, "no huge pages with THP mode '%s'", mode);
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
    long avail = hugetlb_available();
    char *p = mem_reserve_huge(bytes, align, &how);
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
    ck_assert_ptr_null(mem_reserve_huge(SIZE_MAX - MIB, 0, &how));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_int_eq(how, MEM_HUGE_NONE);
    errno = 0;
    ck_assert_ptr_null(mem_reserve_huge(0, 0, &how));
    ck_assert_int_eq(errno, ENOMEM);
}
END_TEST

/* Prefault and lock work on the range (MADV_POPULATE_WRITE, mlock), and the
 * prefault leaves the range's contents alone. */
START_TEST(reserve_huge_prefault_lock)
{
    enum mem_huge how;
    size_t bytes = 4 * MIB;
    char *p = mem_reserve_huge(bytes, 0, &how);
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
    long nr = read_long(HUGETLB_DIR "nr_hugepages"), avail = hugetlb_available();
    int n = 0;
    if (nr < 0)
        n = snprintf(want, sizeof want, "hugetlb pages: none in this kernel");
    else
        n = snprintf(want, sizeof want,
                     "hugetlb pages: %ld free of the 7 needed (vm.nr_hugepages is %ld)",
                     avail > 0 ? avail : 0, nr);
    thp_mode(mode, sizeof mode);
    if (mode[0] == '\0')
        snprintf(want + n, sizeof want - (size_t)n,
                 "; transparent huge pages: none in this kernel");
    else
        snprintf(want + n, sizeof want - (size_t)n,
                 "; transparent huge pages: %s (" THP_ENABLED ")", mode);
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

#define EXTRA_PAGES 12 /* 4 + 7: the over-map of 7 MiB aligned to 16 MiB */
static long nr_saved = -1;
static int lock_fd = -1; /* two suites at once would restore each other's count */

static bool write_long(const char *path, long v)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return false;
    bool ok = fprintf(f, "%ld\n", v) > 0;
    return fclose(f) == 0 && ok;
}

static void hugetlb_setup(void)
{
    lock_fd = open("/tmp/poolshim-test-hugetlb.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd >= 0)
        flock(lock_fd, LOCK_EX);
    nr_saved = read_long(HUGETLB_DIR "nr_hugepages");
    if (nr_saved >= 0)
        write_long(HUGETLB_DIR "nr_hugepages", nr_saved + EXTRA_PAGES);
}

static void hugetlb_teardown(void)
{
    if (nr_saved >= 0)
        write_long(HUGETLB_DIR "nr_hugepages", nr_saved);
    if (lock_fd >= 0)
        close(lock_fd); /* drops the lock */
}

/* With pages free, hugetlb is chosen; the pages are taken while the range
 * lives (4 for 7 MiB, whatever the alignment: the trimmed over-map gives its
 * extra pages back) and all return at release. */
START_TEST(hugetlb_when_reserved)
{
    long avail = hugetlb_available();
    ck_assert_msg(avail >= EXTRA_PAGES, "only %ld hugetlb pages free after raising "
                  "nr_hugepages (memory too fragmented?)", avail);
    for (int i = 0; i < 2; i++) {
        enum mem_huge how;
        size_t align = i == 0 ? 0 : 16 * MIB;
        char *p = mem_reserve_huge(7 * MIB, align, &how);
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(how, MEM_HUGE_HUGETLB);
        ck_assert_int_eq(hugetlb_available(), avail - 4);
        mem_prefault(p, 7 * MIB);
        ck_assert_int_eq(read_long(HUGETLB_DIR "free_hugepages"),
                         read_long(HUGETLB_DIR "nr_hugepages") - 4);
        ck_assert_int_eq(mem_lock(p, 3 * MIB), 0);
        mem_release_huge(p, 7 * MIB);
        ck_assert_int_eq(hugetlb_available(), avail);
    }
    /* more than is free: transparent pages or none, never a failure */
    ck_assert(reserve_use_release((size_t)(avail + 1) * MEM_HUGE_PAGE, 0) != MEM_HUGE_HUGETLB);
}
END_TEST

/* ---- root: THP mode faked in a private mount namespace ---- */

static void fake_thp(const char *mode)
{
    ck_assert_msg(unshare(CLONE_NEWNS) == 0, "unshare: %s", strerror(errno));
    ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    char path[] = "/tmp/test_mem_thp.XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    /* "always [madvise] never" with the brackets around `mode` */
    static const char *const words[] = {"always", "madvise", "never"};
    char line[96];
    int n = 0;
    for (int i = 0; i < 3; i++) {
        bool chosen = strcmp(mode, words[i]) == 0;
        n += snprintf(line + n, sizeof line - (size_t)n, "%s%s%s%s", i ? " " : "",
                      chosen ? "[" : "", words[i], chosen ? "]" : "");
    }
    n += snprintf(line + n, sizeof line - (size_t)n, "\n");
    ck_assert_int_eq(write(fd, line, (size_t)n), n);
    close(fd);
    ck_assert_msg(mount(path, THP_ENABLED, NULL, MS_BIND, NULL) == 0, "bind mount: %s",
                  strerror(errno));
    if (access(THP_2M_ENABLED, F_OK) == 0) {
        char path2[] = "/tmp/test_mem_thp2.XXXXXX";
        fd = mkstemp(path2);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "always [inherit] madvise never\n", 31), 31);
        close(fd);
        ck_assert_int_eq(mount(path2, THP_2M_ENABLED, NULL, MS_BIND, NULL), 0);
        unlink(path2);
    }
    unlink(path);
    char seen[32];
    thp_mode(seen, sizeof seen);
    ck_assert_str_eq(seen, mode);
}

/* THP "never" and too few hugetlb pages: ordinary pages, said so, no failure */
START_TEST(thp_never_gives_none)
{
    fake_thp("never");
    size_t bytes = (size_t)(hugetlb_available() + 1) * MEM_HUGE_PAGE;
    ck_assert_int_eq(reserve_use_release(bytes, 0), MEM_HUGE_NONE);
    struct rbuf b = {0};
    mem_huge_explain(&b, bytes);
    ck_assert_ptr_nonnull(strstr(rb_cstr(&b), "; transparent huge pages: never ("));
}
END_TEST

START_TEST(thp_always_gives_thp)
{
    fake_thp("always");
    size_t bytes = (size_t)(hugetlb_available() + 1) * MEM_HUGE_PAGE;
    ck_assert_int_eq(reserve_use_release(bytes, 0), MEM_HUGE_THP);
}
END_TEST

static bool can_change_system(void)
{
    return geteuid() == 0 && access(HUGETLB_DIR "nr_hugepages", W_OK) == 0 &&
           access(THP_ENABLED, F_OK) == 0;
}

static Suite *mem_suite(void)
{
    Suite *s = suite_create("mem");
    TCase *tc = tcase_create("huge");
    tcase_add_loop_test(tc, reserve_huge_shapes, 0, (int)(sizeof shapes / sizeof shapes[0]));
    tcase_add_test(tc, reserve_huge_overflow);
    tcase_add_test(tc, reserve_huge_prefault_lock);
    tcase_add_test(tc, explain_line);
    tcase_add_test(tc, names);
    suite_add_tcase(s, tc);
    if (can_change_system()) {
        TCase *root = tcase_create("huge-root");
        tcase_add_unchecked_fixture(root, hugetlb_setup, hugetlb_teardown);
        tcase_add_test(root, hugetlb_when_reserved);
        suite_add_tcase(s, root);
        TCase *ns = tcase_create("thp-faked");
        tcase_add_test(ns, thp_never_gives_none);
        tcase_add_test(ns, thp_always_gives_thp);
        suite_add_tcase(s, ns);
    } else {
        fprintf(stderr, "test_mem: not root (or no hugetlb/THP in this kernel): the cases "
                        "that change vm.nr_hugepages or fake the THP mode are not run\n");
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mem_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
