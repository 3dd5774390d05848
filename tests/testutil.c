/* testutil.c - the bodies of testutil.h (compiled once, linked into every
 * suite). */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/testutil.h"

/* ------------------------------------------------------------------------ */
/* environments                                                              */

void tu_env_free(struct tu_env *e)
{
    for (int i = 0; i < e->n; i++)
        free(e->var[i]);
    e->n = 0;
    e->var[0] = NULL;
}

int tu_env_set(struct tu_env *e, const char *name, const char *value)
{
    size_t len = strlen(name);
    for (int i = 0; i < e->n; i++) {
        if (strncmp(e->var[i], name, len) == 0 && e->var[i][len] == '=') {
            free(e->var[i]);
            e->var[i] = e->var[--e->n];
            e->var[e->n] = NULL;
            break;
        }
    }
    if (value == NULL)
        return 0;
    if (e->n == TU_ENV_MAX)
        return -1;
    char *s = malloc(len + strlen(value) + 2);
    if (s == NULL)
        return -1;
    sprintf(s, "%s=%s", name, value);
    e->var[e->n++] = s;
    e->var[e->n] = NULL;
    return 0;
}

const char *tu_env_get(const struct tu_env *e, const char *name)
{
    size_t len = strlen(name);
    for (int i = 0; i < e->n; i++)
        if (strncmp(e->var[i], name, len) == 0 && e->var[i][len] == '=')
            return e->var[i] + len + 1;
    return NULL;
}

int tu_env_put(struct tu_env *e, const char *assignment)
{
    const char *eq = strchr(assignment, '=');
    if (eq == NULL || eq == assignment)
        return -1;
    char name[256];
    size_t len = (size_t)(eq - assignment);
    if (len >= sizeof name)
        return -1;
    memcpy(name, assignment, len);
    name[len] = '\0';
    return tu_env_set(e, name, eq + 1);
}

void tu_env_init(struct tu_env *e)
{
    e->n = 0;
    e->var[0] = NULL;
    tu_env_set(e, "PATH", "/usr/bin:/bin");
}

int tu_env_preload(struct tu_env *e, const char *lib)
{
    return tu_env_set(e, "LD_PRELOAD", lib);
}

/* ------------------------------------------------------------------------ */
/* plumbing from the runner                                                 */

const char *tu_shim_lib(void)
{
    const char *s = getenv("TEST_SHIM_LIB");
    return s && *s ? s : "build/libpoolshim.so";
}

const char *tu_helpers_dir(void)
{
    const char *s = getenv("TEST_HELPERS");
    return s && *s ? s : "build/helpers";
}

const char *tu_helper(const char *name)
{
    static char buf[8][4096];
    static unsigned next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", tu_helpers_dir(), name);
    return b;
}

