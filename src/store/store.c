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
#include "livetally/store/series.h"
#include "livetally/store/store_decode.h"
#include "livetally/store/timeseries.h"

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
enum stream_key { KEY_META, KEY_TOTALS, KEY_UNIQUES, KEY_LASTVIEW, KEY_ONLINE, KEY_REPORT };
static const char *const key_suffix[] = {"meta",     "totals", "uniques",
                                         "lastview", "online", "report"};

/* The set of streams a worker reported online shares to (spans streams:
 * written apart, idempotently), so the master can remove a dead worker's
 * shares. */
#define LT_ONLINE_STREAMS_PREFIX "lt:online-streams:"
/* A worker publishes to its own channel and expects to hear it back on its
 * subscriber connection: the only liveness check hiredis 0.14 allows there. */
#define LT_LIVENESS_INTERVAL_MS 2000

/* Stream ids are validated (lt_valid_stream_id, at most LT_STREAM_ID_MAX =
 * 64 bytes) before they reach the store, so "lt:{" id "}:" suffix is at most
 * 4 + 64 + 2 + 8 = 78 bytes: the callers' 128 hold it. Should one not fit,
 * the length says 0 rather than more than the buffer holds. */
static size_t stream_key(char *buf, size_t cap, const char *stream, enum stream_key k)
{
    int n = snprintf(buf, cap, "lt:{%s}:%s", stream, key_suffix[k]);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
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
    struct lt_redis_script *timeseries;
    struct lt_redis_script *put;
    struct lt_redis_script *drop_share;
    struct lt_redis_script *series;
    lt_store_push_cb *on_push;
    lt_store_resync_cb *on_resync;
    void *push_arg;
    char liveness_channel[96]; /* "lt:probe:" + an incarnation of 29 bytes (worker.c) */
    int64_t liveness_sent_ms; /* > 0: a probe is out, not heard back yet */
    lt_store_control_cb *on_control;
    void *control_arg;
    uint64_t control_epoch;
    struct event *health;
};

/* An idle data connection would not notice a Redis that hangs without
 * closing the socket (no command, no timeout): ping it now and then. */
#define LT_HEALTH_INTERVAL_MS 1000

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
    char id[LT_STREAM_ID_MAX + 1]; /* lt_valid_stream_id above: id_len <= 64 */
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
    /* "lt:{" id "}:totals": only channels we subscribed to come here, but
     * the offsets are checked anyway. channel_len > 12 makes id_len at
     * least 1 (no wrap), the prefix and suffix are compared, and id_len is
     * capped by id's size. */
    static const char prefix[] = "lt:{", suffix[] = "}:totals";
    const size_t plen = sizeof prefix - 1, slen = sizeof suffix - 1;
    if (channel_len <= plen + slen || !store->on_push)
        return; /* payload NULL: subscribed (redis_conn.h), passed on as is */
    if (memcmp(channel, prefix, plen) != 0 ||
        memcmp(channel + channel_len - slen, suffix, slen) != 0)
        return;
    size_t id_len = channel_len - plen - slen;
    if (id_len > LT_STREAM_ID_MAX)
        return;
    char id[LT_STREAM_ID_MAX + 1]; /* id_len <= LT_STREAM_ID_MAX is checked above */
    memcpy(id, channel + 4, id_len);
    id[id_len] = '\0';
    if (!payload) {
        store->on_push(store->push_arg, id, NULL);
        return;
    }
    struct lt_totals t;
    lt_store_decode_begin(&t, id, NULL, 0); /* a push carries no counters */
    if (lt_store_decode_push(&t, payload, len) == 0)
        store->on_push(store->push_arg, id, &t);
    else
        lt_warn("store", "stream %s: a published totals message that does not decode: %.*s", id,
                (int)(len < 200 ? len : 200), payload);
    lt_totals_free(&t);
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
    char channel[128]; /* "lt:{" + a validated id of at most 64 + "}:totals": 76 */
    snprintf(channel, sizeof channel, "lt:{%s}:totals", stream);
    return lt_redis_subscribe(store->pubsub, channel, on_stream_message, store);
}

