/* test_warn.c - POOLSHIM_WARN (shim/warn.c): one line on stderr the first
 * time each class runs dry, naming the class, its capacity and what to raise
 * it to; at most one line a second; never on stdout; off by default.
 *
 * The helper live_hold reads its commands from a file here (alloc SIZE N
 * keeps N blocks; sleep MS) and answers "ok" on stdout for each.
 *
 * Needs TEST_SHIM_LIB and TEST_HELPERS (scripts/run-tests sets them).
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/checkutil.h"

#define CLASSES "POOLSHIM_CLASSES=64:100,256:10"
#define TAIL " (said once per class; POOLSHIM_WARN=0 silences it)\n"
#define LINE_64                                                                \
    "poolshim: class 64 ran dry (capacity 100): requests of 0 to 64 bytes "    \
    "fall back to the system allocator; raise it to 64:200, e.g. "             \
    "POOLSHIM_CLASSES=64:200,256:10" TAIL
#define LINE_256                                                               \
    "poolshim: class 256 ran dry (capacity 10): requests of 65 to 256 bytes "  \
    "fall back to the system allocator; raise it to 256:20, e.g. "             \
    "POOLSHIM_CLASSES=64:100,256:20" TAIL

/* 300 requests of a 100-object class: 200 fall back, one line. */
START_TEST(warn_once_per_class)
{
    struct tu_proc p;
    run_commands(&p, LIST(CLASSES, "POOLSHIM_WARN=1"), "alloc 64 300\nalloc 64 50\n");
    ck_exit(&p, 0);
    ck_assert_str_eq(p.out, "ok\nok\n"); /* nothing of ours on stdout */
    ck_assert_str_eq(p.err, LINE_64);
    tu_proc_free(&p);
}
END_TEST

START_TEST(warn_strict_says_refused)
{
    struct tu_proc p;
    run_commands(&p, LIST(CLASSES, "POOLSHIM_WARN=1", "POOLSHIM_STRICT=1"), "alloc 256 11\n");
    ck_exit(&p, 0);
    ck_assert_str_eq(p.err, "poolshim: class 256 ran dry (capacity 10): requests of 65 to 256 "
                            "bytes are refused (NULL, ENOMEM); raise it to 256:20, e.g. "
                            "POOLSHIM_CLASSES=64:100,256:20" TAIL);
    tu_proc_free(&p);
}
END_TEST

/* Two classes dry within a second: the second one's line waits for its
 * next dry request a second later; without one, it never comes. */
START_TEST(warn_rate_limited)
{
    struct tu_proc p;
    run_commands(&p, LIST(CLASSES, "POOLSHIM_WARN=1"), "alloc 64 101\nalloc 256 11\n");
    ck_exit(&p, 0);
    ck_assert_str_eq(p.err, LINE_64);
    tu_proc_free(&p);

    run_commands(&p, LIST(CLASSES, "POOLSHIM_WARN=1"),
         "alloc 64 101\nalloc 256 11\nsleep 1100\nalloc 256 1\nalloc 64 5\n");
    ck_exit(&p, 0);
    ck_assert_str_eq(p.err, LINE_64 LINE_256);
    tu_proc_free(&p);
}
END_TEST

/* Off by default, and with 0. */
START_TEST(warn_off)
{
    static const char *const off[] = {"POOLSHIM_WARN=0", "POOLSHIM_STRICT=0"};
    struct tu_proc p;
    run_commands(&p, LIST(CLASSES, off[_i]), "alloc 64 300\n");
    ck_clean(&p);
    tu_proc_free(&p);
}
END_TEST

static void warn_cases(Suite *s)
{
    TCase *tc = add_tcase(s, "warn", 30, TC_SCRATCH, warn_once_per_class,
                          warn_strict_says_refused, warn_rate_limited);
    tcase_add_loop_test(tc, warn_off, 0, 2);
}

TU_SUITE("warn", warn_cases, TU_SHIM);
