// cxx_new - C++ allocation through libstdc++ (operator new -> malloc).
//
//   cxx_new
//
// Prints:
//   new_char64_usable=U   malloc_usable_size(new char[64])
//   new_obj64_usable=U    of a 64-byte object from new
//   aligned_ok=1          alignas(64), alignas(4096) objects and arrays
//   nothrow_huge_null=1   new (std::nothrow) of an impossible size
//   bad_alloc=1           new of an impossible size throws std::bad_alloc
//   exceptions=N          thrown and caught (each one allocated)
//   digest=H              of vector/string/map/unordered_map/shared_ptr
//                         churn on 4 threads: the same under any allocator
#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "hout.h"

namespace {

struct Obj64 {
    char bytes[64];
};

struct alignas(64) Line {
    char bytes[64];
};

struct alignas(4096) Page {
    char bytes[4096];
};

std::uint64_t mix(std::uint64_t h, std::uint64_t v)
{
    return (h ^ v) * 1099511628211ULL;
}

// Deterministic churn of the standard containers; returns a digest.
std::uint64_t churn(unsigned seed)
{
    unsigned long long rng = 1000 + seed;
    std::uint64_t h = 1469598103934665603ULL;

    std::vector<std::string> words;
    for (int i = 0; i < 20000; i++) {
        std::string s(1 + hrand(&rng) % 90, 'a');
        for (auto &c : s)
            c = static_cast<char>('a' + hrand(&rng) % 26);
        words.push_back(std::move(s));
    }
    std::sort(words.begin(), words.end());
    for (const auto &w : words)
        for (char c : w)
            h = mix(h, static_cast<unsigned char>(c));

    std::map<int, std::string> m;
    std::unordered_map<std::string, int> u;
    for (int i = 0; i < 30000; i++) {
        int k = static_cast<int>(hrand(&rng) % 5000);
        if (hrand(&rng) % 3 == 0) {
            m.erase(k);
            u.erase(std::to_string(k));
        } else {
            m[k] = std::string(k % 70, static_cast<char>('A' + k % 26));
            u[std::to_string(k)] = k;
        }
    }
    for (const auto &kv : m)
        h = mix(h, static_cast<std::uint64_t>(kv.first) * 131 + kv.second.size());
    h = mix(h, u.size());

    std::vector<std::shared_ptr<std::vector<int>>> shared;
    for (int i = 0; i < 5000; i++) {
        auto v = std::make_shared<std::vector<int>>(hrand(&rng) % 40, i);
        shared.push_back(v);
        if (i % 3 == 0)
            shared.erase(shared.begin() + static_cast<long>(hrand(&rng) % shared.size()));
    }
    for (const auto &v : shared)
        h = mix(h, v->size());
    return h;
}

} // namespace

int main()
{
    char *c64 = new char[64];
    std::memset(c64, 1, 64);
    say("new_char64_usable=%zu", malloc_usable_size(c64));
    delete[] c64;

    Obj64 *o = new Obj64();
    say("new_obj64_usable=%zu", malloc_usable_size(o));
    delete o;

    bool aligned = true;
    for (int i = 0; i < 200; i++) {
        Line *l = new Line();
        Page *p = new Page();
        Line *la = new Line[3];
        aligned = aligned && reinterpret_cast<std::uintptr_t>(l) % 64 == 0 &&
                  reinterpret_cast<std::uintptr_t>(p) % 4096 == 0 &&
                  reinterpret_cast<std::uintptr_t>(la) % 64 == 0;
        std::memset(p->bytes, 2, sizeof p->bytes);
        delete l;
        delete p;
        delete[] la;
    }
    say("aligned_ok=%d", aligned);

    volatile std::size_t huge = SIZE_MAX / 2;
    char *n = new (std::nothrow) char[huge];
    say("nothrow_huge_null=%d", n == nullptr);
    delete[] n;

    int bad = 0;
    try {
        char *x = new char[huge];
        escape(x);
        delete[] x;
    } catch (const std::bad_alloc &) {
        bad = 1;
    }
    say("bad_alloc=%d", bad);

    int caught = 0;
    for (int i = 0; i < 1000; i++) {
        try {
            throw std::runtime_error(std::string(i % 200, 'e'));
        } catch (const std::runtime_error &e) {
            caught += std::strlen(e.what()) == static_cast<std::size_t>(i % 200);
        }
    }
    say("exceptions=%d", caught);

    std::uint64_t d[4];
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < 4; i++)
        threads.emplace_back([&d, i] { d[i] = churn(i); });
    for (auto &t : threads)
        t.join();
    std::uint64_t h = 0;
    for (auto v : d)
        h = mix(h, v);
    say("digest=%016llx", static_cast<unsigned long long>(h));
    return hout_status();
}
