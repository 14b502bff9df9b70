/* Fuzzes the time series' parsers: the decoder of the read script's reply
 * (store/timeseries.c), the planner, and ?metrics= (api/timeseries_out.c).
 * The input is read three ways:
 *  - as little-endian int64s: the first four make a plan (step, resolution,
 *    first point, points), the fifth a counter count, the rest the reply;
 *    a decoded table must agree with the plan point for point;
 *  - as a query of the planner (the same int64s as from, to, step, now);
 *    a plan must stay within the limits it promises;
 *  - as the text of ?metrics=: parsed columns are distinct and known.
 * Sanitizers catch any read past the input or a leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "livetally/conf/config.h"
#include "livetally/store/timeseries.h"
#include "livetally/api/timeseries_out.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char shares[] = "shares", gifts[] = "gifts";
static char *items[] = {shares, gifts};
static const struct lt_strlist counters = {items, 2};

static void check_decode(const int64_t *v, size_t n)
{
    if (n < 5)
        return;
    static const int steps[] = {10, 60, 3600};
    struct lt_ts_plan plan = {
        .step_s = steps[(uint64_t)v[0] % 3],
        .res_s = 10,
        .first_t = v[2] % 4000000000LL,
        .n_points = (size_t)((uint64_t)v[3] % 64),
    };
    size_t n_counters = (size_t)((uint64_t)v[4] % 4);
    struct lt_timeseries ts;
    if (lt_ts_decode(v + 5, n - 5, &plan, n_counters, &ts) != 0) {
        CHECK(ts.t == NULL && ts.values == NULL && ts.n_points == 0);
        return;
    }
    CHECK(ts.n_points == plan.n_points && ts.n_cols == LT_TS_FIXED + n_counters);
    for (size_t i = 0; i < ts.n_points; i++) {
        CHECK(ts.t[i] == plan.first_t + (int64_t)i * plan.step_s);
        for (size_t c = 0; c < ts.n_cols; c++)
            CHECK(ts.values[i * ts.n_cols + c] >= 0);
    }
    lt_timeseries_free(&ts);
}

static void check_plan(const int64_t *v, size_t n)
{
    if (n < 4)
        return;
    static const int steps[] = {0, 10, 60, 3600};
    /* Times within +-2^40 s: the planner's callers pass parsed times and
     * the wall clock, far inside that. */
    struct lt_ts_query q = {
        .from_s = v[0] % (1LL << 40),
        .to_s = v[1] % (1LL << 40),
        .step_s = steps[(uint64_t)v[2] % 4],
        .now_s = v[3] % (1LL << 40),
        .retention_s = {48 * 3600, 90 * 86400, 1095 * 86400},
    };
    struct lt_ts_plan p;
    char why[256];
    if (lt_ts_plan(&q, &p, why, sizeof why) != 0) {
        CHECK(why[0] != '\0');
        return;
    }
    CHECK(q.from_s < q.to_s);
    CHECK(p.n_points >= 1 && p.n_points <= LT_TS_MAX_POINTS);
    CHECK(p.step_s % p.res_s == 0 && (q.step_s == 0 || q.step_s == p.step_s));
    CHECK(p.first_t <= q.from_s && q.from_s - p.first_t < p.step_s);
    CHECK(p.first_t + (int64_t)(p.n_points - 1) * p.step_s < q.to_s);
    CHECK(p.first_t + (int64_t)p.n_points * p.step_s >= q.to_s);
    CHECK(p.n_points * (size_t)(p.step_s / p.res_s) <= LT_TS_MAX_BUCKETS);
}

static void check_metrics(const char *s, size_t n)
{
    char *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    struct lt_ts_columns c;
    char why[256];
    int rc = lt_ts_metrics_parse(copy, n, &counters, &c, why, sizeof why);
    free(copy);
    if (rc != 0) {
        CHECK(strncmp(why, "metrics", 7) == 0);
        return;
    }
    CHECK(c.n >= 1 && c.n <= LT_TS_FIXED + 2);
    for (size_t i = 0; i < c.n; i++) {
        CHECK(c.col[i] >= 0 && c.col[i] < LT_TS_FIXED + 2);
        for (size_t j = 0; j < i; j++)
            CHECK(c.col[i] != c.col[j]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n = size / 8;
    int64_t *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        uint64_t x = 0;
        for (int b = 7; b >= 0; b--)
            x = x << 8 | data[i * 8 + (size_t)b];
        v[i] = (int64_t)x;
    }
    check_decode(v, n);
    check_plan(v, n);
    free(v);
    check_metrics((const char *)data, size);
    return 0;
}
