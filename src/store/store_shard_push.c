/* Live pushes on a Redis Cluster: each stream's channel lt:{id}:totals is
 * subscribed with SSUBSCRIBE at the master that owns its slot, where the
 * scripts SPUBLISH (store_route.c), over one sharded subscriber connection
 * per master (redis_shard_sub.h: hiredis' reply reader on our own socket,
 * since hiredis 0.14's async API aborts on SSUBSCRIBE replies).
 *
 * When a slot moves (a reshard, a failover) the old owner unsubscribes the
 * channel itself ("sunsubscribe"), or refuses it with MOVED: the stream is
 * then unplaced, the map asked again, and the stream subscribed at the new
 * owner once the map names it (at a new map, or at the next second's
 * tick). Its confirmation reaches the hub as a push without totals, which
 * takes a fresh snapshot: what was published meanwhile is not lost. */
#include "livetally/base/error.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/conf/config.h"
#include "livetally/store/cluster_slots.h"
#include "livetally/store/redis_shard_sub.h"

#include "store_internal.h"

#include <stdio.h>
#include <string.h>

/* One sharded subscriber connection, to one master's address. */
struct store_shard {
    char host[LT_CLUSTER_HOST_MAX + 1];
    int port;
    struct lt_redis_ssub *ssub;
};

/* The value of a stream subscribed but not placed on a node (yet). */
static char unplaced;

