/* exec_child - programs that start other programs under the shim.
 *
 *   exec_child leaf          malloc(64); print "leaf_usable64=U"
 *   exec_child chain N       print "chain=N", allocate, exec "chain N-1";
 *                            "chain 0" execs "leaf"
 *   exec_child all           every way below, in this order:
 *     fork + execve of itself as leaf   (the child prints, then
 *                                        "fork_exec_status=S")
 *     20 x fork + execv /bin/true       "true_ok=K"
 *     posix_spawn of itself as leaf     (the child prints, then
 *                                        "spawn_status=S")
 *     system("exit 3")                  "system_status=3"
 *     popen("echo hi")                  "popen=hi", "popen_status=0"
 *     with another thread allocating,
 *     execve of itself as "chain 3"     chain=3, chain=2, chain=1, chain=0, leaf
 *
 * The environment (LD_PRELOAD, POOLSHIM_*) is passed on unchanged.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hout.h"

extern char **environ;
static char self[4096];

static int status_of(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

static void leaf(void)
{
    void *p = malloc(64);
    memset(p, 1, 64);
    say("leaf_usable64=%zu", malloc_usable_size(p));
    free(p);
    exit(0);
}

static void exec_self(const char *a1, const char *a2)
{
    char *const args[] = {self, (char *)a1, (char *)a2, NULL};
    execve(self, args, environ);
    fail("execve %s: %d", self, errno);
    exit(1);
}

static void *spin(void *arg)
{
    (void)arg;
    for (;;) {
        void *p = malloc(64), *q = malloc(3000);
        escape(p);
        escape(q);
        free(p);
        free(q);
    }
    return NULL;
}

static void chain(unsigned long n)
{
    say("chain=%lu", n);
    void *p[100];
    for (int i = 0; i < 100; i++)
        p[i] = malloc((size_t)(i * 37 + 1));
    for (int i = 0; i < 100; i++)
        free(p[i]);
    if (n == 0)
        exec_self("leaf", NULL);
    char next[32];
    snprintf(next, sizeof next, "%lu", n - 1);
    exec_self("chain", next);
}

static void all(void)
{
    int status;

    pid_t pid = fork();
    if (pid == 0)
        exec_self("leaf", NULL);
    waitpid(pid, &status, 0);
    say("fork_exec_status=%d", status_of(status));

    int ok = 0;
    for (int i = 0; i < 20; i++) {
        pid = fork();
        if (pid == 0) {
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        waitpid(pid, &status, 0);
        ok += status_of(status) == 0;
    }
    say("true_ok=%d", ok);

    char *const sargs[] = {self, "leaf", NULL};
    if (posix_spawn(&pid, self, NULL, NULL, sargs, environ) != 0)
        fail("posix_spawn");
    else
        waitpid(pid, &status, 0);
    say("spawn_status=%d", status_of(status));

    say("system_status=%d", status_of(system("exit 3")));

    FILE *f = popen("echo hi", "r");
    char line[64] = "";
    if (f == NULL || fgets(line, sizeof line, f) == NULL)
        fail("popen");
    line[strcspn(line, "\n")] = '\0';
    say("popen=%s", line);
    say("popen_status=%d", f ? status_of(pclose(f)) : -1);

    pthread_t t;
    pthread_create(&t, NULL, spin, NULL);
    usleep(1000);
    exec_self("chain", "3");
}

int main(int argc, char **argv)
{
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 2;
    self[n] = '\0';
    if (argc == 2 && strcmp(argv[1], "leaf") == 0)
        leaf();
    else if (argc == 3 && strcmp(argv[1], "chain") == 0)
        chain(harg(argv[2]));
    else if (argc == 2 && strcmp(argv[1], "all") == 0)
        all();
    hout_fd(2, "usage: exec_child leaf | chain N | all");
    return 2;
}
