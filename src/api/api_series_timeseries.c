/* GET /v1/series/{id}/timeseries: the series' streams lined up by time
 * since each one's start, one metric, one column per stream (API.md;
 * README "Series time series"). The series read (lt_store_get_series)
 * gives the streams and their starts; then one stream time-series read
 * (lt_store_get_timeseries) per stream, all sent at once; when the last
 * answers, the table is written as JSON or CSV (series_ts_out.h). */
#include "livetally/api/series_ts_out.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/mem.h"
#include "livetally/base/strbuf.h"
#include "livetally/conf/config.h"
#include "livetally/store/series.h"
#include "livetally/store/store.h"
#include "livetally/store/timeseries.h"
#include "livetally/api/api.h"
#include "livetally/api/app.h"
#include "livetally/api/timeseries_out.h"

#include <stdio.h>
#include <string.h>

#define LT_STS_BODY_MAX ((size_t)64 << 20)

struct sts_request {
    struct lt_app *app;
    struct lt_request *req;
    char series[LT_SERIES_ID_MAX + 1];
    int col; /* the metric's store column */
    bool csv;
    struct lt_sts_query query;
    struct lt_sts_plan plan;
    struct lt_sts_stream *streams; /* ids point into ids */
    char (*ids)[LT_STREAM_ID_MAX + 1];
    size_t n;
    bool truncated;
    int64_t *values; /* plan.n_rows x n */
    size_t pending;  /* reads out */
    int err;         /* the first read's error */
};

struct sts_read {
    struct sts_request *sr;
    size_t j; /* the column */
};

static void sts_free(struct sts_request *sr)
{
    lt_free(sr->streams);
    lt_free(sr->ids);
    lt_free(sr->values);
    lt_free(sr);
}

static void answer(struct sts_request *sr)
{
    struct lt_request *req = sr->req;
    if (sr->err) {
        lt_api_respond_store_error(req, sr->err);
        return;
    }
    const struct lt_config *cfg = sr->app->cfg;
    char stack[4096];
    struct lt_strbuf sb;
    lt_strbuf_init(&sb, stack, sizeof stack, LT_STS_BODY_MAX);
    int rc;
    if (sr->csv)
        rc = lt_sts_encode_csv(&sb, &sr->plan, sr->streams, sr->n, sr->values);
    else
        rc = lt_sts_encode_json(&sb, sr->series, lt_ts_column_name(sr->col, &cfg->counters),
                                &sr->plan, sr->streams, sr->n, sr->values, sr->truncated);
    if (rc != 0) {
        lt_respond_error(req, 500, "internal_error", "the time series is too large to send");
    } else if (sr->csv) {
        char disp[160]; /* a 64-byte id and a few words */
        snprintf(disp, sizeof disp, "attachment; filename=\"%s-timeseries-%s.csv\"", sr->series,
                 lt_ts_step_name(sr->plan.step_s));
        lt_response_header(req, "Content-Disposition", disp);
        lt_respond(req, 200, "text/csv; charset=utf-8; header=present", lt_strbuf_text(&sb),
                   sb.len);
    } else {
        lt_respond(req, 200, "application/json; charset=utf-8", lt_strbuf_text(&sb), sb.len);
    }
    lt_strbuf_free(&sb);
}

static void on_points(void *arg, int err, const struct lt_timeseries *ts)
{
    struct sts_read *rd = arg;
    struct sts_request *sr = rd->sr;
    if (err && !sr->err)
        sr->err = err;
    else if (!err && ts) /* NULL: the stream went away meanwhile; its column stays null */
        lt_sts_fill(sr->values, &sr->plan, sr->n, rd->j, ts, sr->col);
    lt_free(rd);
    if (--sr->pending == 0) {
        answer(sr);
        sts_free(sr);
    }
}

/* Plans every stream's read (a 400 when one cannot be planned) and sends
 * them. Answers and frees sr unless reads are out. */
static void read_columns(struct sts_request *sr)
{
    char why[LT_STREAM_ID_MAX + 320]; /* a stream id and a plan's message */
    if (lt_sts_plan(&sr->query, sr->streams, sr->n, &sr->plan, why, sizeof why) != 0) {
        lt_respond_error(sr->req, 400, "bad_request", why);
        sts_free(sr);
        return;
    }
    size_t cells = sr->plan.n_rows * sr->n;
    sr->values = lt_malloc(cells * sizeof *sr->values);
    for (size_t i = 0; i < cells; i++)
        sr->values[i] = LT_STS_NULL;
    struct lt_ts_plan *plans = lt_calloc(sr->n, sizeof *plans);
    bool *read = lt_calloc(sr->n, sizeof *read);
    for (size_t j = 0; j < sr->n; j++) {
        struct lt_ts_query q;
        if (!lt_sts_stream_query(&sr->query, &sr->plan, &sr->streams[j], &q))
            continue;
        char ts_why[256];
        /* ts_why's own "from/to: ..." names the time range; for a series
         * it is the step (or the data expired) that is at fault. */
        if (lt_ts_plan(&q, &plans[j], ts_why, sizeof ts_why) != 0) {
            /* The default step is the coarsest when it must be: a stream
             * whose buckets have all expired even at 1 h stays null. An
             * asked step is the asker's to change. */
            if (sr->query.step_s == 0)
                continue;
            snprintf(why, sizeof why, "step: stream %s: %s", sr->streams[j].id, ts_why);
            lt_respond_error(sr->req, 400, "bad_request", why);
            lt_free(plans);
            lt_free(read);
            sts_free(sr);
            return;
        }
        read[j] = true;
    }
    bool uniques = sr->col == LT_TS_UNIQUES;
    sr->pending = 1; /* held until every read is sent */
    for (size_t j = 0; j < sr->n; j++) {
        if (!read[j])
            continue;
        struct sts_read *rd = lt_malloc(sizeof *rd);
        rd->sr = sr;
        rd->j = j;
        sr->pending++;
        int rc = lt_store_get_timeseries(sr->app->store, sr->streams[j].id, &plans[j], uniques,
                                         on_points, rd);
        if (rc != 0) {
            sr->pending--;
            lt_free(rd);
            if (!sr->err)
                sr->err = rc;
            break;
        }
    }
    lt_free(plans);
    lt_free(read);
    if (--sr->pending == 0) {
        answer(sr);
        sts_free(sr);
    }
}

