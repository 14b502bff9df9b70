/* The store's connections, control channel and live pushes, and the
 * helpers its files share (store.h, store_internal.h, docs/redis.md). */
#include "livetally/store/store.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/ids.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/conf/config.h"
#include "livetally/store/store_decode.h"
#include "livetally/store/timeseries.h"

#include "store_internal.h"
#include "store_scripts.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const key_suffix[] = {"meta",   "totals",   "uniques", "lastview", "online",
                                         "report", "reported", "reports", "history"};

/* store_internal.h says what bounds the key. */
size_t store_key(char *buf, size_t cap, const char *stream, enum store_key_kind k)
{
    int n = snprintf(buf, cap, "lt:{%s}:%s", stream, key_suffix[k]);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t store_series_key(char *buf, size_t cap, const char *series)
{
    int n = snprintf(buf, cap, "lt:series:%s", series);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t store_online_streams_key(char *buf, size_t cap, const char *online_field)
{
    int n = snprintf(buf, cap, "%s%s", LT_ONLINE_STREAMS_PREFIX, online_field);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* A worker publishes to its own channel and expects to hear it back on its
 * subscriber connection: the only liveness check hiredis 0.14 allows there. */
#define LT_LIVENESS_INTERVAL_MS 2000

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
    size_t word_len = (size_t)(sp - payload);
    enum lt_stream_status st = lt_status_parse(payload, word_len);
    if (st == LT_STATUS_NONE && !(word_len == 7 && memcmp(payload, "deleted", 7) == 0)) {
        lt_warn("store", "control: an unknown word for stream %s; ignored", id);
        return; /* not taken for a deletion: that ends the stream's subscriptions */
    }
    if (store->on_control)
        store->on_control(store->control_arg, id, st);
}

int store_publish_control(struct lt_store *store, const char *word, const char *stream,
                          lt_redis_cb *cb, void *arg)
{
    char payload[96]; /* a word of at most 9 bytes, a space and a validated id of at most 64 */
    snprintf(payload, sizeof payload, "%s %s", word, stream);
    /* On a cluster any master takes it: a PUBLISH reaches every node. */
    return store_command(store, NULL, cb, arg, "PUBLISH %s %s", LT_CONTROL_CHANNEL, payload);
}

static void on_pubsub_state(struct lt_redis_conn *conn, enum lt_redis_state state, void *arg)
{
    (void)conn;
    struct lt_store *store = arg;
    lt_metrics->redis_pubsub_connected = state == LT_REDIS_READY;
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
    if (store->cluster)
        store_shard_tick(store);
    /* (a cluster's router pings its own idle links) */
    if (store->data && lt_store_ready(store) && lt_redis_conn_pending(store->data) == 0)
        lt_redis_command(store->data, NULL, NULL, "PING");
    /* The subscriber connection cannot PING in hiredis 0.14: publish to
     * ourselves and expect to hear it back before the next probe. */
    int64_t now = lt_mono_ms();
    if (store->liveness_sent_ms && now - store->liveness_sent_ms > LT_LIVENESS_INTERVAL_MS &&
        lt_store_control_ready(store)) {
        lt_warn("store", "subscriber connection did not hear its own probe; reconnecting it");
        lt_redis_conn_reset(store->pubsub);
        store->liveness_sent_ms = 0;
    } else if (!store->liveness_sent_ms && lt_store_ready(store) && lt_store_control_ready(store) &&
               store_command(store, NULL, NULL, NULL, "PUBLISH %s %lld", store->liveness_channel,
                             (long long)now) == 0) {
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
void store_stream_message(struct lt_store *store, const char *channel, size_t channel_len,
                          const char *payload, size_t len)
{
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

static void on_stream_message(struct lt_redis_conn *conn, const char *channel, size_t channel_len,
                              const char *payload, size_t len, void *arg)
{
    (void)conn;
    store_stream_message(arg, channel, channel_len, payload, len);
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
    if (store->cluster)
        return store_shard_subscribe(store, stream);
    char channel[128]; /* "lt:{" + a validated id of at most 64 + "}:totals": 76 */
    snprintf(channel, sizeof channel, "lt:{%s}:totals", stream);
    return lt_redis_subscribe(store->pubsub, channel, on_stream_message, store);
}

int lt_store_unsubscribe_stream(struct lt_store *store, const char *stream)
{
    if (store->cluster)
        return store_shard_unsubscribe(store, stream);
    char channel[128]; /* as in lt_store_subscribe_stream */
    snprintf(channel, sizeof channel, "lt:{%s}:totals", stream);
    return lt_redis_unsubscribe(store->pubsub, channel);
}

/* ---- a Redis Cluster ---------------------------------------------------- */

static struct lt_redis_conn *control_conn_new(struct lt_store *store, const char *host, int port)
{
    const struct lt_config *cfg = store->cfg;
    struct lt_redis_conn_opts opts = {
        .name = "pubsub",
        .host = host,
        .port = port,
        .password = cfg->redis_password,
        .db = store->cluster ? 0 : cfg->redis_db,
        .connect_timeout_ms = cfg->redis_connect_timeout_ms,
        .command_timeout_ms = cfg->redis_command_timeout_ms,
        .on_state = on_pubsub_state,
        .arg = store,
    };
    struct lt_redis_conn *conn = lt_redis_conn_new(store->base, &opts);
    lt_redis_subscribe(conn, LT_CONTROL_CHANNEL, on_control_message, store);
    lt_redis_subscribe(conn, store->liveness_channel, on_liveness, store);
    return conn;
}

/* The control channel's subscriber sits on one master (a PUBLISH reaches
 * every node); when that node stops being a master it moves to another. */
static void control_attach(struct lt_store *store)
{
    size_t n = lt_redis_cluster_n_masters(store->cluster);
    for (size_t i = 0; store->pubsub && i < n; i++) {
        const char *host;
        int port;
        if (lt_redis_cluster_any_master(store->cluster, (unsigned)i, &host, &port) == 0 &&
            port == store->pubsub_port && strcmp(host, store->pubsub_host) == 0)
            return; /* still a master: it reconnects by itself if it must */
    }
    const char *host;
    int port;
    if (lt_redis_cluster_any_master(store->cluster, store->control_pick++, &host, &port) != 0)
        return;
    if (store->pubsub) {
        lt_info("store", "control subscriber moves from %s:%d to %s:%d", store->pubsub_host,
                store->pubsub_port, host, port);
        lt_redis_conn_free(store->pubsub);
    }
    snprintf(store->pubsub_host, sizeof store->pubsub_host, "%s", host);
    store->pubsub_port = port;
    store->pubsub = control_conn_new(store, host, port);
}

static void on_cluster_ready(struct lt_redis_cluster *cl, bool ready, void *arg)
{
    (void)cl;
    struct lt_store *store = arg;
    lt_metrics->redis_connected = ready;
    if (ready)
        control_attach(store);
}

static void on_cluster_map(struct lt_redis_cluster *cl, void *arg)
{
    (void)cl;
    struct lt_store *store = arg;
    control_attach(store);
    store_shard_map_changed(store);
}

static struct lt_redis_cluster *cluster_new(struct lt_store *store)
{
    const struct lt_config *cfg = store->cfg;
    struct lt_redis_cluster_opts opts = {
        .seeds = (const char *const *)cfg->redis_cluster.items,
        .n_seeds = cfg->redis_cluster.n,
        .password = cfg->redis_password,
        .connect_timeout_ms = cfg->redis_connect_timeout_ms,
        .command_timeout_ms = cfg->redis_command_timeout_ms,
        .on_ready = on_cluster_ready,
        .on_map = on_cluster_map,
        .arg = store,
    };
    return lt_redis_cluster_new(store->base, &opts);
}

struct lt_store *lt_store_new(struct event_base *base, const struct lt_config *cfg,
                              const char *incarnation, const char *online_field,
                              lt_store_control_cb *on_control, void *control_arg)
{
    struct lt_store *store = lt_calloc(1, sizeof *store);
    store->cfg = cfg;
    store->base = base;
    if (cfg->redis_cluster.n > 0)
        store->cluster = cluster_new(store); /* first: the scripts depend on it */
    store->incarnation = lt_strdup(incarnation);
    store->online_field = lt_strdup(online_field);
    lt_map_init(&store->online_registered);
    lt_map_init(&store->shard_streams);
    snprintf(store->liveness_channel, sizeof store->liveness_channel, "lt:probe:%s", incarnation);
    store->drop_share = store_script_new(store, lt_script_drop_share);
    store->on_control = on_control;
    store->control_arg = control_arg;
    store->apply = store_script_new(store, lt_script_apply);
    store->read = store_script_new(store, lt_script_read);
    store->timeseries = store_script_new(store, lt_script_timeseries);
    store->put = store_script_new(store, lt_script_put);
    store->series = store_script_new(store, lt_script_series);
    store->put_reported = store_script_new(store, lt_script_put_reported);
    store->segment = store_script_new(store, lt_script_segment);
    store->delete_stream = store_script_new(store, lt_script_delete);
    store->merge_uniques = store_script_new(store, lt_script_merge_uniques);

    if (!store->cluster) {
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
        store->pubsub = control_conn_new(store, cfg->redis_host, cfg->redis_port);
    }
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
    store_shard_free(store);
    lt_redis_cluster_free(store->cluster);
    lt_free(store->incarnation);
    lt_free(store->online_field);
    lt_map_clear(&store->online_registered);
    lt_free(store);
    /* Scripts live for the process (redis_conn.h). */
}

bool lt_store_ready(const struct lt_store *store)
{
    if (store->cluster)
        return lt_redis_cluster_ready(store->cluster);
    return lt_redis_conn_state(store->data) == LT_REDIS_READY;
}

bool lt_store_control_ready(const struct lt_store *store)
{
    return store->pubsub && lt_redis_conn_state(store->pubsub) == LT_REDIS_READY;
}

uint64_t lt_store_control_epoch(const struct lt_store *store)
{
    return store->control_epoch;
}

/* ---- reply helpers ---------------------------------------------------- */

int64_t store_reply_int(const redisReply *r)
{
    if (!r)
        return 0;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return 0;
}

bool store_reply_is_error(const redisReply *r, int err, const char *what)
{
    if (err)
        return true;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        lt_warn("store", "%s: redis error: %s", what, r ? r->str : "no reply");
        return true;
    }
    return false;
}


void store_argv_init(struct store_argv *b, int cap, size_t arena_cap)
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
void store_argv_add(struct store_argv *b, const char *s, size_t len)
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

void store_argv_add_str(struct store_argv *b, const char *s)
{
    store_argv_add(b, s, strlen(s));
}

void store_argv_add_int(struct store_argv *b, int64_t v)
{
    char num[24]; /* an int64: at most 20 bytes, so n is what was written */
    int n = snprintf(num, sizeof num, "%" PRId64, v);
    store_argv_add(b, num, (size_t)n);
}

void store_argv_finish(struct store_argv *b)
{
    for (int i = 0; i < b->argc; i++)
        b->argv[i] = b->arena + (uintptr_t)b->argv[i];
}

void store_argv_free(struct store_argv *b)
{
    lt_free(b->argv);
    lt_free(b->lens);
    lt_free(b->arena);
}
