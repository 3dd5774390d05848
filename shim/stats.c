/* stats.c - the shim's figures: a table on stderr at exit (POOLSHIM_STATS),
 * a JSON file (POOLSHIM_STATS_FILE) at exit and on a signal
 * (POOLSHIM_STATS_SIGNAL). Built with write(2) from stack buffers: no stdio,
 * no malloc, so the signal handler may use it (it only try-locks).
 *
 * Table, one row per class:
 *   poolshim: stats for pid N (PROGRAM) at 2026-12-02T15:03:04Z[, strict]
 *   poolshim:     size   capacity     in use   peak out       served     misses
 * misses: requests that found their class empty (they went to the real
 * allocator, or were refused in strict mode); the JSON's word too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h> /* rename() only: no stdio streams here */
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pool/report.h"
#include "pool/version.h"
#include "shim/fd.h"
#include "shim/shim.h"
#include "shim/timefmt.h"

/* The program's name (argv[0]'s base name), as it is. */
static const char *program(void)
{
    const char *p = program_invocation_short_name;
    return p != NULL ? p : "";
}

/* s as a JSON string, quotes included. */
static void rb_json(struct rbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    rb_char(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            rb_char(b, '\\');
            rb_char(b, (char)c);
        } else if (c < 0x20 || c == 0x7f) {
            rb_str(b, "\\u00");
            rb_char(b, hex[c >> 4]);
            rb_char(b, hex[c & 15]);
        } else {
            rb_char(b, (char)c);
        }
    }
    rb_char(b, '"');
}

/* ---- where stderr was at start-up ----
 *
 * What the shim writes after start-up (tables, messages) goes to the file
 * that was stderr when it started, and never to a file the program opened
 * itself: a program may close every descriptor it did not open and get those
 * numbers back for its own files. A file is known by what fstat() and
 * fcntl() say of it: device, inode, type, device number for a device node,
 * access mode and O_APPEND; our copy also keeps its FD_CLOEXEC. */
struct file_id {
    dev_t dev;
    ino_t ino;
    dev_t rdev;
    mode_t type;
    int flags;   /* O_ACCMODE | O_APPEND bits */
};

static struct {
    bool known;          /* stderr was open at start-up: id holds it */
    struct file_id id;
    int copy;            /* our copy of it (>= SHIM_FD_FLOOR), or -1 */
} err_file = {.copy = -1};

static bool file_id_of(int fd, struct file_id *id)
{
    struct stat st;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fstat(fd, &st) != 0)
        return false;
    memset(id, 0, sizeof *id);
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    id->rdev = st.st_rdev;
    id->type = st.st_mode & S_IFMT;
    id->flags = flags & (O_ACCMODE | O_APPEND);
    return true;
}

static bool is_stderr_file(int fd)
{
    struct file_id id;
    return err_file.known && file_id_of(fd, &id) && id.dev == err_file.id.dev &&
           id.ino == err_file.id.ino && id.rdev == err_file.id.rdev &&
           id.type == err_file.id.type && id.flags == err_file.id.flags;
}

void stats_remember_stderr(bool keep_copy)
{
    err_file.known = file_id_of(2, &err_file.id);
    if (err_file.known && keep_copy)
        err_file.copy = fcntl(2, F_DUPFD_CLOEXEC, SHIM_FD_FLOOR);
}

int stats_stderr_fd(void)
{
    if (err_file.copy >= 0 && fcntl(err_file.copy, F_GETFD) == FD_CLOEXEC &&
        is_stderr_file(err_file.copy))
        return err_file.copy;
    return is_stderr_file(2) ? 2 : -1;
}

/* The pools' figures and the shim's own, at one moment. */
struct snapshot {
    unsigned n;
    struct pool_class_stats cls[POOL_CLASSES_MAX];
    struct shim_counters ctr; /* indexed by class + 1 */
};

static int take(struct snapshot *snap, bool trylock)
{
    struct pool_classes *set = __atomic_load_n(&shim.set, __ATOMIC_ACQUIRE);
    if (set == NULL)
        return -1;
    snap->n = pool_classes_count(set);
    sigset_t old; /* no handler may fork or exit while this holds a lock */
    shim_block_signals(&old);
    int rc = counters_sum(&snap->ctr, !trylock);
    if (rc == 0)
        rc = pool_classes_snapshot(set, snap->cls, !trylock);
    shim_restore_signals(&old);
    return rc;
}

