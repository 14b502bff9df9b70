/* POST /v1/streams/{id}/events: parse the body, hand each event to the
 * counting rules (ingest.h) and answer with the contract's status and body.
 * Nothing here talks to Redis; the rules may wait once for the status of a
 * stream this worker has not met yet. */
#include "livetally/base/error.h"
#include "livetally/base/ids.h"
#include "livetally/base/mem.h"
#include "livetally/core/event_validate.h"
#include "livetally/core/ingest.h"
#include "livetally/api/api.h"
#include "livetally/api/app.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define LT_MAX_EVENTS_PER_REQUEST 1000

/* Kept while a request waits for its stream's status (on the stack when it
 * need not wait). */
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

/* The client of the request's events: a like or view without a viewer is
 * the viewer derived from the client address and User-Agent. */
static void request_client(const struct lt_request *req, struct lt_ingest_client *client)
{
    memset(client, 0, sizeof *client);
    const struct lt_http_header *ua = lt_http_find_header(&req->head, "User-Agent");
    client->addr = req->client_addr;
    client->user_agent = ua ? ua->value : NULL;
    client->user_agent_len = ua ? ua->value_len : 0;
    client->drop_excess_likes = false; /* an HTTP like over a budget is rejected whole */
}

/* A 202 waits until the spool keeps what it accepted (ingest.h). */
struct answer {
    struct lt_request *req;
    size_t accepted, rejected;
};

static void on_kept(void *arg)
{
    struct answer *a = arg;
    char body[96]; /* 25 bytes of text and two size_t of at most 20 digits: 65 */
    int n = snprintf(body, sizeof body, "{\"accepted\":%zu,\"rejected\":%zu}", a->accepted,
                     a->rejected);
    lt_respond(a->req, 202, "application/json; charset=utf-8", body, (size_t)n);
    lt_free(a);
}

static void respond_accepted(struct lt_app *app, struct lt_request *req, size_t accepted,
                             size_t rejected)
{
    struct answer *a = lt_malloc(sizeof *a);
    *a = (struct answer){req, accepted, rejected};
    if (accepted == 0)
        on_kept(a);
    else
        lt_ingest_when_kept(app->ingest, on_kept, a);
}

static void respond_spool_unavailable(struct lt_request *req)
{
    lt_response_header(req, "Retry-After", "1");
    lt_respond_error(req, 503, "spool_unavailable", lt_ingest_reason(LT_INGEST_SPOOL_UNAVAILABLE));
}

/* A single event that was not counted. */
static void respond_refused(struct lt_request *req, const char *why,
                            const struct lt_ingest_outcome *out)
{
    if (out && out->code == LT_INGEST_RATE_LIMITED) {
        int64_t wait = out->retry_after_ms;
        char secs[24];
        snprintf(secs, sizeof secs, "%lld", (long long)(wait < 0 ? 60 : (wait + 999) / 1000));
        lt_response_header(req, "Retry-After", secs);
        lt_respond_error(req, 429, "rate_limited", why);
    } else {
        lt_respond_error(req, 400, "bad_event", why);
    }
}

/* The stream takes events (lt_ingest_open said so): count them and answer. */
static void ingest_accept(struct ingest *in)
{
    struct lt_app *app = in->app;
    struct lt_request *req = in->req;
    struct lt_ingest_client client;
    request_client(req, &client);
    struct lt_event e;
    struct lt_ingest_outcome out;
    if (json_is_object(in->body)) {
        const char *why = lt_ingest_validate(app->ingest, in->body, &e);
        if (why) {
            lt_ingest_rejected(app->ingest, in->stream);
            respond_refused(req, why, NULL);
            return;
        }
        lt_ingest_event(app->ingest, in->stream, &e, &client, &out);
        if (out.code == LT_INGEST_SPOOL_UNAVAILABLE) {
            respond_spool_unavailable(req);
            return;
        }
        if (out.code != LT_INGEST_OK) {
            respond_refused(req, lt_ingest_reason(out.code), &out);
            return;
        }
        respond_accepted(app, req, 1, 0);
        return;
    }
    size_t accepted = 0, rejected = 0, i;
    json_t *ev;
    json_array_foreach(in->body, i, ev)
    {
        bool ok = false;
        if (!lt_ingest_validate(app->ingest, ev, &e)) {
            lt_ingest_event(app->ingest, in->stream, &e, &client, &out);
            ok = out.code == LT_INGEST_OK;
        } else {
            lt_ingest_rejected(app->ingest, in->stream);
        }
        if (ok)
            accepted++;
        else
            rejected++;
    }
    respond_accepted(app, req, accepted, rejected);
}

static void ingest_free(struct ingest *in)
{
    json_decref(in->body);
    lt_free(in);
}

/* Answers a request that lt_ingest_open decided on. */
static void ingest_decided(struct ingest *in, enum lt_ingest_code code)
{
    struct lt_request *req = in->req;
    switch (code) {
    case LT_INGEST_OK:
        ingest_accept(in);
        break;
    case LT_INGEST_NOT_READY:
        lt_api_respond_store_error(req, LT_EAGAIN);
        break;
    case LT_INGEST_UNKNOWN_STREAM:
        lt_respond_error(req, 404, "unknown_stream", lt_ingest_reason(code));
        break;
    case LT_INGEST_STREAM_ENDED:
        lt_respond_error(req, 409, "stream_ended", lt_ingest_reason(code));
        break;
    case LT_INGEST_OVERLOADED:
        lt_response_header(req, "Retry-After", "1");
        lt_respond_error(req, 503, "overloaded", lt_ingest_reason(code));
        break;
    case LT_INGEST_SPOOL_UNAVAILABLE:
        respond_spool_unavailable(req);
        break;
    case LT_INGEST_RATE_LIMITED:
    case LT_INGEST_TOO_MANY_SOURCES: /* per event only */
        lt_respond_error(req, 500, "internal", lt_ingest_reason(code));
        break;
    }
}

static void on_open(void *arg, enum lt_ingest_code code)
{
    ingest_decided(arg, code);
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
    size_t n_views = count_views(body);
    size_t n_events = json_is_array(body) ? json_array_size(body) : 1;
    /* The usual case: the status is cached, nothing to keep past this call. */
    int rc = lt_ingest_open(app->ingest, local.stream, n_views, n_events, NULL, NULL);
    if (rc >= 0) {
        ingest_decided(&local, (enum lt_ingest_code)rc);
        json_decref(body);
        return;
    }
    struct ingest *in = lt_malloc(sizeof *in);
    *in = local;
    rc = lt_ingest_open(app->ingest, in->stream, n_views, n_events, on_open, in);
    if (rc == LT_EAGAIN)
        return; /* on_open answers */
    ingest_decided(in, (enum lt_ingest_code)rc);
    ingest_free(in);
}