static size_t channel_of(char *buf, size_t cap, const char *stream)
{
    int n = snprintf(buf, cap, "lt:{%s}:totals", stream);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void on_shard_message(struct lt_redis_ssub *s, const char *channel, size_t channel_len,
                             const char *payload, size_t payload_len, void *arg)
{
    (void)s;
    store_stream_message(arg, channel, channel_len, payload, payload_len);
}

/* The stream id of a channel "lt:{<id>}:totals" into id; false if not one. */
static bool stream_of(const char *channel, size_t len, char id[LT_STREAM_ID_MAX + 1])
{
    static const char prefix[] = "lt:{", suffix[] = "}:totals";
    const size_t plen = sizeof prefix - 1, slen = sizeof suffix - 1;
    if (len <= plen + slen || len - plen - slen > LT_STREAM_ID_MAX ||
        memcmp(channel, prefix, plen) != 0 || memcmp(channel + len - slen, suffix, slen) != 0)
        return false;
    memcpy(id, channel + plen, len - plen - slen);
    id[len - plen - slen] = '\0';
    return true;
}

static void on_shard_lost(struct lt_redis_ssub *s, const char *channel, size_t channel_len,
                          const char *msg, void *arg)
{
    struct lt_store *store = arg;
    char id[LT_STREAM_ID_MAX + 1];
    if (!stream_of(channel, channel_len, id))
        return;
    void *where = lt_map_get(&store->shard_streams, id, strlen(id));
    if (!where)
        return; /* unsubscribed meanwhile */
    const struct store_shard *sh = where != &unplaced ? where : NULL;
    if (sh && sh->ssub != s)
        return; /* placed elsewhere already */
    lt_info("store", "stream %s: its channel left %s:%d (%s); subscribing at its new owner", id,
            sh ? sh->host : "?", sh ? sh->port : 0, msg);
    lt_map_put(&store->shard_streams, id, strlen(id), &unplaced);
    lt_redis_cluster_refresh(store->cluster);
}

static struct store_shard *shard_for(struct lt_store *store, const char *host, int port)
{
    for (size_t i = 0; i < store->n_shards; i++)
        if (store->shards[i]->port == port && strcmp(store->shards[i]->host, host) == 0)
            return store->shards[i];
    if (store->n_shards == store->cap_shards) {
        store->cap_shards = store->cap_shards ? store->cap_shards * 2 : 4;
        store->shards = lt_realloc(store->shards, store->cap_shards * sizeof *store->shards);
    }
    struct store_shard *sh = lt_calloc(1, sizeof *sh);
    snprintf(sh->host, sizeof sh->host, "%s", host);
    sh->port = port;
    const struct lt_config *cfg = store->cfg;
    struct lt_redis_ssub_opts o = {
        .name = "shard subscriber", /* the logs add host:port */
        .host = host,
        .port = port,
        .password = cfg->redis_password,
        .connect_timeout_ms = cfg->redis_connect_timeout_ms,
        .command_timeout_ms = cfg->redis_command_timeout_ms,
        .on_message = on_shard_message,
        .on_lost = on_shard_lost,
        .arg = store,
    };
    sh->ssub = lt_redis_ssub_new(store->base, &o);
    store->shards[store->n_shards++] = sh;
    return sh;
}

/* Subscribes stream at its slot's master when the map names one; leaves it
 * unplaced otherwise. Moves it when it sits on another node. */
static void place(struct lt_store *store, const char *stream, void *where)
{
    char channel[128]; /* "lt:{" + a validated id of at most 64 + "}:totals" */
    size_t len = channel_of(channel, sizeof channel, stream);
    const char *host;
    int port;
    if (lt_redis_cluster_slot_master(store->cluster, lt_cluster_keyslot(channel, len), &host,
                                     &port) != 0)
        return;
    struct store_shard *now = where != &unplaced ? where : NULL;
    if (now && now->port == port && strcmp(now->host, host) == 0)
        return;
    if (now)
        lt_redis_ssub_unsubscribe(now->ssub, channel);
    struct store_shard *sh = shard_for(store, host, port);
    lt_redis_ssub_subscribe(sh->ssub, channel);
    lt_map_put(&store->shard_streams, stream, strlen(stream), sh);
}

int store_shard_subscribe(struct lt_store *store, const char *stream)
{
    size_t len = strlen(stream);
    if (lt_map_get(&store->shard_streams, stream, len))
        return LT_EINVAL; /* as lt_redis_subscribe: subscribed already */
    lt_map_put(&store->shard_streams, stream, len, &unplaced);
    place(store, stream, &unplaced);
    return 0;
}

int store_shard_unsubscribe(struct lt_store *store, const char *stream)
{
    void *where = lt_map_remove(&store->shard_streams, stream, strlen(stream));
    if (!where)
        return LT_EINVAL;
    if (where != &unplaced) {
        char channel[128]; /* as in place */
        channel_of(channel, sizeof channel, stream);
        lt_redis_ssub_unsubscribe(((struct store_shard *)where)->ssub, channel);
    }
    return 0;
}

/* Every stream whose slot's master is not where it is subscribed moves
 * (the unplaced ones too). */
void store_shard_map_changed(struct lt_store *store)
{
    struct lt_map_entry *e = NULL;
    size_t bucket = 0;
    /* place() only replaces values of existing entries: iterating is safe */
    while ((e = lt_map_next(&store->shard_streams, e, &bucket)) != NULL)
        place(store, e->key, e->value);
    /* A node left with no channel (its slots moved, or it failed over) is
     * let go rather than reconnected to forever; it comes back on demand. */
    for (size_t i = 0; i < store->n_shards;) {
        struct store_shard *sh = store->shards[i];
        if (lt_redis_ssub_count(sh->ssub) > 0) {
            i++;
            continue;
        }
        lt_redis_ssub_free(sh->ssub);
        lt_free(sh);
        store->shards[i] = store->shards[--store->n_shards];
    }
}

void store_shard_tick(struct lt_store *store)
{
    struct lt_map_entry *e = NULL;
    size_t bucket = 0;
    bool any = false;
    while ((e = lt_map_next(&store->shard_streams, e, &bucket)) != NULL) {
        if (e->value == &unplaced) {
            place(store, e->key, e->value);
            any |= lt_map_get(&store->shard_streams, e->key, e->key_len) == &unplaced;
        }
    }
    if (any)
        lt_redis_cluster_refresh(store->cluster); /* the map does not name a place */
}

void store_shard_free(struct lt_store *store)
{
    for (size_t i = 0; i < store->n_shards; i++) {
        lt_redis_ssub_free(store->shards[i]->ssub);
        lt_free(store->shards[i]);
    }
    lt_free(store->shards);
    store->shards = NULL;
    store->n_shards = 0;
    lt_map_clear(&store->shard_streams);
}
