/* recommend.h - the parts of tools/poolshim-recommend (internal), grouped by
 * the file that defines them:
 *
 *   read.c     profile files in (the format of shim/profile_format.h),
 *              merged into one profile
 *   atoms.c    the profile's buckets as atoms: runs of buckets that always
 *              share a class, coarsened to at most REC_ATOMS_MAX
 *   solve.c    the classes that serve the most requests within a budget
 *              (the model and the search are described there)
 *   print.c    the report, the JSON object, the POOLSHIM_CLASSES line
 *   ../poolshim-recommend.c  the options and main
 *
 * None of them prints or exits: failures come back as a return value, with
 * a one-line message where the caller needs one. Not thread-safe unless said.
 */
#ifndef TOOLS_RECOMMEND_H
#define TOOLS_RECOMMEND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "shim/profile_format.h"

/* ---- read.c ---- */

/* Profiles merged per bucket (index: SIZE / PROFILE_GRANULE):
 *   requests[i] == sum over blocks of the bucket's REQUESTS
 *   peak[i]     == max over blocks of the bucket's PEAK_LIVE
 *   larger      == sum over blocks of the requests above PROFILE_SIZE_MAX */
struct rec_profile {
    uint64_t requests[PROFILE_BUCKETS];
    uint64_t peak[PROFILE_BUCKETS];
    uint64_t larger;
    unsigned files, blocks;
};

/* A message for the user: one line, no newline, naming the file and line. */
struct rec_error {
    char msg[4608];
};

/* s holds only decimal digits (at least one) and fits in 64 bits: stores
 * the value in *out and returns true; else false, *out unchanged. */
bool rec_parse_u64(const char *s, uint64_t *out);

/* Read every block of one profile file from f, called name in messages, and
 * merge them into *pf (files and blocks counted). Returns 0, or -1 with the
 * first error in *err (a malformed line, a cut or empty file, a count that
 * overflows, a read error); *pf then holds the blocks that ended before the
 * error. f is not closed. */
int rec_read(struct rec_profile *pf, FILE *f, const char *name, struct rec_error *err);

/* The same for the file at path, "-" meaning standard input. */
int rec_read_path(struct rec_profile *pf, const char *path, struct rec_error *err);

/* ---- atoms.c ---- */

#define REC_ATOMS_MAX 256 /* the search is O(classes * atoms^2) */

/* Buckets bottom..top (sizes, multiples of PROFILE_GRANULE) that share a
 * class: requests and peak are the sums over those buckets. */
struct rec_atom {
    uint64_t top;
    uint64_t bottom;
    uint64_t requests;
    uint64_t peak;
};

/* One atom per bucket of pf with requests, in size order, into a (room for
 * PROFILE_BUCKETS - 1); *total = every request, those above
 * PROFILE_SIZE_MAX included. Returns how many, or -1 when the total
 * overflows 64 bits. */
int rec_atoms(const struct rec_profile *pf, struct rec_atom *a, uint64_t *total);

/* Merge neighbouring atoms of a[0..n) (size order) until at most max
 * (>= 1) remain, each time the pair that costs the fewest extra bytes when
 * served by the upper atom's class (its top minus the lower atom's top,
 * times the lower atom's peak). Returns the new count, or -1 when out of
 * memory (a unchanged). */
int rec_coarsen(struct rec_atom *a, unsigned n, unsigned max);

/* ---- solve.c ---- */

struct rec_params {
    uint64_t budget;      /* bytes of pool memory */
    unsigned headroom;    /* percent added to each class's peak */
    unsigned max_classes; /* 1 .. POOL_CLASSES_MAX */
};

/* One class of a configuration: atoms (from, to] of the atom array. A
 * barrier is a class of one object that keeps its range's requests out of
 * the classes above. */
struct rec_choice {
    unsigned from, to;
    bool barrier;
    uint64_t size, count, bytes, requests, peak;
};

/* bytes == sum of c[].bytes; served == sum of c[].requests over the
 * classes that are not barriers. */
struct rec_config {
    unsigned n;
    struct rec_choice c[POOL_CLASSES_MAX];
    uint64_t bytes, served;
};

/* The configuration for atoms a[0..n) that serves the most requests within
 * pp->budget, into *best (served == 0: nothing fits); `steps` bisection
 * steps of the price, each O(max_classes * n^2). Returns 0, or -1 when out
 * of memory. */
int rec_recommend(const struct rec_atom *a, unsigned n, const struct rec_params *pp,
                  int steps, struct rec_config *best);

/* Bytes of the cheapest configuration that serves at least one request
 * (UINT64_MAX when none can). Cannot fail. */
uint64_t rec_cheapest(const struct rec_atom *a, unsigned n, const struct rec_params *pp);

#define REC_TRADEOFFS 4

/* What a configuration leaves to the system allocator, and what smaller
 * budgets (1/4, 1/16, 1/64, 1/256 of the given one, down to the cheapest
 * configuration) would serve:
 *   requests == served + above + in_barriers + larger (the profile's) */
struct rec_totals {
    uint64_t requests;    /* every request, larger ones included */
    uint64_t above;       /* up to PROFILE_SIZE_MAX, above the largest class */
    uint64_t in_barriers;
    unsigned ntrade;
    struct {
        uint64_t budget, served, bytes;
    } trade[REC_TRADEOFFS];
};

/* Fill *t for cf, the configuration recommended for a[0..n) and pp, with
 * `requests` the profile's total and `larger` its requests above
 * PROFILE_SIZE_MAX. Returns 0, or -1 when out of memory. */
int rec_totals(const struct rec_atom *a, unsigned n, const struct rec_params *pp,
               const struct rec_config *cf, uint64_t requests, uint64_t larger,
               struct rec_totals *t);

/* ---- print.c ---- */

/* v with the largest exact binary suffix up to k (max_shift 10), M (20) or
 * G (30): 4096 -> "4k", 1048576 -> "1M" (max_shift >= 20), 1000 -> "1000";
 * into buf, which it returns. */
const char *rec_size_text(uint64_t v, unsigned max_shift, char *buf, size_t len);

/* v bytes for people: "1.5 KiB", "2.00 MiB", "1.00 GiB"; into buf. */
const char *rec_human(uint64_t v, char *buf, size_t len);

/* The POOLSHIM_CLASSES value of cf ("24:110,4k:4"), into out. */
void rec_classes_line(const struct rec_config *cf, char *out, size_t len);

/* The report (its last line POOLSHIM_CLASSES=line) or the JSON object, on
 * `to`. Errors are the stream's (ferror). */
void rec_print_text(FILE *to, const struct rec_profile *pf, const struct rec_params *pp,
                    const struct rec_config *cf, const struct rec_totals *t,
                    const char *line);
void rec_print_json(FILE *to, const struct rec_profile *pf, const struct rec_params *pp,
                    const struct rec_config *cf, const struct rec_totals *t,
                    const char *line);

#endif
