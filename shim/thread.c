/* thread.c - thread-local caches, thread exit and fork.
 *
 * Each thread's cache of free objects lives in initial-exec TLS (no
 * __tls_get_addr, which may allocate). A cache attaches itself to the set at
 * its thread's first pooled allocation; the hook below then sets a
 * pthread key whose destructor, at thread exit, returns the cached objects
 * and retires the cache: frees that other destructors make after ours go
 * straight to the shared depots.
 *
 * fork: the prepare handler takes the set's registry lock (the depots are
 * lock-free), the parent releases it; the child re-creates it and takes
 * back the objects cached by the threads that did not survive the fork.
 */
#include <pthread.h>

#include "shim/shim.h"

__thread struct pool_cache shim_cache __attribute__((tls_model("initial-exec")));

static pthread_key_t exit_key;

static void on_thread_exit(void *arg)
{
    struct pool_cache *c = arg;
    struct pool_classes *set = __atomic_load_n(&shim.set, __ATOMIC_ACQUIRE);
    if (set != NULL)
        pool_classes_cache_detach(set, c, true);
}

static void on_attach(struct pool_classes *s, struct pool_cache *c)
{
    (void)s;
    if (c == &shim_cache)
        pthread_setspecific(exit_key, c);
}

int thread_setup(struct pool_classes *set)
{
    if (pthread_key_create(&exit_key, on_thread_exit) != 0)
        return -1;
    pool_classes_on_attach(set, on_attach);
    return 0;
}

static void fork_prepare(void)
{
    struct pool_classes *set = __atomic_load_n(&shim.set, __ATOMIC_ACQUIRE);
    if (set != NULL)
        pool_classes_fork_prepare(set);
}

static void fork_parent(void)
{
    struct pool_classes *set = __atomic_load_n(&shim.set, __ATOMIC_ACQUIRE);
    if (set != NULL)
        pool_classes_fork_parent(set);
}

static void fork_child(void)
{
    struct pool_classes *set = __atomic_load_n(&shim.set, __ATOMIC_ACQUIRE);
    if (set != NULL)
        pool_classes_fork_child(set, &shim_cache);
}

void thread_register_atfork(void)
{
    static bool done;
    if (!done) {
        done = true;
        pthread_atfork(fork_prepare, fork_parent, fork_child);
    }
}
