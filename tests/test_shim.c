/* test_shim.c - libpoolshim.so from the outside.
 *
 * This runner is never preloaded: every case runs a small helper program
 * (tests/helpers/) or a real system program with LD_PRELOAD set in the
 * child's own environment, built from scratch (testutil.h), and asserts on
 * its exit status, its stdout and its stderr (the shim's messages and stats).
 *
 * Telling the pools from glibc: a pooled block's malloc_usable_size is its
 * class size exactly, while glibc's usable sizes are 24, 40, 56, 72, ...
 * (16k + 8; 72 for malloc(64), 104 for malloc(100)), so the class sizes used
 * here (multiples of 16, and 100) never coincide with glibc's.
 *
 * Needs TEST_SHIM_LIB and TEST_HELPERS (scripts/run-tests sets them).
 */
#define _GNU_SOURCE
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/checkutil.h"

/* The offending-config suffix every malformed-configuration line ends with. */
#define OFF_SUFFIX "poolshim is off, the program runs on the system allocator"

/* ------------------------------------------------------------------------ */
/* routing and the malloc family                                             */

START_TEST(glibc_baseline_sizes)
{
    /* the premise of every usable-size check below */
    struct tu_proc p;
    run_plain(&p, NOVARS, LIST("shim_api", "usable", "64", "100", "4096"));
    ck_clean(&p);
    ck_kvs(&p, LIST("usable 64=72", "usable 100=104", "usable 4096=4104"));
    tu_proc_free(&p);
}
END_TEST

START_TEST(configured_sizes_are_pooled)
{
    struct tu_proc p;
    run_clean(&p, LIST("POOLSHIM_CLASSES=64:16,100:16,4k:4"),
              LIST("shim_api", "usable", "1", "48", "64", "65", "100", "101", "4095", "4096",
                   "5000"),
              /* the smallest class with SIZE >= n */
              LIST("usable 1=64", "usable 48=64", "usable 64=64", "usable 65=100",
                   "usable 100=100", "usable 101=4096", "usable 4095=4096", "usable 4096=4096"));
    long long u = tu_kv_num(p.out, "usable 5000", -1);
    ck_assert_msg(u >= 5000 && u != 4096, "usable 5000 = %lld", u);
    tu_proc_free(&p);
}
END_TEST

START_TEST(default_classes_serve_small_sizes)
{
    struct tu_proc p;
    struct tu_stats st;
    run_shim(&p, LIST("POOLSHIM_STATS=1"),
             LIST("shim_api", "usable", "16", "32", "64", "128"));
    ck_exit(&p, 0);
    ck_assert_msg(tu_parse_stats(p.err, &st) == 0, "no stats: %s", p.err);
    ck_assert_int_gt(st.nrows, 0);
    unsigned long long served = 0;
    for (int i = 0; i < st.nrows; i++) {
        ck_assert_uint_le(st.row[i].size, 65536);
        served += st.row[i].served;
    }
    ck_assert_msg(served >= 1, "nothing served by the default classes");
    /* at least one of the small sizes has a pooled usable size (not 16k+8) */
    int pooled = 0;
    const char *keys[] = {"usable 16", "usable 32", "usable 64", "usable 128"};
    for (int i = 0; i < 4; i++) {
        long long u = tu_kv_num(p.out, keys[i], -1);
        ck_assert_int_gt(u, 0);
        pooled += u % 16 != 8;
    }
    ck_assert_int_gt(pooled, 0);
    tu_proc_free(&p);
}
END_TEST

START_TEST(calloc_zeroes_recycled_objects)
{
    expect_clean(LIST("POOLSHIM_CLASSES=64:32"), LIST("shim_api", "calloc", "64", "32"),
                 LIST("calloc_pooled=32", "calloc_zeroed=32"));
}
END_TEST

START_TEST(size_overflow_is_enomem)
{
    expect_clean(LIST("POOLSHIM_CLASSES=64:16"), LIST("shim_api", "overflow"),
                 LIST("calloc_half=ENOMEM", "calloc_max=ENOMEM", "calloc_2_32=ENOMEM",
                      "calloc_wrap64=ENOMEM", "calloc_wrap64_rev=ENOMEM",
                      "reallocarray_null_wrap64=ENOMEM", "malloc_max=ENOMEM",
                      "malloc_max_minus_8=ENOMEM", "reallocarray_live_wrap64=ENOMEM",
                      "realloc_huge=ENOMEM", "aligned_alloc_huge=ENOMEM",
                      "reallocarray_live_intact=1", "realloc_huge_intact=1",
                      "reallocarray_4x16_same=1", "reallocarray_4x16_usable=64",
                      "posix_memalign_huge=12", "posix_memalign_huge_untouched=1"));
}
END_TEST

START_TEST(realloc_keeps_contents)
{
    struct tu_proc p;
    run_clean(&p, LIST("POOLSHIM_CLASSES=64:16,256:16,4k:4"), LIST("shim_api", "realloc"),
              LIST("same_class_inplace=1", "same_class_usable=64", "same_class_intact=1",
                   "grow_old_usable=64", "grow_new_usable=256", "grow_moved=1",
                   "grow_intact=1", /* all 64 usable bytes, not just 50 */
                   "shrink_intact=1", "tosys_old_usable=4096", "tosys_new_big_enough=1",
                   "tosys_intact=1", "fromsys_big_enough=1", "fromsys_intact=1",
                   "class4k_inplace=1", "realloc_null_usable=64",
                   /* glibc: realloc(p, 0) frees p and returns NULL, errno untouched */
                   "realloc_zero=null-errno-0"));
    /* a shrink may stay in place (usable 256) or move to class 64 */
    const char *shrunk = tu_kv(p.out, "shrink_new_usable");
    ck_assert_msg(shrunk && (strcmp(shrunk, "64") == 0 || strcmp(shrunk, "256") == 0),
                  "%s", tu_describe(&p));
    tu_proc_free(&p);
}
END_TEST

