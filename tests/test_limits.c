/* test_limits.c - what the process may still use (shim/limits.c), and the
 * shim's start-up weighing its pools against it (shim/init.c).
 *
 * "fixtures": limits.c reads fixture trees (the files of /proc and
 * /sys/fs/cgroup under a scratch root): cgroup v2 and v1, "max" and v1's "no
 * limit", nested cgroups (the tightest level wins), the inactive page cache
 * not counted as used, a container's host path that does not exist, missing
 * and malformed files, MemAvailable, RLIMIT_AS and RLIMIT_DATA against VmSize
 * and VmData.
 * "start-up": helpers run under the shim inside a real memory cgroup (made
 * here under this process's own; skipped where that is not allowed) and
 * inside rlimits (tests/helpers/in_limits): pools over the limit get one line
 * naming the figures and the program runs on the system allocator, instead
 * of an OOM kill; pools within it start.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim/limits.h"
#include "tests/checkutil.h"

#define MiB (UINT64_C(1) << 20)

struct file {
    const char *path, *text;
};

#define FILES(...) ((const struct file[]){__VA_ARGS__, {NULL, NULL}})

/* A scratch root holding files (paths under it, directories made as
 * needed); free() the result after tu_rm_rf(). */
static char *make_root(const struct file *files)
{
    const char *dir = tu_tmpdir();
    ck_assert_ptr_nonnull(dir);
    char *root = strdup(dir);
    ck_assert_ptr_nonnull(root);
    for (; files->path != NULL; files++) {
        char path[1024];
        snprintf(path, sizeof path, "%s%s", root, files->path);
        for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')) != NULL; s++) {
            *s = '\0';
            ck_assert_msg(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s", path);
            *s = '/';
        }
        ck_assert_int_eq(tu_write_file(path, files->text, strlen(files->text)), 0);
    }
    return root;
}

static const char meminfo_big[] =
    "MemTotal:       32000000 kB\nMemFree:         1000000 kB\n"
    "MemAvailable:   24000000 kB\nBuffers:          100 kB\n";

#define V1 "/sys/fs/cgroup/memory"
#define V2 "/sys/fs/cgroup"
#define V1_NONE "9223372036854771712\n"

