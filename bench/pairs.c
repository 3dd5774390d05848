/* pairs.c - a fixed loop of malloc(SIZE)+free pairs, for instruction counts.
 *
 * Usage: pairs N [SIZE]   (SIZE defaults to 64)
 * Runs 1000 warm-up pairs, then N pairs, then exits. Meant to run under
 * `valgrind --tool=callgrind` with the allocator under test preloaded:
 * scripts/bench runs it with two values of N and divides the difference of
 * the total instruction counts by the difference of N, so that start-up,
 * warm-up and exit cancel out and what remains is instructions per pair.
 * No timer, no randomness, no output: the count is deterministic.
 */
#include <stdio.h>
#include <stdlib.h>

static void pair_loop(unsigned long n, size_t size)
{
    for (unsigned long i = 0; i < n; i++) {
        void *p = malloc(size);
        /* keep the compiler from removing the pair */
        __asm__ __volatile__("" : : "r"(p) : "memory");
        free(p);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: pairs N [SIZE]\n");
        return 2;
    }
    char *end;
    unsigned long n = strtoul(argv[1], &end, 10);
    if (*end || end == argv[1]) {
        fprintf(stderr, "pairs: N must be a number, not '%s'\n", argv[1]);
        return 2;
    }
    size_t size = 64;
    if (argc == 3) {
        size = strtoul(argv[2], &end, 10);
        if (*end || end == argv[2] || size == 0) {
            fprintf(stderr, "pairs: SIZE must be a positive number, not '%s'\n", argv[2]);
            return 2;
        }
    }
    pair_loop(1000, size);
    pair_loop(n, size);
    return 0;
}
