/* thread.c - the shim's per-thread state: attaching, thread exit and fork.
 *
 * Each thread's cache and the pointer to its figures live in initial-exec
 * TLS (no __tls_get_addr, which may allocate). A thread attaches at its first
 * pooled call: it gets a block of figures, its cache joins the set, and a
 * pthread key is set whose destructor, at thread exit, gives the cached
 * objects back and retires the thread: calls that other destructors make
 * after ours go straight to the shared depots.
 *
 * fork: the prepare handler blocks signals and takes the set's lock and the
 * counters' lock (the depots are lock-free), the parent releases them; the
 * child re-creates them, takes back the objects cached by the threads that
 * did not survive the fork, and starts every figure from zero (its own
 * requests only); both then restore the signal mask.
 */
#include <errno.h>
#include <pthread.h>

#include "shim/shim.h"

__thread struct shim_thread shim_self __attribute__((tls_model("initial-exec")));

static pthread_key_t exit_key;

static void on_thread_exit(void *arg)
{
    struct shim_thread *t = arg;
    struct pool_classes *set = __atomic_load_n(&shim.set, __ATOMIC_ACQUIRE);
    sigset_t old;
    shim_block_signals(&old); /* no handler may fork while we hold the locks */
    if (set != NULL)
        pool_classes_cache_detach(set, &t->cache);
    counters_detach(t->ctr);
    t->ctr = NULL;
    t->state = THREAD_RETIRED;
    shim_restore_signals(&old);
}

struct shim_thread *thread_attach(struct pool_classes *s)
{
    struct shim_thread *t = &shim_self;
    if (t->cache.set == s)
        return t;
    if (t->state != THREAD_NEW)
        return NULL;
    /* Calls made while attaching (pthread_setspecific may allocate) see
     * ATTACHING and go uncached. */
    int saved = errno;
    sigset_t old;
    shim_block_signals(&old); /* no handler may fork while we hold the locks */
    t->state = THREAD_ATTACHING;
    t->ctr = counters_attach();
    pool_classes_cache_attach(s, &t->cache);
    pthread_setspecific(exit_key, t);
    t->state = THREAD_ATTACHED;
    shim_restore_signals(&old);
    errno = saved;
    return t;
}

int thread_setup(void)
{
    return pthread_key_create(&exit_key, on_thread_exit) != 0 ? -1 : 0;
}

/* The set the pre-fork handler locked (NULL: none; the shim may start in
 * another thread during a fork), and the signal mask it replaced: signals
 * stay blocked from the locks until after the fork in parent and child, so
 * that no handler on this thread can fork or exit while it holds them (see
 * sigmask.c). Per thread: forks of several threads, and a fork made by
 * a signal handler before this thread's pre-fork handler ran, never share
 * them. */
static __thread struct pool_classes *fork_locked
    __attribute__((tls_model("initial-exec")));
static __thread sigset_t fork_mask __attribute__((tls_model("initial-exec")));

static void fork_prepare(void)
{
    struct pool_classes *set = __atomic_load_n(&shim.set, __ATOMIC_ACQUIRE);
    if (set == NULL)
        return;
    shim_block_signals(&fork_mask);
    counters_fork_prepare();
    pool_classes_fork_prepare(set);
    fork_locked = set;
}

static void fork_parent(void)
{
    struct pool_classes *set = fork_locked;
    if (set == NULL)
        return;
    fork_locked = NULL;
    pool_classes_fork_parent(set);
    counters_fork_parent();
    shim_restore_signals(&fork_mask);
}

static void fork_child(void)
{
    struct pool_classes *set = fork_locked;
    if (set == NULL)
        return;
    fork_locked = NULL;
    struct shim_thread *t = &shim_self;
    pool_classes_fork_child(set, t->cache.set == set ? &t->cache : NULL);
    counters_fork_child(t->ctr);
    shim_restore_signals(&fork_mask);
}

void thread_register_atfork(void)
{
    static bool done;
    if (!done) {
        done = true;
        pthread_atfork(fork_prepare, fork_parent, fork_child);
    }
}
