/* POST /v1/streams/{id}/events: validate events, spend like budgets, and
 * record what is accepted in the worker's deltas (agg.h). Nothing here talks
 * to Redis, except a one-time status lookup for a stream this worker has not
 * met yet (streams.h). */
#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/ids.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/conf/config.h"
#include "livetally/core/agg.h"
#include "livetally/core/event_validate.h"
#include "livetally/core/likes_budget.h"
#include "livetally/core/stream_cache.h"
#include "livetally/api/api.h"
#include "livetally/api/app.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define LT_MAX_EVENTS_PER_REQUEST 1000

/* Kept while a request waits for its stream's status. */
struct ingest {
    struct lt_app *app;
    struct lt_request *req;
    json_t *body;
    char stream[LT_STREAM_ID_MAX + 1]; /* params->id, validated by the router: copied whole */
};

static bool content_type_ok(const struct lt_request *req)
{
    const struct lt_http_header *h = lt_http_find_header(&req->head, "Content-Type");
    if (!h)
        return true; /* be lenient: the body must still be JSON */
    size_t n = h->value_len;
    const char *semi = memchr(h->value, ';', n);
    if (semi)
        n = (size_t)(semi - h->value);
    while (n > 0 && (h->value[n - 1] == ' ' || h->value[n - 1] == '\t'))
        n--;
    /* text/plain: navigator.sendBeacon cannot send application/json
     * without a CORS preflight. */
    return (n == 16 && strncasecmp(h->value, "application/json", 16) == 0) ||
           (n == 10 && strncasecmp(h->value, "text/plain", 10) == 0);
}

/* Counts one valid event. Returns NULL, or why it was rejected after all. */
static const char *count_event(struct lt_app *app, const char *stream, struct lt_request *req,
                               const struct lt_event *e, bool *rate_limited)
{
    int rc = 0;
    if (e->viewer && e->type == LT_EVENT_LIKE &&
        lt_likes_budget_take(app->likes_budget, e->viewer, e->n, lt_mono_ms(), false) == 0) {
        *rate_limited = true;
        lt_metrics->likes_rate_limited_total += (uint64_t)e->n;
        return "over the viewer's like budget";
    }
    switch (e->type) {
    case LT_EVENT_VIEW: {
        char derived[35]; /* lt_derive_viewer's size (ids.h) */
        const char *viewer = e->viewer;
        if (!viewer) {
            const struct lt_http_header *ua = lt_http_find_header(&req->head, "User-Agent");
            lt_derive_viewer(req->client_addr, ua ? ua->value : NULL, ua ? ua->value_len : 0,
                             derived);
            viewer = derived;
        }
        rc = lt_agg_add_view(app->agg, stream, viewer, e->source);
        break;
    }
    case LT_EVENT_LIKE:
        rc = lt_agg_add_likes(app->agg, stream, e->source, e->n);
        if (rc == 0)
            lt_metrics->likes_accepted_total += (uint64_t)e->n;
        break;
    case LT_EVENT_COUNTER:
        rc = lt_agg_add_counter(app->agg, stream, e->counter, e->n);
        break;
    }
    return rc == 0 ? NULL : "too many sources for this stream right now";
}

static size_t count_views(json_t *body)
{
    if (json_is_object(body))
        return 1;
    size_t views = 0, i;
    json_t *ev;
    json_array_foreach(body, i, ev)
    {
        const char *t = json_string_value(json_object_get(ev, "type"));
        views += t && strcmp(t, "view") == 0;
    }
    return views;
}