int lt_store_unsubscribe_stream(struct lt_store *store, const char *stream)
{
    char channel[128]; /* as in lt_store_subscribe_stream */
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
    store->timeseries = lt_redis_script_new(lt_script_timeseries);
    store->put = lt_redis_script_new(lt_script_put);
    store->series = lt_redis_script_new(lt_script_series);

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
    char num[24]; /* an int64: at most 20 bytes, so n is what was written */
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
    if (b->n_dims)
        return LT_EINVAL; /* no dimension is applied yet (totals.h) */
    if (!lt_store_ready(store))
        return LT_EAGAIN;
    struct argv_builder av;
    argv_init(&av, 18 + (int)(b->n_sources * 2 + b->n_counters * 2 + b->n_views * 2), 1024);
    char key[128]; /* stream_key */
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
    argv_add_int(&av, (int64_t)store->cfg->ts_retention_10s_hours * 3600);
    argv_add_int(&av, (int64_t)store->cfg->ts_retention_1m_days * 86400);
    argv_add_int(&av, (int64_t)store->cfg->ts_retention_1h_days * 86400);
    argv_add_int(&av, b->dropped_taps > 0 ? b->dropped_taps : 0);
    argv_add_int(&av, b->rejected > 0 ? b->rejected : 0);
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

struct done_call {
    lt_store_done_cb *cb;
    void *arg;
};

static void on_done_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct done_call *call = arg;
    int rc = reply_is_error(r, err, "index") ? (err ? err : LT_EPROTO) : 0;
    if (call->cb)
        call->cb(call->arg, rc);
    lt_free(call);
}

int lt_store_index_stream(struct lt_store *store, const char *stream, int64_t created_ms,
                          lt_store_done_cb *cb, void *arg)
{
    struct done_call *call = lt_malloc(sizeof *call);
    call->cb = cb;
    call->arg = arg;
    int rc = lt_redis_command(store->data, on_done_reply, call, "ZADD %s NX %lld %s",
                              LT_STREAM_INDEX, (long long)created_ms, stream);
    if (rc != 0)
        lt_free(call);
    return rc;
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
    char key[128]; /* stream_key */
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

/* Decodes read.lua's reply (a flat array of name, value; store_decode.h)
 * into t, prepared for stream. Returns 0 or LT_EPROTO. */
static int decode_read_reply(const struct lt_store *store, const char *stream, int64_t now_ms,
                             const redisReply *r, struct lt_totals *t)
{
    lt_store_decode_begin(t, stream, store->cfg->counters.items, store->cfg->counters.n);
    t->ts_ms = now_ms;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
        return LT_EPROTO;
    for (size_t i = 0; i < r->elements; i += 2) {
        const redisReply *name = r->element[i], *value = r->element[i + 1];
        char num[24]; /* a long long: at most 20 bytes */
        const char *v;
        size_t vlen;
        if (name->type != REDIS_REPLY_STRING)
            return LT_EPROTO;
        if (value->type == REDIS_REPLY_STRING) {
            v = value->str;
            vlen = value->len;
        } else if (value->type == REDIS_REPLY_INTEGER) {
            vlen = (size_t)snprintf(num, sizeof num, "%lld", (long long)value->integer);
            v = num;
        } else {
            return LT_EPROTO;
        }
        if (lt_store_decode_field(t, name->str, name->len, v, vlen) != 0)
            return LT_EPROTO;
    }
    return 0;
}

static int send_read(struct lt_store *store, const char *stream, int64_t now_ms, lt_redis_cb *cb,
                     void *arg)
{
    /* keys: "lt:{" + a validated stream id (<= 64) + "}:" + a suffix of at most 16
     * bytes (stream_key); now: an int64 in at most 20 bytes. */
    char keys[4][128], now[24];
    const char *argv[5];
    size_t lens[5];
    const enum stream_key which[4] = {KEY_META, KEY_TOTALS, KEY_UNIQUES, KEY_ONLINE};
    for (int i = 0; i < 4; i++) {
        lens[i] = stream_key(keys[i], sizeof keys[i], stream, which[i]);
        argv[i] = keys[i];
    }
    lens[4] = (size_t)snprintf(now, sizeof now, "%" PRId64, now_ms);
    argv[4] = now;
    return lt_redis_eval(store->data, store->read, 4, 5, argv, lens, cb, arg);
}

/* One stream's read reply: 1 and t filled, 0 (no such stream), or an LT_E*
 * code. */
static int read_result(const struct lt_store *store, const char *stream, int64_t now_ms,
                       const redisReply *r, int err, struct lt_totals *t)
{
    if (reply_is_error(r, err, "totals"))
        return err ? err : LT_EPROTO;
    if (r->type == REDIS_REPLY_INTEGER)
        return 0;
    int rc = decode_read_reply(store, stream, now_ms, r, t);
    if (rc != 0) {
        lt_warn("store", "stream %s: the read script's reply does not decode", stream);
        lt_totals_free(t);
        return rc;
    }
    return 1;
}

struct totals_call {
    struct lt_store *store;
    lt_store_totals_cb *cb;
    void *arg;
    int64_t now_ms;
    char stream[LT_STREAM_ID_MAX + 1]; /* validated ids, copied whole */
};

static void on_totals_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct totals_call *call = arg;
    struct lt_totals t;
    int rc = read_result(call->store, call->stream, call->now_ms, r, err, &t);
    if (rc < 0) {
        call->cb(call->arg, rc, NULL);
    } else if (rc == 0) {
        call->cb(call->arg, 0, NULL); /* no such stream */
    } else {
        call->cb(call->arg, 0, &t);
        lt_totals_free(&t);
    }
    lt_free(call);
}

