/* Redis keys, scripts and replies (see store.h, docs/redis.md). */
#include "livetally/store/store.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/ids.h"
#include "livetally/base/log.h"
#include "livetally/base/map.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/conf/config.h"
#include "livetally/store/redis_conn.h"

#include "store_scripts.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LT_CONTROL_CHANNEL "lt:control"
#define LT_STREAM_INDEX "lt:streams"

/* Key names: every key of a stream carries the hash tag {id}. */
enum stream_key { KEY_META, KEY_TOTALS, KEY_UNIQUES, KEY_LASTVIEW, KEY_ONLINE, KEY_REPORTED };
static const char *const key_suffix[] = {"meta", "totals", "uniques", "lastview", "online",
                                         "reported"};

/* The set of streams a worker reported online shares to (spans streams:
 * written apart, idempotently), so the master can remove a dead worker's
 * shares. */
#define LT_ONLINE_STREAMS_PREFIX "lt:online-streams:"
/* A worker publishes to its own channel and expects to hear it back on its
 * subscriber connection: the only liveness check hiredis 0.14 allows there. */
#define LT_LIVENESS_INTERVAL_MS 2000

static size_t stream_key(char *buf, size_t cap, const char *stream, enum stream_key k)
{
    int n = snprintf(buf, cap, "lt:{%s}:%s", stream, key_suffix[k]);
    return n > 0 ? (size_t)n : 0;
}

struct lt_store {
    const struct lt_config *cfg;
    char *incarnation;
    char *online_field;
    struct lt_map online_registered; /* streams already in our registry set */
    struct lt_redis_conn *data;
    struct lt_redis_conn *pubsub;
    struct lt_redis_script *apply;
    struct lt_redis_script *read;
    struct lt_redis_script *put;
    struct lt_redis_script *drop_share;
    lt_store_push_cb *on_push;
    lt_store_resync_cb *on_resync;
    void *push_arg;
    char liveness_channel[96];
    int64_t liveness_sent_ms; /* > 0: a probe is out, not heard back yet */
    lt_store_control_cb *on_control;
    void *control_arg;
    uint64_t control_epoch;
    struct event *health;
};

/* An idle data connection would not notice a Redis that hangs without
 * closing the socket (no command, no timeout): ping it now and then. */
#define LT_HEALTH_INTERVAL_MS 1000

const char *lt_status_name(enum lt_stream_status status)
{
    switch (status) {
    case LT_STATUS_SCHEDULED: return "scheduled";
    case LT_STATUS_LIVE: return "live";
    case LT_STATUS_ENDED: return "ended";
    case LT_STATUS_NONE: break;
    }
    return "none";
}

enum lt_stream_status lt_status_parse(const char *name, size_t len)
{
    if (len == 9 && memcmp(name, "scheduled", 9) == 0)
        return LT_STATUS_SCHEDULED;
    if (len == 4 && memcmp(name, "live", 4) == 0)
        return LT_STATUS_LIVE;
    if (len == 5 && memcmp(name, "ended", 5) == 0)
        return LT_STATUS_ENDED;
    return LT_STATUS_NONE;
}

/* ---- control channel -------------------------------------------------- */

/* Payload "<status> <stream>", status "deleted" for a removed stream. */
static void on_control_message(struct lt_redis_conn *conn, const char *channel, size_t channel_len,
                               const char *payload, size_t len, void *arg)
{
    (void)conn;
    (void)channel;
    (void)channel_len;
    struct lt_store *store = arg;
    if (!payload)
        return; /* the subscription confirmed (redis_conn.h) */
    const char *sp = memchr(payload, ' ', len);
    if (!sp)
        return;
    size_t id_len = len - (size_t)(sp + 1 - payload);
    if (!lt_valid_stream_id(sp + 1, id_len))
        return;
    char id[LT_STREAM_ID_MAX + 1];
    memcpy(id, sp + 1, id_len);
    id[id_len] = '\0';
    enum lt_stream_status st = lt_status_parse(payload, (size_t)(sp - payload));
    if (store->on_control)
        store->on_control(store->control_arg, id, st);
}

static void on_pubsub_state(struct lt_redis_conn *conn, enum lt_redis_state state, void *arg)
{
    (void)conn;
    struct lt_store *store = arg;
    if (state == LT_REDIS_READY) {
        /* Messages may have been missed while down: the owner refreshes its
         * cached statuses when it sees the epoch change, and the hub takes
         * fresh snapshots. */
        store->control_epoch++;
        store->liveness_sent_ms = 0;
        if (store->on_resync)
            store->on_resync(store->push_arg);
    }
}

static void on_data_state(struct lt_redis_conn *conn, enum lt_redis_state state, void *arg)
{
    (void)conn;
    (void)arg;
    lt_metrics->redis_connected = state == LT_REDIS_READY;
}

