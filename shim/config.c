/* config.c - POOLSHIM_* variables: one table, a strict parser, a printer.
 * See config.h for the contracts.
 *
 * Runs inside the host's first malloc: no allocation, no stdio, no getenv,
 * no locale-dependent function (strtoul, strcasecmp and tolower are avoided;
 * the digit loops and case folding below are plain ASCII). Messages are
 * built in a struct rbuf (pool/report.h) on the stack and written with one
 * write(2).
 */
#include "config.h"

#include <signal.h>
#include <stddef.h>
#include <string.h>

#include "pool/report.h"

#define PREFIX "POOLSHIM_"
#define PREFIX_LEN (sizeof PREFIX - 1)

#define STRIDE(size) (((uint64_t)(size) + 15) & ~(uint64_t)15)
#define COUNT_MAX (UINT64_C(0xffffffff) - 1) /* 2^32 - 2 objects per class */
#define SIGNAL_MAX 64

/* Longest renderings of user text inside a message, in output characters
 * (escapes included): a message line then always fits in a struct rbuf. */
#define SHOW_NAME 64
#define SHOW_VALUE 200
#define SHOW_TOKEN 64

/* The embedded class set, used when POOLSHIM_CLASSES is unset: the small
 * sizes that most programs allocate most often. Each power-of-two class holds
 * 128 KiB of objects and each class between two of them 96 KiB:
 *   9 * 131072 + 4 * 98304 = 1572864 bytes (1.5 MiB) of objects.
 * Same as POOLSHIM_CLASSES=16:8192,32:4096,48:2048,64:2048,96:1024,128:1024,
 *   192:512,256:512,384:256,512:256,1k:128,2k:64,4k:32 */
static const struct pool_class_spec default_classes[] = {
    {16, 8192}, {32, 4096}, {48, 2048}, {64, 2048}, {96, 1024},
    {128, 1024}, {192, 512}, {256, 512}, {384, 256}, {512, 256},
    {1024, 128}, {2048, 64}, {4096, 32},
};
#define NDEFAULT (sizeof default_classes / sizeof default_classes[0])
_Static_assert(NDEFAULT <= POOL_CLASSES_MAX, "default class set too large");

/* ---- the table ---- */

enum opt_kind { OPT_CLASSES, OPT_BOOL, OPT_SIZE, OPT_SIGNAL, OPT_PATH };

/* What a value of each kind must look like: the "(expected ...)" part of a
 * message. */
static const char *const kind_expect[] = {
    [OPT_CLASSES] = "SIZE[k]:COUNT pairs separated by commas, "
                    "e.g. 64:1024,256:512,4k:64",
    [OPT_BOOL] = "0, 1, true, false, yes, no, on or off",
    [OPT_SIZE] = "a size in bytes above 0 with an optional k, M or G suffix, "
                 "e.g. 64M",
    [OPT_SIGNAL] = "a signal number from 1 to 64, or a name such as USR1, "
                   "USR2, HUP, INT, TERM, QUIT or WINCH",
    [OPT_PATH] = "a file path",
};

struct opt {
    const char *name;
    enum opt_kind kind;
    size_t offset;      /* of the field in struct shim_config */
    uint64_t def;       /* BOOL, SIZE, SIGNAL; CLASSES: default_classes;
                           PATH: NULL */
    const char *help;
};

