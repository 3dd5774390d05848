/* read.c - profile files in, merged (format: shim/profile_format.h).
 *
 * A file is read line by line; a block's bucket lines are kept aside and
 * merged into the profile at its end mark, so a block cut short adds
 * nothing. Every error names the file and line, and quotes the line (up to
 * 80 characters). Blank lines, and lines starting with '#' outside a block,
 * are skipped; anything else that is not in the format is an error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tools/recommend/recommend.h"

#define WORDS_MAX 7 /* the longest line of the format has 6 */

bool rec_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Split line into at most max words separated by spaces or tabs; returns
 * how many there were (max + 1 when there are more). Modifies line. */
static int split(char *line, char **w, int max)
{
    int n = 0;
    for (char *s = line;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0')
            return n;
        if (n == max)
            return max + 1;
        w[n++] = s;
        while (*s != '\0' && *s != ' ' && *s != '\t')
            s++;
        if (*s != '\0')
            *s++ = '\0';
    }
}

/* Whether the words w[0..nw) begin with the words of mark (a
 * PROFILE_MARK_*, words separated by one space). */
static bool has_mark(char *const *w, int nw, const char *mark)
{
    int k = 0;
    for (const char *m = mark; *m != '\0'; k++) {
        size_t len = strcspn(m, " ");
        if (k == nw || strlen(w[k]) != len || strncmp(w[k], m, len) != 0)
            return false;
        m += len + (m[len] == ' ');
    }
    return true;
}

/* One bucket line of the block being read. */
struct entry {
    unsigned bucket;
    uint64_t requests, peak;
};

struct reader {
    struct rec_profile *pf;
    struct rec_error *err;
    const char *name;
    unsigned long lineno;
    char quoted[96];          /* the line as read, for messages */
    char *w[WORDS_MAX + 1];
    int nw;
    unsigned blocks;          /* ended in this file */
    /* the block being read: */
    bool in_block, seen_larger;
    unsigned long block_line;
    uint64_t last_size, larger;
    unsigned n;
    struct entry *e;          /* PROFILE_BUCKETS - 1 of them */
};

/* The error "NAME:LINE: ..." (NAME: ... when there is no line); returns -1. */
__attribute__((format(printf, 2, 3)))
static int fail(struct reader *r, const char *fmt, ...)
{
    size_t cap = sizeof r->err->msg;
    int used = r->lineno ? snprintf(r->err->msg, cap, "%s:%lu: ", r->name, r->lineno)
                         : snprintf(r->err->msg, cap, "%s: ", r->name);
    if (used < 0 || (size_t)used >= cap)
        used = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err->msg + used, cap - (size_t)used, fmt, ap);
    va_end(ap);
    return -1;
}

static int add(struct reader *r, uint64_t *sum, uint64_t v)
{
    if (__builtin_add_overflow(*sum, v, sum))
        return fail(r, "request counts overflow 64 bits");
    return 0;
}

static int block_start(struct reader *r)
{
    uint64_t pid;
    if (r->in_block)
        return fail(r, "a new block starts before the block of line %lu ended (no \""
                    PROFILE_MARK_END "\" line)", r->block_line);
    if (r->nw < 4 || strcmp(r->w[3], PROFILE_VERSION) != 0)
        return fail(r, "unsupported profile format \"%s\" (expected \"" PROFILE_START_TEXT
                    "\")", r->quoted);
    if (r->nw != 6 || strcmp(r->w[4], PROFILE_MARK_PID) != 0 || !rec_parse_u64(r->w[5], &pid))
        return fail(r, "malformed block header \"%s\" (expected \"" PROFILE_START_TEXT "\")",
                    r->quoted);
    r->in_block = true;
    r->seen_larger = false;
    r->block_line = r->lineno;
    r->last_size = 0;
    r->n = 0;
    r->larger = 0;
    return 0;
}

/* The block's figures go into the profile. */
static int block_end(struct reader *r)
{
    struct rec_profile *pf = r->pf;
    if (!r->seen_larger)
        return fail(r, "block of line %lu ends without its \"" PROFILE_LARGER_TEXT "\" line",
                    r->block_line);
    for (unsigned k = 0; k < r->n; k++) {
        const struct entry *e = &r->e[k];
        if (add(r, &pf->requests[e->bucket], e->requests) != 0)
            return -1;
        if (e->peak > pf->peak[e->bucket])
            pf->peak[e->bucket] = e->peak;
    }
    if (add(r, &pf->larger, r->larger) != 0)
        return -1;
    r->in_block = false;
    r->blocks++;
    pf->blocks++;
    return 0;
}

