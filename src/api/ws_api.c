/* livetally's WebSocket messages (API.md "WebSocket messages") on top of
 * ws_conn.h: views, likes with the viewer's budget, subscriptions through
 * the hub, operator sockets. */
#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/ids.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/base/shared_buf.h"
#include "livetally/conf/config.h"
#include "livetally/core/agg.h"
#include "livetally/core/event_validate.h"
#include "livetally/core/hub.h"
#include "livetally/core/likes_budget.h"
#include "livetally/core/stream_cache.h"
#include "livetally/net/ws_conn.h"
#include "livetally/net/ws_frame.h"
#include "livetally/api/api.h"
#include "livetally/api/app.h"
#include "livetally/api/live.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

struct ws_client {
    struct lt_app *app;
    struct lt_ws_conn *conn;
    char viewer[LT_VIEWER_ID_MAX + 1]; /* validated ids (api_live.c), copied whole */
    char source[LT_SOURCE_ID_MAX + 1];
    bool fixed;    /* /v1/streams/{id}/ws: its one stream, no (un)subscribe */
    bool operator; /* authenticated: its subscriptions do not count as online */
    size_t n_subs;
    struct lt_hub_sub *subs[LT_WS_MAX_SUBSCRIPTIONS]; /* subscribe refuses more (n_subs check) */
};

/* ---- hub kind: one text frame per push, shared by every socket -------- */

static struct lt_shared *encode_frame(const char *json, size_t len, int64_t seq)
{
    (void)seq;
    return lt_ws_text_frame(json, len);
}

static void deliver_frame(void *owner, struct lt_shared *frame)
{
    struct ws_client *cl = owner;
    lt_ws_send_frame(cl->conn, frame);
}

static const struct lt_push_kind ws_kind = {"websocket", encode_frame, deliver_frame};

/* ---- replies ---------------------------------------------------------- */

static void send_error(struct ws_client *cl, const char *code, const char *message)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", message);
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    lt_ws_send_text(cl->conn, text, strlen(text));
    lt_free(text);
    json_decref(o);
}

static void send_dropped(struct ws_client *cl, int64_t dropped)
{
    char text[160]; /* 100 bytes of text and an int64 (at most 20): 120 */
    int n = snprintf(text, sizeof text,
                     "{\"type\":\"error\",\"code\":\"rate_limited\",\"dropped\":%lld,"
                     "\"message\":\"taps over the like budget were dropped\"}",
                     (long long)dropped);
    lt_ws_send_text(cl->conn, text, (size_t)n);
}

/* ---- events that need the stream's status ----------------------------- */

enum action_type { ACT_VIEW, ACT_LIKE, ACT_SUBSCRIBE };

struct action {
    enum action_type type;
    struct lt_ws_conn *conn; /* referenced while the status is looked up */
    char stream[LT_STREAM_ID_MAX + 1]; /* validated ids (event_validate, api_live), copied whole */
    char viewer[LT_VIEWER_ID_MAX + 1];
    char source[LT_SOURCE_ID_MAX + 1];
    int64_t n;
};

static int find_sub(const struct ws_client *cl, const char *stream)
{
    for (size_t i = 0; i < cl->n_subs; i++)
        if (strcmp(lt_hub_sub_stream(cl->subs[i]), stream) == 0)
            return (int)i;
    return -1;
}

static void subscribe_now(struct ws_client *cl, const char *stream)
{
    if (find_sub(cl, stream) >= 0)
        return;
    if (cl->n_subs == LT_WS_MAX_SUBSCRIPTIONS) {
        send_error(cl, "too_many_subscriptions", "at most 16 subscriptions per socket");
        return;
    }
    cl->subs[cl->n_subs++] = lt_hub_subscribe(cl->app->hub, stream, &ws_kind, cl, !cl->operator, -1);
}

