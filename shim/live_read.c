/* live_read.c - reading live files from outside (live.h): checking one,
 * summing its figures without a lock, telling whether it is stale, keeping
 * a reader's last look; and where live files are.
 *
 * For tools/poolshim-stat and the tests. No stdio and no malloc (the shim
 * links this file too, for the names of the directories): reasons are
 * formatted with pool/report.h into the caller's buffer.
 */
#define _GNU_SOURCE
#include "shim/live.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool/report.h"

/* ---- where ---- */

static bool join(char *out, size_t cap, const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na + nb + 1 > cap)
        return false;
    memmove(out, a, na);
    memcpy(out + na, b, nb + 1);
    return true;
}

/* A decimal number at *p (at most 19 digits, no leading zero unless it is
 * 0), p moved past it; false when there is none. */
static bool parse_u64(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    int n = 0;
    for (; *s >= '0' && *s <= '9' && n < 20; s++, n++)
        v = v * 10 + (uint64_t)(*s - '0');
    if (n == 0 || n > 19 || (n > 1 && **p == '0'))
        return false;
    *p = s;
    *out = v;
    return true;
}

bool live_parse_name(const char *name, uint64_t *pid, uint64_t *ns)
{
    const char *p = name;
    return parse_u64(&p, pid) && *pid > 0 && *pid < (1u << 30) && *p++ == '-' &&
           parse_u64(&p, ns) && strcmp(p, LIVE_SUFFIX) == 0;
}

bool live_dir_xdg(char *out, size_t cap, const char *xdg)
{
    return join(out, cap, xdg, "/poolshim");
}

bool live_dir_shm(char *out, size_t cap, unsigned uid)
{
    struct rbuf b = {0};
    rb_str(&b, "/dev/shm/poolshim-");
    rb_u64(&b, uid);
    return join(out, cap, rb_cstr(&b), "");
}

uint64_t live_pid_ns(uint64_t pid)
{
    struct rbuf b = {0};
    rb_str(&b, "/proc/");
    if (pid == 0)
        rb_str(&b, "self");
    else
        rb_u64(&b, pid);
    rb_str(&b, "/ns/pid");
    struct stat st;
    return stat(rb_cstr(&b), &st) == 0 ? (uint64_t)st.st_ino : 0;
}

bool live_path(char *out, size_t cap, const char *dir, uint64_t pid, uint64_t ns)
{
    struct rbuf b = {0};
    rb_char(&b, '/');
    rb_u64(&b, pid);
    rb_char(&b, '-');
    rb_u64(&b, ns);
    rb_str(&b, LIVE_SUFFIX);
    char name[64];
    memcpy(name, b.buf, b.len);
    name[b.len] = '\0';
    return join(out, cap, dir, name);
}

