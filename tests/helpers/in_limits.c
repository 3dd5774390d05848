/* in_limits - run a program under the shim inside limits: a memory cgroup,
 * RLIMIT_AS, RLIMIT_DATA. Run it without the shim: the program it execs gets
 * LD_PRELOAD only once inside them.
 *
 *   in_limits [--cgroup DIR] [--as BYTES] [--data BYTES] --preload LIB
 *             -- PROGRAM [ARG...]
 *
 * --cgroup moves this process into the cgroup DIR (writes to its
 * cgroup.procs); --as and --data set the soft and hard rlimits. Then LIB
 * goes into LD_PRELOAD and PROGRAM replaces this process. Exits 126 with a
 * message on stderr when a step fails.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "hout.h"

static _Noreturn void die(const char *what, const char *arg)
{
    hout_fd(2, "in_limits: %s %s: errno %d", what, arg, errno);
    exit(126);
}

static void join_cgroup(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0\n", 2) != 2)
        die("cannot join", dir);
    close(fd);
}

static void limit(int resource, const char *bytes)
{
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = harg(bytes);
    if (setrlimit(resource, &rl) != 0)
        die("setrlimit", bytes);
}

int main(int argc, char **argv)
{
    const char *lib = NULL;
    int i = 1;
    for (; i + 1 < argc && strcmp(argv[i], "--") != 0; i += 2) {
        if (strcmp(argv[i], "--cgroup") == 0)
            join_cgroup(argv[i + 1]);
        else if (strcmp(argv[i], "--as") == 0)
            limit(RLIMIT_AS, argv[i + 1]);
        else if (strcmp(argv[i], "--data") == 0)
            limit(RLIMIT_DATA, argv[i + 1]);
        else if (strcmp(argv[i], "--preload") == 0)
            lib = argv[i + 1];
        else
            die("unknown option", argv[i]);
    }
    if (lib == NULL || i + 1 >= argc || strcmp(argv[i], "--") != 0) {
        hout_fd(2, "usage: in_limits [--cgroup DIR] [--as N] [--data N] --preload LIB "
                   "-- PROGRAM [ARG...]");
        return 2;
    }
    if (setenv("LD_PRELOAD", lib, 1) != 0)
        die("setenv", lib);
    execv(argv[i + 1], argv + i + 1);
    die("cannot execute", argv[i + 1]);
}