static void on_health(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_store *store = arg;
    if (lt_store_ready(store) && lt_redis_conn_pending(store->data) == 0)
        lt_redis_command(store->data, NULL, NULL, "PING");
    /* The subscriber connection cannot PING in hiredis 0.14: publish to
     * ourselves and expect to hear it back before the next probe. */
    int64_t now = lt_mono_ms();
    if (store->liveness_sent_ms && now - store->liveness_sent_ms > LT_LIVENESS_INTERVAL_MS &&
        lt_store_control_ready(store)) {
        lt_warn("store", "subscriber connection did not hear its own probe; reconnecting it");
        lt_redis_conn_reset(store->pubsub);
        store->liveness_sent_ms = 0;
    } else if (!store->liveness_sent_ms && lt_store_ready(store) &&
               lt_store_control_ready(store) &&
               lt_redis_command(store->data, NULL, NULL, "PUBLISH %s %lld",
                                store->liveness_channel, (long long)now) == 0) {
        store->liveness_sent_ms = now;
    }
}

static void on_liveness(struct lt_redis_conn *conn, const char *channel, size_t channel_len,
                        const char *payload, size_t len, void *arg)
{
    (void)conn;
    (void)channel;
    (void)channel_len;
    (void)payload;
    (void)len;
    struct lt_store *store = arg;
    store->liveness_sent_ms = 0;
}

/* Messages of lt:{id}:totals channels. */
static void on_stream_message(struct lt_redis_conn *conn, const char *channel, size_t channel_len,
                              const char *payload, size_t len, void *arg)
{
    (void)conn;
    struct lt_store *store = arg;
    /* "lt:{" id "}:totals" */
    if (channel_len < 12 || !store->on_push)
        return; /* payload NULL: subscribed (redis_conn.h), passed on as is */
    size_t id_len = channel_len - 4 - 8;
    if (id_len > LT_STREAM_ID_MAX)
        return;
    char id[LT_STREAM_ID_MAX + 1];
    memcpy(id, channel + 4, id_len);
    id[id_len] = '\0';
    store->on_push(store->push_arg, id, payload, len);
}

void lt_store_on_push(struct lt_store *store, lt_store_push_cb *on_push,
                      lt_store_resync_cb *on_resync, void *arg)
{
    store->on_push = on_push;
    store->on_resync = on_resync;
    store->push_arg = arg;
}

int lt_store_subscribe_stream(struct lt_store *store, const char *stream)
{
    char channel[128];
    snprintf(channel, sizeof channel, "lt:{%s}:totals", stream);
    return lt_redis_subscribe(store->pubsub, channel, on_stream_message, store);
}

int lt_store_unsubscribe_stream(struct lt_store *store, const char *stream)
{
    char channel[128];
    snprintf(channel, sizeof channel, "lt:{%s}:totals", stream);
    return lt_redis_unsubscribe(store->pubsub, channel);
}

struct lt_store *lt_store_new(struct event_base *base, const struct lt_config *cfg,
                              const char *incarnation, const char *online_field,
                              lt_store_control_cb *on_control, void *control_arg)
{
    struct lt_store *store = lt_calloc(1, sizeof *store);
    store->cfg = cfg;
    store->incarnation = lt_strdup(incarnation);
    store->online_field = lt_strdup(online_field);
    lt_map_init(&store->online_registered);
    snprintf(store->liveness_channel, sizeof store->liveness_channel, "lt:probe:%s", incarnation);
    store->drop_share = lt_redis_script_new(lt_script_drop_share);
    store->on_control = on_control;
    store->control_arg = control_arg;
    store->apply = lt_redis_script_new(lt_script_apply);
    store->read = lt_redis_script_new(lt_script_read);
    store->put = lt_redis_script_new(lt_script_put);

    struct lt_redis_conn_opts opts = {
        .name = "data",
        .host = cfg->redis_host,
        .port = cfg->redis_port,
        .password = cfg->redis_password,
        .db = cfg->redis_db,
        .connect_timeout_ms = cfg->redis_connect_timeout_ms,
        .command_timeout_ms = cfg->redis_command_timeout_ms,
        .on_state = on_data_state,
        .arg = store,
    };
    store->data = lt_redis_conn_new(base, &opts);
    opts.name = "pubsub";
    opts.on_state = on_pubsub_state;
    store->pubsub = lt_redis_conn_new(base, &opts);
    lt_redis_subscribe(store->pubsub, LT_CONTROL_CHANNEL, on_control_message, store);
    lt_redis_subscribe(store->pubsub, store->liveness_channel, on_liveness, store);
    store->health = event_new(base, -1, EV_PERSIST, on_health, store);
    struct timeval tv = {LT_HEALTH_INTERVAL_MS / 1000, (LT_HEALTH_INTERVAL_MS % 1000) * 1000};
    event_add(store->health, &tv);
    return store;
}

