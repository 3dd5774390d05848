/* init.c - start-up and shut-down of the shim.
 *
 * Start-up happens at the first allocation (ld.so allocates before any
 * constructor runs), with the constructor as a second chance. It resolves
 * the real allocator, reads POOLSHIM_* from environ (ignored in secure
 * execution), builds the pool set and publishes it: from then on the fast
 * paths see shim.set != NULL. While start-up runs, every allocation (the
 * starting thread's own, from dlsym or pthread_atfork, and other threads')
 * goes to the real allocator, or to the bootstrap arena before that is
 * known. Any problem with the configuration leaves the shim off, with one
 * line on stderr: the host then runs on the real allocator, unharmed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "pool/mem.h"
#include "pool/report.h"
#include "shim/latency.h"
#include "shim/limits.h"
#include "shim/shim.h"

extern char **environ;

static struct pool_classes no_pools; /* all zero: no class, no range */
struct shim shim = {.route = &no_pools, .free_other = shim_free_slow};

/* After an error has been reported: SHIM_OFF, or with POOLSHIM_ON_ERROR=abort
 * the end of the process, before main, with a status a service manager
 * shows (its line already said so). */
static int give_up(char **env)
{
    bool abort;
    shim_config_outcome(env, &abort);
    if (abort)
        _exit(SHIM_EXIT_CONFIG);
    return SHIM_OFF;
}

/* "; OUTCOME\n" at the end of a message line. */
static void rb_outcome(struct rbuf *b, char **env)
{
    rb_str(b, "; ");
    rb_str(b, shim_config_outcome(env, NULL));
    rb_char(b, '\n');
}

/* "poolshim: POOLSHIM_CLASSES=\"TEXT\"", or "... (the default set)" */
static void rb_classes(struct rbuf *b, const struct shim_config *cfg, char **env)
{
    const char *text = shim_env_value(env, "POOLSHIM_CLASSES");
    rb_str(b, "poolshim: POOLSHIM_CLASSES");
    if (cfg->classes_set && text != NULL) {
        rb_char(b, '=');
        rb_quoted(b, text, strlen(text), 200);
    } else {
        rb_str(b, " (the default set)");
    }
}

static void report_reserve_failure(const struct shim_config *cfg, char **env,
                                   int err)
{
    struct rbuf b = {0};
    rb_classes(&b, cfg, env);
    rb_str(&b, ": cannot reserve ");
    rb_u64(&b, shim_config_bytes(cfg));
    rb_str(&b, " bytes for the pools (");
    if (err == ENOMEM)
        rb_str(&b, "out of memory or address space");
    else
        rb_errname(&b, err);
    rb_str(&b, "; expected classes whose total this machine can map)");
    rb_outcome(&b, env);
    rb_flush(&b, 2);
}

/* With POOLSHIM_ON_ERROR=abort, pools that were asked to be locked and are
 * not count as a failed reservation. */
static void report_mlock_failure(const struct shim_config *cfg, char **env,
                                 int err)
{
    struct rbuf b = {0};
    rb_str(&b, "poolshim: POOLSHIM_MLOCK=1: mlock of ");
    rb_u64(&b, shim_config_bytes(cfg));
    rb_str(&b, " bytes failed (");
    rb_errname(&b, err);
    rb_str(&b, "; raise RLIMIT_MEMLOCK, see ulimit -l)");
    if (cfg->on_error == SHIM_ON_ERROR_ABORT)
        rb_outcome(&b, env);
    else
        rb_str(&b, "; the pools stay unlocked, everything else is on\n");
    rb_flush(&b, 2);
}

/* ---- weighing the pools against what the process may use ----
 *
 * A memory cgroup smaller than the pools kills the process (SIGKILL, no
 * message) while they are being faulted in; an rlimit makes the mapping
 * fail. So before building anything, what the set would touch is weighed
 * against the memory the process may still use (limits.c), and what it
 * would reserve and map against RLIMIT_AS and RLIMIT_DATA. */

