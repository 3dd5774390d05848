/* poolshim-recommend - turn POOLSHIM_PROFILE files into a POOLSHIM_CLASSES
 * line.
 *
 *   poolshim-recommend [--budget SIZE] [--headroom PERCENT]
 *                      [--max-classes N] [--json] FILE...
 *
 * Input: the blocks that shim/profile.c appends to a profile file, one per
 * process (FILE "-" is standard input), in the format of
 * shim/profile_format.h. Blocks merge per bucket: requests add up over every
 * block of every file, peaks take the largest of any one block (each process
 * has pools of its own, so the pools must hold the peak of the busiest
 * process, not the sum).
 *
 * The recommendation: at most --max-classes classes, each with its range's
 * peak plus --headroom percent, that serve the largest share of the requests
 * within the budget; tools/recommend/solve.c tells how it is found. The
 * parts: tools/recommend/recommend.h. This file holds the options and main.
 *
 * Output: a report, or with --json one JSON object; the last line of the
 * report is POOLSHIM_CLASSES=SIZE:COUNT,... . Errors (usage, a missing or
 * malformed file, a budget too small for any class): one line on stderr,
 * "poolshim-recommend: ...", and exit status 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "pool/version.h"
#include "tools/recommend/recommend.h"
#include "tools/shared/tool.h"

#define PROG "poolshim-recommend"
#define HEADROOM_DEFAULT 10
#define HEADROOM_MAX 1000
#define BUDGET_DEFAULT (UINT64_C(64) << 20)

static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void usage(FILE *to)
{
    fputs("Usage: poolshim-recommend [OPTIONS] FILE...\n"
          "\n"
          "Read POOLSHIM_PROFILE files (\"-\": standard input), merge them, and\n"
          "recommend the POOLSHIM_CLASSES that serve the largest share of the\n"
          "requests within the memory budget.\n"
          "\n"
          "Options:\n"
          "  --budget SIZE       pool memory allowed, bytes with an optional k, M\n"
          "                      or G suffix (default: $POOLSHIM_BUDGET, else 64M)\n"
          "  --headroom PERCENT  objects added to each class's peak, 0..1000\n"
          "                      (default 10)\n"
          "  --max-classes N     at most N classes, 1..32 (default 32)\n"
          "  --json              one JSON object instead of the report\n"
          "  -h, --help          show this help and exit\n"
          "  --version           print the version and exit\n"
          "\n"
          "The report's last line is POOLSHIM_CLASSES=SIZE:COUNT,... .\n"
          "Exit status: 0, or 2 with one line on stderr for any error.\n",
          to);
}

/* SIZE: digits with an optional k/M/G suffix (either case), above 0. */
static bool parse_size(const char *s, uint64_t *out)
{
    char buf[32];
    size_t n = strlen(s);
    unsigned shift = 0;
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n + 1);
    switch (buf[n - 1]) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    }
    if (shift != 0)
        buf[n - 1] = '\0';
    uint64_t v;
    if (!rec_parse_u64(buf, &v) || v == 0 || v > (UINT64_MAX >> shift))
        return false;
    *out = v << shift;
    return true;
}

static bool parse_range(const char *s, uint64_t lo, uint64_t hi, unsigned *out)
{
    uint64_t v;
    if (!rec_parse_u64(s, &v) || v < lo || v > hi)
        return false;
    *out = (unsigned)v;
    return true;
}

#define BUDGET_EXPECT "expected a size in bytes above 0 with an optional k, M or G suffix, e.g. 64M"

struct options {
    struct rec_params pp;
    bool json, budget_given;
};

/* Option o's value v: which 0 --budget, 1 --headroom, 2 --max-classes. */
static void option_value(struct options *op, unsigned which, const char *v)
{
    if (which == 0) {
        if (!parse_size(v, &op->pp.budget))
            die("--budget \"%s\": " BUDGET_EXPECT, v);
        op->budget_given = true;
    } else if (which == 1) {
        if (!parse_range(v, 0, HEADROOM_MAX, &op->pp.headroom))
            die("--headroom \"%s\": expected a whole percentage from 0 to %d", v,
                HEADROOM_MAX);
    } else if (!parse_range(v, 1, POOL_CLASSES_MAX, &op->pp.max_classes)) {
        die("--max-classes \"%s\": expected a number from 1 to %d", v, POOL_CLASSES_MAX);
    }
}

