/* limits.c - how much more memory and address space this process may use;
 * see limits.h.
 *
 * Memory: the process's cgroup is named in /proc/self/cgroup ("0::PATH" for
 * cgroup v2, "N:...memory...:PATH" for v1's memory controller). Its limit
 * and every ancestor's apply, so each level from PATH up to the hierarchy's
 * root is read:
 *   v2  /sys/fs/cgroup[/unified]PATH/{memory.max, memory.current, memory.stat}
 *   v1  /sys/fs/cgroup/memoryPATH/{memory.limit_in_bytes,
 *                                   memory.usage_in_bytes, memory.stat}
 * A level whose files are missing is skipped: a container without a cgroup
 * namespace names its host path, which does not exist inside it, and has its
 * own limit at the root of the mount. "max", and v1's "no limit" (a value
 * near 2^63), are no limit. Use counts the page cache too; its inactive part
 * (inactive_file, v1's total_inactive_file) is reclaimed before the kernel
 * kills anything, so it is not counted as used.
 */
#define _GNU_SOURCE
#include "shim/limits.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define PATH_CAP 512
#define TEXT_CAP 4096
#define CGROUP1_NO_LIMIT (UINT64_C(1) << 62) /* v1 says "none" with ~2^63 */

/* a + b + c + d into out (cap bytes); false when it does not fit. */
static bool join(char *out, size_t cap, const char *a, const char *b, const char *c,
                 const char *d)
{
    const char *part[] = {a, b, c, d};
    size_t len = 0;
    for (int i = 0; i < 4; i++) {
        size_t n = strlen(part[i]);
        if (len + n >= cap)
            return false;
        memcpy(out + len, part[i], n);
        len += n;
    }
    out[len] = '\0';
    return true;
}

/* The start of root + path (at most cap - 1 bytes), NUL-terminated; false
 * when it cannot be read. */
static bool read_text(const char *root, const char *path, char *buf, size_t cap)
{
    char full[PATH_CAP];
    if (!join(full, sizeof full, root, path, "", ""))
        return false;
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t len = 0;
    ssize_t r = 0;
    while (len < cap - 1 && (r = read(fd, buf + len, cap - 1 - len)) != 0) {
        if (r < 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    return r >= 0;
}

/* A decimal number at s, after blanks, ending at a blank, newline or the
 * end; false for anything else ("max", overflow, nothing). */
static bool parse_u64(const char *s, uint64_t *v)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s < '0' || *s > '9')
        return false;
    uint64_t x = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return false;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    if (*s != '\0' && *s != '\n' && *s != ' ' && *s != '\t')
        return false;
    *v = x;
    return true;
}