#define FIELD(f) offsetof(struct shim_config, f)
static const struct opt opts[] = {
    {"POOLSHIM_CLASSES", OPT_CLASSES, FIELD(classes), 0,
     "pool classes, SIZE:COUNT (a request goes to the smallest SIZE >= it)"},
    {"POOLSHIM_STRICT", OPT_BOOL, FIELD(strict), 0,
     "NULL and ENOMEM when a class is empty, instead of the system allocator"},
    {"POOLSHIM_STATS", OPT_BOOL, FIELD(stats), 0,
     "per-class statistics on stderr at exit"},
    {"POOLSHIM_PREFAULT", OPT_BOOL, FIELD(prefault), 1,
     "fault the pools' pages in at start-up"},
    {"POOLSHIM_MLOCK", OPT_BOOL, FIELD(mlock), 0,
     "lock the pools in memory (a failure is reported, not fatal)"},
    {"POOLSHIM_CHECK", OPT_BOOL, FIELD(check), 0,
     "checked mode: detect double and invalid frees, poison freed objects"},
    {"POOLSHIM_CACHE", OPT_BOOL, FIELD(cache), 1,
     "per-thread caches of free objects"},
    {"POOLSHIM_VERBOSE", OPT_BOOL, FIELD(verbose), 0,
     "print the effective configuration at start-up"},
    {"POOLSHIM_STATS_FILE", OPT_PATH, FIELD(stats_file), 0,
     "write the statistics as JSON to this file at exit"},
    {"POOLSHIM_STATS_SIGNAL", OPT_SIGNAL, FIELD(stats_signal), 0,
     "also write the statistics file when this signal arrives"},
    {"POOLSHIM_PROFILE", OPT_PATH, FIELD(profile), 0,
     "record request sizes (on the system allocator) into this file"},
    {"POOLSHIM_BUDGET", OPT_SIZE, FIELD(budget), UINT64_C(64) << 20,
     "memory budget of the classes a profile recommends"},
};
#define NOPTS (sizeof opts / sizeof opts[0])
_Static_assert(NOPTS <= 32, "the parser tracks seen variables in 32 bits");

static bool *field_bool(struct shim_config *c, const struct opt *o)
{
    return (bool *)((char *)c + o->offset);
}

static bool field_bool_get(const struct shim_config *c, const struct opt *o)
{
    return *(const bool *)((const char *)c + o->offset);
}

static uint64_t *field_u64(struct shim_config *c, const struct opt *o)
{
    return (uint64_t *)((char *)c + o->offset);
}

static uint64_t field_u64_get(const struct shim_config *c, const struct opt *o)
{
    return *(const uint64_t *)((const char *)c + o->offset);
}

static int *field_int(struct shim_config *c, const struct opt *o)
{
    return (int *)((char *)c + o->offset);
}

static int field_int_get(const struct shim_config *c, const struct opt *o)
{
    return *(const int *)((const char *)c + o->offset);
}

static const char **field_str(struct shim_config *c, const struct opt *o)
{
    return (const char **)((char *)c + o->offset);
}

static const char *field_str_get(const struct shim_config *c,
                                 const struct opt *o)
{
    return *(const char *const *)((const char *)c + o->offset);
}

void shim_config_defaults(struct shim_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        switch (o->kind) {
        case OPT_CLASSES:
            memcpy(cfg->classes, default_classes, sizeof default_classes);
            cfg->nclasses = NDEFAULT;
            break;
        case OPT_BOOL:
            *field_bool(cfg, o) = o->def != 0;
            break;
        case OPT_SIZE:
            *field_u64(cfg, o) = o->def;
            break;
        case OPT_SIGNAL:
            *field_int(cfg, o) = (int)o->def;
            break;
        case OPT_PATH:
            *field_str(cfg, o) = NULL;
            break;
        }
    }
    cfg->classes_set = false;
}

/* ---- ASCII helpers (no locale) ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* s[0..n) equals the lower-case word w, ignoring ASCII case. */
static bool eq_nocase(const char *s, size_t n, const char *w)
{
    size_t i = 0;
    for (; i < n; i++)
        if (w[i] == '\0' || lower(s[i]) != w[i])
            return false;
    return w[i] == '\0';
}

/* v with the largest exact binary suffix among those allowed ("k", "kM",
 * "kMG"): 4096 -> 4k, 1048576 -> 1M, 1000 -> 1000. */
static void rb_size(struct rbuf *b, uint64_t v, unsigned max_shift)
{
    static const char suffix[] = {'k', 'M', 'G'};
    for (unsigned shift = max_shift; shift >= 10; shift -= 10) {
        uint64_t unit = UINT64_C(1) << shift;
        if (v != 0 && v % unit == 0) {
            rb_u64(b, v / unit);
            rb_char(b, suffix[shift / 10 - 1]);
            return;
        }
    }
    rb_u64(b, v);
}

/* ---- numbers ---- */

enum { NUM_OK, NUM_BAD, NUM_BIG };

