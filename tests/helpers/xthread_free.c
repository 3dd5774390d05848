/* xthread_free - producers allocate, consumers on other threads check and
 * free (objects always change threads between malloc and free).
 *
 *   xthread_free ITEMS SIZE COUNT
 *
 * Two producers, two consumers, a ring of 64 items between them. Producers
 * ask for SIZE, SIZE / 2 (the same class when SIZE is the smallest), 4 * SIZE
 * and 10000 bytes in turn; run it with one class SIZE:COUNT. A NULL from
 * malloc (strict mode) is counted and retried. Afterwards the main thread
 * takes COUNT objects of SIZE back and one more.
 * Prints items=, corrupt=, nulls=, reacquired=, extra= (see shim_api).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hout.h"

#define RING 64
#define PRODUCERS 2
#define CONSUMERS 2

struct item {
    unsigned char *p;
    size_t n;
    unsigned long id;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    struct item slot[RING];
    unsigned head, tail, len;
    unsigned producers_left;
} q = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .not_empty = PTHREAD_COND_INITIALIZER,
    .not_full = PTHREAD_COND_INITIALIZER,
    .producers_left = PRODUCERS,
};

static unsigned long items_per_producer;
static size_t size;
static unsigned long nulls[PRODUCERS], corrupt[CONSUMERS], consumed[CONSUMERS];

static void push(struct item it)
{
    pthread_mutex_lock(&q.lock);
    while (q.len == RING)
        pthread_cond_wait(&q.not_full, &q.lock);
    q.slot[q.tail] = it;
    q.tail = (q.tail + 1) % RING;
    q.len++;
    pthread_cond_signal(&q.not_empty);
    pthread_mutex_unlock(&q.lock);
}

/* false when every producer is done and the ring is empty */
static bool pop(struct item *it)
{
    pthread_mutex_lock(&q.lock);
    while (q.len == 0 && q.producers_left > 0)
        pthread_cond_wait(&q.not_empty, &q.lock);
    if (q.len == 0) {
        pthread_mutex_unlock(&q.lock);
        return false;
    }
    *it = q.slot[q.head];
    q.head = (q.head + 1) % RING;
    q.len--;
    pthread_cond_signal(&q.not_full);
    pthread_mutex_unlock(&q.lock);
    return true;
}

static unsigned char byte_of(unsigned long id, size_t i)
{
    return (unsigned char)(id * 131 + i * 7);
}

static void *producer(void *arg)
{
    unsigned k = (unsigned)(size_t)arg;
    const size_t sizes[4] = {size, size / 2 ? size / 2 : 1, 4 * size, 10000};
    for (unsigned long i = 0; i < items_per_producer; i++) {
        struct item it = {.id = i * PRODUCERS + k};
        it.n = sizes[it.id % 4];
        while ((it.p = malloc(it.n)) == NULL) {
            nulls[k]++;
            sched_yield();
        }
        for (size_t j = 0; j < it.n; j++)
            it.p[j] = byte_of(it.id, j);
        push(it);
    }
    pthread_mutex_lock(&q.lock);
    q.producers_left--;
    pthread_cond_broadcast(&q.not_empty);
    pthread_mutex_unlock(&q.lock);
    return NULL;
}

static void *consumer(void *arg)
{
    unsigned k = (unsigned)(size_t)arg;
    struct item it;
    while (pop(&it)) {
        for (size_t j = 0; j < it.n; j++)
            if (it.p[j] != byte_of(it.id, j)) {
                corrupt[k]++;
                break;
            }
        if (malloc_usable_size(it.p) < it.n)
            corrupt[k]++;
        free(it.p);
        consumed[k]++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        hout_fd(2, "usage: xthread_free ITEMS SIZE COUNT");
        return 2;
    }
    unsigned long items = harg(argv[1]);
    size = harg(argv[2]);
    unsigned long count = harg(argv[3]);
    items_per_producer = items / PRODUCERS;

    pthread_t p[PRODUCERS], c[CONSUMERS];
    for (size_t i = 0; i < CONSUMERS; i++)
        pthread_create(&c[i], NULL, consumer, (void *)i);
    for (size_t i = 0; i < PRODUCERS; i++)
        pthread_create(&p[i], NULL, producer, (void *)i);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(p[i], NULL);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(c[i], NULL);

    unsigned long done = 0, bad = 0, refused = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        done += consumed[i];
        bad += corrupt[i];
    }
    for (int i = 0; i < PRODUCERS; i++)
        refused += nulls[i];
    say("items=%lu", done);
    say("corrupt=%lu", bad);
    say("nulls=%lu", refused);
    expect(done == items_per_producer * PRODUCERS);
    expect(bad == 0);

    /* every object came back: the main thread gets all of them */
    void **all = calloc(count + 1, sizeof *all);
    unsigned long again = 0;
    for (unsigned long i = 0; i < count; i++) {
        all[i] = malloc(size);
        again += all[i] != NULL && malloc_usable_size(all[i]) == size;
    }
    errno = 0;
    all[count] = malloc(size);
    say("reacquired=%lu", again);
    say("extra=%s", all[count] ? "nonnull" : errno == ENOMEM ? "ENOMEM" : "null");
    for (unsigned long i = 0; i <= count; i++)
        free(all[i]);
    free(all);
    return hout_status();
}