int lt_store_get_totals(struct lt_store *store, const char *stream, lt_store_totals_cb *cb,
                        void *arg)
{
    struct totals_call *call = lt_malloc(sizeof *call);
    call->store = store;
    call->cb = cb;
    call->arg = arg;
    call->now_ms = lt_wall_ms();
    snprintf(call->stream, sizeof call->stream, "%s", stream);
    int rc = send_read(store, stream, call->now_ms, on_totals_reply, call);
    if (rc != 0)
        lt_free(call);
    return rc;
}

/* ---- frozen reports --------------------------------------------------- */

struct report_call {
    lt_store_report_cb *cb;
    void *arg;
};

static void on_report_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct report_call *call = arg;
    if (reply_is_error(r, err, "report"))
        call->cb(call->arg, err ? err : LT_EPROTO, NULL, 0);
    else if (r->type == REDIS_REPLY_STRING)
        call->cb(call->arg, 0, r->str, r->len);
    else
        call->cb(call->arg, 0, NULL, 0);
    lt_free(call);
}

int lt_store_get_report(struct lt_store *store, const char *stream, const char *variant,
                        lt_store_report_cb *cb, void *arg)
{
    char key[128]; /* stream_key */
    stream_key(key, sizeof key, stream, KEY_REPORT);
    struct report_call *call = lt_malloc(sizeof *call);
    call->cb = cb;
    call->arg = arg;
    int rc = lt_redis_command(store->data, on_report_reply, call, "HGET %s %s", key, variant);
    if (rc != 0)
        lt_free(call);
    return rc;
}

int lt_store_freeze_report(struct lt_store *store, const char *stream, const char *variant,
                           const char *body, size_t len, lt_store_report_cb *cb, void *arg)
{
    char key[128]; /* stream_key */
    stream_key(key, sizeof key, stream, KEY_REPORT);
    /* HSETNX then HGET on the one connection, in order: whoever froze the
     * variant first wins, and every caller gets the winner's bytes. */
    int rc = lt_redis_command(store->data, NULL, NULL, "HSETNX %s %s %b", key, variant, body, len);
    if (rc != 0)
        return rc;
    return lt_store_get_report(store, stream, variant, cb, arg);
}

/* ---- time series ------------------------------------------------------ */

struct ts_call {
    lt_store_timeseries_cb *cb;
    void *arg;
    struct lt_ts_plan plan;
    size_t n_counters;
};

static void on_timeseries_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct ts_call *call = arg;
    if (reply_is_error(r, err, "timeseries")) {
        call->cb(call->arg, err ? err : LT_EPROTO, NULL);
    } else if (r->type == REDIS_REPLY_INTEGER) {
        call->cb(call->arg, 0, NULL); /* no such stream */
    } else if (r->type != REDIS_REPLY_ARRAY) {
        call->cb(call->arg, LT_EPROTO, NULL);
    } else {
        int64_t *v = lt_malloc((r->elements ? r->elements : 1) * sizeof *v);
        int rc = 0;
        for (size_t i = 0; i < r->elements && rc == 0; i++) {
            if (r->element[i]->type != REDIS_REPLY_INTEGER)
                rc = LT_EPROTO;
            else
                v[i] = (int64_t)r->element[i]->integer;
        }
        struct lt_timeseries ts;
        if (rc == 0)
            rc = lt_ts_decode(v, r->elements, &call->plan, call->n_counters, &ts);
        lt_free(v);
        if (rc != 0) {
            lt_warn("store", "the timeseries script's reply does not decode");
            call->cb(call->arg, rc, NULL);
        } else {
            call->cb(call->arg, 0, &ts);
            lt_timeseries_free(&ts);
        }
    }
    lt_free(call);
}