/* Parse s[0..n): one or more decimal digits, then at most one suffix letter
 * from `suffixes` (lower case; either case is accepted): k = 2^10, m = 2^20,
 * g = 2^30. NUM_BAD when anything else is there, NUM_BIG when the value
 * overflows 64 bits. */
static int parse_num(const char *s, size_t n, const char *suffixes,
                     uint64_t *out)
{
    unsigned shift = 0;
    if (n > 0 && !is_digit(s[n - 1])) {
        char c = lower(s[n - 1]);
        if (c == '\0' || strchr(suffixes, c) == NULL)
            return NUM_BAD;
        shift = c == 'k' ? 10 : c == 'm' ? 20 : 30;
        n--;
    }
    if (n == 0)
        return NUM_BAD;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return NUM_BAD;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return NUM_BIG;
        v = v * 10 + d;
    }
    if (v > (UINT64_MAX >> shift))
        return NUM_BIG;
    *out = v << shift;
    return NUM_OK;
}

/* ---- kinds: each parses a whole value into *cfg, or appends what is
 * wrong to *what and returns -1 ---- */

static int parse_bool(bool *out, const char *v, struct rbuf *what)
{
    static const struct {
        const char *word;
        bool value;
    } words[] = {
        {"0", false}, {"1", true}, {"false", false}, {"true", true},
        {"no", false}, {"yes", true}, {"off", false}, {"on", true},
    };
    size_t n = strlen(v);
    if (n == 0) {
        rb_str(what, "empty value");
        return -1;
    }
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (eq_nocase(v, n, words[i].word)) {
            *out = words[i].value;
            return 0;
        }
    }
    rb_str(what, "not a boolean");
    return -1;
}

