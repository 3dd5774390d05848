/* timefmt.h - a UTC timestamp without the C library's time functions:
 * safe in a signal handler and in an exit handler of a program whose
 * locks are taken (gmtime_r may take the time zone lock). Header only. */
#ifndef SHIM_TIMEFMT_H
#define SHIM_TIMEFMT_H

#include <stdint.h>
#include <time.h>

#include "pool/report.h"

/* Append s (seconds since 1970-01-01 UTC) as 2026-12-02T15:03:04Z.
 * Days to a civil date: H. Hinnant's days_from_civil, inverted. */
static inline void rb_utc(struct rbuf *b, uint64_t s)
{
    uint64_t days = s / 86400, secs = s % 86400;
    int64_t z = (int64_t)days + 719468;
    int64_t era = z / 146097;
    uint64_t doe = (uint64_t)(z - era * 146097);
    uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    uint64_t mp = (5 * doy + 2) / 153;
    uint64_t d = doy - (153 * mp + 2) / 5 + 1;
    uint64_t m = mp < 10 ? mp + 3 : mp - 9;
    uint64_t y = yoe + (uint64_t)era * 400 + (m <= 2);
    const uint64_t parts[] = {y, m, d, secs / 3600, secs / 60 % 60, secs % 60};
    const char sep[] = {'-', '-', 'T', ':', ':', 'Z'};
    for (int i = 0; i < 6; i++) {
        if (i > 0 && parts[i] < 10)
            rb_char(b, '0');
        rb_u64(b, parts[i]);
        rb_char(b, sep[i]);
    }
}

/* Now, as rb_utc() writes it. */
static inline void rb_utc_now(struct rbuf *b)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    rb_utc(b, (uint64_t)ts.tv_sec);
}

#endif
