/* test_config.c - the POOLSHIM_* parser (shim/config.c): valid values and
 * their exact results, every malformed case with its exact message line,
 * defaults, printing. Messages go to a pipe that the test reads back. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool/version.h"
#include "shim/config.h"
#include "tests/checkutil.h"

#define TAIL "; poolshim is off, the program runs on the system allocator\n"
#define EXPECT_CLASSES                                                         \
    " (expected SIZE[k]:COUNT pairs separated by commas, "                     \
    "e.g. 64:1024,256:512,4k:64)" TAIL
#define EXPECT_BOOL " (expected 0, 1, true, false, yes, no, on or off)" TAIL
#define EXPECT_SIZE                                                            \
    " (expected a size in bytes above 0 with an optional k, M or G suffix, "   \
    "e.g. 64M)" TAIL
#define EXPECT_SIGNAL                                                          \
    " (expected a signal number from 1 to 64, or a name such as USR1, USR2, "  \
    "HUP, INT, TERM, QUIT or WINCH)" TAIL
#define EXPECT_PATH " (expected a file path)" TAIL
#define EXPECT_ON_ERROR " (expected off or abort)" TAIL
#define EXPECT_NAMES_LIST                                                      \
    " (expected executable names separated by commas, e.g. server,worker)" TAIL
/* the tail under POOLSHIM_ON_ERROR=abort (or a malformed one) */
#define TAIL_ABORT                                                             \
    "; poolshim stops the program with exit status 78 "                        \
    "(POOLSHIM_ON_ERROR=abort)\n"
#define EXPECT_NAMES                                                           \
    " (expected one of POOLSHIM_CLASSES, POOLSHIM_STRICT, POOLSHIM_STATS, "    \
    "POOLSHIM_PREFAULT, POOLSHIM_MLOCK, POOLSHIM_HUGEPAGES, POOLSHIM_CHECK, "  \
    "POOLSHIM_CACHE, "                                                         \
    "POOLSHIM_VERBOSE, POOLSHIM_STATS_FILE, POOLSHIM_STATS_SIGNAL, "           \
    "POOLSHIM_PROFILE, POOLSHIM_BUDGET, POOLSHIM_ON_ERROR, POOLSHIM_CHILDREN, " \
    "POOLSHIM_ONLY, POOLSHIM_LATENCY, POOLSHIM_LIVE or POOLSHIM_WARN)" TAIL

static char out[65536];

/* Close the pipe's write end p[1], read what was written into out[], close
 * p[0]. */
static void drain(int p[2])
{
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n < sizeof out - 1 && (r = read(p[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(p[0]);
}

/* Parse envp (NULL-terminated) on top of the defaults into *cfg; the lines
 * written to err_fd end up in out[]. Returns what parse returned. */
static int parse(struct shim_config *cfg, const char *const *envp)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    shim_config_defaults(cfg);
    int rc = shim_config_parse(cfg, (char *const *)envp, p[1]);
    drain(p);
    return rc;
}

/* Parse the single entry NAME=VALUE. */
static int parse1(struct shim_config *cfg, const char *name, const char *value)
{
    static char entry[8192];
    snprintf(entry, sizeof entry, "%s=%s", name, value);
    const char *env[] = {entry, NULL};
    return parse(cfg, env);
}

static void expect_line(const char *name, const char *value, const char *what,
                        const char *expect)
{
    char line[4096];
    snprintf(line, sizeof line, "poolshim: %s=\"%s\": %s%s", name, value, what,
             expect);
    ck_assert_str_eq(out, line);
}

/* NAME=text is accepted, silently. */
static void expect_accepted(struct shim_config *cfg, const char *name, const char *text)
{
    ck_assert_int_eq(parse1(cfg, name, text), 0);
    ck_assert_str_eq(out, "");
}

/* A value the parser takes, and the number it is (or means). */
struct good {
    const char *text;
    uint64_t value;
};

/* NAME=g->text is accepted silently and sets the int at offset `off` of the
 * configuration to g->value. */
static void expect_int(const char *name, const struct good *g, size_t off)
{
    struct shim_config c;
    expect_accepted(&c, name, g->text);
    ck_assert_int_eq(*(const int *)((const char *)&c + off), (int)g->value);
}

/* A value the parser refuses, and the WHAT of the line it says so in. */
struct bad {
    const char *text;
    const char *what;
};

/* NAME=b->text is refused with one line: the quoted value, WHAT, expect. */
static void expect_refused(struct shim_config *cfg, const char *name, const struct bad *b,
                           const char *expect)
{
    ck_assert_int_eq(parse1(cfg, name, b->text), -1);
    expect_line(name, b->text, b->what, expect);
}

/* out[] equals want, compared line by line so that a failure names the
 * first differing line (Check cannot report a whole page). */
static void assert_lines(const char *want)
{
    const char *a = out, *b = want;
    for (unsigned line = 1;; line++) {
        size_t na = strcspn(a, "\n"), nb = strcspn(b, "\n");
        ck_assert_msg(na == nb && memcmp(a, b, na) == 0 && a[na] == b[nb],
                      "line %u: got \"%.*s\", want \"%.*s\"", line, (int)na,
                      a, (int)nb, b);
        if (a[na] == '\0')
            break;
        a += na + 1;
        b += nb + 1;
    }
}

/* Print cfg into out[]. */
static void print(const struct shim_config *cfg)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    shim_config_print(cfg, p[1]);
    drain(p);
}

static const struct pool_class_spec default_set[] = {
    {16, 8192}, {32, 4096}, {48, 2048}, {64, 2048}, {96, 1024},
    {128, 1024}, {192, 512}, {256, 512}, {384, 256}, {512, 256},
    {1024, 128}, {2048, 64}, {4096, 32},
};

static void assert_defaults(const struct shim_config *c)
{
    ck_assert_uint_eq(c->nclasses, 13);
    for (unsigned i = 0; i < 13; i++) {
        ck_assert_uint_eq(c->classes[i].size, default_set[i].size);
        ck_assert_uint_eq(c->classes[i].count, default_set[i].count);
    }
    ck_assert(!c->strict);
    ck_assert(!c->stats);
    ck_assert(c->prefault);
    ck_assert(!c->mlock);
    ck_assert(!c->check);
    ck_assert(c->cache);
    ck_assert(!c->verbose);
    ck_assert_ptr_null(c->stats_file);
    ck_assert_int_eq(c->stats_signal, 0);
    ck_assert_ptr_null(c->profile);
    ck_assert_ptr_null(c->latency);
    ck_assert_uint_eq(c->budget, UINT64_C(64) << 20);
    ck_assert_int_eq(c->on_error, SHIM_ON_ERROR_OFF);
    ck_assert(c->children);
    ck_assert_ptr_null(c->only);
    ck_assert(c->live);
    ck_assert(!c->warn);
    ck_assert(!c->classes_set);
}

/* ---- defaults ---- */

START_TEST(defaults_values)
{
    struct shim_config c;
    memset(&c, 0xa5, sizeof c);
    shim_config_defaults(&c);
    assert_defaults(&c);
    ck_assert_uint_eq(shim_config_bytes(&c), 1572864); /* 1.5 MiB */
}
END_TEST

/* Environments without a POOLSHIM_ variable leave the defaults, silently. */
static const char *const no_vars_0[] = {NULL};
static const char *const no_vars_1[] = {"PATH=/bin", "HOME=/root", NULL};
static const char *const no_vars_2[] = {"POOLSHIMX=1", "POOLSHIM=1",
                                        "poolshim_strict=1", "XPOOLSHIM_STATS=1",
                                        NULL};
static const char *const no_vars_3[] = {"POOLSHIM_STRICT", "POOLSHIM_FOO",
                                        NULL}; /* no '=': not variables */
static const char *const *const no_vars[] = {NULL, no_vars_0, no_vars_1,
                                             no_vars_2, no_vars_3};

START_TEST(defaults_when_unset)
{
    struct shim_config c;
    ck_assert_int_eq(parse(&c, no_vars[_i]), 0);
    ck_assert_str_eq(out, "");
    assert_defaults(&c);
}
END_TEST

/* ---- POOLSHIM_CLASSES, valid ---- */

static const struct {
    const char *value;
    unsigned n;
    struct pool_class_spec c[6];
} good_classes[] = {
    {"64:1024", 1, {{64, 1024}}},
    {"64:1024,256:512,4k:64", 3, {{64, 1024}, {256, 512}, {4096, 64}}},
    {"4k:64,64:1024,256:512", 3, {{64, 1024}, {256, 512}, {4096, 64}}},
    {"256:512,4K:64,64:1024", 3, {{64, 1024}, {256, 512}, {4096, 64}}},
    {"100:3,50:2,25:1,200:4", 4, {{25, 1}, {50, 2}, {100, 3}, {200, 4}}},
    {"1K:3,2k:5", 2, {{1024, 3}, {2048, 5}}},
    {"1m:1", 1, {{1048576, 1}}},
    {"1M:4096", 1, {{1048576, 4096}}},          /* exactly 4 GiB */
    {"1048576:4096", 1, {{1048576, 4096}}},
    {"1048575:4096", 1, {{1048575, 4096}}},     /* stride 1 MiB */
    {"16:1k,32:2K", 2, {{16, 1024}, {32, 2048}}},
    {"1:1", 1, {{1, 1}}},
    {"1:268435456", 1, {{1, 268435456}}},       /* 16 * 2^28 = 4 GiB */
    {"1:1,17:1,33:1", 3, {{1, 1}, {17, 1}, {33, 1}}},
    {"16:1,17:1", 2, {{16, 1}, {17, 1}}},
    {"048:010", 1, {{48, 10}}},
    {"512k:1,1k:1,1:1", 3, {{1, 1}, {1024, 1}, {524288, 1}}},
    {"none", 0, {{0, 0}}}, /* the pools off */
    {"NoNe", 0, {{0, 0}}},
};

START_TEST(classes_good)
{
    struct shim_config c;
    expect_accepted(&c, "POOLSHIM_CLASSES", good_classes[_i].value);
    ck_assert(c.classes_set);
    ck_assert_uint_eq(c.nclasses, good_classes[_i].n);
    for (unsigned k = 0; k < c.nclasses; k++) {
        ck_assert_uint_eq(c.classes[k].size, good_classes[_i].c[k].size);
        ck_assert_uint_eq(c.classes[k].count, good_classes[_i].c[k].count);
    }
}
END_TEST

/* 32 classes (16, 32, ..., 512) in ascending and descending order. */
static void make_classes(char *buf, size_t cap, unsigned n, bool down)
{
    size_t len = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < n; i++) {
        unsigned k = down ? n - i : i + 1;
        len += (size_t)snprintf(buf + len, cap - len, "%s%u:%u",
                                i ? "," : "", 16 * k, k);
    }
}

