/* test_signals.c - signal handlers that fork or exit while the program is
 * itself inside fork() or malloc(), under the shim (shim/sigmask.c, the
 * fork handlers in shim/thread.c).
 *
 * fork and exit are what signal handlers call; glibc's own malloc tests
 * (malloc/tst-mallocfork2) fork from a handler that interrupts fork and
 * malloc. The shim's pre-fork handler and its exit report take the pool
 * set's registry lock: a handler that ran on the thread holding it used to
 * wait for it forever. Each case runs tests/helpers/fork_signal under
 * LD_PRELOAD, bounded to a few seconds; a hang is a timeout.
 *
 * Needs TEST_SHIM_LIB and TEST_HELPERS (scripts/run-tests sets them).
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/checkutil.h"

static const char *const configs[][3] = {
    {NULL},
    /* 24 MiB pre-faulted: a fork copies more, the window is wider */
    {"POOLSHIM_CLASSES=64:131072,256:32768,4k:2048", NULL},
};

/* tst-mallocfork2: SIGUSR1, sent by another process all the while, makes a
 * handler fork while the main thread allocates and forks. */
START_TEST(fork_from_signal_handler)
{
    struct tu_proc p;
    struct tu_opts o = {.timeout_s = 15};
    run_with(&p, true, configs[_i], LIST("fork_signal", "handler", "1500"), &o);
    ck_clean(&p);
    ck_assert_msg(tu_kv_num(p.out, "loops", 0) > 0 && tu_kv_num(p.out, "handler_forks", 0) > 0,
                  "%s", tu_describe(&p));
    tu_proc_free(&p);
}
END_TEST

/* exit() from a SIGTERM handler that interrupts fork() or malloc(), with the
 * exit report on: every process exits, each with its table. */
START_TEST(exit_from_signal_handler)
{
    enum { RUNS = 40 };
    const char *vars[4] = {"POOLSHIM_STATS=1", configs[_i][0], NULL};
    struct tu_proc p;
    struct tu_opts o = {.timeout_s = 30};
    run_with(&p, true, vars, LIST("fork_signal", "exit", "40"), &o);
    ck_exit(&p, 0);
    ck_kv_num(&p, "exited", RUNS);
    ck_kv_num(&p, "hung", 0);
    ck_kv_num(&p, "other", 0);
    int tables = 0;
    for (const char *s = p.err; (s = strstr(s, "poolshim: stats for pid ")) != NULL; s++)
        tables++;
    ck_assert_msg(tables == RUNS + 1, "%d tables, want %d (each process's)", tables, RUNS + 1);
    tu_proc_free(&p);
}
END_TEST

static void signals_cases(Suite *s)
{
    TCase *tc = add_tcase(s, "handlers", 40, TC_PLAIN);
    tcase_add_loop_test(tc, fork_from_signal_handler, 0, N(configs));
    tcase_add_loop_test(tc, exit_from_signal_handler, 0, N(configs));
}

TU_SUITE("signals", signals_cases, TU_SHIM);
