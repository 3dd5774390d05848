/* orders_legacy.c - a legacy-style order-handling loop, the program of
 * `make demo`. It knows nothing of pools: it calls malloc and free as such
 * code does, and so can run unchanged on the system allocator or under
 * LD_PRELOAD=libpoolshim.so.
 *
 * Each event reads a FIX-like text message into a malloc'd buffer, parses it
 * and frees the buffer, then:
 *   new     malloc an order (struct order, 128 bytes), a copy of the client
 *           name (8..40 bytes) and, for one order in three, a free-text note
 *           (40..200 bytes), and files it in the book;
 *   cancel  remove a random live order and free its three blocks;
 *   fill    fill part of a random live order; keep a fill report (64 bytes)
 *           in a ring of the 512 latest, freeing the oldest; a fully filled
 *           order leaves the book.
 * The book's target size follows a slow cosine between 0 and --book N
 * (20000) orders with a period of --period N (600000) events, so it grows,
 * shrinks and grows again. Every random choice comes from --seed S (7).
 *
 * It times nothing itself: `make demo` runs it under the shim's timing mode
 * (scripts/demo, `poolshim latency`), which times every malloc and free it
 * makes, on the system allocator and on the pools.
 * Output: key=value lines, among them `checksum`, a hash of every message
 * and fill that depends on no address, so runs under different allocators
 * must print the same value.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILL_RING 512

struct order {
    uint64_t id;
    uint64_t entered;   /* event number */
    uint32_t price;     /* in ticks */
    uint32_t qty, filled;
    char side;          /* 'B' or 'S' */
    char symbol[11];
    char *client;       /* malloc'd */
    char *note;         /* malloc'd or NULL */
    size_t book_slot;   /* index in book[] */
    char venue[40];
    uint64_t flags, seq;
};

struct fill {
    uint64_t order_id, exec_id;
    uint32_t qty, price;
    char symbol[12];
    char liquidity;     /* 'A'dded or 'R'emoved */
    char pad[23];
};

static struct {
    uint64_t events, period, seed;
    unsigned book;
} opt = {.events = 1200000, .period = 600000, .seed = 7, .book = 20000};

static struct order **book; /* live orders; allocated once, as legacy code does */
static size_t nbook;
static struct fill *fills[FILL_RING];
static uint64_t nfills_total;
static uint64_t checksum = 1469598103934665603u; /* FNV-1a */
static uint64_t n_new, n_cancel, n_fill, n_done, next_id = 1000, next_exec = 1;
static uint64_t rng; /* xorshift64* state, from --seed */

static const char *symbols[] = {"ACME", "GLOBX", "INITECH", "UMBRL", "WAYNE",
                                "STARK", "OSCORP", "TYRELL", "CYBDYN", "SOYLNT"};

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "orders_legacy: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static void xfree(void *p)
{
    if (p)
        free(p);
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

static void hash(const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        checksum = (checksum ^ p[i]) * 1099511628211u;
}

static void hash_u64(uint64_t v)
{
    hash(&v, sizeof v);
}

/* uniform in [0, n), n > 0 */
static unsigned below(unsigned n)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (unsigned)(((unsigned __int128)(rng * 0x2545F4914F6CDD1Du) * n) >> 64);
}

/* Fetch the next inbound message into a fresh buffer sized like a network
 * read (64..512 bytes); the caller frees it. */
static char *receive(const char *type, uint64_t id, const char *sym, char side, unsigned qty,
                     unsigned price)
{
    size_t cap = 64 + below(449);
    char *msg = xmalloc(cap);
    int n = snprintf(msg, cap, "35=%s|11=%llu|55=%s|54=%c|38=%u|44=%u|", type,
                     (unsigned long long)id, sym, side, qty, price);
    if (n < 0 || (size_t)n >= cap)
        msg[cap - 1] = 0;
    hash(msg, strlen(msg));
    return msg;
}

/* value of tag `tag` in a message, or 0 */
static unsigned long field(const char *msg, const char *tag)
{
    const char *p = strstr(msg, tag);
    return p ? strtoul(p + strlen(tag), NULL, 10) : 0;
}

static void book_remove(struct order *o)
{
    size_t k = o->book_slot;
    book[k] = book[--nbook];
    book[k]->book_slot = k;
    xfree(o->note);
    xfree(o->client);
    xfree(o);
}

