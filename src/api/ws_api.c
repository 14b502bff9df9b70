/* livetally's WebSocket messages (API.md "WebSocket messages") on top of
 * ws_conn.h: views and likes through the counting rules (ingest.h),
 * subscriptions through the hub, operator sockets. */
#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/ids.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/base/shared_buf.h"
#include "livetally/conf/config.h"
#include "livetally/core/event_validate.h"
#include "livetally/core/hub.h"
#include "livetally/core/ingest.h"
#include "livetally/core/stream_cache.h"
#include "livetally/net/ws_conn.h"
#include "livetally/net/ws_frame.h"
#include "livetally/api/api.h"
#include "livetally/api/app.h"
#include "livetally/api/live.h"
#include "livetally/api/totals_json.h"

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
    size_t n_subs, cap_subs;
    /* At most LT_WS_MAX_SUBSCRIPTIONS, or operator.max_subscriptions on an
     * operator's socket (subscribe_now refuses more); grown as needed. */
    struct lt_hub_sub **subs;
    /* The socket's message budget (limits.ws_messages_per_second,
     * limits.ws_message_burst): a token bucket that starts full, read from
     * the config at each message so that SIGHUP applies to open sockets. */
    double msg_tokens;
    int64_t msg_at_ms; /* when msg_tokens was computed; 0: never (full) */
    int errors;        /* answers counted by refuse(); at limits.ws_max_errors, 1008 */
};

/* ---- hub kind: one text frame per push, shared by every socket -------- */

static struct lt_shared *encode_frame(const struct lt_totals *totals)
{
    char msg[LT_TOTALS_MESSAGE_MAX];
    size_t len = lt_totals_message(totals, msg);
    return lt_ws_text_frame(msg, len);
}

static void deliver_frame(void *owner, struct lt_shared *frame)
{
    struct ws_client *cl = owner;
    lt_ws_send_frame(cl->conn, frame);
}

static struct lt_shared *encode_notice(const char *stream, enum lt_stream_status status)
{
    char msg[LT_NOTICE_MESSAGE_MAX];
    size_t len = lt_notice_message(stream, status, msg);
    return lt_ws_text_frame(msg, len);
}

/* The stream was deleted (its notice is out): /v1/ws drops the
 * subscription and stays open; /v1/streams/{id}/ws is over (1000). */
static void sub_ended(void *owner, struct lt_hub_sub *sub)
{
    struct ws_client *cl = owner;
    for (size_t i = 0; i < cl->n_subs; i++) {
        if (cl->subs[i] == sub) {
            lt_hub_unsubscribe(cl->app->hub, sub);
            cl->subs[i] = cl->subs[--cl->n_subs];
            break;
        }
    }
    if (cl->fixed)
        lt_ws_close(cl->conn, LT_WS_CLOSE_NORMAL, "stream deleted");
}

static const struct lt_push_kind ws_kind = {"websocket", encode_frame, deliver_frame, encode_notice,
                                            sub_ended};

/* ---- replies ---------------------------------------------------------- */

/* A like's "id" (README, "WebSocket like acks"): 1-64 of A-Za-z0-9-_. */
#define LT_WS_ACK_ID_MAX 64

static bool valid_ack_id(const char *s, size_t len)
{
    if (len < 1 || len > LT_WS_ACK_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* An error answer; id (may be NULL or "") names the like it answers. */
static void send_error_id(struct ws_client *cl, const char *code, const char *message,
                          const char *id)
{
    json_t *o = json_pack("{s:s, s:s}", "type", "error", "code", code);
    if (id && id[0])
        json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "message", json_string(message));
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    lt_ws_send_text(cl->conn, text, strlen(text));
    lt_free(text);
    json_decref(o);
}

static void send_error(struct ws_client *cl, const char *code, const char *message)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", message);
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    lt_ws_send_text(cl->conn, text, strlen(text));
    lt_free(text);
    json_decref(o);
}

/* An error answer that counts against the socket: a message that is not
 * JSON, of no known type or with bad fields, one over the message budget,
 * a refused auth. Answers the client may get in normal use (like taps over
 * the like budget, unknown_stream, too_many_subscriptions, not_ready, ...)
 * do not count. The answer that reaches limits.ws_max_errors is followed by
 * a close with 1008, so a flood of bad messages costs a bounded amount of
 * work and output; after lt_ws_close no more messages are read. */
static void count_error(struct ws_client *cl)
{
    if (++cl->errors < cl->app->cfg->ws_max_errors || !lt_ws_is_open(cl->conn))
        return;
    lt_metrics->ws_closed_policy_total++;
    lt_ws_close(cl->conn, LT_WS_CLOSE_POLICY, "too many bad messages");
}

