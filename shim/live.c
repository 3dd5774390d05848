/* live.c - the shim's side of the live file (live.h): where it goes, making
 * it, growing it by a chunk, fork, exit.
 *
 * Runs at start-up, under counters.c's lock, and in a fork child: nothing
 * here allocates or uses stdio; messages are built with pool/report.h. The
 * file is mapped into one reserved range of addresses (its header, then its
 * chunks in order), so that a fork child can put a file of its own under the
 * same addresses with one mmap: the counters keep their pointers.
 */
#define _GNU_SOURCE
#include "shim/live.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "pool/report.h"
#include "shim/fd.h"
#include "shim/shim.h"

#define TMPFS_MAGIC 0x01021994
#define RANGE ((size_t)(1 + LIVE_CHUNKS_MAX) * LIVE_PAGE)

struct live_header *live_h;
uint32_t live_peak_noted[POOL_V_MAX];

static struct {
    bool on;
    struct shim_file file; /* the file of path */
    char *base;           /* the reserved range: header, then chunks */
    unsigned nchunks;
    char dir[PATH_MAX];
    char path[PATH_MAX];
    uint64_t ns;          /* our pid namespace (live.h) */
} live = {.file = SHIM_FILE_NONE};

static void say_off(const char *what, const char *path, int err)
{
    struct rbuf b = {0};
    rb_str(&b, "poolshim: live figures are off: ");
    rb_str(&b, what);
    if (path != NULL) {
        rb_char(&b, ' ');
        rb_quoted(&b, path, strlen(path), 300);
    }
    if (err != 0)
        rb_errnote(&b, err);
    rb_str(&b, "; POOLSHIM_LIVE=0 turns them off without this line\n");
    rb_flush(&b, 2);
}

/* ---- where ---- */

/* path is a directory of ours on a tmpfs; with `private`, no one else may
 * enter it either (mode 0700). */
static bool ours(const char *path, bool private)
{
    struct stat st;
    struct statfs fs;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid() &&
           (!private || (st.st_mode & 077) == 0) && statfs(path, &fs) == 0 &&
           fs.f_type == TMPFS_MAGIC;
}

/* dir made (mode 0700) or found, and ours: true. */
static bool make_dir(const char *dir)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return false;
    return ours(dir, true);
}

/* XDG_RUNTIME_DIR/poolshim when XDG_RUNTIME_DIR is a tmpfs of ours, else
 * /dev/shm/poolshim-UID. */
static bool choose_dir(char *const *env)
{
    const char *xdg = shim_env_value(env, "XDG_RUNTIME_DIR");
    if (xdg != NULL && xdg[0] == '/' && ours(xdg, false) &&
        live_dir_xdg(live.dir, sizeof live.dir, xdg) && make_dir(live.dir))
        return true;
    return live_dir_shm(live.dir, sizeof live.dir, getuid()) && make_dir(live.dir);
}

/* dir/PID-NS.live into live.path (a fork child may be in a namespace of
 * its own: its parent unshared one) */
static bool name_file(void)
{
    live.ns = live_pid_ns(0);
    return live_path(live.path, sizeof live.path, live.dir, (uint64_t)getpid(), live.ns);
}

/* Remove the files of processes of our pid namespace that are gone (they
 * ended with _exit, a crash or a kill: no exit handler ran; the pids of
 * other namespaces mean nothing here), so that a program that forks
 * children which _exit leaves no trail. At most SWEEP_MAX entries are
 * looked at per call: the cost is bounded, the directory stays small.
 * getdents64 directly: opendir would allocate. */