static void print_table(const struct snapshot *snap, int fd)
{
    struct rbuf b = {0};
    rb_str(&b, "poolshim: stats for pid ");
    rb_u64(&b, (uint64_t)getpid());
    rb_str(&b, " (");
    rb_esc(&b, program(), strlen(program()), 64);
    rb_str(&b, ") at ");
    rb_utc_now(&b);
    rb_str(&b, shim.strict ? ", strict\npoolshim: " : "\npoolshim: ");
    rb_strw(&b, "size", 8);
    rb_strw(&b, "capacity", 11);
    rb_strw(&b, "in use", 11);
    rb_strw(&b, "peak out", 11);
    rb_strw(&b, "served", 13);
    rb_strw(&b, "misses", 11);
    rb_char(&b, '\n');
    rb_flush(&b, fd);
    for (unsigned i = 0; i < snap->n; i++) {
        const struct pool_class_stats *st = &snap->cls[i];
        rb_str(&b, "poolshim: ");
        rb_u64w(&b, st->size, 8);
        rb_u64w(&b, st->capacity, 11);
        rb_u64w(&b, st->in_use, 11);
        rb_u64w(&b, st->peak_out, 11);
        rb_u64w(&b, snap->ctr.served[i + 1], 13);
        rb_u64w(&b, snap->ctr.dry[i + 1], 11);
        rb_char(&b, '\n');
        if (b.len > sizeof b.buf - 100)
            rb_flush(&b, fd);
    }
    rb_str(&b, "poolshim: not covered by any class: ");
    rb_u64(&b, snap->ctr.uncovered);
    rb_str(&b, snap->ctr.uncovered == 1 ? " request\n" : " requests\n");
    rb_flush(&b, fd);
}

void stats_print_exit(void)
{
    struct snapshot snap;
    int fd = stats_stderr_fd();
    if (fd >= 0 && take(&snap, false) == 0)
        print_table(&snap, fd);
}

/* JSON schema (version 1; poolshim_version: the library's, VERSION):
 * {"version":1,"poolshim_version":"X.Y.Z","pid":N,"program":"NAME",
 *  "time":"2026-12-02T15:03:04Z","strict":bool,"uncovered":N,
 *  "classes":[{"size":N,"capacity":N,"in_use":N,"peak_out":N,
 *              "served":N,"misses":N,"exchanges":N},...]}
 * (exchanges: times a thread's cache traded a magazine with the depot) */
static int write_json(const struct snapshot *snap, int fd)
{
    struct rbuf b = {0};
    int err = 0;
    rb_str(&b, "{\"version\":1,\"poolshim_version\":\"" POOL_VERSION_STRING "\",\"pid\":");
    rb_u64(&b, (uint64_t)getpid());
    rb_str(&b, ",\"program\":");
    rb_json(&b, program());
    rb_str(&b, ",\"time\":\"");
    rb_utc_now(&b);
    rb_str(&b, "\",\"strict\":");
    rb_str(&b, shim.strict ? "true" : "false");
    rb_str(&b, ",\"uncovered\":");
    rb_u64(&b, snap->ctr.uncovered);
    rb_str(&b, ",\"classes\":[");
    for (unsigned i = 0; i < snap->n; i++) {
        const struct pool_class_stats *st = &snap->cls[i];
        rb_str(&b, i ? ",{\"size\":" : "{\"size\":");
        rb_u64(&b, st->size);
        rb_str(&b, ",\"capacity\":");
        rb_u64(&b, st->capacity);
        rb_str(&b, ",\"in_use\":");
        rb_u64(&b, st->in_use);
        rb_str(&b, ",\"peak_out\":");
        rb_u64(&b, st->peak_out);
        rb_str(&b, ",\"served\":");
        rb_u64(&b, snap->ctr.served[i + 1]);
        rb_str(&b, ",\"misses\":");
        rb_u64(&b, snap->ctr.dry[i + 1]);
        rb_str(&b, ",\"exchanges\":");
        rb_u64(&b, st->exchanges);
        rb_char(&b, '}');
        if (b.len > sizeof b.buf - 200 && err == 0)
            err = rb_flush(&b, fd);
    }
    rb_str(&b, "]}\n");
    if (err == 0)
        err = rb_flush(&b, fd);
    return err;
}

/* path with each "%p" replaced by the pid (so that every process of a run
 * writes its own file) and each "%%" by '%'; any other '%' stays as it is.
 * False when it does not fit. */
static bool expand_path(const char *path, char *out, size_t cap)
{
    size_t len = 0;
    char pid[24];
    struct rbuf b = {0};
    rb_u64(&b, (uint64_t)getpid());
    memcpy(pid, b.buf, b.len);
    size_t pid_len = b.len;
    for (const char *c = path; *c != '\0'; c++) {
        const char *piece = c;
        size_t n = 1;
        if (c[0] == '%' && c[1] == 'p') {
            piece = pid;
            n = pid_len;
            c++;
        } else if (c[0] == '%' && c[1] == '%') {
            c++; /* piece: the first '%' */
        }
        if (len + n >= cap)
            return false;
        memcpy(out + len, piece, n);
        len += n;
    }
    out[len] = '\0';
    return true;
}

/* Random bits for a temporary file's name: getrandom(2), never blocking;
 * where it fails, the clock and a counter (the name is then guessable, but
 * O_EXCL still keeps whatever sits there out). */
