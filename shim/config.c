/* config.c - the POOLSHIM_* option table and shim_config_parse().
 * See config.h for the contracts, config_internal.h for the other files of
 * the parser (values, classes, messages, printer).
 *
 * Runs inside the host's first malloc: no allocation, no stdio, no getenv.
 */
#include "config_internal.h"

#include <string.h>

static const char *const on_error_words[] = {
    [SHIM_ON_ERROR_OFF] = "off", [SHIM_ON_ERROR_ABORT] = "abort", NULL,
};

/* One entry per variable: parsing, defaults, printing and the message for
 * an unknown POOLSHIM_ name all come from this table. */
#define OPT(name, kind, field, def, help)                                      \
    {name, kind, offsetof(struct shim_config, field), def, help, NULL}
#define CHOICE(name, field, def, words, help)                                  \
    {name, OPT_CHOICE, offsetof(struct shim_config, field), def, help, words}
const struct opt config_opts[] = {
    OPT("POOLSHIM_CLASSES", OPT_CLASSES, classes, 0,
        "pool classes, SIZE:COUNT (a request goes to the smallest SIZE >= it), or none"),
    OPT("POOLSHIM_STRICT", OPT_BOOL, strict, 0,
        "NULL and ENOMEM when a class is empty, instead of the system allocator"),
    OPT("POOLSHIM_STATS", OPT_BOOL, stats, 0,
        "per-class statistics on stderr at exit"),
    OPT("POOLSHIM_PREFAULT", OPT_BOOL, prefault, 1,
        "fault the pools' pages in at start-up"),
    OPT("POOLSHIM_MLOCK", OPT_BOOL, mlock, 0,
        "lock the pools in memory (a failure is reported, not fatal)"),
    OPT("POOLSHIM_HUGEPAGES", OPT_BOOL, hugepages, 0,
        "2 MiB pages for the pools: reserved hugetlb pages, else transparent ones"),
    OPT("POOLSHIM_CHECK", OPT_BOOL, check, 0,
        "checked mode: detect double and invalid frees, poison freed objects"),
    OPT("POOLSHIM_CACHE", OPT_BOOL, cache, 1,
        "per-thread caches of free objects"),
    OPT("POOLSHIM_VERBOSE", OPT_BOOL, verbose, 0,
        "print the effective configuration at start-up"),
    OPT("POOLSHIM_STATS_FILE", OPT_PATH, stats_file, 0,
        "write the statistics as JSON to this file at exit"),
    OPT("POOLSHIM_STATS_SIGNAL", OPT_SIGNAL, stats_signal, 0,
        "also write the statistics file when this signal arrives"),
    OPT("POOLSHIM_PROFILE", OPT_PATH, profile, 0,
        "record request sizes (on the system allocator) into this file"),
    OPT("POOLSHIM_BUDGET", OPT_SIZE, budget, UINT64_C(64) << 20,
        "memory budget of the classes a profile recommends"),
    CHOICE("POOLSHIM_ON_ERROR", on_error, SHIM_ON_ERROR_OFF, on_error_words,
           "after a configuration or start-up error: off, or abort (exit 78)"),
    OPT("POOLSHIM_CHILDREN", OPT_BOOL, children, 1,
        "exec'd children inherit the shim (0: removed from their environment)"),
    OPT("POOLSHIM_ONLY", OPT_NAMES, only, 0,
        "the shim is on only in processes of these executable names"),
    OPT("POOLSHIM_LATENCY", OPT_PATH, latency, 0,
        "time every allocator call, histograms into this file (%p: the pid)"),
    OPT("POOLSHIM_LIVE", OPT_BOOL, live, 1,
        "live figures in a file that poolshim stat PID reads"),
    OPT("POOLSHIM_WARN", OPT_BOOL, warn, 0,
        "one line on stderr the first time each class runs dry"),
};
#define NOPTS (sizeof config_opts / sizeof config_opts[0])
const size_t config_nopts = NOPTS;
_Static_assert(NOPTS <= CONFIG_NOPTS_MAX, "seen variables are 32 bits");

static const char outcome_off[] =
    "poolshim is off, the program runs on the system allocator";