void lt_store_free(struct lt_store *store)
{
    if (!store)
        return;
    event_free(store->health);
    lt_redis_conn_free(store->data);
    lt_redis_conn_free(store->pubsub);
    lt_free(store->incarnation);
    lt_free(store->online_field);
    lt_map_clear(&store->online_registered);
    lt_free(store);
    /* Scripts live for the process (redis_conn.h). */
}

bool lt_store_ready(const struct lt_store *store)
{
    return lt_redis_conn_state(store->data) == LT_REDIS_READY;
}

bool lt_store_control_ready(const struct lt_store *store)
{
    return lt_redis_conn_state(store->pubsub) == LT_REDIS_READY;
}

uint64_t lt_store_control_epoch(const struct lt_store *store)
{
    return store->control_epoch;
}

/* ---- reply helpers ---------------------------------------------------- */

static int64_t reply_int(const redisReply *r)
{
    if (!r)
        return 0;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return 0;
}

static bool reply_is_error(const redisReply *r, int err, const char *what)
{
    if (err)
        return true;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        lt_warn("store", "%s: redis error: %s", what, r ? r->str : "no reply");
        return true;
    }
    return false;
}

/* Argument vector built on the heap: the strings live in one arena. */
struct argv_builder {
    const char **argv;
    size_t *lens;
    int argc, cap;
    char *arena;
    size_t arena_len, arena_cap;
};

static void argv_init(struct argv_builder *b, int cap, size_t arena_cap)
{
    b->argv = lt_malloc(sizeof *b->argv * (size_t)cap);
    b->lens = lt_malloc(sizeof *b->lens * (size_t)cap);
    b->argc = 0;
    b->cap = cap;
    b->arena = lt_malloc(arena_cap);
    b->arena_len = 0;
    b->arena_cap = arena_cap;
}

/* Strings are recorded as offsets first, pointers fixed in argv_finish,
 * because the arena may move while it grows. */
static void argv_add(struct argv_builder *b, const char *s, size_t len)
{
    if (b->argc == b->cap) {
        b->cap *= 2;
        b->argv = lt_realloc(b->argv, sizeof *b->argv * (size_t)b->cap);
        b->lens = lt_realloc(b->lens, sizeof *b->lens * (size_t)b->cap);
    }
    while (b->arena_len + len > b->arena_cap) {
        b->arena_cap *= 2;
        b->arena = lt_realloc(b->arena, b->arena_cap);
    }
    memcpy(b->arena + b->arena_len, s, len);
    b->argv[b->argc] = (const char *)(uintptr_t)b->arena_len;
    b->lens[b->argc] = len;
    b->arena_len += len;
    b->argc++;
}

static void argv_add_str(struct argv_builder *b, const char *s)
{
    argv_add(b, s, strlen(s));
}

static void argv_add_int(struct argv_builder *b, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64, v);
    argv_add(b, num, (size_t)n);
}

static void argv_finish(struct argv_builder *b)
{
    for (int i = 0; i < b->argc; i++)
        b->argv[i] = b->arena + (uintptr_t)b->argv[i];
}

static void argv_free(struct argv_builder *b)
{
    lt_free(b->argv);
    lt_free(b->lens);
    lt_free(b->arena);
}

/* ---- batches ---------------------------------------------------------- */

struct batch_call {
    lt_store_batch_cb *cb;
    void *arg;
};

static void on_batch_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct batch_call *call = arg;
    struct lt_batch_result res = {0};
    if (err) {
        call->cb(call->arg, err, NULL);
    } else if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 4) {
        lt_warn("store", "batch: unexpected reply: %s",
                r && r->type == REDIS_REPLY_ERROR ? r->str : "not an array");
        call->cb(call->arg, LT_EPROTO, NULL);
    } else {
        res.applied = reply_int(r->element[0]) == 1;
        res.views_counted = reply_int(r->element[1]);
        res.stream_seq = reply_int(r->element[2]);
        res.created_ms = reply_int(r->element[3]);
        call->cb(call->arg, 0, &res);
    }
    lt_free(call);
}

