/* test_stats.c - the shim's statistics outputs other than the exit table on
 * stderr (POOLSHIM_STATS_FILE, POOLSHIM_STATS_SIGNAL), where the exit table
 * may go (never into a file the program opened), its profile mode
 * (POOLSHIM_PROFILE) and POOLSHIM_VERBOSE, from the outside.
 *
 * This runner is never preloaded: every case runs a helper program
 * (tests/helpers/stats_mix.c, stats_profile.c) with LD_PRELOAD set in the
 * child's own environment, built from scratch (testutil.h), and asserts on
 * its status, stdout, stderr and the files the shim wrote. The helpers print
 * without stdio, so the figures are exact: with POOLSHIM_CLASSES=64:100,256:10
 * stats_mix's "mix" leaves
 *   64:  in use 7, served 10, misses 0   (10 taken, 3 given back)
 *   256: in use 10, served 10, misses 2  (12 asked for)
 *   uncovered 5                          (malloc(100000) five times)
 * and "none" leaves every figure at 0: the premise that nothing else (ld.so,
 * libc's start-up and exit) goes through these classes, checked on its own.
 * Peak out is exact only with POOLSHIM_CACHE=0 (caches take objects out of
 * the depot in batches); with caches it is checked as a range.
 *
 * Needs TEST_SHIM_LIB and TEST_HELPERS (scripts/run-tests sets them).
 */
#define _GNU_SOURCE
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pool/version.h"
#include "shim/config.h"
#include "tests/checkutil.h"

#define CLASSES "POOLSHIM_CLASSES=64:100,256:10"

/* The pid the helper printed ("pid=N"); fails the case when there is none. */
static long helper_pid(const struct tu_proc *p)
{
    long pid = (long)tu_kv_num(p->out, "pid", -1);
    ck_assert_msg(pid > 0, "no pid line; %s", tu_describe(p));
    return pid;
}

/* text without its "pid=" lines (the one thing that differs between two
 * runs of a helper); free() it. */
static char *without_pid(const char *text)
{
    char *out = malloc(strlen(text) + 1);
    ck_assert_ptr_nonnull(out);
    size_t n = 0;
    for (const char *s = text; *s;) {
        size_t len = strcspn(s, "\n");
        if (s[len] == '\n')
            len++;
        if (strncmp(s, "pid=", 4) != 0) {
            memcpy(out + n, s, len);
            n += len;
        }
        s += len;
    }
    out[n] = '\0';
    return out;
}

/* ------------------------------------------------------------------------ */
/* files                                                                     */

/* The whole content of path, NUL-terminated; NULL when it cannot be read.
 * free() it. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0, r;
    char *s = malloc(cap);
    while (s != NULL && (r = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += r;
        if (cap - len < 2) {
            char *t = realloc(s, cap * 2);
            if (t == NULL) {
                free(s);
                s = NULL;
                break;
            }
            s = t;
            cap *= 2;
        }
    }
    fclose(f);
    if (s != NULL)
        s[len] = '\0';
    return s;
}

/* The names in directory dir, sorted, joined with spaces ("." and ".."
 * left out), in a static buffer. */
static const char *dir_listing(const char *dir)
{
    static char buf[4096];
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    ck_assert_msg(n >= 0, "scandir %s: %s", dir, strerror(errno));
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
            if (buf[0] != '\0')
                strncat(buf, " ", sizeof buf - strlen(buf) - 1);
            strncat(buf, name, sizeof buf - strlen(buf) - 1);
        }
        free(names[i]);
    }
    free(names);
    return buf;
}

/* ------------------------------------------------------------------------ */
/* the JSON statistics file: schema version 1 (shim/stats.c, poolshim(1))
 *   {"version":1,"poolshim_version":"X.Y.Z","pid":N,"program":"NAME",
 *    "time":"2026-12-02T15:03:04Z","strict":BOOL,"uncovered":N,
 *    "classes":[{"size":N,"capacity":N,"in_use":N,"peak_out":N,
 *                "served":N,"misses":N,"exchanges":N},...]}
 * parsed strictly: exactly these keys, each once, no other. */

#define MAX_CLASSES 32

struct js_class {
    unsigned long long size, capacity, in_use, peak_out, served, misses, exchanges;
};

struct js_stats {
    unsigned long long version;
    char poolshim_version[32];
    unsigned long long pid;
    char program[64], time[32];
    bool strict;
    unsigned long long uncovered;
    int n;
    struct js_class cls[MAX_CLASSES];
};

struct js {
    const char *s;
    char err[128];
};

static void js_ws(struct js *j)
{
    while (*j->s == ' ' || *j->s == '\t' || *j->s == '\n' || *j->s == '\r')
        j->s++;
}

static bool js_fail(struct js *j, const char *what)
{
    if (j->err[0] == '\0')
        snprintf(j->err, sizeof j->err, "%s at \"%.20s\"", what, j->s);
    return false;
}

static bool js_lit(struct js *j, char c)
{
    js_ws(j);
    if (*j->s != c) {
        char what[32];
        snprintf(what, sizeof what, "expected '%c'", c);
        return js_fail(j, what);
    }
    j->s++;
    return true;
}

/* A string without escapes, of fewer than cap bytes. */
static bool js_str(struct js *j, char *out, size_t cap)
{
    js_ws(j);
    if (*j->s != '"')
        return js_fail(j, "expected a string");
    const char *end = strchr(j->s + 1, '"');
    if (end == NULL || (size_t)(end - j->s - 1) >= cap || memchr(j->s, '\\', (size_t)(end - j->s)))
        return js_fail(j, "bad string");
    memcpy(out, j->s + 1, (size_t)(end - j->s - 1));
    out[end - j->s - 1] = '\0';
    j->s = end + 1;
    return true;
}

/* A key, then ':'. */
static bool js_key(struct js *j, char *key, size_t cap)
{
    return js_str(j, key, cap) && js_lit(j, ':');
}