static const struct {
    const char *what;
    const struct file *files;
    enum limit_kind kind;
    uint64_t max, used;
    const char *file;
} memory_cases[] = {
    {"v2: max less current less inactive file cache",
     FILES({"/proc/self/cgroup", "0::/user.slice/app.scope\n"},
           {V2 "/user.slice/app.scope/memory.max", "268435456\n"},
           {V2 "/user.slice/app.scope/memory.current", "10485760\n"},
           {V2 "/user.slice/app.scope/memory.stat",
            "anon 4096\nfile 8192\nactive_file 1\ninactive_file 1048576\nslab 3\n"},
           {V2 "/user.slice/memory.max", "max\n"},
           {V2 "/user.slice/memory.current", "999999999\n"},
           {"/proc/meminfo", meminfo_big}),
     LIMIT_CGROUP2, 256 * MiB, 9 * MiB, V2 "/user.slice/app.scope/memory.max"},
    {"v2: a parent tighter than its child",
     FILES({"/proc/self/cgroup", "0::/a/b\n"},
           {V2 "/a/b/memory.max", "268435456\n"}, {V2 "/a/b/memory.current", "0\n"},
           {V2 "/a/memory.max", "104857600\n"}, {V2 "/a/memory.current", "52428800\n"},
           {"/proc/meminfo", meminfo_big}),
     LIMIT_CGROUP2, 100 * MiB, 50 * MiB, V2 "/a/memory.max"},
    {"v2: max everywhere, MemAvailable",
     FILES({"/proc/self/cgroup", "0::/a\n"}, {V2 "/a/memory.max", "max\n"},
           {V2 "/a/memory.current", "5\n"}, {"/proc/meminfo", meminfo_big}),
     LIMIT_MEMINFO, 24000000 * UINT64_C(1024), 0, "/proc/meminfo"},
    {"v2 in a hybrid tree (/sys/fs/cgroup/unified)",
     FILES({"/proc/self/cgroup", "1:name=systemd:/x\n0::/x\n"},
           {V2 "/unified/x/memory.max", "67108864\n"},
           {V2 "/unified/x/memory.current", "1048576\n"}),
     LIMIT_CGROUP2, 64 * MiB, 1 * MiB, V2 "/unified/x/memory.max"},
    {"v1: limit less usage less total_inactive_file; ancestors without limit",
     FILES({"/proc/self/cgroup", "5:cpuset:/\n4:memory:/process_api/abc\n0::/\n"},
           {V1 "/process_api/abc/memory.limit_in_bytes", "268435456\n"},
           {V1 "/process_api/abc/memory.usage_in_bytes", "20971520\n"},
           {V1 "/process_api/abc/memory.stat",
            "cache 1\ninactive_file 7\ntotal_cache 2\ntotal_inactive_file 4194304\n"},
           {V1 "/process_api/memory.limit_in_bytes", V1_NONE},
           {V1 "/process_api/memory.usage_in_bytes", "1\n"},
           {V1 "/memory.limit_in_bytes", V1_NONE},
           {V1 "/memory.usage_in_bytes", "5000000000\n"},
           {"/proc/meminfo", meminfo_big}),
     LIMIT_CGROUP1, 256 * MiB, 16 * MiB, V1 "/process_api/abc/memory.limit_in_bytes"},
    {"v1: memory in a list of controllers",
     FILES({"/proc/self/cgroup", "3:cpu,memory,pids:/job\n"},
           {V1 "/job/memory.limit_in_bytes", "33554432\n"},
           {V1 "/job/memory.usage_in_bytes", "0\n"}),
     LIMIT_CGROUP1, 32 * MiB, 0, V1 "/job/memory.limit_in_bytes"},
    {"v1 in a container: the host path is not there, the mount's root is",
     FILES({"/proc/self/cgroup", "4:memory:/docker/0123abcd\n"},
           {V1 "/memory.limit_in_bytes", "536870912\n"},
           {V1 "/memory.usage_in_bytes", "104857600\n"},
           {"/proc/meminfo", meminfo_big}),
     LIMIT_CGROUP1, 512 * MiB, 100 * MiB, V1 "/memory.limit_in_bytes"},
    {"usage above the limit: nothing left",
     FILES({"/proc/self/cgroup", "0::/a\n"}, {V2 "/a/memory.max", "1048576\n"},
           {V2 "/a/memory.current", "2097152\n"}),
     LIMIT_CGROUP2, 1 * MiB, 2 * MiB, V2 "/a/memory.max"},
    {"MemAvailable below the cgroup's room",
     FILES({"/proc/self/cgroup", "0::/a\n"}, {V2 "/a/memory.max", "1073741824\n"},
           {V2 "/a/memory.current", "0\n"},
           {"/proc/meminfo", "MemTotal: 4 kB\nMemAvailable:     102400 kB\n"}),
     LIMIT_MEMINFO, 100 * MiB, 0, "/proc/meminfo"},
    {"malformed and unreadable figures are skipped",
     FILES({"/proc/self/cgroup", "0::/a/b\n"}, {V2 "/a/b/memory.max", "12x\n"},
           {V2 "/a/b/memory.current", "0\n"}, {V2 "/a/memory.max", "4096\n"},
           {"/proc/meminfo", "MemAvailable: lots kB\n"}),
     LIMIT_UNKNOWN, 0, 0, ""},
    {"a path that climbs out is not followed",
     FILES({"/proc/self/cgroup", "0::/../../etc\n"}, {V2 "/memory.max", "1\n"},
           {V2 "/memory.current", "0\n"}),
     LIMIT_UNKNOWN, 0, 0, ""},
    {"no files at all", FILES({"/unrelated", "x"}), LIMIT_UNKNOWN, 0, 0, ""},
};

