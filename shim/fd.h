/* fd.h - where the shim's own descriptors sit: the timing file's, the live
 * file's, the copy of stderr. At SHIM_FD_FLOOR or above, away from the low
 * numbers a program counts on (one that closes 3 and opens a file expects 3
 * back; one that dup2()s onto low numbers must not hit ours). Header only:
 * shim/latency.c is in the tools' libshimcore too. */
#ifndef SHIM_FD_H
#define SHIM_FD_H

#include <fcntl.h>
#include <unistd.h>

#define SHIM_FD_FLOOR 100

/* fd moved to the lowest free number >= SHIM_FD_FLOOR, close-on-exec (fd
 * itself closed); fd as it was when there is no such number. Cannot fail. */
static inline int fd_above_program(int fd)
{
    int high = fcntl(fd, F_DUPFD_CLOEXEC, SHIM_FD_FLOOR);
    if (high < 0)
        return fd;
    close(fd);
    return high;
}

#endif