static void refuse(struct ws_client *cl, const char *code, const char *message)
{
    send_error(cl, code, message);
    count_error(cl);
}

static void send_dropped(struct ws_client *cl, int64_t dropped, const char *id)
{
    /* 100 bytes of text, an int64 (at most 20) and an id (at most 64 bytes
     * of characters that need no escaping) with its key: 200 */
    char text[256];
    int n = snprintf(text, sizeof text,
                     "{\"type\":\"error\",\"code\":\"rate_limited\"%s%s%s,\"dropped\":%lld,"
                     "\"message\":\"taps over the like budget were dropped\"}",
                     id[0] ? ",\"id\":\"" : "", id, id[0] ? "\"" : "", (long long)dropped);
    lt_ws_send_text(cl->conn, text, (size_t)n);
}

/* The ack of a like that carried an id, sent once its taps are in the
 * spool (ingest.h, lt_ingest_when_kept). */
struct ack {
    struct lt_ws_conn *conn; /* referenced until sent */
    int64_t counted;
    char id[LT_WS_ACK_ID_MAX + 1];
};

static void on_like_kept(void *arg)
{
    struct ack *a = arg;
    if (lt_ws_is_open(a->conn)) {
        char text[160]; /* 40 bytes of text, an id of at most 64 and an int64: 124 */
        int n = snprintf(text, sizeof text, "{\"type\":\"ack\",\"id\":\"%s\",\"counted\":%lld}",
                         a->id, (long long)a->counted);
        lt_ws_send_text(a->conn, text, (size_t)n);
    }
    lt_ws_unref(a->conn);
    lt_free(a);
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
    char id[LT_WS_ACK_ID_MAX + 1]; /* a like's id; "" none */
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
    size_t max = cl->operator ? (size_t)cl->app->cfg->operator_max_subscriptions
                              : LT_WS_MAX_SUBSCRIPTIONS;
    if (cl->n_subs >= max) {
        char msg[96]; /* a size_t is at most 20 digits */
        snprintf(msg, sizeof msg, "at most %zu subscriptions per socket", max);
        send_error(cl, "too_many_subscriptions", msg);
        return;
    }
    if (cl->n_subs == cl->cap_subs) {
        cl->cap_subs = cl->cap_subs ? cl->cap_subs * 2 : 4;
        cl->subs = lt_realloc(cl->subs, cl->cap_subs * sizeof *cl->subs);
    }
    cl->subs[cl->n_subs++] = lt_hub_subscribe(cl->app->hub, stream, &ws_kind, cl, !cl->operator, -1);
}

/* A subscription once the stream's status is known. */
static void subscribe_with_status(struct ws_client *cl, const struct action *a,
                                  enum lt_stream_status status)
{
    if (status == LT_STATUS_NONE && !cl->app->cfg->streams_auto_create) {
        send_error(cl, "unknown_stream", "no such stream");
        return;
    }
    subscribe_now(cl, a->stream);
}

/* A view or like that the stream takes (lt_ingest_open said so): counted by
 * the rules of ingest.h, taps over a budget dropped. */
static void count_event(struct ws_client *cl, const struct action *a)
{
    struct lt_event e;
    memset(&e, 0, sizeof e);
    e.type = a->type == ACT_VIEW ? LT_EVENT_VIEW : LT_EVENT_LIKE;
    e.n = a->n;
    e.viewer = a->viewer;
    e.source = a->source;
    struct lt_ingest_client client;
    memset(&client, 0, sizeof client);
    client.addr = lt_ws_peer(cl->conn);
    client.viewer = cl->viewer;
    client.drop_excess_likes = true;
    struct lt_ingest_outcome out;
    lt_ingest_event(cl->app->ingest, a->stream, &e, &client, &out);
    if (out.dropped > 0)
        send_dropped(cl, out.dropped, a->id);
    if (out.code == LT_INGEST_TOO_MANY_SOURCES) {
        send_error_id(cl, "bad_message", lt_ingest_reason(out.code), a->id);
        count_error(cl);
        return;
    }
    if (out.code == LT_INGEST_SPOOL_UNAVAILABLE) {
        send_error_id(cl, "spool_unavailable", lt_ingest_reason(out.code), a->id);
        return;
    }
    if (!a->id[0])
        return;
    struct ack *k = lt_malloc(sizeof *k);
    k->conn = cl->conn;
    lt_ws_ref(cl->conn);
    k->counted = out.counted;
    memcpy(k->id, a->id, sizeof k->id);
    lt_ingest_when_kept(cl->app->ingest, on_like_kept, k);
}

