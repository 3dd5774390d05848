/* window.c - the live-window workload (issue 10), a program that knows
 * nothing of pools: W objects live, a random one freed and its slot refilled
 * with a random size, non-LIFO, each malloc and each free timed alone; and the
 * sawtooth pattern, whose periodic slow operations show what one batch
 * movement of an allocator's thread cache costs.
 *
 * Usage: window [options]; results on stdout as key=value lines.
 *   --pattern window    (default) fill --live W (4096) slots with sizes drawn
 *                       uniformly from --sizes LIST (24,64,160,400,1000), then
 *                       --warmup N (500000) and --steps N (2000000) steps,
 *                       each: free a random slot (timed), malloc a random size
 *                       into it (timed). Each step is two operations.
 *   --pattern sawtooth  malloc --amplitude A (4096) objects of --size S (64),
 *                       then free them in the order they came (FIFO); again
 *                       and again. --warmup and --steps count operations
 *                       (rounded up to whole teeth of 2A).
 *   --ideal             the program's own free lists (bench/ideal.h) instead
 *                       of malloc and free: the floor of this machine.
 *   --hist FILE         write the histogram of every timed operation of the
 *                       window as "ns count" lines (any quantile afterwards).
 *   --mark-signal SIG --mark-file PATH
 *                       raise SIG just before the window opens and just after
 *                       it closes, and move PATH to PATH.open, PATH.close after
 *                       each: an allocator that writes its figures to PATH on
 *                       SIG (poolshim: POOLSHIM_STATS_SIGNAL, _STATS_FILE) then
 *                       tells what happened inside the window alone.
 *   --seed S (42)       seeds every random choice: a run is reproducible.
 *
 * Objects are written when handed out (a tag at both ends) and checked before
 * they are freed: an allocator that hands out overlapping memory is caught
 * (exit 3). All bookkeeping is mmapped and written before the warm-up
 * (bench/latency.h): the page faults counted in the window are the
 * allocator's.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/ideal.h"
#include "bench/latency.h"

#define MAX_SIZES 16
#define SLOW_NS 10000.0

static struct {
    bool sawtooth, ideal;
    uint64_t steps, warmup, seed, live, amplitude, size;
    unsigned nsizes;
    uint32_t sizes[MAX_SIZES];
    int mark_signal;
    const char *mark_file, *hist_file;
} opt = {
    .steps = 2000000, .warmup = 500000, .seed = 42, .live = 4096, .amplitude = 4096,
    .size = 64, .nsizes = 5, .sizes = {24, 64, 160, 400, 1000},
};

struct obj {
    unsigned char *p;
    uint32_t size, tag;
};

static struct {
    struct lat_rng rng;
    struct obj *slot; /* window: the live objects; sawtooth: one tooth */
    struct lat_hist *hm, *hf;
    struct ideal *ideal;
} w;

static void die(const char *what)
{
    fprintf(stderr, "window: %s\n", what);
    exit(2);
}

/* ---- timed operations ---- */

static struct obj get(uint32_t size, uint32_t tag)
{
    uint64_t t0 = lat_now();
    unsigned char *p = w.ideal ? ideal_malloc(w.ideal, size) : malloc(size);
    uint64_t t1 = lat_now();
    lat_record(w.hm, t1 - t0);
    if (p == NULL)
        die("malloc returned NULL");
    memcpy(p, &tag, sizeof tag < size ? sizeof tag : size);
    if (size > sizeof tag)
        p[size - 1] = (unsigned char)tag;
    return (struct obj){p, size, tag};
}

static void put(struct obj o)
{
    uint32_t tag = 0;
    memcpy(&tag, o.p, sizeof tag < o.size ? sizeof tag : o.size);
    uint32_t want = o.size < sizeof tag ? o.tag & ((1u << (8 * o.size)) - 1) : o.tag;
    if (tag != want || (o.size > sizeof tag && o.p[o.size - 1] != (unsigned char)o.tag)) {
        fprintf(stderr, "window: object %p of %u bytes changed while live (tag %u): "
                "the allocator handed out overlapping memory\n", (void *)o.p, o.size, o.tag);
        exit(3);
    }
    uint64_t t0 = lat_now();
    if (w.ideal)
        ideal_free(w.ideal, o.p, o.size);
    else
        free(o.p);
    uint64_t t1 = lat_now();
    lat_record(w.hf, t1 - t0);
}

/* ---- the patterns ---- */

static uint32_t random_size(void)
{
    return opt.sizes[lat_rng_below(&w.rng, opt.nsizes)];
}

static void window_fill(void)
{
    for (uint64_t k = 0; k < opt.live; k++)
        w.slot[k] = get(random_size(), (uint32_t)lat_rng_next(&w.rng));
}

static void window_steps(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = lat_rng_below(&w.rng, opt.live);
        put(w.slot[k]);
        w.slot[k] = get(random_size(), (uint32_t)lat_rng_next(&w.rng));
    }
}

static void sawtooth_ops(uint64_t n)
{
    for (uint64_t done = 0; done < n; done += 2 * opt.amplitude) {
        for (uint64_t k = 0; k < opt.amplitude; k++)
            w.slot[k] = get((uint32_t)opt.size, (uint32_t)k);
        for (uint64_t k = 0; k < opt.amplitude; k++)
            put(w.slot[k]);
    }
}

/* ---- the window's marks ---- */

static void mark(const char *suffix)
{
    if (opt.mark_signal == 0)
        return;
    raise(opt.mark_signal);
    char to[4096];
    if (snprintf(to, sizeof to, "%s.%s", opt.mark_file, suffix) >= (int)sizeof to ||
        rename(opt.mark_file, to) != 0)
        fprintf(stderr, "window: no %s written on signal %d (mark %s): %m\n", opt.mark_file,
                opt.mark_signal, suffix);
}

