/* Reconnect back-off and its logs (redis_retry.h). */
#include "redis_retry.h"

#include "livetally/base/clock.h"
#include "livetally/base/log.h"

#include <event2/event.h>
#include <unistd.h>

#define MOD "redis"
#define LOG_EVERY_N_FAILURES 10

void lt_redis_retry_init(struct lt_redis_retry *r, const char *name, const char *host, int port,
                         int min_ms, int max_ms, uintptr_t seed)
{
    *r = (struct lt_redis_retry){.name = name, .host = host, .port = port};
    r->min_ms = min_ms > 0 ? min_ms : 50;
    r->max_ms = max_ms > 0 ? max_ms : 2000;
    if (r->max_ms < r->min_ms)
        r->max_ms = r->min_ms;
    r->rng = ((uint64_t)lt_mono_ms() << 20) ^ (uint64_t)seed ^ (uint64_t)getpid();
    if (r->rng == 0)
        r->rng = 88172645463325252ULL;
}

void lt_redis_retry_failed(struct lt_redis_retry *r, const char *why)
{
    r->failures++;
    if (r->failures == 1)
        lt_warn(MOD, "%s %s:%d: %s; reconnecting", r->name, r->host, r->port, why);
    else if (r->failures % LOG_EVERY_N_FAILURES == 0)
        lt_warn(MOD, "%s %s:%d: still down after %u attempts: %s", r->name, r->host, r->port,
                r->failures, why);
    else
        lt_debug(MOD, "%s %s:%d: attempt %u failed: %s", r->name, r->host, r->port, r->failures,
                 why);
}

static uint64_t next_random(struct lt_redis_retry *r)
{
    /* xorshift64*: enough to keep many workers from reconnecting in step. */
    r->rng ^= r->rng >> 12;
    r->rng ^= r->rng << 25;
    r->rng ^= r->rng >> 27;
    return r->rng * 2685821657736338717ULL;
}

int lt_redis_retry_delay_ms(struct lt_redis_retry *r)
{
    int64_t delay = r->min_ms;
    for (unsigned i = 1; i < r->failures && delay < r->max_ms; i++)
        delay *= 2;
    if (delay > r->max_ms)
        delay = r->max_ms;
    int64_t half = delay / 2;
    return (int)(delay - half + (int64_t)(next_random(r) % (uint64_t)(half + 1)));
}

void lt_redis_retry_up(struct lt_redis_retry *r, const char *what)
{
    if (r->failures > 0 && r->ever_up)
        lt_info(MOD, "%s %s:%d: connection back after %u failed attempts", r->name, r->host,
                r->port, r->failures);
    else
        lt_info(MOD, "%s %s:%d: connected%s%s%s", r->name, r->host, r->port, what ? " (" : "",
                what ? what : "", what ? ")" : "");
    r->failures = 0;
    r->ever_up = true;
}

void lt_redis_timer_ms(struct event *ev, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}
