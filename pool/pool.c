/* pool.c - one pool of equal objects; see pool.h.
 *
 * One mapping holds, in order: the objects (page-aligned, `stride` bytes
 * apart), this struct, the depot's next[] links and one state byte per object.
 *
 * Invariant, whenever no get or put is in flight:
 *   depot.free + (objects whose state is 1) == count
 */
#include "pool.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "depot.h"
#include "mem.h"
#include "report.h"

struct pool {
    char *base;         /* object 0; the mapping starts here */
    size_t bytes;       /* count * stride */
    size_t size;        /* bytes each object may use */
    size_t stride;      /* size rounded up to alignof(max_align_t) */
    uint64_t magic;     /* UINT64_MAX / stride + 1: offset / stride by multiply */
    uint32_t count;
    void (*reset)(void *obj, void *arg);
    void *reset_arg;
    _Atomic uint8_t *state; /* 1: handed out, 0: free */
    size_t map_bytes;
    struct depot depot;
};

#define POOL_COUNT_MAX (UINT32_MAX - 1)

static size_t pool_index(const struct pool *p, const void *obj)
{
    uint64_t off = (uint64_t)((const char *)obj - p->base);
    return (size_t)(((unsigned __int128)p->magic * off) >> 64);
}

/* The kind of pointer: 0 for an object start, else why it is not one. */
static const char *pool_misfit(const struct pool *p, const void *ptr)
{
    uintptr_t off = (uintptr_t)ptr - (uintptr_t)p->base;
    if (off >= p->bytes)
        return "is not an object of this pool";
    if ((uint64_t)off * p->magic > p->magic - 1)
        return "points inside an object, not at its start";
    return NULL;
}

_Noreturn static void pool_die(const struct pool *p, const void *ptr,
                               const char *why)
{
    struct rbuf b = {0};
    rb_str(&b, "pool: pool_put(): ");
    rb_hex(&b, (uintptr_t)ptr);
    rb_char(&b, ' ');
    rb_str(&b, why);
    rb_str(&b, " (pool ");
    rb_hex(&b, (uintptr_t)p->base);
    rb_str(&b, ", ");
    rb_u64(&b, p->count);
    rb_str(&b, " objects of ");
    rb_u64(&b, p->size);
    rb_str(&b, " bytes)\n");
    rb_flush(&b, 2);
    abort();
}

struct pool *pool_create(size_t count, size_t size,
                         void (*init)(void *obj, void *arg), void *arg)
{
    const size_t align = alignof(max_align_t);
    if (count == 0 || size == 0 || count > POOL_COUNT_MAX || count > SIZE_MAX / size) {
        errno = EINVAL;
        return NULL;
    }
    /* count * size fits; rounding it up to whole strides and pages may not:
     * that is a request too large to map, as calloc(1, SIZE_MAX) is. */
    if (size > SIZE_MAX - align || count > SIZE_MAX / mem_round_up(size, align)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t stride = mem_round_up(size, align);
    size_t bytes = count * stride;
    size_t page = mem_page_size();
    size_t meta = sizeof(struct pool) + depot_storage((uint32_t)count) + count;
    if (bytes > SIZE_MAX - page - meta) {
        errno = ENOMEM;
        return NULL;
    }
    size_t objects = mem_round_up(bytes, page);
    size_t total = objects + meta;

    char *base = mem_reserve(total, page);
    if (base == NULL)
        return NULL;
    if (mem_commit(base, mem_round_up(total, page)) != 0) {
        mem_release(base, total);
        errno = ENOMEM;
        return NULL;
    }
    struct pool *p = (struct pool *)(base + objects);
    p->base = base;
    p->bytes = bytes;
    p->size = size;
    p->stride = stride;
    p->magic = UINT64_MAX / stride + 1;
    p->count = (uint32_t)count;
    p->reset = NULL;
    p->reset_arg = NULL;
    p->map_bytes = total;
    char *links = (char *)(p + 1);
    p->state = (_Atomic uint8_t *)(links + depot_storage((uint32_t)count));
    depot_init(&p->depot, (uint32_t)count, links);
    if (init != NULL)
        for (size_t i = 0; i < count; i++)
            init(base + i * stride, arg);
    return p;
}

void *pool_try_get(struct pool *p)
{
    uint32_t idx;
    if (depot_pop(&p->depot, &idx, 1) == 0)
        return NULL;
    atomic_store_explicit(&p->state[idx], 1, memory_order_relaxed);
    return p->base + (size_t)idx * p->stride;
}

void pool_put(struct pool *p, void *obj)
{
    const char *why = pool_misfit(p, obj);
    if (why != NULL)
        pool_die(p, obj, why);
    size_t idx = pool_index(p, obj);
    if (atomic_exchange_explicit(&p->state[idx], 0, memory_order_relaxed) == 0)
        pool_die(p, obj, "is already free (double put)");
    if (p->reset != NULL)
        p->reset(obj, p->reset_arg);
    uint32_t i = (uint32_t)idx;
    depot_push(&p->depot, &i, 1);
}

void pool_set_reset(struct pool *p, void (*reset)(void *obj, void *arg),
                    void *arg)
{
    p->reset = reset;
    p->reset_arg = arg;
}

size_t pool_available(const struct pool *p)
{
    return depot_free(&p->depot);
}

size_t pool_capacity(const struct pool *p)
{
    return p->count;
}

size_t pool_object_size(const struct pool *p)
{
    return p->size;
}

size_t pool_alignment(const struct pool *p)
{
    size_t a = p->stride & -p->stride; /* lowest set bit */
    size_t page = mem_page_size();
    return a > page ? page : a;
}

bool pool_owns(const struct pool *p, const void *ptr)
{
    return pool_misfit(p, ptr) == NULL;
}

void pool_destroy(struct pool *p)
{
    if (p != NULL)
        mem_release(p->base, p->map_bytes);
}

void pool_guard_release_(void *slot)
{
    struct pool_guard_slot_ *g = slot;
    void *obj = *(void **)g->obj;
    if (obj != NULL)
        pool_put(g->pool, obj);
}