/* Carries out a view or like once lt_ingest_open decided. */
static void act(struct ws_client *cl, const struct action *a, enum lt_ingest_code code)
{
    const char *wire = NULL;
    switch (code) {
    case LT_INGEST_OK:
        count_event(cl, a);
        return;
    case LT_INGEST_NOT_READY:
        wire = "not_ready";
        break;
    case LT_INGEST_UNKNOWN_STREAM:
        wire = "unknown_stream";
        break;
    case LT_INGEST_STREAM_ENDED:
        wire = "stream_ended";
        break;
    case LT_INGEST_OVERLOADED:
        wire = "overloaded";
        break;
    case LT_INGEST_RATE_LIMITED:
        wire = "rate_limited";
        break;
    case LT_INGEST_SPOOL_UNAVAILABLE:
        wire = "spool_unavailable";
        break;
    case LT_INGEST_TOO_MANY_SOURCES:
        send_error_id(cl, "bad_message", lt_ingest_reason(code), a->id);
        count_error(cl);
        return;
    }
    send_error_id(cl, wire, lt_ingest_reason(code), a->id);
}

/* The socket may have closed while the action waited. */
static struct ws_client *waited_client(struct action *a)
{
    return lt_ws_is_open(a->conn) ? lt_ws_arg(a->conn) : NULL;
}

static void on_subscribe_status(void *arg, int err, enum lt_stream_status status)
{
    struct action *a = arg;
    struct ws_client *cl = waited_client(a);
    if (cl && err)
        send_error(cl, "not_ready", "the store (Redis) is not reachable right now");
    else if (cl)
        subscribe_with_status(cl, a, status);
    lt_ws_unref(a->conn);
    lt_free(a);
}

static void on_event_open(void *arg, enum lt_ingest_code code)
{
    struct action *a = arg;
    struct ws_client *cl = waited_client(a);
    if (cl)
        act(cl, a, code);
    lt_ws_unref(a->conn);
    lt_free(a);
}

/* A copy of tmpl that keeps the socket referenced while it waits. */
static struct action *waiting_action(struct ws_client *cl, const struct action *tmpl)
{
    struct action *a = lt_malloc(sizeof *a);
    *a = *tmpl;
    a->conn = cl->conn;
    lt_ws_ref(cl->conn);
    return a;
}

/* Runs the action now when the stream's status is cached (the usual case),
 * else once it is looked up. */
