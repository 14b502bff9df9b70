/* Like budgets: token buckets of burst taps refilled at rate_per_second,
 * starting full, one per key. ingest.c keeps two: one keyed by viewer
 * (likes.rate_per_second, likes.burst) and one keyed by client address
 * (likes.per_client_rate_per_second, likes.per_client_burst). Kept per worker
 * process (a viewer's socket and its page's requests normally reach one
 * worker; across workers a viewer could spend up to one budget per worker).
 * Buckets that have refilled completely are forgotten, which loses nothing
 * since a new bucket starts full: memory holds only keys that spent taps
 * within the last burst / rate seconds. */
#ifndef LIVETALLY_LIKES_BUDGET_H
#define LIVETALLY_LIKES_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

struct lt_likes_budget;

struct lt_likes_budget *lt_likes_budget_new(double rate_per_second, double burst);
void lt_likes_budget_free(struct lt_likes_budget *b);
void lt_likes_budget_set_limits(struct lt_likes_budget *b, double rate_per_second, double burst);

/* Takes n taps from the viewer's bucket at time now_ms if all n fit and
 * returns n; otherwise takes what fits when partial is true (the WebSocket
 * rule: taps above the budget are dropped) or nothing when it is false (the
 * HTTP rule: rejected whole), and returns what was taken. */
int64_t lt_likes_budget_take(struct lt_likes_budget *b, const char *viewer, int64_t n,
                             int64_t now_ms, bool partial);

/* Whole taps the key's bucket holds at now_ms (burst for an unknown key). */
int64_t lt_likes_budget_available(const struct lt_likes_budget *b, const char *key, int64_t now_ms);

/* Milliseconds until n taps would fit (for Retry-After). */
int64_t lt_likes_budget_wait_ms(const struct lt_likes_budget *b, const char *viewer, int64_t n,
                                int64_t now_ms);

/* Forgets full buckets; call every few seconds. */
void lt_likes_budget_sweep(struct lt_likes_budget *b, int64_t now_ms);

#endif
