/* report.c - stack-buffer message formatting; see report.h. */
#define _GNU_SOURCE /* strerrorname_np */
#include "report.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void rb_strn(struct rbuf *b, const char *s, size_t n)
{
    size_t room = sizeof b->buf - 1 - b->len; /* one byte kept for rb_cstr */
    if (n > room)
        n = room;
    memcpy(b->buf + b->len, s, n);
    b->len += n;
}

const char *rb_cstr(struct rbuf *b)
{
    b->buf[b->len] = '\0';
    return b->buf;
}

void rb_str(struct rbuf *b, const char *s)
{
    rb_strn(b, s, strlen(s));
}

void rb_char(struct rbuf *b, char c)
{
    rb_strn(b, &c, 1);
}

void rb_errname(struct rbuf *b, int err)
{
    const char *name = strerrorname_np(err);
    rb_str(b, name != NULL ? name : "error");
}

void rb_errnote(struct rbuf *b, int err)
{
    rb_str(b, " (");
    rb_errname(b, err);
    rb_char(b, ')');
}

int rb_refuse(const char *path, const char *why, int e, char *err, size_t errlen)
{
    struct rbuf b = {0};
    rb_quoted(&b, path, strlen(path), 300);
    rb_str(&b, ": ");
    rb_str(&b, why);
    if (e != EINVAL)
        rb_errnote(&b, e);
    if (errlen > 0) {
        size_t n = b.len < errlen - 1 ? b.len : errlen - 1;
        memcpy(err, b.buf, n);
        err[n] = '\0';
    }
    errno = e;
    return -1;
}

static size_t fmt_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

void rb_u64(struct rbuf *b, uint64_t v)
{
    char d[20];
    rb_strn(b, d, fmt_u64(d, v));
}

void rb_u64w(struct rbuf *b, uint64_t v, unsigned width)
{
    char d[20];
    size_t n = fmt_u64(d, v);
    while (width-- > n)
        rb_char(b, ' ');
    rb_strn(b, d, n);
}

void rb_strw(struct rbuf *b, const char *s, unsigned width)
{
    size_t n = strlen(s);
    while (width-- > n)
        rb_char(b, ' ');
    rb_strn(b, s, n);
}

void rb_hex(struct rbuf *b, uintptr_t v)
{
    char d[2 + 2 * sizeof v];
    size_t n = 0;
    int shift = (int)(8 * sizeof v) - 4;
    d[n++] = '0';
    d[n++] = 'x';
    while (shift > 0 && ((v >> shift) & 0xf) == 0)
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        d[n++] = "0123456789abcdef"[(v >> shift) & 0xf];
    rb_strn(b, d, n);
}

int rb_flush(struct rbuf *b, int fd)
{
    int saved = errno, failed = 0;
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(fd, b->buf + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            failed = w < 0 ? errno : EIO;
            break;
        }
        off += (size_t)w;
    }
    b->len = 0;
    errno = saved;
    return failed;
}

/* Output characters of byte c once escaped by rb_esc(). */
static size_t esc_len(unsigned char c)
{
    if (c == '"' || c == '\\')
        return 2;
    if (c < 0x20 || c >= 0x7f)
        return 4;
    return 1;
}

/* Append s[0..n) escaped ('"' and '\\' get a backslash, other bytes outside
 * printable ASCII become \xNN), in at most max (>= 3) output characters:
 * when it does not fit, as much as fits in max - 3, then "...". Messages stay
 * on one line whatever the environment holds. */
void rb_esc(struct rbuf *b, const char *s, size_t n, size_t max)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += esc_len((unsigned char)s[i]);
    size_t room = total <= max ? total : max - 3;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t k = esc_len(c);
        if (used + k > room)
            break;
        used += k;
        if (k == 1) {
            rb_char(b, (char)c);
        } else if (k == 2) {
            rb_char(b, '\\');
            rb_char(b, (char)c);
        } else {
            rb_str(b, "\\x");
            rb_char(b, "0123456789abcdef"[c >> 4]);
            rb_char(b, "0123456789abcdef"[c & 15]);
        }
    }
    if (total > max)
        rb_str(b, "...");
}

void rb_quoted(struct rbuf *b, const char *s, size_t n, size_t max)
{
    rb_char(b, '"');
    rb_esc(b, s, n, max);
    rb_char(b, '"');
}