int lt_store_apply_batch(struct lt_store *store, const struct lt_batch *b, lt_store_batch_cb *cb,
                         void *arg)
{
    if (!lt_store_ready(store))
        return LT_EAGAIN;
    struct argv_builder av;
    argv_init(&av, 16 + (int)(b->n_sources * 2 + b->n_counters * 2 + b->n_views * 2), 1024);
    char key[128];
    for (enum stream_key k = KEY_META; k <= KEY_ONLINE; k++)
        argv_add(&av, key, stream_key(key, sizeof key, b->stream, k));
    argv_add_str(&av, store->incarnation);
    argv_add_int(&av, (int64_t)b->seq);
    argv_add_int(&av, b->at_ms);
    argv_add_int(&av, (int64_t)store->cfg->views_dedup_seconds * 1000);
    argv_add_str(&av, b->stream);
    argv_add_str(&av, b->online >= 0 ? store->online_field : "");
    argv_add_int(&av, b->online >= 0 ? b->online : 0);
    argv_add_int(&av, LT_ONLINE_TTL_MS);
    argv_add_int(&av, (int64_t)b->n_sources);
    for (size_t i = 0; i < b->n_sources; i++) {
        argv_add_str(&av, b->sources[i].name);
        argv_add_int(&av, b->sources[i].likes);
    }
    size_t n_counters = 0;
    for (size_t i = 0; i < b->n_counters; i++)
        n_counters += b->counters[i] != 0;
    argv_add_int(&av, (int64_t)n_counters);
    for (size_t i = 0; i < b->n_counters; i++) {
        if (!b->counters[i])
            continue;
        argv_add_str(&av, store->cfg->counters.items[i]);
        argv_add_int(&av, b->counters[i]);
    }
    for (size_t i = 0; i < b->n_views; i++) {
        argv_add_str(&av, b->views[i].viewer);
        argv_add_int(&av, (int64_t)b->views[i].source + 1);
    }
    argv_finish(&av);
    struct batch_call *call = lt_malloc(sizeof *call);
    call->cb = cb;
    call->arg = arg;
    int rc = lt_redis_eval(store->data, store->apply, 5, av.argc, av.argv, av.lens, on_batch_reply,
                           call);
    argv_free(&av);
    if (rc != 0) {
        lt_free(call);
        return rc;
    }
    /* Record the stream in this worker's registry once, so the master can
     * remove our share should we die. */
    size_t id_len = strlen(b->stream);
    if (b->online > 0 && !lt_map_get(&store->online_registered, b->stream, id_len)) {
        lt_map_put(&store->online_registered, b->stream, id_len, store);
        lt_redis_command(store->data, NULL, NULL, "SADD %s%s %s", LT_ONLINE_STREAMS_PREFIX,
                         store->online_field, b->stream);
    }
    return 0;
}

void lt_store_index_stream(struct lt_store *store, const char *stream, int64_t created_ms)
{
    lt_redis_command(store->data, NULL, NULL, "ZADD %s NX %lld %s", LT_STREAM_INDEX,
                     (long long)created_ms, stream);
}

/* ---- status ----------------------------------------------------------- */

struct status_call {
    lt_store_status_cb *cb;
    void *arg;
};

static void on_status_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct status_call *call = arg;
    if (reply_is_error(r, err, "status")) {
        call->cb(call->arg, err ? err : LT_EPROTO, LT_STATUS_NONE);
    } else if (r->type == REDIS_REPLY_STRING) {
        enum lt_stream_status st = lt_status_parse(r->str, r->len);
        call->cb(call->arg, 0, st == LT_STATUS_NONE ? LT_STATUS_LIVE : st);
    } else {
        call->cb(call->arg, 0, LT_STATUS_NONE);
    }
    lt_free(call);
}

int lt_store_get_status(struct lt_store *store, const char *stream, lt_store_status_cb *cb,
                        void *arg)
{
    char key[128];
    stream_key(key, sizeof key, stream, KEY_META);
    struct status_call *call = lt_malloc(sizeof *call);
    call->cb = cb;
    call->arg = arg;
    int rc = lt_redis_command(store->data, on_status_reply, call, "HGET %s status", key);
    if (rc != 0)
        lt_free(call);
    return rc;
}

/* ---- totals ----------------------------------------------------------- */

static json_t *time_or_null(const redisReply *r)
{
    int64_t ms = reply_int(r);
    if (ms <= 0)
        return json_null();
    char buf[40];
    lt_format_rfc3339(ms, 0, buf, sizeof buf);
    return json_string(buf);
}

static json_t *source_entry(json_t *sources, const char *name, size_t len)
{
    char key[LT_SOURCE_ID_MAX + 1];
    if (len > LT_SOURCE_ID_MAX)
        len = LT_SOURCE_ID_MAX;
    memcpy(key, name, len);
    key[len] = '\0';
    json_t *e = json_object_get(sources, key);
    if (!e) {
        e = json_pack("{s:I, s:I}", "views", (json_int_t)0, "likes", (json_int_t)0);
        json_object_set_new(sources, key, e);
    }
    return e;
}