START_TEST(classes_max_count)
{
    char spec[1024];
    struct shim_config c;
    make_classes(spec, sizeof spec, POOL_CLASSES_MAX, _i == 1);
    ck_assert_int_eq(parse1(&c, "POOLSHIM_CLASSES", spec), 0);
    ck_assert_str_eq(out, "");
    ck_assert_uint_eq(c.nclasses, 32);
    for (unsigned k = 0; k < 32; k++) {
        ck_assert_uint_eq(c.classes[k].size, 16 * (k + 1));
        ck_assert_uint_eq(c.classes[k].count, k + 1);
    }
}
END_TEST

START_TEST(classes_too_many)
{
    char spec[1024], line[2048];
    struct shim_config c;
    make_classes(spec, sizeof spec, POOL_CLASSES_MAX + 1, false);
    ck_assert_int_eq(parse1(&c, "POOLSHIM_CLASSES", spec), -1);
    /* the value is longer than the 200 characters shown: shortened */
    ck_assert_uint_gt(strlen(spec), 200);
    snprintf(line, sizeof line,
             "poolshim: POOLSHIM_CLASSES=\"%.197s...\": too many classes "
             "(at most 32) at \"528:33\"" EXPECT_CLASSES, spec);
    ck_assert_str_eq(out, line);
}
END_TEST

/* ---- POOLSHIM_CLASSES, malformed: the exact WHAT of the message ---- */

