/* plant_link - an attacker's symlink where the stats file's temporary used
 * to be predictable.
 *
 *   plant_link FILE TARGET
 *
 * Makes FILE.PID.tmp (PID: its own) a symlink to TARGET, then allocates a
 * little and exits 0. Run with POOLSHIM_STATS_FILE=FILE: the shim must
 * write FILE as a new regular file and leave TARGET as it was. Prints
 * pid=PID; "FAIL: ..." and exit 1 when the link cannot be made.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <unistd.h>

#include "hout.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        hout_fd(2, "usage: plant_link FILE TARGET");
        return 2;
    }
    char link[4200];
    snprintf(link, sizeof link, "%s.%d.tmp", argv[1], (int)getpid());
    say("pid=%d", (int)getpid());
    if (symlink(argv[2], link) != 0)
        fail("symlink %s: errno %d", link, errno);
    void *p = malloc(64);
    escape(p);
    free(p);
    return hout_status();
}