/* Builds the contract's totals object from lt_script_read's reply. */
static json_t *totals_from_reply(const struct lt_store *store, const char *stream,
                                 const redisReply *r)
{
    const redisReply *meta = r->element[0], *tot = r->element[1], *rep = r->element[3];
    json_t *o = json_object();
    json_object_set_new(o, "stream", json_string(stream));
    json_t *title = json_null(), *series = json_null(), *status = json_string("live");
    json_t *created = json_null(), *starts = json_null();
    for (size_t i = 0; i + 1 < meta->elements; i += 2) {
        const char *f = meta->element[i]->str;
        const redisReply *v = meta->element[i + 1];
        if (strcmp(f, "title") == 0) {
            json_decref(title);
            title = json_stringn(v->str, v->len);
        } else if (strcmp(f, "series") == 0) {
            json_decref(series);
            series = json_stringn(v->str, v->len);
        } else if (strcmp(f, "status") == 0) {
            json_decref(status);
            status = json_stringn(v->str, v->len);
        } else if (strcmp(f, "created_at") == 0) {
            json_decref(created);
            created = time_or_null(v);
        } else if (strcmp(f, "starts_at") == 0) {
            json_decref(starts);
            starts = json_stringn(v->str, v->len);
        }
    }
    json_object_set_new(o, "title", title ? title : json_null());
    json_object_set_new(o, "series", series ? series : json_null());
    json_object_set_new(o, "status", status ? status : json_null());

    int64_t views = 0, likes = 0, seq = 0, peak = 0, updated = 0;
    json_t *peak_at = json_null();
    json_t *counters = json_object();
    json_t *sources = json_object();
    for (size_t i = 0; i < store->cfg->counters.n; i++)
        json_object_set_new(counters, store->cfg->counters.items[i], json_integer(0));
    for (size_t i = 0; i + 1 < tot->elements; i += 2) {
        const char *f = tot->element[i]->str;
        size_t flen = tot->element[i]->len;
        const redisReply *v = tot->element[i + 1];
        if (strcmp(f, "views") == 0) {
            views = reply_int(v);
        } else if (strcmp(f, "likes") == 0) {
            likes = reply_int(v);
        } else if (strcmp(f, "seq") == 0) {
            seq = reply_int(v);
        } else if (strcmp(f, "updated_at") == 0) {
            updated = reply_int(v);
        } else if (strcmp(f, "peak_online") == 0) {
            peak = reply_int(v);
        } else if (strcmp(f, "peak_at") == 0) {
            json_decref(peak_at);
            peak_at = time_or_null(v);
        } else if (strncmp(f, "c:", 2) == 0) {
            if (lt_config_has_counter(store->cfg, f + 2, flen - 2))
                json_object_set_new(counters, f + 2, json_integer(reply_int(v)));
        } else if (strncmp(f, "s:", 2) == 0) {
            const char *colon = memchr(f + 2, ':', flen - 2);
            if (!colon)
                continue;
            json_t *e = source_entry(sources, f + 2, (size_t)(colon - f - 2));
            json_object_set_new(e, strcmp(colon + 1, "views") == 0 ? "views" : "likes",
                                json_integer(reply_int(v)));
        }
    }
    /* Partner reports: source -> {"views":N,"likes":N,"at":"..."}; totals add them. */
    int64_t rep_views = 0, rep_likes = 0;
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        json_t *report = json_loadb(rep->element[i + 1]->str, rep->element[i + 1]->len, 0, NULL);
        if (!json_is_object(report)) {
            json_decref(report);
            continue;
        }
        rep_views += json_integer_value(json_object_get(report, "views"));
        rep_likes += json_integer_value(json_object_get(report, "likes"));
        json_t *e = source_entry(sources, rep->element[i]->str, rep->element[i]->len);
        json_object_set_new(e, "reported", report);
    }
    json_object_set_new(o, "views", json_integer(views + rep_views));
    json_object_set_new(o, "uniques", json_integer(reply_int(r->element[2])));
    json_object_set_new(o, "likes", json_integer(likes + rep_likes));
    json_object_set_new(o, "online", json_integer(reply_int(r->element[4])));
    json_object_set_new(o, "peak_online", json_integer(peak));
    json_object_set_new(o, "peak_at", peak_at);
    json_object_set_new(o, "counters", counters);
    json_object_set_new(o, "sources", sources);
    json_object_set_new(o, "segments", json_array());
    json_object_set_new(o, "seq", json_integer(seq));
    json_object_set_new(o, "created_at", created);
    json_object_set_new(o, "starts_at", starts);
    char buf[40];
    if (updated > 0) {
        lt_format_rfc3339(updated, 1, buf, sizeof buf);
        json_object_set_new(o, "updated_at", json_string(buf));
    } else {
        json_object_set_new(o, "updated_at", json_null());
    }
    return o;
}

static int send_read(struct lt_store *store, const char *stream, lt_redis_cb *cb, void *arg)
{
    char keys[5][128], now[24];
    const char *argv[6];
    size_t lens[6];
    const enum stream_key which[5] = {KEY_META, KEY_TOTALS, KEY_UNIQUES, KEY_REPORTED,
                                      KEY_ONLINE};
    for (int i = 0; i < 5; i++) {
        lens[i] = stream_key(keys[i], sizeof keys[i], stream, which[i]);
        argv[i] = keys[i];
    }
    lens[5] = (size_t)snprintf(now, sizeof now, "%" PRId64, lt_wall_ms());
    argv[5] = now;
    return lt_redis_eval(store->data, store->read, 5, 6, argv, lens, cb, arg);
}