/* Carries out an action once the stream's status is known. */
static void act(struct ws_client *cl, const struct action *a, enum lt_stream_status status)
{
    struct lt_app *app = cl->app;
    if (status == LT_STATUS_NONE && !app->cfg->streams_auto_create) {
        send_error(cl, "unknown_stream", "no such stream");
        return;
    }
    if (a->type == ACT_SUBSCRIBE) {
        subscribe_now(cl, a->stream);
        return;
    }
    if (status == LT_STATUS_ENDED) {
        send_error(cl, "stream_ended", "the stream has ended");
        return;
    }
    if (!lt_agg_can_accept(app->agg, a->type == ACT_VIEW)) {
        lt_metrics->ingest_overloaded_total++;
        send_error(cl, "overloaded", "events are waiting for the store; retry shortly");
        return;
    }
    if (status == LT_STATUS_NONE)
        lt_stream_cache_set(app->stream_cache, a->stream, LT_STATUS_LIVE);
    int rc;
    if (a->type == ACT_VIEW) {
        rc = lt_agg_add_view(app->agg, a->stream, a->viewer, a->source);
    } else {
        int64_t taken =
            lt_likes_budget_take(app->likes_budget, a->viewer, a->n, lt_mono_ms(), true);
        rc = taken > 0 ? lt_agg_add_likes(app->agg, a->stream, a->source, taken) : 0;
        if (rc == 0 && taken > 0)
            lt_metrics->likes_accepted_total += (uint64_t)taken;
        if (taken < a->n) {
            lt_metrics->likes_rate_limited_total += (uint64_t)(a->n - taken);
            send_dropped(cl, a->n - taken);
        }
    }
    if (rc != 0) {
        lt_metrics->events_rejected_total++;
        send_error(cl, "bad_message", "too many sources for this stream right now");
    } else {
        lt_metrics->events_accepted_total++;
    }
}

static void on_action_status(void *arg, int err, enum lt_stream_status status)
{
    struct action *a = arg;
    if (lt_ws_is_open(a->conn)) {
        struct ws_client *cl = lt_ws_arg(a->conn);
        if (err)
            send_error(cl, "not_ready", "the store (Redis) is not reachable right now");
        else
            act(cl, a, status);
    }
    lt_ws_unref(a->conn);
    lt_free(a);
}

/* Runs the action now when the stream's status is cached (the usual case),
 * else once it is looked up. */
static void submit(struct ws_client *cl, const struct action *tmpl)
{
    int st = lt_stream_cache_peek(cl->app->stream_cache, tmpl->stream);
    if (st >= 0) {
        act(cl, tmpl, (enum lt_stream_status)st);
        return;
    }
    struct action *a = lt_malloc(sizeof *a);
    *a = *tmpl;
    a->conn = cl->conn;
    lt_ws_ref(cl->conn);
    st = lt_stream_cache_get(cl->app->stream_cache, a->stream, on_action_status, a);
    if (st == LT_EAGAIN)
        return; /* on_action_status follows */
    lt_ws_unref(cl->conn);
    if (st < 0)
        send_error(cl, "not_ready", "the store (Redis) is not reachable right now");
    else
        act(cl, a, (enum lt_stream_status)st);
    lt_free(a);
}

/* ---- messages --------------------------------------------------------- */

/* The stream a message is about: its "stream", or the socket's only one. */
static const char *message_stream(struct ws_client *cl, json_t *msg, const char **why)
{
    json_t *s = json_object_get(msg, "stream");
    if (s) {
        const char *id = json_string_value(s);
        if (!id || !lt_valid_stream_id(id, json_string_length(s))) {
            *why = "stream is not a valid stream id";
            return NULL;
        }
        return id;
    }
    if (cl->n_subs == 1)
        return lt_hub_sub_stream(cl->subs[0]);
    *why = cl->n_subs ? "name the stream: this socket has several"
                      : "name the stream: this socket has none";
    return NULL;
}

/* A view or like message: the same rules as an HTTP event (event.c), plus
 * the stream it is about and the socket's viewer and source as defaults. */
static const char *parse_event(struct ws_client *cl, json_t *msg, struct action *a)
{
    struct lt_event ev;
    const char *why = lt_event_parse(cl->app->cfg, msg, &ev);
    if (why)
        return why;
    const char *stream = message_stream(cl, msg, &why);
    if (!stream)
        return why;
    a->type = ev.type == LT_EVENT_VIEW ? ACT_VIEW : ACT_LIKE;
    a->n = ev.n;
    snprintf(a->stream, sizeof a->stream, "%s", stream);
    snprintf(a->viewer, sizeof a->viewer, "%s", ev.viewer ? ev.viewer : cl->viewer);
    snprintf(a->source, sizeof a->source, "%s", ev.source ? ev.source : cl->source);
    return NULL;
}

