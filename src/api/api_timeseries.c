/* GET /v1/streams/{id}/timeseries: parameters -> a plan (store/timeseries.h)
 * -> one read script call -> JSON or CSV (timeseries_out.h). The stream's
 * totals are read first when ?from= is absent (its created_at) or the answer
 * is JSON (its segments, shown as markers); JSON also reads the partner
 * reports in the range ("reported", reports_out.h) before the points. So a
 * JSON answer costs three round trips, a CSV with ?from= one (answers are
 * cached for a second per worker). */
#include "livetally/api/reports_out.h"
#include "livetally/api/timeseries_out.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/mem.h"
#include "livetally/base/strbuf.h"
#include "livetally/conf/config.h"
#include "livetally/store/store.h"
#include "livetally/store/timeseries.h"
#include "livetally/api/api.h"
#include "livetally/api/app.h"

#include <stdio.h>
#include <string.h>

/* A body may be as large as LT_TS_MAX_POINTS rows of every column (about
 * 64 MiB at worst); the limit only guards against a bug. */
#define LT_TS_BODY_MAX ((size_t)256 << 20)

struct ts_cache_slot;

struct ts_request {
    struct lt_app *app;
    struct lt_request *req;
    char stream[LT_STREAM_ID_MAX + 1];
    struct lt_ts_query query;
    bool has_from;
    struct lt_ts_columns cols;
    bool csv;
    bool has_tz;
    char tz[LT_TZ_NAME_MAX + 1];
    struct lt_ts_plan plan;
    struct ts_cache_slot *slot; /* the cache slot this read fills; NULL: uncached */
    char *reported;             /* JSON: the "reported" member (lt_malloc'd), or NULL */
    size_t reported_len;
    /* The stream's totals, for the JSON's segment markers (read first). */
    struct lt_totals totals;
    bool has_totals;
};

static void tr_free(struct ts_request *tr)
{
    if (tr->has_totals)
        lt_totals_free(&tr->totals);
    lt_free(tr->reported);
    lt_free(tr);
}

/* A read failed (err), or found no stream (err 0): answer and end. */
static void finish_read(struct ts_request *tr, int err, const struct lt_timeseries *ts);
static void tr_fail(struct ts_request *tr, int err)
{
    finish_read(tr, err, NULL);
    tr_free(tr);
}

static void bad_request(struct lt_request *req, const char *why)
{
    lt_respond_error(req, 400, "bad_request", why);
}

/* ?from= / ?to=: RFC 3339 or epoch seconds. to rounds up to a whole second
 * (points are buckets that start before it). */
static int time_param(struct lt_request *req, const char *name, bool up, int64_t *out_s)
{
    char buf[64];
    long n;
    int r = lt_api_query_param(req, name, buf, sizeof buf, &n);
    if (r <= 0)
        return r;
    int64_t ms;
    if (lt_parse_time(buf, (size_t)n, &ms) != 0 || ms < 0) {
        char msg[128];
        snprintf(msg, sizeof msg,
                 "%s: not a time (RFC 3339 such as 2022-07-16T02:40:00Z, or epoch seconds)",
                 name);
        bad_request(req, msg);
        return -1;
    }
    *out_s = up ? (ms + 999) / 1000 : ms / 1000;
    return 1;
}

/* ---- answer cache ------------------------------------------------------
 *
 * A read of a day at one minute runs ~3,000 Redis calls inside one script
 * (a few ms of Redis time, which no other client gets meanwhile), and
 * dashboards ask the same question many at a time. So each worker keeps
 * the last answers for LT_TS_CACHE_MS and folds identical requests that
 * arrive while a read is out into that read: the same plan, metrics, format
 * and zone are the same bytes. An answer is at most LT_TS_CACHE_MS older
 * than Redis (as a totals push is up to push_interval_ms). */
#define LT_TS_CACHE_SLOTS 32
#define LT_TS_CACHE_MS 1000
#define LT_TS_KEY_MAX 512

struct ts_waiter {
    struct lt_request *req;
    struct ts_waiter *next;
};

struct ts_cache_slot {
    bool used;
    bool pending; /* a read is out; waiters get its answer */
    char key[LT_TS_KEY_MAX];
    int64_t expires_ms; /* lt_mono_ms */
    char *body;         /* lt_malloc'd */
    size_t len;
    bool csv;
    int step_s;
    char stream[LT_STREAM_ID_MAX + 1];
    struct ts_waiter *waiters;
};