static bool read_reply_ok(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY && r->elements == 5 &&
           r->element[0]->type == REDIS_REPLY_ARRAY && r->element[1]->type == REDIS_REPLY_ARRAY &&
           r->element[3]->type == REDIS_REPLY_ARRAY;
}

struct totals_call {
    struct lt_store *store;
    lt_store_json_cb *cb;
    void *arg;
    char stream[LT_STREAM_ID_MAX + 1];
};

static void on_totals_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct totals_call *call = arg;
    if (reply_is_error(r, err, "totals")) {
        call->cb(call->arg, err ? err : LT_EPROTO, NULL);
    } else if (r->type == REDIS_REPLY_INTEGER) {
        call->cb(call->arg, 0, NULL); /* no such stream */
    } else if (!read_reply_ok(r)) {
        call->cb(call->arg, LT_EPROTO, NULL);
    } else {
        json_t *totals = totals_from_reply(call->store, call->stream, r);
        call->cb(call->arg, 0, totals);
        json_decref(totals);
    }
    lt_free(call);
}

int lt_store_get_totals(struct lt_store *store, const char *stream, lt_store_json_cb *cb,
                        void *arg)
{
    struct totals_call *call = lt_malloc(sizeof *call);
    call->store = store;
    call->cb = cb;
    call->arg = arg;
    snprintf(call->stream, sizeof call->stream, "%s", stream);
    int rc = send_read(store, stream, on_totals_reply, call);
    if (rc != 0)
        lt_free(call);
    return rc;
}

/* ---- listing ---------------------------------------------------------- */

/* Cursor "<created_ms>.<id>": the last stream the previous page examined. */
#define LT_LIST_ROUNDS 8

struct list_call {
    struct lt_store *store;
    lt_store_json_cb *cb;
    void *arg;
    char index_key[128];
    char status[16];
    int limit;
    int64_t after_score; /* -1: from the start */
    char after_id[LT_STREAM_ID_MAX + 1];
    json_t *streams;    /* collected totals */
    json_t *candidates; /* [[id, score], ...] of this round */
    json_t *found;      /* totals per candidate index, null when filtered out */
    size_t pending;
    int rounds;
    bool more; /* the index had more than this round fetched */
    int failed;
};

static void list_fetch(struct list_call *call);

static void list_finish(struct list_call *call, int err)
{
    if (err) {
        call->cb(call->arg, err, NULL);
    } else {
        json_t *next = json_null();
        if (call->after_score >= 0 && call->more) {
            char buf[96];
            snprintf(buf, sizeof buf, "%" PRId64 ".%s", call->after_score, call->after_id);
            json_decref(next);
            next = json_string(buf);
        }
        json_t *res = json_pack("{s:O, s:o}", "streams", call->streams, "next_cursor", next);
        call->cb(call->arg, 0, res);
        json_decref(res);
    }
    json_decref(call->streams);
    json_decref(call->candidates);
    json_decref(call->found);
    lt_free(call);
}

/* All totals of a round are in: keep those that pass the filter, in index
 * order, until the page is full. */
static void list_round_done(struct list_call *call)
{
    if (call->failed) {
        list_finish(call, call->failed);
        return;
    }
    size_t n = json_array_size(call->candidates);
    for (size_t i = 0; i < n; i++) {
        json_t *cand = json_array_get(call->candidates, i);
        json_t *totals = json_array_get(call->found, i);
        call->after_score = json_integer_value(json_array_get(cand, 1));
        snprintf(call->after_id, sizeof call->after_id, "%s",
                 json_string_value(json_array_get(cand, 0)));
        if (json_is_object(totals) &&
            (!call->status[0] ||
             strcmp(json_string_value(json_object_get(totals, "status")), call->status) == 0))
            json_array_append(call->streams, totals);
        if ((int)json_array_size(call->streams) >= call->limit) {
            call->more = call->more || i + 1 < n;
            list_finish(call, 0);
            return;
        }
    }
    if (call->more && ++call->rounds < LT_LIST_ROUNDS) {
        list_fetch(call);
        return;
    }
    list_finish(call, 0);
}

/* One candidate's read in flight. */
struct list_slot {
    struct list_call *call;
    size_t idx;
};

static void on_list_totals(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct list_slot *slot = arg;
    struct list_call *call = slot->call;
    size_t idx = slot->idx;
    lt_free(slot);
    if (err || !r || r->type == REDIS_REPLY_ERROR) {
        call->failed = err ? err : LT_EPROTO;
    } else if (read_reply_ok(r)) {
        const char *id = json_string_value(json_array_get(json_array_get(call->candidates, idx), 0));
        json_array_set_new(call->found, idx, totals_from_reply(call->store, id, r));
    }
    if (--call->pending == 0)
        list_round_done(call);
}

