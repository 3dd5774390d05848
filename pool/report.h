/* report.h - messages for stderr, built without stdio or malloc (safe inside
 * the allocator): append to a stack buffer, then write(2) it in one call. */
#ifndef POOL_REPORT_H
#define POOL_REPORT_H

#include <stddef.h>
#include <stdint.h>

struct rbuf {
    size_t len;
    char buf[1024];
};

/* Appenders: text past the buffer's end is dropped, never overflows. */
void rb_str(struct rbuf *b, const char *s);
void rb_strn(struct rbuf *b, const char *s, size_t n);
void rb_char(struct rbuf *b, char c);
void rb_u64(struct rbuf *b, uint64_t v);
void rb_hex(struct rbuf *b, uintptr_t v);        /* 0x1f2e... */
/* v right-aligned in a field of `width` characters. */
void rb_u64w(struct rbuf *b, uint64_t v, unsigned width);
void rb_strw(struct rbuf *b, const char *s, unsigned width);

/* Append s[0..n) escaped ('"' and '\\' get a backslash, other bytes outside
 * printable ASCII become \xNN), in at most max (>= 3) output characters:
 * when it does not fit, as much as fits in max - 3, then "...". Messages stay
 * on one line whatever the text holds. rb_quoted() adds double quotes. */
void rb_esc(struct rbuf *b, const char *s, size_t n, size_t max);
void rb_quoted(struct rbuf *b, const char *s, size_t n, size_t max);

/* The symbolic name of errno value err ("ENOENT"), or "error" when it has
 * none. rb_errnote() appends it as " (ENOENT)". */
void rb_errname(struct rbuf *b, int err);
void rb_errnote(struct rbuf *b, int err);

/* For readers that give their reason back to their caller: "PATH": WHY, then
 * " (ENAME)" unless e is EINVAL (a file that is wrong, not a system error),
 * into err[errlen] (cut to fit; nothing when errlen is 0). Returns -1 with
 * errno = e. */
int rb_refuse(const char *path, const char *why, int e, char *err, size_t errlen);

/* The text so far, NUL-terminated (the buffer always has room for it). */
const char *rb_cstr(struct rbuf *b);

/* Write the buffer to fd (retrying short writes and EINTR), then empty it.
 * Returns 0, or the errno of the write that failed; errno itself is
 * preserved. */
int rb_flush(struct rbuf *b, int fd);

#endif