int lt_store_get_timeseries(struct lt_store *store, const char *stream,
                            const struct lt_ts_plan *plan, bool want_uniques,
                            lt_store_timeseries_cb *cb, void *arg)
{
    if (!lt_store_ready(store))
        return LT_EAGAIN;
    const struct lt_strlist *counters = &store->cfg->counters;
    struct argv_builder av;
    argv_init(&av, 9 + (int)counters->n, 256);
    char key[128]; /* stream_key */
    argv_add(&av, key, stream_key(key, sizeof key, stream, KEY_META));
    argv_add(&av, key, stream_key(key, sizeof key, stream, KEY_TOTALS));
    argv_add_str(&av, stream);
    argv_add_int(&av, plan->res_s);
    argv_add_int(&av, plan->step_s);
    argv_add_int(&av, plan->first_t);
    argv_add_int(&av, (int64_t)plan->n_points);
    argv_add_int(&av, want_uniques ? 1 : 0);
    for (size_t i = 0; i < counters->n; i++)
        argv_add_str(&av, counters->items[i]);
    argv_finish(&av);
    struct ts_call *call = lt_malloc(sizeof *call);
    call->cb = cb;
    call->arg = arg;
    call->plan = *plan;
    call->n_counters = counters->n;
    int rc = lt_redis_eval(store->data, store->timeseries, 2, av.argc, av.argv, av.lens,
                           on_timeseries_reply, call);
    argv_free(&av);
    if (rc != 0)
        lt_free(call);
    return rc;
}

/* ---- listing ---------------------------------------------------------- */

/* Cursor "<created_ms>.<id>": the last stream the previous page examined. */
#define LT_LIST_ROUNDS 8

/* A stream the index named in this round, and its totals once read. */
struct list_candidate {
    char id[LT_STREAM_ID_MAX + 1];
    int64_t score;
    bool found; /* totals hold the stream's totals */
    struct lt_totals totals;
};

struct list_call {
    struct lt_store *store;
    lt_store_list_cb *cb;
    void *arg;
    char index_key[128]; /* "lt:series:" + a validated series id (<= 64) */
    enum lt_stream_status status; /* LT_STATUS_NONE: any */
    int limit;
    int64_t after_score; /* -1: from the start */
    char after_id[LT_STREAM_ID_MAX + 1]; /* a validated stream id */
    int64_t now_ms;
    struct lt_totals *streams; /* collected totals, at most limit */
    size_t n_streams;
    struct list_candidate *cands; /* this round's, at most limit + 1 */
    size_t n_cands;
    size_t pending;
    int rounds;
    bool more; /* the index had more than this round fetched */
    int failed;
};

static void list_fetch(struct list_call *call);

static void list_clear_round(struct list_call *call)
{
    for (size_t i = 0; i < call->n_cands; i++)
        if (call->cands[i].found)
            lt_totals_free(&call->cands[i].totals);
    call->n_cands = 0;
}

static void list_finish(struct list_call *call, int err)
{
    if (err) {
        call->cb(call->arg, err, NULL, 0, NULL);
    } else {
        char next[24 + 1 + LT_STREAM_ID_MAX + 1]; /* at most 20 digits, '.', a 64-byte id */
        bool has_next = call->after_score >= 0 && call->more;
        if (has_next)
            snprintf(next, sizeof next, "%" PRId64 ".%s", call->after_score, call->after_id);
        call->cb(call->arg, 0, call->streams, call->n_streams, has_next ? next : NULL);
    }
    for (size_t i = 0; i < call->n_streams; i++)
        lt_totals_free(&call->streams[i]);
    list_clear_round(call);
    lt_free(call->streams);
    lt_free(call->cands);
    lt_free(call);
}

/* All totals of a round are in: keep those that pass the filter, in index
 * order, until the page is full. A kept totals moves into streams[]. */