static const char outcome_abort[] =
    "poolshim stops the program with exit status 78 (POOLSHIM_ON_ERROR=abort)";
_Static_assert(SHIM_EXIT_CONFIG == 78, "outcome_abort names the status");

void shim_config_defaults(struct shim_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &config_opts[i];
        void *f = opt_field(cfg, o);
        switch (o->kind) {
        case OPT_CLASSES:
            config_default_classes(cfg);
            break;
        case OPT_BOOL:
            *(bool *)f = o->def != 0;
            break;
        case OPT_SIZE:
            *(uint64_t *)f = o->def;
            break;
        case OPT_SIGNAL:
        case OPT_CHOICE:
            *(int *)f = (int)o->def;
            break;
        case OPT_PATH:
        case OPT_NAMES:
            *(const char **)f = NULL;
            break;
        }
    }
    cfg->classes_set = false;
}

static const struct opt *find_opt(const char *name, size_t n)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strncmp(config_opts[i].name, name, n) == 0 &&
            config_opts[i].name[n] == '\0')
            return &config_opts[i];
    return NULL;
}

static int parse_value(struct shim_config *cfg, const struct opt *o,
                       const char *v, struct rbuf *what)
{
    void *f = opt_field(cfg, o);
    switch (o->kind) {
    case OPT_CLASSES:
        return config_parse_classes(cfg, v, what);
    case OPT_BOOL:
        return config_parse_bool(f, v, what);
    case OPT_SIZE:
        return config_parse_size(f, v, what);
    case OPT_SIGNAL:
        return config_parse_signal(f, v, what);
    case OPT_PATH:
        return config_parse_path(f, v, what);
    case OPT_CHOICE:
        return config_parse_choice(f, o->words, v, what);
    case OPT_NAMES:
        return config_parse_names(f, v, what);
    }
    return -1;
}

const char *shim_env_value(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = envp; envp != NULL && *e != NULL; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

int shim_config_parse_one(struct shim_config *cfg, char *const *envp,
                          const char *name)
{
    const struct opt *o = find_opt(name, strlen(name));
    if (o == NULL)
        return -1;
    const char *v = shim_env_value(envp, name);
    if (v == NULL)
        return 0;
    struct shim_config next = *cfg;
    struct rbuf what = {0};
    if (parse_value(&next, o, v, &what) != 0)
        return -1;
    *cfg = next;
    return 1;
}

const char *shim_config_outcome(char *const *envp, bool *abort_out)
{
    struct shim_config c;
    c.on_error = SHIM_ON_ERROR_OFF;
    /* a malformed value fails closed: whoever set it did not mean off */
    bool abort = shim_config_parse_one(&c, envp, "POOLSHIM_ON_ERROR") < 0 ||
                 c.on_error == SHIM_ON_ERROR_ABORT;
    if (abort_out != NULL)
        *abort_out = abort;
    return abort ? outcome_abort : outcome_off;
}

int shim_config_parse(struct shim_config *cfg, char *const *envp, int err_fd)
{
    struct shim_config next = *cfg;
    struct rbuf b;
    uint32_t seen = 0;
    bool bad = false;

    if (envp == NULL)
        return 0;
    const char *outcome = shim_config_outcome(envp, NULL);
    for (char *const *e = envp; *e != NULL; e++) {
        const char *entry = *e;
        if (strncmp(entry, CONFIG_PREFIX, CONFIG_PREFIX_LEN) != 0)
            continue;
        const char *eq = strchr(entry, '=');
        if (eq == NULL)
            continue;
        size_t nlen = (size_t)(eq - entry);
        const char *value = eq + 1;
        const struct opt *o = find_opt(entry, nlen);
        if (o == NULL) {
            config_report_unknown(&b, err_fd, entry, nlen, value, outcome);
            bad = true;
            continue;
        }
        uint32_t bit = UINT32_C(1) << (o - config_opts);
        if (seen & bit)
            continue; /* getenv would not see it either */
        seen |= bit;
        config_msg_begin(&b, entry, nlen, value);
        if (parse_value(&next, o, value, &b) != 0) {
            config_msg_fail(&b, o, outcome, err_fd);
            bad = true;
        }
    }
    if (bad)
        return -1;
    *cfg = next;
    return 0;
}