/* Per worker process (each has its own loop and copy). */
static struct ts_cache_slot ts_cache[LT_TS_CACHE_SLOTS];

/* Everything the answer's bytes depend on. false when it does not fit. */
static bool cache_key(const struct ts_request *tr, char *key, size_t cap)
{
    struct lt_strbuf sb;
    lt_strbuf_init_fixed(&sb, key, cap);
    lt_strbuf_addf(&sb, "%s|%d|%d|%lld|%zu|%d|%s|", tr->stream, tr->plan.step_s, tr->plan.res_s,
                   (long long)tr->plan.first_t, tr->plan.n_points, tr->csv ? 1 : 0,
                   tr->has_tz ? tr->tz : "");
    for (size_t i = 0; i < tr->cols.n; i++)
        lt_strbuf_addf(&sb, "%d,", tr->cols.col[i]);
    return !lt_strbuf_failed(&sb);
}

static void send_body(struct lt_request *req, const char *stream, int step_s, bool csv,
                      const char *body, size_t len)
{
    if (csv) {
        char disp[160]; /* a 64-byte id and a few words */
        snprintf(disp, sizeof disp, "attachment; filename=\"%s-timeseries-%s.csv\"", stream,
                 lt_ts_step_name(step_s));
        lt_response_header(req, "Content-Disposition", disp);
    }
    lt_respond(req, 200,
               csv ? "text/csv; charset=utf-8; header=present" : "application/json; charset=utf-8",
               body, len);
}

static void slot_clear(struct ts_cache_slot *slot)
{
    lt_free(slot->body);
    memset(slot, 0, sizeof *slot);
}

/* The slot answering tr's key: a fresh answer (answered here: true), a read
 * out (tr joins it: true), or a slot claimed for tr's own read (*claimed;
 * false). *claimed NULL and false: no slot free, read uncached. */
static bool cache_lookup(struct ts_request *tr, struct ts_cache_slot **claimed)
{
    *claimed = NULL;
    char key[LT_TS_KEY_MAX];
    if (!cache_key(tr, key, sizeof key))
        return false;
    int64_t now = lt_mono_ms();
    struct ts_cache_slot *free_slot = NULL;
    for (size_t i = 0; i < LT_TS_CACHE_SLOTS; i++) {
        struct ts_cache_slot *s = &ts_cache[i];
        if (s->used && strcmp(s->key, key) == 0) {
            if (s->pending) {
                struct ts_waiter *w = lt_malloc(sizeof *w);
                w->req = tr->req;
                w->next = s->waiters;
                s->waiters = w;
                return true;
            }
            if (now < s->expires_ms) {
                send_body(tr->req, s->stream, s->step_s, s->csv, s->body, s->len);
                return true;
            }
            slot_clear(s);
        }
        if (!s->used)
            free_slot = free_slot ? free_slot : s;
        else if (!s->pending && now >= s->expires_ms)
            free_slot = s; /* stale: reusable */
    }
    if (free_slot) {
        slot_clear(free_slot);
        free_slot->used = true;
        free_slot->pending = true;
        snprintf(free_slot->key, sizeof free_slot->key, "%s", key);
        snprintf(free_slot->stream, sizeof free_slot->stream, "%s", tr->stream);
        free_slot->csv = tr->csv;
        *claimed = free_slot;
    }
    return false;
}