static void list_round_done(struct list_call *call)
{
    if (call->failed) {
        list_finish(call, call->failed);
        return;
    }
    size_t n = call->n_cands;
    for (size_t i = 0; i < n; i++) {
        struct list_candidate *c = &call->cands[i];
        call->after_score = c->score;
        memcpy(call->after_id, c->id, sizeof call->after_id);
        if (c->found && (call->status == LT_STATUS_NONE || c->totals.status == call->status)) {
            call->streams[call->n_streams++] = c->totals;
            c->found = false;
        }
        if ((int)call->n_streams >= call->limit) {
            call->more = call->more || i + 1 < n;
            list_finish(call, 0);
            return;
        }
    }
    list_clear_round(call);
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
    struct list_candidate *c = &call->cands[slot->idx];
    lt_free(slot);
    int rc = read_result(call->store, c->id, call->now_ms, r, err, &c->totals);
    if (rc < 0)
        call->failed = rc;
    c->found = rc == 1; /* 0: deleted since the index named it */
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
    list_clear_round(call);
    size_t want = (size_t)call->limit + 1;
    size_t fetched = r->elements / 2;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *id = r->element[i];
        int64_t score = reply_int(r->element[i + 1]);
        if (id->type != REDIS_REPLY_STRING || !lt_valid_stream_id(id->str, id->len))
            continue;
        /* Same-score members come in reverse lexical order: skip what the
         * cursor already covered. */
        if (call->after_score >= 0 && score == call->after_score &&
            strcmp(id->str, call->after_id) >= 0)
            continue;
        if (call->n_cands < want) {
            struct list_candidate *c = &call->cands[call->n_cands++];
            memcpy(c->id, id->str, id->len);
            c->id[id->len] = '\0';
            c->score = score;
            c->found = false;
        }
    }
    call->more = fetched >= want + 64 || call->n_cands == want;
    if (call->n_cands == want) {
        /* Fetched one beyond the page to know whether there is more; it is
         * examined in the next round. */
        call->n_cands--;
        call->more = true;
    }
    size_t n = call->n_cands;
    if (n == 0) {
        call->more = false;
        list_finish(call, 0);
        return;
    }
    call->pending = n;
    for (size_t i = 0; i < n; i++) {
        struct list_slot *slot = lt_malloc(sizeof *slot);
        slot->call = call;
        slot->idx = i;
        if (send_read(call->store, call->cands[i].id, call->now_ms, on_list_totals, slot) != 0) {
            lt_free(slot);
            call->failed = LT_EAGAIN;
            if (--call->pending == 0)
                list_round_done(call);
        }
    }
}

static void list_fetch(struct list_call *call)
{
    char max[32]; /* an int64 (at most 20 bytes) or "+inf" */
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
                          const char *cursor, int limit, lt_store_list_cb *cb, void *arg)
{
    if (!lt_store_ready(store))
        return LT_EAGAIN;
    if (limit < 1)
        return LT_EINVAL;
    int64_t after_score = -1;
    const char *after_id = NULL;
    if (cursor) {
        const char *dot = strchr(cursor, '.');
        char *end = NULL;
        long long score = strtoll(cursor, &end, 10);
        if (!dot || end != dot || score < 0 || !lt_valid_stream_id(dot + 1, strlen(dot + 1)))
            return LT_EINVAL;
        after_score = score;
        after_id = dot + 1;
    }
    struct list_call *call = lt_calloc(1, sizeof *call);
    call->store = store;
    call->cb = cb;
    call->arg = arg;
    call->limit = limit;
    call->after_score = after_score;
    if (after_id)
        snprintf(call->after_id, sizeof call->after_id, "%s", after_id);
    call->now_ms = lt_wall_ms();
    call->status = status ? lt_status_parse(status, strlen(status)) : LT_STATUS_NONE;
    call->streams = lt_malloc((size_t)limit * sizeof *call->streams);
    call->cands = lt_malloc(((size_t)limit + 1) * sizeof *call->cands);
    if (series)
        snprintf(call->index_key, sizeof call->index_key, "lt:series:%s", series);
    else
        snprintf(call->index_key, sizeof call->index_key, "%s", LT_STREAM_INDEX);
    list_fetch(call);
    return 0;
}

/* ---- series ----------------------------------------------------------- */