static const struct bad bad_classes[] = {
    {"", "empty value"},
    {",", "empty item (leading comma)"},
    {",64:1", "empty item (leading comma)"},
    {"64:1,", "empty item (trailing comma)"},
    {"64:1,,128:1", "empty item (two commas in a row)"},
    {"64", "missing count in \"64\""},
    {"64:", "missing count in \"64:\""},
    {"64:1,128", "missing count in \"128\""},
    {":10", "missing size in \":10\""},
    {":", "missing size in \":\""},
    {"64:abc", "bad count \"abc\" in \"64:abc\""},
    {"64:1,128:x", "bad count \"x\" in \"128:x\""},
    {"6x4:10", "bad size \"6x4\" in \"6x4:10\""},
    {"abc", "bad size \"abc\" in \"abc\""},
    {"64k1:1", "bad size \"64k1\" in \"64k1:1\""},
    {"1g:1", "bad size \"1g\" in \"1g:1\""},
    {"1kk:1", "bad size \"1kk\" in \"1kk:1\""},
    {"k:1", "bad size \"k\" in \"k:1\""},
    {" 64:1", "bad size \" 64\" in \" 64:1\""},
    {"-64:1", "bad size \"-64\" in \"-64:1\""},
    {"+64:1", "bad size \"+64\" in \"+64:1\""},
    {"0x40:1", "bad size \"0x40\" in \"0x40:1\""},
    {"64:1 ", "bad count \"1 \" in \"64:1 \""},
    {"64:-1", "bad count \"-1\" in \"64:-1\""},
    {"64:1m", "bad count \"1m\" in \"64:1m\""},
    {"64:10:5", "bad count \"10:5\" in \"64:10:5\""},
    {"64;1", "bad size \"64;1\" in \"64;1\""},
    {"0:10", "zero size \"0\" in \"0:10\""},
    {"0k:10", "zero size \"0k\" in \"0k:10\""},
    {"64:0", "zero count \"0\" in \"64:0\""},
    {"64:0k", "zero count \"0k\" in \"64:0k\""},
    {"2M:1", "size \"2M\" too large (at most 1M) in \"2M:1\""},
    {"1048577:1", "size \"1048577\" too large (at most 1M) in \"1048577:1\""},
    {"1025k:1", "size \"1025k\" too large (at most 1M) in \"1025k:1\""},
    {"99999999999999999999:1", "size \"99999999999999999999\" too large "
                               "(at most 1M) in \"99999999999999999999:1\""},
    {"18014398509481984k:1", "size \"18014398509481984k\" too large (at most "
                             "1M) in \"18014398509481984k:1\""},
    {"64:4294967295", "count \"4294967295\" too large (at most 4294967294) in "
                      "\"64:4294967295\""},
    {"64:4194304k", "count \"4194304k\" too large (at most 4294967294) in "
                    "\"64:4194304k\""},
    {"64:99999999999999999999", "count \"99999999999999999999\" too large (at "
                                "most 4294967294) in \"64:99999999999999999999\""},
    {"1:4294967294", "class too large: 4294967294 objects * 16 bytes = "
                     "68719476704 bytes (at most 4294967296) in \"1:4294967294\""},
    {"1:268435457", "class too large: 268435457 objects * 16 bytes = "
                    "4294967312 bytes (at most 4294967296) in \"1:268435457\""},
    {"1M:4097", "class too large: 4097 objects * 1048576 bytes = 4296015872 "
                "bytes (at most 4294967296) in \"1M:4097\""},
    {"1048575:4097", "class too large: 4097 objects * 1048576 bytes = "
                     "4296015872 bytes (at most 4294967296) in \"1048575:4097\""},
    {"64:10,64:20", "duplicate size 64 in \"64:10\" and \"64:20\""},
    {"1k:1,128:1,1024:5", "duplicate size 1024 in \"1k:1\" and \"1024:5\""},
    {"1m:1,1048576:2", "duplicate size 1048576 in \"1m:1\" and \"1048576:2\""},
    {"60:10,64:10", "\"60:10\" and \"64:10\" share the same 64-byte slot "
                    "(sizes round up to a multiple of 16)"},
    {"64:10,60:10", "\"64:10\" and \"60:10\" share the same 64-byte slot "
                    "(sizes round up to a multiple of 16)"},
    {"1:1,16:1", "\"1:1\" and \"16:1\" share the same 16-byte slot "
                 "(sizes round up to a multiple of 16)"},
    {"100:1,17:1,20:1", "\"17:1\" and \"20:1\" share the same 32-byte slot "
                        "(sizes round up to a multiple of 16)"},
    {"4k:1,4095:1", "\"4k:1\" and \"4095:1\" share the same 4096-byte slot "
                    "(sizes round up to a multiple of 16)"},
};

START_TEST(classes_bad)
{
    struct shim_config c;
    expect_refused(&c, "POOLSHIM_CLASSES", &bad_classes[_i], EXPECT_CLASSES);
    assert_defaults(&c); /* unchanged on failure */
}
END_TEST

/* The example of the specification, verbatim. */
START_TEST(classes_bad_example)
{
    struct shim_config c;
    ck_assert_int_eq(parse1(&c, "POOLSHIM_CLASSES", "64:abc"), -1);
    ck_assert_str_eq(out,
        "poolshim: POOLSHIM_CLASSES=\"64:abc\": bad count \"abc\" in \"64:abc\" "
        "(expected SIZE[k]:COUNT pairs separated by commas, e.g. "
        "64:1024,256:512,4k:64); poolshim is off, the program runs on the "
        "system allocator\n");
}
END_TEST

/* Control bytes, quotes and backslashes are escaped: one line, whatever the
 * value holds. */
START_TEST(classes_bad_escaped)
{
    struct shim_config c;
    ck_assert_int_eq(parse1(&c, "POOLSHIM_CLASSES", "64:\"\n\\\x01\xff"), -1);
    ck_assert_str_eq(out,
        "poolshim: POOLSHIM_CLASSES=\"64:\\\"\\x0a\\\\\\x01\\xff\": bad count "
        "\"\\\"\\x0a\\\\\\x01\\xff\" in \"64:\\\"\\x0a\\\\\\x01\\xff\""
        EXPECT_CLASSES);
}
END_TEST

/* A huge item: value and item shortened, the line complete and single. */
START_TEST(classes_bad_long)
{
    static char value[5000];
    struct shim_config c;
    memset(value, '7', 4000);
    strcpy(value + 4000, ":zz");
    ck_assert_int_eq(parse1(&c, "POOLSHIM_CLASSES", value), -1);
    char line[2048];
    snprintf(line, sizeof line,
             "poolshim: POOLSHIM_CLASSES=\"%.197s...\": size \"%.61s...\" "
             "too large (at most 1M) in \"%.61s...\"" EXPECT_CLASSES,
             value, value, value);
    ck_assert_str_eq(out, line);
    ck_assert_uint_lt(strlen(out), 1024);
}
END_TEST

/* ---- booleans ---- */

static const struct {
    const char *name;
    size_t off;
    bool def;
} bool_vars[] = {
    {"POOLSHIM_STRICT", offsetof(struct shim_config, strict), false},
    {"POOLSHIM_STATS", offsetof(struct shim_config, stats), false},
    {"POOLSHIM_PREFAULT", offsetof(struct shim_config, prefault), true},
    {"POOLSHIM_MLOCK", offsetof(struct shim_config, mlock), false},
    {"POOLSHIM_HUGEPAGES", offsetof(struct shim_config, hugepages), false},
    {"POOLSHIM_CHECK", offsetof(struct shim_config, check), false},
    {"POOLSHIM_CACHE", offsetof(struct shim_config, cache), true},
    {"POOLSHIM_VERBOSE", offsetof(struct shim_config, verbose), false},
    {"POOLSHIM_CHILDREN", offsetof(struct shim_config, children), true},
    {"POOLSHIM_LIVE", offsetof(struct shim_config, live), true},
    {"POOLSHIM_WARN", offsetof(struct shim_config, warn), false},
};
#define NBOOLS (sizeof bool_vars / sizeof bool_vars[0])

static bool bool_at(const struct shim_config *c, unsigned v)
{
    return *(const bool *)((const char *)c + bool_vars[v].off);
}