static void on_text(struct lt_ws_conn *conn, const char *data, size_t len, void *arg)
{
    (void)conn;
    struct ws_client *cl = arg;
    const struct lt_config *cfg = cl->app->cfg;
    json_error_t jerr;
    json_t *msg = json_loadb(data, len, 0, &jerr);
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (!json_is_object(msg) || !type) {
        send_error(cl, "bad_message", "a message is a JSON object with a type");
        json_decref(msg);
        return;
    }
    struct action a;
    memset(&a, 0, sizeof a);
    const char *why = NULL;
    if (strcmp(type, "view") == 0 || strcmp(type, "like") == 0) {
        why = parse_event(cl, msg, &a);
    } else if (strcmp(type, "subscribe") == 0 || strcmp(type, "unsubscribe") == 0) {
        json_t *s = json_object_get(msg, "stream");
        if (cl->fixed)
            why = "subscribe and unsubscribe work on /v1/ws";
        else if (!json_is_string(s) || !lt_valid_stream_id(json_string_value(s), json_string_length(s)))
            why = "stream is not a valid stream id";
        else if (type[0] == 'u') {
            int i = find_sub(cl, json_string_value(s));
            if (i >= 0) {
                lt_hub_unsubscribe(cl->app->hub, cl->subs[i]);
                cl->subs[i] = cl->subs[--cl->n_subs];
            }
            json_decref(msg);
            return;
        } else {
            a.type = ACT_SUBSCRIBE;
            snprintf(a.stream, sizeof a.stream, "%s", json_string_value(s));
        }
    } else if (strcmp(type, "auth") == 0) {
        json_t *t = json_object_get(msg, "token");
        if (!json_is_string(t) ||
            !lt_auth_token_ok(cfg, json_string_value(t), json_string_length(t))) {
            send_error(cl, "forbidden", "the token is not an operator token");
        } else {
            cl->operator = true;
            for (size_t i = 0; i < cl->n_subs; i++)
                lt_hub_set_counts_online(cl->app->hub, cl->subs[i], false);
            static const char ok[] = "{\"type\":\"auth\",\"ok\":true}";
            lt_ws_send_text(cl->conn, ok, sizeof ok - 1);
        }
        json_decref(msg);
        return;
    } else {
        why = "type is view, like, subscribe, unsubscribe or auth";
    }
    json_decref(msg);
    if (why) {
        send_error(cl, "bad_message", why);
        return;
    }
    submit(cl, &a);
}

static void on_closed(struct lt_ws_conn *conn, void *arg)
{
    (void)conn;
    struct ws_client *cl = arg;
    for (size_t i = 0; i < cl->n_subs; i++)
        lt_hub_unsubscribe(cl->app->hub, cl->subs[i]);
    lt_free(cl);
}

static const struct lt_ws_handlers handlers = {on_text, NULL, on_closed};

void lt_live_ws_open(struct lt_app *app, struct lt_request *req, const char *stream,
                     const char *viewer, const char *source, bool implied_view)
{
    bool overloaded = lt_request_over_limit(req);
    struct ws_client *cl = lt_calloc(1, sizeof *cl);
    cl->app = app;
    snprintf(cl->viewer, sizeof cl->viewer, "%s", viewer);
    snprintf(cl->source, sizeof cl->source, "%s", source);
    cl->conn = lt_ws_accept(app->ws, req, &handlers, cl);
    if (!cl->conn) {
        lt_free(cl);
        return;
    }
    if (overloaded) {
        /* Told after the handshake, so a browser sees the code and waits. */
        lt_metrics->ws_overloaded_total++;
        lt_ws_close(cl->conn, LT_WS_CLOSE_TRY_AGAIN, "overloaded; retry in 5 s");
        return;
    }
    if (stream) {
        cl->fixed = true;
        subscribe_now(cl, stream);
        if (implied_view) {
            struct action a;
            memset(&a, 0, sizeof a);
            a.type = ACT_VIEW;
            a.n = 1;
            snprintf(a.stream, sizeof a.stream, "%s", stream);
            snprintf(a.viewer, sizeof a.viewer, "%s", cl->viewer);
            snprintf(a.source, sizeof a.source, "%s", cl->source);
            submit(cl, &a);
        }
    }
}