/* The number after key at the start of a line of text. */
static bool keyed_u64(const char *text, const char *key, uint64_t *v)
{
    size_t n = strlen(key);
    for (const char *line = text; *line != '\0';) {
        if (strncmp(line, key, n) == 0)
            return parse_u64(line + n, v);
        const char *nl = strchr(line, '\n');
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    return false;
}

/* Keep the tighter of *best and (max, used). */
static void consider(struct limit *best, enum limit_kind kind, uint64_t max, uint64_t used,
                     const char *file)
{
    uint64_t left = max > used ? max - used : 0;
    if (best->kind != LIMIT_UNKNOWN && left >= best->left)
        return;
    best->kind = kind;
    best->left = left;
    best->max = max;
    best->used = used;
    size_t n = strlen(file);
    if (n >= sizeof best->file)
        n = sizeof best->file - 1;
    memcpy(best->file, file, n);
    best->file[n] = '\0';
}

/* ---- cgroups ---- */

struct hierarchy {
    enum limit_kind kind;
    const char *mount;
    const char *max, *current, *inactive; /* files; memory.stat's key */
};

static const struct hierarchy cgroup2[] = {
    {LIMIT_CGROUP2, "/sys/fs/cgroup", "/memory.max", "/memory.current", "inactive_file "},
    {LIMIT_CGROUP2, "/sys/fs/cgroup/unified", "/memory.max", "/memory.current",
     "inactive_file "},
};
static const struct hierarchy cgroup1 = {
    LIMIT_CGROUP1, "/sys/fs/cgroup/memory", "/memory.limit_in_bytes",
    "/memory.usage_in_bytes", "total_inactive_file "};

/* The process's cgroup path from /proc/self/cgroup's text: the v2 line's
 * ("0::PATH"), or with v1 the line whose controllers include "memory"; ""
 * for a root ("/"). False when there is none, or it climbs out (".."). */
static bool cgroup_path(const char *text, bool v1, char *out, size_t cap)
{
    for (const char *line = text; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *c1 = memchr(line, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
        if (c2 != NULL) {
            bool match = false;
            if (!v1) {
                match = c1 == line + 1 && line[0] == '0' && c2 == c1 + 1;
            } else {
                for (const char *w = c1 + 1; w < c2;) {
                    const char *e = memchr(w, ',', (size_t)(c2 - w));
                    if (e == NULL)
                        e = c2;
                    match |= e - w == 6 && memcmp(w, "memory", 6) == 0;
                    w = e + 1;
                }
            }
            size_t plen = len - (size_t)(c2 + 1 - line);
            if (match) {
                const char *p = c2 + 1;
                if (plen >= cap || p[0] != '/' || memmem(p, plen, "/..", 3) != NULL)
                    return false;
                if (plen == 1)
                    plen = 0; /* "/": the root */
                memcpy(out, p, plen);
                out[plen] = '\0';
                return true;
            }
        }
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    return false;
}

/* One level of a hierarchy: mount + dir. */
static void cgroup_level(const char *root, const struct hierarchy *h, const char *dir,
                         struct limit *best)
{
    char path[PATH_CAP], text[TEXT_CAP];
    uint64_t max, used, inactive = 0;
    if (!join(path, sizeof path, h->mount, dir, h->max, "") ||
        !read_text(root, path, text, sizeof text) || !parse_u64(text, &max) ||
        (h->kind == LIMIT_CGROUP1 && max >= CGROUP1_NO_LIMIT))
        return;
    char cur[PATH_CAP], stat[PATH_CAP];
    if (!join(cur, sizeof cur, h->mount, dir, h->current, "") ||
        !read_text(root, cur, text, sizeof text) || !parse_u64(text, &used))
        return;
    if (join(stat, sizeof stat, h->mount, dir, "/memory.stat", "") &&
        read_text(root, stat, text, sizeof text))
        keyed_u64(text, h->inactive, &inactive);
    consider(best, h->kind, max, used - (inactive < used ? inactive : used), path);
}

/* Every level from the process's cgroup up to the mount's root. */
static void cgroup_walk(const char *root, const struct hierarchy *h, const char *cgroups,
                        struct limit *best)
{
    char dir[PATH_CAP];
    if (!cgroup_path(cgroups, h->kind == LIMIT_CGROUP1, dir, sizeof dir))
        return;
    for (;;) {
        cgroup_level(root, h, dir, best);
        char *slash = strrchr(dir, '/');
        if (slash == NULL)
            return;
        *slash = '\0'; /* "/a/b" -> "/a" -> "" (the root) */
    }
}

void limits_memory(const char *root, struct limit *out)
{
    memset(out, 0, sizeof *out);
    out->kind = LIMIT_UNKNOWN;
    out->left = LIMIT_NONE;
    char cgroups[TEXT_CAP];
    if (read_text(root, "/proc/self/cgroup", cgroups, sizeof cgroups)) {
        for (size_t i = 0; i < sizeof cgroup2 / sizeof cgroup2[0]; i++)
            cgroup_walk(root, &cgroup2[i], cgroups, out);
        cgroup_walk(root, &cgroup1, cgroups, out);
    }
    char *meminfo = cgroups;
    uint64_t kb;
    if (read_text(root, "/proc/meminfo", meminfo, sizeof cgroups) &&
        keyed_u64(meminfo, "MemAvailable:", &kb) && kb <= UINT64_MAX / 1024)
        consider(out, LIMIT_MEMINFO, kb * 1024, 0, "/proc/meminfo");
}

/* ---- rlimits ---- */

static void rlimit_left(int resource, enum limit_kind kind, const char *status,
                        const char *key, struct limit *out)
{
    memset(out, 0, sizeof *out);
    out->kind = LIMIT_UNKNOWN;
    out->left = LIMIT_NONE;
    struct rlimit rl;
    uint64_t kb = 0;
    if (getrlimit(resource, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return;
    if (status == NULL || !keyed_u64(status, key, &kb) || kb > UINT64_MAX / 1024)
        kb = 0; /* what is in use unknown: the limit alone */
    consider(out, kind, (uint64_t)rl.rlim_cur, kb * 1024, "");
}

void limits_rlimits(const char *root, struct limit *as, struct limit *data)
{
    char status[TEXT_CAP];
    bool have = read_text(root, "/proc/self/status", status, sizeof status);
    rlimit_left(RLIMIT_AS, LIMIT_AS, have ? status : NULL, "VmSize:", as);
    rlimit_left(RLIMIT_DATA, LIMIT_DATA, have ? status : NULL, "VmData:", data);
}

const char *limits_name(enum limit_kind kind)
{
    switch (kind) {
    case LIMIT_CGROUP2: return "cgroup v2 memory.max";
    case LIMIT_CGROUP1: return "cgroup v1 memory.limit_in_bytes";
    case LIMIT_MEMINFO: return "MemAvailable";
    case LIMIT_AS: return "RLIMIT_AS";
    case LIMIT_DATA: return "RLIMIT_DATA";
    case LIMIT_UNKNOWN: break;
    }
    return "no limit";
}
