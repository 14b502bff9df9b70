/* Time series of a stream: the plan of a read (which buckets, at which step,
 * from which resolution) and its result, a typed table of points. Nothing
 * here knows Redis or HTTP: store.c reads what a plan names
 * (lt_store_get_timeseries), the API parses the request into a query and
 * writes JSON or CSV from the points.
 *
 * Buckets are recorded at three resolutions (10 s, 1 min, 1 h; apply.lua),
 * each kept as long as its timeseries.retention_* key says. A point of step
 * S is read from the coarsest resolution R <= S whose retention still covers
 * the start of the range (numbers are the same at every resolution, a
 * coarser one is fewer reads), and S / R buckets are rolled up into it:
 * counts add, online is the highest, uniques is one PFCOUNT over the union
 * of the buckets' HyperLogLogs.
 *
 * Ownership: lt_timeseries_free releases what lt_ts_decode filled. */
#ifndef LIVETALLY_TIMESERIES_H
#define LIVETALLY_TIMESERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LT_TS_RESOLUTIONS 3
/* 10, 60, 3600: the bucket sizes in seconds, finest first. */
extern const int lt_ts_sizes[LT_TS_RESOLUTIONS];
/* Points a default step aims below, and the most one read may return. */
#define LT_TS_DEFAULT_POINTS 1500
#define LT_TS_MAX_POINTS 100000
/* The most buckets one read may visit (points x step / resolution). */
#define LT_TS_MAX_BUCKETS 200000

/* The fixed columns of a point, then one per configured counter. */
enum lt_ts_column { LT_TS_VIEWS, LT_TS_LIKES, LT_TS_UNIQUES, LT_TS_ONLINE, LT_TS_FIXED };

/* "10s" | "1m" | "1h" -> 10 | 60 | 3600, else 0. */
int lt_ts_step_parse(const char *s, size_t len);
/* 10 -> "10s", 60 -> "1m", 3600 -> "1h", else "". */
const char *lt_ts_step_name(int step_s);

/* A request, times in epoch seconds. */
struct lt_ts_query {
    int64_t from_s;
    int64_t to_s;     /* points whose bucket starts before to_s */
    int step_s;       /* 0: choose one */
    int64_t now_s;
    int64_t retention_s[LT_TS_RESOLUTIONS]; /* per lt_ts_sizes */
};

struct lt_ts_plan {
    int step_s;
    int res_s;       /* the resolution read */
    int64_t first_t; /* the first point's start: from_s rounded down to step */
    size_t n_points;
};

/* Checks q and plans its read. Returns 0, or LT_EINVAL with a message that
 * names the parameter at fault ("from ...", "step ...") in why. */
int lt_ts_plan(const struct lt_ts_query *q, struct lt_ts_plan *plan, char *why, size_t whylen);

struct lt_timeseries {
    int step_s;
    size_t n_points;
    size_t n_cols;     /* LT_TS_FIXED + configured counters */
    int64_t *t;        /* n_points bucket starts, epoch seconds */
    int64_t *values;   /* n_points x n_cols, row by row */
};

/* Decodes the read script's reply, given as the integers it returned in
 * order: n_points, n_cols, then per point its start and n_cols values. It
 * must match the plan (points, starts one step apart from first_t) and
 * n_counters; every value is >= 0. Strict: anything else is LT_EPROTO, and
 * out is left empty. Returns 0 with out filled (lt_timeseries_free). */
int lt_ts_decode(const int64_t *v, size_t n, const struct lt_ts_plan *plan, size_t n_counters,
                 struct lt_timeseries *out);
void lt_timeseries_free(struct lt_timeseries *ts);

#endif
