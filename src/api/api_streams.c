/* Stream reads (GET /v1/streams, GET /v1/streams/{id}, with fields only
 * operators see) and the operator's PUT and DELETE /v1/streams/{id}. */
#include "livetally/base/clock.h"
#include "livetally/base/display.h"
#include "livetally/base/error.h"
#include "livetally/base/mem.h"
#include "livetally/store/store.h"
#include "livetally/core/stream_cache.h"
#include "livetally/api/api.h"
#include "livetally/api/app.h"
#include "livetally/api/totals_json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LT_LIST_DEFAULT_LIMIT 50
#define LT_LIST_MAX_LIMIT 500
#define LT_TITLE_MAX 256

/* Reads query parameter name into buf. Returns 1 (present, *len set), 0
 * (absent), or -1 after answering 400 (undecodable or too long). */
static int query_param(struct lt_request *req, const char *name, char *buf, size_t cap, long *len)
{
    if (!req->head.query)
        return 0;
    long n = lt_query_get(req->head.query, req->head.query_len, name, buf, cap);
    if (n == LT_QUERY_ABSENT)
        return 0;
    if (n < 0) {
        char msg[96]; /* name is one of our parameter names: a few bytes */
        snprintf(msg, sizeof msg, "query parameter %s is malformed or too long", name);
        lt_respond_error(req, 400, "bad_request", msg);
        return -1;
    }
    *len = n;
    return 1;
}

bool lt_api_display_opts(struct lt_request *req, struct lt_totals_display *d)
{
    char locale[64], style[16]; /* lt_query_get refuses (400) a value that does not fit */
    long n;
    int r;
    memset(d, 0, sizeof *d);
    d->style = LT_STYLE_FLOOR;
    if ((r = query_param(req, "locale", locale, sizeof locale, &n)) < 0)
        return false;
    if (r > 0) {
        d->wanted = true;
        d->locale = lt_display_locale_parse(locale, (size_t)n);
    }
    if ((r = query_param(req, "style", style, sizeof style, &n)) < 0)
        return false;
    if (r > 0) {
        int st = lt_display_style_parse(style, (size_t)n);
        if (st < 0) {
            lt_respond_error(req, 400, "bad_request", "style is floor or compact");
            return false;
        }
        d->style = (enum lt_display_style)st;
    }
    return true;
}

/* ---- fields only operators see ---------------------------------------- */

/* With a valid operator token, each totals object also gets "refused"
 * (like taps dropped by the budgets, events rejected) and "history" (the
 * status changes, lt_store_get_history): one more Redis read per stream,
 * made only for operators. The answer goes out once every history is in. */
struct op_answer {
    struct lt_request *req;
    json_t *body;   /* answered once pending is 0 */
    size_t pending; /* history reads out */
    int err;        /* the first failed read's */
};

struct op_item {
    struct op_answer *ans;
    json_t *obj; /* a totals object inside ans->body */
};

static void op_answer_done(struct op_answer *ans)
{
    if (ans->err)
        lt_api_respond_store_error(ans->req, ans->err);
    else
        lt_respond_json(ans->req, 200, json_incref(ans->body));
    json_decref(ans->body);
    lt_free(ans);
}

struct json_t *lt_api_history_json(const struct lt_status_change *changes, size_t n)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        char at[40]; /* lt_format_rfc3339 needs 32 */
        lt_format_rfc3339(changes[i].at_ms, 1, at, sizeof at);
        json_array_append_new(
            list, json_pack("{s:s, s:s}", "status", lt_status_name(changes[i].status), "at", at));
    }
    return list;
}

static void on_op_history(void *arg, int err, const struct lt_status_change *changes, size_t n)
{
    struct op_item *item = arg;
    struct op_answer *ans = item->ans;
    if (err && !ans->err)
        ans->err = err;
    else if (!err)
        json_object_set_new(item->obj, "history", lt_api_history_json(changes, n));
    lt_free(item);
    if (--ans->pending == 0)
        op_answer_done(ans);
}

/* Adds "refused" now and asks for the history of t's stream. */
static void op_add(struct lt_app *app, struct op_answer *ans, json_t *obj,
                   const struct lt_totals *t)
{
    json_object_set_new(obj, "refused",
                        json_pack("{s:I, s:I}", "dropped_taps", (json_int_t)t->dropped_taps,
                                  "rejected", (json_int_t)t->rejected));
    struct op_item *item = lt_malloc(sizeof *item);
    item->ans = ans;
    item->obj = obj;
    int rc = lt_store_get_history(app->store, t->stream, on_op_history, item);
    if (rc != 0) {
        lt_free(item);
        if (!ans->err)
            ans->err = rc;
        return;
    }
    ans->pending++;
}

/* After the op_add calls: answers now when no read went out (the store's
 * callbacks run later, on the loop), else once the last one is in. */
static void op_answer_start(struct op_answer *ans)
{
    if (ans->pending == 0)
        op_answer_done(ans);
}

