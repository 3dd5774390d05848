/* hugeutil.h - what the system offers in huge pages, read independently of
 * pool/mem.c (stdio, sysfs, /proc/self/smaps), and the root-only means to
 * change it for a test: more reserved hugetlb pages (vm.nr_hugepages raised
 * and restored, under a lock shared by every suite), or a faked THP mode
 * (a bind mount over the sysfs file in a private mount namespace, seen only
 * by the calling process and its children).
 *
 * For test_mem.c, test_hugepages.c and the helper programs: no Check here;
 * functions return what they found and the caller asserts. The bodies are
 * in hugeutil.c (linked into every suite and into helpers/hugepages).
 */
#ifndef TESTS_HUGEUTIL_H
#define TESTS_HUGEUTIL_H

#include <stdbool.h>
#include <stddef.h>

#define HU_HUGE_PAGE ((size_t)2 << 20)
#define HU_HUGETLB_DIR "/sys/kernel/mm/hugepages/hugepages-2048kB/"
#define HU_THP_ENABLED "/sys/kernel/mm/transparent_hugepage/enabled"
#define HU_THP_2M_ENABLED "/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/enabled"

/* the number a file starts with, -1 when there is none */
long hu_read_long(const char *path);

/* free hugetlb pages that no mapping has reserved */
long hu_hugetlb_available(void);

/* the bracketed word of a sysfs choice file, "" when missing */
void hu_read_choice(const char *path, char *out, size_t size);

/* the THP mode for 2 MiB pages: the per-size one unless "inherit" */
void hu_thp_mode(char *out, size_t size);

/* whether THP can be had for 2 MiB pages (the mode is not "never") */
bool hu_thp_usable(void);

/* The smaps block of the mapping that holds p: its KernelPageSize and
 * AnonHugePages plus Private_Hugetlb in kB, and whether its VmFlags have
 * "hg" (MADV_HUGEPAGE). False when not found. */
struct hu_block {
    long kernel_page_kb, huge_kb;
    bool hg;
};

bool hu_smaps_of(const void *p, struct hu_block *out);

/* ---- root only ---- */

/* whether this process may change vm.nr_hugepages and the THP mode */
bool hu_can_change_system(void);

/* v written to path; false on failure */
bool hu_write_long(const char *path, long v);

/* Raise vm.nr_hugepages by `extra` (for an unchecked fixture, in the
 * runner's process) and put it back; the lock keeps two suites that run at
 * once from restoring each other's count. */
void hu_hugetlb_raise(long extra);
void hu_hugetlb_restore(void);

/* The hugetlb pages the suites' cases that reserve some ask for: test_mem's
 * 7 MiB aligned to 16 MiB take 4 + 7 while the over-map lives. */
#define HU_CASE_PAGES 12

/* Unchecked fixtures (undone by hu_hugetlb_restore): hu_hugetlb_setup raises
 * vm.nr_hugepages by HU_CASE_PAGES; hu_hugetlb_hold changes nothing but
 * takes the lock, so that no other suite changes the count meanwhile. */
void hu_hugetlb_setup(void);
void hu_hugetlb_hold(void);

/* In a case under hu_hugetlb_setup: NULL with the free hugetlb pages in
 * *avail, or why the case cannot run (not root, or the kernel gave fewer
 * than HU_CASE_PAGES pages), in a static string. */
const char *hu_hugetlb_unready(long *avail);

/* A file holding `line`, bind-mounted over `target`; false on failure. */
bool hu_bind_text(const char *line, const char *target);

/* Make this process (and what it starts) see THP mode `mode` ("always",
 * "madvise" or "never") for 2 MiB pages. False, with errno, on failure. */
bool hu_fake_thp(const char *mode);

#endif
