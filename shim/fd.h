/* fd.h - where the shim's own descriptors sit: the timing file's, the live
 * file's, the copy of stderr. At SHIM_FD_FLOOR or above, away from the low
 * numbers a program counts on (one that closes 3 and opens a file expects 3
 * back; one that dup2()s onto low numbers must not hit ours). Header only:
 * shim/latency.c is in the tools' libshimcore too. */
#ifndef SHIM_FD_H
#define SHIM_FD_H

#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
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

/* A file of the shim's own (the timing file, the live file), known by its
 * descriptor and its identity: a program may close any descriptor, ours
 * included, and get the number back for a file of its own, which the shim
 * must then never write, grow, map or close. */
struct shim_file {
    int fd;          /* -1: none */
    dev_t dev;
    ino_t ino;
};

#define SHIM_FILE_NONE {.fd = -1}

/* Make fd (just opened by the shim) f's descriptor. False, with f left
 * without one, when fstat fails. */
static inline bool shim_file_keep(struct shim_file *f, int fd)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        f->fd = -1;
        return false;
    }
    f->fd = fd;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    return true;
}

static inline bool shim_file_is(const struct shim_file *f, int fd)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino;
}

/* f's descriptor while it still is f's file; else the file opened again by
 * path (it must be the same file), and its old number, if the program took
 * it, left alone; -1 when neither works. */
static inline int shim_file_fd(struct shim_file *f, const char *path)
{
    if (f->fd >= 0 && shim_file_is(f, f->fd))
        return f->fd;
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (!shim_file_is(f, fd)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return f->fd = fd_above_program(fd);
}

/* Close f's descriptor, if it still is f's file; f has none after. */
static inline void shim_file_close(struct shim_file *f)
{
    if (shim_file_is(f, f->fd))
        close(f->fd);
    f->fd = -1;
}

#endif
