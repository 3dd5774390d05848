/* stderr_reuse - a program that closes stderr and opens a data file, which
 * gets descriptor 2 (tests/test_stats.c: a message the shim writes late must
 * not land in that file).
 *
 *   stderr_reuse FILE
 *
 * Closes fd 2, opens FILE (appending, created) as fd 2, writes "data of
 * stderr_reuse\n" to it, makes an allocation, and exits normally (the
 * shim's exit work runs). Prints nothing on success; "FAIL: ..." on stdout
 * and exit 1 when the set-up failed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hout.h"

#define TEXT "data of stderr_reuse\n"

int main(int argc, char **argv)
{
    if (argc != 2) {
        hout_fd(2, "usage: stderr_reuse FILE");
        return 2;
    }
    close(2);
    int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT, 0644);
    expect(fd == 2);
    expect(write(fd, TEXT, strlen(TEXT)) == (ssize_t)strlen(TEXT));
    void *p = malloc(100);
    expect(p != NULL);
    escape(p);
    free(p);
    return hout_status();
}