static void on_list_index(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct list_call *call = arg;
    if (reply_is_error(r, err, "list") || r->type != REDIS_REPLY_ARRAY) {
        list_finish(call, err ? err : LT_EPROTO);
        return;
    }
    json_decref(call->candidates);
    json_decref(call->found);
    call->candidates = json_array();
    call->found = json_array();
    int want = call->limit + 1;
    size_t fetched = r->elements / 2;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *id = r->element[i]->str;
        int64_t score = reply_int(r->element[i + 1]);
        /* Same-score members come in reverse lexical order: skip what the
         * cursor already covered. */
        if (call->after_score >= 0 && score == call->after_score &&
            strcmp(id, call->after_id) >= 0)
            continue;
        if ((int)json_array_size(call->candidates) < want) {
            json_array_append_new(call->candidates, json_pack("[s, I]", id, (json_int_t)score));
            json_array_append_new(call->found, json_null());
        }
    }
    call->more = fetched >= (size_t)want + 64 || json_array_size(call->candidates) == (size_t)want;
    if ((int)json_array_size(call->candidates) == want) {
        /* Fetched one beyond the page to know whether there is more; it is
         * examined in the next round. */
        json_array_remove(call->candidates, (size_t)call->limit);
        json_array_remove(call->found, (size_t)call->limit);
        call->more = true;
    }
    size_t n = json_array_size(call->candidates);
    if (n == 0) {
        call->more = false;
        list_finish(call, 0);
        return;
    }
    call->pending = n;
    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_array_get(json_array_get(call->candidates, i), 0));
        struct list_slot *slot = lt_malloc(sizeof *slot);
        slot->call = call;
        slot->idx = i;
        if (send_read(call->store, id, on_list_totals, slot) != 0) {
            lt_free(slot);
            call->failed = LT_EAGAIN;
            if (--call->pending == 0)
                list_round_done(call);
        }
    }
}

static void list_fetch(struct list_call *call)
{
    char max[32];
    if (call->after_score >= 0)
        snprintf(max, sizeof max, "%" PRId64, call->after_score);
    else
        snprintf(max, sizeof max, "+inf");
    /* Fetch extra members to step over same-score ties the cursor covers. */
    int rc = lt_redis_command(call->store->data, on_list_index, call,
                              "ZREVRANGEBYSCORE %s %s -inf WITHSCORES LIMIT 0 %d", call->index_key,
                              max, call->limit + 1 + 64);
    if (rc != 0)
        list_finish(call, rc);
}

int lt_store_list_streams(struct lt_store *store, const char *status, const char *series,
                          const char *cursor, int limit, lt_store_json_cb *cb, void *arg)
{
    if (!lt_store_ready(store))
        return LT_EAGAIN;
    struct list_call *call = lt_calloc(1, sizeof *call);
    call->store = store;
    call->cb = cb;
    call->arg = arg;
    call->limit = limit;
    call->after_score = -1;
    call->streams = json_array();
    snprintf(call->status, sizeof call->status, "%s", status ? status : "");
    if (series)
        snprintf(call->index_key, sizeof call->index_key, "lt:series:%s", series);
    else
        snprintf(call->index_key, sizeof call->index_key, "%s", LT_STREAM_INDEX);
    if (cursor) {
        const char *dot = strchr(cursor, '.');
        char *end = NULL;
        long long score = strtoll(cursor, &end, 10);
        if (!dot || end != dot || score < 0 || !lt_valid_stream_id(dot + 1, strlen(dot + 1))) {
            json_decref(call->streams);
            lt_free(call);
            return LT_EINVAL;
        }
        call->after_score = score;
        snprintf(call->after_id, sizeof call->after_id, "%s", dot + 1);
    }
    list_fetch(call);
    return 0;
}

/* ---- operator writes -------------------------------------------------- */

struct put_call {
    struct lt_store *store;
    lt_store_json_cb *cb;
    void *arg;
    char stream[LT_STREAM_ID_MAX + 1];
    char series[LT_SERIES_ID_MAX + 1];
    bool series_given;
};

static void on_put_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct put_call *call = arg;
    struct lt_store *store = call->store;
    if (reply_is_error(r, err, "put") || r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
        call->cb(call->arg, err ? err : LT_EPROTO, NULL);
        lt_free(call);
        return;
    }
    int64_t created = reply_int(r->element[0]);
    const char *status = r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "live";
    const char *old_series = r->element[2]->type == REDIS_REPLY_STRING ? r->element[2]->str : "";
    /* The index keys span streams: written apart from the stream's script,
     * each write idempotent, so a retried PUT repairs a half-done one. */
    lt_store_index_stream(store, call->stream, created);
    if (call->series_given && old_series[0] && strcmp(old_series, call->series) != 0)
        lt_redis_command(store->data, NULL, NULL, "ZREM lt:series:%s %s", old_series,
                         call->stream);
    if (call->series_given && call->series[0])
        lt_redis_command(store->data, NULL, NULL, "ZADD lt:series:%s NX %lld %s", call->series,
                         (long long)created, call->stream);
    lt_redis_command(store->data, NULL, NULL, "PUBLISH %s %s %s", LT_CONTROL_CHANNEL, status,
                     call->stream);
    if (lt_store_get_totals(store, call->stream, call->cb, call->arg) != 0)
        call->cb(call->arg, LT_EAGAIN, NULL);
    lt_free(call);
}