/* ---- options ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: window [--pattern window|sawtooth] [--live W] [--sizes S,S,...]\n"
            "              [--amplitude A] [--size S] [--steps N] [--warmup N] [--seed S]\n"
            "              [--ideal] [--hist FILE] [--mark-signal SIG --mark-file PATH]\n");
    exit(2);
}

static void parse_sizes(const char *v)
{
    opt.nsizes = 0;
    for (const char *s = v; *s;) {
        char item[32];
        size_t len = strcspn(s, ",");
        if (len == 0 || len >= sizeof item || opt.nsizes == MAX_SIZES)
            usage();
        memcpy(item, s, len);
        item[len] = '\0';
        uint64_t size = lat_parse_count("window", "--sizes", item);
        if (size == 0 || size > (1u << 20))
            usage();
        opt.sizes[opt.nsizes++] = (uint32_t)size;
        s += len + (s[len] == ',');
    }
    if (opt.nsizes == 0)
        usage();
}

static void parse(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--ideal")) {
            opt.ideal = true;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--pattern")) {
            if (strcmp(v, "window") && strcmp(v, "sawtooth"))
                usage();
            opt.sawtooth = !strcmp(v, "sawtooth");
        } else if (!strcmp(a, "--sizes"))
            parse_sizes(v);
        else if (!strcmp(a, "--hist"))
            opt.hist_file = v;
        else if (!strcmp(a, "--mark-file"))
            opt.mark_file = v;
        else {
            uint64_t n = lat_parse_count("window", a, v);
            if (!strcmp(a, "--live"))
                opt.live = n;
            else if (!strcmp(a, "--steps"))
                opt.steps = n;
            else if (!strcmp(a, "--warmup"))
                opt.warmup = n;
            else if (!strcmp(a, "--seed"))
                opt.seed = n;
            else if (!strcmp(a, "--amplitude"))
                opt.amplitude = n;
            else if (!strcmp(a, "--size"))
                opt.size = n;
            else if (!strcmp(a, "--mark-signal"))
                opt.mark_signal = (int)n;
            else
                usage();
        }
    }
    if (opt.live < 1 || opt.live > (1u << 26) || opt.amplitude < 1 ||
        opt.amplitude > (1u << 26) || opt.size < 1 || opt.size > (1u << 20) ||
        (opt.mark_signal != 0) != (opt.mark_file != NULL) || opt.mark_signal < 0 ||
        opt.mark_signal >= 65)
        usage();
}

int main(int argc, char **argv)
{
    parse(argc, argv);
    double tick_ns = lat_calibrate(60);
    uint64_t slow_ticks = (uint64_t)(SLOW_NS / tick_ns);
    lat_rng_seed(&w.rng, opt.seed);
    uint64_t slots = opt.sawtooth ? opt.amplitude : opt.live;
    w.slot = lat_alloc(slots * sizeof *w.slot);
    w.hm = lat_hist_new(slow_ticks);
    w.hf = lat_hist_new(slow_ticks);
    struct lat_hist *all = lat_hist_new(slow_ticks), *scratch = lat_hist_new(slow_ticks);
    if (opt.ideal)
        w.ideal = ideal_new();

    if (opt.sawtooth) {
        sawtooth_ops(opt.warmup);
    } else {
        window_fill();
        window_steps(opt.warmup);
    }
    lat_hist_reset(w.hm);
    lat_hist_reset(w.hf);
    mark("open");
    struct lat_usage u0 = lat_usage_now();
    uint64_t w0 = lat_mono_ns();
    if (opt.sawtooth)
        sawtooth_ops(opt.steps);
    else
        window_steps(opt.steps);
    uint64_t w1 = lat_mono_ns();
    struct lat_usage u1 = lat_usage_now();
    mark("close");

    lat_merge(all, w.hm);
    lat_merge(all, w.hf);
    if (opt.hist_file != NULL && lat_dump(opt.hist_file, all, tick_ns) != 0)
        die("cannot write the --hist file");
    printf("pattern=%s\n", opt.sawtooth ? "sawtooth" : "window");
    if (opt.ideal)
        printf("allocator=ideal (in-program free lists)\nideal_fallbacks=%llu\n",
               (unsigned long long)w.ideal->fallbacks);
    if (opt.sawtooth) {
        printf("amplitude=%llu\nsize=%llu\n", (unsigned long long)opt.amplitude,
               (unsigned long long)opt.size);
    } else {
        printf("live=%llu\nsizes=", (unsigned long long)opt.live);
        for (unsigned i = 0; i < opt.nsizes; i++)
            printf("%s%u", i ? "," : "", opt.sizes[i]);
        printf("\n");
    }
    printf("ops=%llu\nseed=%llu\n", (unsigned long long)all->n, (unsigned long long)opt.seed);
    lat_print_timer(stdout, scratch, 1000000, tick_ns);
    printf("slow_threshold_ns=%.0f\n", SLOW_NS);
    lat_print(stdout, "op", all, tick_ns);
    lat_print(stdout, "malloc", w.hm, tick_ns);
    lat_print(stdout, "free", w.hf, tick_ns);
    printf("window_ns_per_op=%.1f\n", (double)(w1 - w0) / (double)(all->n ? all->n : 1));
    lat_print_usage(stdout, "", u0, u1);
    fflush(stdout);
    return 0; /* the live objects are left to exit, as a legacy program would */
}
