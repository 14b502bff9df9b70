/* GET /v1/streams/{id}/timeseries at the edge: the request's metrics and
 * time zone, and the two wire forms of a struct lt_timeseries (JSON, with
 * segment markers, and CSV, without them). No sockets: the handler
 * (api_timeseries.c) and the unit tests call these directly.
 *
 * Columns: the metric names are views, likes, uniques, online and the
 * configured counters' names (the store's column LT_TS_FIXED + i for
 * counters[i]). */
#ifndef LIVETALLY_TIMESERIES_OUT_H
#define LIVETALLY_TIMESERIES_OUT_H

#include "livetally/store/timeseries.h"
#include "livetally/store/totals.h"

#include <stdbool.h>
#include <stddef.h>

struct lt_strbuf;
struct lt_strlist;

/* The most metrics one request names (the four and 32 counters). */
#define LT_TS_MAX_METRICS 64
#define LT_TZ_NAME_MAX 64

/* The chosen columns, in the order asked. */
struct lt_ts_columns {
    int col[LT_TS_MAX_METRICS];
    size_t n;
};

/* The column name of store column col (a fixed name or a counter's). */
const char *lt_ts_column_name(int col, const struct lt_strlist *counters);

/* Parses ?metrics= (comma-separated names; NULL = all fixed four then every
 * counter). Returns 0, or LT_EINVAL with why naming the metric at fault. */
int lt_ts_metrics_parse(const char *s, size_t len, const struct lt_strlist *counters,
                        struct lt_ts_columns *out, char *why, size_t whylen);

/* Is name an IANA zone of the system's tz database (/usr/share/zoneinfo, a
 * TZif file)? Refuses names with "..", a leading '/', or other bytes than
 * A-Z a-z 0-9 / _ + -. */
bool lt_tz_valid(const char *name, size_t len);

/* {"stream":..,"step":60,"metrics":[..],"points":[[t,..],..],
 * "segments":[..]} and "tz" when tz is not NULL. segments: markers of the
 * stream's segments (n_segs of segs, may be 0) that start in the range or
 * run through it, {"id","title","started_at","t"}, t being the point that
 * holds the start (the first point for a segment that started before the
 * range). Returns 0, or the strbuf's error (it failed). */
int lt_ts_encode_json(struct lt_strbuf *sb, const char *stream, const struct lt_timeseries *ts,
                      const struct lt_ts_columns *cols, const struct lt_strlist *counters,
                      const char *tz, const struct lt_totals_segment *segs, size_t n_segs);

/* RFC 4180 with CRLF: a header row "t[,local_time],<metrics>", then one row
 * per point; local_time (ISO 8601 with the zone's offset) only when tz is
 * not NULL (a name lt_tz_valid accepted). tz switches the process' TZ for
 * the call and restores it (a worker is single-threaded). */
int lt_ts_encode_csv(struct lt_strbuf *sb, const struct lt_timeseries *ts,
                     const struct lt_ts_columns *cols, const struct lt_strlist *counters,
                     const char *tz);

#endif