/* ", but LIMIT leaves LEFT (MAX less USED in use, FILE)" */
static void rb_limit(struct rbuf *b, const struct limit *l)
{
    rb_str(b, ", but ");
    rb_str(b, limits_name(l->kind));
    rb_str(b, l->kind == LIMIT_MEMINFO ? " is " : " leaves ");
    rb_u64(b, l->left);
    rb_str(b, " (");
    if (l->kind != LIMIT_MEMINFO) {
        rb_u64(b, l->max);
        rb_str(b, " less ");
        rb_u64(b, l->used);
        rb_str(b, " in use");
        if (l->file[0] != '\0')
            rb_str(b, ", ");
    }
    rb_esc(b, l->file, strlen(l->file), 200);
    rb_char(b, ')');
}

/* "poolshim: POOLSHIM_CLASSES=...: VERB NEED bytes WHAT, but LIMIT leaves
 * LEFT (...); expected EXPECTED; OUTCOME" */
static void report_over_limit(const struct shim_config *cfg, char **env, const char *verb,
                              uint64_t need, const char *what, const struct limit *l,
                              const char *expected)
{
    struct rbuf b = {0};
    rb_classes(&b, cfg, env);
    rb_str(&b, ": ");
    rb_str(&b, verb);
    rb_char(&b, ' ');
    rb_u64(&b, need);
    rb_str(&b, " bytes ");
    rb_str(&b, what);
    rb_limit(&b, l);
    rb_str(&b, "; expected ");
    rb_str(&b, expected);
    rb_outcome(&b, env);
    rb_flush(&b, 2);
}

/* True when the set that cfg and flags describe fits what this process may
 * use; else one line on stderr, and false. */
static bool pools_fit(const struct shim_config *cfg, unsigned flags, char **env)
{
    struct pool_classes_footprint fp;
    if (pool_classes_footprint(cfg->classes, cfg->nclasses, flags, &fp) != 0)
        return true; /* a spec create refuses: its own message */
    bool objects = flags & (POOL_CLASSES_PREFAULT | POOL_CLASSES_CHECKED);
    uint64_t touch = fp.touched;
    if ((flags & POOL_CLASSES_MLOCK) && !objects) {
        touch += fp.objects; /* mlock faults every object in */
        objects = true;
    }
    struct limit mem, as, data;
    limits_memory("", &mem);
    limits_rlimits("", &as, &data);
    if (touch > mem.left)
        report_over_limit(cfg, env, "start-up would touch", touch,
                          objects ? "(the objects and their metadata)" : "(the metadata)",
                          &mem, "classes that fit (without POOLSHIM_PREFAULT, "
                                "POOLSHIM_CHECK and POOLSHIM_MLOCK only the metadata is "
                                "touched)");
    else if (fp.reserve > as.left)
        report_over_limit(cfg, env, "the pools would reserve", fp.reserve, "of address space",
                          &as, "classes that fit, or a higher limit (ulimit -v)");
    else if (fp.objects + fp.meta > data.left)
        report_over_limit(cfg, env, "the pools would map", fp.objects + fp.meta,
                          "of writable memory", &data,
                          "classes that fit, or a higher limit (ulimit -d)");
    else
        return true;
    return false;
}

/* Read the configuration of this process into *cfg and apply its scope.
 * Returns SHIM_STARTING to go on, else the state to end in. */
static int configure(struct shim_config *cfg, char **env)
{
    shim_config_defaults(cfg);
    /* Out of scope: off and silent, whatever else the variables say (they
     * are for the programs this one runs). A malformed POOLSHIM_ONLY counts
     * as in scope, so that the full parse reports it. */
    if (shim_config_parse_one(cfg, env, "POOLSHIM_ONLY") > 0 &&
        !scope_selected(cfg->only))
        return SHIM_OFF;
    if (shim_config_parse(cfg, env, 2) != 0)
        return give_up(env);
    return SHIM_STARTING;
}