static const struct {
    const char *text;
    bool value;
} good_bools[] = {
    {"0", false}, {"1", true}, {"true", true}, {"TRUE", true},
    {"True", true}, {"false", false}, {"FALSE", false}, {"fAlSe", false},
    {"yes", true}, {"YES", true}, {"no", false}, {"No", false},
    {"on", true}, {"ON", true}, {"off", false}, {"OfF", false},
};

START_TEST(bools_good)
{
    for (unsigned v = 0; v < NBOOLS; v++) {
        struct shim_config c;
        expect_accepted(&c, bool_vars[v].name, good_bools[_i].text);
        for (unsigned w = 0; w < NBOOLS; w++)
            ck_assert_msg(bool_at(&c, w) == (w == v ? good_bools[_i].value
                                                    : bool_vars[w].def),
                          "%s=%s: %s is wrong", bool_vars[v].name,
                          good_bools[_i].text, bool_vars[w].name);
    }
}
END_TEST

static const struct bad bad_bools[] = {
    {"", "empty value"},       {"2", "not a boolean"},
    {"01", "not a boolean"},   {"tru", "not a boolean"},
    {"truee", "not a boolean"}, {"yes ", "not a boolean"},
    {" on", "not a boolean"},  {"enable", "not a boolean"},
    {"-1", "not a boolean"},   {"o", "not a boolean"},
    {"y", "not a boolean"},
};

START_TEST(bools_bad)
{
    for (unsigned v = 0; v < NBOOLS; v++) {
        struct shim_config c;
        expect_refused(&c, bool_vars[v].name, &bad_bools[_i], EXPECT_BOOL);
        assert_defaults(&c);
    }
}
END_TEST

/* ---- POOLSHIM_BUDGET ---- */

static const struct good good_budgets[] = {
    {"1", 1},
    {"64M", UINT64_C(64) << 20},
    {"64m", UINT64_C(64) << 20},
    {"1k", 1024},
    {"1K", 1024},
    {"2G", UINT64_C(2) << 30},
    {"2g", UINT64_C(2) << 30},
    {"1000", 1000},
    {"18446744073709551615", UINT64_MAX},
    {"17179869183G", ((UINT64_C(1) << 34) - 1) << 30},
};

START_TEST(budget_good)
{
    struct shim_config c;
    expect_accepted(&c, "POOLSHIM_BUDGET", good_budgets[_i].text);
    ck_assert_uint_eq(c.budget, good_budgets[_i].value);
}
END_TEST

static const struct bad bad_budgets[] = {
    {"", "empty value"},
    {"0", "zero size"},
    {"0k", "zero size"},
    {"64X", "bad size \"64X\""},
    {"64MB", "bad size \"64MB\""},
    {"1T", "bad size \"1T\""},
    {"M", "bad size \"M\""},
    {"-1", "bad size \"-1\""},
    {" 1", "bad size \" 1\""},
    {"1.5M", "bad size \"1.5M\""},
    {"18446744073709551616", "size \"18446744073709551616\" too large "
                             "(at most 2^64 - 1 bytes)"},
    {"17179869184G", "size \"17179869184G\" too large (at most 2^64 - 1 bytes)"},
};

START_TEST(budget_bad)
{
    struct shim_config c;
    expect_refused(&c, "POOLSHIM_BUDGET", &bad_budgets[_i], EXPECT_SIZE);
    ck_assert_uint_eq(c.budget, UINT64_C(64) << 20);
}
END_TEST

/* ---- POOLSHIM_STATS_SIGNAL ---- */

static const struct good good_signals[] = {
    {"USR1", SIGUSR1},   {"SIGUSR1", SIGUSR1}, {"usr1", SIGUSR1},
    {"sigusr2", SIGUSR2}, {"Usr2", SIGUSR2},   {"HUP", SIGHUP},
    {"SIGHUP", SIGHUP},  {"INT", SIGINT},      {"SIGINT", SIGINT},
    {"term", SIGTERM},   {"SIGTERM", SIGTERM}, {"QUIT", SIGQUIT},
    {"SigQuit", SIGQUIT}, {"WINCH", SIGWINCH}, {"sigwinch", SIGWINCH},
    {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},    {"CHLD", SIGCHLD},
    {"URG", SIGURG},     {"PROF", SIGPROF},    {"IO", SIGIO},
    {"POLL", SIGIO},     {"10", 10},           {"1", 1},
    {"12", 12},          {"31", 31},           {"34", 34},
    {"64", 64},          {"010", 10},
};

START_TEST(signal_good)
{
    expect_int("POOLSHIM_STATS_SIGNAL", &good_signals[_i],
               offsetof(struct shim_config, stats_signal));
}
END_TEST

static const struct bad bad_signals[] = {
    {"", "empty value"},
    {"0", "signal number \"0\" out of range"},
    {"65", "signal number \"65\" out of range"},
    {"99999999999999999999999", "signal number \"99999999999999999999999\" "
                                "out of range"},
    {"10x", "bad signal number \"10x\""},
    {"1k", "bad signal number \"1k\""},
    {"-10", "unknown signal name \"-10\""},
    {"FOO", "unknown signal name \"FOO\""},
    {"SIG", "unknown signal name \"SIG\""},
    {"USR3", "unknown signal name \"USR3\""},
    {"SIGSIGUSR1", "unknown signal name \"SIGSIGUSR1\""},
    {"SIG USR1", "unknown signal name \"SIG USR1\""},
    {"USR", "unknown signal name \"USR\""},
    {"USR1 ", "unknown signal name \"USR1 \""},
    {"SIG10", "unknown signal name \"SIG10\""},
    {"KILL", "SIGKILL cannot be caught"},
    {"sigkill", "SIGKILL cannot be caught"},
    {"9", "SIGKILL cannot be caught"},
    {"STOP", "SIGSTOP cannot be caught"},
    {"19", "SIGSTOP cannot be caught"},
    {"SEGV", "SIGSEGV reports program faults and aborts"},
    {"11", "SIGSEGV reports program faults and aborts"},
    {"SIGBUS", "SIGBUS reports program faults and aborts"},
    {"ill", "SIGILL reports program faults and aborts"},
    {"FPE", "SIGFPE reports program faults and aborts"},
    {"ABRT", "SIGABRT reports program faults and aborts"},
    {"IOT", "SIGABRT reports program faults and aborts"},
    {"6", "SIGABRT reports program faults and aborts"},
    {"32", "signal 32 is reserved by the C library"},
    {"33", "signal 33 is reserved by the C library"},
};

START_TEST(signal_bad)
{
    struct shim_config c;
    expect_refused(&c, "POOLSHIM_STATS_SIGNAL", &bad_signals[_i], EXPECT_SIGNAL);
    ck_assert_int_eq(c.stats_signal, 0);
}
END_TEST

/* ---- paths ---- */

