/* GET /v1/streams/{id}/report: the end-of-event report (report_out.h).
 *
 * A live stream's report is built at each request: its totals (one read),
 * its partner reports (one read), then its life at one minute (one
 * timeseries read), encoded. An ended
 * stream's report is frozen: the first request of a variant (format, locale,
 * zone) builds it and stores its exact bytes in lt:{id}:report (the first
 * stored wins, see lt_store_freeze_report); every later request of that
 * variant answers those bytes. Every answer carries an RFC 9530 Repr-Digest
 * over its body. */
#include "livetally/api/report_out.h"
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

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Guards against a bug only: a report of 100,000 minutes is ~20 MiB. */
#define LT_REPORT_BODY_MAX ((size_t)64 << 20)
#define LT_REPORT_VARIANT_MAX 96

struct report_request {
    struct lt_app *app;
    struct lt_request *req;
    char stream[LT_STREAM_ID_MAX + 1];
    enum lt_report_format format;
    enum lt_display_locale locale;
    char tz[LT_TZ_NAME_MAX + 1];
    char variant[LT_REPORT_VARIANT_MAX];
    bool frozen; /* the stream has ended: freeze what is built */
    struct lt_totals totals;
    bool has_totals;
    struct lt_partner_report *reports; /* a copy; NULL: none */
    size_t n_reports;
    struct lt_status_change *history; /* owned */
    size_t n_history;
};

static void rr_free(struct report_request *rr)
{
    if (rr->has_totals)
        lt_totals_free(&rr->totals);
    lt_free(rr->reports);
    lt_free(rr->history);
    lt_free(rr);
}

/* A store step failed: answer its error and end the request. */
static void rr_fail(struct report_request *rr, int err)
{
    lt_api_respond_store_error(rr->req, err);
    rr_free(rr);
}

/* A copy of n items of size bytes (NULL when n is 0). */
static void *copy_items(const void *items, size_t n, size_t size)
{
    if (!n)
        return NULL;
    void *copy = lt_malloc(n * size);
    memcpy(copy, items, n * size);
    return copy;
}

static void send_report(struct report_request *rr, const char *body, size_t len)
{
    struct lt_request *req = rr->req;
    char digest[LT_REPORT_DIGEST_MAX];
    if (lt_report_repr_digest(body, len, digest) != 0) {
        lt_respond_error(req, 500, "internal_error", "no SHA-256 available");
        return;
    }
    lt_response_header(req, "Repr-Digest", digest);
    static const char *const types[] = {"application/json; charset=utf-8",
                                        "text/csv; charset=utf-8; header=present",
                                        "text/html; charset=utf-8"};
    if (rr->format == LT_REPORT_CSV) {
        char disp[160]; /* a 64-byte id and a few words */
        snprintf(disp, sizeof disp, "attachment; filename=\"%s-report.csv\"", rr->stream);
        lt_response_header(req, "Content-Disposition", disp);
    }
    lt_respond(req, 200, types[rr->format], body, len);
}

static void on_frozen(void *arg, int err, const char *body, size_t len)
{
    struct report_request *rr = arg;
    if (err)
        lt_api_respond_store_error(rr->req, err);
    else if (!body)
        lt_respond_error(rr->req, 500, "internal_error", "the report was not stored");
    else
        send_report(rr, body, len);
    rr_free(rr);
}

static void on_minutes(void *arg, int err, const struct lt_timeseries *ts)
{
    struct report_request *rr = arg;
    if (err) {
        rr_fail(rr, err);
        return;
    }
    const struct lt_config *cfg = rr->app->cfg;
    struct lt_report r = {
        .totals = &rr->totals,
        .minutes = ts,
        .reports = rr->reports,
        .n_reports = rr->n_reports,
        .method = {cfg->views_dedup_seconds, cfg->likes_rate_per_second, cfg->likes_burst,
                   cfg->likes_per_client_rate_per_second, cfg->likes_per_client_burst},
        .generated_ms = lt_wall_ms(),
        .tz = rr->tz,
        .locale = rr->locale,
        .history = rr->history,
        .n_history = rr->n_history,
    };
    char stack[8192];
    struct lt_strbuf sb;
    lt_strbuf_init(&sb, stack, sizeof stack, LT_REPORT_BODY_MAX);
    int rc = lt_report_encode(&sb, &r, rr->format);
    if (rc != 0) {
        lt_respond_error(rr->req, 500, "internal_error", "the report could not be written");
    } else if (rr->frozen) {
        rc = lt_store_freeze_report(rr->app->store, rr->stream, rr->variant, lt_strbuf_text(&sb),
                                    sb.len, on_frozen, rr);
        lt_strbuf_free(&sb);
        if (rc == 0)
            return; /* on_frozen answers */
        rr_fail(rr, rc);
        return;
    } else {
        send_report(rr, lt_strbuf_text(&sb), sb.len);
    }
    lt_strbuf_free(&sb);
    rr_free(rr);
}

/* Reads the stream's life at one minute; on_minutes builds the report. A
 * life that one minute read cannot cover (older than the 1-minute retention,
 * or over LT_TS_MAX_POINTS minutes) gives a report without the series. */
