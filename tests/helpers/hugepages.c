/* hugepages.c - under the shim: what pages do pooled objects sit on?
 *
 * Usage: hugepages SIZE COUNT
 * mallocs COUNT objects of SIZE bytes, writes a pattern into each, checks
 * them all, frees them; prints, for the first object:
 *   usable=N           malloc_usable_size (the class size when pooled)
 *   kernel_page_kb=N   the page size of its mapping (/proc/self/smaps)
 *   thp_advised=0|1    its mapping was given MADV_HUGEPAGE
 *   huge_kb=N          AnonHugePages + Private_Hugetlb of its mapping
 * Exit 0, or 1 with "FAIL: ..." lines when an object did not keep its
 * contents.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <string.h>

#include "tests/helpers/hout.h"
#include "tests/hugeutil.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        hout_fd(2, "usage: hugepages SIZE COUNT");
        return 2;
    }
    size_t size = harg(argv[1]), count = harg(argv[2]);
    if (size == 0 || count == 0) {
        hout_fd(2, "SIZE and COUNT must be positive");
        return 2;
    }
    unsigned char **obj = malloc(count * sizeof *obj);
    expect(obj != NULL);
    if (obj == NULL)
        return hout_status();
    for (size_t i = 0; i < count; i++) {
        obj[i] = malloc(size);
        expect(obj[i] != NULL);
        if (obj[i] == NULL)
            return hout_status();
        memset(obj[i], (int)(i & 0xff), size);
    }
    for (size_t i = 0; i < count; i++)
        if (obj[i][0] != (unsigned char)i || obj[i][size - 1] != (unsigned char)i)
            fail("object %zu (%p) changed", i, (void *)obj[i]);
    struct hu_block blk;
    expect(hu_smaps_of(obj[0], &blk));
    say("usable=%zu", malloc_usable_size(obj[0]));
    say("kernel_page_kb=%ld", blk.kernel_page_kb);
    say("thp_advised=%d", blk.hg ? 1 : 0);
    say("huge_kb=%ld", blk.huge_kb);
    for (size_t i = 0; i < count; i++)
        free(obj[i]);
    free(obj);
    return hout_status();
}
