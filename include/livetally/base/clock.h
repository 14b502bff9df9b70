/* Time helpers. Wall-clock times are epoch milliseconds (int64); intervals use
 * the monotonic clock. */
#ifndef LIVETALLY_CLOCK_H
#define LIVETALLY_CLOCK_H

#include <stddef.h>
#include <stdint.h>

int64_t lt_wall_ms(void);
int64_t lt_mono_ms(void);
/* The monotonic clock in microseconds (round trips for /metrics). */
int64_t lt_mono_us(void);

/* Formats epoch milliseconds as RFC 3339 UTC into buf (at least 32 bytes):
 * "2022-07-16T02:40:00Z" when with_ms is 0, "2022-07-16T02:40:00.250Z" else.
 * Returns the length written. */
size_t lt_format_rfc3339(int64_t epoch_ms, int with_ms, char *buf, size_t cap);

/* Parses RFC 3339 ("2022-07-16T02:40:00Z", "...+08:00", fractional seconds) or
 * a plain count of epoch seconds. Returns 0 and sets *epoch_ms, or LT_EINVAL. */
int lt_parse_time(const char *s, size_t len, int64_t *epoch_ms);

#endif
