/* stress.c - the threaded stress harness (stress.h). */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>

#include "tests/stress.h"
#include "tests/testutil.h"

struct stress {
    const struct stress_ops *ops;
    _Atomic(struct stress_token *) slot[STRESS_SLOTS];
    _Atomic unsigned long errors, gets, puts, empties;
};

struct worker {
    struct stress *st;
    void *ctx;
    int id;
    unsigned seq;
    uint64_t rng;
};

/* Become t's holder; it must have been `from` until now. */
static void take(struct worker *w, struct stress_token *t, int from)
{
    if (atomic_exchange(&t->owner, w->id) != from)
        atomic_fetch_add(&w->st->errors, 1);
    w->seq++;
    for (int i = 0; i < 7; i++)
        t->stamp[i] = (unsigned)w->id << 24 ^ w->seq ^ (unsigned)i;
}

/* Stop holding t: check nobody else wrote it meanwhile, mark it `to`. */
static void release(struct worker *w, struct stress_token *t, int to)
{
    unsigned first = t->stamp[0];
    for (int i = 0; i < 7; i++)
        if (t->stamp[i] != (first ^ (unsigned)i) || first >> 24 != (unsigned)w->id)
            atomic_fetch_add(&w->st->errors, 1);
    if (atomic_exchange(&t->owner, to) != w->id)
        atomic_fetch_add(&w->st->errors, 1);
}

static void put_back(struct worker *w, struct stress_token *t)
{
    release(w, t, STRESS_FREE);
    w->st->ops->put(w->st->ops->arg, w->ctx, t);
}

/* Pass one of the n held objects (chosen by r) to whoever finds it in a slot,
 * and take what was there. Returns the new number held. */
static int exchange(struct worker *w, struct stress_token **held, int n, uint64_t r)
{
    int k = (int)((r >> 12) % (unsigned)n);
    struct stress_token *out = held[k];
    held[k] = held[--n];
    release(w, out, STRESS_TRANSIT);
    struct stress_token *in = atomic_exchange(&w->st->slot[(r >> 20) % STRESS_SLOTS], out);
    if (in != NULL) {
        take(w, in, STRESS_TRANSIT);
        held[n++] = in;
    }
    return n;
}

static void *worker(void *arg)
{
    struct worker *w = arg;
    struct stress *st = w->st;
    const struct stress_ops *ops = st->ops;
    if (ops->thread_start && (w->ctx = ops->thread_start(ops->arg)) == NULL) {
        atomic_fetch_add(&st->errors, 1);
        return NULL;
    }
    struct stress_token *held[STRESS_HOLD + 1];
    int n = 0;
    unsigned long gets = 0, puts = 0, empties = 0;
    while (gets < STRESS_GETS) {
        uint64_t r = tu_xorshift64(&w->rng);
        struct stress_token *t = ops->get(ops->arg, w->ctx, r);
        if (t == NULL) {
            empties++;
            if (n > 0) { /* give one back so that someone can progress */
                put_back(w, held[--n]);
                puts++;
            }
            continue;
        }
        gets++;
        take(w, t, STRESS_FREE);
        held[n++] = t;
        if (n == STRESS_HOLD || (r & 0x300) == 0)
            n = exchange(w, held, n, r);
        for (r >>= 24; n > 0 && (n >= STRESS_HOLD || (r & 3) != 0); r >>= 2) {
            put_back(w, held[--n]);
            puts++;
        }
    }
    for (; n > 0; puts++)
        put_back(w, held[--n]);
    if (ops->thread_end)
        ops->thread_end(ops->arg, w->ctx);
    atomic_fetch_add(&st->gets, gets);
    atomic_fetch_add(&st->puts, puts);
    atomic_fetch_add(&st->empties, empties);
    return NULL;
}

struct stress_totals stress_run(const struct stress_ops *ops)
{
    struct stress st = {.ops = ops};
    pthread_t tid[STRESS_THREADS];
    struct worker w[STRESS_THREADS];
    for (int i = 0; i < STRESS_THREADS; i++) {
        w[i] = (struct worker){&st, NULL, i + 1, 0, 0x9e3779b97f4a7c15u * (uint64_t)(i + 1)};
        ck_assert_int_eq(pthread_create(&tid[i], NULL, worker, &w[i]), 0);
    }
    for (int i = 0; i < STRESS_THREADS; i++)
        ck_assert_int_eq(pthread_join(tid[i], NULL), 0);

    ck_assert_uint_eq(atomic_load(&st.errors), 0);
    struct stress_totals sum = {atomic_load(&st.gets), atomic_load(&st.puts),
                                atomic_load(&st.empties), 0};
    ck_assert_uint_ge(sum.gets + sum.puts, 1000000);

    /* Objects still in the exchange are in transit: put them back. */
    for (int i = 0; i < STRESS_SLOTS; i++) {
        struct stress_token *t = atomic_exchange(&st.slot[i], NULL);
        if (t == NULL)
            continue;
        ck_assert_int_eq(atomic_exchange(&t->owner, STRESS_FREE), STRESS_TRANSIT);
        ck_assert(ops->owns == NULL || ops->owns(ops->arg, t));
        ops->put(ops->arg, NULL, t);
        sum.transit++;
    }
    ck_assert_uint_eq(sum.gets, sum.puts + sum.transit);
    return sum;
}

void stress_assert_free(void *const *obj, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            ck_assert_ptr_ne(obj[i], obj[i - 1]);
        const struct stress_token *t = obj[i];
        ck_assert_int_eq(atomic_load(&t->owner), STRESS_FREE);
    }
}