/* Two round trips whatever the number of streams: the series index (ZRANGE,
 * oldest created first, one more than the cap to know whether it is over),
 * then series.lua once with every stream's keys, which reads each stream as
 * read.lua does and counts the distinct viewers across them with one
 * PFCOUNT over all their HyperLogLogs.
 *
 * Those keys carry different hash tags: on a Redis Cluster they sit on
 * different slots, and one script cannot take them. A cluster store keeps
 * the first step and replaces series_read_streams alone: one read.lua per
 * stream (each in its own slot, pipelined per node, decoded with the same
 * read_result), the sums made the same way by lt_series_add_stream, and the
 * union of the HyperLogLogs made by copying them (DUMP, or GET of the HLL
 * string) into one scratch key and PFCOUNTing that. The model and the
 * callers do not change. */

struct series_call {
    struct lt_store *store;
    lt_store_series_cb *cb;
    void *arg;
    int64_t now_ms;
    char series[LT_SERIES_ID_MAX + 1]; /* a validated series id, copied whole */
    bool truncated;
    /* The streams the index named, in its order; their reads answer in the
     * same order (series.lua's r<i>). */
    char (*ids)[LT_STREAM_ID_MAX + 1];
    size_t n_ids;
};

static void series_call_free(struct series_call *call)
{
    lt_free(call->ids);
    lt_free(call);
}

static void on_series_reads(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct series_call *call = arg;
    struct lt_store *store = call->store;
    if (reply_is_error(r, err, "series") || r->type != REDIS_REPLY_ARRAY ||
        r->elements != call->n_ids + 1 || r->element[0]->type != REDIS_REPLY_INTEGER) {
        call->cb(call->arg, err ? err : LT_EPROTO, NULL);
        series_call_free(call);
        return;
    }
    struct lt_series_totals s;
    lt_series_init(&s, call->series, store->cfg->counters.items, store->cfg->counters.n);
    s.truncated = call->truncated;
    s.uniques = r->element[0]->integer;
    int failed = 0;
    for (size_t i = 0; i < call->n_ids && !failed; i++) {
        struct lt_totals t;
        int rc = read_result(store, call->ids[i], call->now_ms, r->element[i + 1], 0, &t);
        if (rc < 0)
            failed = rc;
        else if (rc == 1)
            lt_series_add_stream(&s, &t); /* moved into s: nothing left to free in t */
        /* rc 0: gone, or moved to another series since the index named it */
    }
    if (failed) {
        call->cb(call->arg, failed, NULL);
    } else if (s.n_streams == 0) {
        call->cb(call->arg, 0, NULL); /* no stream is in it (any more): unknown */
    } else {
        lt_series_sort(&s);
        call->cb(call->arg, 0, &s);
    }
    lt_series_free(&s);
    series_call_free(call);
}

/* The one place that reads the streams of a series (see above). */
static int series_read_streams(struct series_call *call)
{
    /* 4 keys per stream; each "lt:{" + a validated stream id (<= 64) + "}:"
     * + a suffix of at most 8 bytes: 78 bytes and the NUL fit in 80. */
    enum { KEY_CAP = 80 };
    const enum stream_key which[4] = {KEY_META, KEY_TOTALS, KEY_UNIQUES, KEY_ONLINE};
    size_t nkeys = call->n_ids * 4;
    char *keys = lt_malloc(nkeys * KEY_CAP);
    const char **argv = lt_malloc((nkeys + 2) * sizeof *argv);
    size_t *lens = lt_malloc((nkeys + 2) * sizeof *lens);
    for (size_t i = 0; i < call->n_ids; i++) {
        for (size_t k = 0; k < 4; k++) {
            char *key = keys + (i * 4 + k) * KEY_CAP;
            lens[i * 4 + k] = stream_key(key, KEY_CAP, call->ids[i], which[k]);
            argv[i * 4 + k] = key;
        }
    }
    char now[24]; /* an int64: at most 20 bytes */
    lens[nkeys] = (size_t)snprintf(now, sizeof now, "%" PRId64, call->now_ms);
    argv[nkeys] = now;
    lens[nkeys + 1] = strlen(call->series);
    argv[nkeys + 1] = call->series;
    /* lt_redis_eval copies argv: the buffers can go at once. */
    int rc = lt_redis_eval(call->store->data, call->store->series, (int)nkeys, (int)nkeys + 2, argv,
                           lens, on_series_reads, call);
    lt_free(keys);
    lt_free(argv);
    lt_free(lens);
    return rc;
}