/* Answers tr (and the waiters of its slot) with ts, or with err / 404. */
static void finish_read(struct ts_request *tr, int err, const struct lt_timeseries *ts)
{
    struct ts_cache_slot *slot = tr->slot;
    struct ts_waiter *waiters = slot ? slot->waiters : NULL;
    if (slot)
        slot->waiters = NULL;
    char *body = NULL;
    size_t len = 0;
    int rc = err;
    if (!err && ts) {
        const struct lt_config *cfg = tr->app->cfg;
        char stack[4096];
        struct lt_strbuf sb;
        lt_strbuf_init(&sb, stack, sizeof stack, LT_TS_BODY_MAX);
        const char *tz = tr->has_tz ? tr->tz : NULL;
        if (tr->csv) {
            rc = lt_ts_encode_csv(&sb, ts, &tr->cols, &cfg->counters, tz);
        } else {
            rc = lt_ts_encode_json(&sb, tr->stream, ts, &tr->cols, &cfg->counters, tz,
                                   tr->totals.segments, tr->has_totals ? tr->totals.n_segments : 0);
            /* The object's last '}' gives way to the partner reports. */
            if (rc == 0 && tr->reported && sb.len > 0) {
                lt_strbuf_cut(&sb, sb.len - 1);
                lt_strbuf_add_char(&sb, ',');
                lt_strbuf_add(&sb, tr->reported, tr->reported_len);
                lt_strbuf_add_char(&sb, '}');
                rc = lt_strbuf_failed(&sb) ? LT_ETOOLARGE : 0;
            }
        }
        if (rc == 0) {
            len = sb.len;
            body = lt_malloc(len + 1);
            memcpy(body, lt_strbuf_text(&sb), len + 1);
        }
        lt_strbuf_free(&sb);
    }
    struct ts_waiter self = {tr->req, waiters};
    for (struct ts_waiter *w = &self; w;) {
        struct ts_waiter *next = w->next;
        if (err)
            lt_api_respond_store_error(w->req, err);
        else if (!ts)
            lt_respond_error(w->req, 404, "unknown_stream", "no such stream");
        else if (rc != 0)
            lt_respond_error(w->req, 500, "internal_error", "the time series is too large to send");
        else
            send_body(w->req, tr->stream, ts->step_s, tr->csv, body, len);
        if (w != &self)
            lt_free(w);
        w = next;
    }
    if (slot && body) {
        slot->pending = false;
        slot->body = body;
        slot->len = len;
        slot->step_s = ts->step_s;
        slot->expires_ms = lt_mono_ms() + LT_TS_CACHE_MS;
    } else {
        if (slot)
            slot_clear(slot);
        lt_free(body);
    }
}

static void on_points(void *arg, int err, const struct lt_timeseries *ts)
{
    struct ts_request *tr = arg;
    finish_read(tr, err, ts);
    tr_free(tr);
}

/* The time buckets, last: the plan, and for JSON the totals and the
 * partner reports, are known. */
static void read_points(struct ts_request *tr)
{
    bool want_uniques = false;
    for (size_t i = 0; i < tr->cols.n; i++)
        want_uniques = want_uniques || tr->cols.col[i] == LT_TS_UNIQUES;
    int rc =
        lt_store_get_timeseries(tr->app->store, tr->stream, &tr->plan, want_uniques, on_points, tr);
    if (rc != 0)
        tr_fail(tr, rc);
}

/* The partner reports of the planned range, encoded now; then the points. */
static void on_reports(void *arg, int err, const struct lt_partner_report *reports, size_t n)
{
    struct ts_request *tr = arg;
    if (err) {
        tr_fail(tr, err);
        return;
    }
    struct lt_strbuf sb;
    lt_strbuf_init(&sb, NULL, 0, LT_TS_BODY_MAX);
    if (lt_reports_ts_json(&sb, reports, n) != 0) {
        lt_strbuf_free(&sb);
        finish_read(tr, LT_ETOOLARGE, NULL);
        tr_free(tr);
        return;
    }
    tr->reported_len = sb.len;
    tr->reported = lt_malloc(sb.len + 1);
    memcpy(tr->reported, lt_strbuf_text(&sb), sb.len + 1);
    lt_strbuf_free(&sb);
    read_points(tr);
}

/* JSON: the partner reports of the planned range, then the points. */
static void read_reports(struct ts_request *tr)
{
    int64_t from_ms = tr->plan.first_t * 1000;
    int64_t to_ms = (tr->plan.first_t + (int64_t)tr->plan.n_points * tr->plan.step_s) * 1000 - 1;
    int rc = lt_store_get_reports(tr->app->store, tr->stream, from_ms, to_ms, on_reports, tr);
    if (rc != 0)
        tr_fail(tr, rc);
}

/* The totals read for the segment markers (?from= given). */
static void on_totals(void *arg, int err, const struct lt_totals *totals)
{
    struct ts_request *tr = arg;
    if (err || !totals) {
        tr_fail(tr, err); /* err, or 404: no such stream */
        return;
    }
    lt_totals_copy(&tr->totals, totals);
    tr->has_totals = true;
    read_reports(tr);
}