/* shim_api CMD 64 COUNT with one class of COUNT 64-byte objects, strict:
 * it ends cleanly and prints want. */
static void strict_64(const char *cmd, const char *count, const char *const *want)
{
    char classes[64];
    snprintf(classes, sizeof classes, "POOLSHIM_CLASSES=64:%s", count);
    expect_clean(LIST(classes, "POOLSHIM_STRICT=1"), LIST("shim_api", cmd, "64", count), want);
}

START_TEST(realloc_zero_gives_object_back)
{
    strict_64("realloc0", "8",
              LIST("pooled=8", "realloc0_null=1", "after=nonnull", "after_usable=64"));
}
END_TEST

START_TEST(malloc_zero_unique)
{
    expect_clean(LIST("POOLSHIM_CLASSES=64:8"), LIST("shim_api", "zero"),
                 LIST("malloc0_nonnull=1", "malloc0_distinct=1", "calloc0_nonnull=1",
                      "calloc0_distinct=1"));
}
END_TEST

/* alignment, under several configurations */
static const char *const align_configs[][4] = {
    {"POOLSHIM_CLASSES=64:64,256:64,4k:32,64k:8", NULL},
    {NULL},                                            /* default classes */
    {"POOLSHIM_CLASSES=16:64,48:64,64:64,100:64,256:64,4k:64,64k:64",
     "POOLSHIM_STRICT=1", "POOLSHIM_CACHE=0", NULL},
    {"POOLSHIM_CLASSES=64:64,256:64,4k:32,64k:8", "POOLSHIM_CHECK=1", NULL},
};

START_TEST(alignment_honoured)
{
    expect_clean(align_configs[_i], LIST("shim_api", "align"),
                 LIST("align_checks=378", /* 14 alignments x 9 sizes x 3 calls */
                      "align_failures=0", "valloc_ok=1", "pvalloc_ok=1",
                      "posix_memalign_bad=13/13"));
}
END_TEST

START_TEST(aligned_requests_pooled_when_class_aligned)
{
    /* class 64 objects sit 64 bytes apart from a page-aligned base */
    expect_clean(LIST("POOLSHIM_CLASSES=64:16"), LIST("shim_api", "aligned_pooled"),
                 LIST("posix_memalign_64_64=0:64", "aligned_alloc_16_64=64", "memalign_32_48=64",
                      "aligned=1"));
}
END_TEST

START_TEST(strict_never_refuses_what_its_class_cannot_align)
{
    /* posix_memalign(4096, 64): class 64 covers the size but its objects are
     * only 64-aligned, so the request is not one the pools serve ("everything
     * else goes to the real allocator"): strict mode must not refuse it, not
     * even when a bigger, page-aligned class is empty. */
    expect_clean(LIST("POOLSHIM_CLASSES=64:16,4k:1", "POOLSHIM_STRICT=1"),
                 LIST("shim_api", "aligned_strict", "4096", "64", "4"), LIST("ok=4", "rc=0"));
}
END_TEST

START_TEST(every_free_returns_the_object)
{
    strict_64("frees", "10", LIST("pooled=10", "errno_kept=1", "reacquired=10", "extra=ENOMEM"));
}
END_TEST