struct read_ctx {
    struct lt_request *req;
    struct lt_app *app;
    bool operator; /* a valid operator token came: the operator-only fields */
    struct lt_totals_display display;
};

static void on_totals(void *arg, int err, const struct lt_totals *totals)
{
    struct read_ctx *ctx = arg;
    struct lt_request *req = ctx->req;
    if (err) {
        lt_api_respond_store_error(req, err);
    } else if (!totals) {
        lt_respond_error(req, 404, "unknown_stream", "no such stream");
    } else if (ctx->operator) {
        struct op_answer *ans = lt_calloc(1, sizeof *ans);
        ans->req = req;
        ans->body = lt_totals_json(totals, &ctx->display);
        op_add(ctx->app, ans, ans->body, totals);
        op_answer_start(ans);
    } else {
        lt_respond_json(req, 200, lt_totals_json(totals, &ctx->display));
    }
    lt_free(ctx);
}

void lt_api_get_stream(struct lt_app *app, struct lt_request *req,
                       const struct lt_route_params *params)
{
    struct read_ctx *ctx = lt_malloc(sizeof *ctx);
    ctx->req = req;
    ctx->app = app;
    ctx->operator = lt_auth_operator_ok(app, req);
    if (!lt_api_display_opts(req, &ctx->display)) {
        lt_free(ctx);
        return;
    }
    int rc = lt_store_get_totals(app->store, params->id, on_totals, ctx);
    if (rc != 0) {
        lt_free(ctx);
        lt_api_respond_store_error(req, rc);
    }
}

static void on_list(void *arg, int err, const struct lt_totals *streams, size_t n,
                    const char *next_cursor)
{
    struct read_ctx *ctx = arg;
    struct lt_request *req = ctx->req;
    if (err) {
        lt_api_respond_store_error(req, err);
    } else {
        json_t *list = json_array();
        json_t *body = json_pack("{s:o, s:o}", "streams", list, "next_cursor",
                                 next_cursor ? json_string(next_cursor) : json_null());
        struct op_answer *ans = NULL;
        if (ctx->operator) {
            ans = lt_calloc(1, sizeof *ans);
            ans->req = req;
            ans->body = body;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *obj = lt_totals_json(&streams[i], &ctx->display);
            json_array_append_new(list, obj);
            if (ans)
                op_add(ctx->app, ans, obj, &streams[i]);
        }
        if (ans)
            op_answer_start(ans);
        else
            lt_respond_json(req, 200, body);
    }
    lt_free(ctx);
}

void lt_api_list_streams(struct lt_app *app, struct lt_request *req,
                         const struct lt_route_params *params)
{
    (void)params;
    /* lt_query_get refuses (400) a value that does not fit */
    char status[16], series[LT_SERIES_ID_MAX + 1], limit_s[16], cursor[128];
    long n;
    int r;
    const char *status_p = NULL, *series_p = NULL, *cursor_p = NULL;
    int limit = LT_LIST_DEFAULT_LIMIT;
    if ((r = query_param(req, "status", status, sizeof status, &n)) < 0)
        return;
    if (r > 0) {
        if (lt_status_parse(status, (size_t)n) == LT_STATUS_NONE) {
            lt_respond_error(req, 400, "bad_request", "status is scheduled, live or ended");
            return;
        }
        status_p = status;
    }
    if ((r = query_param(req, "series", series, sizeof series, &n)) < 0)
        return;
    if (r > 0) {
        if (!lt_valid_series_id(series, (size_t)n)) {
            lt_respond_error(req, 400, "bad_request", "series is not a valid series id");
            return;
        }
        series_p = series;
    }
    if ((r = query_param(req, "limit", limit_s, sizeof limit_s, &n)) < 0)
        return;
    if (r > 0) {
        char *end;
        long v = strtol(limit_s, &end, 10);
        if (n == 0 || *end || v < 1 || v > LT_LIST_MAX_LIMIT) {
            lt_respond_error(req, 400, "bad_request", "limit is a whole number from 1 to 500");
            return;
        }
        limit = (int)v;
    }
    if ((r = query_param(req, "cursor", cursor, sizeof cursor, &n)) < 0)
        return;
    if (r > 0 && n > 0)
        cursor_p = cursor;
    struct read_ctx *ctx = lt_malloc(sizeof *ctx);
    ctx->req = req;
    ctx->app = app;
    ctx->operator = lt_auth_operator_ok(app, req);
    if (!lt_api_display_opts(req, &ctx->display)) {
        lt_free(ctx);
        return;
    }
    int rc = lt_store_list_streams(app->store, status_p, series_p, cursor_p, limit, on_list, ctx);
    if (rc != 0)
        lt_free(ctx);
    if (rc == LT_EINVAL)
        lt_respond_error(req, 400, "bad_request", "cursor is not one this server gave out");
    else if (rc != 0)
        lt_api_respond_store_error(req, rc);
}

/* ---- PUT -------------------------------------------------------------- */