uint64_t stats_random(void)
{
    uint64_t v;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v)
        return v;
    static _Atomic uint64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u) ^ (uint64_t)ts.tv_sec ^
           (atomic_fetch_add(&counter, 1) << 40);
}

#define TEMP_TRIES 16

int stats_create_temp(const char *file, char *tmp, size_t cap, uint64_t (*random)(void))
{
    size_t len = strlen(file);
    for (int i = 0; i < TEMP_TRIES; i++) {
        struct rbuf b = {0};
        rb_char(&b, '.');
        rb_u64(&b, (uint64_t)getpid());
        rb_char(&b, '.');
        uint64_t r = random();
        for (int k = 0; k < 12; k++, r >>= 4)
            rb_char(&b, "0123456789abcdef"[r & 15]);
        rb_str(&b, ".tmp");
        if (len + b.len >= cap) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(tmp, file, len);
        memcpy(tmp + len, b.buf, b.len);
        tmp[len + b.len] = '\0';
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1; /* errno EEXIST */
}

/* Write to a new temporary file, then rename it over the file: readers never
 * see half a file, a failed write leaves the previous file as it was, and
 * nothing already at a name (a symlink planted there, the file itself) is
 * ever opened. Returns 0, or -1 with errno set. */
static int write_json_file(const char *path, bool trylock)
{
    struct snapshot snap;
    char file[PATH_MAX], tmp[PATH_MAX + 48];
    if (!expand_path(path, file, sizeof file)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (take(&snap, trylock) != 0)
        return -1;
    int fd = stats_create_temp(file, tmp, sizeof tmp, stats_random);
    if (fd < 0)
        return -1;
    int err = write_json(&snap, fd);
    if (close(fd) != 0 && err == 0)
        err = errno;
    if (err == 0 && rename(tmp, file) != 0)
        err = errno;
    if (err != 0) {
        unlink(tmp);
        errno = err;
        return -1;
    }
    return 0;
}

void stats_say_cannot_write(const char *var, const char *path, const char *what,
                            int err)
{
    int fd = stats_stderr_fd();
    if (fd < 0)
        return;
    struct rbuf b = {0};
    rb_str(&b, "poolshim: ");
    rb_str(&b, var);
    rb_char(&b, '=');
    rb_quoted(&b, path, strlen(path), 200);
    rb_str(&b, ": cannot write the ");
    rb_str(&b, what);
    rb_errnote(&b, err);
    rb_char(&b, '\n');
    rb_flush(&b, fd);
}

int stats_write_json(const char *path)
{
    int saved = errno, rc = write_json_file(path, false);
    if (rc != 0)
        stats_say_cannot_write("POOLSHIM_STATS_FILE", path, "stats file", errno);
    errno = saved;
    return rc;
}

/* ---- POOLSHIM_STATS_SIGNAL ----
 *
 * The snapshot, then what the signal would have done without the shim: the
 * handler that was in place when the shim installed its own runs; a signal
 * that was ignored stays ignored; one at its default action gets it (TERM
 * still terminates, TSTP still stops), except USR1, USR2 and the real-time
 * signals, which exist for programs to claim: the shim claims them (their
 * default would end the program the user only asked for figures). A program
 * that installs its own handler later replaces the shim's. */
static struct sigaction before;   /* what the signal did before the shim */
static struct sigaction ours;

static bool claimed_by_default(int sig)
{
    return sig == SIGUSR1 || sig == SIGUSR2 || (sig >= SIGRTMIN && sig <= SIGRTMAX);
}

/* The default action of sig, now, in this thread; back to ours if the
 * process is still there afterwards (a stop, an ignored default). */
static void default_action(int sig)
{
    struct sigaction dfl;
    sigset_t one;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    sigemptyset(&one);
    sigaddset(&one, sig);
    raise(sig); /* pending: sig is blocked while its handler runs */
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    sigaction(sig, &ours, NULL);
}

static void on_signal(int sig, siginfo_t *info, void *ctx)
{
    int saved = errno;
    if (shim.cfg.stats_file != NULL)
        write_json_file(shim.cfg.stats_file, true);
    else {
        struct snapshot snap;
        int fd = stats_stderr_fd();
        if (fd >= 0 && take(&snap, true) == 0)
            print_table(&snap, fd);
    }
    errno = saved;
    if (before.sa_handler == SIG_IGN)
        ;
    else if (before.sa_handler == SIG_DFL) {
        if (!claimed_by_default(sig))
            default_action(sig);
    } else if (before.sa_flags & SA_SIGINFO) {
        before.sa_sigaction(sig, info, ctx);
    } else {
        before.sa_handler(sig);
    }
    errno = saved;
}

void stats_install_signal(int sig)
{
    memset(&ours, 0, sizeof ours);
    ours.sa_sigaction = on_signal;
    ours.sa_flags = SA_RESTART | SA_SIGINFO;
    sigemptyset(&ours.sa_mask);
    sigaction(sig, &ours, &before);
}