/* A non-negative integer without sign, fraction or leading zeros. */
static bool js_uint(struct js *j, unsigned long long *out)
{
    js_ws(j);
    if (!isdigit((unsigned char)*j->s) || (j->s[0] == '0' && isdigit((unsigned char)j->s[1])))
        return js_fail(j, "expected an unsigned integer");
    char *end;
    errno = 0;
    *out = strtoull(j->s, &end, 10);
    if (errno != 0 || *end == '.' || *end == 'e' || *end == 'E')
        return js_fail(j, "bad integer");
    j->s = end;
    return true;
}

static bool js_bool(struct js *j, bool *out)
{
    js_ws(j);
    if (strncmp(j->s, "true", 4) == 0) {
        *out = true;
        j->s += 4;
        return true;
    }
    if (strncmp(j->s, "false", 5) == 0) {
        *out = false;
        j->s += 5;
        return true;
    }
    return js_fail(j, "expected true or false");
}

/* After a member: ',' (returns true, *more set) or the closing c. */
static bool js_next(struct js *j, char close, bool *more)
{
    js_ws(j);
    if (*j->s == ',') {
        j->s++;
        *more = true;
        return true;
    }
    *more = false;
    return js_lit(j, close);
}

static bool js_class(struct js *j, struct js_class *c)
{
    static const char *const names[] = {"size", "capacity", "in_use",
                                        "peak_out", "served", "misses", "exchanges"};
    unsigned long long *field[] = {&c->size, &c->capacity, &c->in_use,
                                   &c->peak_out, &c->served, &c->misses, &c->exchanges};
    unsigned seen = 0;
    if (!js_lit(j, '{'))
        return false;
    for (bool more = true; more;) {
        char key[32];
        if (!js_key(j, key, sizeof key))
            return false;
        int k = 0;
        while (k < N(names) && strcmp(names[k], key) != 0)
            k++;
        if (k == N(names) || (seen & (1u << k)))
            return js_fail(j, "unknown or repeated class key");
        seen |= 1u << k;
        if (!js_uint(j, field[k]) || !js_next(j, '}', &more))
            return false;
    }
    return seen == (1u << N(names)) - 1 ? true : js_fail(j, "class key missing");
}

/* Parse text (one object, then at most white space) into *st. Returns 0, or
 * -1 with the reason in err. */