static int parse_size(uint64_t *out, const char *v, struct rbuf *what)
{
    size_t n = strlen(v);
    uint64_t x = 0;
    if (n == 0) {
        rb_str(what, "empty value");
        return -1;
    }
    switch (parse_num(v, n, "kmg", &x)) {
    case NUM_BAD:
        rb_str(what, "bad size ");
        rb_quoted(what, v, n, SHOW_TOKEN);
        return -1;
    case NUM_BIG:
        rb_str(what, "size ");
        rb_quoted(what, v, n, SHOW_TOKEN);
        rb_str(what, " too large (at most 2^64 - 1 bytes)");
        return -1;
    }
    if (x == 0) {
        rb_str(what, "zero size");
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_path(const char **out, const char *v, struct rbuf *what)
{
    if (*v == '\0') {
        rb_str(what, "empty value");
        return -1;
    }
    *out = v;
    return 0;
}

static const struct {
    const char *name; /* without "SIG" */
    int sig;
} signames[] = {
    {"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP}, {"ABRT", SIGABRT}, {"BUS", SIGBUS}, {"FPE", SIGFPE},
    {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},
    {"TERM", SIGTERM}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},
    {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU}, {"URG", SIGURG}, {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH}, {"IO", SIGIO}, {"SYS", SIGSYS},
#ifdef SIGPWR
    {"PWR", SIGPWR},
#endif
#ifdef SIGSTKFLT
    {"STKFLT", SIGSTKFLT},
#endif
    {"IOT", SIGABRT}, {"POLL", SIGIO},
};
#define NSIGNAMES (sizeof signames / sizeof signames[0])

static const char *signame(int sig)
{
    for (size_t i = 0; i < NSIGNAMES; i++)
        if (signames[i].sig == sig)
            return signames[i].name;
    return NULL;
}

static void rb_signal(struct rbuf *b, int sig)
{
    const char *name = signame(sig);
    if (name != NULL) {
        rb_str(b, "SIG");
        rb_str(b, name);
    } else {
        rb_u64(b, (uint64_t)sig);
    }
}

static int parse_signal(int *out, const char *v, struct rbuf *what)
{
    size_t n = strlen(v);
    uint64_t num = 0;
    int sig = 0;
    if (n == 0) {
        rb_str(what, "empty value");
        return -1;
    }
    if (is_digit(v[0])) {
        int r = parse_num(v, n, "", &num);
        if (r == NUM_BAD) {
            rb_str(what, "bad signal number ");
            rb_quoted(what, v, n, SHOW_TOKEN);
            return -1;
        }
        if (r == NUM_BIG || num < 1 || num > SIGNAL_MAX) {
            rb_str(what, "signal number ");
            rb_quoted(what, v, n, SHOW_TOKEN);
            rb_str(what, " out of range");
            return -1;
        }
        sig = (int)num;
    } else {
        const char *s = v;
        size_t k = n;
        if (k > 3 && eq_nocase(s, 3, "sig")) {
            s += 3;
            k -= 3;
        }
        for (size_t i = 0; i < NSIGNAMES && sig == 0; i++) {
            /* signames[] is upper case; compare folded */
            const char *w = signames[i].name;
            size_t j = 0;
            while (j < k && w[j] != '\0' && lower(s[j]) == lower(w[j]))
                j++;
            if (j == k && w[j] == '\0')
                sig = signames[i].sig;
        }
        if (sig == 0) {
            rb_str(what, "unknown signal name ");
            rb_quoted(what, v, n, SHOW_TOKEN);
            return -1;
        }
    }
    if (sig == SIGKILL || sig == SIGSTOP) {
        rb_signal(what, sig);
        rb_str(what, " cannot be caught");
        return -1;
    }
    if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
        sig == SIGABRT) {
        rb_signal(what, sig);
        rb_str(what, " reports program faults and aborts");
        return -1;
    }
    /* Between the classic signals and SIGRTMIN: kept by the C library for
     * its threads (32 and 33 on glibc). */
    if (sig > 31 && sig < SIGRTMIN) {
        rb_str(what, "signal ");
        rb_u64(what, (uint64_t)sig);
        rb_str(what, " is reserved by the C library");
        return -1;
    }
    *out = sig;
    return 0;
}

/* POOLSHIM_CLASSES. item[i] is the text that gave spec[i], both sorted by
 * size, for messages that name two items. */
struct item {
    const char *s;
    size_t n;
};

static void rb_item(struct rbuf *b, const struct item *it)
{
    rb_quoted(b, it->s, it->n, SHOW_TOKEN);
}

/* The two fields of a class item, parsed and told about alike. */
struct class_field {
    const char *name;
    const char *suffixes; /* the units parse_num() accepts */
    uint64_t max;
    unsigned max_shift;   /* the limit in messages: rb_size(max, max_shift) */
};

static const struct class_field class_size = {"size", "km", POOL_CLASS_SIZE_MAX, 20};
static const struct class_field class_count = {"count", "k", COUNT_MAX, 0};

/* Field f of an item from t[0..n) (n == 0: it is missing) into *out, from 1
 * to f->max. On failure what says why, to be followed by " in " and the item:
 * "missing count", "bad size \"x\"", "zero count \"0\"",
 * "size \"2m\" too large (at most 1M)". */
static int parse_class_field(uint64_t *out, const struct class_field *f,
                             const char *t, size_t n, struct rbuf *what)
{
    uint64_t x = 0;
    if (n == 0) {
        rb_str(what, "missing ");
        rb_str(what, f->name);
        return -1;
    }
    switch (parse_num(t, n, f->suffixes, &x)) {
    case NUM_BAD:
        rb_str(what, "bad ");
        rb_str(what, f->name);
        rb_char(what, ' ');
        rb_quoted(what, t, n, SHOW_TOKEN);
        return -1;
    case NUM_BIG:
        x = UINT64_MAX;
        break;
    }
    if (x == 0) {
        rb_str(what, "zero ");
        rb_str(what, f->name);
        rb_char(what, ' ');
        rb_quoted(what, t, n, SHOW_TOKEN);
        return -1;
    }
    if (x > f->max) {
        rb_str(what, f->name);
        rb_char(what, ' ');
        rb_quoted(what, t, n, SHOW_TOKEN);
        rb_str(what, " too large (at most ");
        rb_size(what, f->max, f->max_shift);
        rb_char(what, ')');
        return -1;
    }
    *out = x;
    return 0;
}

/* One "SIZE:COUNT" item, s[0..n) with n > 0, into *out. Every message ends
 * " in " and the item. */
static int parse_class(struct pool_class_spec *out, const char *s, size_t n,
                       struct rbuf *what)
{
    const struct item it = {s, n};
    const char *colon = memchr(s, ':', n);
    size_t sn = colon != NULL ? (size_t)(colon - s) : n;
    const char *c = colon != NULL ? colon + 1 : s + n; /* no colon: no count */
    uint64_t size = 0, count = 0, bytes;

    if (parse_class_field(&size, &class_size, s, sn, what) != 0 ||
        parse_class_field(&count, &class_count, c, (size_t)(s + n - c), what) != 0)
        goto fail;
    /* stride <= 2^20 and count < 2^32: the product fits in 64 bits */
    bytes = STRIDE(size) * count;
    if (bytes > POOL_CLASS_BYTES_MAX) {
        rb_str(what, "class too large: ");
        rb_u64(what, count);
        rb_str(what, " objects * ");
        rb_u64(what, STRIDE(size));
        rb_str(what, " bytes = ");
        rb_u64(what, bytes);
        rb_str(what, " bytes (at most ");
        rb_u64(what, POOL_CLASS_BYTES_MAX);
        rb_char(what, ')');
        goto fail;
    }
    out->size = (size_t)size;
    out->count = (size_t)count;
    return 0;
fail:
    rb_str(what, " in ");
    rb_item(what, &it);
    return -1;
}

static int parse_classes(struct shim_config *cfg, const char *v,
                         struct rbuf *what)
{
    struct pool_class_spec spec[POOL_CLASSES_MAX];
    struct item items[POOL_CLASSES_MAX];
    unsigned n = 0;

    if (*v == '\0') {
        rb_str(what, "empty value");
        return -1;
    }
    for (const char *p = v;;) {
        const char *end = p;
        while (*end != '\0' && *end != ',')
            end++;
        const struct item it = {p, (size_t)(end - p)};
        if (it.n == 0) {
            rb_str(what, p == v ? "empty item (leading comma)"
                         : *end == '\0' ? "empty item (trailing comma)"
                                        : "empty item (two commas in a row)");
            return -1;
        }
        if (n == POOL_CLASSES_MAX) {
            rb_str(what, "too many classes (at most ");
            rb_u64(what, POOL_CLASSES_MAX);
            rb_str(what, ") at ");
            rb_item(what, &it);
            return -1;
        }
        struct pool_class_spec cs;
        if (parse_class(&cs, it.s, it.n, what) != 0)
            return -1;

        /* Insert in size order; strides of spec[] strictly increase, so
         * only the neighbours can share the new class's stride. */
        unsigned pos = n;
        while (pos > 0 && spec[pos - 1].size >= cs.size)
            pos--;
        if (pos < n && spec[pos].size == cs.size) {
            rb_str(what, "duplicate size ");
            rb_u64(what, cs.size);
            rb_str(what, " in ");
            rb_item(what, &items[pos]);
            rb_str(what, " and ");
            rb_item(what, &it);
            return -1;
        }
        const struct item *other = NULL;
        if (pos > 0 && STRIDE(spec[pos - 1].size) == STRIDE(cs.size))
            other = &items[pos - 1];
        else if (pos < n && STRIDE(spec[pos].size) == STRIDE(cs.size))
            other = &items[pos];
        if (other != NULL) {
            rb_item(what, other);
            rb_str(what, " and ");
            rb_item(what, &it);
            rb_str(what, " share the same ");
            rb_u64(what, STRIDE(cs.size));
            rb_str(what, "-byte slot (sizes round up to a multiple of 16)");
            return -1;
        }
        memmove(&spec[pos + 1], &spec[pos], (n - pos) * sizeof spec[0]);
        memmove(&items[pos + 1], &items[pos], (n - pos) * sizeof items[0]);
        spec[pos] = cs;
        items[pos] = it;
        n++;

        if (*end == '\0')
            break;
        p = end + 1;
    }
    memcpy(cfg->classes, spec, n * sizeof spec[0]);
    cfg->nclasses = n;
    cfg->classes_set = true;
    return 0;
}

/* ---- messages ---- */

static void msg_begin(struct rbuf *b, const char *name, size_t nlen,
                      const char *value)
{
    b->len = 0;
    rb_str(b, "poolshim: ");
    rb_esc(b, name, nlen, SHOW_NAME);
    rb_char(b, '=');
    rb_quoted(b, value, strlen(value), SHOW_VALUE);
    rb_str(b, ": ");
}

/* Appends " (expected "; the caller then appends what was expected. */
static void msg_expect(struct rbuf *b)
{
    rb_str(b, " (expected ");
}

static void msg_end(struct rbuf *b, int fd)
{
    rb_str(b, "); poolshim is off, the program runs on the system allocator\n");
    if (b->len == sizeof b->buf) /* cannot happen with the SHOW_ limits */
        b->buf[b->len - 1] = '\n';
    if (fd >= 0)
        rb_flush(b, fd);
    b->len = 0;
}

/* Levenshtein distance of a[0..na) and b[0..nb), ASCII case ignored;
 * na, nb <= 32. */
static unsigned edit_distance(const char *a, size_t na, const char *b,
                              size_t nb)
{
    unsigned row[33];
    for (size_t j = 0; j <= nb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= na; i++) {
        unsigned diag = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= nb; j++) {
            unsigned up = row[j];
            unsigned best = diag + (lower(a[i - 1]) != lower(b[j - 1]));
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

/* The known variable closest to name[0..n) (which starts with PREFIX), when
 * it is close enough to be a plausible typo; else NULL. */
static const char *closest(const char *name, size_t n)
{
    const char *s = name + PREFIX_LEN;
    size_t k = n - PREFIX_LEN;
    const char *best = NULL;
    unsigned best_d = 3; /* at most 2 edits */
    if (k > 32)
        return NULL;
    for (size_t i = 0; i < NOPTS; i++) {
        const char *w = opts[i].name + PREFIX_LEN;
        size_t wn = strlen(w);
        unsigned d = edit_distance(s, k, w, wn);
        if (d < best_d && 2 * d < wn) {
            best = opts[i].name;
            best_d = d;
        }
    }
    return best;
}

static void report_unknown(struct rbuf *b, int fd, const char *name,
                           size_t nlen, const char *value)
{
    msg_begin(b, name, nlen, value);
    rb_str(b, "unknown variable");
    const char *near = closest(name, nlen);
    if (near != NULL) {
        rb_str(b, ", did you mean ");
        rb_str(b, near);
        rb_char(b, '?');
    }
    msg_expect(b);
    rb_str(b, "one of ");
    for (size_t i = 0; i < NOPTS; i++) {
        if (i > 0)
            rb_str(b, i + 1 < NOPTS ? ", " : " or ");
        rb_str(b, opts[i].name);
    }
    msg_end(b, fd);
}

/* ---- parse ---- */

static const struct opt *find_opt(const char *name, size_t n)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strncmp(opts[i].name, name, n) == 0 && opts[i].name[n] == '\0')
            return &opts[i];
    return NULL;
}

static int parse_value(struct shim_config *cfg, const struct opt *o,
                       const char *v, struct rbuf *what)
{
    switch (o->kind) {
    case OPT_CLASSES:
        return parse_classes(cfg, v, what);
    case OPT_BOOL:
        return parse_bool(field_bool(cfg, o), v, what);
    case OPT_SIZE:
        return parse_size(field_u64(cfg, o), v, what);
    case OPT_SIGNAL:
        return parse_signal(field_int(cfg, o), v, what);
    case OPT_PATH:
        return parse_path(field_str(cfg, o), v, what);
    }
    return -1;
}

int shim_config_parse(struct shim_config *cfg, char *const *envp, int err_fd)
{
    struct shim_config next = *cfg;
    struct rbuf b;
    uint32_t seen = 0;
    bool bad = false;

    if (envp == NULL)
        return 0;
    for (char *const *e = envp; *e != NULL; e++) {
        const char *entry = *e;
        if (strncmp(entry, PREFIX, PREFIX_LEN) != 0)
            continue;
        const char *eq = strchr(entry, '=');
        if (eq == NULL)
            continue;
        size_t nlen = (size_t)(eq - entry);
        const char *value = eq + 1;
        const struct opt *o = find_opt(entry, nlen);
        if (o == NULL) {
            report_unknown(&b, err_fd, entry, nlen, value);
            bad = true;
            continue;
        }
        uint32_t bit = UINT32_C(1) << (o - opts);
        if (seen & bit)
            continue; /* getenv would not see it either */
        seen |= bit;
        msg_begin(&b, entry, nlen, value);
        if (parse_value(&next, o, value, &b) != 0) {
            msg_expect(&b);
            rb_str(&b, kind_expect[o->kind]);
            msg_end(&b, err_fd);
            bad = true;
        }
    }
    if (bad)
        return -1;
    *cfg = next;
    return 0;
}

/* ---- print ---- */

static bool is_default(const struct shim_config *cfg, const struct opt *o)
{
    switch (o->kind) {
    case OPT_CLASSES:
        return !cfg->classes_set;
    case OPT_BOOL:
        return field_bool_get(cfg, o) == (o->def != 0);
    case OPT_SIZE:
        return field_u64_get(cfg, o) == o->def;
    case OPT_SIGNAL:
        return field_int_get(cfg, o) == (int)o->def;
    case OPT_PATH:
        return field_str_get(cfg, o) == NULL;
    }
    return false;
}

static unsigned nclasses_of(const struct shim_config *cfg)
{
    return cfg->nclasses <= POOL_CLASSES_MAX ? cfg->nclasses
                                             : POOL_CLASSES_MAX;
}

void shim_config_print(const struct shim_config *cfg, int fd)
{
    struct rbuf b;
    b.len = 0;
    rb_str(&b, "poolshim: ");
    rb_u64(&b, nclasses_of(cfg));
    rb_str(&b, " classes, ");
    rb_u64(&b, shim_config_bytes(cfg));
    rb_str(&b, " bytes of objects\n");
    rb_flush(&b, fd);

    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        rb_str(&b, "poolshim: ");
        rb_str(&b, o->name);
        switch (o->kind) {
        case OPT_CLASSES:
            rb_char(&b, '=');
            for (unsigned k = 0; k < nclasses_of(cfg); k++) {
                if (k > 0)
                    rb_char(&b, ',');
                rb_size(&b, cfg->classes[k].size, 20);
                rb_char(&b, ':');
                rb_u64(&b, cfg->classes[k].count);
            }
            break;
        case OPT_BOOL:
            rb_str(&b, field_bool_get(cfg, o) ? "=1" : "=0");
            break;
        case OPT_SIZE:
            rb_char(&b, '=');
            rb_size(&b, field_u64_get(cfg, o), 30);
            break;
        case OPT_SIGNAL: {
            int sig = field_int_get(cfg, o);
            if (sig == 0) {
                rb_str(&b, " (unset)");
            } else {
                rb_char(&b, '=');
                rb_signal(&b, sig);
            }
            break;
        }
        case OPT_PATH: {
            const char *s = field_str_get(cfg, o);
            if (s == NULL) {
                rb_str(&b, " (unset)");
            } else {
                rb_char(&b, '=');
                rb_esc(&b, s, strlen(s), 512);
            }
            break;
        }
        }
        /* help text from column 42 */
        do
            rb_char(&b, ' ');
        while (b.len < 42);
        rb_str(&b, "# ");
        rb_str(&b, o->help);
        if (is_default(cfg, o))
            rb_str(&b, " [default]");
        if (b.len == sizeof b.buf)
            b.buf[b.len - 1] = '\n';
        else
            rb_char(&b, '\n');
        rb_flush(&b, fd);
    }
}

size_t shim_config_bytes(const struct shim_config *cfg)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < nclasses_of(cfg); i++) {
        const struct pool_class_spec *c = &cfg->classes[i];
        /* range-checked classes cannot overflow; saturate for others */
        if (c->size > POOL_CLASS_SIZE_MAX || c->count > COUNT_MAX)
            return SIZE_MAX;
        total += STRIDE(c->size) * c->count;
    }
    return total > SIZE_MAX ? SIZE_MAX : (size_t)total;
}
