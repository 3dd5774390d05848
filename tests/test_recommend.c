/* test_recommend.c - tools/poolshim-recommend from the outside: profiles
 * written by hand with known answers (merging, budgets, barriers, more than
 * 32 buckets, headroom, JSON), every error with its one stderr line and exit
 * status 2, and end-to-end runs: profile sort(1) under the shim, apply
 * the recommendation, and read the served share back from the stats file;
 * a forked child's profile counted once. Then its parts directly
 * (tools/recommend/, linked in): the reader's merge and errors, the atoms
 * and their coarsening, the search against an exhaustive one on small
 * profiles, and the printers' exact text.
 *
 * The tool is found at $TEST_HELPERS/../tools/poolshim-recommend and the
 * shim at $TEST_SHIM_LIB (scripts/run-tests sets both); the suite itself is
 * never preloaded.
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool/version.h"
#include "shim/config.h"
#include "tools/recommend/recommend.h"
#include "tests/checkutil.h"

/* ---- plumbing ---- */

static const char *tool(void)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/../tools/poolshim-recommend", tu_helpers_dir());
    return path;
}

static void write_file(const char *name, const char *text)
{
    ck_assert_int_eq(tu_write_file(case_path(name), text, strlen(text)), 0);
}

struct run {
    int status;                     /* exit status, -1 when killed */
    char out[1 << 16], err[1 << 12];
};

/* Run argv with PATH=/usr/bin:/bin and vars ("NAME=value" each), stdin from
 * in_path (NULL: /dev/null), capturing stdout and stderr (each cut to its
 * buffer). */
static void run_env(struct run *r, const char *const *argv,
                    const char *const *vars, const char *in_path)
{
    struct tu_opts o = {.stdin_path = in_path, .timeout_s = 30};
    struct tu_proc p;
    run_with(&p, false, vars, argv, &o);
    r->status = p.exit_code;
    snprintf(r->out, sizeof r->out, "%s", p.out);
    snprintf(r->err, sizeof r->err, "%s", p.err);
    tu_proc_free(&p);
}


/* Run the tool with up to 8 arguments (NULL-terminated list). */
#define REC(r, ...) run_tool((r), NULL, (const char *const[]){__VA_ARGS__, NULL})

