/* scope.c - which processes the shim serves (POOLSHIM_ONLY) and what the
 * programs they exec inherit (POOLSHIM_CHILDREN=0).
 *
 * Both run once, at start-up, inside the host's first allocation: no
 * allocation, no stdio, no getenv. The environment is edited in place: the
 * array of pointers is compacted and the LD_PRELOAD string only ever
 * shrinks, so nothing needs new memory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "shim/shim.h"

#define PRELOAD "LD_PRELOAD="
#define OURS "libpoolshim" /* a preloaded file whose name starts so is ours */

static const char *base_name(const char *path, size_t n, size_t *len)
{
    const char *b = path;
    for (size_t i = 0; i < n; i++)
        if (path[i] == '/')
            b = path + i + 1;
    *len = (size_t)(path + n - b);
    return b;
}

/* Whether name[0..n) is one of the comma-separated names of list. */
static bool listed(const char *list, const char *name, size_t n)
{
    for (const char *p = list;;) {
        const char *end = strchrnul(p, ',');
        if ((size_t)(end - p) == n && memcmp(p, name, n) == 0)
            return true;
        if (*end == '\0')
            return false;
        p = end + 1;
    }
}

bool scope_selected(const char *only)
{
    if (only == NULL)
        return true;
    size_t n;
    const char *name = program_invocation_short_name;
    if (name != NULL && *name != '\0' && listed(only, name, strlen(name)))
        return true;
    /* The executable file itself: "python3" runs /usr/bin/python3.11. */
    char exe[4096];
    int saved = errno;
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe);
    errno = saved;
    if (len <= 0 || (size_t)len >= sizeof exe)
        return false;
    name = base_name(exe, (size_t)len, &n);
    return listed(only, name, n);
}

/* Rewrite the value of an LD_PRELOAD entry in place without the files named
 * libpoolshim*, the others joined by ':' (ld.so splits on ' ' and ':').
 * Returns the length of what is left. */
static size_t strip_preload(char *v)
{
    char *out = v;
    for (char *p = v; *p != '\0';) {
        size_t n = strcspn(p, " :"), bn;
        const char *b = base_name(p, n, &bn);
        bool ours = bn >= sizeof OURS - 1 && memcmp(b, OURS, sizeof OURS - 1) == 0;
        if (n > 0 && !ours) {
            if (out != v)
                *out++ = ':';
            memmove(out, p, n); /* out <= p: the string only shrinks */
            out += n;
        }
        p += n;
        if (*p != '\0')
            p++;
    }
    *out = '\0';
    return (size_t)(out - v);
}

void scope_strip_children(char **env)
{
    if (env == NULL)
        return;
    char **out = env;
    for (char **e = env; *e != NULL; e++) {
        if (strncmp(*e, "POOLSHIM_", 9) == 0)
            continue;
        if (strncmp(*e, PRELOAD, sizeof PRELOAD - 1) == 0 &&
            strip_preload(*e + sizeof PRELOAD - 1) == 0)
            continue;
        *out++ = *e;
    }
    *out = NULL;
}