START_TEST(paths)
{
    struct shim_config c;
    const char *env[] = {"POOLSHIM_STATS_FILE=/tmp/stats.json",
                         "POOLSHIM_PROFILE=prof.out", "POOLSHIM_LATENCY=lat.%p", NULL};
    ck_assert_int_eq(parse(&c, env), 0);
    ck_assert_str_eq(out, "");
    /* they point into envp, not into a copy */
    ck_assert_ptr_eq(c.stats_file, env[0] + strlen("POOLSHIM_STATS_FILE="));
    ck_assert_ptr_eq(c.profile, env[1] + strlen("POOLSHIM_PROFILE="));
    ck_assert_ptr_eq(c.latency, env[2] + strlen("POOLSHIM_LATENCY="));
    ck_assert_str_eq(c.stats_file, "/tmp/stats.json");
    ck_assert_str_eq(c.profile, "prof.out");
    ck_assert_str_eq(c.latency, "lat.%p");

    static const char *const names[] = {"POOLSHIM_STATS_FILE", "POOLSHIM_PROFILE",
                                        "POOLSHIM_LATENCY"};
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_int_eq(parse1(&c, names[i], ""), -1);
        expect_line(names[i], "", "empty value", EXPECT_PATH);
        ck_assert_ptr_null(c.stats_file);
        ck_assert_ptr_null(c.profile);
        ck_assert_ptr_null(c.latency);
    }
}
END_TEST

/* ---- unknown variables ---- */

static const struct {
    const char *entry;
    const char *line;
} unknown[] = {
    {"POOLSHIM_STAT=1", "poolshim: POOLSHIM_STAT=\"1\": unknown variable, did "
                        "you mean POOLSHIM_STATS?" EXPECT_NAMES},
    {"POOLSHIM_strict=yes", "poolshim: POOLSHIM_strict=\"yes\": unknown "
                            "variable, did you mean POOLSHIM_STRICT?" EXPECT_NAMES},
    {"POOLSHIM_CLASS=64:1", "poolshim: POOLSHIM_CLASS=\"64:1\": unknown "
                            "variable, did you mean POOLSHIM_CLASSES?" EXPECT_NAMES},
    {"POOLSHIM_STATSFILE=x", "poolshim: POOLSHIM_STATSFILE=\"x\": unknown "
                             "variable, did you mean POOLSHIM_STATS_FILE?"
                             EXPECT_NAMES},
    {"POOLSHIM_PREFALT=0", "poolshim: POOLSHIM_PREFALT=\"0\": unknown "
                           "variable, did you mean POOLSHIM_PREFAULT?" EXPECT_NAMES},
    {"POOLSHIM_FOO=1", "poolshim: POOLSHIM_FOO=\"1\": unknown variable"
                       EXPECT_NAMES},
    {"POOLSHIM_=1", "poolshim: POOLSHIM_=\"1\": unknown variable" EXPECT_NAMES},
    {"POOLSHIM_STRICT_MODE=1", "poolshim: POOLSHIM_STRICT_MODE=\"1\": unknown "
                               "variable" EXPECT_NAMES},
    {"POOLSHIM_CLASSES =64:1", "poolshim: POOLSHIM_CLASSES =\"64:1\": unknown "
                               "variable, did you mean POOLSHIM_CLASSES?"
                               EXPECT_NAMES},
};

START_TEST(unknown_variable)
{
    struct shim_config c;
    const char *env[] = {unknown[_i].entry, NULL};
    ck_assert_int_eq(parse(&c, env), -1);
    ck_assert_str_eq(out, unknown[_i].line);
    assert_defaults(&c);
}
END_TEST

/* ---- several entries ---- */

START_TEST(all_variables)
{
    struct shim_config c;
    const char *env[] = {
        "HOME=/root",
        "POOLSHIM_CLASSES=4k:8,32:100",
        "POOLSHIM_STRICT=1",   "POOLSHIM_STATS=yes",
        "POOLSHIM_PREFAULT=off", "POOLSHIM_MLOCK=on",
        "POOLSHIM_CHECK=true", "POOLSHIM_CACHE=no",
        "POOLSHIM_VERBOSE=1",  "POOLSHIM_STATS_FILE=s.json",
        "POOLSHIM_STATS_SIGNAL=SIGUSR2", "POOLSHIM_PROFILE=p.txt",
        "POOLSHIM_BUDGET=3G",  "POOLSHIM_ON_ERROR=abort",
        "POOLSHIM_CHILDREN=no", "POOLSHIM_ONLY=server,worker",
        "POOLSHIM_LATENCY=l.%p",  "POOLSHIM_HUGEPAGES=1", NULL,
    };
    ck_assert_int_eq(parse(&c, env), 0);
    ck_assert_str_eq(out, "");
    ck_assert_uint_eq(c.nclasses, 2);
    ck_assert_uint_eq(c.classes[0].size, 32);
    ck_assert_uint_eq(c.classes[0].count, 100);
    ck_assert_uint_eq(c.classes[1].size, 4096);
    ck_assert_uint_eq(c.classes[1].count, 8);
    ck_assert(c.classes_set);
    ck_assert(c.strict);
    ck_assert(c.stats);
    ck_assert(!c.prefault);
    ck_assert(c.mlock);
    ck_assert(c.hugepages);
    ck_assert(c.check);
    ck_assert(!c.cache);
    ck_assert(c.verbose);
    ck_assert_str_eq(c.stats_file, "s.json");
    ck_assert_int_eq(c.stats_signal, SIGUSR2);
    ck_assert_str_eq(c.profile, "p.txt");
    ck_assert_str_eq(c.latency, "l.%p");
    ck_assert_uint_eq(c.budget, UINT64_C(3) << 30);
    ck_assert_int_eq(c.on_error, SHIM_ON_ERROR_ABORT);
    ck_assert(!c.children);
    ck_assert_ptr_eq(c.only, env[15] + strlen("POOLSHIM_ONLY="));
    ck_assert_uint_eq(shim_config_bytes(&c), 32 * 100 + 4096 * 8);
}
END_TEST

/* One line per bad entry, in envp order; good entries are not applied. */
START_TEST(several_errors)
{
    struct shim_config c;
    const char *env[] = {"POOLSHIM_STRICT=1", "POOLSHIM_CACHE=2",
                         "POOLSHIM_FOO=1", "POOLSHIM_CLASSES=64:1",
                         "POOLSHIM_BUDGET=0", NULL};
    errno = 4321;
    ck_assert_int_eq(parse(&c, env), -1);
    ck_assert_int_eq(errno, 4321);
    ck_assert_str_eq(out,
        "poolshim: POOLSHIM_CACHE=\"2\": not a boolean" EXPECT_BOOL
        "poolshim: POOLSHIM_FOO=\"1\": unknown variable" EXPECT_NAMES
        "poolshim: POOLSHIM_BUDGET=\"0\": zero size" EXPECT_SIZE);
    assert_defaults(&c);
}
END_TEST