static void on_series_index(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct series_call *call = arg;
    if (reply_is_error(r, err, "series index") || r->type != REDIS_REPLY_ARRAY) {
        call->cb(call->arg, err ? err : LT_EPROTO, NULL);
        series_call_free(call);
        return;
    }
    size_t n = r->elements;
    if (n > LT_SERIES_MAX_STREAMS) {
        call->truncated = true;
        n = LT_SERIES_MAX_STREAMS;
    }
    call->ids = lt_malloc((n ? n : 1) * sizeof *call->ids);
    for (size_t i = 0; i < n; i++) {
        const redisReply *id = r->element[i];
        if (id->type != REDIS_REPLY_STRING || !lt_valid_stream_id(id->str, id->len))
            continue; /* not written by us: skipped */
        memcpy(call->ids[call->n_ids], id->str, id->len);
        call->ids[call->n_ids][id->len] = '\0';
        call->n_ids++;
    }
    if (call->n_ids == 0) {
        call->cb(call->arg, 0, NULL); /* an unknown series */
        series_call_free(call);
        return;
    }
    int rc = series_read_streams(call);
    if (rc != 0) {
        call->cb(call->arg, rc, NULL);
        series_call_free(call);
    }
}

int lt_store_get_series(struct lt_store *store, const char *series, lt_store_series_cb *cb,
                        void *arg)
{
    if (!lt_store_ready(store))
        return LT_EAGAIN;
    if (!lt_valid_series_id(series, strlen(series)))
        return LT_EINVAL;
    struct series_call *call = lt_calloc(1, sizeof *call);
    call->store = store;
    call->cb = cb;
    call->arg = arg;
    call->now_ms = lt_wall_ms();
    snprintf(call->series, sizeof call->series, "%s", series);
    int rc = lt_redis_command(store->data, on_series_index, call, "ZRANGE lt:series:%s 0 %d",
                              series, LT_SERIES_MAX_STREAMS);
    if (rc != 0)
        series_call_free(call);
    return rc;
}

/* ---- operator writes -------------------------------------------------- */

struct put_call {
    struct lt_store *store;
    lt_store_totals_cb *cb;
    void *arg;
    char stream[LT_STREAM_ID_MAX + 1]; /* validated ids (api_streams.c), copied whole */
    char series[LT_SERIES_ID_MAX + 1];
    char old_series[LT_SERIES_ID_MAX + 1];
    char status[16];
    bool series_given;
    int64_t created;
};

/* The index write is answered: only a stream that is in the index is
 * reported created (a failed write fails the PUT, and the PUT's retry
 * repairs it: every step is idempotent). */
static void on_put_indexed(void *arg, int err)
{
    struct put_call *call = arg;
    struct lt_store *store = call->store;
    if (err) {
        call->cb(call->arg, err, NULL);
        lt_free(call);
        return;
    }
    if (call->series_given && call->old_series[0] && strcmp(call->old_series, call->series) != 0)
        lt_redis_command(store->data, NULL, NULL, "ZREM lt:series:%s %s", call->old_series,
                         call->stream);
    if (call->series_given && call->series[0])
        lt_redis_command(store->data, NULL, NULL, "ZADD lt:series:%s NX %lld %s", call->series,
                         (long long)call->created, call->stream);
    lt_redis_command(store->data, NULL, NULL, "PUBLISH %s %s %s", LT_CONTROL_CHANNEL, call->status,
                     call->stream);
    if (lt_store_get_totals(store, call->stream, call->cb, call->arg) != 0)
        call->cb(call->arg, LT_EAGAIN, NULL);
    lt_free(call);
}

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
    call->created = reply_int(r->element[0]);
    snprintf(call->status, sizeof call->status, "%s",
             r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "live");
    snprintf(call->old_series, sizeof call->old_series, "%s",
             r->element[2]->type == REDIS_REPLY_STRING ? r->element[2]->str : "");
    /* The index keys span streams: written apart from the stream's script,
     * each write idempotent, so a retried PUT repairs a half-done one. */
    int rc = lt_store_index_stream(store, call->stream, call->created, on_put_indexed, call);
    if (rc != 0) {
        call->cb(call->arg, rc, NULL);
        lt_free(call);
    }
}

int lt_store_put_stream(struct lt_store *store, const char *stream,
                        const struct lt_stream_fields *f, lt_store_totals_cb *cb, void *arg)
{
    if (!lt_store_ready(store))
        return LT_EAGAIN;
    char key[128];       /* stream_key */
    const char *argv[16]; /* key, now and at most 4 name/value pairs: 10 */
    size_t lens[16];
    int argc = 0;
    char now[24]; /* an int64: at most 20 bytes */
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
