/* config.c - the POOLSHIM_* option table and shim_config_parse().
 * See config.h for the contracts, config_internal.h for the other files of
 * the parser (values, classes, messages, printer).
 *
 * Runs inside the host's first malloc: no allocation, no stdio, no getenv.
 */
#include "config_internal.h"

#include <string.h>

/* One entry per variable: parsing, defaults, printing and the message for
 * an unknown POOLSHIM_ name all come from this table. */
#define FIELD(f) offsetof(struct shim_config, f)
const struct opt config_opts[] = {
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
#define NOPTS (sizeof config_opts / sizeof config_opts[0])
const size_t config_nopts = NOPTS;
_Static_assert(NOPTS <= 32, "the parser tracks seen variables in 32 bits");

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
            *(int *)f = (int)o->def;
            break;
        case OPT_PATH:
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
        if (strncmp(entry, CONFIG_PREFIX, CONFIG_PREFIX_LEN) != 0)
            continue;
        const char *eq = strchr(entry, '=');
        if (eq == NULL)
            continue;
        size_t nlen = (size_t)(eq - entry);
        const char *value = eq + 1;
        const struct opt *o = find_opt(entry, nlen);
        if (o == NULL) {
            config_report_unknown(&b, err_fd, entry, nlen, value);
            bad = true;
            continue;
        }
        uint32_t bit = UINT32_C(1) << (o - config_opts);
        if (seen & bit)
            continue; /* getenv would not see it either */
        seen |= bit;
        config_msg_begin(&b, entry, nlen, value);
        if (parse_value(&next, o, value, &b) != 0) {
            config_msg_fail(&b, o->kind, err_fd);
            bad = true;
        }
    }
    if (bad)
        return -1;
    *cfg = next;
    return 0;
}
