/* GET /v1/series/{id}/timeseries at the edge, without sockets: the plan of
 * a series' table (one step and one row count for every stream), each
 * stream's read as a stream time-series query (store/timeseries.h), and
 * the table's two wire forms (JSON and CSV). The handler is
 * api_series_timeseries.c; the unit tests call these directly.
 *
 * Alignment: row k is the offset k * step seconds. A stream's offset 0 is
 * the bucket holding its start (starts_at when set, else created_at),
 * i.e. its start rounded down to the step, so row k of stream s is s's
 * bucket starting at floor(start, step) + k * step.
 *
 * Values: a bucket's own count of the one metric (not cumulative), 0 for
 * an empty bucket, and LT_STS_NULL (null in JSON, an empty CSV field) for
 * a bucket that starts after now (that stream has not got there yet). */
#ifndef LIVETALLY_SERIES_TS_OUT_H
#define LIVETALLY_SERIES_TS_OUT_H

#include "livetally/store/timeseries.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lt_strbuf;
struct lt_strlist;

/* The most streams one table has: one read script call each. A larger
 * series answers its earliest-starting LT_STS_MAX_STREAMS streams and
 * says "truncated":true. */
#define LT_STS_MAX_STREAMS 100
/* The most cells (rows x streams) one table has. */
#define LT_STS_MAX_CELLS 1000000
/* The longest ?duration=: ten years, in seconds. */
#define LT_STS_MAX_DURATION ((int64_t)10 * 366 * 86400)
#define LT_STS_NULL INT64_C(-1)

struct lt_sts_stream {
    const char *id;
    int64_t start_s;     /* starts_at, else created_at (epoch s) */
    bool from_starts_at; /* which of the two start_s is */
    int64_t end_s;       /* exclusive: the second after its last bucket's time */
};

struct lt_sts_query {
    int step_s;         /* 0: choose one */
    int64_t duration_s; /* 0: the longest stream's life */
    int64_t now_s;
    int64_t retention_s[LT_TS_RESOLUTIONS]; /* per lt_ts_sizes */
};

struct lt_sts_plan {
    int step_s;
    size_t n_rows;
};

/* Plans the table of n streams (n >= 1). The default step is the finest of
 * 10 s, 1 min, 1 h that gives at most LT_TS_DEFAULT_POINTS rows and whose
 * resolutions still hold every stream's start (else 1 h); the default row
 * count covers the longest (end_s - aligned start). Returns 0, or LT_EINVAL
 * with why naming the parameter at fault. */
int lt_sts_plan(const struct lt_sts_query *q, const struct lt_sts_stream *s, size_t n,
                struct lt_sts_plan *plan, char *why, size_t whylen);

/* The stream time-series query of stream s's column: from its aligned start
 * to the end of the table or now's bucket, whichever is first. false when
 * nothing of it is in the past (the column is all null). */
bool lt_sts_stream_query(const struct lt_sts_query *q, const struct lt_sts_plan *plan,
                         const struct lt_sts_stream *s, struct lt_ts_query *out);

/* Copies column col of ts into column j of values (n_rows x n_streams, row
 * by row): rows the read has are set, the others left as they are. */
void lt_sts_fill(int64_t *values, const struct lt_sts_plan *plan, size_t n_streams, size_t j,
                 const struct lt_timeseries *ts, int col);

/* {"series":..,"step":60,"metric":"likes","truncated":false,
 *  "streams":[{"stream":"a","start":<s>,"start_from":"starts_at"|"created_at",
 *              "t0":<offset 0's bucket start>},..],
 *  "points":[[offset,a,b,..],..]}. Returns 0 or LT_ETOOLARGE. */
int lt_sts_encode_json(struct lt_strbuf *sb, const char *series, const char *metric,
                       const struct lt_sts_plan *plan, const struct lt_sts_stream *s, size_t n,
                       const int64_t *values, bool truncated);

/* RFC 4180 with CRLF: "offset,<stream>,..", then one row per offset; null
 * is an empty field. Stream ids need no quoting (ids.h). */
int lt_sts_encode_csv(struct lt_strbuf *sb, const struct lt_sts_plan *plan,
                      const struct lt_sts_stream *s, size_t n, const int64_t *values);

/* The store column of a single metric name (views, likes, uniques, online
 * or a configured counter), else -1. */
int lt_sts_metric_parse(const char *name, size_t len, const struct lt_strlist *counters);

#endif