/* The stream exists and takes events: count them and answer. */
static void ingest_accept(struct ingest *in)
{
    struct lt_app *app = in->app;
    struct lt_request *req = in->req;
    if (!lt_agg_can_accept(app->agg, count_views(in->body))) {
        lt_metrics->ingest_overloaded_total++;
        lt_response_header(req, "Retry-After", "1");
        lt_respond_error(req, 503, "overloaded",
                         "events are waiting for the store (Redis); retry shortly");
        return;
    }
    struct lt_event e;
    bool rate_limited = false;
    if (json_is_object(in->body)) {
        const char *why = lt_event_parse(app->cfg, in->body, &e);
        if (!why)
            why = count_event(app, in->stream, req, &e, &rate_limited);
        if (why) {
            lt_metrics->events_rejected_total++;
            if (rate_limited) {
                int64_t wait = lt_likes_budget_wait_ms(app->likes_budget, e.viewer, e.n,
                                                       lt_mono_ms());
                char secs[24]; /* a long long: at most 20 bytes */
                snprintf(secs, sizeof secs, "%lld",
                         (long long)(wait < 0 ? 60 : (wait + 999) / 1000));
                lt_response_header(req, "Retry-After", secs);
                lt_respond_error(req, 429, "rate_limited", why);
            } else {
                lt_respond_error(req, 400, "bad_event", why);
            }
            return;
        }
        lt_metrics->events_accepted_total++;
        static const char one[] = "{\"accepted\":1,\"rejected\":0}";
        lt_respond(req, 202, "application/json; charset=utf-8", one, sizeof one - 1);
        return;
    }
    size_t accepted = 0, rejected = 0, i;
    json_t *ev;
    json_array_foreach(in->body, i, ev)
    {
        const char *why = lt_event_parse(app->cfg, ev, &e);
        if (!why)
            why = count_event(app, in->stream, req, &e, &rate_limited);
        if (why)
            rejected++;
        else
            accepted++;
    }
    lt_metrics->events_accepted_total += accepted;
    lt_metrics->events_rejected_total += rejected;
    char body[96]; /* 25 bytes of text and two size_t of at most 20 digits: 65 */
    int n = snprintf(body, sizeof body, "{\"accepted\":%zu,\"rejected\":%zu}", accepted, rejected);
    lt_respond(req, 202, "application/json; charset=utf-8", body, (size_t)n);
}

static void ingest_free(struct ingest *in)
{
    json_decref(in->body);
    lt_free(in);
}

/* Decides on the stream's status, then counts. */
static void ingest_with_status(struct ingest *in, int err, enum lt_stream_status status)
{
    struct lt_app *app = in->app;
    struct lt_request *req = in->req;
    if (err) {
        lt_api_respond_store_error(req, err);
    } else if (status == LT_STATUS_ENDED) {
        lt_respond_error(req, 409, "stream_ended", "the stream has ended");
    } else if (status == LT_STATUS_NONE && !app->cfg->streams_auto_create) {
        lt_respond_error(req, 404, "unknown_stream",
                         "no such stream (streams.auto_create is off: an operator creates it)");
    } else {
        if (status == LT_STATUS_NONE) /* created, live, by its first batch */
            lt_stream_cache_set(app->stream_cache, in->stream, LT_STATUS_LIVE);
        ingest_accept(in);
    }
}

static void on_status(void *arg, int err, enum lt_stream_status status)
{
    ingest_with_status(arg, err, status);
    ingest_free(arg);
}

void lt_api_post_events(struct lt_app *app, struct lt_request *req,
                        const struct lt_route_params *params)
{
    if (!content_type_ok(req)) {
        lt_respond_error(req, 415, "unsupported_media_type",
                         "send application/json (or text/plain holding JSON)");
        return;
    }
    int status;
    char msg[200]; /* lt_events_load's message: a single snprintf, cut short when long */
    json_t *body = lt_events_load(req->body, req->body_len, LT_MAX_EVENTS_PER_REQUEST, &status,
                                  msg, sizeof msg);
    if (!body) {
        lt_respond_error(req, status, status == 413 ? "too_large" : "bad_json", msg);
        return;
    }
    struct ingest local = {.app = app, .req = req, .body = body};
    snprintf(local.stream, sizeof local.stream, "%s", params->id);
    /* The usual case: the status is cached, nothing to keep past this call. */
    int st = lt_stream_cache_peek(app->stream_cache, params->id);
    if (st >= 0) {
        ingest_with_status(&local, 0, (enum lt_stream_status)st);
        json_decref(body);
        return;
    }
    struct ingest *in = lt_malloc(sizeof *in);
    *in = local;
    st = lt_stream_cache_get(app->stream_cache, params->id, on_status, in);
    if (st == LT_EAGAIN)
        return; /* on_status answers */
    ingest_with_status(in, st < 0 ? st : 0, st < 0 ? LT_STATUS_NONE : (enum lt_stream_status)st);
    ingest_free(in);
}