struct put_ctx {
    struct lt_request *req;
    struct lt_app *app;
    char stream[LT_STREAM_ID_MAX + 1]; /* params->id, validated by the router: copied whole */
};

static void on_put(void *arg, int err, const struct lt_totals *totals)
{
    struct put_ctx *ctx = arg;
    struct lt_request *req = ctx->req;
    if (err == LT_EINVAL) {
        lt_respond_error(req, 409, "bad_transition",
                         "a live or ended stream cannot go back to scheduled (an ended one "
                         "may be reopened: status live)");
    } else if (err) {
        lt_api_respond_store_error(req, err);
    } else if (!totals) {
        lt_respond_error(req, 404, "unknown_stream", "the stream was removed meanwhile");
    } else {
        lt_stream_cache_set(ctx->app->stream_cache, ctx->stream, totals->status);
        lt_respond_json(req, 200, lt_totals_json(totals, NULL));
    }
    lt_free(ctx);
}

static const char *string_field(json_t *body, const char *name, bool *bad)
{
    json_t *v = json_object_get(body, name);
    if (!v)
        return NULL;
    if (json_is_null(v) && strcmp(name, "series") == 0)
        return "";
    if (!json_is_string(v)) {
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

void lt_api_put_stream(struct lt_app *app, struct lt_request *req,
                       const struct lt_route_params *params)
{
    if (!lt_auth_operator(app, req))
        return;
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        lt_respond_error(req, 400, "bad_json", "the body must be a JSON object");
        return;
    }
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value)
    {
        if (strcmp(key, "title") && strcmp(key, "series") && strcmp(key, "status") &&
            strcmp(key, "starts_at")) {
            char msg[160]; /* the key is cut to 64 bytes by %.64s */
            snprintf(msg, sizeof msg, "unknown field \"%.64s\"", key);
            lt_respond_error(req, 400, "bad_request", msg);
            json_decref(body);
            return;
        }
    }
    bool bad = false;
    struct lt_stream_fields f = {
        .title = string_field(body, "title", &bad),
        .series = string_field(body, "series", &bad),
        .status = string_field(body, "status", &bad),
        .starts_at = string_field(body, "starts_at", &bad),
    };
    const char *problem = NULL;
    char starts[40]; /* lt_format_rfc3339 needs 32 */
    int64_t ms;
    if (bad)
        problem = "title, series, status and starts_at are strings";
    else if (f.title && strlen(f.title) > LT_TITLE_MAX)
        problem = "title is at most 256 bytes";
    else if (f.series && f.series[0] && !lt_valid_series_id(f.series, strlen(f.series)))
        problem = "series is 1-64 characters of A-Z a-z 0-9 _ - .";
    else if (f.status && lt_status_parse(f.status, strlen(f.status)) == LT_STATUS_NONE)
        problem = "status is scheduled, live or ended";
    else if (f.starts_at && lt_parse_time(f.starts_at, strlen(f.starts_at), &ms) != 0)
        problem = "starts_at is an RFC 3339 time";
    if (problem) {
        lt_respond_error(req, 400, "bad_request", problem);
        json_decref(body);
        return;
    }
    if (f.starts_at) {
        lt_format_rfc3339(ms, 0, starts, sizeof starts);
        f.starts_at = starts;
    }
    struct put_ctx *ctx = lt_malloc(sizeof *ctx);
    ctx->req = req;
    ctx->app = app;
    snprintf(ctx->stream, sizeof ctx->stream, "%s", params->id);
    int rc = lt_store_put_stream(app->store, params->id, &f, on_put, ctx);
    json_decref(body);
    if (rc != 0) {
        lt_free(ctx);
        lt_api_respond_store_error(req, rc);
    }
}

/* ---- DELETE ----------------------------------------------------------- */

static void on_deleted(void *arg, int err, bool found)
{
    struct put_ctx *ctx = arg;
    struct lt_request *req = ctx->req;
    if (err) {
        lt_api_respond_store_error(req, err);
    } else if (!found) {
        lt_respond_error(req, 404, "unknown_stream", "no such stream");
    } else {
        /* The control message tells every worker, this one too; the cache
         * learns it now so that this worker's next request sees it. */
        lt_stream_cache_set(ctx->app->stream_cache, ctx->stream, LT_STATUS_NONE);
        lt_respond(req, 204, NULL, NULL, 0);
    }
    lt_free(ctx);
}

void lt_api_delete_stream(struct lt_app *app, struct lt_request *req,
                          const struct lt_route_params *params)
{
    if (!lt_auth_operator(app, req))
        return;
    struct put_ctx *ctx = lt_malloc(sizeof *ctx);
    ctx->req = req;
    ctx->app = app;
    snprintf(ctx->stream, sizeof ctx->stream, "%s", params->id);
    int rc = lt_store_delete_stream(app->store, params->id, on_deleted, ctx);
    if (rc != 0) {
        lt_free(ctx);
        lt_api_respond_store_error(req, rc);
    }
}
