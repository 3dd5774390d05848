/* config_classes.c - the class list: the embedded default set,
 * POOLSHIM_CLASSES parsed and validated (the shim's one validation of a
 * class list: every user-facing message about classes comes from here),
 * and the total bytes a list reserves.
 * Plain ASCII, no locale, no allocation (see config_internal.h).
 */
#include "config_internal.h"

#include <string.h>


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

void config_default_classes(struct shim_config *cfg)
{
    memcpy(cfg->classes, default_classes, sizeof default_classes);
    cfg->nclasses = NDEFAULT;
}

unsigned config_nclasses(const struct shim_config *cfg)
{
    return cfg->nclasses <= POOL_CLASSES_MAX ? cfg->nclasses
                                             : POOL_CLASSES_MAX;
}

/* The text of one item of POOLSHIM_CLASSES, for messages. */
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
    const char *suffixes; /* the units config_parse_num() accepts */
    uint64_t max;
    unsigned max_shift;   /* the limit in messages: rb_size(max, max_shift) */
};

static const struct class_field class_size = {"size", "km",
                                              POOL_CLASS_SIZE_MAX, 20};
static const struct class_field class_count = {"count", "k",
                                               POOL_CLASS_COUNT_MAX, 0};

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
    switch (config_parse_num(t, n, f->suffixes, &x)) {
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
        config_rb_size(what, f->max, f->max_shift);
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
    bytes = CONFIG_STRIDE(size) * count;
    if (bytes > POOL_CLASS_BYTES_MAX) {
        rb_str(what, "class too large: ");
        rb_u64(what, count);
        rb_str(what, " objects * ");
        rb_u64(what, CONFIG_STRIDE(size));
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

/* The list being built: spec[i] came from the text items[i]; both sorted by
 * size, strides strictly increasing: spec[i].stride < spec[i+1].stride. */
struct class_list {
    struct pool_class_spec spec[POOL_CLASSES_MAX];
    struct item items[POOL_CLASSES_MAX];
    unsigned n;
};

/* Insert cs (from the text it) in size order, or say why it clashes with a
 * class already there. Since strides strictly increase, only the two
 * neighbours of its place can share its stride. */
static int insert_class(struct class_list *l, const struct pool_class_spec *cs,
                        const struct item *it, struct rbuf *what)
{
    unsigned pos = l->n;
    while (pos > 0 && l->spec[pos - 1].size >= cs->size)
        pos--;
    if (pos < l->n && l->spec[pos].size == cs->size) {
        rb_str(what, "duplicate size ");
        rb_u64(what, cs->size);
        rb_str(what, " in ");
        rb_item(what, &l->items[pos]);
        rb_str(what, " and ");
        rb_item(what, it);
        return -1;
    }
    uint64_t stride = CONFIG_STRIDE(cs->size);
    const struct item *other = NULL;
    if (pos > 0 && CONFIG_STRIDE(l->spec[pos - 1].size) == stride)
        other = &l->items[pos - 1];
    else if (pos < l->n && CONFIG_STRIDE(l->spec[pos].size) == stride)
        other = &l->items[pos];
    if (other != NULL) {
        rb_item(what, other);
        rb_str(what, " and ");
        rb_item(what, it);
        rb_str(what, " share the same ");
        rb_u64(what, stride);
        rb_str(what, "-byte slot (sizes round up to a multiple of ");
        rb_u64(what, POOL_GRANULE);
        rb_char(what, ')');
        return -1;
    }
    memmove(&l->spec[pos + 1], &l->spec[pos], (l->n - pos) * sizeof l->spec[0]);
    memmove(&l->items[pos + 1], &l->items[pos], (l->n - pos) * sizeof l->items[0]);
    l->spec[pos] = *cs;
    l->items[pos] = *it;
    l->n++;
    return 0;
}

int config_parse_classes(struct shim_config *cfg, const char *v,
                         struct rbuf *what)
{
    struct class_list l;
    l.n = 0;
    if (*v == '\0') {
        rb_str(what, "empty value");
        return -1;
    }
    if (config_eq_nocase(v, strlen(v), "none")) { /* the pools off, on purpose */
        cfg->nclasses = 0;
        cfg->classes_set = true;
        return 0;
    }
    for (const char *p = v;;) {
        const char *end = p;
        while (*end != '\0' && *end != ',')
            end++;
        const struct item it = {p, (size_t)(end - p)};
        if (it.n == 0) {
            rb_str(what, config_empty_item(v, p, end));
            return -1;
        }
        if (l.n == POOL_CLASSES_MAX) {
            rb_str(what, "too many classes (at most ");
            rb_u64(what, POOL_CLASSES_MAX);
            rb_str(what, ") at ");
            rb_item(what, &it);
            return -1;
        }
        struct pool_class_spec cs;
        if (parse_class(&cs, it.s, it.n, what) != 0 ||
            insert_class(&l, &cs, &it, what) != 0)
            return -1;
        if (*end == '\0')
            break;
        p = end + 1;
    }
    memcpy(cfg->classes, l.spec, l.n * sizeof l.spec[0]);
    cfg->nclasses = l.n;
    cfg->classes_set = true;
    return 0;
}

uint64_t shim_config_count_max(size_t size)
{
    uint64_t by_bytes = POOL_CLASS_BYTES_MAX / CONFIG_STRIDE(size);
    return by_bytes < POOL_CLASS_COUNT_MAX ? by_bytes : POOL_CLASS_COUNT_MAX;
}

size_t shim_config_bytes(const struct shim_config *cfg)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < config_nclasses(cfg); i++) {
        const struct pool_class_spec *c = &cfg->classes[i];
        /* range-checked classes cannot overflow; saturate for others */
        if (c->size > POOL_CLASS_SIZE_MAX || c->count > POOL_CLASS_COUNT_MAX)
            return SIZE_MAX;
        total += CONFIG_STRIDE(c->size) * c->count;
    }
    return total > SIZE_MAX ? SIZE_MAX : (size_t)total;
}
