/* Reconnecting to one Redis node, shared by the two kinds of connection
 * (redis_conn.c, redis_shard_sub.c): capped exponential back-off with
 * jitter, failure logs that do not flood while a node stays down, and the
 * timers that pace them.
 * Private to src/store/. */
#ifndef LIVETALLY_STORE_REDIS_RETRY_H
#define LIVETALLY_STORE_REDIS_RETRY_H

#include <stdbool.h>
#include <stdint.h>

struct lt_redis_retry {
    const char *name; /* for logs, e.g. "data" (the owner's copy) */
    const char *host;
    int port;
    int min_ms, max_ms;
    unsigned failures; /* consecutive failed attempts since the last success */
    bool ever_up;
    uint64_t rng;
};

/* min_ms, max_ms 0: 50 and 2000. seed: anything that differs per
 * connection (its address). */
void lt_redis_retry_init(struct lt_redis_retry *r, const char *name, const char *host, int port,
                         int min_ms, int max_ms, uintptr_t seed);
/* One more failed attempt, logged: a warning on the first after being up,
 * then every 10th, debug in between. */
void lt_redis_retry_failed(struct lt_redis_retry *r, const char *why);
/* The delay before the next attempt: doubling from min_ms to max_ms with
 * "equal jitter" (half fixed, half random), so that many workers that lost
 * a node together do not come back in step. */
int lt_redis_retry_delay_ms(struct lt_redis_retry *r);
/* Up again: logged (with the failures, if any) and the count reset. what
 * says more, e.g. "db 0"; may be NULL. */
void lt_redis_retry_up(struct lt_redis_retry *r, const char *what);

/* Arms the timer ev to fire in ms milliseconds (0 when negative). */
struct event;
void lt_redis_timer_ms(struct event *ev, int64_t ms);

#endif