/* "# larger than 1048576: N requests" */
static int larger_line(struct reader *r)
{
    char *limit = r->w[3];
    size_t n = strlen(limit);
    uint64_t v = 0;
    bool colon = n >= 2 && limit[n - 1] == ':';
    if (colon)
        limit[n - 1] = '\0';
    if (!colon || !rec_parse_u64(limit, &v) || v != PROFILE_SIZE_MAX ||
        !rec_parse_u64(r->w[4], &r->larger) || r->seen_larger)
        return fail(r, "malformed line \"%s\" (expected \"" PROFILE_LARGER_TEXT
                    "\", once per block)", r->quoted);
    r->seen_larger = true;
    return 0;
}

/* "SIZE REQUESTS PEAK_LIVE" */
static int bucket_line(struct reader *r)
{
    uint64_t size, req, peak;
    if (r->nw != 3 || !rec_parse_u64(r->w[0], &size) || !rec_parse_u64(r->w[1], &req) ||
        !rec_parse_u64(r->w[2], &peak) || size == 0 || size % PROFILE_GRANULE != 0 ||
        size > PROFILE_SIZE_MAX)
        return fail(r, "malformed line \"%s\" (expected \"" PROFILE_DATA_TEXT "\" with SIZE "
                    "a multiple of %u up to %u, or a \"# ...\" line of the profile format)",
                    r->quoted, (unsigned)PROFILE_GRANULE, (unsigned)PROFILE_SIZE_MAX);
    if (r->seen_larger)
        return fail(r, "bucket line \"%s\" after the \"" PROFILE_MARK_LARGER "\" line "
                    "(expected \"" PROFILE_MARK_END "\")", r->quoted);
    if (size <= r->last_size)
        return fail(r, "size %" PRIu64 " does not follow %" PRIu64
                    " (sizes must increase within a block)", size, r->last_size);
    r->last_size = size;
    r->e[r->n++] = (struct entry){(unsigned)(size / PROFILE_GRANULE), req, peak};
    return 0;
}

/* One line (its newline removed, len its length). */
static int read_line(struct reader *r, char *line, size_t len)
{
    if (len != strlen(line))
        return fail(r, "NUL byte in the line (not a profile file?)");
    snprintf(r->quoted, sizeof r->quoted, "%s", len > 80 ? "(a long line)" : line);
    r->nw = split(line, r->w, WORDS_MAX);
    if (r->nw == 0)
        return 0;
    if (has_mark(r->w, r->nw, PROFILE_MARK_START))
        return block_start(r);
    if (r->w[0][0] == '#' && !r->in_block)
        return 0; /* a comment between blocks */
    if (!r->in_block)
        return fail(r, "\"%s\" outside a profile block (expected \"" PROFILE_START_TEXT
                    "\" first)", r->quoted);
    if (r->nw == 2 && has_mark(r->w, r->nw, PROFILE_MARK_END))
        return block_end(r);
    if (r->nw == 6 && has_mark(r->w, r->nw, PROFILE_MARK_LARGER) &&
        strcmp(r->w[5], PROFILE_MARK_REQUESTS) == 0)
        return larger_line(r);
    return bucket_line(r);
}

/* After the last line: the file must have ended its blocks, and have one. */
static int read_end(struct reader *r)
{
    if (r->in_block)
        return fail(r, "the block of line %lu is not ended (no \"" PROFILE_MARK_END
                    "\" line; was the file cut?)", r->block_line);
    r->lineno = 0;
    if (r->blocks == 0)
        return fail(r, "no profile block in the file (did the program run with "
                    "LD_PRELOAD=libpoolshim.so and POOLSHIM_PROFILE, and exit normally?)");
    r->pf->files++;
    return 0;
}

int rec_read(struct rec_profile *pf, FILE *f, const char *name, struct rec_error *err)
{
    struct reader r = {.pf = pf, .err = err, .name = name};
    r.e = malloc((PROFILE_BUCKETS - 1) * sizeof *r.e);
    if (r.e == NULL)
        return fail(&r, "out of memory");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        r.lineno++;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        rc = read_line(&r, line, (size_t)len);
    }
    if (rc == 0 && ferror(f)) {
        r.lineno = 0;
        rc = fail(&r, "read error: %s", strerror(errno));
    }
    if (rc == 0)
        rc = read_end(&r);
    free(line);
    free(r.e);
    return rc;
}

int rec_read_path(struct rec_profile *pf, const char *path, struct rec_error *err)
{
    if (strcmp(path, "-") == 0)
        return rec_read(pf, stdin, "(standard input)", err);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err->msg, sizeof err->msg, "%s: cannot read the profile: %s", path,
                 strerror(errno));
        return -1;
    }
    int rc = rec_read(pf, f, path, err);
    fclose(f);
    return rc;
}