START_TEST(memory_limit)
{
    char *root = make_root(memory_cases[_i].files);
    struct limit l;
    memset(&l, 0x55, sizeof l);
    limits_memory(root, &l);
    const char *what = memory_cases[_i].what;
    ck_assert_msg(l.kind == memory_cases[_i].kind, "%s: kind %d, want %d (%s)", what, l.kind,
                  memory_cases[_i].kind, l.file);
    if (l.kind == LIMIT_UNKNOWN) {
        ck_assert_msg(l.left == LIMIT_NONE, "%s: left %llu", what, (unsigned long long)l.left);
    } else {
        uint64_t max = memory_cases[_i].max, used = memory_cases[_i].used;
        ck_assert_msg(l.max == max && l.used == used && l.left == (max > used ? max - used : 0),
                      "%s: max %llu used %llu left %llu", what, (unsigned long long)l.max,
                      (unsigned long long)l.used, (unsigned long long)l.left);
        ck_assert_str_eq(l.file, memory_cases[_i].file);
    }
    tu_rm_rf(root);
    free(root);
}
END_TEST

static const char status[] = "Name:\tx\nVmPeak:\t  300000 kB\nVmSize:\t  102400 kB\n"
                             "VmLck:\t       0 kB\nVmData:\t   20480 kB\nVmStk:\t     132 kB\n";

/* _i 0: /proc/self/status there; 1: missing (the limit alone counts) */
START_TEST(rlimits_less_use)
{
    char *root = make_root(_i == 0 ? FILES({"/proc/self/status", status})
                                   : FILES({"/unrelated", "x"}));
    struct rlimit as = {1024 * MiB, RLIM_INFINITY}, data = {RLIM_INFINITY, RLIM_INFINITY};
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &as), 0); /* this forked case only */
    ck_assert_int_eq(setrlimit(RLIMIT_DATA, &data), 0);
    struct limit a, d;
    limits_rlimits(root, &a, &d);
    ck_assert_int_eq(a.kind, LIMIT_AS);
    ck_assert_uint_eq(a.max, 1024 * MiB);
    ck_assert_uint_eq(a.used, _i == 0 ? 100 * MiB : 0);
    ck_assert_uint_eq(a.left, a.max - a.used);
    ck_assert_int_eq(d.kind, LIMIT_UNKNOWN);
    ck_assert_uint_eq(d.left, LIMIT_NONE);

    data.rlim_cur = 16 * MiB;
    ck_assert_int_eq(setrlimit(RLIMIT_DATA, &data), 0);
    limits_rlimits(root, &a, &d);
    ck_assert_int_eq(d.kind, LIMIT_DATA);
    ck_assert_uint_eq(d.max, 16 * MiB);
    ck_assert_uint_eq(d.used, _i == 0 ? 20 * MiB : 0);
    ck_assert_uint_eq(d.left, _i == 0 ? 0 : 16 * MiB);
    tu_rm_rf(root);
    free(root);
}
END_TEST

/* The real files of this machine: whatever they say, a consistent answer. */
START_TEST(this_machine)
{
    struct limit m, a, d;
    limits_memory("", &m);
    limits_rlimits("", &a, &d);
    ck_assert_msg(m.kind != LIMIT_UNKNOWN, "no MemAvailable in /proc/meminfo?");
    ck_assert_uint_eq(m.left, m.max > m.used ? m.max - m.used : 0);
    ck_assert_uint_gt(m.left, 0);
    ck_assert_str_ne(limits_name(m.kind), "no limit");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* start-up inside real limits                                               */

#define OFF_SUFFIX "; poolshim is off, the program runs on the system allocator\n"

static bool write_str(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

/* This process's cgroup path in a hierarchy (v1: the memory controller's). */
static bool own_cgroup(bool v1, char *out, size_t cap)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[1024];
    bool found = false;
    while (f != NULL && !found && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL)
            continue;
        *c2 = '\0';
        found = v1 ? strstr(c1 + 1, "memory") != NULL : strcmp(line, "0:") == 0 && c1[1] == '\0';
        if (found)
            snprintf(out, cap, "%s", strcmp(c2 + 1, "/") == 0 ? "" : c2 + 1);
    }
    if (f != NULL)
        fclose(f);
    return found;
}

/* A new memory cgroup of `limit` bytes, no swap, under this process's own:
 * v1 where the memory controller is there, else v2. Its directory in dir;
 * false (why says why) where this machine does not allow it. */
