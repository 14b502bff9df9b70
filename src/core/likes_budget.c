/* Like budgets: token buckets per key (see likes_budget.h). */
#include "livetally/core/likes_budget.h"

#include "livetally/base/map.h"
#include "livetally/base/mem.h"

#include <math.h>
#include <string.h>

struct bucket {
    double tokens;
    int64_t at_ms; /* when tokens was computed */
};

struct lt_likes_budget {
    double rate; /* tokens per millisecond */
    double burst;
    struct lt_map buckets;
};

struct lt_likes_budget *lt_likes_budget_new(double rate_per_second, double burst)
{
    struct lt_likes_budget *b = lt_calloc(1, sizeof *b);
    lt_map_init(&b->buckets);
    lt_likes_budget_set_limits(b, rate_per_second, burst);
    return b;
}

void lt_likes_budget_set_limits(struct lt_likes_budget *b, double rate_per_second, double burst)
{
    b->rate = rate_per_second / 1000.0;
    b->burst = burst;
}

void lt_likes_budget_free(struct lt_likes_budget *b)
{
    size_t i;
    for (struct lt_map_entry *e = lt_map_next(&b->buckets, NULL, &i); e;
         e = lt_map_next(&b->buckets, e, &i))
        lt_free(e->value);
    lt_map_clear(&b->buckets);
    lt_free(b);
}

static double level(const struct lt_likes_budget *b, const struct bucket *k, int64_t now_ms)
{
    if (!k)
        return b->burst;
    double t = k->tokens + (double)(now_ms - k->at_ms) * b->rate;
    return t > b->burst ? b->burst : t;
}

int64_t lt_likes_budget_take(struct lt_likes_budget *b, const char *viewer, int64_t n,
                             int64_t now_ms, bool partial)
{
    size_t len = strlen(viewer);
    struct bucket *k = lt_map_get(&b->buckets, viewer, len);
    double have = level(b, k, now_ms);
    int64_t take = n;
    if ((double)n > have)
        take = partial ? (int64_t)have : 0;
    if (take <= 0)
        return 0;
    if (!k) {
        k = lt_malloc(sizeof *k);
        lt_map_put(&b->buckets, viewer, len, k);
    }
    k->tokens = have - (double)take;
    k->at_ms = now_ms;
    return take;
}

int64_t lt_likes_budget_available(const struct lt_likes_budget *b, const char *key, int64_t now_ms)
{
    return (int64_t)level(b, lt_map_get(&b->buckets, key, strlen(key)), now_ms);
}

int64_t lt_likes_budget_wait_ms(const struct lt_likes_budget *b, const char *viewer, int64_t n,
                                int64_t now_ms)
{
    const struct bucket *k = lt_map_get(&b->buckets, viewer, strlen(viewer));
    double missing = (double)n - level(b, k, now_ms);
    if (missing <= 0)
        return 0;
    if ((double)n > b->burst)
        return -1; /* never fits */
    /* Whole milliseconds, rounded up, so that waiting that long is enough;
     * the small slack keeps a quotient that is a whole number in decimal
     * (2 tokens at 0.002 per ms) from rounding up past it in binary. A
     * Retry-After of ceil(ms / 1000) s then never asks for a second more. */
    return (int64_t)ceil(missing / b->rate - 1e-6);
}

void lt_likes_budget_sweep(struct lt_likes_budget *b, int64_t now_ms)
{
    /* Collect first: the map may not change under iteration. */
    size_t i, n = 0, cap = 256;
    char **full = lt_malloc(cap * sizeof *full);
    for (struct lt_map_entry *e = lt_map_next(&b->buckets, NULL, &i); e;
         e = lt_map_next(&b->buckets, e, &i)) {
        if (level(b, e->value, now_ms) >= b->burst) {
            if (n == cap) {
                cap *= 2;
                full = lt_realloc(full, cap * sizeof *full);
            }
            full[n++] = e->key;
        }
    }
    for (size_t k = 0; k < n; k++)
        lt_free(lt_map_remove(&b->buckets, full[k], strlen(full[k])));
    lt_free(full);
}
