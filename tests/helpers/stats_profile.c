/* stats_profile - known allocations for POOLSHIM_PROFILE (tests/test_stats.c).
 *
 *   stats_profile none       no allocation at all (the baseline)
 *   stats_profile run        the requests below
 *
 * The profile counts blocks in buckets of the real allocator's usable size
 * rounded up to 16; the helper prints, for each size it asks for, the bucket
 * it expects ("bucket_100=112": glibc's usable size of malloc(100) is 104),
 * and what that bucket's line must say ("expect_100=112 30 10": SIZE
 * REQUESTS PEAK_LIVE):
 *   malloc(100)     3 rounds of 10 live, then all freed: 30 requests, peak 10
 *   malloc(24)      4, kept: 4 requests, peak 4
 *   malloc(1000)    6, one at a time: 6 requests, peak 1
 *   malloc(3 MiB)   2, one at a time: larger than the largest bucket
 * Output is "key=value" lines written without stdio (hout.h), so the profile
 * sees only these requests. Exits 0, or 1 when a self-check failed.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hout.h"

#define LARGE ((size_t)3 << 20)

static void *keep[16];

/* The bucket of a block: its usable size rounded up to 16. */
static size_t bucket_of(void *p)
{
    return (malloc_usable_size(p) + 15) / 16 * 16;
}

static void run(void)
{
    size_t b100 = 0, b24 = 0, b1000 = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 10; i++) {
            keep[i] = malloc(100);
            expect(keep[i] != NULL);
            escape(keep[i]);
        }
        b100 = bucket_of(keep[0]);
        for (int i = 0; i < 10; i++)
            free(keep[i]);
    }
    for (int i = 0; i < 4; i++) {
        keep[i] = malloc(24);
        expect(keep[i] != NULL);
        escape(keep[i]);
    }
    b24 = bucket_of(keep[0]);
    for (int i = 0; i < 6; i++) {
        void *p = malloc(1000);
        expect(p != NULL);
        escape(p);
        b1000 = bucket_of(p);
        free(p);
    }
    for (int i = 0; i < 2; i++) {
        void *p = malloc(LARGE);
        expect(p != NULL && malloc_usable_size(p) > (1 << 20));
        escape(p);
        free(p);
    }
    say("bucket_100=%zu", b100);
    say("bucket_24=%zu", b24);
    say("bucket_1000=%zu", b1000);
    expect(b24 < b100 && b100 < b1000); /* three lines, in this order */
    say("expect_24=%zu 4 4", b24);
    say("expect_100=%zu 30 10", b100);
    say("expect_1000=%zu 6 1", b1000);
    say("expect_larger=2");
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "none") != 0 && strcmp(argv[1], "run") != 0)) {
        hout_fd(2, "usage: stats_profile none|run");
        return 2;
    }
    say("pid=%d", (int)getpid());
    if (strcmp(argv[1], "run") == 0)
        run();
    return hout_status();
}