int lt_store_put_stream(struct lt_store *store, const char *stream,
                        const struct lt_stream_fields *f, lt_store_json_cb *cb, void *arg)
{
    if (!lt_store_ready(store))
        return LT_EAGAIN;
    char key[128];
    const char *argv[16];
    size_t lens[16];
    int argc = 0;
    char now[24];
    lens[argc] = stream_key(key, sizeof key, stream, KEY_META);
    argv[argc++] = key;
    lens[argc] = (size_t)snprintf(now, sizeof now, "%" PRId64, lt_wall_ms());
    argv[argc++] = now;
    const char *names[] = {"title", "series", "status", "starts_at"};
    const char *values[] = {f->title, f->series, f->status, f->starts_at};
    for (int i = 0; i < 4; i++) {
        if (!values[i])
            continue;
        argv[argc] = names[i];
        lens[argc++] = strlen(names[i]);
        argv[argc] = values[i];
        lens[argc++] = strlen(values[i]);
    }
    struct put_call *call = lt_calloc(1, sizeof *call);
    call->store = store;
    call->cb = cb;
    call->arg = arg;
    snprintf(call->stream, sizeof call->stream, "%s", stream);
    if (f->series) {
        call->series_given = true;
        snprintf(call->series, sizeof call->series, "%s", f->series);
    }
    int rc = lt_redis_eval(store->data, store->put, 1, argc, argv, lens, on_put_reply, call);
    if (rc != 0)
        lt_free(call);
    return rc;
}

/* ---- another worker's online share ----------------------------------- */

/* SMEMBERS of the dead worker's registry, then one drop_share script per
 * stream and DEL of the registry, all on the data connection: Redis answers
 * in order, so the call ends with the last reply. */
struct drop_call {
    struct lt_store *store;
    lt_store_count_cb *cb;
    void *arg;
    char field[96];
    int pending;
    int touched;
    int err;
};

static void drop_call_done(struct drop_call *call)
{
    if (--call->pending > 0)
        return;
    if (call->cb)
        call->cb(call->arg, call->err, call->err ? 0 : call->touched);
    lt_free(call);
}

static void on_drop_one(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct drop_call *call = arg;
    if (err)
        call->err = err;
    else if (r && r->type == REDIS_REPLY_INTEGER)
        call->touched += (int)r->integer;
    else if (r && r->type == REDIS_REPLY_ERROR)
        lt_warn("store", "removing online share %s: %s", call->field, r->str);
    drop_call_done(call);
}

static void on_drop_members(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct drop_call *call = arg;
    struct lt_store *store = call->store;
    if (err || !r || r->type != REDIS_REPLY_ARRAY) {
        call->err = err ? err : LT_EPROTO;
        drop_call_done(call);
        return;
    }
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, lt_wall_ms());
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *el = r->element[i];
        if (el->type != REDIS_REPLY_STRING || !lt_valid_stream_id(el->str, el->len))
            continue;
        /* A valid stream id is at most 64 bytes: the keys fit. */
        char totals[128], online[128];
        stream_key(totals, sizeof totals, el->str, KEY_TOTALS);
        stream_key(online, sizeof online, el->str, KEY_ONLINE);
        const char *argv[] = {totals, online, call->field, now, el->str};
        size_t lens[] = {strlen(totals), strlen(online), strlen(call->field), strlen(now), el->len};
        if (lt_redis_eval(store->data, store->drop_share, 2, 5, argv, lens, on_drop_one, call) == 0)
            call->pending++;
    }
    if (lt_redis_command(store->data, on_drop_one, call, "DEL %s%s", LT_ONLINE_STREAMS_PREFIX,
                         call->field) == 0)
        call->pending++;
    drop_call_done(call); /* this reply's own count */
}

int lt_store_drop_online_share(struct lt_store *store, const char *online_field,
                               lt_store_count_cb *cb, void *arg)
{
    if (strlen(online_field) >= sizeof((struct drop_call *)0)->field)
        return LT_EINVAL;
    struct drop_call *call = lt_calloc(1, sizeof *call);
    call->cb = cb;
    call->arg = arg;
    call->pending = 1;
    call->store = store;
    snprintf(call->field, sizeof call->field, "%s", online_field);
    int rc = lt_redis_command(store->data, on_drop_members, call, "SMEMBERS %s%s",
                              LT_ONLINE_STREAMS_PREFIX, online_field);
    if (rc != 0)
        lt_free(call);
    return rc;
}