/* The first of two entries counts, as with getenv; the second is ignored. */
START_TEST(first_entry_wins)
{
    struct shim_config c;
    const char *env1[] = {"POOLSHIM_STRICT=1", "POOLSHIM_STRICT=0", NULL};
    ck_assert_int_eq(parse(&c, env1), 0);
    ck_assert(c.strict);
    const char *env2[] = {"POOLSHIM_CLASSES=64:2", "POOLSHIM_CLASSES=bad", NULL};
    ck_assert_int_eq(parse(&c, env2), 0);
    ck_assert_str_eq(out, "");
    ck_assert_uint_eq(c.nclasses, 1);
    ck_assert_uint_eq(c.classes[0].size, 64);
    const char *env3[] = {"POOLSHIM_BUDGET=x", "POOLSHIM_BUDGET=1k", NULL};
    ck_assert_int_eq(parse(&c, env3), -1);
    expect_line("POOLSHIM_BUDGET", "x", "bad size \"x\"", EXPECT_SIZE);
}
END_TEST

/* A failed parse leaves every byte of the configuration as it was, and a
 * successful one applies on top of what the caller had. */
START_TEST(failure_leaves_config)
{
    struct shim_config c, before;
    shim_config_defaults(&c);
    c.strict = true;
    c.budget = 77;
    memcpy(&before, &c, sizeof c); /* padding included */
    const char *bad[] = {"POOLSHIM_STATS=1", "POOLSHIM_CLASSES=64:x", NULL};
    ck_assert_int_eq(shim_config_parse(&c, (char *const *)bad, -1), -1);
    ck_assert_mem_eq(&c, &before, sizeof c);
    const char *good[] = {"POOLSHIM_STATS=1", NULL};
    ck_assert_int_eq(shim_config_parse(&c, (char *const *)good, -1), 0);
    ck_assert(c.stats);
    ck_assert(c.strict);
    ck_assert_uint_eq(c.budget, 77);
}
END_TEST

/* ---- POOLSHIM_ON_ERROR, POOLSHIM_ONLY ---- */

static const struct good good_on_error[] = {
    {"off", SHIM_ON_ERROR_OFF}, {"OFF", SHIM_ON_ERROR_OFF},
    {"abort", SHIM_ON_ERROR_ABORT}, {"Abort", SHIM_ON_ERROR_ABORT},
};

START_TEST(on_error_good)
{
    expect_int("POOLSHIM_ON_ERROR", &good_on_error[_i], offsetof(struct shim_config, on_error));
}
END_TEST

/* A malformed value fails closed: its own line already says the program
 * stops. */
static const struct bad bad_on_error[] = {
    {"", "empty value"}, {"0", "unknown value"}, {"exit", "unknown value"},
    {"abort ", "unknown value"}, {"abor", "unknown value"},
};

START_TEST(on_error_bad)
{
    struct shim_config c;
    ck_assert_int_eq(parse1(&c, "POOLSHIM_ON_ERROR", bad_on_error[_i].text), -1);
    char line[1024];
    snprintf(line, sizeof line,
             "poolshim: POOLSHIM_ON_ERROR=\"%s\": %s (expected off or abort)"
             TAIL_ABORT, bad_on_error[_i].text, bad_on_error[_i].what);
    ck_assert_str_eq(out, line);
    ck_assert_int_eq(c.on_error, SHIM_ON_ERROR_OFF);
}
END_TEST

/* With abort, every line of a bad configuration says the program stops,
 * wherever POOLSHIM_ON_ERROR stands in the environment. */
START_TEST(on_error_abort_tail)
{
    struct shim_config c;
    const char *env[] = {"POOLSHIM_CACHE=2", "POOLSHIM_FOO=1",
                         "POOLSHIM_ON_ERROR=abort", "POOLSHIM_ON_ERROR=off",
                         NULL};
    ck_assert_int_eq(parse(&c, env), -1);
    char want[4096];
    snprintf(want, sizeof want, "%s%s",
             "poolshim: POOLSHIM_CACHE=\"2\": not a boolean (expected 0, 1, "
             "true, false, yes, no, on or off)" TAIL_ABORT,
             "poolshim: POOLSHIM_FOO=\"1\": unknown variable");
    ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "got %s", out);
    const char *second = strchr(out, '\n') + 1;
    size_t n = strlen(second), t = strlen(TAIL_ABORT);
    ck_assert(n > t && strcmp(second + n - t, TAIL_ABORT) == 0);
}
END_TEST

START_TEST(outcome)
{
    bool abort = true;
    const char *off[] = {"POOLSHIM_ON_ERROR=off", NULL};
    ck_assert_str_eq(shim_config_outcome((char *const *)off, &abort),
                     "poolshim is off, the program runs on the system allocator");
    ck_assert(!abort);
    ck_assert_str_eq(shim_config_outcome(NULL, &abort),
                     "poolshim is off, the program runs on the system allocator");
    ck_assert(!abort);
    const char *on[] = {"POOLSHIM_ON_ERROR=abort", NULL};
    const char *want = "poolshim stops the program with exit status 78 "
                       "(POOLSHIM_ON_ERROR=abort)";
    ck_assert_str_eq(shim_config_outcome((char *const *)on, &abort), want);
    ck_assert(abort);
    const char *typo[] = {"POOLSHIM_ON_ERROR=abrot", NULL};
    abort = false;
    ck_assert_str_eq(shim_config_outcome((char *const *)typo, &abort), want);
    ck_assert(abort);
    ck_assert_int_eq(SHIM_EXIT_CONFIG, 78);
}
END_TEST

START_TEST(parse_one)
{
    struct shim_config c;
    shim_config_defaults(&c);
    const char *env[] = {"POOLSHIM_FOO=1", "POOLSHIM_CLASSES=bad",
                         "POOLSHIM_ONLY=a,b", "POOLSHIM_ONLY=c", NULL};
    char *const *e = (char *const *)env;
    ck_assert_int_eq(shim_config_parse_one(&c, e, "POOLSHIM_ONLY"), 1);
    ck_assert_ptr_eq(c.only, env[2] + strlen("POOLSHIM_ONLY="));
    ck_assert_int_eq(shim_config_parse_one(&c, e, "POOLSHIM_STRICT"), 0);
    ck_assert_int_eq(shim_config_parse_one(&c, e, "POOLSHIM_CLASSES"), -1);
    ck_assert_int_eq(shim_config_parse_one(&c, e, "POOLSHIM_FOO"), -1);
    ck_assert_int_eq(shim_config_parse_one(&c, NULL, "POOLSHIM_ONLY"), 0);
    ck_assert_uint_eq(c.nclasses, 13); /* untouched by the failure */
    ck_assert(!c.classes_set);
}
END_TEST

static const char *const good_only[] = {
    "bash", "server,worker", "a", "python3.11,node,x-y_z", "name with space",
};