static void run_tool(struct run *r, const char *in_path,
                     const char *const *args)
{
    const char *argv[16] = {tool()};
    int n = 1;
    for (; args[n - 1] != NULL && n < 15; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    run_env(r, argv, NOVARS, in_path);
}

/* Write the profile `text` to the case's file p and run the tool on it,
 * after up to 7 options: it must exit 0. */
#define RECOMMEND(r, text, ...)                                                \
    recommend((r), (text), (const char *const[]){__VA_ARGS__ __VA_OPT__(, ) case_path("p"), NULL})

static void recommend(struct run *r, const char *text, const char *const *args)
{
    write_file("p", text);
    run_tool(r, NULL, args);
    ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
}

/* The value after "POOLSHIM_CLASSES=" on the last line of the report. */
static const char *classes_of(const struct run *r)
{
    static char line[4096];
    const char *s = strstr(r->out, "\nPOOLSHIM_CLASSES=");
    ck_assert_msg(s != NULL, "no POOLSHIM_CLASSES line in: %s", r->out);
    s += strlen("\nPOOLSHIM_CLASSES=");
    size_t n = strcspn(s, "\n");
    ck_assert_msg(s[n] == '\n' && s[n + 1] == '\0',
                  "POOLSHIM_CLASSES is not the last line: %s", r->out);
    ck_assert_uint_lt(n, sizeof line);
    memcpy(line, s, n);
    line[n] = '\0';
    return line;
}

/* A number after "key": in a JSON text (first occurrence), or -1. */
static long long json_num(const char *text, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *s = strstr(text, pat);
    return s ? strtoll(s + strlen(pat), NULL, 10) : -1;
}

/* The line parses under the shim's own POOLSHIM_CLASSES parser. */
static void assert_accepted(const char *classes, struct shim_config *cfg)
{
    char entry[4200];
    snprintf(entry, sizeof entry, "POOLSHIM_CLASSES=%s", classes);
    char *env[] = {entry, NULL};
    shim_config_defaults(cfg);
    ck_assert_msg(shim_config_parse(cfg, env, 2) == 0, "rejected: %s", classes);
}

#define BLOCK(pid, body, larger)                                               \
    "# poolshim profile 1 pid " #pid "\n" body "# larger than 1048576: "       \
    #larger " requests\n# end\n"

/* ---- cases ---- */

/* Three buckets, ample budget: every request served, one class per bucket
 * named bucket - 8, count = peak + 10% rounded up. */
START_TEST(basic)
{
    struct run r;
    RECOMMEND(&r, BLOCK(1, "32 1000 100\n64 500 7\n4112 20 3\n", 0));
    ck_assert_str_eq(r.err, "");
    ck_assert_str_eq(classes_of(&r), "24:110,56:8,4104:4");
    ck_assert_ptr_nonnull(strstr(r.out, "served from the pools: 1520 of 1520 requests (100.00%)"));
    /* 32 * 110 + 64 * 8 + 4112 * 4 */
    ck_assert_ptr_nonnull(strstr(r.out, "pool memory: 20480 bytes"));
}
END_TEST

/* Requests add up over blocks and files, peaks take the largest. */
START_TEST(merge)
{
    write_file("a", BLOCK(1, "32 10 5\n64 1 1\n", 2) BLOCK(2, "32 10 50\n", 0));
    write_file("b", "# a comment between blocks\n\n" BLOCK(3, "32 10 20\n128 4 2\n", 1));
    struct run r;
    REC(&r, "--headroom", "0", "--json", case_path("a"), case_path("b"));
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(json_num(r.out, "files"), 2);
    ck_assert_int_eq(json_num(r.out, "blocks"), 3);
    ck_assert_int_eq(json_num(r.out, "requests"), 30 + 1 + 4 + 3);
    ck_assert_int_eq(json_num(r.out, "larger"), 3);
    ck_assert_int_eq(json_num(r.out, "served"), 35);
    ck_assert_ptr_nonnull(strstr(r.out, "\"classes_line\":\"24:50,56:1,120:2\""));
}
END_TEST

/* The budget cannot hold the 32-byte bucket's 1000 live blocks; the 64-byte
 * bucket is worth more, and a barrier keeps the small requests out of it. */
START_TEST(barrier)
{
    struct run r;
    RECOMMEND(&r, BLOCK(1, "32 100 1000\n64 1000 10\n", 0), "--budget", "2000", "--json");
    ck_assert_ptr_nonnull(strstr(r.out, "\"classes_line\":\"24:1,56:11\""));
    ck_assert_ptr_nonnull(strstr(r.out, "{\"size\":24,\"count\":1,\"barrier\":true"));
    ck_assert_int_eq(json_num(r.out, "served"), 1000);
    ck_assert_ptr_nonnull(strstr(r.out, "\"in_barriers\":100,\"bytes\":736,"));
}
END_TEST

/* A budget below the full set keeps the most valuable prefix: here the
 * large, rare bucket is left to the system allocator. */
START_TEST(budget_cut)
{
    struct run r;
    RECOMMEND(&r, BLOCK(1, "48 5000 10\n65536 3 3\n", 0), "--budget", "64k");
    ck_assert_str_eq(classes_of(&r), "40:11");
    ck_assert_ptr_nonnull(strstr(r.out, "left to the system allocator: 3 above the largest class"));
}
END_TEST

/* POOLSHIM_BUDGET is the default budget; --budget wins over it. */
START_TEST(budget_env)
{
    write_file("p", BLOCK(1, "48 5000 10\n65536 3 3\n", 0));
    struct run r;
    const char *argv[] = {tool(), case_path("p"), NULL};
    const char *env[] = {"POOLSHIM_BUDGET=64k", NULL};
    run_env(&r, argv, env, NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(classes_of(&r), "40:11");
    const char *argv2[] = {tool(), "--budget", "1M", case_path("p"), NULL};
    run_env(&r, argv2, env, NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(classes_of(&r), "40:11,65528:4");
}
END_TEST

/* 200 buckets: at most 32 classes, all requests still served, and the
 * line is one the shim accepts. */
START_TEST(many_buckets)
{
    char body[16384];
    size_t len = 0;
    for (int i = 1; i <= 200; i++)
        len += (size_t)snprintf(body + len, sizeof body - len, "%d %d %d\n",
                                i * 16, 1000 + i, 1 + i % 7);
    char text[17000];
    snprintf(text, sizeof text,
             "# poolshim profile 1 pid 9\n%s# larger than 1048576: 0 requests\n# end\n",
             body);
    struct run r;
    RECOMMEND(&r, text);
    struct shim_config cfg;
    assert_accepted(classes_of(&r), &cfg);
    ck_assert_uint_eq(cfg.nclasses, 32);
    ck_assert_ptr_nonnull(strstr(r.out, "(100.00%)"));
    ck_assert_uint_le(shim_config_bytes(&cfg), 64u << 20);
}
END_TEST

/* 3000 buckets, more than the search takes at once: neighbours are merged
 * first, and the result is still a valid set that serves everything. */
START_TEST(coarsened)
{
    static char text[3000 * 24 + 200];
    size_t len = (size_t)snprintf(text, sizeof text, "# poolshim profile 1 pid 9\n");
    for (int i = 1; i <= 3000; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%d %d %d\n",
                                i * 16, 1 + (i * 7919) % 1000, 1 + i % 3);
    snprintf(text + len, sizeof text - len, "# larger than 1048576: 0 requests\n# end\n");
    struct run r;
    RECOMMEND(&r, text, "--budget", "1G");
    struct shim_config cfg;
    assert_accepted(classes_of(&r), &cfg);
    ck_assert_uint_le(cfg.nclasses, 32);
    ck_assert_uint_eq(cfg.classes[cfg.nclasses - 1].size, 3000 * 16 - 8);
    ck_assert_ptr_nonnull(strstr(r.out, "(100.00%)"));
}
END_TEST

/* --max-classes 1: one class takes every bucket below it; its count is the
 * sum of their peaks (a safe upper bound of what is live at once). */
START_TEST(one_class)
{
    struct run r;
    RECOMMEND(&r, BLOCK(1, "32 10 4\n64 10 6\n96 10 10\n", 0), "--max-classes", "1",
              "--headroom", "0");
    ck_assert_str_eq(classes_of(&r), "88:20");
    REC(&r, "--max-classes=1", "--headroom=50", case_path("p"));
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(classes_of(&r), "88:30");
}
END_TEST

/* Bucket 16 keeps its own size (glibc has no block below 24 bytes, so
 * nothing else is there to keep out); "-" reads standard input. */
START_TEST(stdin_and_16)
{
    write_file("p", BLOCK(1, "16 10 1\n1040 10 1\n", 0));
    struct run r;
    run_tool(&r, case_path("p"), (const char *const[]){"--headroom", "0", "-", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(classes_of(&r), "16:1,1032:1");
}
END_TEST

/* Requests above 1 MiB count in the total, never as a class. */
START_TEST(larger_only_share)
{
    struct run r;
    RECOMMEND(&r, BLOCK(1, "32 75 1\n", 25));
    ck_assert_ptr_nonnull(strstr(r.out, "served from the pools: 75 of 100 requests (75.00%)"));
    ck_assert_ptr_nonnull(strstr(r.out, "25 above 1 MiB"));
}
END_TEST

/* ---- errors: exit 2, nothing on stdout, one line on stderr ---- */

struct bad {
    const char *name;     /* the file's content, NULL: the file is missing */
    const char *content;
    const char *args[4];  /* before the file; "@" stands for the file */
    const char *want;     /* in the stderr line ("@": the file's path) */
};

static const struct bad bads[] = {
    {"missing", NULL, {"@"}, "@: cannot read the profile: No such file or directory"},
    {"malformed", BLOCK(1, "32 10\n", 0), {"@"},
     "@:2: malformed line \"32 10\" (expected \"SIZE REQUESTS PEAK_LIVE\""},
    {"not16", BLOCK(1, "33 10 1\n", 0), {"@"}, "@:2: malformed line \"33 10 1\""},
    {"toobig", BLOCK(1, "1048592 10 1\n", 0), {"@"}, "@:2: malformed line"},
    {"letters", BLOCK(1, "32 1x 1\n", 0), {"@"}, "@:2: malformed line"},
    {"order", BLOCK(1, "64 1 1\n32 1 1\n", 0), {"@"},
     "@:3: size 32 does not follow 64 (sizes must increase within a block)"},
    {"unended", "# poolshim profile 1 pid 3\n32 1 1\n", {"@"},
     "@:2: the block of line 1 is not ended"},
    {"nested", "# poolshim profile 1 pid 3\n# poolshim profile 1 pid 4\n", {"@"},
     "@:2: a new block starts before the block of line 1 ended"},
    {"version", "# poolshim profile 2 pid 3\n", {"@"},
     "@:1: unsupported profile format"},
    {"outside", "32 1 1\n", {"@"}, "@:1: \"32 1 1\" outside a profile block"},
    {"nolarger", "# poolshim profile 1 pid 3\n32 1 1\n# end\n", {"@"},
     "@:3: block of line 1 ends without its \"# larger than"},
    {"empty", "", {"@"}, "@: no profile block in the file"},
    {"nothing", BLOCK(1, "", 5), {"@"}, "no request of 1 MiB or less in the profile"},
    {"small", BLOCK(1, "32 10 100\n", 0), {"--budget", "1000", "@"},
     "budget 1000 bytes too small: the cheapest class that serves any request "
     "needs 3520 bytes"},
    {"budget", BLOCK(1, "32 1 1\n", 0), {"--budget", "12X", "@"},
     "--budget \"12X\": expected a size in bytes above 0"},
    {"budget0", BLOCK(1, "32 1 1\n", 0), {"--budget", "0", "@"}, "--budget \"0\""},
    {"headroom", BLOCK(1, "32 1 1\n", 0), {"--headroom", "1001", "@"},
     "--headroom \"1001\": expected a whole percentage from 0 to 1000"},
    {"classes", BLOCK(1, "32 1 1\n", 0), {"--max-classes", "33", "@"},
     "--max-classes \"33\": expected a number from 1 to 32"},
    {"option", BLOCK(1, "32 1 1\n", 0), {"--fast", "@"}, "unknown option --fast"},
    {"nofile", BLOCK(1, "32 1 1\n", 0), {"--json"}, "no profile file given"},
};

START_TEST(errors)
{
    const struct bad *b = &bads[_i];
    if (b->content != NULL)
        write_file(b->name, b->content);
    const char *args[6];
    int n = 0;
    for (; n < 4 && b->args[n] != NULL; n++)
        args[n] = strcmp(b->args[n], "@") == 0 ? case_path(b->name) : b->args[n];
    args[n] = NULL;
    struct run r;
    run_tool(&r, NULL, args);
    ck_assert_msg(r.status == 2, "%s: exit %d, stderr %s", b->name, r.status, r.err);
    ck_assert_str_eq(r.out, "");
    /* the wanted text, with "@" replaced by the file's path */
    char want[512];
    const char *s = b->want;
    if (s[0] == '@')
        snprintf(want, sizeof want, "%s%s", case_path(b->name), s + 1);
    else
        snprintf(want, sizeof want, "%s", s);
    ck_assert_msg(strncmp(r.err, "poolshim-recommend: ", 20) == 0 &&
                      strstr(r.err, want) != NULL,
                  "%s: stderr \"%s\", want \"%s\"", b->name, r.err, want);
    ck_assert_msg(strchr(r.err, '\n') == r.err + strlen(r.err) - 1,
                  "%s: not one line: %s", b->name, r.err);
}
END_TEST

/* --version: the one version number, as pool/version.h has it */
START_TEST(version)
{
    struct run r;
    run_tool(&r, NULL, (const char *[]){"--version", NULL});
    ck_assert_msg(r.status == 0, "exit %d, stderr %s", r.status, r.err);
    ck_assert_str_eq(r.out, "poolshim-recommend " POOL_VERSION_STRING "\n");
    ck_assert_str_eq(r.err, "");
}
END_TEST

/* ---- end to end ---- */

/* tsort(1) on 20000 pairs (a node allocated per word): profile, recommend,
 * run with the classes, and compare the share the stats file reports with
 * the expected one. */
START_TEST(end_to_end)
{
    FILE *f = fopen(case_path("in"), "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 20000; i++)
        fprintf(f, "w%d w%u%.*s\n", i, (unsigned)(i * 2654435761u) % 30000,
                i % 40, "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
    ck_assert_int_eq(fclose(f), 0);

    char pre[4200], prof[4700], stats[4700], classes[4200];
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", tu_shim_lib());
    snprintf(prof, sizeof prof, "POOLSHIM_PROFILE=%s", case_path("prof"));
    const char *argv[] = {"/usr/bin/tsort", case_path("in"), NULL};
    const char *env1[] = {pre, prof, "LC_ALL=C", NULL};
    struct run r;
    run_env(&r, argv, env1, NULL);
    ck_assert_msg(r.status == 0, "tsort: %s", r.err);

    REC(&r, "--json", case_path("prof"));
    ck_assert_int_eq(r.status, 0);
    long long requests = json_num(r.out, "requests"), served = json_num(r.out, "served");
    ck_assert_int_gt(requests, 1000);
    const char *cl = strstr(r.out, "\"classes_line\":\"");
    ck_assert_ptr_nonnull(cl);
    cl += strlen("\"classes_line\":\"");
    snprintf(classes, sizeof classes, "POOLSHIM_CLASSES=%.*s",
             (int)strcspn(cl, "\""), cl);

    snprintf(stats, sizeof stats, "POOLSHIM_STATS_FILE=%s", case_path("stats.json"));
    const char *env2[] = {pre, classes, stats, "LC_ALL=C", NULL};
    run_env(&r, argv, env2, NULL);
    ck_assert_msg(r.status == 0, "tsort under the classes: %s", r.err);

    /* sum served, misses over classes; uncovered */
    FILE *sf = fopen(case_path("stats.json"), "r");
    ck_assert_ptr_nonnull(sf);
    static char js[1 << 16];
    size_t n = fread(js, 1, sizeof js - 1, sf);
    js[n] = '\0';
    fclose(sf);
    long long got = 0, missed = 0, uncovered = json_num(js, "uncovered");
    for (const char *s = js; (s = strstr(s, "\"served\":")) != NULL; s++)
        got += strtoll(s + 9, NULL, 10);
    for (const char *s = js; (s = strstr(s, "\"misses\":")) != NULL; s++)
        missed += strtoll(s + 9, NULL, 10);
    ck_assert_int_ge(uncovered, 0);
    double share = (double)got / (double)(got + missed + uncovered);
    double expected = (double)served / (double)requests;
    ck_assert_int_eq(missed, 0);
    ck_assert_msg(share > expected - 0.02, "served %.4f, expected %.4f (%s)",
                  share, expected, js);
}
END_TEST

/* A forked child's block counts its own requests: profile_fork's parent
 * makes 7 requests of 3000 bytes (and one above 1 MiB), its child 5 more,
 * holding 12 live: the merged profile has 7 + 5 of them, not 7 + 12, and
 * the class holds the child's 12. */
START_TEST(forked_child_counted_once)
{
    char pre[4200], prof[4700];
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", tu_shim_lib());
    snprintf(prof, sizeof prof, "POOLSHIM_PROFILE=%s", case_path("prof"));
    const char *argv[] = {tu_helper("profile_fork"), "7", "5", NULL};
    const char *env[] = {pre, prof, NULL};
    struct run r;
    run_env(&r, argv, env, NULL);
    ck_assert_msg(r.status == 0, "profile_fork: %s%s", r.out, r.err);

    REC(&r, "--json", "--headroom", "0", case_path("prof"));
    ck_assert_msg(r.status == 0, "%s", r.err);
    ck_assert_int_eq(json_num(r.out, "blocks"), 2);
    ck_assert_int_eq(json_num(r.out, "requests"), 7 + 5 + 1);
    ck_assert_int_eq(json_num(r.out, "larger"), 1);
    ck_assert_ptr_nonnull(strstr(r.out, "\"classes_line\":\"3000:12\""));
}
END_TEST

/* ---- the parts, directly ---- */

/* A zeroed profile (too large for the stack); free() it. */
static struct rec_profile *new_profile(void)
{
    struct rec_profile *pf = calloc(1, sizeof *pf);
    ck_assert_ptr_nonnull(pf);
    return pf;
}

/* rec_read of text (not empty) as a file named "t". */
static int read_text(struct rec_profile *pf, const char *text, struct rec_error *err)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    ck_assert_ptr_nonnull(f);
    int rc = rec_read(pf, f, "t", err);
    fclose(f);
    return rc;
}

/* Requests add up, peaks take the largest, over blocks and files; words
 * may be separated by any spaces and tabs. */
START_TEST(read_merges)
{
    struct rec_profile *pf = new_profile();
    struct rec_error err;
    ck_assert_int_eq(read_text(pf, BLOCK(1, "32 10 5\n64 1 1\n", 2) "# between\n\n"
                                   BLOCK(2, "\t32  10\t50 \n", 0), &err), 0);
    ck_assert_int_eq(read_text(pf, BLOCK(3, "1048576 7 3\n", 1), &err), 0);
    ck_assert_uint_eq(pf->files, 2);
    ck_assert_uint_eq(pf->blocks, 3);
    ck_assert_uint_eq(pf->requests[2], 20);
    ck_assert_uint_eq(pf->peak[2], 50);
    ck_assert_uint_eq(pf->requests[4], 1);
    ck_assert_uint_eq(pf->peak[4], 1);
    ck_assert_uint_eq(pf->requests[PROFILE_BUCKETS - 1], 7);
    ck_assert_uint_eq(pf->larger, 3);
    for (unsigned b = 0; b < PROFILE_BUCKETS; b++)
        if (b != 2 && b != 4 && b != PROFILE_BUCKETS - 1)
            ck_assert_uint_eq(pf->requests[b] | pf->peak[b], 0);
    free(pf);
}
END_TEST

/* An error names the file and line; the blocks that ended before it are
 * merged, the cut one is not, and the file is not counted. */
START_TEST(read_error_keeps_ended_blocks)
{
    struct rec_profile *pf = new_profile();
    struct rec_error err;
    ck_assert_int_eq(read_text(pf, BLOCK(1, "32 10 5\n", 0)
                                   "# poolshim profile 1 pid 2\n48 1 1\n", &err), -1);
    ck_assert_str_eq(err.msg, "t:6: the block of line 5 is not ended (no \"# end\" line; "
                              "was the file cut?)");
    ck_assert_uint_eq(pf->blocks, 1);
    ck_assert_uint_eq(pf->files, 0);
    ck_assert_uint_eq(pf->requests[2], 10);
    ck_assert_uint_eq(pf->requests[3], 0);

    memset(pf, 0, sizeof *pf);
    ck_assert_int_eq(read_text(pf, BLOCK(1, "32 18446744073709551615 1\n", 0)
                                   BLOCK(2, "32 1 1\n", 0), &err), -1);
    ck_assert_str_eq(err.msg, "t:8: request counts overflow 64 bits");
    free(pf);
}
END_TEST

/* One atom per bucket with requests, the total with the larger ones; the
 * cheapest pairs merge first: (16, 32) costs 16 * 1 bytes, then (48, 1024)
 * 976 * 1, while (32, 48) would cost 16 * 100. */
START_TEST(atoms_and_coarsening)
{
    struct rec_profile *pf = new_profile();
    const unsigned b[] = {1, 2, 3, 64};
    const uint64_t req[] = {5, 7, 9, 11}, peak[] = {1, 100, 1, 1};
    for (int k = 0; k < 4; k++) {
        pf->requests[b[k]] = req[k];
        pf->peak[b[k]] = peak[k];
    }
    pf->larger = 3;
    static struct rec_atom a[PROFILE_BUCKETS];
    uint64_t total;
    ck_assert_int_eq(rec_atoms(pf, a, &total), 4);
    ck_assert_uint_eq(total, 35);
    for (int k = 0; k < 4; k++) {
        ck_assert_uint_eq(a[k].top, b[k] * 16);
        ck_assert_uint_eq(a[k].bottom, b[k] * 16);
        ck_assert_uint_eq(a[k].requests, req[k]);
        ck_assert_uint_eq(a[k].peak, peak[k]);
    }
    ck_assert_int_eq(rec_coarsen(a, 4, 4), 4);
    ck_assert_uint_eq(a[1].top, 32);
    ck_assert_int_eq(rec_coarsen(a, 4, 2), 2);
    ck_assert_uint_eq(a[0].bottom, 16);
    ck_assert_uint_eq(a[0].top, 32);
    ck_assert_uint_eq(a[0].requests, 12);
    ck_assert_uint_eq(a[0].peak, 101);
    ck_assert_uint_eq(a[1].bottom, 48);
    ck_assert_uint_eq(a[1].top, 1024);
    ck_assert_uint_eq(a[1].requests, 20);
    ck_assert_uint_eq(a[1].peak, 2);

    pf->requests[2] = UINT64_MAX - 3; /* the total overflows */
    ck_assert_int_eq(rec_atoms(pf, a, &total), -1);
    free(pf);
}
END_TEST

/* ---- the search against an exhaustive one ---- */

static uint64_t prng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Objects of a full class: the peak plus headroom percent, rounded up. */
static uint64_t full_objects(uint64_t peak, unsigned headroom)
{
    uint64_t c = peak + (peak * headroom + 99) / 100;
    return c ? c : 1;
}

/* The most requests any configuration of at most `left` more classes,
 * covering atoms from `from` up, serves within `limit` bytes. */
static uint64_t exhaustive(const struct rec_atom *a, unsigned n, unsigned headroom,
                           unsigned from, unsigned left, uint64_t limit)
{
    uint64_t best = 0, peak = 0, req = 0;
    for (unsigned to = from + 1; left > 0 && to <= n; to++) {
        uint64_t stride = a[to - 1].top;
        peak += a[to - 1].peak;
        req += a[to - 1].requests;
        if (stride <= limit) {
            uint64_t v = exhaustive(a, n, headroom, to, left - 1, limit - stride);
            best = v > best ? v : best;
        }
        uint64_t bytes = full_objects(peak, headroom) * stride;
        if (bytes <= limit) {
            uint64_t v = req + exhaustive(a, n, headroom, to, left - 1, limit - bytes);
            best = v > best ? v : best;
        }
    }
    return best;
}

/* What a configuration must satisfy whatever it is: contiguous ranges from
 * the first atom, sizes increasing, and bytes and served the sums. */
static void check_config(const struct rec_config *cf, const struct rec_atom *a,
                         const struct rec_params *pp, uint64_t seed)
{
    uint64_t bytes = 0, served = 0;
    ck_assert_uint_le(cf->n, pp->max_classes);
    for (unsigned k = 0; k < cf->n; k++) {
        const struct rec_choice *c = &cf->c[k];
        ck_assert_msg(c->from == (k ? cf->c[k - 1].to : 0) && c->to > c->from,
                      "seed %llu: class %u covers (%u, %u]", (unsigned long long)seed, k,
                      c->from, c->to);
        uint64_t req = 0, peak = 0;
        for (unsigned i = c->from; i < c->to; i++) {
            req += a[i].requests;
            peak += a[i].peak;
        }
        uint64_t top = a[c->to - 1].top;
        ck_assert_uint_eq(c->size, top >= 32 ? top - 8 : top);
        ck_assert_uint_eq(c->requests, req);
        ck_assert_uint_eq(c->peak, peak);
        ck_assert_uint_eq(c->count, c->barrier ? 1 : full_objects(peak, pp->headroom));
        ck_assert_uint_eq(c->bytes, c->count * top);
        bytes += c->bytes;
        served += c->barrier ? 0 : c->requests;
    }
    ck_assert_uint_eq(cf->bytes, bytes);
    ck_assert_uint_eq(cf->served, served);
    ck_assert_uint_le(cf->bytes, pp->budget);
}

/* 300 small random profiles: the result fits the budget, serves every
 * request when the budget holds them all, and serves as much as any
 * configuration of its own memory or less can; rec_cheapest is the least
 * memory that serves anything. */
START_TEST(search_is_optimal_for_its_memory)
{
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (int round = 0; round < 300; round++) {
        struct rec_atom a[6];
        unsigned n = 1 + (unsigned)(prng(&s) % 6);
        uint64_t top = 0, total = 0;
        for (unsigned i = 0; i < n; i++) {
            top += 16 * (1 + prng(&s) % 40);
            a[i] = (struct rec_atom){top, top, 1 + prng(&s) % 1000, prng(&s) % 60};
            total += a[i].requests;
        }
        struct rec_params pp = {UINT64_MAX / 2, (unsigned)(prng(&s) % 30),
                                1 + (unsigned)(prng(&s) % 3)};
        struct rec_config all, cf;
        ck_assert_int_eq(rec_recommend(a, n, &pp, 32, &all), 0);
        ck_assert_uint_eq(all.served, total);
        pp.budget = 16 + prng(&s) % (all.bytes + all.bytes / 4);
        ck_assert_int_eq(rec_recommend(a, n, &pp, 32, &cf), 0);
        check_config(&cf, a, &pp, (uint64_t)round);
        if (pp.budget >= all.bytes)
            ck_assert_uint_eq(cf.served, total);
        ck_assert_msg(cf.served == exhaustive(a, n, pp.headroom, 0, pp.max_classes, cf.bytes),
                      "round %d: served %llu with %llu bytes; more is possible", round,
                      (unsigned long long)cf.served, (unsigned long long)cf.bytes);
        uint64_t least = rec_cheapest(a, n, &pp);
        ck_assert_uint_eq(exhaustive(a, n, pp.headroom, 0, pp.max_classes, least - 1), 0);
        ck_assert_uint_gt(exhaustive(a, n, pp.headroom, 0, pp.max_classes, least), 0);
        ck_assert(cf.served == 0 || cf.bytes >= least);
    }
}
END_TEST

/* ---- the printers ---- */

START_TEST(size_texts)
{
    char b[32];
    ck_assert_str_eq(rec_size_text(4096, 10, b, sizeof b), "4k");
    ck_assert_str_eq(rec_size_text(1048576, 20, b, sizeof b), "1M");
    ck_assert_str_eq(rec_size_text(1048576, 10, b, sizeof b), "1024k");
    ck_assert_str_eq(rec_size_text(UINT64_C(3) << 30, 30, b, sizeof b), "3G");
    ck_assert_str_eq(rec_size_text(65528, 30, b, sizeof b), "65528");
    ck_assert_str_eq(rec_size_text(0, 30, b, sizeof b), "0");
    ck_assert_str_eq(rec_human(1536, b, sizeof b), "1.5 KiB");
    ck_assert_str_eq(rec_human(UINT64_C(3) << 19, b, sizeof b), "1.50 MiB");
    ck_assert_str_eq(rec_human(UINT64_C(1) << 30, b, sizeof b), "1.00 GiB");
}
END_TEST

/* A barrier class of 24 bytes and a full one of 56, as the "barrier" case
 * above recommends, with one smaller budget. */
static void sample(struct rec_profile *pf, struct rec_params *pp, struct rec_config *cf,
                   struct rec_totals *t)
{
    pf->files = 1;
    pf->blocks = 2;
    pf->larger = 5;
    *pp = (struct rec_params){1 << 20, 10, 32};
    memset(cf, 0, sizeof *cf);
    cf->n = 2;
    cf->c[0] = (struct rec_choice){0, 1, true, 24, 1, 32, 100, 1000};
    cf->c[1] = (struct rec_choice){1, 2, false, 56, 11, 704, 1000, 10};
    cf->bytes = 736;
    cf->served = 1000;
    *t = (struct rec_totals){1105, 0, 100, 1, {{262144, 1000, 736}}};
}

/* What a printer prints for sample(); free() it. */
static char *printed(void (*print)(FILE *, const struct rec_profile *,
                                   const struct rec_params *, const struct rec_config *,
                                   const struct rec_totals *, const char *))
{
    struct rec_profile *pf = new_profile();
    struct rec_params pp;
    struct rec_config cf;
    struct rec_totals t;
    sample(pf, &pp, &cf, &t);
    char line[256], *text;
    size_t len;
    rec_classes_line(&cf, line, sizeof line);
    ck_assert_str_eq(line, "24:1,56:11");
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    print(f, pf, &pp, &cf, &t, line);
    ck_assert_int_eq(fclose(f), 0);
    free(pf);
    return text;
}

/* The report and the JSON object, to the byte. */
START_TEST(print_exact)
{
    char *text = printed(rec_print_text);
    ck_assert_str_eq(text,
        "poolshim-recommend: 1 file, 2 profile blocks (processes), 1105 requests\n"
        "budget 1048576 bytes (1.00 MiB), at most 32 classes, headroom 10%\n"
        "\n"
        "     class      count  request sizes           requests    share        bytes\n"
        "        24          1  1..24                        100  barrier           32\n"
        "        56         11  25..56                      1000   90.50%          704\n"
        "\n"
        "served from the pools: 1000 of 1105 requests (90.50%)\n"
        "left to the system allocator: 0 above the largest class, 5 above 1 MiB, "
        "100 in barrier classes\n"
        "pool memory: 736 bytes (0.7 KiB) of the 1.00 MiB budget\n"
        "smaller budgets: --budget 256k serves 90.50% (0.7 KiB)\n"
        "POOLSHIM_CLASSES=24:1,56:11\n");
    free(text);
    text = printed(rec_print_json);
    ck_assert_str_eq(text,
        "{\"version\":1,\"files\":1,\"blocks\":2,\"requests\":1105,\"larger\":5,"
        "\"budget\":1048576,\"max_classes\":32,\"headroom_percent\":10,\"classes\":["
        "{\"size\":24,\"count\":1,\"barrier\":true,\"min_request\":1,\"requests\":100,"
        "\"peak\":1000,\"bytes\":32},"
        "{\"size\":56,\"count\":11,\"barrier\":false,\"min_request\":25,\"requests\":1000,"
        "\"peak\":10,\"bytes\":704}],"
        "\"served\":1000,\"share\":0.904977,\"above_largest\":0,\"in_barriers\":100,"
        "\"bytes\":736,\"smaller_budgets\":[{\"budget\":262144,\"served\":1000,\"bytes\":736}],"
        "\"classes_line\":\"24:1,56:11\"}\n");
    free(text);
}
END_TEST

static void recommend_cases(Suite *s)
{
    add_tcase(s, "profiles", 0, TC_CASE_DIR, basic, version, merge, barrier, budget_cut,
              budget_env, many_buckets, coarsened, one_class, stdin_and_16, larger_only_share);

    TCase *tc = add_tcase(s, "errors", 0, TC_CASE_DIR);
    tcase_add_loop_test(tc, errors, 0, sizeof bads / sizeof bads[0]);

    add_tcase(s, "end_to_end", 30, TC_CASE_DIR, end_to_end, forked_child_counted_once);

    add_tcase(s, "parts", 30, TC_PLAIN, read_merges, read_error_keeps_ended_blocks,
              atoms_and_coarsening, search_is_optimal_for_its_memory, size_texts, print_exact);
}

TU_SUITE("recommend", recommend_cases, 0);