static int start_profile(const struct shim_config *cfg, char **env)
{
    if (profile_start() != 0) {
        struct rbuf b = {0};
        rb_str(&b, "poolshim: POOLSHIM_PROFILE: no memory for the profile");
        rb_outcome(&b, env);
        rb_flush(&b, 2);
        return give_up(env);
    }
    if (cfg->verbose)
        shim_config_print(cfg, 2);
    shim.cfg = *cfg;
    shim.profiling = true;
    return SHIM_PROFILE;
}

/* POOLSHIM_HUGEPAGES=1: one line when the pools got no huge page (never an
 * error: they work on ordinary pages), and, with POOLSHIM_VERBOSE, which kind
 * they got. */
static void report_hugepages(const struct shim_config *cfg, const struct pool_classes *set)
{
    struct rbuf b = {0};
    rb_str(&b, "poolshim: POOLSHIM_HUGEPAGES=1: ");
    switch ((enum mem_huge)set->huge) {
    case MEM_HUGE_HUGETLB:
        rb_str(&b, "the pools are on hugetlb pages (");
        rb_u64(&b, set->huge_bytes / MEM_HUGE_PAGE);
        rb_str(&b, " reserved pages of 2 MiB)\n");
        break;
    case MEM_HUGE_THP:
        rb_str(&b, "the pools are on transparent huge pages (madvise: 2 MiB pages "
                   "where the kernel has them free)\n");
        break;
    default:
        rb_str(&b, "no 2 MiB pages for the pools (");
        mem_huge_explain(&b, set->huge_bytes);
        rb_str(&b, "); the pools use ");
        rb_u64(&b, mem_page_size() / 1024);
        rb_str(&b, " KiB pages, everything else is on\n");
        rb_flush(&b, 2);
        return;
    }
    if (cfg->verbose)
        rb_flush(&b, 2);
}

/* The pool set of cfg, published: SHIM_ON, or the state after an error. */
static int start_pools(const struct shim_config *cfg, char **env)
{
    unsigned flags = 0;
    flags |= cfg->prefault ? POOL_CLASSES_PREFAULT : 0;
    flags |= cfg->mlock ? POOL_CLASSES_MLOCK : 0;
    flags |= cfg->check ? POOL_CLASSES_CHECKED : 0;
    flags |= cfg->cache ? 0 : POOL_CLASSES_NOCACHE;
    flags |= cfg->hugepages ? POOL_CLASSES_HUGEPAGES : 0;
    if (!pools_fit(cfg, flags, env))
        return give_up(env);
    int mlock_err = 0;
    struct pool_classes *set =
        pool_classes_create(cfg->classes, cfg->nclasses, flags, &mlock_err);
    if (set == NULL) {
        report_reserve_failure(cfg, env, errno);
        return give_up(env);
    }
    pool_classes_set_key_(set, (uintptr_t)set); /* free has it in a register */
    if (mlock_err != 0) {
        report_mlock_failure(cfg, env, mlock_err);
        if (cfg->on_error == SHIM_ON_ERROR_ABORT)
            _exit(SHIM_EXIT_CONFIG);
    }
    if (cfg->hugepages)
        report_hugepages(cfg, set);
    pool_classes_set_name(set, "poolshim");
    if (cfg->live)
        live_start(cfg, env);
    if (thread_setup() != 0 || counters_init() != 0) {
        pool_classes_destroy(set);
        return SHIM_OFF;
    }
    if (cfg->verbose)
        shim_config_print(cfg, 2);
    shim.cfg = *cfg;
    shim.strict = cfg->strict;
    /* What is written later goes to this stderr only; programs may close
     * it before exit (coreutils do): keep a copy for the exit table. */
    stats_remember_stderr(cfg->stats);
    if (cfg->stats_signal != 0)
        stats_install_signal(cfg->stats_signal);
    __atomic_store_n(&shim.set, set, __ATOMIC_RELEASE);
    if (!shim.timing) { /* timed: the fast paths keep the empty route */
        boot_free_other();
        __atomic_store_n(&shim.route, set, __ATOMIC_RELEASE);
    }
    return SHIM_ON;
}