START_TEST(only_good)
{
    struct shim_config c;
    expect_accepted(&c, "POOLSHIM_ONLY", good_only[_i]);
    ck_assert_str_eq(c.only, good_only[_i]);
}
END_TEST

static char long_name[300];

static const struct bad bad_only[] = {
    {"", "empty value"},
    {",a", "empty item (leading comma)"},
    {"a,", "empty item (trailing comma)"},
    {"a,,b", "empty item (two commas in a row)"},
    {"/usr/bin/server", "a path, not a name: \"/usr/bin/server\""},
    {"a,./b", "a path, not a name: \"./b\""},
    {long_name, "name too long \"" /* then the shortened name */},
};

START_TEST(only_bad)
{
    struct shim_config c;
    memset(long_name, 'n', 256); /* NAME_MAX + 1 */
    ck_assert_int_eq(parse1(&c, "POOLSHIM_ONLY", bad_only[_i].text), -1);
    char what[512];
    if (bad_only[_i].text == long_name)
        snprintf(what, sizeof what, "name too long \"%.61s...\"", long_name);
    else
        snprintf(what, sizeof what, "%s", bad_only[_i].what);
    char value[512];
    snprintf(value, sizeof value, "%s", bad_only[_i].text);
    if (strlen(value) > 200)
        snprintf(value, sizeof value, "%.197s...", long_name);
    expect_line("POOLSHIM_ONLY", value, what, EXPECT_NAMES_LIST);
    ck_assert_ptr_null(c.only);
}
END_TEST

/* ---- shim_config_bytes ---- */

/* POOLSHIM_CLASSES values and the bytes of their objects */
static const struct good bytes_cases[] = {
    {"1:1", 16},
    {"16:1", 16},
    {"17:3", 96},
    {"64:1024,256:512,4k:64", 64 * 1024 + 256 * 512 + 4096 * 64},
    {"1000:3", 1008 * 3},
    {"1M:4096,512k:8192", UINT64_C(8) << 30},
    {"1M:4096,512k:8192,256k:16384,128k:32768", UINT64_C(16) << 30},
};

START_TEST(bytes)
{
    struct shim_config c;
    ck_assert_int_eq(parse1(&c, "POOLSHIM_CLASSES", bytes_cases[_i].text), 0);
    ck_assert_uint_eq(shim_config_bytes(&c), bytes_cases[_i].value);
}
END_TEST

/* Classes that the parser would refuse (set by hand) cannot overflow it. */
START_TEST(bytes_saturates)
{
    struct shim_config c;
    shim_config_defaults(&c);
    c.classes[0].size = SIZE_MAX;
    ck_assert_uint_eq(shim_config_bytes(&c), SIZE_MAX);
    shim_config_defaults(&c);
    c.classes[0].count = SIZE_MAX;
    ck_assert_uint_eq(shim_config_bytes(&c), SIZE_MAX);
    shim_config_defaults(&c);
    for (unsigned i = 0; i < POOL_CLASSES_MAX; i++)
        c.classes[i] = (struct pool_class_spec){16, 1};
    c.nclasses = 1000; /* only POOL_CLASSES_MAX are counted */
    ck_assert_uint_eq(shim_config_bytes(&c), 16 * POOL_CLASSES_MAX);
}
END_TEST

/* ---- print ---- */

/* What both cases below print of the variables left at their defaults. */
#define PRINTED_STATS_TO_CHECK                                                             \
"poolshim: POOLSHIM_STATS=0                # per-class statistics on stderr at "           \
"exit [default]\n"                                                                         \
"poolshim: POOLSHIM_PREFAULT=1             # fault the pools' pages in at "                \
"start-up [default]\n"                                                                     \
"poolshim: POOLSHIM_MLOCK=0                # lock the pools in memory (a failure "         \
"is reported, not fatal) [default]\n"                                                      \
"poolshim: POOLSHIM_HUGEPAGES=0            # 2 MiB pages for the pools: reserved "         \
"hugetlb pages, else transparent ones [default]\n"                                         \
"poolshim: POOLSHIM_CHECK=0                # checked mode: detect double and "             \
"invalid frees, poison freed objects [default]\n"

#define PRINTED_LIVE_WARN                                                                  \
"poolshim: POOLSHIM_LIVE=1                 # live figures in a file that "                 \
"poolshim stat PID reads [default]\n"                                                      \
"poolshim: POOLSHIM_WARN=0                 # one line on stderr the first time "           \
"each class runs dry [default]\n"

START_TEST(print_defaults)
{
    struct shim_config c;
    shim_config_defaults(&c);
    print(&c);
    assert_lines(
"poolshim: version " POOL_VERSION_STRING ", 13 classes, 1572864 bytes of objects\n"
"poolshim: POOLSHIM_CLASSES=16:8192,32:4096,48:2048,64:2048,96:1024,128:1024,"
"192:512,256:512,384:256,512:256,1k:128,2k:64,4k:32 # pool classes, SIZE:COUNT "
"(a request goes to the smallest SIZE >= it), or none [default]\n"
"poolshim: POOLSHIM_STRICT=0               # NULL and ENOMEM when a class is "
"empty, instead of the system allocator [default]\n"
PRINTED_STATS_TO_CHECK
"poolshim: POOLSHIM_CACHE=1                # per-thread caches of free objects "
"[default]\n"
"poolshim: POOLSHIM_VERBOSE=0              # print the effective configuration "
"at start-up [default]\n"
"poolshim: POOLSHIM_STATS_FILE (unset)     # write the statistics as JSON to "
"this file at exit [default]\n"
"poolshim: POOLSHIM_STATS_SIGNAL (unset)   # also write the statistics file "
"when this signal arrives [default]\n"
"poolshim: POOLSHIM_PROFILE (unset)        # record request sizes (on the "
"system allocator) into this file [default]\n"
"poolshim: POOLSHIM_BUDGET=64M             # memory budget of the classes a "
"profile recommends [default]\n"
"poolshim: POOLSHIM_ON_ERROR=off           # after a configuration or start-up "
"error: off, or abort (exit 78) [default]\n"
"poolshim: POOLSHIM_CHILDREN=1             # exec'd children inherit the shim "
"(0: removed from their environment) [default]\n"
"poolshim: POOLSHIM_ONLY (unset)           # the shim is on only in processes "
"of these executable names [default]\n"
"poolshim: POOLSHIM_LATENCY (unset)        # time every allocator call, "
"histograms into this file (%p: the pid) [default]\n"
PRINTED_LIVE_WARN);
}
END_TEST