/* The options into *op; returns the index of the first file. Exits on
 * --help and on any error. */
static int parse_options(int argc, char **argv, struct options *op)
{
    static const char *const names[] = {"--budget", "--headroom", "--max-classes"};
    int i = 1;
    for (; i < argc; i++) {
        const char *o = argv[i], *v = NULL;
        if (strcmp(o, "--") == 0)
            return i + 1;
        if (o[0] != '-' || strcmp(o, "-") == 0)
            break;
        tool_help(o, usage);
        if (strcmp(o, "--version") == 0) {
            puts(PROG " " POOL_VERSION_STRING);
            exit(0);
        }
        if (strcmp(o, "--json") == 0) {
            op->json = true;
            continue;
        }
        unsigned which = 3;
        for (unsigned k = 0; k < 3; k++) {
            size_t len = strlen(names[k]);
            if (strncmp(o, names[k], len) == 0 && (o[len] == '\0' || o[len] == '=')) {
                which = k;
                v = o[len] == '=' ? o + len + 1 : NULL;
            }
        }
        if (which == 3)
            die("unknown option %s (see --help)", o);
        if (v == NULL) {
            if (i + 1 >= argc)
                die("%s needs a value (see --help)", o);
            v = argv[++i];
        }
        option_value(op, which, v);
    }
    return i;
}

int main(int argc, char **argv)
{
    struct options op = {{BUDGET_DEFAULT, HEADROOM_DEFAULT, POOL_CLASSES_MAX}, false, false};
    int i = parse_options(argc, argv, &op);
    if (i >= argc)
        die("no profile file given (usage: " PROG " [OPTIONS] FILE...)");
    const char *env = getenv("POOLSHIM_BUDGET");
    if (!op.budget_given && env != NULL && !parse_size(env, &op.pp.budget))
        die("POOLSHIM_BUDGET=\"%s\": " BUDGET_EXPECT, env);

    static struct rec_profile pf;
    struct rec_error err;
    for (; i < argc; i++)
        if (rec_read_path(&pf, argv[i], &err) != 0)
            die("%s", err.msg);

    static struct rec_atom atoms[PROFILE_BUCKETS];
    uint64_t requests;
    int n = rec_atoms(&pf, atoms, &requests);
    if (n < 0)
        die("request counts overflow 64 bits");
    if (n == 0)
        die("no request of 1 MiB or less in the profile: nothing for the pools to serve");
    if ((n = rec_coarsen(atoms, (unsigned)n, REC_ATOMS_MAX)) < 0)
        die("out of memory");

    struct rec_config cf;
    struct rec_totals t;
    if (rec_recommend(atoms, (unsigned)n, &op.pp, 32, &cf) != 0)
        die("out of memory");
    if (cf.served == 0) {
        char h[32];
        uint64_t need = rec_cheapest(atoms, (unsigned)n, &op.pp);
        die("budget %" PRIu64 " bytes too small: the cheapest class that serves any request "
            "needs %" PRIu64 " bytes (%s)", op.pp.budget, need, rec_human(need, h, sizeof h));
    }
    if (rec_totals(atoms, (unsigned)n, &op.pp, &cf, requests, pf.larger, &t) != 0)
        die("out of memory");

    static char line[POOL_CLASSES_MAX * 40];
    rec_classes_line(&cf, line, sizeof line);
    (op.json ? rec_print_json : rec_print_text)(stdout, &pf, &op.pp, &cf, &t, line);
    if (fflush(stdout) != 0 || ferror(stdout))
        die("cannot write the report: %s", strerror(errno));
    return 0;
}
