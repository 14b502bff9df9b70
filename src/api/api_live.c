/* The live endpoints: GET /v1/streams/{id}/ws, GET /v1/ws (WebSocket) and
 * GET /v1/streams/{id}/live (SSE). They check what HTTP must refuse before
 * the socket changes hands: origin, handshake, viewer and source, and the
 * stream's existence when streams.auto_create is off. */
#include "livetally/base/error.h"
#include "livetally/base/ids.h"
#include "livetally/base/mem.h"
#include "livetally/conf/config.h"
#include "livetally/core/stream_cache.h"
#include "livetally/net/ws_conn.h"
#include "livetally/api/api.h"
#include "livetally/api/app.h"
#include "livetally/api/live.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A browser's Origin must be allowed (WebSocket has no CORS of its own);
 * a request without Origin (not a browser) is not refused for it. */
static bool origin_ok(struct lt_app *app, struct lt_request *req)
{
    const struct lt_http_header *o = lt_http_find_header(&req->head, "Origin");
    if (!o || lt_http_origin_allowed(app->cfg, o->value, o->value_len))
        return true;
    lt_respond_error(req, 403, "forbidden", "this origin is not allowed (cors.allowed_origins)");
    return false;
}

enum live_kind { LIVE_STREAM_WS, LIVE_WS, LIVE_SSE };

struct live_open {
    struct lt_app *app;
    struct lt_request *req;
    enum live_kind kind;
    char stream[LT_STREAM_ID_MAX + 1]; /* validated ids, copied whole (the three) */
    char viewer[LT_VIEWER_ID_MAX + 1];
    char source[LT_SOURCE_ID_MAX + 1];
    bool implied_view;
    int64_t after_seq;
};

static void open_now(struct live_open *o)
{
    if (o->kind == LIVE_SSE)
        lt_sse_open(o->app->sse, o->req, o->stream, o->after_seq);
    else
        lt_live_ws_open(o->app, o->req, o->kind == LIVE_WS ? NULL : o->stream, o->viewer,
                        o->source, o->implied_view);
}

static void with_status(struct live_open *o, int err, enum lt_stream_status status)
{
    if (err)
        lt_api_respond_store_error(o->req, err);
    else if (status == LT_STATUS_NONE && !o->app->cfg->streams_auto_create)
        lt_respond_error(o->req, 404, "unknown_stream", "no such stream");
    else
        open_now(o);
    lt_free(o);
}

static void on_status(void *arg, int err, enum lt_stream_status status)
{
    with_status(arg, err, status);
}

/* Reads ?viewer= and ?source= (400 when malformed). */
static bool viewer_and_source(struct lt_request *req, struct live_open *o)
{
    const char *q = req->head.query;
    size_t qlen = req->head.query_len;
    long n = q ? lt_query_get(q, qlen, "viewer", o->viewer, sizeof o->viewer) : LT_QUERY_ABSENT;
    if (n >= 0 && lt_valid_viewer_id(o->viewer, (size_t)n)) {
        o->implied_view = true;
    } else if (n != LT_QUERY_ABSENT) {
        lt_respond_error(req, 400, "bad_request", "viewer is 8-64 characters of A-Z a-z 0-9 _ -");
        return false;
    } else {
        const struct lt_http_header *ua = lt_http_find_header(&req->head, "User-Agent");
        char derived[35]; /* lt_derive_viewer's size (ids.h) */
        lt_derive_viewer(req->client_addr, ua ? ua->value : NULL, ua ? ua->value_len : 0, derived);
        snprintf(o->viewer, sizeof o->viewer, "%s", derived);
    }
    n = q ? lt_query_get(q, qlen, "source", o->source, sizeof o->source) : LT_QUERY_ABSENT;
    if (n == LT_QUERY_ABSENT) {
        snprintf(o->source, sizeof o->source, "%s", LT_DEFAULT_SOURCE);
    } else if (n < 0 || !lt_valid_source_id(o->source, (size_t)n)) {
        lt_respond_error(req, 400, "bad_request", "source is 1-32 characters of a-z 0-9 _ -");
        return false;
    }
    return true;
}

static void start(struct lt_app *app, struct lt_request *req, enum live_kind kind,
                  const char *stream)
{
    if (!origin_ok(app, req))
        return;
    if (kind != LIVE_SSE && lt_ws_check_upgrade(req) != 0)
        return;
    struct live_open *o = lt_calloc(1, sizeof *o);
    o->app = app;
    o->req = req;
    o->kind = kind;
    o->after_seq = -1;
    if (kind != LIVE_SSE && !viewer_and_source(req, o)) {
        lt_free(o);
        return;
    }
    if (kind == LIVE_SSE) {
        if (lt_request_over_limit(req)) {
            lt_response_header(req, "Retry-After", "5");
            lt_respond_error(req, 503, "overloaded", "too many connections, retry shortly");
            lt_free(o);
            return;
        }
        const struct lt_http_header *last = lt_http_find_header(&req->head, "Last-Event-ID");
        if (last && last->value_len > 0 && last->value_len < 20) {
            char buf[24]; /* value_len < 20 is checked above */
            memcpy(buf, last->value, last->value_len);
            buf[last->value_len] = '\0';
            char *end;
            long long v = strtoll(buf, &end, 10);
            if (*end == '\0' && v >= 0)
                o->after_seq = v;
        }
    }
    if (!stream) {
        open_now(o);
        lt_free(o);
        return;
    }
    snprintf(o->stream, sizeof o->stream, "%s", stream);
    int st = lt_stream_cache_get(app->stream_cache, stream, on_status, o);
    if (st == LT_EAGAIN)
        return;
    with_status(o, st < 0 ? st : 0, st < 0 ? LT_STATUS_NONE : (enum lt_stream_status)st);
}

void lt_api_stream_ws(struct lt_app *app, struct lt_request *req,
                      const struct lt_route_params *params)
{
    start(app, req, LIVE_STREAM_WS, params->id);
}

void lt_api_ws(struct lt_app *app, struct lt_request *req, const struct lt_route_params *params)
{
    (void)params;
    start(app, req, LIVE_WS, NULL);
}

void lt_api_live(struct lt_app *app, struct lt_request *req, const struct lt_route_params *params)
{
    start(app, req, LIVE_SSE, params->id);
}