const char *tu_first_executable(const char *const *candidates)
{
    for (; *candidates; candidates++)
        if (access(*candidates, X_OK) == 0)
            return *candidates;
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* running                                                                  */

void tu_proc_free(struct tu_proc *p)
{
    free(p->out);
    free(p->err);
    p->out = p->err = NULL;
}

struct tu_buf_ {
    char *s;
    size_t len, cap;
};

static int tu_buf_read_(struct tu_buf_ *b, int fd)
{
    if (b->cap - b->len < 65536 + 1) {
        size_t cap = b->cap ? b->cap * 2 : 131072;
        char *s = realloc(b->s, cap);
        if (s == NULL)
            return -1;
        b->s = s;
        b->cap = cap;
    }
    ssize_t n = read(fd, b->s + b->len, b->cap - b->len - 1);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : -1;
    b->len += (size_t)n;
    b->s[b->len] = '\0';
    return n == 0 ? 0 : 1;
}

static double tu_now_(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Open two pipes (close-on-exec), flush stdio, fork. Returns the child's pid
 * (0 in the child), or -1 with errno and no descriptor left open. */
static pid_t tu_fork_piped_(int a[2], int b[2])
{
    if (pipe2(a, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(b, O_CLOEXEC) != 0) {
        int e = errno;
        close(a[0]); close(a[1]);
        errno = e;
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(a[0]); close(a[1]); close(b[0]); close(b[1]);
        errno = e;
    }
    return pid;
}

int tu_run(struct tu_proc *p, const char *const argv[],
           const struct tu_env *env, const struct tu_opts *o)
{
    static const struct tu_opts none;
    if (o == NULL)
        o = &none;
    memset(p, 0, sizeof *p);
    p->exit_code = -1;

    int out[2], err[2];
    pid_t pid = tu_fork_piped_(out, err);
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setpgid(0, 0);
        int in = open(o->stdin_path ? o->stdin_path : "/dev/null", O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0 || dup2(out[1], 1) < 0 ||
            dup2(err[1], 2) < 0)
            _exit(126);
        if (o->cwd && chdir(o->cwd) != 0)
            _exit(126);
        if (o->rlimit_as) {
            struct rlimit rl = {o->rlimit_as, o->rlimit_as};
            setrlimit(RLIMIT_AS, &rl);
        }
        signal(SIGPIPE, SIG_DFL);
        execve(argv[0], (char *const *)argv, env ? env->var : (char *[]){NULL});
        dprintf(2, "tu_run: cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* either this or the child's own call wins the race */
    close(out[1]);
    close(err[1]);

    struct tu_buf_ bo = {0}, be = {0};
    double deadline = tu_now_() + (o->timeout_s ? o->timeout_s : 20);
    struct pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        double left = deadline - tu_now_();
        if (left <= 0) {
            p->timed_out = true;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            break;
        }
        int r = poll(fds, 2, (int)(left * 1000) + 1);
        if (r < 0 && errno != EINTR)
            break;
        for (int i = 0; r > 0 && i < 2; i++) {
            if (fds[i].fd < 0 || fds[i].revents == 0)
                continue;
            if (tu_buf_read_(i == 0 ? &bo : &be, fds[i].fd) <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    while (waitpid(pid, &p->status, 0) < 0 && errno == EINTR)
        ;
    /* no grandchild may outlive the case */
    kill(-pid, SIGKILL);

    if (WIFEXITED(p->status))
        p->exit_code = WEXITSTATUS(p->status);
    else if (WIFSIGNALED(p->status))
        p->sig = WTERMSIG(p->status);
    p->out = bo.s ? bo.s : calloc(1, 1);
    p->err = be.s ? be.s : calloc(1, 1);
    p->out_len = bo.len;
    p->err_len = be.len;
    return 0;
}

const char *tu_describe(const struct tu_proc *p)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "exit %d signal %d%s; stdout: %.300s; stderr: %.400s",
             p->exit_code, p->sig, p->timed_out ? " (timed out)" : "",
             p->out ? p->out : "", p->err ? p->err : "");
    return buf;
}

/* ------------------------------------------------------------------------ */
/* reading output                                                           */

int tu_count_lines(const char *text)
{
    int n = 0;
    for (const char *s = text; *s; s++)
        if (*s == '\n' || s[1] == '\0')
            n++;
    return n;
}

char *tu_line(const char *text, int i, char *buf, size_t len)
{
    const char *s = text;
    for (; i > 0 && *s; i--) {
        s = strchr(s, '\n');
        if (s == NULL)
            return NULL;
        s++;
    }
    if (*s == '\0')
        return NULL;
    size_t n = strcspn(s, "\n");
    if (n >= len)
        n = len - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

const char *tu_kv(const char *text, const char *key)
{
    static char buf[16][512];
    static unsigned next;
    size_t klen = strlen(key);
    const char *found = NULL;
    for (const char *s = text; s && *s; ) {
        if (strncmp(s, key, klen) == 0 && s[klen] == '=')
            found = s + klen + 1;
        s = strchr(s, '\n');
        if (s)
            s++;
    }
    if (found == NULL)
        return NULL;
    char *b = buf[next++ % 16];
    size_t n = strcspn(found, "\n");
    if (n >= sizeof buf[0])
        n = sizeof buf[0] - 1;
    memcpy(b, found, n);
    b[n] = '\0';
    return b;
}

long long tu_kv_num(const char *text, const char *key, long long otherwise)
{
    const char *v = tu_kv(text, key);
    if (v == NULL || *v == '\0')
        return otherwise;
    char *end;
    long long n = strtoll(v, &end, 0);
    return *end == '\0' ? n : otherwise;
}

bool tu_has_line(const char *text, const char *line)
{
    size_t len = strlen(line);
    for (const char *s = text; s && *s; ) {
        if (strncmp(s, line, len) == 0 && (s[len] == '\n' || s[len] == '\0'))
            return true;
        s = strchr(s, '\n');
        if (s)
            s++;
    }
    return false;
}

/* ------------------------------------------------------------------------ */
/* the shim's exit report (POOLSHIM_STATS=1)                                */

bool tu_time_ok(const char *t)
{
    int y, mo, d, h, mi, sec, used = 0;
    if (strlen(t) != 20 || sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec,
                                  &used) != 6 || used != 20)
        return false;
    /* days since 1970-01-01 (H. Hinnant's days_from_civil) */
    long long yy = y - (mo <= 2), era = yy / 400;
    long long yoe = yy - era * 400, mp = (mo + 9) % 12;
    long long doy = (153 * mp + 2) / 5 + d - 1, doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long long at = (era * 146097 + doe - 719468) * 86400 + h * 3600 + mi * 60 + sec;
    long long diff = at - (long long)time(NULL);
    return diff > -600 && diff < 600;
}

int tu_parse_stats(const char *err, struct tu_stats *st)
{
    memset(st, 0, sizeof *st);
    const char *s = strstr(err, "poolshim: stats for pid ");
    if (s == NULL)
        return -1;
    int title = 0;
    if (sscanf(s, "poolshim: stats for pid %ld (%63[^)]) at %31[^,\n]%n", &st->pid,
               st->program, st->time, &title) != 3)
        return -1;
    s += title;
    st->strict = strncmp(s, ", strict\n", 9) == 0;
    if (*s != '\n' && !st->strict)
        return -1;
    s = strchr(s, '\n') + 1;
    size_t n = strcspn(s, "\n");
    if (n >= sizeof st->header || strncmp(s, "poolshim:", 9) != 0)
        return -1;
    memcpy(st->header, s, n);
    st->header[n] = '\0';
    char w[6][16];
    char w7[16], w8[16];
    if (sscanf(st->header, "poolshim: %15s %15s %15s %15s %15s %15s %15s %15s",
               w[0], w[1], w[2], w[3], w[4], w[5], w7, w8) != 8 ||
        strcmp(w[0], "size") != 0 || strcmp(w[1], "capacity") != 0 ||
        strcmp(w[2], "in") != 0 || strcmp(w[3], "use") != 0 ||
        strcmp(w[4], "peak") != 0 || strcmp(w[5], "out") != 0 ||
        strcmp(w7, "served") != 0 || strcmp(w8, "misses") != 0)
        return -1;
    s += n;
    while (*s == '\n') {
        s++;
        struct tu_stats_row r;
        int used = 0;
        if (sscanf(s, "poolshim: %llu %llu %llu %llu %llu %llu%n", &r.size,
                   &r.capacity, &r.in_use, &r.peak_out, &r.served, &r.misses,
                   &used) == 6 && (s[used] == '\n' || s[used] == '\0')) {
            if (st->nrows == TU_STATS_ROWS)
                return -1;
            st->row[st->nrows++] = r;
            s += used;
            continue;
        }
        char unit[16] = "";
        if (sscanf(s, "poolshim: not covered by any class: %llu %15[a-z]", &st->uncovered,
                   unit) == 2 &&
            strcmp(unit, st->uncovered == 1 ? "request" : "requests") == 0)
            return 0;
        return -1;
    }
    return -1;
}

const struct tu_stats_row *tu_stats_class(const struct tu_stats *st, unsigned long long size)
{
    for (int i = 0; i < st->nrows; i++)
        if (st->row[i].size == size)
            return &st->row[i];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* files                                                                    */

int tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    return fclose(f) == 0 && w == len ? 0 : -1;
}

const char *tu_tmpdir(void)
{
    static char buf[4096];
    const char *t = getenv("TMPDIR");
    snprintf(buf, sizeof buf, "%s/poolshim-test-XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(buf);
}

void tu_rm_rf(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/rm", "rm", "-rf", "--", path, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* the test process itself                                                  */

size_t tu_page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

int tu_cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return (x > y) - (x < y);
}

uint64_t tu_xorshift64(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

ssize_t tu_read_proc(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    close(fd);
    buf[len] = 0;
    return (ssize_t)len;
}

long tu_vm_size_kb(void)
{
    static char buf[16384];
    if (tu_read_proc("/proc/self/status", buf, sizeof buf) < 0)
        return -1;
    const char *v = strstr(buf, "VmSize:");
    return v ? strtol(v + strlen("VmSize:"), NULL, 10) : -1;
}

bool tu_mentions_addr(const char *msg, const void *addr)
{
    for (const char *s = msg; (s = strstr(s, "0x")) != NULL; s += 2)
        if (strtoull(s, NULL, 16) == (unsigned long long)(uintptr_t)addr)
            return true;
    return false;
}

void tu_report_addr(int fd, const void *p)
{
    if (fd >= 0 && write(fd, &p, sizeof p) != (ssize_t)sizeof p)
        _exit(3);
}

int tu_fork_misuse(void (*fn)(int kind, int addr_fd), int kind, struct tu_death *d)
{
    int err[2], addr[2];
    pid_t pid = tu_fork_piped_(err, addr);
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(err[0]);
        close(addr[0]);
        dup2(err[1], STDERR_FILENO);
        close(err[1]);
        fn(kind, addr[1]);
        _exit(0);
    }
    close(err[1]);
    close(addr[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < sizeof d->msg &&
           (r = read(err[0], d->msg + len, sizeof d->msg - 1 - len)) > 0)
        len += (size_t)r;
    d->msg[len] = 0;
    d->addr = NULL;
    if (read(addr[0], &d->addr, sizeof d->addr) != (ssize_t)sizeof d->addr)
        d->addr = NULL;
    close(err[0]);
    close(addr[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    d->sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* the suite's program                                                       */

int main(int argc, char **argv)
{
    (void)argc;
    if ((tu_suite.flags & TU_SHIM) && access(tu_shim_lib(), R_OK) != 0) {
        const char *slash = strrchr(argv[0], '/');
        fprintf(stderr, "%s: %s: not found (set TEST_SHIM_LIB)\n",
                slash ? slash + 1 : argv[0], tu_shim_lib());
    }
    Suite *s = suite_create(tu_suite.name);
    tu_suite.cases(s);
    SRunner *sr = srunner_create(s);
    if (tu_suite.flags & TU_FORK)
        srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