static int js_parse(const char *text, struct js_stats *st, char *err, size_t errcap)
{
    struct js j = {.s = text, .err = ""};
    unsigned seen = 0;
    bool ok = js_lit(&j, '{');
    memset(st, 0, sizeof *st);
    for (bool more = ok; ok && more;) {
        char key[32];
        if (!(ok = js_key(&j, key, sizeof key)))
            break;
        unsigned bit;
        if (strcmp(key, "version") == 0)
            bit = 1, ok = js_uint(&j, &st->version);
        else if (strcmp(key, "poolshim_version") == 0)
            bit = 32, ok = js_str(&j, st->poolshim_version, sizeof st->poolshim_version);
        else if (strcmp(key, "pid") == 0)
            bit = 2, ok = js_uint(&j, &st->pid);
        else if (strcmp(key, "program") == 0)
            bit = 64, ok = js_str(&j, st->program, sizeof st->program);
        else if (strcmp(key, "time") == 0)
            bit = 128, ok = js_str(&j, st->time, sizeof st->time);
        else if (strcmp(key, "strict") == 0)
            bit = 4, ok = js_bool(&j, &st->strict);
        else if (strcmp(key, "uncovered") == 0)
            bit = 8, ok = js_uint(&j, &st->uncovered);
        else if (strcmp(key, "classes") == 0) {
            bit = 16;
            ok = js_lit(&j, '[');
            js_ws(&j);
            if (ok && *j.s == ']') {
                j.s++;
            } else {
                for (bool more_cls = ok; ok && more_cls;) {
                    if (st->n == MAX_CLASSES) {
                        ok = js_fail(&j, "too many classes");
                        break;
                    }
                    ok = js_class(&j, &st->cls[st->n++]) && js_next(&j, ']', &more_cls);
                }
            }
        } else {
            ok = js_fail(&j, "unknown key");
            break;
        }
        if (ok && (seen & bit))
            ok = js_fail(&j, "repeated key");
        seen |= bit;
        ok = ok && js_next(&j, '}', &more);
    }
    if (ok && seen != 255)
        ok = js_fail(&j, "key missing");
    js_ws(&j);
    if (ok && *j.s != '\0')
        ok = js_fail(&j, "text after the object");
    snprintf(err, errcap, "%s", j.err);
    return ok ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* expected figures                                                          */

/* One class as expected: peak out between peak_lo and peak_hi. */
struct want_class {
    unsigned long long size, capacity, in_use, peak_lo, peak_hi, served, misses;
};

struct want {
    bool strict;
    unsigned long long uncovered;
    int n;
    struct want_class cls[4];
};

enum stage { NONE, MID, FINAL, CHILD };

/* What stats_mix leaves under CLASSES at each stage: NONE (command "none"),
 * MID (after part 1: the signal), FINAL (after part 2), CHILD (fork's child:
 * FINAL and two more malloc(64)). Exact peaks without caches. */
static struct want want_of(enum stage stage, bool strict, bool cache)
{
    struct want w = {.strict = strict, .n = 2};
    w.cls[0] = (struct want_class){64, 100, 7, 10, 10, 10, 0};
    w.cls[1] = (struct want_class){256, 10, 0, 0, 0, 0, 0};
    if (stage == NONE)
        w.cls[0] = (struct want_class){64, 100, 0, 0, 0, 0, 0};
    if (stage == FINAL || stage == CHILD) {
        w.cls[1] = (struct want_class){256, 10, 10, 10, 10, 10, 2};
        w.uncovered = 5;
    }
    if (stage == CHILD) {
        /* a forked child counts only its own requests (2 of 64 bytes); what
         * is in use, and the peak, start from what it inherited */
        w.cls[0] = (struct want_class){64, 100, 9, 9, 9, 2, 0};
        w.cls[1] = (struct want_class){256, 10, 10, 10, 10, 0, 0};
        w.uncovered = 0;
    }
    if (cache && stage != NONE)
        w.cls[0].peak_hi = w.cls[0].capacity; /* batches out of the depot */
    return w;
}

/* The JSON text stats.c writes for w, with the peaks of got (already
 * checked against w's ranges). */
static void format_json(char *buf, size_t cap, long pid, const struct want *w,
                        const struct js_stats *got)
{
    int n = snprintf(buf, cap, "{\"version\":1,\"poolshim_version\":\"%s\",\"pid\":%ld,"
                               "\"program\":\"%s\",\"time\":\"%s\","
                               "\"strict\":%s,\"uncovered\":%llu,\"classes\":[", POOL_VERSION_STRING,
                     pid, got->program, got->time, w->strict ? "true" : "false", w->uncovered);
    for (int i = 0; i < w->n; i++)
        n += snprintf(buf + n, cap - (size_t)n,
                      "%s{\"size\":%llu,\"capacity\":%llu,\"in_use\":%llu,\"peak_out\":%llu,"
                      "\"served\":%llu,\"misses\":%llu,\"exchanges\":%llu}",
                      i ? "," : "", w->cls[i].size, w->cls[i].capacity, w->cls[i].in_use,
                      got->cls[i].peak_out, w->cls[i].served, w->cls[i].misses,
                      got->cls[i].exchanges);
    snprintf(buf + n, cap - (size_t)n, "]}\n");
}

/* text (the file's content, or the line the helper printed, then "\n") is
 * the JSON of w for pid: parsed field by field, then compared as text. */
static void ck_json(const char *text, long pid, const struct want *w, const char *what)
{
    ck_assert_msg(text != NULL, "%s: no statistics file", what);
    struct js_stats got;
    char err[160];
    ck_assert_msg(js_parse(text, &got, err, sizeof err) == 0, "%s: not schema-1 JSON: %s: %s",
                  what, err, text);
    ck_assert_msg(got.version == 1, "%s: version %llu", what, got.version);
    ck_assert_msg(strcmp(got.poolshim_version, POOL_VERSION_STRING) == 0,
                  "%s: poolshim_version %s, want %s", what, got.poolshim_version,
                  POOL_VERSION_STRING);
    ck_assert_msg(got.pid == (unsigned long long)pid, "%s: pid %llu, want %ld", what, got.pid,
                  pid);
    ck_assert_msg(strncmp(got.program, "stats_", 6) == 0, "%s: program \"%s\"", what,
                  got.program);
    ck_assert_msg(tu_time_ok(got.time), "%s: time \"%s\"", what, got.time);
    ck_assert_msg(got.strict == w->strict, "%s: strict %d", what, got.strict);
    ck_assert_msg(got.uncovered == w->uncovered, "%s: uncovered %llu, want %llu", what,
                  got.uncovered, w->uncovered);
    ck_assert_msg(got.n == w->n, "%s: %d classes, want %d", what, got.n, w->n);
    for (int i = 0; i < w->n; i++) {
        const struct js_class *g = &got.cls[i];
        const struct want_class *c = &w->cls[i];
        ck_assert_msg(g->size == c->size && g->capacity == c->capacity && g->in_use == c->in_use &&
                          g->served == c->served && g->misses == c->misses &&
                          g->peak_out >= c->peak_lo && g->peak_out <= c->peak_hi,
                      "%s: class %d: size %llu capacity %llu in_use %llu peak_out %llu served "
                      "%llu misses %llu; want %llu %llu %llu %llu..%llu %llu %llu",
                      what, i, g->size, g->capacity, g->in_use, g->peak_out, g->served,
                      g->misses, c->size, c->capacity, c->in_use, c->peak_lo, c->peak_hi,
                      c->served, c->misses);
    }
    char want_text[2048];
    format_json(want_text, sizeof want_text, pid, w, &got);
    ck_assert_msg(strcmp(text, want_text) == 0, "%s: text\n%s\nwant\n%s", what, text, want_text);
}

/* The stderr table of w for pid, with the peaks of got, as stats.c prints
 * it (the layout tests/test_shim.c pins down). */
static void format_table(char *buf, size_t cap, long pid, const struct want *w,
                         const struct tu_stats *got)
{
    int n = snprintf(buf, cap,
                     "poolshim: stats for pid %ld (%s) at %s%s\n"
                     "poolshim:     size   capacity     in use   peak out       served     misses\n",
                     pid, got->program, got->time, w->strict ? ", strict" : "");
    for (int i = 0; i < w->n; i++)
        n += snprintf(buf + n, cap - (size_t)n, "poolshim:%9llu%11llu%11llu%11llu%13llu%11llu\n",
                      w->cls[i].size, w->cls[i].capacity, w->cls[i].in_use,
                      got->row[i].peak_out, w->cls[i].served, w->cls[i].misses);
    snprintf(buf + n, cap - (size_t)n, "poolshim: not covered by any class: %llu request%s\n",
             w->uncovered, w->uncovered == 1 ? "" : "s");
}

/* text starts with the table of w for pid; returns the rest of text. */
static const char *ck_table(const char *text, long pid, const struct want *w, const char *what)
{
    struct tu_stats got;
    ck_assert_msg(tu_parse_stats(text, &got) == 0, "%s: no table in: %s", what, text);
    ck_assert_msg(strncmp(got.program, "stats_", 6) == 0 && tu_time_ok(got.time),
                  "%s: program \"%s\", time \"%s\"", what, got.program, got.time);
    ck_assert_msg(got.nrows == w->n, "%s: %d rows: %s", what, got.nrows, text);
    for (int i = 0; i < w->n; i++)
        ck_assert_msg(got.row[i].peak_out >= w->cls[i].peak_lo &&
                          got.row[i].peak_out <= w->cls[i].peak_hi,
                      "%s: class %llu: peak out %llu", what, w->cls[i].size, got.row[i].peak_out);
    char want_text[2048];
    format_table(want_text, sizeof want_text, pid, w, &got);
    size_t len = strlen(want_text);
    ck_assert_msg(strncmp(text, want_text, len) == 0, "%s: stderr\n%s\nwant\n%s", what, text,
                  want_text);
    return text + len;
}

/* ------------------------------------------------------------------------ */
/* POOLSHIM_STATS_FILE                                                       */

START_TEST(json_baseline_is_empty)
{
    /* the premise of the exact figures: a helper that allocates nothing
     * leaves nothing in these classes, nothing uncovered */
    const char *file = case_path("s.json");
    struct tu_proc p;
    run_shim(&p, LIST(CLASSES, var_eq("POOLSHIM_STATS_FILE", file), "POOLSHIM_CACHE=0"),
             LIST("stats_mix", "none"));
    ck_clean(&p);
    struct want w = want_of(NONE, false, false);
    char *text = slurp(file);
    ck_json(text, helper_pid(&p), &w, "none");
    free(text);
    tu_proc_free(&p);
}
END_TEST

/* _i: bit 0 strict, bit 1 caches off */
START_TEST(json_file_exact)
{
    bool strict = _i & 1, cache = !(_i & 2);
    const char *file = case_path("s.json");
    struct tu_proc p;
    run_shim(&p, LIST(CLASSES, var_eq("POOLSHIM_STATS_FILE", file),
                      strict ? "POOLSHIM_STRICT=1" : "POOLSHIM_STRICT=0",
                      cache ? "POOLSHIM_CACHE=1" : "POOLSHIM_CACHE=0"),
             LIST("stats_mix", "mix"));
    ck_clean(&p);
    ck_kv(&p, "pooled64", "10");
    ck_kv(&p, "pooled256", "10");
    ck_kv(&p, "fallback256", strict ? "0" : "2");
    ck_kv(&p, "refused256", strict ? "2" : "0"); /* refusals: the misses */
    ck_kv(&p, "uncovered", "5");
    struct want w = want_of(FINAL, strict, cache);
    char *text = slurp(file);
    ck_json(text, helper_pid(&p), &w, "final");
    free(text);
    ck_assert_str_eq(dir_listing(case_dir), "s.json"); /* no s.json.tmp left */
    tu_proc_free(&p);
}
END_TEST

START_TEST(json_file_per_process)
{
    /* %p names each process's own file; a fork's child counts its own
     * requests only (the parent's are in the parent's file) */
    struct tu_proc p;
    run_shim(&p, LIST(CLASSES, var_eq("POOLSHIM_STATS_FILE", case_path("stats-%p.json"))),
             LIST("stats_mix", "fork"));
    ck_clean(&p);
    ck_kv(&p, "child_status", "0");
    long parent = helper_pid(&p);
    long child = (long)tu_kv_num(p.out, "forked", -1);
    ck_assert_msg(child > 0 && child == tu_kv_num(p.out, "child_pid", -2), "%s",
                  tu_describe(&p));

    /* two files, the pids in either order */
    const char *ls = dir_listing(case_dir);
    char ls1[128], ls2[128];
    snprintf(ls1, sizeof ls1, "stats-%ld.json stats-%ld.json", parent, child);
    snprintf(ls2, sizeof ls2, "stats-%ld.json stats-%ld.json", child, parent);
    ck_assert_msg(strcmp(ls, ls1) == 0 || strcmp(ls, ls2) == 0,
                  "files: %s; want stats-%ld.json and stats-%ld.json", ls, parent, child);

    char file[64];
    struct want w = want_of(FINAL, false, true);
    snprintf(file, sizeof file, "stats-%ld.json", parent);
    char *text = slurp(case_path(file));
    ck_json(text, parent, &w, "parent");
    free(text);
    w = want_of(CHILD, false, true);
    snprintf(file, sizeof file, "stats-%ld.json", child);
    text = slurp(case_path(file));
    ck_json(text, child, &w, "child");
    free(text);
    tu_proc_free(&p);
}
END_TEST

/* "%%" in the name is a literal '%', "%p" the pid, anything else after a
 * '%' stays as it is: a%%b-%%p-%p-%x.json names a%b-%p-PID-%x.json. */
START_TEST(json_file_percent_escapes)
{
    const char *file = case_path("a%%b-%%p-%p-%x.json");
    struct tu_proc p;
    run_shim(&p, LIST(CLASSES, var_eq("POOLSHIM_STATS_FILE", file)), LIST("stats_mix", "mix"));
    ck_clean(&p);
    char want[256];
    snprintf(want, sizeof want, "a%%b-%%p-%ld-%%x.json", helper_pid(&p));
    ck_assert_str_eq(dir_listing(case_dir), want);
    tu_proc_free(&p);
}
END_TEST

/* Files the shim cannot write: one line on stderr, the program unharmed. */
static const struct {
    const char *var, *path, *message;
    const char *argv[4];
} unwritable[] = {
    {"POOLSHIM_STATS_FILE", "/nonexistent/dir/s.json",
     "poolshim: POOLSHIM_STATS_FILE=\"/nonexistent/dir/s.json\": cannot write the stats file (",
     {"stats_mix", "mix", "5"}},
    {"POOLSHIM_PROFILE", "/nonexistent/dir/p.txt",
     "poolshim: POOLSHIM_PROFILE=\"/nonexistent/dir/p.txt\": cannot write the profile (",
     {"stats_profile", "run", NULL}},
    /* a newline and a quote in the name stay escaped: still one line */
    {"POOLSHIM_STATS_FILE", "/nonexistent/a\nb\"c.json",
     "poolshim: POOLSHIM_STATS_FILE=\"/nonexistent/a\\x0ab\\\"c.json\": cannot write the stats file (",
     {"stats_mix", "mix", "5"}},
    {"POOLSHIM_PROFILE", "/nonexistent/a\nb\"c.txt",
     "poolshim: POOLSHIM_PROFILE=\"/nonexistent/a\\x0ab\\\"c.txt\": cannot write the profile (",
     {"stats_profile", "run", NULL}},
};

START_TEST(unwritable_file_one_line)
{
    ck_assert_msg(access("/nonexistent", F_OK) != 0, "/nonexistent exists on this machine");
    const char *bad = var_eq(unwritable[_i].var, unwritable[_i].path);
    const char *good = var_eq(unwritable[_i].var, case_path("out"));
    int status = unwritable[_i].argv[2] ? 5 : 0;

    struct tu_proc with_bad, with_good;
    run_shim(&with_bad, LIST(CLASSES, bad), unwritable[_i].argv);
    run_shim(&with_good, LIST(CLASSES, good), unwritable[_i].argv);
    ck_exit(&with_good, status);
    ck_quiet_stderr(&with_good);
    ck_exit(&with_bad, status);
    char *a = without_pid(with_bad.out), *b = without_pid(with_good.out);
    ck_assert_msg(strcmp(a, b) == 0, "stdout changed:\n%s\nwant\n%s", a, b);
    free(a);
    free(b);

    const char *msg = unwritable[_i].message;
    ck_assert_msg(tu_count_lines(with_bad.err) == 1 && with_bad.err[with_bad.err_len - 1] == '\n',
                  "want one line on stderr: %s", with_bad.err);
    ck_assert_msg(strncmp(with_bad.err, msg, strlen(msg)) == 0 &&
                      strcmp(with_bad.err + with_bad.err_len - 2, ")\n") == 0,
                  "stderr: %s\nwant: %s...)", with_bad.err, msg);
    tu_proc_free(&with_bad);
    tu_proc_free(&with_good);
}
END_TEST

/* text is a stats file (JSON, schema 1) of process pid: its start, and its
 * pid; the full figures are checked by ck_json where they are known. */
static bool is_stats_of(const char *text, long pid)
{
    char field[48];
    snprintf(field, sizeof field, ",\"pid\":%ld,", pid);
    return text != NULL && strncmp(text, "{\"version\":1,", 12) == 0 &&
           strstr(text, field) != NULL;
}

/* Symlinks planted where the temporary file used to be predictable
 * (FILE.PID.tmp) and, _i 1, at FILE itself: their target stays as it was,
 * FILE becomes a regular file of ours (0600) with the figures, and the
 * planted link is left alone. */
START_TEST(planted_symlinks_untouched)
{
    static const char secret[] = "not the shim's to write\n";
    const char *out = case_path("out"), *file = case_path("out/s.json");
    const char *target = case_path("target");
    ck_assert_int_eq(mkdir(out, 0755), 0);
    ck_assert_int_eq(tu_write_file(target, secret, strlen(secret)), 0);
    if (_i == 1)
        ck_assert_int_eq(symlink(target, file), 0);
    struct tu_proc p;
    run_shim(&p, LIST(CLASSES, var_eq("POOLSHIM_STATS_FILE", file)),
             LIST("plant_link", file, target));
    ck_clean(&p);
    long pid = helper_pid(&p);

    char *text = slurp(target);
    ck_assert_msg(text != NULL && strcmp(text, secret) == 0, "the target was written: %s",
                  text ? text : "(unreadable)");
    free(text);
    struct stat st;
    ck_assert_int_eq(lstat(file, &st), 0);
    ck_assert_msg(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600, "%s: mode %o", file,
                  (unsigned)st.st_mode);
    text = slurp(file);
    ck_assert_msg(is_stats_of(text, pid), "%s: %s", file,
                  text ? text : "(unreadable)");
    free(text);
    char want_ls[256];
    snprintf(want_ls, sizeof want_ls, "s.json s.json.%ld.tmp", pid);
    ck_assert_str_eq(dir_listing(out), want_ls);
    tu_proc_free(&p);
}
END_TEST

/* A stats file that cannot replace what is at its path (a directory): the
 * message names the error, and no temporary file is left behind. */
START_TEST(failed_rename_leaves_nothing)
{
    const char *target = case_path("taken");
    ck_assert_int_eq(mkdir(target, 0755), 0);
    struct tu_proc p;
    run_shim(&p, LIST(CLASSES, var_eq("POOLSHIM_STATS_FILE", target)),
             LIST("stats_mix", "mix", "5"));
    ck_exit(&p, 5);
    ck_assert_msg(tu_count_lines(p.err) == 1 && strstr(p.err, "(EISDIR)\n") != NULL,
                  "stderr: %s", p.err);
    ck_assert_str_eq(dir_listing(case_dir), "taken");
    ck_assert_str_eq(dir_listing(target), "");
    tu_proc_free(&p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* where the exit table goes (POOLSHIM_STATS=1)                              */

/* fd_reuse's text, as it must be in its file */
static const char *reuse_text(void)
{
    static char text[2048];
    size_t n = 0;
    for (int i = 1; i <= 50; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "line %d of fd_reuse\n", i);
    return text;
}

/* The table goes to the copy of stderr taken at start-up while that is still
 * the same file (a program that closes stderr still gets it); else to fd 2
 * while that is; else nowhere. Never into a file the program opened on the
 * copy's number. */
static const struct {
    const char *mode;
    bool table; /* on the test's stderr */
} exit_tables[] = {
    {"close-stderr", true},
    {"reuse", true},         /* fd 2 is still stderr */
    {"reuse-stderr", false}, /* fd 2 is /dev/null now */
    {"reuse-threads", true}, /* and the live file grows for new threads */
};

START_TEST(exit_table_never_into_program_files)
{
    const char *file = case_path("data.txt");
    bool reuse = _i > 0;
    struct tu_proc p;
    run_shim(&p, LIST(CLASSES, "POOLSHIM_STATS=1"),
             reuse ? LIST("fd_reuse", exit_tables[_i].mode, file)
                   : LIST("fd_reuse", exit_tables[_i].mode));
    ck_exit(&p, 0);
    if (reuse) {
        char *text = slurp(file);
        struct stat st;
        ck_assert_msg(text != NULL && strcmp(text, reuse_text()) == 0,
                      "the program's file was written to:\n%s", text ? text : "(unreadable)");
        ck_assert_msg(stat(file, &st) == 0 && (size_t)st.st_size == strlen(reuse_text()),
                      "the program's file has %lld bytes, not the %zu it wrote",
                      (long long)st.st_size, strlen(reuse_text()));
        free(text);
    }
    if (exit_tables[_i].table) {
        struct tu_stats st;
        ck_assert_msg(tu_parse_stats(p.err, &st) == 0 && st.nrows == 2,
                      "no table on stderr: %s", p.err);
        /* 8, and 16 threads' 4 each with reuse-threads */
        ck_assert_uint_eq(tu_stats_class(&st, 64)->served, _i == 3 ? 72 : 8);
    } else {
        ck_quiet_stderr(&p);
    }
    tu_proc_free(&p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* POOLSHIM_STATS_SIGNAL                                                     */

/* _i: 0 with caches, 1 without */
START_TEST(signal_writes_mid_run_file)
{
    bool cache = _i == 0;
    const char *file = case_path("s.json");
    struct tu_proc p;
    run_shim(&p, LIST(CLASSES, var_eq("POOLSHIM_STATS_FILE", file), "POOLSHIM_STATS_SIGNAL=USR1",
                      cache ? "POOLSHIM_CACHE=1" : "POOLSHIM_CACHE=0"),
             LIST("stats_mix", "signal", file));
    ck_clean(&p);
    long pid = helper_pid(&p);

    /* what the helper read right after kill() returned */
    const char *mid = tu_kv(p.out, "mid");
    ck_assert_msg(mid != NULL && strcmp(mid, "(none)") != 0, "no mid-run file; %s",
                  tu_describe(&p));
    char *mid_text = malloc(strlen(mid) + 2);
    sprintf(mid_text, "%s\n", mid);
    struct want w = want_of(MID, false, cache);
    ck_json(mid_text, pid, &w, "mid-run");
    free(mid_text);

    w = want_of(FINAL, false, cache);
    char *text = slurp(file);
    ck_json(text, pid, &w, "final");
    free(text);
    ck_assert_str_eq(dir_listing(case_dir), "s.json");
    tu_proc_free(&p);
}
END_TEST

/* Without a file the signal prints the table on stderr: _i 0 only that one,
 * _i 1 with POOLSHIM_STATS=1 too, so the exit table follows; _i 2 as 1 in
 * strict mode. */
START_TEST(signal_prints_table_without_file)
{
    bool stats = _i >= 1, strict = _i == 2;
    struct tu_proc p;
    run_shim(&p, LIST(CLASSES, "POOLSHIM_STATS_SIGNAL=USR1", "POOLSHIM_CACHE=0",
                      stats ? "POOLSHIM_STATS=1" : "POOLSHIM_STATS=0",
                      strict ? "POOLSHIM_STRICT=1" : "POOLSHIM_STRICT=0"),
             LIST("stats_mix", "signal"));
    ck_exit(&p, 0);
    ck_kv(&p, "uncovered", "5");
    ck_assert_ptr_null(tu_kv(p.out, "mid"));
    long pid = helper_pid(&p);
    struct want w = want_of(MID, strict, false);
    const char *rest = ck_table(p.err, pid, &w, "signal");
    if (stats) {
        w = want_of(FINAL, strict, false);
        rest = ck_table(rest, pid, &w, "exit");
    }
    ck_assert_msg(*rest == '\0', "more on stderr: %s", rest);
    tu_proc_free(&p);
}
END_TEST

/* A signal keeps its own meaning under POOLSHIM_STATS_SIGNAL: after the
 * snapshot, what would have happened without the shim happens (the default
 * action, or nothing for an ignored signal), except for USR1, USR2 and the
 * real-time signals, whose default the shim takes over. A handler the program
 * installs later replaces the shim's: no snapshot on that signal any more,
 * the program's handler runs, the exit report still comes. */
static const struct {
    int sig;
    const char *name, *mode; /* signal_kinds' mode */
    bool dies, snapshot;
    int handled;
} sig_kinds[] = {
    {SIGTERM, "TERM", "dfl", true, true, 0},
    {SIGINT, "INT", "dfl", true, true, 0},
    {SIGHUP, "HUP", "dfl", true, true, 0},
    {SIGQUIT, "QUIT", "dfl", true, true, 0},
    {SIGUSR1, "USR1", "dfl", false, true, 0},
    {SIGHUP, "HUP", "ign", false, true, 0},
    {SIGINT, "INT", "ign", false, true, 0},
    {SIGTERM, "TERM", "own", false, false, 1},
    {SIGUSR1, "USR1", "own", false, false, 1},
};

START_TEST(signal_keeps_its_meaning)
{
    const char *file = case_path("s.json");
    char num[16];
    snprintf(num, sizeof num, "%d", sig_kinds[_i].sig);
    struct tu_proc p;
    run_shim(&p, LIST(CLASSES, var_eq("POOLSHIM_STATS_FILE", file),
                      var_eq("POOLSHIM_STATS_SIGNAL", sig_kinds[_i].name)),
             LIST("signal_kinds", num, sig_kinds[_i].mode, file));
    const char *what = sig_kinds[_i].name;
    long pid = helper_pid(&p);
    if (sig_kinds[_i].dies) {
        ck_assert_msg(p.sig == sig_kinds[_i].sig && !p.timed_out,
                      "%s: want killed by signal %d; %s", what, sig_kinds[_i].sig,
                      tu_describe(&p));
        ck_assert_ptr_null(tu_kv(p.out, "survived"));
    } else {
        ck_clean(&p);
        ck_kv(&p, "survived", "1");
        ck_kv_num(&p, "handled", sig_kinds[_i].handled);
        const char *mid = tu_kv(p.out, "mid");
        ck_assert_ptr_nonnull(mid);
        if (sig_kinds[_i].snapshot)
            ck_assert_msg(is_stats_of(mid, pid), "%s: no snapshot: %s", what,
                          mid);
        else
            ck_assert_msg(strcmp(mid, "(none)") == 0, "%s: a snapshot: %s", what, mid);
    }
    /* the snapshot, or the exit report */
    char *text = slurp(file);
    ck_assert_msg(is_stats_of(text, pid), "%s: %s: %s", what,
                  file, text ? text : "(none)");
    free(text);
    tu_proc_free(&p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* POOLSHIM_PROFILE                                                          */

/* The profile block the helper's run must leave: its own "expect_" lines. */
static void profile_block(char *buf, size_t cap, const struct tu_proc *p)
{
    snprintf(buf, cap,
             "# poolshim profile 1 pid %ld\n%s\n%s\n%s\n# larger than 1048576: %s requests\n"
             "# end\n",
             helper_pid(p), tu_kv(p->out, "expect_24"), tu_kv(p->out, "expect_100"),
             tu_kv(p->out, "expect_1000"), tu_kv(p->out, "expect_larger"));
}

/* Run argv under the shim, profiling into the case's file p.txt, and check
 * that the run was clean; returns the file's path (as case_path). */
static const char *run_profiled(struct tu_proc *p, const char *const *argv)
{
    const char *file = case_path("p.txt");
    run_shim(p, LIST(var_eq("POOLSHIM_PROFILE", file)), argv);
    ck_clean(p);
    return file;
}

/* text without its "# program NAME at TIME" lines (each block has one
 * before it, its time now), checked; NULL stays NULL. Free the result. */
static char *without_program_lines(char *text)
{
    if (text == NULL)
        return NULL;
    char *out = text, *line = text;
    int blocks = 0, programs = 0;
    while (*line) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);
        char name[64], at[32];
        if (strncmp(line, "# program ", 10) == 0) {
            ck_assert_msg(sscanf(line, "# program %63s at %31s", name, at) == 2 && tu_time_ok(at),
                          "bad line: %.*s", (int)n, line);
            programs++;
        } else {
            blocks += strncmp(line, "# poolshim profile ", 19) == 0;
            memmove(out, line, n);
            out += n;
        }
        line += n;
    }
    *out = '\0';
    ck_assert_msg(programs == blocks, "%d blocks, %d program lines", blocks, programs);
    return text;
}

/* The profile file holds exactly want (and a program line per block). */
static void ck_profile(const char *file, const char *want)
{
    char *text = without_program_lines(slurp(file));
    ck_assert_msg(text != NULL && strcmp(text, want) == 0, "profile:\n%s\nwant\n%s",
                  text ? text : "(none)", want);
    free(text);
}

START_TEST(profile_baseline_is_empty)
{
    /* the premise: nothing but the helper's own requests is counted */
    struct tu_proc p;
    const char *file = run_profiled(&p, LIST("stats_profile", "none"));
    char want[256];
    snprintf(want, sizeof want,
             "# poolshim profile 1 pid %ld\n# larger than 1048576: 0 requests\n# end\n",
             helper_pid(&p));
    ck_profile(file, want);
    tu_proc_free(&p);
}
END_TEST

START_TEST(profile_blocks_exact_and_appended)
{
    const char *file = case_path("p.txt"), *var = var_eq("POOLSHIM_PROFILE", file);
    struct tu_proc plain, first, second;
    run_with(&plain, false, LIST(NULL), LIST("stats_profile", "run"), NULL);
    ck_clean(&plain);
    /* glibc's usable size of malloc(100) is 104: bucket 112 */
    ck_kv(&plain, "bucket_100", "112");

    run_shim(&first, LIST(var), LIST("stats_profile", "run"));
    ck_clean(&first); /* nothing on stderr */
    char *a = without_pid(first.out), *b = without_pid(plain.out);
    ck_assert_msg(strcmp(a, b) == 0, "stdout changed:\n%s\nwant\n%s", a, b);
    free(a);
    free(b);
    char want[2048];
    profile_block(want, sizeof want, &first);
    ck_profile(file, want);

    run_shim(&second, LIST(var), LIST("stats_profile", "run"));
    ck_clean(&second);
    size_t len = strlen(want);
    profile_block(want + len, sizeof want - len, &second);
    ck_profile(file, want); /* after two runs */
    ck_assert_str_eq(dir_listing(case_dir), "p.txt");
    tu_proc_free(&plain);
    tu_proc_free(&first);
    tu_proc_free(&second);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* POOLSHIM_PROFILE in a forked child                                        */

/* The child's block counts its own requests (and larger ones) only, its peak
 * from the 7 blocks it inherited live; it exits first, so its block comes
 * first. */
START_TEST(profile_fork_child_counts_own_requests)
{
    struct tu_proc p;
    const char *file = run_profiled(&p, LIST("profile_fork", "7", "5"));
    /* glibc's usable size of malloc(3000) is 3000: bucket 3008 */
    ck_kv(&p, "bucket", "3008");
    char want[1024];
    snprintf(want, sizeof want,
             "# poolshim profile 1 pid %ld\n3008 5 12\n# larger than 1048576: 0 requests\n# end\n"
             "# poolshim profile 1 pid %ld\n3008 7 7\n# larger than 1048576: 1 requests\n# end\n",
             (long)tu_kv_num(p.out, "child", -1), helper_pid(&p));
    ck_profile(file, want);
    tu_proc_free(&p);
}
END_TEST

/* A profile that cannot be written is reported on the stderr of start-up
 * only: a data file that the program opened as fd 2 later gets nothing. */
START_TEST(profile_failure_not_into_reused_stderr)
{
    const char *data = case_path("data");
    struct tu_proc p;
    run_shim(&p, LIST("POOLSHIM_PROFILE=/nonexistent/dir/p.txt"), LIST("stderr_reuse", data));
    ck_exit(&p, 0);
    ck_assert_str_eq(p.out, "");
    ck_profile(data, "data of stderr_reuse\n");
    tu_proc_free(&p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* POOLSHIM_VERBOSE                                                          */

/* What shim_config_print() says for vars: the effective configuration, from
 * the parser and printer the shim itself is built from (libshimcore.a). */
static char *expected_config(const char *const *vars)
{
    struct shim_config cfg;
    shim_config_defaults(&cfg);
    ck_assert_int_eq(shim_config_parse(&cfg, (char *const *)vars, 2), 0);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    shim_config_print(&cfg, fds[1]); /* ~1.5 kB: fits in the pipe */
    close(fds[1]);
    char *s = calloc(1, 65536);
    size_t len = 0;
    ssize_t r;
    while ((r = read(fds[0], s + len, 65535 - len)) > 0)
        len += (size_t)r;
    close(fds[0]);
    return s;
}

/* _i 0: pool mode with a statistics file; 1: profile mode. Verbose prints
 * the effective configuration on stderr and changes nothing else. */
START_TEST(verbose_prints_config_only)
{
    bool profile = _i == 1;
    const char *name = profile ? "POOLSHIM_PROFILE" : "POOLSHIM_STATS_FILE";
    const char *file_q = case_path("quiet"), *file_v = case_path("verbose");
    const char *var_q = var_eq(name, file_q), *var_v = var_eq(name, file_v);
    const char *const *argv = profile ? LIST("stats_profile", "run") : LIST("stats_mix", "mix", "3");
    int status = profile ? 0 : 3;

    struct tu_proc quiet, verbose;
    run_shim(&quiet, LIST(CLASSES, var_q, "POOLSHIM_STATS_SIGNAL=USR1"), argv);
    const char *const vars_v[] = {CLASSES, var_v, "POOLSHIM_STATS_SIGNAL=USR1",
                                  "POOLSHIM_VERBOSE=1", NULL};
    run_shim(&verbose, vars_v, argv);
    ck_exit(&quiet, status);
    ck_quiet_stderr(&quiet);
    ck_exit(&verbose, status);

    /* stderr: the configuration, nothing else */
    char *want = expected_config(vars_v);
    ck_assert_msg(strcmp(verbose.err, want) == 0, "stderr:\n%s\nwant\n%s", verbose.err, want);
    int nlines = tu_count_lines(want); /* the summary, one line per variable */
    free(want);
    ck_assert_int_ge(nlines, 13);
    ck_assert_str_eq(tu_line(verbose.err, 0, (char[128]){0}, 128),
                     "poolshim: version " POOL_VERSION_STRING ", 2 classes, 8960 bytes of objects");
    char line[4500], prefix[4500];
    for (int i = 1; i < nlines; i++)
        ck_assert(strncmp(tu_line(verbose.err, i, line, sizeof line), "poolshim: POOLSHIM_", 19) == 0);
    const char *must[] = {"poolshim: POOLSHIM_CLASSES=64:100,256:10 ",
                          "poolshim: POOLSHIM_VERBOSE=1 ",
                          "poolshim: POOLSHIM_STATS_SIGNAL=SIGUSR1 ", prefix};
    snprintf(prefix, sizeof prefix, "poolshim: %s=%s ", name, file_v);
    for (int k = 0; k < N(must); k++)
        ck_assert_msg(strstr(verbose.err, must[k]) != NULL, "no \"%s\" in:\n%s", must[k],
                      verbose.err);

    /* stdout and the file as without verbose (the pid aside) */
    char *a = without_pid(verbose.out), *b = without_pid(quiet.out);
    ck_assert_msg(strcmp(a, b) == 0, "stdout changed:\n%s\nwant\n%s", a, b);
    free(a);
    free(b);
    char *fq = slurp(file_q), *fv = slurp(file_v);
    ck_assert_msg(fq != NULL && fv != NULL, "files missing: %s", dir_listing(case_dir));
    if (profile) {
        /* the first line names the pid */
        without_program_lines(fq);
        without_program_lines(fv);
        const char *q = strchr(fq, '\n'), *v = strchr(fv, '\n');
        ck_assert_msg(q && v && strcmp(q, v) == 0, "profile:\n%s\nwant\n%s", fv, fq);
    } else {
        struct want w = want_of(FINAL, false, true);
        ck_json(fq, helper_pid(&quiet), &w, "quiet");
        ck_json(fv, helper_pid(&verbose), &w, "verbose");
        struct js_stats sq, sv;
        char err[160];
        ck_assert_int_eq(js_parse(fq, &sq, err, sizeof err), 0);
        ck_assert_int_eq(js_parse(fv, &sv, err, sizeof err), 0);
        sq.pid = sv.pid = 0;
        ck_assert_msg(memcmp(&sq, &sv, sizeof sq) == 0, "figures differ:\n%s\n%s", fq, fv);
    }
    free(fq);
    free(fv);
    tu_proc_free(&quiet);
    tu_proc_free(&verbose);
}
END_TEST

/* ------------------------------------------------------------------------ */

static void stats_cases(Suite *s)
{
    TCase *tc = add_tcase(s, "file", 30, TC_CASE_DIR, json_baseline_is_empty);
    tcase_add_loop_test(tc, json_file_exact, 0, 4);
    add_tests(tc, json_file_per_process, json_file_percent_escapes);
    tcase_add_loop_test(tc, unwritable_file_one_line, 0, N(unwritable));
    add_tests(tc, failed_rename_leaves_nothing);
    tcase_add_loop_test(tc, planted_symlinks_untouched, 0, 2);

    tc = add_tcase(s, "exit_table", 30, TC_CASE_DIR);
    tcase_add_loop_test(tc, exit_table_never_into_program_files, 0, N(exit_tables));

    tc = add_tcase(s, "signal", 30, TC_CASE_DIR);
    tcase_add_loop_test(tc, signal_writes_mid_run_file, 0, 2);
    tcase_add_loop_test(tc, signal_prints_table_without_file, 0, 3);
    tcase_add_loop_test(tc, signal_keeps_its_meaning, 0, N(sig_kinds));

    add_tcase(s, "profile", 30, TC_CASE_DIR, profile_baseline_is_empty,
              profile_blocks_exact_and_appended);

    add_tcase(s, "profile_fork", 30, TC_CASE_DIR, profile_fork_child_counts_own_requests,
              profile_failure_not_into_reused_stderr);

    tc = add_tcase(s, "verbose", 30, TC_CASE_DIR);
    tcase_add_loop_test(tc, verbose_prints_config_only, 0, 2);
}

TU_SUITE("stats", stats_cases, TU_SHIM);