uint64_t live_start_ticks(const char *stat_path)
{
    char buf[1024];
    int fd = open(stat_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the name may hold anything */
    for (int field = 2; p != NULL && field < 22; field++)
        p = strchr(p + 1, ' ');
    uint64_t v = 0;
    for (p = p != NULL ? p + 1 : ""; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    return v;
}

/* ---- opening ---- */

/* What is wrong with the header of a file of size bytes, or NULL. */
static const char *header_problem(const struct live_header *h, size_t size, struct rbuf *b)
{
    if (memcmp(h->magic, LIVE_MAGIC, sizeof h->magic) != 0)
        return "not a poolshim live file";
    if (h->version != LIVE_VERSION) {
        rb_str(b, "a live file of version ");
        rb_u64(b, h->version);
        rb_str(b, "; this reader knows version ");
        rb_u64(b, LIVE_VERSION);
        rb_str(b, " (use the poolshim stat of the library the program runs with)");
        return rb_cstr(b);
    }
    if (h->page != LIVE_PAGE || h->chunk_blocks != COUNTERS_CHUNK_BLOCKS ||
        h->counters_size != sizeof(struct shim_counters) || h->nv != POOL_V_MAX ||
        h->nclasses == 0 || h->nclasses > POOL_CLASSES_MAX)
        return "a live file of another layout (another build of poolshim?)";
    size_t have = (size - LIVE_PAGE) / LIVE_PAGE;
    if (h->nchunks > have || h->nchunks > LIVE_CHUNKS_MAX) {
        rb_str(b, "truncated: its header counts ");
        rb_u64(b, h->nchunks);
        rb_str(b, " pages of counters, the file holds ");
        rb_u64(b, have);
        return rb_cstr(b);
    }
    return NULL;
}

int live_open(struct live_file *f, const char *path, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (f->fd < 0 && errno == EACCES)
        f->fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (f->fd < 0)
        return rb_refuse(path, "cannot open", errno, err, errlen);
    struct stat st;
    if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        close(f->fd);
        return rb_refuse(path, "not a regular file", S_ISREG(st.st_mode) ? e : EINVAL, err, errlen);
    }
    if ((size_t)st.st_size < LIVE_PAGE) {
        struct rbuf b = {0};
        rb_str(&b, "truncated: ");
        rb_u64(&b, (uint64_t)st.st_size);
        rb_str(&b, " bytes, a live file has at least 4096");
        close(f->fd);
        return rb_refuse(path, rb_cstr(&b), EINVAL, err, errlen);
    }
    f->size = (size_t)st.st_size;
    void *p = mmap(NULL, f->size, PROT_READ, MAP_SHARED, f->fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        close(f->fd);
        return rb_refuse(path, "cannot map", e, err, errlen);
    }
    f->h = p;
    struct rbuf b = {0};
    const char *why = header_problem(f->h, f->size, &b);
    if (why != NULL) {
        char copy[600];
        size_t n = strlen(why) < sizeof copy - 1 ? strlen(why) : sizeof copy - 1;
        memcpy(copy, why, n);
        copy[n] = '\0';
        live_close(f);
        return rb_refuse(path, copy, EINVAL, err, errlen);
    }
    f->nchunks = __atomic_load_n(&f->h->nchunks, __ATOMIC_ACQUIRE);
    return 0;
}

void live_close(struct live_file *f)
{
    if (f->h != NULL)
        munmap((void *)f->h, f->size);
    if (f->fd >= 0)
        close(f->fd);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

/* ---- summing ---- */

static void add(struct shim_counters *into, const struct shim_counters *from)
{
    const uint64_t *src = (const uint64_t *)from;
    uint64_t *dst = (uint64_t *)into;
    for (size_t i = 0; i < sizeof *from / sizeof(uint64_t); i++)
        dst[i] += __atomic_load_n(&src[i], __ATOMIC_ACQUIRE); /* before exits is read again */
}

static void sum_once(const struct live_file *f, struct shim_counters *out)
{
    memset(out, 0, sizeof *out);
    add(out, &f->h->shared.retired);
    add(out, &f->h->shared.overflow);
    for (unsigned c = 0; c < f->nchunks; c++) {
        const struct counters_chunk *k =
            (const void *)((const char *)f->h + (size_t)(1 + c) * LIVE_PAGE);
        for (unsigned i = 0; i < COUNTERS_CHUNK_BLOCKS; i++)
            if (__atomic_load_n(&k->used[i], __ATOMIC_ACQUIRE))
                add(out, &k->block[i].c);
    }
}

void live_sum(const struct live_file *f, struct shim_counters *out)
{
    const uint32_t *exits = &f->h->shared.exits;
    for (int tries = 0; tries < 64; tries++) {
        uint32_t before = __atomic_load_n(exits, __ATOMIC_ACQUIRE);
        if (before & 1) {
            sched_yield();
            continue;
        }
        sum_once(f, out);
        if (__atomic_load_n(exits, __ATOMIC_RELAXED) == before)
            return;
    }
    sum_once(f, out); /* threads exit without pause: as good as it gets */
}

/* ---- staleness ---- */

/* Whether /proc/PID/maps has a mapping of inode ino. 1, 0, or -1 with
 * errno when it cannot be read. */
static int maps_inode(uint64_t pid, ino_t ino)
{
    char path[64], buf[65536];
    struct rbuf b = {0};
    rb_str(&b, "/proc/");
    rb_u64(&b, pid);
    rb_str(&b, "/maps");
    memcpy(path, rb_cstr(&b), b.len + 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t keep = 0;
    int found = 0;
    ssize_t n;
    while (!found && (n = read(fd, buf + keep, sizeof buf - 1 - keep)) > 0) {
        size_t len = keep + (size_t)n, start = 0;
        buf[len] = '\0';
        for (char *nl; !found && (nl = memchr(buf + start, '\n', len - start)) != NULL;
             start = (size_t)(nl - buf) + 1) {
            /* addr perms offset dev inode path */
            const char *p = buf + start;
            for (int field = 0; field < 4 && p < nl; field++) {
                const char *sp = memchr(p, ' ', (size_t)(nl - p));
                p = sp != NULL ? sp + 1 : nl;
            }
            uint64_t v = 0;
            for (; p < nl && *p >= '0' && *p <= '9'; p++)
                v = v * 10 + (uint64_t)(*p - '0');
            found = v == (uint64_t)ino && v != 0;
        }
        keep = len - start;
        memmove(buf, buf + start, keep);
        if (keep == sizeof buf - 1)
            keep = 0; /* a line longer than the buffer: not ours */
    }
    int e = errno;
    close(fd);
    errno = e;
    return n < 0 && !found ? -1 : found;
}

int live_alive(const struct live_file *f, uint64_t pid)
{
    if (pid == 0 || pid > (1u << 30))
        return ESTALE;
    if (kill((pid_t)pid, 0) != 0)
        return errno == ESRCH ? ESRCH : EACCES;
    struct rbuf b = {0};
    rb_str(&b, "/proc/");
    rb_u64(&b, pid);
    rb_str(&b, "/stat");
    if (live_start_ticks(rb_cstr(&b)) != f->h->start_ticks)
        return ESTALE;
    struct stat st;
    if (fstat(f->fd, &st) != 0)
        return EACCES;
    int m = maps_inode(pid, st.st_ino);
    return m < 0 ? EACCES : m == 0 ? ESTALE : 0;
}

void live_record_look(struct live_file *f, const struct shim_counters *now, uint64_t time_ns)
{
    struct live_look look;
    memset(&look, 0, sizeof look);
    look.time_ns = time_ns;
    memcpy(look.served, now->served, sizeof look.served);
    memcpy(look.dry, now->dry, sizeof look.dry);
    look.uncovered = now->uncovered;
    ssize_t w = pwrite(f->fd, &look, sizeof look, offsetof(struct live_header, look));
    (void)w; /* a read-only file keeps no looks */
}