static void on_series(void *arg, int err, const struct lt_series_totals *series)
{
    struct sts_request *sr = arg;
    if (err || !series) {
        if (err)
            lt_api_respond_store_error(sr->req, err);
        else
            lt_respond_error(sr->req, 404, "not_found", "no such series: no stream is in it");
        sts_free(sr);
        return;
    }
    /* Streams come earliest start first (lt_series_sort): the cap keeps the
     * earliest. */
    size_t n = series->n_streams < LT_STS_MAX_STREAMS ? series->n_streams : LT_STS_MAX_STREAMS;
    sr->truncated = series->truncated || series->n_streams > n;
    sr->n = n;
    sr->streams = lt_calloc(n ? n : 1, sizeof *sr->streams);
    sr->ids = lt_calloc(n ? n : 1, sizeof *sr->ids);
    for (size_t j = 0; j < n; j++) {
        const struct lt_totals *t = &series->streams[j];
        struct lt_sts_stream *s = &sr->streams[j];
        snprintf(sr->ids[j], sizeof sr->ids[j], "%s", t->stream);
        s->id = sr->ids[j];
        s->from_starts_at = t->has_starts;
        int64_t start_ms = t->has_starts ? t->starts_ms : t->created_ms;
        s->start_s = start_ms >= 0 ? start_ms / 1000 : -((-start_ms + 999) / 1000);
        /* An ended stream's life ends at its last applied batch; a live or
         * scheduled one's now. */
        if (t->status == LT_STATUS_ENDED && t->updated_ms > 0)
            s->end_s = t->updated_ms / 1000 + 1;
        else
            s->end_s = sr->query.now_s + 1;
        if (s->end_s < s->start_s)
            s->end_s = s->start_s;
    }
    read_columns(sr);
}

/* Reads every parameter into sr; false after answering 400. */
static bool parse_params(struct sts_request *sr)
{
    struct lt_request *req = sr->req;
    const struct lt_config *cfg = sr->app->cfg;
    char buf[128];
    long n;
    int r;
    sr->col = LT_TS_VIEWS;
    if ((r = lt_api_query_param(req, "metric", buf, sizeof buf, &n)) < 0)
        return false;
    if (r > 0 && (sr->col = lt_sts_metric_parse(buf, (size_t)n, &cfg->counters)) < 0) {
        lt_respond_error(req, 400, "bad_request",
                         "metric: unknown metric (one of views, likes, uniques, online or a "
                         "configured counter)");
        return false;
    }
    if ((r = lt_api_query_param(req, "step", buf, sizeof buf, &n)) < 0)
        return false;
    if (r > 0 && !(sr->query.step_s = lt_ts_step_parse(buf, (size_t)n))) {
        lt_respond_error(req, 400, "bad_request", "step: unknown step (10s, 1m or 1h)");
        return false;
    }
    if ((r = lt_api_query_param(req, "duration", buf, sizeof buf, &n)) < 0)
        return false;
    if (r > 0) {
        int64_t d = 0;
        bool ok = n > 0 && n <= 12 && buf[0] != '0';
        for (long i = 0; ok && i < n; i++) {
            ok = buf[i] >= '0' && buf[i] <= '9';
            d = d * 10 + (buf[i] - '0');
        }
        if (!ok || d > LT_STS_MAX_DURATION) {
            char msg[128];
            snprintf(msg, sizeof msg, "duration: whole seconds from 1 to %lld",
                     (long long)LT_STS_MAX_DURATION);
            lt_respond_error(req, 400, "bad_request", msg);
            return false;
        }
        sr->query.duration_s = d;
    }
    if ((r = lt_api_query_param(req, "format", buf, sizeof buf, &n)) < 0)
        return false;
    if (r > 0) {
        if (n == 3 && memcmp(buf, "csv", 3) == 0) {
            sr->csv = true;
        } else if (!(n == 4 && memcmp(buf, "json", 4) == 0)) {
            lt_respond_error(req, 400, "bad_request", "format: unknown format (json or csv)");
            return false;
        }
    } else {
        sr->csv = lt_api_accepts_csv(req);
    }
    return true;
}

void lt_api_get_series_timeseries(struct lt_app *app, struct lt_request *req,
                                  const struct lt_route_params *params)
{
    const struct lt_config *cfg = app->cfg;
    struct sts_request *sr = lt_calloc(1, sizeof *sr);
    sr->app = app;
    sr->req = req;
    snprintf(sr->series, sizeof sr->series, "%s", params->id);
    struct lt_sts_query *q = &sr->query;
    q->now_s = lt_wall_ms() / 1000;
    lt_api_ts_retentions(cfg, q->retention_s);
    if (!parse_params(sr)) {
        sts_free(sr);
        return;
    }
    int rc = lt_store_get_series(app->store, sr->series, on_series, sr);
    if (rc != 0) {
        sts_free(sr);
        lt_api_respond_store_error(req, rc);
    }
}