static int start(void)
{
    if (!real_resolve())
        return SHIM_OFF;
    /* Initialise glibc's malloc now, while the process is (almost always)
     * single-threaded: glibc assumes its first malloc runs before any thread
     * starts. With the pools serving the first requests, the first real
     * malloc could otherwise come from two new threads at once: both run
     * ptmalloc_init and take the main arena without counting themselves,
     * and the second to exit dies on glibc's "a->attached_threads > 0"
     * assertion. Its fork handlers also skip their locking until then. */
    real.free(real.malloc(1));
    char **env = getauxval(AT_SECURE) ? NULL : environ;
    if (environ == NULL)
        return SHIM_UNINIT; /* too early: ld.so still starting; try again later */

    struct shim_config cfg;
    int state = configure(&cfg, env);
    if (state != SHIM_STARTING)
        return state;
    /* POOLSHIM_LATENCY: from here on every call is timed (malloc.c), on
     * the pools or, when they stay off, on the real allocator */
    if (cfg.latency != NULL && lat_start(cfg.latency) == 0)
        shim.timing = true;
    if (cfg.profile != NULL) {
        state = start_profile(&cfg, env);
    } else if (cfg.nclasses == 0) { /* POOLSHIM_CLASSES=none: the pools off, on purpose */
        if (cfg.verbose)
            shim_config_print(&cfg, 2);
        shim.cfg = cfg;
        state = SHIM_OFF;
    } else {
        state = start_pools(&cfg, env);
    }
    /* last: the messages above may still quote the variables */
    if (!cfg.children)
        scope_strip_children(environ);
    return state;
}

int shim_init(void)
{
    int state = atomic_load_explicit(&shim.state, memory_order_acquire);
    if (state != SHIM_UNINIT)
        return state;
    if (!atomic_compare_exchange_strong(&shim.state, &state, SHIM_STARTING))
        return state;
    int saved = errno;
    state = start();
    errno = saved;
    atomic_store_explicit(&shim.state, state, memory_order_release);
    return state;
}

#ifndef SHIM_NO_EXPORTS /* a harness that links the shim in starts it itself */
__attribute__((constructor)) static void shim_constructor(void)
{
    shim_init();
    /* Registered from here, early, and not from inside an allocation:
     * prepare handlers run in reverse order, so ours runs after those of
     * libraries loaded later, which may still allocate. */
    thread_register_atfork();
}

#ifdef POOL_DEBUG
/* Debug builds walk the whole set at exit, when no other thread holds a
 * cache (the walk needs them still); a broken invariant aborts. */
static void check_at_exit(struct pool_classes *set)
{
    struct pool_cache *c = __atomic_load_n(&set->caches, __ATOMIC_ACQUIRE);
    if ((c == NULL || c->next_cache == NULL) && !pool_classes_check(set)) {
        struct rbuf b = {0};
        rb_str(&b, "poolshim: at exit: the pool set's invariants do not hold\n");
        rb_flush(&b, 2);
        abort();
    }
}
#endif

__attribute__((destructor)) static void shim_destructor(void)
{
    int state = atomic_load(&shim.state);
    if (state == SHIM_PROFILE)
        profile_write(shim.cfg.profile);
    if (state != SHIM_ON)
        return;
    if (shim.cfg.stats)
        stats_print_exit();
    if (shim.cfg.stats_file != NULL)
        stats_write_json(shim.cfg.stats_file);
#ifdef POOL_DEBUG
    check_at_exit(shim.set);
#endif
    live_finish();
}
#endif