#define SWEEP_MAX 256
static void sweep(void)
{
    char buf[8192];
    int dfd = open(live.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return;
    long n = syscall(SYS_getdents64, dfd, buf, sizeof buf);
    for (long off = 0, seen = 0; off < n && seen < SWEEP_MAX; seen++) {
        struct {
            uint64_t ino;
            int64_t off;
            unsigned short reclen;
            unsigned char type;
            char name[];
        } *d = (void *)(buf + off);
        uint64_t pid, ns;
        if (live_parse_name(d->name, &pid, &ns) && ns == live.ns &&
            (pid_t)pid != getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            unlinkat(dfd, d->name, 0);
        off += d->reclen;
    }
    close(dfd);
}

/* ---- the file ---- */

/* A new file at live.path, ours alone. A file already there has our pid: it
 * was left by the program this process exec'd from, or by a dead process
 * whose pid we now have; it is replaced. Returns the descriptor (>=
 * SHIM_FD_FLOOR when it can be), or -1. */
static int create(void)
{
    int flags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = open(live.path, flags, 0600);
    if (fd < 0 && errno == EEXIST && unlink(live.path) == 0)
        fd = open(live.path, flags, 0600);
    if (fd < 0)
        return -1;
    return fd_above_program(fd);
}

/* Bytes [off, off + len) of the file, with blocks behind them (writing
 * through the mapping can then never raise SIGBUS), mapped at base + off,
 * faulted in. */
static bool map_part(int fd, size_t off, size_t len)
{
    if (fallocate(fd, 0, (off_t)off, (off_t)len) != 0)
        return false;
    void *p = mmap(live.base + off, len, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd, (off_t)off);
    return p != MAP_FAILED;
}

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Who this process is: pid, start, name. */
static void identify(struct live_header *h)
{
    h->pid = (uint64_t)getpid();
    h->uid = (uint32_t)getuid();
    h->start_ticks = live_start_ticks("/proc/self/stat");
    h->start_ns = realtime_ns();
    const char *name = program_invocation_short_name;
    size_t n = name != NULL ? strnlen(name, sizeof h->program - 1) : 0;
    memcpy(h->program, name != NULL ? name : "", n);
    h->program[n] = '\0';
}

static void describe(struct live_header *h, const struct shim_config *cfg)
{
    h->version = LIVE_VERSION;
    h->page = LIVE_PAGE;
    h->chunk_blocks = COUNTERS_CHUNK_BLOCKS;
    h->counters_size = sizeof(struct shim_counters);
    h->nv = POOL_V_MAX;
    h->nclasses = cfg->nclasses;
    h->flags = (cfg->strict ? LIVE_STRICT : 0) | (cfg->cache ? LIVE_CACHE : 0) |
               (cfg->check ? LIVE_CHECK : 0) | (cfg->mlock ? LIVE_MLOCK : 0) |
               (cfg->prefault ? LIVE_PREFAULT : 0) |
               (cfg->on_error == SHIM_ON_ERROR_ABORT ? LIVE_ABORT : 0);
    for (unsigned i = 0; i < cfg->nclasses && i < POOL_CLASSES_MAX; i++) {
        h->classes[i].size = cfg->classes[i].size;
        h->classes[i].capacity = cfg->classes[i].count;
    }
    struct rbuf b = {0};
    shim_config_rb_classes(&b, cfg);
    size_t n = b.len < sizeof h->classes_text - 1 ? b.len : sizeof h->classes_text - 1;
    memcpy(h->classes_text, b.buf, n);
    identify(h);
    h->state = LIVE_RUNNING;
    /* the magic last: a reader never takes a half-written header for one */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(h->magic, LIVE_MAGIC, sizeof h->magic);
}

int live_start(const struct shim_config *cfg, char *const *env)
{
    int saved = errno;
    memset(live_peak_noted, 0, sizeof live_peak_noted); /* its page, now, not in a call */
    if (!choose_dir(env)) {
        say_off("no private tmpfs directory for it:", live.dir, errno);
        goto fail;
    }
    bool named = name_file();
    sweep();
    if (!named || !shim_file_keep(&live.file, create())) {
        say_off("cannot create", live.path, errno);
        goto fail;
    }
    live.base = mmap(NULL, RANGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (live.base == MAP_FAILED || !map_part(live.file.fd, 0, LIVE_PAGE)) {
        say_off("cannot map", live.path, errno);
        if (live.base != MAP_FAILED)
            munmap(live.base, RANGE);
        shim_file_close(&live.file);
        unlink(live.path);
        goto fail;
    }
    live_h = (struct live_header *)live.base;
    describe(live_h, cfg);
    live.on = true;
    errno = saved;
    return 0;
fail:
    errno = saved;
    return -1;
}

bool live_on(void)
{
    return live.on;
}

struct counters_shared *live_shared(void)
{
    return &live_h->shared;
}

struct counters_chunk *live_chunk(void)
{
    unsigned i = live.nchunks;
    if (!live.on || i == LIVE_CHUNKS_MAX)
        return NULL;
    int saved = errno;
    size_t off = (size_t)(1 + i) * LIVE_PAGE;
    /* the program may have closed our descriptor and taken its number */
    int fd = shim_file_fd(&live.file, live.path);
    bool ok = fd >= 0 && map_part(fd, off, LIVE_PAGE);
    errno = saved;
    if (!ok)
        return NULL;
    live.nchunks = i + 1;
    __atomic_store_n(&live_h->nchunks, i + 1, __ATOMIC_RELEASE);
    return (struct counters_chunk *)(live.base + off);
}

/* The mapping stays where it is, its contents too, backed by anonymous
 * memory: for a child that cannot have a file. */
static void keep_private(size_t len)
{
    void *tmp = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (tmp != MAP_FAILED) {
        memcpy(tmp, live.base, len);
        mremap(tmp, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, live.base);
    }
    live.on = false;
}

void live_fork_child(void)
{
    int saved = errno;
    memset(live_peak_noted, 0, sizeof live_peak_noted); /* the child's peaks start again */
    size_t len = (size_t)(1 + live.nchunks) * LIVE_PAGE;
    shim_file_close(&live.file); /* the parent's, never a number the program took */
    int fd = name_file() ? create() : -1;
    bool ok = fd >= 0 && fallocate(fd, 0, 0, (off_t)len) == 0 &&
              pwrite(fd, live.base, len, 0) == (ssize_t)len &&
              mmap(live.base, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) !=
                  MAP_FAILED;
    sweep();
    if (ok && shim_file_keep(&live.file, fd)) {
        memset(&live_h->look, 0, sizeof live_h->look);
        memset(live_h->peak, 0, sizeof live_h->peak);
        identify(live_h);
    } else {
        if (fd >= 0) {
            close(fd);
            unlink(live.path);
        }
        keep_private(len);
    }
    errno = saved;
}

void live_finish(void)
{
    if (!live.on)
        return;
    int saved = errno;
    __atomic_store_n(&live_h->state, LIVE_EXITING, __ATOMIC_RELEASE);
    unlink(live.path);
    errno = saved;
}
