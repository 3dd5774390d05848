/* hugeutil.c - the bodies of hugeutil.h. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <unistd.h>

#include "tests/hugeutil.h"

long hu_read_long(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f != NULL) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

long hu_hugetlb_available(void)
{
    long f = hu_read_long(HU_HUGETLB_DIR "free_hugepages");
    long r = hu_read_long(HU_HUGETLB_DIR "resv_hugepages");
    return f < 0 ? 0 : f - (r > 0 ? r : 0);
}

void hu_read_choice(const char *path, char *out, size_t size)
{
    char line[256] = "";
    FILE *f = fopen(path, "r");
    out[0] = '\0';
    if (f == NULL)
        return;
    if (fgets(line, sizeof line, f) != NULL) {
        char *a = strchr(line, '['), *b = a ? strchr(a, ']') : NULL;
        if (b != NULL && (size_t)(b - a) <= size) {
            memcpy(out, a + 1, (size_t)(b - a - 1));
            out[b - a - 1] = '\0';
        }
    }
    fclose(f);
}

void hu_thp_mode(char *out, size_t size)
{
    hu_read_choice(HU_THP_2M_ENABLED, out, size);
    if (out[0] == '\0' || strcmp(out, "inherit") == 0)
        hu_read_choice(HU_THP_ENABLED, out, size);
}

bool hu_thp_usable(void)
{
    char mode[32];
    hu_thp_mode(mode, sizeof mode);
    return mode[0] != '\0' && strcmp(mode, "never") != 0;
}

bool hu_smaps_of(const void *p, struct hu_block *out)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (f == NULL)
        return false;
    char line[512];
    bool inside = false, found = false;
    uintptr_t a = (uintptr_t)p;
    long v;
    *out = (struct hu_block){0};
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long lo, hi;
        char *dash = strchr(line, '-'), *space = strchr(line, ' ');
        if (dash != NULL && space != NULL && dash < space &&
            sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
            inside = a >= lo && a < hi;
            continue;
        }
        if (!inside)
            continue;
        if (sscanf(line, "KernelPageSize: %ld kB", &v) == 1) {
            out->kernel_page_kb = v;
            found = true;
        } else if (sscanf(line, "AnonHugePages: %ld kB", &v) == 1 ||
                   sscanf(line, "Private_Hugetlb: %ld kB", &v) == 1) {
            out->huge_kb += v;
        } else if (strncmp(line, "VmFlags:", 8) == 0) {
            out->hg = strstr(line, " hg") != NULL;
        }
    }
    fclose(f);
    return found;
}

/* ---- root only ---- */

bool hu_can_change_system(void)
{
    return geteuid() == 0 && access(HU_HUGETLB_DIR "nr_hugepages", W_OK) == 0 &&
           access(HU_THP_ENABLED, F_OK) == 0;
}

bool hu_write_long(const char *path, long v)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return false;
    bool ok = fprintf(f, "%ld\n", v) > 0;
    return fclose(f) == 0 && ok;
}

static long hu_nr_saved = -1;
static int hu_lock_fd = -1;

void hu_hugetlb_raise(long extra)
{
    if (!hu_can_change_system())
        return;
    hu_lock_fd = open("/tmp/poolshim-test-hugetlb.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (hu_lock_fd >= 0)
        flock(hu_lock_fd, LOCK_EX);
    hu_nr_saved = hu_read_long(HU_HUGETLB_DIR "nr_hugepages");
    if (hu_nr_saved >= 0)
        hu_write_long(HU_HUGETLB_DIR "nr_hugepages", hu_nr_saved + extra);
}

void hu_hugetlb_restore(void)
{
    if (hu_nr_saved >= 0)
        hu_write_long(HU_HUGETLB_DIR "nr_hugepages", hu_nr_saved);
    hu_nr_saved = -1;
    if (hu_lock_fd >= 0)
        close(hu_lock_fd); /* drops the lock */
    hu_lock_fd = -1;
}

void hu_hugetlb_setup(void)
{
    hu_hugetlb_raise(HU_CASE_PAGES);
}

void hu_hugetlb_hold(void)
{
    hu_hugetlb_raise(0);
}

const char *hu_hugetlb_unready(long *avail)
{
    static char why[128];
    if (!hu_can_change_system())
        return "needs root and vm.nr_hugepages";
    *avail = hu_hugetlb_available();
    if (*avail >= HU_CASE_PAGES)
        return NULL;
    snprintf(why, sizeof why, "the kernel gave only %ld of %d hugetlb pages asked for (memory "
             "fragmented?)", *avail, HU_CASE_PAGES);
    return why;
}

bool hu_bind_text(const char *line, const char *target)
{
    char path[] = "/tmp/poolshim-test-thp.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return false;
    size_t n = strlen(line);
    bool ok = write(fd, line, n) == (ssize_t)n;
    close(fd);
    ok = ok && mount(path, target, NULL, MS_BIND, NULL) == 0;
    unlink(path);
    return ok;
}

bool hu_fake_thp(const char *mode)
{
    static const char *const words[] = {"always", "madvise", "never"};
    char line[96];
    int n = 0;
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return false;
    for (int i = 0; i < 3; i++) {
        bool chosen = strcmp(mode, words[i]) == 0;
        n += snprintf(line + n, sizeof line - (size_t)n, "%s%s%s%s", i ? " " : "",
                      chosen ? "[" : "", words[i], chosen ? "]" : "");
    }
    snprintf(line + n, sizeof line - (size_t)n, "\n");
    if (!hu_bind_text(line, HU_THP_ENABLED))
        return false;
    return access(HU_THP_2M_ENABLED, F_OK) != 0 ||
           hu_bind_text("always [inherit] madvise never\n", HU_THP_2M_ENABLED);
}
