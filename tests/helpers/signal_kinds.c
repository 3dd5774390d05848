/* signal_kinds - what POOLSHIM_STATS_SIGNAL does to a signal's own meaning.
 *
 *   signal_kinds SIG dfl FILE    SIG (a number) to SIG_DFL, then exec itself
 *                                with "raise": the shim starts seeing the
 *                                default action
 *   signal_kinds SIG ign FILE    the same with SIG_IGN (as nohup does for HUP,
 *                                a shell for INT and QUIT of background jobs)
 *   signal_kinds SIG raise FILE  a few pooled allocations, SIG to itself,
 *                                then FILE's content
 *   signal_kinds SIG own FILE    installs its own handler for SIG first (after
 *                                the shim's), then as "raise"
 *
 * Run with POOLSHIM_STATS_SIGNAL=SIG and POOLSHIM_STATS_FILE=FILE. Prints
 * pid=, then, if it is still alive after the signal: handled=N (its own
 * handler's calls), mid=CONTENT of FILE or mid=(none), survived=1. No core
 * file is ever written (RLIMIT_CORE 0).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "hout.h"

static volatile sig_atomic_t handled;

static void own_handler(int sig)
{
    (void)sig;
    handled++;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        hout_fd(2, "usage: signal_kinds SIG dfl|ign|raise|own FILE");
        return 2;
    }
    int sig = (int)harg(argv[1]);
    const char *mode = argv[2];
    if (strcmp(mode, "dfl") == 0 || strcmp(mode, "ign") == 0) {
        signal(sig, mode[0] == 'd' ? SIG_DFL : SIG_IGN);
        char *args[] = {argv[0], argv[1], "raise", argv[3], NULL};
        execv("/proc/self/exe", args);
        fail("exec: errno %d", errno);
        return 1;
    }
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    say("pid=%d", (int)getpid());
    if (strcmp(mode, "own") == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = own_handler;
        sigemptyset(&sa.sa_mask);
        if (sigaction(sig, &sa, NULL) != 0)
            fail("sigaction: errno %d", errno);
    } else if (strcmp(mode, "raise") != 0) {
        hout_fd(2, "signal_kinds: unknown mode %s", mode);
        return 2;
    }
    void *p[4];
    for (int i = 0; i < 4; i++)
        escape(p[i] = malloc(64));
    /* delivered to this thread before kill() returns */
    if (kill(getpid(), sig) != 0)
        fail("kill: errno %d", errno);
    say("handled=%d", (int)handled);
    hout_file("mid", argv[3]);
    for (int i = 0; i < 4; i++)
        free(p[i]);
    say("survived=1");
    return hout_status();
}
