/* config_hint.c - the one-line messages about a bad POOLSHIM_* variable,
 * what each kind of value should look like, and the suggestion for a
 * misspelt name (the known name within two edits).
 * No allocation, no stdio (see config_internal.h).
 */
#include "config_internal.h"

#include <string.h>

/* What a value of each kind must look like: the "(expected ...)" part. */
static const char *const kind_expect[] = {
    [OPT_CLASSES] = "SIZE[k]:COUNT pairs separated by commas, "
                    "e.g. 64:1024,256:512,4k:64",
    [OPT_BOOL] = "0, 1, true, false, yes, no, on or off",
    [OPT_SIZE] = "a size in bytes above 0 with an optional k, M or G suffix, "
                 "e.g. 64M",
    [OPT_SIGNAL] = "a signal number from 1 to 64, or a name such as USR1, "
                   "USR2, HUP, INT, TERM, QUIT or WINCH",
    [OPT_PATH] = "a file path",
    [OPT_CHOICE] = NULL, /* the option's words */
    [OPT_NAMES] = "executable names separated by commas, e.g. "
                  "server,worker",
};

void config_msg_begin(struct rbuf *b, const char *name, size_t nlen,
                      const char *value)
{
    b->len = 0;
    rb_str(b, "poolshim: ");
    rb_esc(b, name, nlen, SHOW_NAME);
    rb_char(b, '=');
    rb_quoted(b, value, strlen(value), SHOW_VALUE);
    rb_str(b, ": ");
}

/* Appends " (expected "; the caller then appends what was expected. */
static void msg_expect(struct rbuf *b)
{
    rb_str(b, " (expected ");
}

static void msg_end(struct rbuf *b, const char *outcome, int fd)
{
    rb_str(b, "); ");
    rb_str(b, outcome);
    rb_char(b, '\n');
    if (b->len == sizeof b->buf) /* cannot happen with the SHOW_ limits */
        b->buf[b->len - 1] = '\n';
    if (fd >= 0)
        rb_flush(b, fd);
    b->len = 0;
}

/* "a, b or c" */
static void rb_alternatives(struct rbuf *b, const char *const *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            rb_str(b, i + 1 < n ? ", " : " or ");
        rb_str(b, w[i]);
    }
}

void config_msg_fail(struct rbuf *b, const struct opt *o, const char *outcome,
                     int fd)
{
    msg_expect(b);
    if (o->kind == OPT_CHOICE) {
        size_t n = 0;
        while (o->words[n] != NULL)
            n++;
        rb_alternatives(b, o->words, n);
    } else {
        rb_str(b, kind_expect[o->kind]);
    }
    msg_end(b, outcome, fd);
}

/* Levenshtein distance of a[0..na) and b[0..nb), ASCII case ignored;
 * na, nb <= 32. */
static unsigned edit_distance(const char *a, size_t na, const char *b,
                              size_t nb)
{
    unsigned row[33];
    for (size_t j = 0; j <= nb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= na; i++) {
        unsigned diag = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= nb; j++) {
            unsigned up = row[j];
            unsigned best =
                diag + (config_lower(a[i - 1]) != config_lower(b[j - 1]));
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

/* The known variable closest to name[0..n) (which starts with CONFIG_PREFIX), when
 * it is close enough to be a plausible typo; else NULL. */
static const char *closest(const char *name, size_t n)
{
    const char *s = name + CONFIG_PREFIX_LEN;
    size_t k = n - CONFIG_PREFIX_LEN;
    const char *best = NULL;
    unsigned best_d = 3; /* at most 2 edits */
    if (k > 32)
        return NULL;
    for (size_t i = 0; i < config_nopts; i++) {
        const char *w = config_opts[i].name + CONFIG_PREFIX_LEN;
        size_t wn = strlen(w);
        unsigned d = edit_distance(s, k, w, wn);
        if (d < best_d && 2 * d < wn) {
            best = config_opts[i].name;
            best_d = d;
        }
    }
    return best;
}

void config_report_unknown(struct rbuf *b, int fd, const char *name,
                           size_t nlen, const char *value,
                           const char *outcome)
{
    const char *names[CONFIG_NOPTS_MAX];
    config_msg_begin(b, name, nlen, value);
    rb_str(b, "unknown variable");
    const char *near = closest(name, nlen);
    if (near != NULL) {
        rb_str(b, ", did you mean ");
        rb_str(b, near);
        rb_char(b, '?');
    }
    msg_expect(b);
    rb_str(b, "one of ");
    for (size_t i = 0; i < config_nopts; i++)
        names[i] = config_opts[i].name;
    rb_alternatives(b, names, config_nopts);
    msg_end(b, outcome, fd);
}

