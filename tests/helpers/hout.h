/* hout.h - output for the shim's helper programs.
 *
 * Helpers run under LD_PRELOAD=libpoolshim.so and are judged by the figures
 * the shim reports for them (stats count every allocation), so they print
 * without stdio: each line is formatted into a stack buffer and written with
 * one write(2), allocating nothing. Results are "key=value" lines on stdout;
 * a failed self-check prints "FAIL: ..." and makes the helper exit 1.
 */
#ifndef HELPERS_HOUT_H
#define HELPERS_HOUT_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((unused)) static int hout_failures;

__attribute__((format(printf, 2, 3)))
static inline void hout_fd(int fd, const char *fmt, ...)
{
    char buf[512];
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    for (int off = 0; off < n;) {
        ssize_t w = write(fd, buf + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (int)w;
    }
    errno = saved;
}

/* One line on stdout (the newline is added). */
#define say(...) hout_fd(1, __VA_ARGS__)

/* A failed self-check: "FAIL: <what>" on stdout; the helper exits 1 later. */
#define fail(...)                                                            \
    do {                                                                     \
        hout_failures++;                                                     \
        hout_fd(1, "FAIL: " __VA_ARGS__);                                    \
    } while (0)

/* Check cond; on failure report the expression and the line. */
#define expect(cond)                                                         \
    do {                                                                     \
        if (!(cond))                                                         \
            fail("%s:%d: %s", __FILE__, __LINE__, #cond);                    \
    } while (0)

/* The helper's exit status: 0 when every self-check held. */
static inline int hout_status(void)
{
    return hout_failures == 0 ? 0 : 1;
}

/* Deterministic pseudo-random numbers (xorshift64*), one state per user. */
static inline unsigned long long hrand(unsigned long long *s)
{
    unsigned long long x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Keep the compiler from eliding an allocation whose result looks unused. */
static inline void escape(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

/* The same pointer, but the compiler no longer knows where it came from:
 * for deliberate uses after a failed realloc or after free. */
static inline void *launder(void *p)
{
    __asm__ volatile("" : "+r"(p));
    return p;
}

static inline void hout_write_all(int fd, const char *s, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, s, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        len -= (size_t)w;
    }
}

/* FILE's content as "KEY=CONTENT" on stdout (CONTENT without its last
 * newline, at most 8 KiB), or "KEY=(none)" when it cannot be read. No
 * allocation; not reentrant. */
static inline void hout_file(const char *key, const char *path)
{
    static char buf[8192];
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    hout_write_all(1, key, strlen(key));
    if (fd < 0) {
        hout_write_all(1, "=(none)\n", 8);
        return;
    }
    ssize_t r;
    while (len < sizeof buf && (r = read(fd, buf + len, sizeof buf - len)) > 0)
        len += (size_t)r;
    close(fd);
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    hout_write_all(1, "=", 1);
    hout_write_all(1, buf, len);
    hout_write_all(1, "\n", 1);
}

/* Parse a non-negative decimal argument or exit 2. */
static inline unsigned long harg(const char *s)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        hout_fd(2, "bad number: %s", s);
        exit(2);
    }
    return v;
}

#endif