static void submit(struct ws_client *cl, const struct action *tmpl)
{
    struct lt_app *app = cl->app;
    if (tmpl->type == ACT_SUBSCRIBE) {
        int st = lt_stream_cache_peek(app->stream_cache, tmpl->stream);
        if (st >= 0) {
            subscribe_with_status(cl, tmpl, (enum lt_stream_status)st);
            return;
        }
        struct action *a = waiting_action(cl, tmpl);
        st = lt_stream_cache_get(app->stream_cache, a->stream, on_subscribe_status, a);
        if (st == LT_EAGAIN)
            return; /* on_subscribe_status follows */
        lt_ws_unref(cl->conn);
        if (st < 0)
            send_error(cl, "not_ready", "the store (Redis) is not reachable right now");
        else
            subscribe_with_status(cl, a, (enum lt_stream_status)st);
        lt_free(a);
        return;
    }
    size_t n_views = tmpl->type == ACT_VIEW;
    int rc = lt_ingest_open(app->ingest, tmpl->stream, n_views, 1, NULL, NULL);
    if (rc >= 0) {
        act(cl, tmpl, (enum lt_ingest_code)rc);
        return;
    }
    struct action *a = waiting_action(cl, tmpl);
    rc = lt_ingest_open(app->ingest, a->stream, n_views, 1, on_event_open, a);
    if (rc == LT_EAGAIN)
        return; /* on_event_open follows */
    lt_ws_unref(cl->conn);
    act(cl, a, (enum lt_ingest_code)rc);
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

/* A view or like message: the same rules as an HTTP event (event_validate.h), plus
 * the stream it is about and the socket's viewer and source as defaults. */
static const char *parse_event(struct ws_client *cl, json_t *msg, struct action *a)
{
    struct lt_event ev;
    const char *why = lt_ingest_validate(cl->app->ingest, msg, &ev);
    if (why) {
        const char *no_stream;
        const char *stream = message_stream(cl, msg, &no_stream);
        if (stream)
            lt_ingest_rejected(cl->app->ingest, stream);
        return why;
    }
    const char *stream = message_stream(cl, msg, &why);
    if (!stream)
        return why;
    a->type = ev.type == LT_EVENT_VIEW ? ACT_VIEW : ACT_LIKE;
    a->n = ev.n;
    snprintf(a->stream, sizeof a->stream, "%s", stream);
    snprintf(a->viewer, sizeof a->viewer, "%s", ev.viewer ? ev.viewer : cl->viewer);
    snprintf(a->source, sizeof a->source, "%s", ev.source ? ev.source : cl->source);
    json_t *id = json_object_get(msg, "id");
    if (id && a->type == ACT_LIKE) {
        if (!json_is_string(id) || !valid_ack_id(json_string_value(id), json_string_length(id)))
            return "id is 1-64 characters of A-Z a-z 0-9 - _ .";
        snprintf(a->id, sizeof a->id, "%s", json_string_value(id));
    }
    return NULL;
}

/* Takes one message from the socket's budget; false when it is empty. */
static bool take_message_token(struct ws_client *cl)
{
    const struct lt_config *cfg = cl->app->cfg;
    double burst = cfg->ws_message_burst;
    int64_t now = lt_mono_ms();
    double have = burst;
    if (cl->msg_at_ms) {
        have = cl->msg_tokens + (double)(now - cl->msg_at_ms) * cfg->ws_messages_per_second / 1000.0;
        if (have > burst)
            have = burst;
    }
    cl->msg_at_ms = now ? now : 1;
    cl->msg_tokens = have;
    if (have < 1.0)
        return false;
    cl->msg_tokens = have - 1.0;
    return true;
}

/* A message over the budget: answered, not acted on. A like's taps are
 * named as dropped, as for taps over the like budget, so that the widget
 * takes them back (a like without n carries one tap). */
static void refuse_rate_limited(struct ws_client *cl, json_t *msg, const char *type)
{
    lt_metrics->ws_messages_rate_limited_total++;
    json_t *o = json_pack("{s:s, s:s}", "type", "error", "code", "rate_limited");
    if (type && strcmp(type, "like") == 0) {
        json_t *n = json_object_get(msg, "n");
        json_int_t taps = n ? (json_is_integer(n) ? json_integer_value(n) : 0) : 1;
        if (taps >= 1 && taps <= cl->app->cfg->likes_max_per_message)
            json_object_set_new(o, "dropped", json_integer(taps));
        json_t *id = json_object_get(msg, "id");
        if (json_is_string(id) && valid_ack_id(json_string_value(id), json_string_length(id)))
            json_object_set_new(o, "id", json_string(json_string_value(id)));
    }
    json_object_set_new(o, "message",
                        json_string("too many messages on this socket; slow down "
                                    "(limits.ws_messages_per_second)"));
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    lt_ws_send_text(cl->conn, text, strlen(text));
    lt_free(text);
    json_decref(o);
    count_error(cl);
}

static void on_text(struct lt_ws_conn *conn, const char *data, size_t len, void *arg)
{
    (void)conn;
    struct ws_client *cl = arg;
    const struct lt_config *cfg = cl->app->cfg;
    json_error_t jerr;
    json_t *msg = json_loadb(data, len, 0, &jerr);
    const char *type = json_string_value(json_object_get(msg, "type"));
    /* Every text message spends the budget, bad ones too, except an
     * operator's subscribe and unsubscribe: a dashboard (re)subscribes to
     * every stream it shows at once, up to operator.max_subscriptions,
     * and its token already vouches for it. */
    bool exempt = cl->operator && json_is_object(msg) && type &&
                  (strcmp(type, "subscribe") == 0 || strcmp(type, "unsubscribe") == 0);
    if (!exempt && !take_message_token(cl)) {
        refuse_rate_limited(cl, msg, json_is_object(msg) ? type : NULL);
        json_decref(msg);
        return;
    }
    if (!json_is_object(msg) || !type) {
        refuse(cl, "bad_message", "a message is a JSON object with a type");
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
        /* The HTTP rule (auth.c): none configured = forbidden, whatever
         * the token; a missing or wrong one = unauthorized. */
        if (cfg->operator_tokens.n == 0) {
            refuse(cl, "forbidden", "no operator tokens are configured");
        } else if (!json_is_string(t) ||
                   !lt_auth_token_ok(cfg, json_string_value(t), json_string_length(t))) {
            refuse(cl, "unauthorized", "the token is not an operator token");
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
        refuse(cl, "bad_message", why);
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
    lt_free(cl->subs);
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