static bool make_cgroup(const char *limit, char *dir, size_t cap, char *why, size_t why_cap)
{
    static int serial;
    char own[1024], path[1600];
    if (own_cgroup(true, own, sizeof own) && access("/sys/fs/cgroup/memory", W_OK) == 0) {
        snprintf(dir, cap, "/sys/fs/cgroup/memory%s/poolshim-test-%d-%d", own, (int)getpid(),
                 serial++);
        snprintf(path, sizeof path, "%s/memory.limit_in_bytes", dir);
        if (mkdir(dir, 0755) == 0 && write_str(path, limit)) {
            snprintf(path, sizeof path, "%s/memory.memsw.limit_in_bytes", dir);
            write_str(path, limit); /* no swap either, where swap is accounted */
            return true;
        }
        snprintf(why, why_cap, "cannot make a v1 memory cgroup %s: %s", dir, strerror(errno));
        rmdir(dir);
        return false;
    }
    if (own_cgroup(false, own, sizeof own) && access("/sys/fs/cgroup/cgroup.controllers", R_OK) == 0) {
        /* under its own cgroup, else beside it: v2 lets a cgroup that holds
         * processes give its children no controller */
        for (int up = 0; up < 2; up++) {
            snprintf(path, sizeof path, "/sys/fs/cgroup%s/cgroup.subtree_control", own);
            snprintf(dir, cap, "/sys/fs/cgroup%s/poolshim-test-%d-%d", own, (int)getpid(),
                     serial++);
            if (write_str(path, "+memory") && mkdir(dir, 0755) == 0) {
                snprintf(path, sizeof path, "%s/memory.max", dir);
                if (write_str(path, limit)) {
                    snprintf(path, sizeof path, "%s/memory.swap.max", dir);
                    write_str(path, "0");
                    return true;
                }
                rmdir(dir);
            }
            snprintf(why, why_cap, "cannot make a v2 memory cgroup %s: %s", dir, strerror(errno));
            char *slash = strrchr(own, '/');
            if (slash == NULL)
                break;
            *slash = '\0';
        }
        return false;
    }
    snprintf(why, why_cap, "no memory cgroup hierarchy here");
    return false;
}

/* rmdir once its processes are gone (they leave it as they are reaped). */
static void drop_cgroup(const char *dir)
{
    for (int i = 0; i < 100 && rmdir(dir) != 0 && errno == EBUSY; i++)
        usleep(10000);
}

/* One line naming the figures, then the program as without the shim. */
static void ck_refused(const struct tu_proc *p, const char *classes, const char *verb,
                       const char *limit)
{
    ck_exit(p, 0);
    char head[256];
    snprintf(head, sizeof head, "poolshim: POOLSHIM_CLASSES=\"%s\": %s ", classes, verb);
    ck_assert_msg(tu_count_lines(p->err) == 1 && strncmp(p->err, head, strlen(head)) == 0 &&
                      strstr(p->err, limit) != NULL &&
                      strcmp(p->err + p->err_len - strlen(OFF_SUFFIX), OFF_SUFFIX) == 0,
                  "stderr: %s\nwant one line: %s... bytes ..., but %s ...%s", p->err, head,
                  limit, OFF_SUFFIX);
    ck_kv(p, "pooled64", "0");
    ck_kv(p, "uncovered", "5");
}

/* Started: the table at exit shows the class. */
static void ck_started(const struct tu_proc *p, unsigned long long capacity)
{
    struct tu_stats st;
    ck_exit(p, 0);
    ck_assert_msg(tu_parse_stats(p->err, &st) == 0 && st.nrows >= 1 &&
                      st.row[0].capacity == capacity,
                  "want the pools on, %llu objects: %s", capacity, p->err);
}

/* The cases in a 256 MiB cgroup: the two first used to end in an
 * OOM kill at start-up (SIGKILL, no message). */
