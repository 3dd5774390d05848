/* glibc_ready - is the real allocator initialised before main?
 *
 * Prints arena=N: the bytes glibc's main arena holds (mallinfo2), without
 * allocating anything itself (output through write(2)). Under the shim with
 * classes that cover every small request, nothing before main needs glibc's
 * malloc, so arena > 0 only when the shim initialised it at start-up, as it
 * must: glibc's malloc assumes its first call comes before any thread starts.
 */
#include <malloc.h>

#include "hout.h"

int main(void)
{
    struct mallinfo2 mi = mallinfo2();
    say("arena=%zu", mi.arena);
    return hout_status();
}