static void plan_and_read(struct ts_request *tr)
{
    char why[256];
    if (lt_ts_plan(&tr->query, &tr->plan, why, sizeof why) != 0) {
        bad_request(tr->req, why);
        tr_free(tr);
        return;
    }
    if (cache_lookup(tr, &tr->slot)) {
        tr_free(tr);
        return;
    }
    if (tr->csv) {
        read_points(tr);
        return;
    }
    if (tr->has_totals) {
        read_reports(tr);
        return;
    }
    /* The JSON shows segment markers: the totals first (on_totals). */
    int rc = lt_store_get_totals(tr->app->store, tr->stream, on_totals, tr);
    if (rc != 0)
        tr_fail(tr, rc);
}

/* No ?from=: the stream's whole life, from its created_at. */
static void on_created(void *arg, int err, const struct lt_totals *totals)
{
    struct ts_request *tr = arg;
    if (err) {
        lt_api_respond_store_error(tr->req, err);
    } else if (!totals) {
        lt_respond_error(tr->req, 404, "unknown_stream", "no such stream");
    } else {
        tr->query.from_s = totals->created_ms / 1000;
        lt_totals_copy(&tr->totals, totals);
        tr->has_totals = true;
        plan_and_read(tr);
        return;
    }
    tr_free(tr);
}

/* Reads every parameter into tr; false after answering 400. */
static bool parse_params(struct ts_request *tr)
{
    struct lt_request *req = tr->req;
    const struct lt_config *cfg = tr->app->cfg;
    struct lt_ts_query *q = &tr->query;
    char buf[1024], why[256];
    long n;
    int r;
    if ((r = time_param(req, "from", false, &q->from_s)) < 0)
        return false;
    tr->has_from = r > 0;
    if (time_param(req, "to", true, &q->to_s) < 0)
        return false;
    if ((r = lt_api_query_param(req, "step", buf, sizeof buf, &n)) < 0)
        return false;
    if (r > 0 && !(q->step_s = lt_ts_step_parse(buf, (size_t)n))) {
        bad_request(req, "step: unknown step (10s, 1m or 1h)");
        return false;
    }
    if ((r = lt_api_query_param(req, "metrics", buf, sizeof buf, &n)) < 0)
        return false;
    if (lt_ts_metrics_parse(r > 0 ? buf : NULL, r > 0 ? (size_t)n : 0, &cfg->counters, &tr->cols,
                            why, sizeof why) != 0) {
        bad_request(req, why);
        return false;
    }
    if ((r = lt_api_query_param(req, "format", buf, sizeof buf, &n)) < 0)
        return false;
    if (r > 0) {
        if (n == 3 && memcmp(buf, "csv", 3) == 0) {
            tr->csv = true;
        } else if (!(n == 4 && memcmp(buf, "json", 4) == 0)) {
            bad_request(req, "format: unknown format (json or csv)");
            return false;
        }
    } else {
        tr->csv = lt_api_accepts_csv(req);
    }
    if ((r = lt_api_query_param(req, "tz", tr->tz, sizeof tr->tz, &n)) < 0)
        return false;
    if (r > 0) {
        if (!lt_tz_valid(tr->tz, (size_t)n)) {
            bad_request(req, "tz: not a time zone of the tz database (e.g. Asia/Shanghai)");
            return false;
        }
        tr->has_tz = true;
    }
    return true;
}

void lt_api_get_timeseries(struct lt_app *app, struct lt_request *req,
                           const struct lt_route_params *params)
{
    const struct lt_config *cfg = app->cfg;
    struct ts_request *tr = lt_calloc(1, sizeof *tr);
    tr->app = app;
    tr->req = req;
    snprintf(tr->stream, sizeof tr->stream, "%s", params->id);
    struct lt_ts_query *q = &tr->query;
    q->now_s = lt_wall_ms() / 1000;
    q->to_s = q->now_s + 1; /* the current bucket included */
    lt_api_ts_retentions(cfg, q->retention_s);
    if (!parse_params(tr)) {
        tr_free(tr);
        return;
    }
    if (tr->has_from) {
        plan_and_read(tr);
        return;
    }
    int rc = lt_store_get_totals(app->store, tr->stream, on_created, tr);
    if (rc != 0) {
        lt_api_respond_store_error(req, rc);
        tr_free(tr);
    }
}