static const struct {
    const char *classes, *vars[3];
    bool fits;
    unsigned long long capacity;
} in_cgroup[] = {
    {"64:8192k,4k:64k", {NULL}, false, 0},                       /* 768 MiB pre-faulted */
    {"64:8192k", {"POOLSHIM_PREFAULT=0", "POOLSHIM_CHECK=1"}, false, 0}, /* 512 MiB filled */
    {"16:262144k", {"POOLSHIM_PREFAULT=0"}, true, 268435456},    /* metadata: lazily */
    {"64:1024k", {NULL}, true, 1048576},                         /* 64 MiB pre-faulted */
};

START_TEST(pools_weighed_in_memory_cgroup)
{
    char dir[1300], why[1600];
    if (!make_cgroup("268435456", dir, sizeof dir, why, sizeof why))
        ck_skip("pools_weighed_in_memory_cgroup", "%s", why);
    char classes[64];
    snprintf(classes, sizeof classes, "POOLSHIM_CLASSES=%s", in_cgroup[_i].classes);
    const char *vars[] = {classes, "POOLSHIM_STATS=1", in_cgroup[_i].vars[0],
                          in_cgroup[_i].vars[0] ? in_cgroup[_i].vars[1] : NULL, NULL};
    struct tu_proc p;
    struct tu_opts o = {.timeout_s = 30};
    run_with(&p, false, vars,
             LIST("in_limits", "--cgroup", dir, "--preload", tu_shim_lib(), "--",
                  tu_helper("stats_mix"), "mix"),
             &o);
    drop_cgroup(dir);
    if (in_cgroup[_i].fits)
        ck_started(&p, in_cgroup[_i].capacity);
    else
        ck_refused(&p, in_cgroup[_i].classes, "start-up would touch",
                   strstr(dir, "/memory/") ? ", but cgroup v1 memory.limit_in_bytes leaves "
                                           : ", but cgroup v2 memory.max leaves ");
    tu_proc_free(&p);
}
END_TEST

/* RLIMIT_AS against the reservation, RLIMIT_DATA against the writable
 * mappings (these used to fail inside the mapping, with a message that named
 * no limit); and pools within both. */
static const struct {
    const char *classes, *prefault, *option, *bytes, *verb, *limit;
} in_rlimit[] = {
    {"64:8192k,4k:64k", "POOLSHIM_PREFAULT=1", "--as", "536870912", "the pools would reserve",
     " bytes of address space, but RLIMIT_AS leaves "},
    {"64:8192k", "POOLSHIM_PREFAULT=0", "--data", "268435456", "the pools would map",
     " bytes of writable memory, but RLIMIT_DATA leaves "},
    {"64:1024", "POOLSHIM_PREFAULT=1", "--as", "1073741824", NULL, NULL},
    {"64:1024", "POOLSHIM_PREFAULT=1", "--data", "268435456", NULL, NULL},
};

START_TEST(pools_weighed_in_rlimits)
{
    char classes[64];
    snprintf(classes, sizeof classes, "POOLSHIM_CLASSES=%s", in_rlimit[_i].classes);
    struct tu_proc p;
    run_with(&p, false, LIST(classes, in_rlimit[_i].prefault, "POOLSHIM_STATS=1"),
             LIST("in_limits", in_rlimit[_i].option, in_rlimit[_i].bytes, "--preload",
                  tu_shim_lib(), "--", tu_helper("stats_mix"), "mix"),
             NULL);
    if (in_rlimit[_i].verb == NULL)
        ck_started(&p, 1024);
    else
        ck_refused(&p, in_rlimit[_i].classes, in_rlimit[_i].verb, in_rlimit[_i].limit);
    tu_proc_free(&p);
}
END_TEST

static void limits_cases(Suite *s)
{
    TCase *tc = add_tcase(s, "fixtures", 0, TC_PLAIN);
    tcase_add_loop_test(tc, memory_limit, 0, N(memory_cases));
    tcase_add_loop_test(tc, rlimits_less_use, 0, 2);
    add_tests(tc, this_machine);

    tc = add_tcase(s, "start-up", 40, TC_PLAIN);
    tcase_add_loop_test(tc, pools_weighed_in_memory_cgroup, 0, N(in_cgroup));
    tcase_add_loop_test(tc, pools_weighed_in_rlimits, 0, N(in_rlimit));
}

TU_SUITE("limits", limits_cases, TU_SHIM);
