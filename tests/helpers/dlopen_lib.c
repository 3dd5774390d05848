/* dlopen_lib - libraries loaded and unloaded at run time, from two threads.
 *
 *   dlopen_lib ROUNDS
 *
 * Each thread, ROUNDS times: dlopen libz.so.1 (when present) and round-trip
 * 64 KiB through compress2/uncompress; dlopen libm.so.6 and call cos; dlopen
 * libstdc++.so.6 (its constructors allocate); dlopen a library that does not
 * exist (dlerror allocates its message); dlclose each.
 * Prints zlib=ok|absent, libm=ok, libstdcxx=ok|absent, missing=ok.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hout.h"

typedef int (*compress2_fn)(unsigned char *, unsigned long *,
                            const unsigned char *, unsigned long, int);
typedef int (*uncompress_fn)(unsigned char *, unsigned long *,
                             const unsigned char *, unsigned long);
typedef double (*cos_fn)(double);

static unsigned long rounds;

struct result {
    int zlib, libm, cxx, missing; /* 1 ok, 0 absent, -1 failed */
};

static int try_zlib(void)
{
    void *h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        return 0;
    compress2_fn c = (compress2_fn)dlsym(h, "compress2");
    uncompress_fn u = (uncompress_fn)dlsym(h, "uncompress");
    int r = -1;
    enum { N = 65536 };
    unsigned char *src = malloc(N), *z = malloc(2 * N), *back = malloc(N);
    if (c && u && src && z && back) {
        for (int i = 0; i < N; i++)
            src[i] = (unsigned char)((i * i) >> 5);
        unsigned long zn = 2 * N, bn = N;
        if (c(z, &zn, src, N, 6) == 0 && zn < N && u(back, &bn, z, zn) == 0 &&
            bn == N && memcmp(src, back, N) == 0)
            r = 1;
    }
    free(src);
    free(z);
    free(back);
    dlclose(h);
    return r;
}

static int try_libm(void)
{
    void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        return -1;
    cos_fn f = (cos_fn)dlsym(h, "cos");
    int r = f != NULL && f(0.0) == 1.0 ? 1 : -1;
    dlclose(h);
    return r;
}

static int try_cxx(void)
{
    void *h = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        return 0;
    int r = dlsym(h, "_Znwm") != NULL ? 1 : -1;   /* operator new */
    dlclose(h);
    return r;
}

static int try_missing(void)
{
    void *h = dlopen("libpoolshim-test-does-not-exist.so", RTLD_NOW);
    if (h != NULL) {
        dlclose(h);
        return -1;
    }
    const char *e = dlerror();
    return e != NULL && strstr(e, "does-not-exist") != NULL ? 1 : -1;
}

static void *work(void *arg)
{
    struct result *res = arg;
    res->zlib = res->libm = res->cxx = res->missing = 1;
    for (unsigned long i = 0; i < rounds; i++) {
        int z = try_zlib(), m = try_libm(), x = try_cxx(), n = try_missing();
        if (z < res->zlib)
            res->zlib = z;
        if (m < res->libm)
            res->libm = m;
        if (x < res->cxx)
            res->cxx = x;
        if (n < res->missing)
            res->missing = n;
    }
    return NULL;
}

static const char *word(int v)
{
    return v > 0 ? "ok" : v == 0 ? "absent" : "failed";
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        hout_fd(2, "usage: dlopen_lib ROUNDS");
        return 2;
    }
    rounds = harg(argv[1]);
    struct result r[2];
    pthread_t t;
    pthread_create(&t, NULL, work, &r[1]);
    work(&r[0]);
    pthread_join(t, NULL);
    struct result all = {
        r[0].zlib < r[1].zlib ? r[0].zlib : r[1].zlib,
        r[0].libm < r[1].libm ? r[0].libm : r[1].libm,
        r[0].cxx < r[1].cxx ? r[0].cxx : r[1].cxx,
        r[0].missing < r[1].missing ? r[0].missing : r[1].missing,
    };
    say("zlib=%s", word(all.zlib));
    say("libm=%s", word(all.libm));
    say("libstdcxx=%s", word(all.cxx));
    say("missing=%s", word(all.missing));
    if (all.zlib < 0 || all.libm <= 0 || all.cxx < 0 || all.missing <= 0)
        fail("a library did not work");
    return hout_status();
}
