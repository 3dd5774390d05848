/* sigmask.c - signals blocked while the shim holds a lock of its own.
 *
 * fork, exit and _exit are what signal handlers call, and glibc's fork and
 * exit run the shim's fork handlers and exit report, which take the pool
 * set's lock and the counters' lock. A handler that ran on a thread while
 * that thread held one (inside the shim's pre-fork handler, its exit report,
 * a thread attaching or detaching) would wait for it forever. So the shim
 * blocks every signal in a thread for as long as the thread holds either
 * lock on the shim's own paths: a signal that comes then waits until the
 * lock is released, and its handler finds it free.
 */
#include <pthread.h>
#include <signal.h>

#include "shim/shim.h"

void shim_block_signals(sigset_t *old)
{
    sigset_t all;
    sigfillset(&all); /* glibc leaves its own internal signals out */
    pthread_sigmask(SIG_BLOCK, &all, old);
}

void shim_restore_signals(const sigset_t *old)
{
    pthread_sigmask(SIG_SETMASK, old, NULL);
}
