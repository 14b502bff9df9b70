/* The series time-series table: plan, alignment, JSON and CSV (see
 * series_ts_out.h). Pure: no I/O. */
#include "livetally/api/series_ts_out.h"

#include "livetally/base/error.h"
#include "livetally/base/strbuf.h"
#include "livetally/conf/config.h"
#include "livetally/api/timeseries_out.h"

#include <stdio.h>
#include <string.h>

static int64_t floor_to(int64_t t, int64_t step)
{
    int64_t q = t / step;
    if (t % step < 0)
        q--;
    return q * step;
}

/* The longest end_s - aligned start over the streams, >= 0. */
static int64_t longest(const struct lt_sts_stream *s, size_t n, int step)
{
    int64_t best = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t span = s[i].end_s - floor_to(s[i].start_s, step);
        if (span > best)
            best = span;
    }
    return best;
}

/* Do step's resolutions (those no coarser than it) still hold every
 * stream's start? */
static bool covered(const struct lt_sts_query *q, const struct lt_sts_stream *s, size_t n, int step)
{
    int64_t kept = 0;
    for (int r = 0; r < LT_TS_RESOLUTIONS && lt_ts_sizes[r] <= step; r++)
        if (q->retention_s[r] > kept)
            kept = q->retention_s[r];
    for (size_t i = 0; i < n; i++)
        if (s[i].start_s < q->now_s - kept)
            return false;
    return true;
}

static size_t rows_of(int64_t span, int step)
{
    return span <= 0 ? 1 : (size_t)((span + step - 1) / step);
}

int lt_sts_plan(const struct lt_sts_query *q, const struct lt_sts_stream *s, size_t n,
                struct lt_sts_plan *plan, char *why, size_t whylen)
{
    memset(plan, 0, sizeof *plan);
    if (q->duration_s < 0 || q->duration_s > LT_STS_MAX_DURATION) {
        snprintf(why, whylen, "duration: must be 1 to %lld seconds",
                 (long long)LT_STS_MAX_DURATION);
        return LT_EINVAL;
    }
    int step = q->step_s;
    if (step == 0) {
        step = lt_ts_sizes[LT_TS_RESOLUTIONS - 1];
        for (int r = 0; r < LT_TS_RESOLUTIONS; r++) {
            int size = lt_ts_sizes[r];
            int64_t span = q->duration_s ? q->duration_s : longest(s, n, size);
            if (rows_of(span, size) <= LT_TS_DEFAULT_POINTS && covered(q, s, n, size)) {
                step = size;
                break;
            }
        }
    }
    size_t rows = rows_of(q->duration_s ? q->duration_s : longest(s, n, step), step);
    if (rows > LT_TS_MAX_POINTS || rows * (n ? n : 1) > LT_STS_MAX_CELLS) {
        snprintf(why, whylen,
                 "duration: %zu offsets of step %s for %zu streams is more than %d offsets or "
                 "%d values; use a coarser step or a shorter duration",
                 rows, lt_ts_step_name(step), n, LT_TS_MAX_POINTS, LT_STS_MAX_CELLS);
        return LT_EINVAL;
    }
    plan->step_s = step;
    plan->n_rows = rows;
    return 0;
}

bool lt_sts_stream_query(const struct lt_sts_query *q, const struct lt_sts_plan *plan,
                         const struct lt_sts_stream *s, struct lt_ts_query *out)
{
    memset(out, 0, sizeof *out);
    int64_t from = floor_to(s->start_s, plan->step_s);
    int64_t to = from + (int64_t)plan->n_rows * plan->step_s;
    if (to > q->now_s + 1)
        to = q->now_s + 1; /* now's bucket included, none after it */
    if (to <= from)
        return false;
    out->from_s = from;
    out->to_s = to;
    out->step_s = plan->step_s;
    out->now_s = q->now_s;
    memcpy(out->retention_s, q->retention_s, sizeof out->retention_s);
    return true;
}

void lt_sts_fill(int64_t *values, const struct lt_sts_plan *plan, size_t n_streams, size_t j,
                 const struct lt_timeseries *ts, int col)
{
    if (col < 0 || (size_t)col >= ts->n_cols || ts->step_s != plan->step_s)
        return;
    for (size_t k = 0; k < ts->n_points && k < plan->n_rows; k++)
        values[k * n_streams + j] = ts->values[k * ts->n_cols + (size_t)col];
}

static void add_value(struct lt_strbuf *sb, int64_t v, const char *null)
{
    if (v == LT_STS_NULL)
        lt_strbuf_add_str(sb, null);
    else
        lt_strbuf_add_int(sb, v);
}

int lt_sts_encode_json(struct lt_strbuf *sb, const char *series, const char *metric,
                       const struct lt_sts_plan *plan, const struct lt_sts_stream *s, size_t n,
                       const int64_t *values, bool truncated)
{
    /* Ids (ids.h) and metric names (config.c) are JSON-safe as they are. */
    lt_strbuf_addf(sb,
                   "{\"series\":\"%s\",\"step\":%d,\"metric\":\"%s\",\"truncated\":%s,"
                   "\"streams\":[",
                   series, plan->step_s, metric, truncated ? "true" : "false");
    for (size_t j = 0; j < n; j++) {
        lt_strbuf_addf(sb, "%s{\"stream\":\"%s\",\"start\":", j ? "," : "", s[j].id);
        lt_strbuf_add_int(sb, s[j].start_s);
        lt_strbuf_addf(
            sb, ",\"start_from\":\"%s\",\"t0\":", s[j].from_starts_at ? "starts_at" : "created_at");
        lt_strbuf_add_int(sb, floor_to(s[j].start_s, plan->step_s));
        lt_strbuf_add_char(sb, '}');
    }
    lt_strbuf_add_str(sb, "],\"points\":[");
    for (size_t k = 0; k < plan->n_rows; k++) {
        lt_strbuf_add_str(sb, k ? ",[" : "[");
        lt_strbuf_add_int(sb, (int64_t)k * plan->step_s);
        for (size_t j = 0; j < n; j++) {
            lt_strbuf_add_char(sb, ',');
            add_value(sb, values[k * n + j], "null");
        }
        lt_strbuf_add_char(sb, ']');
    }
    lt_strbuf_add_str(sb, "]}");
    return lt_strbuf_failed(sb) ? LT_ETOOLARGE : 0;
}

int lt_sts_encode_csv(struct lt_strbuf *sb, const struct lt_sts_plan *plan,
                      const struct lt_sts_stream *s, size_t n, const int64_t *values)
{
    lt_strbuf_add_str(sb, "offset");
    for (size_t j = 0; j < n; j++) {
        lt_strbuf_add_char(sb, ',');
        lt_strbuf_add_str(sb, s[j].id);
    }
    lt_strbuf_add_str(sb, "\r\n");
    for (size_t k = 0; k < plan->n_rows; k++) {
        lt_strbuf_add_int(sb, (int64_t)k * plan->step_s);
        for (size_t j = 0; j < n; j++) {
            lt_strbuf_add_char(sb, ',');
            add_value(sb, values[k * n + j], "");
        }
        lt_strbuf_add_str(sb, "\r\n");
    }
    return lt_strbuf_failed(sb) ? LT_ETOOLARGE : 0;
}

int lt_sts_metric_parse(const char *name, size_t len, const struct lt_strlist *counters)
{
    int cols = LT_TS_FIXED + (int)counters->n;
    for (int c = 0; c < cols; c++) {
        const char *m = lt_ts_column_name(c, counters);
        if (strlen(m) == len && memcmp(m, name, len) == 0)
            return c;
    }
    return -1;
}
