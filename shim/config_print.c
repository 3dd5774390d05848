/* config_print.c - the effective configuration, one line per variable in
 * table order, in a form the parser accepts (POOLSHIM_VERBOSE=1).
 * No allocation, no stdio (see config_internal.h).
 */
#include "config_internal.h"
#include "pool/version.h"

#include <string.h>

static bool is_default(const struct shim_config *cfg, const struct opt *o)
{
    const void *f = opt_cfield(cfg, o);
    switch (o->kind) {
    case OPT_CLASSES:
        return !cfg->classes_set;
    case OPT_BOOL:
        return *(const bool *)f == (o->def != 0);
    case OPT_SIZE:
        return *(const uint64_t *)f == o->def;
    case OPT_SIGNAL:
    case OPT_CHOICE:
        return *(const int *)f == (int)o->def;
    case OPT_PATH:
    case OPT_NAMES:
        return *(const char *const *)f == NULL;
    }
    return false;
}

void shim_config_rb_classes(struct rbuf *b, const struct shim_config *cfg)
{
    for (unsigned k = 0; k < config_nclasses(cfg); k++) {
        if (k > 0)
            rb_char(b, ',');
        config_rb_size(b, cfg->classes[k].size, 20);
        rb_char(b, ':');
        rb_u64(b, cfg->classes[k].count);
    }
}

/* "=VALUE" of option o, or " (unset)" for an unset path or signal. */
static void rb_value(struct rbuf *b, const struct shim_config *cfg,
                     const struct opt *o)
{
    const void *f = opt_cfield(cfg, o);
    switch (o->kind) {
    case OPT_CLASSES:
        rb_char(b, '=');
        if (config_nclasses(cfg) == 0)
            rb_str(b, "none");
        shim_config_rb_classes(b, cfg);
        return;
    case OPT_BOOL:
        rb_str(b, *(const bool *)f ? "=1" : "=0");
        return;
    case OPT_SIZE:
        rb_char(b, '=');
        config_rb_size(b, *(const uint64_t *)f, 30);
        return;
    case OPT_SIGNAL:
        if (*(const int *)f == 0) {
            rb_str(b, " (unset)");
            return;
        }
        rb_char(b, '=');
        config_rb_signal(b, *(const int *)f);
        return;
    case OPT_CHOICE:
        rb_char(b, '=');
        rb_str(b, o->words[*(const int *)f]);
        return;
    case OPT_PATH:
    case OPT_NAMES: {
        const char *s = *(const char *const *)f;
        if (s == NULL) {
            rb_str(b, " (unset)");
            return;
        }
        rb_char(b, '=');
        rb_esc(b, s, strlen(s), 512);
        return;
    }
    }
}

void shim_config_print(const struct shim_config *cfg, int fd)
{
    struct rbuf b;
    b.len = 0;
    rb_str(&b, "poolshim: version " POOL_VERSION_STRING ", ");
    rb_u64(&b, config_nclasses(cfg));
    rb_str(&b, config_nclasses(cfg) == 1 ? " class, " : " classes, ");
    rb_u64(&b, shim_config_bytes(cfg));
    rb_str(&b, " bytes of objects\n");
    rb_flush(&b, fd);

    for (size_t i = 0; i < config_nopts; i++) {
        const struct opt *o = &config_opts[i];
        rb_str(&b, "poolshim: ");
        rb_str(&b, o->name);
        rb_value(&b, cfg, o);
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