static void on_new(uint64_t ev)
{
    const char *sym = symbols[below(10)];
    char side = below(2) ? 'B' : 'S';
    char *msg = receive("D", next_id++, sym, side, 1 + below(5000), 9000 + below(2000));

    struct order *o = xmalloc(sizeof *o);
    memset(o, 0, sizeof *o);
    o->id = field(msg, "|11=");
    o->qty = (uint32_t)field(msg, "|38=");
    o->price = (uint32_t)field(msg, "|44=");
    o->side = side;
    o->entered = ev;
    snprintf(o->symbol, sizeof o->symbol, "%s", sym);
    snprintf(o->venue, sizeof o->venue, "XLON-%u", below(8));
    xfree(msg);

    char name[48];
    unsigned len = 7 + below(33); /* 8..40 bytes with the NUL */
    for (unsigned i = 0; i < len; i++)
        name[i] = (char)('a' + below(26));
    name[len] = 0;
    o->client = xstrdup(name);
    if (below(3) == 0) {
        size_t nlen = 40 + below(161);
        o->note = xmalloc(nlen);
        memset(o->note, 'n', nlen - 1);
        o->note[nlen - 1] = 0;
        hash_u64(nlen);
    }
    o->book_slot = nbook;
    book[nbook++] = o;
    hash_u64(o->id);
    n_new++;
}

static void on_cancel(void)
{
    struct order *o = book[below((unsigned)nbook)];
    char *msg = receive("F", o->id, o->symbol, o->side, o->qty - o->filled, o->price);
    if (field(msg, "|11=") != o->id) {
        fprintf(stderr, "orders_legacy: cancel message garbled\n");
        exit(1);
    }
    xfree(msg);
    hash(o->client, strlen(o->client));
    book_remove(o);
    n_cancel++;
}

static void on_fill(void)
{
    struct order *o = book[below((unsigned)nbook)];
    unsigned left = o->qty - o->filled;
    unsigned q = left <= 100 ? left : 1 + below(left);
    char *msg = receive("8", o->id, o->symbol, o->side, q, o->price);
    q = (unsigned)field(msg, "|38=");
    xfree(msg);

    struct fill *f = xmalloc(sizeof *f);
    memset(f, 0, sizeof *f);
    f->order_id = o->id;
    f->exec_id = next_exec++;
    f->qty = q;
    f->price = o->price;
    memcpy(f->symbol, o->symbol, sizeof f->symbol - 1);
    f->liquidity = below(2) ? 'A' : 'R';
    struct fill **slot = &fills[nfills_total++ % FILL_RING];
    if (*slot) {
        hash(*slot, offsetof(struct fill, pad));
        xfree(*slot);
    }
    *slot = f;

    o->filled += q;
    n_fill++;
    if (o->filled == o->qty) {
        n_done++;
        book_remove(o);
    }
}

static void run(uint64_t from, uint64_t to)
{
    unsigned target = 0;
    for (uint64_t ev = from; ev < to; ev++) {
        if ((ev & 255) == 0) {
            double phase = 2.0 * M_PI * (double)(ev % opt.period) / (double)opt.period;
            target = (unsigned)((double)opt.book * (0.5 - 0.5 * cos(phase)));
        }
        unsigned r = below(100);
        if (nbook == 0 || (nbook < opt.book && (nbook < target ? r < 70 : r < 30)))
            on_new(ev);
        else if (r % 3 == 0)
            on_fill();
        else
            on_cancel();
    }
}

static uint64_t num(const char *name, const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || s[0] == '-') {
        fprintf(stderr, "orders_legacy: %s expects a non-negative integer, not '%s'\n", name, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) {
            fprintf(stderr, "usage: orders_legacy [--events N] [--book N] [--period N] "
                    "[--seed S]\n");
            return 2;
        }
        const char *a = argv[i], *v = argv[++i];
        if (!strcmp(a, "--events"))
            opt.events = num(a, v);
        else if (!strcmp(a, "--book"))
            opt.book = (unsigned)num(a, v);
        else if (!strcmp(a, "--period"))
            opt.period = num(a, v);
        else if (!strcmp(a, "--seed"))
            opt.seed = num(a, v);
        else {
            fprintf(stderr, "orders_legacy: unknown option %s\n", a);
            return 2;
        }
    }
    if (opt.book == 0 || opt.period == 0) {
        fprintf(stderr, "orders_legacy: --book and --period must be positive\n");
        return 2;
    }

    book = calloc(opt.book + 1, sizeof *book);
    if (book == NULL) {
        fprintf(stderr, "orders_legacy: no memory for a book of %u orders\n", opt.book);
        return 1;
    }
    rng = opt.seed * 0x9e3779b97f4a7c15u + 1;
    run(0, opt.period + opt.events);

    /* close the session: the book and the fill ring go away */
    for (size_t i = 0; i < nbook; i++) {
        free(book[i]->note);
        free(book[i]->client);
        free(book[i]);
    }
    for (unsigned i = 0; i < FILL_RING; i++)
        free(fills[i]);

    printf("events=%llu\nperiod=%llu\nbook_max=%u\norders_new=%llu\ncancels=%llu\n"
           "fills=%llu\norders_filled=%llu\nbook_at_end=%zu\nchecksum=%016llx\n",
           (unsigned long long)(opt.period + opt.events), (unsigned long long)opt.period,
           opt.book, (unsigned long long)n_new, (unsigned long long)n_cancel,
           (unsigned long long)n_fill, (unsigned long long)n_done, nbook,
           (unsigned long long)checksum);
    return 0;
}