START_TEST(libc_aliases_agree)
{
    strict_64("aliases", "10",
              LIST("libc_malloc_usable=64", "libc_calloc_usable=64", "libc_calloc_zero=1",
                   "libc_realloc_inplace=1", "libc_realloc_intact=1", "libc_memalign_usable=64",
                   "libc_valloc_ok=1", "libc_pvalloc_ok=1", "reacquired=10", "extra=ENOMEM"));
}
END_TEST

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(exports_only_the_malloc_family)
{
    static const char *want[] = {
        "__libc_calloc", "__libc_free", "__libc_malloc", "__libc_memalign",
        "__libc_pvalloc", "__libc_realloc", "__libc_valloc", "aligned_alloc",
        "calloc", "cfree", "free", "free_aligned_sized", "free_sized", "malloc",
        "malloc_usable_size", "memalign", "posix_memalign", "pvalloc", "realloc",
        "reallocarray", "valloc"};
    enum { NWANT = sizeof want / sizeof want[0] };
    const char *nm = tu_first_executable(LIST("/usr/bin/nm", "/bin/nm"));
    ck_assert_msg(nm != NULL, "nm not found (binutils)");
    struct tu_proc p;
    run_plain(&p, NOVARS, LIST(nm, "-D", "--defined-only", tu_shim_lib()));
    ck_clean(&p);

    char *got[128];
    int n = 0;
    char line[512];
    for (int i = 0; tu_line(p.out, i, line, sizeof line); i++) {
        char addr[64], type[8], name[256];
        if (sscanf(line, "%63s %7s %255s", addr, type, name) != 3)
            continue;
        name[strcspn(name, "@")] = '\0';
        ck_assert_int_lt(n, 128);
        got[n++] = strdup(name);
    }
    qsort(got, (size_t)n, sizeof got[0], cmp_str);
    char list[4096] = "";
    for (int i = 0; i < n; i++) {
        strcat(list, " ");
        strcat(list, got[i]);
    }
    ck_assert_msg(n == NWANT, "%d symbols exported:%s", n, list);
    for (int i = 0; i < NWANT; i++)
        ck_assert_msg(strcmp(got[i], want[i]) == 0, "exported:%s", list);
    for (int i = 0; i < n; i++)
        free(got[i]);
    tu_proc_free(&p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* exhaustion                                                                */

/* _i: bit 0 strict, bit 1 no per-thread caches */
static void exhaust_vars(int i, const char *vars[5])
{
    int n = 0;
    vars[n++] = "POOLSHIM_CLASSES=64:100";
    if (i & 1)
        vars[n++] = "POOLSHIM_STRICT=1";
    if (i & 2)
        vars[n++] = "POOLSHIM_CACHE=0";
    vars[n] = NULL;
}

START_TEST(exhaustion_at_exact_count)
{
    const char *vars[5];
    exhaust_vars(_i, vars);
    bool strict = _i & 1;
    struct tu_proc p;
    run_shim(&p, vars, LIST("shim_api", "exhaust", "64", "100", "1000", "7"));
    ck_clean(&p);
    ck_kv(&p, "pooled", "100");
    if (strict) {
        ck_kv(&p, "extra", "ENOMEM");
        ck_kv(&p, "extra_usable", "0");
    } else {
        ck_kv(&p, "extra", "nonnull");
        ck_kv(&p, "extra_usable", "72");     /* glibc's */
    }
    ck_kv(&p, "uncovered_ok", "7");         /* never refused, even strict */
    ck_kv(&p, "again_usable", "64");        /* one freed: pooled again */
    tu_proc_free(&p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* stats                                                                     */

START_TEST(stats_table_exact)
{
    const char *vars[6];
    exhaust_vars(_i, vars);
    int n = 0;
    while (vars[n])
        n++;
    vars[n++] = "POOLSHIM_STATS=1";
    vars[n] = NULL;
    bool strict = _i & 1;

    struct tu_proc p;
    run_shim(&p, vars, LIST("shim_api", "exhaust", "64", "100", "1000", "7"));
    ck_exit(&p, 0);
    long pid = (long)tu_kv_num(p.out, "pid", -1);
    struct tu_stats st;
    ck_assert_int_eq(tu_parse_stats(p.err, &st), 0);
    ck_assert_str_eq(st.program, "shim_api");
    ck_assert_msg(tu_time_ok(st.time), "time \"%s\"", st.time);
    char want[1024];
    snprintf(want, sizeof want,
             "poolshim: stats for pid %ld (shim_api) at %s%s\n"
             "poolshim:     size   capacity     in use   peak out       served     misses\n"
             "poolshim:%9d%11d%11d%11d%13d%11d\n"
             "poolshim: not covered by any class: 7 requests\n",
             pid, st.time, strict ? ", strict" : "", 64, 100, 0, 100, 101, 1);
    ck_assert_msg(strcmp(p.err, want) == 0, "stderr:\n%s\nwant:\n%s", p.err, want);

    ck_assert_int_eq(st.strict, strict);
    ck_assert_int_eq(st.pid, pid);
    tu_proc_free(&p);
}
END_TEST

START_TEST(stats_after_threads_show_nothing_in_use)
{
    struct tu_proc p;
    struct tu_stats st;
    run_shim(&p, LIST("POOLSHIM_CLASSES=16:4096,64:4096,256:2048,1k:512,4k:128",
                      "POOLSHIM_STATS=1"),
             LIST("mt_mixed", "8", "20000"));
    ck_exit(&p, 0);
    ck_assert_msg(tu_parse_stats(p.err, &st) == 0, "no stats: %s", p.err);
    ck_assert_int_eq(st.nrows, 5);
    ck_assert(!st.strict);
    static const unsigned long long size[] = {16, 64, 256, 1024, 4096};
    static const unsigned long long cap[] = {4096, 4096, 2048, 512, 128};
    /* mt_mixed keeps about 160 blocks a thread live: some 30, 80 and 340 at
     * once in the first three classes, far below their capacity; more than
     * 512 of 513..1024 bytes and 128 of 1025..4096 bytes, so those two run
     * dry. A class that ran dry had every object out of the depot at once:
     * its peak out is its capacity; the others' is above zero and below it. */
    static const bool dry[] = {false, false, false, true, true};
    unsigned long long served = 0;
    for (int i = 0; i < 5; i++) {
        const struct tu_stats_row *r = &st.row[i];
        ck_assert_uint_eq(r->size, size[i]);
        ck_assert_uint_eq(r->capacity, cap[i]);
        ck_assert_msg(r->in_use == 0, "class %llu: %llu in use at exit", size[i], r->in_use);
        ck_assert_msg(r->served > 0, "class %llu served nothing", size[i]);
        if (dry[i])
            ck_assert_msg(r->misses > 0 && r->peak_out == cap[i],
                          "class %llu: %llu fallbacks, peak out %llu of %llu", size[i],
                          r->misses, r->peak_out, cap[i]);
        else
            ck_assert_msg(r->misses == 0 && r->peak_out > 0 && r->peak_out < cap[i],
                          "class %llu: %llu fallbacks, peak out %llu of %llu", size[i],
                          r->misses, r->peak_out, cap[i]);
        served += r->served;
    }
    ck_assert_uint_gt(served, 10000);
    ck_assert_uint_gt(st.uncovered, 0);     /* the 4097..20096-byte requests */
    tu_proc_free(&p);
}
END_TEST

/* Valid configurations: nothing on stderr, stdout and status as without the
 * shim. */
static const char *const valid_configs[][6] = {
    {NULL},
    {"POOLSHIM_CLASSES=64:100", NULL},
    {"POOLSHIM_CLASSES=16:1000,1k:500,4K:2", "POOLSHIM_STRICT=1", NULL},
    {"POOLSHIM_STATS=0", "POOLSHIM_STRICT=0", "POOLSHIM_VERBOSE=0", NULL},
    {"POOLSHIM_PREFAULT=0", "POOLSHIM_CACHE=0", NULL},
    {"POOLSHIM_MLOCK=1", NULL},
    {"POOLSHIM_CHECK=1", NULL},
};

START_TEST(valid_config_is_silent)
{
    struct tu_proc with, without;
    run_shim(&with, valid_configs[_i], LIST("shim_api", "quiet"));
    run_plain(&without, valid_configs[_i], LIST("shim_api", "quiet"));
    ck_quiet_as_without(&with, &without);
}
END_TEST

START_TEST(verbose_prints_config_on_stderr)
{
    struct tu_proc with, without;
    run_shim(&with, LIST("POOLSHIM_VERBOSE=1", "POOLSHIM_CLASSES=64:100"),
             LIST("shim_api", "quiet"));
    run_plain(&without, NOVARS, LIST("shim_api", "quiet"));
    ck_exit(&with, 7);
    ck_assert_str_eq(with.out, without.out);
    int n = tu_count_lines(with.err);
    ck_assert_int_gt(n, 0);
    bool mentions_classes = false;
    char line[1024];
    for (int i = 0; i < n; i++) {
        tu_line(with.err, i, line, sizeof line);
        ck_assert_msg(strncmp(line, "poolshim: ", 10) == 0, "line: %s", line);
        mentions_classes |= strstr(line, "64:100") != NULL;
    }
    ck_assert_msg(mentions_classes, "effective classes not shown: %s", with.err);
    ck_assert_msg(strstr(with.err, ", 1 class, 6400 bytes of objects\n") != NULL,
                  "first line: %s", with.err);
    ck_assert(with.err[with.err_len - 1] == '\n');
    tu_proc_free(&with);
    tu_proc_free(&without);
}
END_TEST

START_TEST(prefault_means_no_page_faults)
{
    struct tu_proc p;
    run_shim(&p, LIST("POOLSHIM_CLASSES=4k:256"), LIST("shim_api", "faults", "4096", "256"));
    ck_clean(&p);
    ck_kv(&p, "pooled", "256");
    ck_kv(&p, "minflt", "0");
    tu_proc_free(&p);
    /* the measurement can see faults: without pre-faulting each page faults */
    run_shim(&p, LIST("POOLSHIM_CLASSES=4k:256", "POOLSHIM_PREFAULT=0"),
             LIST("shim_api", "faults", "4096", "256"));
    ck_clean(&p);
    ck_kv(&p, "pooled", "256");
    ck_assert_int_ge(tu_kv_num(p.out, "minflt", -1), 200);
    tu_proc_free(&p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* malformed configuration                                                   */

struct bad_config {
    const char *var, *value;   /* the malformed variable */
    const char *needle;        /* the offending text the message must quote */
    const char *also;          /* another (valid) variable, or NULL */
    unsigned long long rlimit_as;
};

static const struct bad_config bad_configs[] = {
    {"POOLSHIM_CLASSES", "64:abc", "abc", NULL, 0},
    {"POOLSHIM_CLASSES", "64q:10", "64q", NULL, 0},
    {"POOLSHIM_CLASSES", "64", "64", NULL, 0},
    {"POOLSHIM_CLASSES", "64:", "64:", NULL, 0},
    {"POOLSHIM_CLASSES", "64:10,256", "256", NULL, 0},
    {"POOLSHIM_CLASSES", "64:10,:5", ":5", NULL, 0},
    {"POOLSHIM_CLASSES", "000:10", "000", NULL, 0},
    {"POOLSHIM_CLASSES", "64:000", "000", NULL, 0},
    {"POOLSHIM_CLASSES", "64:-5", "-5", NULL, 0},
    {"POOLSHIM_CLASSES", "64:10,128:5,64:20", "64:20", NULL, 0},
    {"POOLSHIM_CLASSES", "1k:4,1024:8", "1024:8", NULL, 0},
    {"POOLSHIM_CLASSES", "99999999999999999999:1", "99999999999999999999", NULL, 0},
    {"POOLSHIM_CLASSES", "64:99999999999999999999", "99999999999999999999", NULL, 0},
    {"POOLSHIM_CLASSES", "2048k:1", "2048k", NULL, 0},
    {"POOLSHIM_CLASSES", "64:abc", "abc", "POOLSHIM_STATS=1", 0},
    {"POOLSHIM_STRICT", "2", "2", NULL, 0},
    {"POOLSHIM_STATS", "maybe", "maybe", NULL, 0},
    {"POOLSHIM_PREFAULT", "abc", "abc", NULL, 0},
    {"POOLSHIM_MLOCK", "-1", "-1", NULL, 0},
    {"POOLSHIM_CHECK", "2x", "2x", NULL, 0},
    {"POOLSHIM_CACHE", "x1", "x1", NULL, 0},
    {"POOLSHIM_FOO", "1", "POOLSHIM_FOO", NULL, 0},
    {"POOLSHIM_STATZ", "1", "POOLSHIM_STATZ", "POOLSHIM_CLASSES=64:100", 0},
    /* parses, but 2000 MiB cannot be mapped within 1 GiB of address space */
    {"POOLSHIM_CLASSES", "1m:2000", "1m:2000", NULL, 1ULL << 30},
};

START_TEST(malformed_config_one_line_and_unharmed)
{
    const struct bad_config *c = &bad_configs[_i];
    char assign[256];
    snprintf(assign, sizeof assign, "%s=%s", c->var, c->value);
    const char *vars[] = {assign, c->also, NULL};
    struct tu_opts o = {.rlimit_as = c->rlimit_as};
    struct tu_proc with, without;
    run_with(&with, true, vars, LIST("shim_api", "quiet", "usable"), &o);
    run_with(&without, false, vars, LIST("shim_api", "quiet", "usable"), &o);

    ck_exit(&without, 7);
    ck_quiet_stderr(&without);
    /* unharmed: same stdout (glibc's usable sizes: the shim is off) and status */
    ck_exit(&with, 7);
    ck_assert_str_eq(with.out, without.out);
    /* exactly one line */
    ck_assert_msg(with.err_len > 0 && with.err[with.err_len - 1] == '\n' &&
                  strchr(with.err, '\n') == with.err + with.err_len - 1,
                  "%s=%s: want one line on stderr, got: %s", c->var, c->value,
                  with.err);
    const char *line = with.err;
    ck_assert_msg(strncmp(line, "poolshim: ", 10) == 0, "%s", line);
    ck_assert_msg(strstr(line, c->var) != NULL, "variable not named: %s", line);
    ck_assert_msg(strstr(line, c->needle) != NULL, "offending text \"%s\" not quoted: %s",
                  c->needle, line);
    size_t sl = strlen(OFF_SUFFIX);
    ck_assert_msg(with.err_len > sl + 1 &&
                  strncmp(line + with.err_len - 1 - sl, OFF_SUFFIX, sl) == 0,
                  "does not end with \"" OFF_SUFFIX "\": %s", line);
    tu_proc_free(&with);
    tu_proc_free(&without);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* checked mode and the cheap checks                                         */

/* The program aborted with one "poolshim: " line naming addr (and, when
 * given, the class size). */
static void ck_aborted_naming(const struct tu_proc *p, const char *cls)
{
    ck_assert_msg(p->sig == SIGABRT, "want SIGABRT; %s", tu_describe(p));
    ck_assert_msg(tu_kv(p->out, "survived") == NULL && !tu_has_line(p->out, "survived"),
                  "misuse went unnoticed; %s", tu_describe(p));
    const char *addr = tu_kv(p->out, "addr");
    ck_assert_ptr_nonnull(addr);
    char line[1024];
    bool found = false;
    for (int i = 0; tu_line(p->err, i, line, sizeof line); i++) {
        if (strncmp(line, "poolshim: ", 10) != 0 || strstr(line, addr) == NULL)
            continue;
        found = cls == NULL || strstr(line, cls) != NULL;
        if (found)
            break;
    }
    ck_assert_msg(found, "no \"poolshim: \" line naming %s%s%s: %s", addr,
                  cls ? " and class " : "", cls ? cls : "", p->err);
}

/* Misuse the shim catches: the helper's "misuse KIND 64 COUNT" under each
 * configuration aborts with a line naming the address and, in checked mode,
 * the class. */
static const struct {
    const char *vars[3];
    const char *kind, *count;
    const char *cls;          /* the class size the line names, or NULL */
} aborting_misuses[] = {
    /* checked mode: double free, invalid (interior) free, write after free */
    {{"POOLSHIM_CLASSES=64:16", "POOLSHIM_CHECK=1"}, "double_late", "16", "64"},
    {{"POOLSHIM_CLASSES=64:16", "POOLSHIM_CHECK=1"}, "interior", "16", "64"},
    {{"POOLSHIM_CLASSES=64:4", "POOLSHIM_CHECK=1"}, "waf", "4", "64"},
    /* the default mode: every double free (issue 9.6: glibc aborts on them,
     * so must we, or a latent bug gives one object two owners), interior
     * frees, realloc of a freed block */
    {{"POOLSHIM_CLASSES=64:16"}, "interior", "16", "64"},
    {{"POOLSHIM_CLASSES=64:16"}, "double", "16", "64"},
    {{"POOLSHIM_CLASSES=64:16"}, "double_late", "16", "64"},
    {{"POOLSHIM_CLASSES=64:4096"}, "double_many", "2000", "64"},
    {{"POOLSHIM_CLASSES=64:4096"}, "double_thread", "1", "64"},
    {{"POOLSHIM_CLASSES=64:16"}, "realloc_freed", "1", "64"},
    {{"POOLSHIM_CLASSES=64:16", "POOLSHIM_CACHE=0"}, "double_late", "16", "64"},
};

START_TEST(misuse_aborts)
{
    struct tu_proc p;
    run_shim(&p, aborting_misuses[_i].vars,
             LIST("shim_api", "misuse", aborting_misuses[_i].kind, "64",
                  aborting_misuses[_i].count));
    ck_aborted_naming(&p, aborting_misuses[_i].cls);
    tu_proc_free(&p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* must hold: threads, fork, exec, dlopen, C++                               */

static const char *const mt_configs[][4] = {
    {"POOLSHIM_CLASSES=16:4096,64:4096,256:2048,1k:512,4k:128", NULL},
    {"POOLSHIM_CLASSES=16:4096,64:4096,256:2048,1k:512,4k:128", "POOLSHIM_CACHE=0", NULL},
    {"POOLSHIM_CLASSES=16:256,64:256,256:128,1k:64,4k:16", "POOLSHIM_STRICT=1", NULL},
    {"POOLSHIM_CLASSES=16:4096,64:4096,256:2048,1k:512,4k:128", "POOLSHIM_CHECK=1", NULL},
    {NULL},
};

START_TEST(multithreaded_mixed_sizes)
{
    bool strict = _i == 2;
    struct tu_proc p;
    if (strict)
        run_shim(&p, mt_configs[_i], LIST("mt_mixed", "8", "50000", "strict"));
    else
        run_shim(&p, mt_configs[_i], LIST("mt_mixed", "8", "50000"));
    ck_clean(&p);
    ck_kv(&p, "errors", "0");
    long long ops = tu_kv_num(p.out, "ops", -1), nulls = tu_kv_num(p.out, "nulls", -1);
    ck_assert_int_eq(ops + nulls, 8 * 50000);
    if (!strict)
        ck_assert_int_eq(nulls, 0);
    tu_proc_free(&p);
}
END_TEST

START_TEST(cross_thread_frees)
{
    bool strict = _i == 1;
    const char *vars[] = {"POOLSHIM_CLASSES=64:256", strict ? "POOLSHIM_STRICT=1" : NULL,
                          NULL};
    struct tu_proc p;
    run_shim(&p, vars, LIST("xthread_free", "200000", "64", "256"));
    ck_clean(&p);
    ck_kv(&p, "items", "200000");
    ck_kv(&p, "corrupt", "0");
    /* at most 64 in the ring + 4 threads' caches (16 each) + 2 in hand are
     * out of the depot: a class of 256 never runs dry */
    ck_kv(&p, "nulls", "0");
    ck_kv(&p, "reacquired", "256");
    ck_kv(&p, "extra", strict ? "ENOMEM" : "nonnull");
    tu_proc_free(&p);
}
END_TEST

START_TEST(thread_exit_loses_nothing)
{
    /* the destructors' late allocations in a class of their own */
    const char *vars[] = {"POOLSHIM_CLASSES=64:512,128:256", "POOLSHIM_STRICT=1",
                          _i == 1 ? "POOLSHIM_CHECK=1" : NULL, NULL};
    struct tu_proc p;
    run_shim(&p, vars, LIST("thread_exit_cache", "64", "512", "4", "8", "128"));
    ck_clean(&p);
    long long base = tu_kv_num(p.out, "baseline", -1);
    /* glibc keeps a few objects of its own (libgcc_s loaded by pthread_exit) */
    ck_assert_msg(base > 512 - 16 && base <= 512, "baseline %lld", base);
    ck_kv_num(&p, "reacquired", base);
    ck_kv(&p, "extra", "ENOMEM");
    /* 4 rounds x 8 threads x 2 destructor calls x 3 objects, all pooled
     * after the thread's cache retired, none refused (at most 24 are out) */
    ck_kv_num(&p, "late", 192);
    ck_kv_num(&p, "late_null", 0);
    tu_proc_free(&p);
}
END_TEST

#define FORK_CLASSES "POOLSHIM_CLASSES=16:1024,64:1024,128:512,256:512,1k:128,4k:64"
static const char *const fork_configs[][4] = {
    {NULL},
    {FORK_CLASSES, NULL},
    {FORK_CLASSES, "POOLSHIM_CACHE=0", NULL},
    {FORK_CLASSES, "POOLSHIM_CHECK=1", NULL},
    /* strict, roomy enough that the child is never refused */
    {"POOLSHIM_CLASSES=16:1024,64:1024,128:1024,256:1024,1k:1024,4k:1024",
     "POOLSHIM_STRICT=1", NULL},
};

START_TEST(fork_while_threads_allocate)
{
    struct tu_proc p;
    struct tu_opts o = {.timeout_s = 50};
    run_with(&p, true, fork_configs[_i], LIST("fork_mt", "150", "4"), &o);
    ck_clean(&p);
    ck_kv(&p, "forks", "150");
    ck_kv(&p, "ok", "150");
    tu_proc_free(&p);
}
END_TEST

/* argv under the shim with vars, and alone: both runs end cleanly. */
static void clean_with_and_without(struct tu_proc *with, struct tu_proc *without,
                                   const char *const *vars, const char *const *argv)
{
    run_shim(with, vars, argv);
    run_plain(without, NOVARS, argv);
    ck_clean(with);
    ck_clean(without);
}

/* glibc's malloc must be initialised before the program's threads start
 * (it assumes its first call comes first; two threads making the first
 * call at once both take the main arena uncounted and the process later
 * aborts in glibc). With classes covering every small request, nothing
 * before main calls it: the shim must have done so itself at start-up. */
START_TEST(real_allocator_ready_before_main)
{
    struct tu_proc p, bare;
    clean_with_and_without(&p, &bare, LIST("POOLSHIM_CLASSES=16:64,64:64,256:64,1k:64,4k:64"),
                           LIST("glibc_ready"));
    ck_kv(&bare, "arena", "0"); /* the premise: the helper itself uses none */
    ck_assert_msg(tu_kv_num(p.out, "arena", 0) > 0, "glibc's malloc not "
                  "initialised under the shim; %s", tu_describe(&p));
    tu_proc_free(&p);
    tu_proc_free(&bare);
}
END_TEST

START_TEST(exec_children)
{
    struct tu_proc p;
    run_shim(&p, LIST("POOLSHIM_CLASSES=64:256,256:64,4k:16"), LIST("exec_child", "all"));
    ck_clean(&p);
    ck_assert_str_eq(p.out,
                     "leaf_usable64=64\n"
                     "fork_exec_status=0\n"
                     "true_ok=20\n"
                     "leaf_usable64=64\n"
                     "spawn_status=0\n"
                     "system_status=3\n"
                     "popen=hi\n"
                     "popen_status=0\n"
                     "chain=3\n"
                     "chain=2\n"
                     "chain=1\n"
                     "chain=0\n"
                     "leaf_usable64=64\n");
    tu_proc_free(&p);
}
END_TEST

START_TEST(dlopened_libraries)
{
    struct tu_proc p;
    const char *vars[] = {_i == 0 ? "POOLSHIM_CLASSES=32:1024,64:1024,256:512,4k:64"
                                  : "POOLSHIM_CHECK=1", NULL};
    struct tu_proc without;
    run_shim(&p, vars, LIST("dlopen_lib", "20"));
    run_plain(&without, NOVARS, LIST("dlopen_lib", "1"));
    ck_clean(&p);
    ck_kv(&p, "libm", "ok");
    ck_kv(&p, "missing", "ok");
    /* libz and libstdc++ are optional on a machine: what loads without the
     * shim must load and work under it; what does not is a skip */
    const char *absent = NULL;
    static const char *const optional[] = {"zlib", "libstdcxx"};
    for (int i = 0; i < N(optional); i++) {
        const char *alone = tu_kv(without.out, optional[i]);
        ck_assert_msg(alone && (strcmp(alone, "ok") == 0 || strcmp(alone, "absent") == 0),
                      "without the shim: %s", tu_describe(&without));
        if (strcmp(alone, "ok") == 0)
            ck_kv(&p, optional[i], "ok");
        else
            absent = optional[i];
    }
    tu_proc_free(&p);
    tu_proc_free(&without);
    if (absent != NULL)
        ck_skip("dlopened_libraries", "%s not installed: not checked under the shim", absent);
}
END_TEST

START_TEST(cxx_new_delete)
{
    struct tu_proc with, without;
    clean_with_and_without(
        &with, &without,
        LIST("POOLSHIM_CLASSES=16:4096,32:4096,64:4096,128:2048,256:1024,1k:256,4k:64"),
        LIST("cxx_new"));
    ck_kvs(&with, LIST("new_char64_usable=64", "new_obj64_usable=64", "aligned_ok=1",
                       "nothrow_huge_null=1", "bad_alloc=1", "exceptions=1000"));
    ck_kv(&without, "new_char64_usable", "72");
    const char *d = tu_kv(without.out, "digest");
    ck_assert_ptr_nonnull(d);
    ck_kv(&with, "digest", d);
    tu_proc_free(&with);
    tu_proc_free(&without);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* real programs: same output with and without the shim                      */

/* /usr/bin/NAME, else /bin/NAME; one of them must be there. */
static const char *system_program(const char *name)
{
    static char usr[64], bin[64];
    snprintf(usr, sizeof usr, "/usr/bin/%s", name);
    snprintf(bin, sizeof bin, "/bin/%s", name);
    const char *path = tu_first_executable(LIST(usr, bin));
    ck_assert_msg(path != NULL, "%s not found", name);
    return path;
}

/* len letters from `first` on (26 of them), drawn from the LCG state *x */
static void random_word(char *w, int len, char first, unsigned long long *x)
{
    for (int k = 0; k < len; k++) {
        *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
        w[k] = (char)(first + (*x >> 33) % 26);
    }
    w[len] = '\0';
}

/* 100k lines of pseudo-random text, "word number word", written to path;
 * the text (free it) and its length. */
static char *lines_file(const char *path, size_t *len)
{
    size_t cap = 100000 * 48, n = 0;
    char *s = malloc(cap);
    unsigned long long x = 12345;
    for (int i = 0; i < 100000; i++) {
        char w1[16], w2[16];
        int l1 = 1 + (int)(x % 12), l2 = 1 + (int)((x >> 8) % 9);
        random_word(w1, l1, 'a', &x);
        random_word(w2, l2, 'A', &x);
        n += (size_t)snprintf(s + n, cap - n, "%s %llu %s\n", w1, (x >> 20) % 100000, w2);
    }
    ck_assert_int_eq(tu_write_file(path, s, n), 0);
    *len = n;
    return s;
}

static unsigned long long served_total(const struct tu_stats *st)
{
    unsigned long long s = 0;
    for (int i = 0; i < st->nrows; i++)
        s += st->row[i].served;
    return s;
}

/* Run a program with and without the shim (stats on): same stdout, same
 * status; the shim's stderr is its report only. Returns the report in st. */
static void same_with_and_without(const char *const *vars, const char *const *argv,
                                  const char *stdin_path, struct tu_stats *st,
                                  struct tu_proc *with)
{
    const char *v[16];
    int n = 0;
    for (; vars[n] && n < 14; n++)
        v[n] = vars[n];
    v[n++] = "POOLSHIM_STATS=1";
    v[n] = NULL;
    struct tu_opts o = {.stdin_path = stdin_path, .timeout_s = 50};
    struct tu_proc without;
    run_with(with, true, v, argv, &o);
    run_with(&without, false, vars, argv, &o);
    ck_exit(&without, 0);
    ck_exit(with, 0);
    ck_assert_msg(with->out_len == without.out_len &&
                  memcmp(with->out, without.out, with->out_len) == 0,
                  "%s: stdout differs under the shim (%zu vs %zu bytes)", argv[0],
                  with->out_len, without.out_len);
    ck_assert_msg(tu_parse_stats(with->err, st) == 0, "%s: no stats: %s", argv[0],
                  with->err);
    ck_assert_msg(strncmp(with->err, "poolshim: stats for pid ", 24) == 0,
                  "%s: unexpected stderr: %s", argv[0], with->err);
    tu_proc_free(&without);
}

START_TEST(program_sort)
{
    const char *sort = system_program("sort"), *tmp_root = make_tmp();
    const char *path = path_in(tmp_root, "lines.txt");
    size_t len;
    free(lines_file(path, &len));

    struct tu_stats st;
    struct tu_proc with;
    same_with_and_without(LIST("LC_ALL=C"), LIST(sort, "--parallel=2", "-S", "1M", "-T", tmp_root,
                                                 path), NULL, &st, &with);
    ck_assert_uint_eq(with.out_len, len);
    ck_assert_msg(served_total(&st) > 0, "the pools served nothing");
    tu_proc_free(&with);
    same_with_and_without(LIST("LC_ALL=C"), LIST(sort, "-k2,2n", "-k1,1r", path), NULL, &st,
                          &with);
    tu_proc_free(&with);
}
END_TEST

START_TEST(program_gzip_round_trip)
{
    const char *gzip = system_program("gzip"), *tmp_root = make_tmp();
    const char *path = path_in(tmp_root, "lines.txt"), *zpath = path_in(tmp_root, "lines.gz");
    size_t len;
    char *text = lines_file(path, &len);

    struct tu_stats st;
    struct tu_proc z, back;
    same_with_and_without(NOVARS, LIST(gzip, "-c", "-n", "-6"), path, &st, &z);
    ck_assert_uint_lt(z.out_len, len);
    ck_assert_int_eq(tu_write_file(zpath, z.out, z.out_len), 0);
    same_with_and_without(NOVARS, LIST(gzip, "-d", "-c"), zpath, &st, &back);
    ck_assert_msg(back.out_len == len && memcmp(back.out, text, len) == 0,
                  "round trip under the shim changed the data");
    tu_proc_free(&z);
    tu_proc_free(&back);
    free(text);
}
END_TEST

static const char py_script[] =
    "import hashlib, json, threading, collections\n"
    "h = hashlib.sha256()\n"
    "d = {}\n"
    "for i in range(60000):\n"
    "    d[str(i)] = [i, str(i * 7), (i, i + 1), {'k': i % 13}]\n"
    "    if i % 3 == 0:\n"
    "        d.pop(str(i // 2), None)\n"
    "words = sorted((k * (int(k) % 5 + 1) for k in d), key=lambda s: (len(s), s))\n"
    "h.update(''.join(words[::97]).encode())\n"
    "c = collections.Counter(w[-1] for w in words)\n"
    "h.update(json.dumps(sorted(c.items())).encode())\n"
    "out = [None] * 4\n"
    "def work(n):\n"
    "    s = []\n"
    "    for j in range(20000):\n"
    "        s.append(('x' * (j % 50)) + str(j * n))\n"
    "        if len(s) > 500:\n"
    "            del s[:250]\n"
    "    out[n] = hashlib.md5(''.join(s).encode()).hexdigest()\n"
    "ts = [threading.Thread(target=work, args=(n,)) for n in range(4)]\n"
    "[t.start() for t in ts]\n"
    "[t.join() for t in ts]\n"
    "h.update(''.join(out).encode())\n"
    "print(len(d), len(words), h.hexdigest())\n";

START_TEST(program_python3)
{
    const char *py = tu_first_executable(LIST("/usr/bin/python3", "/usr/local/bin/python3",
                                              "/bin/python3"));
    if (py == NULL)
        ck_skip("program_python3", "python3 not installed (scripts/install-deps programs)");
    struct tu_stats st;
    struct tu_proc with;
    const char *vars[] = {"PYTHONMALLOC=malloc", "PYTHONHASHSEED=0",
                          "PYTHONDONTWRITEBYTECODE=1", "LC_ALL=C", NULL};
    same_with_and_without(vars, LIST(py, "-c", py_script), NULL, &st, &with);
    ck_assert_int_eq(tu_count_lines(with.out), 1);
    ck_assert_msg(served_total(&st) > 10000, "the pools served %llu", served_total(&st));
    tu_proc_free(&with);
}
END_TEST

/* ------------------------------------------------------------------------ */

static void shim_cases(Suite *s)
{
    TCase *tc = add_tcase(s, "routing", 30, TC_PLAIN, glibc_baseline_sizes,
                          configured_sizes_are_pooled, default_classes_serve_small_sizes,
                          calloc_zeroes_recycled_objects, size_overflow_is_enomem,
                          realloc_keeps_contents, realloc_zero_gives_object_back,
                          malloc_zero_unique);
    tcase_add_loop_test(tc, alignment_honoured, 0, N(align_configs));
    add_tests(tc, aligned_requests_pooled_when_class_aligned,
              strict_never_refuses_what_its_class_cannot_align, every_free_returns_the_object,
              libc_aliases_agree, exports_only_the_malloc_family);

    tc = add_tcase(s, "exhaustion", 30, TC_PLAIN);
    tcase_add_loop_test(tc, exhaustion_at_exact_count, 0, 4);

    tc = add_tcase(s, "stats", 60, TC_PLAIN);
    tcase_add_loop_test(tc, stats_table_exact, 0, 4);
    add_tests(tc, stats_after_threads_show_nothing_in_use);
    tcase_add_loop_test(tc, valid_config_is_silent, 0, N(valid_configs));
    add_tests(tc, verbose_prints_config_on_stderr, prefault_means_no_page_faults);

    tc = add_tcase(s, "config", 30, TC_PLAIN);
    tcase_add_loop_test(tc, malformed_config_one_line_and_unharmed, 0, N(bad_configs));

    tc = add_tcase(s, "misuse", 30, TC_PLAIN);
    tcase_add_loop_test(tc, misuse_aborts, 0, N(aborting_misuses));

    tc = add_tcase(s, "must_hold", 60, TC_PLAIN);
    tcase_add_loop_test(tc, multithreaded_mixed_sizes, 0, N(mt_configs));
    tcase_add_loop_test(tc, cross_thread_frees, 0, 2);
    tcase_add_loop_test(tc, thread_exit_loses_nothing, 0, 2);
    tcase_add_loop_test(tc, fork_while_threads_allocate, 0, N(fork_configs));
    add_tests(tc, real_allocator_ready_before_main, exec_children);
    tcase_add_loop_test(tc, dlopened_libraries, 0, 2);
    add_tests(tc, cxx_new_delete);

    add_tcase(s, "programs", 120, TC_SCRATCH, program_sort, program_gzip_round_trip,
              program_python3);
}

TU_SUITE("shim", shim_cases, TU_SHIM);
