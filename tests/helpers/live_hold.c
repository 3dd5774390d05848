/* live_hold - a program that holds allocations while a test reads its live
 * figures from outside (tests/test_live.c, `poolshim stat`).
 *
 *   live_hold
 *
 * Reads commands from stdin, one per line, and answers each with one line
 * on stdout (hout.h: no stdio, so that the shim counts only what the
 * commands ask for):
 *   alloc SIZE N    malloc(SIZE) N times, kept (NULLs    -> "ok"
 *                   of strict mode are not)
 *   free SIZE N     free N of the blocks of SIZE kept   -> "ok"
 *   fork            fork a child that holds on and obeys the same commands
 *                   on the same stdin after this line: -> "child=PID" (from
 *                   the parent); the parent then only waits for the child
 *   pid             -> "pid=PID"
 *   sleep MS        sleep MS milliseconds                 -> "ok"
 * End of stdin: the child (if any) exits first, then the parent returns
 * from main (exit handlers run: POOLSHIM_STATS=1 prints the exit table).
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hout.h"

#define HELD_MAX 65536

static void *held[HELD_MAX];
static size_t held_size[HELD_MAX];
static unsigned nheld;

/* One line of stdin into buf, without the newline; false at the end. */
static bool read_line(char *buf, size_t cap)
{
    size_t n = 0;
    char c;
    while (n < cap - 1) {
        ssize_t r = read(0, &c, 1);
        if (r <= 0)
            return n > 0 && (buf[n] = '\0', true);
        if (c == '\n')
            break;
        buf[n++] = c;
    }
    buf[n] = '\0';
    return true;
}

static void do_alloc(size_t size, unsigned n)
{
    for (unsigned i = 0; i < n && nheld < HELD_MAX; i++) {
        void *p = malloc(size);
        if (p == NULL)
            continue; /* strict mode refused it: counted as refused */
        memset(p, 0xa5, size);
        held[nheld] = p;
        held_size[nheld++] = size;
    }
}

static void do_free(size_t size, unsigned n)
{
    for (unsigned i = nheld; i-- > 0 && n > 0;)
        if (held[i] != NULL && held_size[i] == size) {
            free(held[i]);
            held[i] = NULL;
            n--;
        }
}

int main(void)
{
    char line[256];
    pid_t child = 0;
    while (read_line(line, sizeof line)) {
        unsigned long size = 0, n = 0;
        char *end;
        if (strncmp(line, "alloc ", 6) == 0 || strncmp(line, "free ", 5) == 0) {
            size = strtoul(strchr(line, ' ') + 1, &end, 10);
            n = strtoul(end, NULL, 10);
            if (line[0] == 'a')
                do_alloc(size, (unsigned)n);
            else
                do_free(size, (unsigned)n);
            say("ok");
        } else if (strncmp(line, "sleep ", 6) == 0) {
            unsigned long ms = strtoul(line + 6, NULL, 10);
            struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
            while (nanosleep(&ts, &ts) != 0)
                ;
            say("ok");
        } else if (strcmp(line, "pid") == 0) {
            say("pid=%d", (int)getpid());
        } else if (strcmp(line, "fork") == 0 && child == 0) {
            child = fork();
            if (child < 0) {
                fail("fork");
                break;
            }
            if (child == 0)
                continue; /* the child reads the commands from now on */
            say("child=%d", (int)child);
            int status;
            waitpid(child, &status, 0);
            expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
            break;
        } else {
            fail("unknown command \"%s\"", line);
        }
    }
    return hout_status();
}
