/* test_hugepages.c - POOLSHIM_HUGEPAGES under the preloaded shim: one Check
 * suite, "hugepages".
 *
 * The helper tests/helpers/hugepages.c mallocs objects of a pooled size and
 * reports the pages its first object sits on, as /proc/self/smaps shows
 * them. The option is off by default; on, the pools sit on reserved hugetlb
 * pages when enough are free, else on transparent huge pages, else on
 * ordinary pages with one line on stderr that says why; the program runs
 * normally in every case, with every other option.
 *
 * As root, the cases that need a given system state make it: reserved
 * hugetlb pages (an unchecked fixture raises vm.nr_hugepages, restores it),
 * THP "never" (a bind mount in the forked case's own mount namespace, which
 * the helper inherits). Elsewhere they print SKIP.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tests/checkutil.h"
#include "tests/hugeutil.h"

#define CLASS_SIZE "64"
#define OBJECTS "1000"

static const char *const msg_head = "poolshim: POOLSHIM_HUGEPAGES=1: no 2 MiB pages for the pools (";
static const char *const msg_tail =
    "; transparent huge pages: never (" HU_THP_ENABLED
    ")); the pools use 4 KiB pages, everything else is on\n";

/* POOLSHIM_CLASSES for one class of 64-byte objects spanning `pages` 2 MiB
 * pages, in a string that lives until the next call */
static const char *classes_for(long pages)
{
    static char buf[64];
    snprintf(buf, sizeof buf, "POOLSHIM_CLASSES=64:%ld", pages * (long)(HU_HUGE_PAGE / 64));
    return buf;
}

static void run_helper(struct tu_proc *p, const char *classes, const char *extra)
{
    const char *vars[] = {classes, "POOLSHIM_HUGEPAGES=1", extra, NULL};
    run_shim(p, vars, LIST("hugepages", CLASS_SIZE, OBJECTS));
    ck_exit(p, 0);
    ck_kv(p, "usable", CLASS_SIZE);
}

START_TEST(off_by_default)
{
    struct tu_proc p;
    run_shim(&p, LIST(classes_for(2)), LIST("hugepages", CLASS_SIZE, OBJECTS));
    ck_clean(&p);
    ck_kv(&p, "usable", CLASS_SIZE);
    ck_kv(&p, "thp_advised", "0");
    ck_kv_num(&p, "kernel_page_kb", tu_page_size() / 1024);
    tu_proc_free(&p);
}
END_TEST

/* Whatever this machine offers, the pools take the best of it, and say so
 * only when it is nothing; with each other option too. */
static const char *const with[] = {
    NULL, "POOLSHIM_CHECK=1", "POOLSHIM_CACHE=0", "POOLSHIM_PREFAULT=0",
    "POOLSHIM_MLOCK=1", "POOLSHIM_STRICT=1",
};

START_TEST(on_takes_what_there_is)
{
    long avail = hu_hugetlb_available();
    struct tu_proc p;
    run_helper(&p, classes_for(2), with[_i]);
    bool hugetlb = tu_kv_num(p.out, "kernel_page_kb", 0) == 2048;
    /* 2 pages for the objects; the span may round up to a few more */
    ck_assert_msg(hugetlb ? avail >= 2 : avail < 4, "hugetlb %d with %ld pages free; %s",
                  hugetlb, avail, tu_describe(&p));
    if (hugetlb) {
        ck_quiet_stderr(&p);
    } else if (hu_thp_usable()) {
        ck_kv(&p, "thp_advised", "1");
        ck_kv_num(&p, "kernel_page_kb", tu_page_size() / 1024);
        ck_quiet_stderr(&p);
    } else {
        ck_kv(&p, "thp_advised", "0");
        ck_assert_msg(strncmp(p.err, msg_head, strlen(msg_head)) == 0 &&
                      tu_count_lines(p.err) == 1, "stderr: %s", p.err);
    }
    tu_proc_free(&p);
}
END_TEST

START_TEST(verbose_says_which)
{
    struct tu_proc p;
    run_helper(&p, classes_for(2), "POOLSHIM_VERBOSE=1");
    const char *want = tu_kv_num(p.out, "kernel_page_kb", 0) == 2048
                           ? "the pools are on hugetlb pages"
                       : hu_thp_usable() ? "the pools are on transparent huge pages"
                                         : msg_head;
    ck_assert_msg(strstr(p.err, want) != NULL, "want '%s' in stderr: %s", want, p.err);
    tu_proc_free(&p);
}
END_TEST