static void read_minutes(struct report_request *rr)
{
    const struct lt_config *cfg = rr->app->cfg;
    const struct lt_totals *t = &rr->totals;
    struct lt_ts_query q = {0};
    q.now_s = lt_wall_ms() / 1000;
    q.from_s = t->created_ms / 1000;
    /* An ended stream's series stops at its last change, not at now. */
    q.to_s = rr->frozen && t->updated_ms > 0 ? t->updated_ms / 1000 + 1 : q.now_s + 1;
    if (q.to_s <= q.from_s)
        q.to_s = q.from_s + 1;
    q.step_s = 60;
    lt_api_ts_retentions(cfg, q.retention_s);
    struct lt_ts_plan plan;
    char why[256];
    if (lt_ts_plan(&q, &plan, why, sizeof why) != 0) {
        on_minutes(rr, 0, NULL);
        return;
    }
    int rc = lt_store_get_timeseries(rr->app->store, rr->stream, &plan, true, on_minutes, rr);
    if (rc != 0)
        rr_fail(rr, rc);
}

static void on_reports(void *arg, int err, const struct lt_partner_report *reports, size_t n)
{
    struct report_request *rr = arg;
    if (err) {
        rr_fail(rr, err);
        return;
    }
    rr->reports = copy_items(reports, n, sizeof *reports);
    rr->n_reports = n;
    read_minutes(rr);
}

/* Reads every partner report of the stream; on_reports goes on. */
static void read_reports(struct report_request *rr)
{
    int rc = lt_store_get_reports(rr->app->store, rr->stream, 0, INT64_MAX, on_reports, rr);
    if (rc != 0)
        rr_fail(rr, rc);
}

static void on_stored(void *arg, int err, const char *body, size_t len)
{
    struct report_request *rr = arg;
    if (err) {
        rr_fail(rr, err);
    } else if (body) {
        send_report(rr, body, len);
        rr_free(rr);
    } else {
        read_reports(rr);
    }
}

static void on_history(void *arg, int err, const struct lt_status_change *changes, size_t n);

static void on_totals(void *arg, int err, const struct lt_totals *totals)
{
    struct report_request *rr = arg;
    if (err || !totals) {
        if (err)
            lt_api_respond_store_error(rr->req, err);
        else
            lt_respond_error(rr->req, 404, "unknown_stream", "no such stream");
        rr_free(rr);
        return;
    }
    lt_totals_copy(&rr->totals, totals);
    rr->has_totals = true;
    int rc = lt_store_get_history(rr->app->store, rr->stream, on_history, rr);
    if (rc != 0)
        rr_fail(rr, rc);
}

/* The status history is in: a live stream's report is built now, an ended
 * one's is looked for among the frozen ones first. */
static void on_history(void *arg, int err, const struct lt_status_change *changes, size_t n)
{
    struct report_request *rr = arg;
    if (err) {
        rr_fail(rr, err);
        return;
    }
    rr->history = copy_items(changes, n, sizeof *changes);
    rr->n_history = n;
    const struct lt_totals *totals = &rr->totals;
    if (totals->status != LT_STATUS_ENDED) {
        read_reports(rr);
        return;
    }
    rr->frozen = true;
    int rc = lt_store_get_report(rr->app->store, rr->stream, rr->variant, on_stored, rr);
    if (rc != 0)
        rr_fail(rr, rc);
}

static bool parse_params(struct report_request *rr)
{
    struct lt_request *req = rr->req;
    char buf[64];
    long n;
    int r;
    if ((r = lt_api_query_param(req, "format", buf, sizeof buf, &n)) < 0)
        return false;
    if (r > 0 && lt_report_format_parse(buf, (size_t)n, &rr->format) != 0) {
        lt_respond_error(req, 400, "bad_request", "format: unknown format (json, csv or html)");
        return false;
    }
    if ((r = lt_api_query_param(req, "locale", buf, sizeof buf, &n)) < 0)
        return false;
    rr->locale = LT_LOCALE_EN;
    if (r > 0) {
        /* Strict here (a report names its locale): one of the three. */
        rr->locale = lt_display_locale_parse(buf, (size_t)n);
        if (strcasecmp(buf, lt_display_locale_name(rr->locale)) != 0) {
            lt_respond_error(req, 400, "bad_request",
                             "locale: unknown locale (en, zh-CN or zh-CN-W)");
            return false;
        }
    }
    snprintf(rr->tz, sizeof rr->tz, "UTC");
    if ((r = lt_api_query_param(req, "tz", rr->tz, sizeof rr->tz, &n)) < 0)
        return false;
    if (r > 0 && !lt_tz_valid(rr->tz, (size_t)n)) {
        lt_respond_error(req, 400, "bad_request",
                         "tz: not a time zone of the tz database (e.g. Asia/Shanghai)");
        return false;
    }
    struct lt_strbuf sb;
    lt_strbuf_init_fixed(&sb, rr->variant, sizeof rr->variant);
    lt_strbuf_addf(&sb, "%s|%s|%s", lt_report_format_name(rr->format),
                   lt_display_locale_name(rr->locale), rr->tz);
    return true; /* 4 + 7 + 64 + 2 bytes: the variant always fits */
}

void lt_api_get_report(struct lt_app *app, struct lt_request *req,
                       const struct lt_route_params *params)
{
    struct report_request *rr = lt_calloc(1, sizeof *rr);
    rr->app = app;
    rr->req = req;
    snprintf(rr->stream, sizeof rr->stream, "%s", params->id);
    if (!parse_params(rr)) {
        rr_free(rr);
        return;
    }
    int rc = lt_store_get_totals(app->store, rr->stream, on_totals, rr);
    if (rc != 0) {
        lt_api_respond_store_error(req, rc);
        rr_free(rr);
    }
}