START_TEST(print_set)
{
    struct shim_config c;
    const char *env[] = {
        "POOLSHIM_CLASSES=1M:4096,1000:3,1:1,2k:7", "POOLSHIM_STRICT=yes",
        "POOLSHIM_CACHE=off", "POOLSHIM_STATS_FILE=/tmp/x\n.json",
        "POOLSHIM_STATS_SIGNAL=40", "POOLSHIM_PROFILE=/a/b",
        "POOLSHIM_BUDGET=1536k", "POOLSHIM_ON_ERROR=ABORT",
        "POOLSHIM_CHILDREN=0", "POOLSHIM_ONLY=a\tb,c",
        "POOLSHIM_LATENCY=l.%p", NULL,
    };
    ck_assert_int_eq(parse(&c, env), 0);
    print(&c);
    assert_lines(
"poolshim: version " POOL_VERSION_STRING ", 4 classes, 4294984672 bytes of objects\n"
"poolshim: POOLSHIM_CLASSES=1:1,1000:3,2k:7,1M:4096 # pool classes, SIZE:COUNT "
"(a request goes to the smallest SIZE >= it), or none\n"
"poolshim: POOLSHIM_STRICT=1               # NULL and ENOMEM when a class is "
"empty, instead of the system allocator\n"
PRINTED_STATS_TO_CHECK
"poolshim: POOLSHIM_CACHE=0                # per-thread caches of free objects\n"
"poolshim: POOLSHIM_VERBOSE=0              # print the effective configuration "
"at start-up [default]\n"
"poolshim: POOLSHIM_STATS_FILE=/tmp/x\\x0a.json # write the statistics as JSON "
"to this file at exit\n"
"poolshim: POOLSHIM_STATS_SIGNAL=40        # also write the statistics file "
"when this signal arrives\n"
"poolshim: POOLSHIM_PROFILE=/a/b           # record request sizes (on the "
"system allocator) into this file\n"
"poolshim: POOLSHIM_BUDGET=1536k           # memory budget of the classes a "
"profile recommends\n"
"poolshim: POOLSHIM_ON_ERROR=abort         # after a configuration or start-up "
"error: off, or abort (exit 78)\n"
"poolshim: POOLSHIM_CHILDREN=0             # exec'd children inherit the shim "
"(0: removed from their environment)\n"
"poolshim: POOLSHIM_ONLY=a\\x09b,c          # the shim is on only in processes "
"of these executable names\n"
"poolshim: POOLSHIM_LATENCY=l.%p           # time every allocator call, "
"histograms into this file (%p: the pid)\n"
PRINTED_LIVE_WARN);
}
END_TEST

/* Printed values parse back to the same configuration. */
static const char *const round_trip[] = {
    "1:1,1000:3,2k:7,1M:4096",
    "17:1,1025:2,1048575:3",
    "1536:1,3k:1,1m:1",
    "512k:8,48:1k",
    "none",
};

START_TEST(print_round_trip)
{
    struct shim_config c, d;
    ck_assert_int_eq(parse1(&c, "POOLSHIM_CLASSES", round_trip[_i]), 0);
    c.budget = UINT64_C(5) << 30;
    c.stats_signal = SIGUSR1;
    print(&c);
    /* take the CLASSES, BUDGET and STATS_SIGNAL lines' values */
    static char cls[1024], bud[64], sig[64];
    const char *p = strstr(out, "POOLSHIM_CLASSES=");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sscanf(p, "POOLSHIM_CLASSES=%1000s", cls + 17), 1);
    memcpy(cls, "POOLSHIM_CLASSES=", 17);
    p = strstr(out, "POOLSHIM_BUDGET=");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sscanf(p, "%63s", bud), 1);
    ck_assert_str_eq(bud, "POOLSHIM_BUDGET=5G");
    p = strstr(out, "POOLSHIM_STATS_SIGNAL=");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sscanf(p, "%63s", sig), 1);
    ck_assert_str_eq(sig, "POOLSHIM_STATS_SIGNAL=SIGUSR1");
    const char *env[] = {cls, bud, sig, NULL};
    ck_assert_int_eq(parse(&d, env), 0);
    ck_assert_uint_eq(d.nclasses, c.nclasses);
    ck_assert_mem_eq(d.classes, c.classes, c.nclasses * sizeof c.classes[0]);
    ck_assert_uint_eq(d.budget, c.budget);
    ck_assert_int_eq(d.stats_signal, SIGUSR1);
}
END_TEST

/* err_fd < 0: nothing written, the result is the same. */
START_TEST(no_err_fd)
{
    struct shim_config c;
    shim_config_defaults(&c);
    const char *env[] = {"POOLSHIM_FOO=1", NULL};
    ck_assert_int_eq(shim_config_parse(&c, (char *const *)env, -1), -1);
    const char *ok[] = {"POOLSHIM_STATS=1", NULL};
    ck_assert_int_eq(shim_config_parse(&c, (char *const *)ok, -1), 0);
    ck_assert(c.stats);
}
END_TEST

static void config_cases(Suite *s)
{
    TCase *t = add_tcase(s, "defaults", 0, TC_PLAIN, defaults_values);
    tcase_add_loop_test(t, defaults_when_unset, 0, N(no_vars));

    t = add_tcase(s, "classes", 0, TC_PLAIN);
    tcase_add_loop_test(t, classes_good, 0, N(good_classes));
    tcase_add_loop_test(t, classes_max_count, 0, 2);
    add_tests(t, classes_too_many);
    tcase_add_loop_test(t, classes_bad, 0, N(bad_classes));
    add_tests(t, classes_bad_example, classes_bad_escaped, classes_bad_long);
    tcase_add_loop_test(t, bytes, 0, N(bytes_cases));
    add_tests(t, bytes_saturates);

    t = add_tcase(s, "values", 0, TC_PLAIN);
    tcase_add_loop_test(t, bools_good, 0, N(good_bools));
    tcase_add_loop_test(t, bools_bad, 0, N(bad_bools));
    tcase_add_loop_test(t, budget_good, 0, N(good_budgets));
    tcase_add_loop_test(t, budget_bad, 0, N(bad_budgets));
    tcase_add_loop_test(t, signal_good, 0, N(good_signals));
    tcase_add_loop_test(t, signal_bad, 0, N(bad_signals));
    add_tests(t, paths);
    tcase_add_loop_test(t, on_error_good, 0, N(good_on_error));
    tcase_add_loop_test(t, on_error_bad, 0, N(bad_on_error));
    tcase_add_loop_test(t, only_good, 0, N(good_only));
    tcase_add_loop_test(t, only_bad, 0, N(bad_only));

    t = add_tcase(s, "environment", 0, TC_PLAIN);
    tcase_add_loop_test(t, unknown_variable, 0, N(unknown));
    add_tests(t, all_variables, several_errors, first_entry_wins, failure_leaves_config, no_err_fd,
              on_error_abort_tail, outcome, parse_one);

    t = add_tcase(s, "print", 0, TC_PLAIN, print_defaults, print_set);
    tcase_add_loop_test(t, print_round_trip, 0, N(round_trip));
}

TU_SUITE("config", config_cases, 0);