START_TEST(bad_value)
{
    struct tu_proc p;
    run_shim(&p, LIST(classes_for(2), "POOLSHIM_HUGEPAGES=maybe"),
             LIST("hugepages", CLASS_SIZE, OBJECTS));
    ck_exit(&p, 0);
    ck_assert_msg(strstr(p.err, "POOLSHIM_HUGEPAGES=\"maybe\"") != NULL &&
                  strstr(p.err, "poolshim is off") != NULL && tu_count_lines(p.err) == 1,
                  "stderr: %s", p.err);
    tu_proc_free(&p);
}
END_TEST

/* ---- root ---- */

START_TEST(hugetlb_when_reserved)
{
    long avail;
    ck_skip_if("hugetlb_when_reserved", hu_hugetlb_unready(&avail));
    struct tu_proc p;
    run_helper(&p, classes_for(2), NULL);
    ck_quiet_stderr(&p);
    ck_kv(&p, "kernel_page_kb", "2048");
    tu_proc_free(&p);
    ck_assert_int_eq(hu_hugetlb_available(), avail); /* all given back at exit */
}
END_TEST

/* hugetlb pages for the objects only: six small classes and one of four
 * 1 MiB objects make 7 slices of 4 MiB (14 pages, more than the case's 12
 * free), whose objects take 8 pages; verbose says how many. */
START_TEST(hugetlb_for_objects_only)
{
    long avail;
    ck_skip_if("hugetlb_for_objects_only", hu_hugetlb_unready(&avail));
    ck_assert_int_lt(avail, 14);
    struct tu_proc p;
    run_helper(&p, "POOLSHIM_CLASSES=16:1,32:1,48:1,64:1000,80:1,96:1,1m:4",
               "POOLSHIM_VERBOSE=1");
    ck_kv(&p, "kernel_page_kb", "2048");
    ck_assert_msg(strstr(p.err, "the pools are on hugetlb pages (8 reserved pages of 2 MiB)"),
                  "stderr: %s", p.err);
    tu_proc_free(&p);
    ck_assert_int_eq(hu_hugetlb_available(), avail);
}
END_TEST

/* Neither kind: the pools work on ordinary pages, and one line says why
 * with the figures this system has. */
START_TEST(neither_says_why)
{
    if (!hu_can_change_system())
        ck_skip("neither_says_why", "needs root (a mount namespace)");
    if (!hu_fake_thp("never")) {
        ck_assert_msg(errno == EPERM || errno == EACCES || errno == EROFS, "faking THP: %s",
                      strerror(errno));
        ck_skip("neither_says_why", "this machine refuses a mount namespace (%s)",
                strerror(errno));
    }
    long avail = hu_hugetlb_available(), pages = avail + 2;
    struct tu_proc p;
    run_helper(&p, classes_for(pages), NULL);
    ck_kv(&p, "thp_advised", "0");
    ck_kv_num(&p, "kernel_page_kb", tu_page_size() / 1024);
    size_t head = strlen(msg_head), tail = strlen(msg_tail);
    ck_assert_msg(tu_count_lines(p.err) == 1 && strncmp(p.err, msg_head, head) == 0 &&
                  p.err_len > head + tail && strcmp(p.err + p.err_len - tail, msg_tail) == 0,
                  "stderr: %s", p.err);
    long free_pages = -1, needed = -1, nr = -1;
    ck_assert_int_eq(sscanf(p.err + head, "hugetlb pages: %ld free of the %ld needed "
                            "(vm.nr_hugepages is %ld)", &free_pages, &needed, &nr), 3);
    ck_assert_int_eq(free_pages, avail);
    ck_assert_int_ge(needed, pages);
    ck_assert_int_eq(nr, hu_read_long(HU_HUGETLB_DIR "nr_hugepages"));
    tu_proc_free(&p);
}
END_TEST

static void hugepages_cases(Suite *s)
{
    TCase *tc = add_tcase(s, "option", 30, TC_PLAIN);
    tcase_add_unchecked_fixture(tc, hu_hugetlb_hold, hu_hugetlb_restore);
    add_tests(tc, off_by_default);
    tcase_add_loop_test(tc, on_takes_what_there_is, 0, N(with));
    add_tests(tc, verbose_says_which, bad_value, neither_says_why);
    TCase *root = add_tcase(s, "hugetlb", 30, TC_PLAIN);
    tcase_add_unchecked_fixture(root, hu_hugetlb_setup, hu_hugetlb_restore);
    add_tests(root, hugetlb_when_reserved, hugetlb_for_objects_only);
}

TU_SUITE("hugepages", hugepages_cases, TU_SHIM);
