/* fork_signal - signal handlers that fork or exit while the program is itself
 * inside fork() or malloc() (glibc's malloc/tst-mallocfork2 scenario, and
 * exit() from a SIGTERM handler). fork, _exit and exit are what such
 * handlers call; a preloaded allocator must not make them hang.
 *
 *   fork_signal handler MS
 *       For MS milliseconds the main thread allocates, frees and forks (each
 *       child _exits at once); another process sends it SIGUSR1 all the
 *       while, and the SIGUSR1 handler forks too. Prints loops=N
 *       handler_forks=N (both > 0 when it ends).
 *   fork_signal exit RUNS
 *       RUNS times: a child that allocates and forks in a loop, with a
 *       SIGTERM handler calling exit(0), gets SIGTERM after 0..2 ms; it must
 *       exit 0 within 2 s (else it is killed and counted as hung). Prints
 *       exited=N hung=N other=N. Each child's exit runs the shim's exit
 *       report (POOLSHIM_STATS=1: one table per child).
 *
 * Every line is key=value on stdout (hout.h); exit 1 when a self-check failed.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hout.h"

static volatile sig_atomic_t handler_forks;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void pause_us(long us)
{
    struct timespec ts = {0, us * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Allocate and free a few blocks of pooled and unpooled sizes. */
static void churn(unsigned long long *rng)
{
    void *p[8];
    for (int i = 0; i < 8; i++) {
        p[i] = malloc(1 + hrand(rng) % (i < 6 ? 4096 : 100000));
        escape(p[i]);
    }
    for (int i = 0; i < 8; i++)
        free(p[i]);
}

/* fork; the child _exits at once. Returns the child's pid or -1. */
static pid_t fork_and_leave(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    return pid;
}

static void on_usr1(int sig)
{
    (void)sig;
    int saved = errno;
    if (fork_and_leave() > 0)
        handler_forks++;
    errno = saved; /* the child is reaped by the main loop */
}

static int cmd_handler(double ms)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);

    pid_t target = getpid();
    pid_t sender = fork();
    if (sender < 0) {
        fail("fork: errno %d", errno);
        return hout_status();
    }
    if (sender == 0) {
        unsigned long long rng = 7;
        for (;;) {
            if (kill(target, SIGUSR1) != 0)
                _exit(0);
            pause_us((long)(hrand(&rng) % 200));
        }
    }
    unsigned long long rng = 1;
    unsigned long loops = 0;
    double end = now_ms() + ms;
    while (now_ms() < end) {
        churn(&rng);
        pid_t pid = fork_and_leave();
        if (pid < 0 && errno != EAGAIN) {
            fail("fork: errno %d", errno);
            break;
        }
        if (pid > 0)
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        while (waitpid(-1, NULL, WNOHANG) > 0) /* the handler's children */
            ;
        loops++;
    }
    kill(sender, SIGKILL);
    signal(SIGUSR1, SIG_IGN);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
    say("loops=%lu", loops);
    say("handler_forks=%d", (int)handler_forks);
    expect(loops > 0);
    expect(handler_forks > 0);
    return hout_status();
}

static void on_term(int sig)
{
    (void)sig;
    exit(0);
}

/* The victim (on_term already installed): forks and allocates until
 * SIGTERM's handler exits. */
static _Noreturn void victim(void)
{
    unsigned long long rng = (unsigned long long)getpid();
    for (;;) {
        churn(&rng);
        pid_t pid = fork_and_leave();
        if (pid > 0)
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
    }
}

/* Wait up to ms for pid; -1 when it is still running. */
static int wait_for(pid_t pid, double ms, int *status)
{
    double end = now_ms() + ms;
    while (now_ms() < end) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        pause_us(1000);
    }
    return -1;
}

static int cmd_exit(unsigned long runs)
{
    unsigned long exited = 0, hung = 0, other = 0;
    unsigned long long rng = 3;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term; /* inherited: there before the signal can come */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    for (unsigned long i = 0; i < runs; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            fail("fork: errno %d", errno);
            break;
        }
        if (pid == 0)
            victim();
        pause_us(100 + (long)(hrand(&rng) % 2000));
        kill(pid, SIGTERM);
        int status = 0;
        if (wait_for(pid, 2000, &status) != 0) {
            hung++;
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            exited++;
        } else {
            other++;
        }
    }
    say("exited=%lu", exited);
    say("hung=%lu", hung);
    say("other=%lu", other);
    return hout_status();
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        hout_fd(2, "usage: fork_signal handler MS | exit RUNS");
        return 2;
    }
    if (strcmp(argv[1], "handler") == 0)
        return cmd_handler((double)harg(argv[2]));
    if (strcmp(argv[1], "exit") == 0)
        return cmd_exit(harg(argv[2]));
    hout_fd(2, "fork_signal: unknown command %s", argv[1]);
    return 2;
}
