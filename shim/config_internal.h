/* config_internal.h - what the files of the configuration parser share
 * (internal to shim/config*.c; the rest of the shim includes config.h).
 *
 *   config.c          the option table, the defaults, shim_config_parse()
 *   config_values.c   booleans, numbers and sizes (k/M/G), paths, signals
 *   config_classes.c  the class list: the default set, POOLSHIM_CLASSES, its
 *                     validation (the only one in the shim), total bytes
 *   config_hint.c     the message line, and the suggestion for a misspelt
 *                     POOLSHIM_ name
 *   config_print.c    the effective configuration, one line per variable
 *
 * Everything here runs inside the host's first malloc: no allocation, no
 * stdio, no getenv, no locale-dependent function (strtoul, strcasecmp and
 * tolower are avoided; the digit loops and case folding are plain ASCII).
 * Messages are built in a struct rbuf (pool/report.h) on the stack and
 * written with one write(2). Every function is thread-safe as long as no
 * other thread writes the objects it is given.
 */
#ifndef SHIM_CONFIG_INTERNAL_H
#define SHIM_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pool/report.h"
#include "shim/config.h"

#define CONFIG_PREFIX "POOLSHIM_"
#define CONFIG_PREFIX_LEN (sizeof CONFIG_PREFIX - 1)

/* Sizes round up to the pools' granule: the slot an object takes. */
#define CONFIG_STRIDE(size)                                                    \
    (((uint64_t)(size) + POOL_GRANULE - 1) & ~(uint64_t)(POOL_GRANULE - 1))

/* Longest renderings of user text inside a message, in output characters
 * (escapes included): a message line then always fits in a struct rbuf. */
#define SHOW_NAME 64
#define SHOW_VALUE 200
#define SHOW_TOKEN 64

/* ---- config.c: the table ---- */

/* Field types: CLASSES the classes array, BOOL bool, SIZE uint64_t,
 * SIGNAL and CHOICE int, PATH and NAMES const char * (into envp). */
enum opt_kind {
    OPT_CLASSES, OPT_BOOL, OPT_SIZE, OPT_SIGNAL, OPT_PATH, OPT_CHOICE,
    OPT_NAMES,
};

struct opt {
    const char *name;
    enum opt_kind kind;
    size_t offset;      /* of the field in struct shim_config */
    uint64_t def;       /* BOOL, SIZE, SIGNAL, CHOICE; CLASSES: the default
                           set; PATH, NAMES: NULL */
    const char *help;
    const char *const *words; /* CHOICE: value i is words[i]; NULL-ended */
};

#define CONFIG_NOPTS_MAX 32 /* the parser tracks seen variables in 32 bits */
extern const struct opt config_opts[];
extern const size_t config_nopts;

/* The field of *c that option o sets (its type follows o->kind: bool,
 * uint64_t, int, const char *; OPT_CLASSES: the classes array). */
static inline void *opt_field(struct shim_config *c, const struct opt *o)
{
    return (char *)c + o->offset;
}

static inline const void *opt_cfield(const struct shim_config *c,
                                     const struct opt *o)
{
    return (const char *)c + o->offset;
}

/* ---- config_values.c ---- */

bool config_is_digit(char c);
char config_lower(char c);
/* s[0..n) equals the lower-case word w, ignoring ASCII case. */
bool config_eq_nocase(const char *s, size_t n, const char *w);

enum { NUM_OK, NUM_BAD, NUM_BIG };
/* Parse s[0..n): one or more decimal digits, then at most one suffix letter
 * from `suffixes` (lower case; either case is accepted): k = 2^10,
 * m = 2^20, g = 2^30. Returns NUM_OK and sets *out; NUM_BAD when anything
 * else is there, NUM_BIG when the value overflows 64 bits (*out unchanged). */
int config_parse_num(const char *s, size_t n, const char *suffixes,
                     uint64_t *out);

/* v with the largest exact binary suffix among those allowed by max_shift
 * (10: k, 20: k or M, 30: k, M or G): 4096 -> 4k, 1048576 -> 1M,
 * 1000 -> 1000. */
void config_rb_size(struct rbuf *b, uint64_t v, unsigned max_shift);
/* "SIGUSR1" for a named signal, else its number. */
void config_rb_signal(struct rbuf *b, int sig);

/* Each parses a whole value v into *out and returns 0, or appends what is
 * wrong to *what ("empty value", "bad size \"x\"", ...) and returns -1
 * with *out unchanged. */
int config_parse_bool(bool *out, const char *v, struct rbuf *what);
int config_parse_size(uint64_t *out, const char *v, struct rbuf *what);
int config_parse_path(const char **out, const char *v, struct rbuf *what);
/* A catchable signal that does not report faults: 1..64 or a name, with or
 * without "SIG", any case. */
int config_parse_signal(int *out, const char *v, struct rbuf *what);
/* One of the words (lower case, NULL-ended), any case: *out is its index. */
int config_parse_choice(int *out, const char *const *words, const char *v,
                        struct rbuf *what);
/* The message for an empty item of a comma-separated value v, the item
 * starting at p and ending at end (a comma or the terminator). */
const char *config_empty_item(const char *v, const char *p, const char *end);
/* Names separated by single commas, each 1..NAME_MAX bytes without '/'. */
int config_parse_names(const char **out, const char *v, struct rbuf *what);

/* ---- config_classes.c ---- */

/* Put the embedded class set into cfg (classes_set stays as it is). */
void config_default_classes(struct shim_config *cfg);
/* POOLSHIM_CLASSES: parse and validate the whole list v into cfg's classes,
 * sorted by size, and set classes_set; or append what is wrong to *what
 * and return -1, cfg unchanged. */
int config_parse_classes(struct shim_config *cfg, const char *v,
                         struct rbuf *what);
/* cfg->nclasses, clamped to the array's length. */
unsigned config_nclasses(const struct shim_config *cfg);

/* ---- config_hint.c: the message line ----
 *   poolshim: NAME="VALUE": WHAT (expected ...); OUTCOME
 * with OUTCOME from shim_config_outcome(). msg_begin() starts it in *b up
 * to "WHAT"; the caller appends WHAT; msg_fail() appends what option o
 * expects and the outcome, and writes the line to fd (nothing when
 * fd < 0). */
void config_msg_begin(struct rbuf *b, const char *name, size_t nlen,
                      const char *value);
void config_msg_fail(struct rbuf *b, const struct opt *o, const char *outcome,
                     int fd);
/* The line for a POOLSHIM_ name that is not in the table, with the known
 * name it is probably a typo of, and the list of known names. */
void config_report_unknown(struct rbuf *b, int fd, const char *name,
                           size_t nlen, const char *value,
                           const char *outcome);

#endif
