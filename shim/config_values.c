/* config_values.c - the values of POOLSHIM_* variables that are not the
 * class list: booleans, numbers and sizes with k/M/G suffixes, paths,
 * signals (by number or name), and how sizes and signals print.
 * Plain ASCII, no locale, no allocation (see config_internal.h).
 */
#include "config_internal.h"

#include <limits.h>
#include <signal.h>
#include <string.h>

#define SIGNAL_MAX 64

/* ---- ASCII helpers (no locale) ---- */

bool config_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

char config_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool config_eq_nocase(const char *s, size_t n, const char *w)
{
    size_t i = 0;
    for (; i < n; i++)
        if (w[i] == '\0' || config_lower(s[i]) != w[i])
            return false;
    return w[i] == '\0';
}

void config_rb_size(struct rbuf *b, uint64_t v, unsigned max_shift)
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

int config_parse_num(const char *s, size_t n, const char *suffixes,
                     uint64_t *out)
{
    unsigned shift = 0;
    if (n > 0 && !config_is_digit(s[n - 1])) {
        char c = config_lower(s[n - 1]);
        if (c == '\0' || strchr(suffixes, c) == NULL)
            return NUM_BAD;
        shift = c == 'k' ? 10 : c == 'm' ? 20 : 30;
        n--;
    }
    if (n == 0)
        return NUM_BAD;
    for (size_t i = 0; i < n; i++)
        if (!config_is_digit(s[i]))
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

/* ---- kinds ---- */

int config_parse_bool(bool *out, const char *v, struct rbuf *what)
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
        if (config_eq_nocase(v, n, words[i].word)) {
            *out = words[i].value;
            return 0;
        }
    }
    rb_str(what, "not a boolean");
    return -1;
}

int config_parse_size(uint64_t *out, const char *v, struct rbuf *what)
{
    size_t n = strlen(v);
    uint64_t x = 0;
    if (n == 0) {
        rb_str(what, "empty value");
        return -1;
    }
    switch (config_parse_num(v, n, "kmg", &x)) {
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

int config_parse_path(const char **out, const char *v, struct rbuf *what)
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

/* The signal named s[0..n), with or without "SIG", any case; 0 if none. */
static int signal_named(const char *s, size_t n)
{
    if (n > 3 && config_eq_nocase(s, 3, "sig")) {
        s += 3;
        n -= 3;
    }
    for (size_t i = 0; i < NSIGNAMES; i++) {
        /* signames[] is upper case; compare folded */
        const char *w = signames[i].name;
        size_t j = 0;
        while (j < n && w[j] != '\0' && config_lower(s[j]) == config_lower(w[j]))
            j++;
        if (j == n && w[j] == '\0')
            return signames[i].sig;
    }
    return 0;
}

void config_rb_signal(struct rbuf *b, int sig)
{
    const char *name = signame(sig);
    if (name != NULL) {
        rb_str(b, "SIG");
        rb_str(b, name);
    } else {
        rb_u64(b, (uint64_t)sig);
    }
}

int config_parse_signal(int *out, const char *v, struct rbuf *what)
{
    size_t n = strlen(v);
    uint64_t num = 0;
    int sig = 0;
    if (n == 0) {
        rb_str(what, "empty value");
        return -1;
    }
    if (config_is_digit(v[0])) {
        int r = config_parse_num(v, n, "", &num);
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
        sig = signal_named(v, n);
        if (sig == 0) {
            rb_str(what, "unknown signal name ");
            rb_quoted(what, v, n, SHOW_TOKEN);
            return -1;
        }
    }
    if (sig == SIGKILL || sig == SIGSTOP) {
        config_rb_signal(what, sig);
        rb_str(what, " cannot be caught");
        return -1;
    }
    if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
        sig == SIGABRT) {
        config_rb_signal(what, sig);
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

int config_parse_choice(int *out, const char *const *words, const char *v,
                        struct rbuf *what)
{
    size_t n = strlen(v);
    if (n == 0) {
        rb_str(what, "empty value");
        return -1;
    }
    for (int i = 0; words[i] != NULL; i++) {
        if (config_eq_nocase(v, n, words[i])) {
            *out = i;
            return 0;
        }
    }
    rb_str(what, "unknown value");
    return -1;
}

const char *config_empty_item(const char *v, const char *p, const char *end)
{
    return p == v ? "empty item (leading comma)"
           : *end == '\0' ? "empty item (trailing comma)"
                          : "empty item (two commas in a row)";
}

int config_parse_names(const char **out, const char *v, struct rbuf *what)
{
    if (*v == '\0') {
        rb_str(what, "empty value");
        return -1;
    }
    for (const char *p = v;;) {
        const char *end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        size_t n = (size_t)(end - p);
        if (n == 0) {
            rb_str(what, config_empty_item(v, p, end));
            return -1;
        }
        if (memchr(p, '/', n) != NULL || n > NAME_MAX) {
            rb_str(what, n > NAME_MAX ? "name too long " : "a path, not a name: ");
            rb_quoted(what, p, n, SHOW_TOKEN);
            return -1;
        }
        if (*end == '\0')
            break;
        p = end + 1;
    }
    *out = v;
    return 0;
}
