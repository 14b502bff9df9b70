/* What the store's files share (store.c: connections, control channel, live
 * pushes and the helpers below; store_read.c, store_write.c, store_list.c,
 * store_sources.c, store_segments.c: the operations of store.h, grouped by
 * what they do). Private to
 * src/store/: nothing outside includes it. */
#ifndef LIVETALLY_STORE_INTERNAL_H
#define LIVETALLY_STORE_INTERNAL_H

#include "livetally/base/ids.h"
#include "livetally/base/map.h"
#include "livetally/store/cluster_slots.h"
#include "livetally/store/redis_cluster.h"
#include "livetally/store/redis_conn.h"
#include "livetally/store/store.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LT_CONTROL_CHANNEL "lt:control"
#define LT_STREAM_INDEX "lt:streams"

/* Key names: every key of a stream carries the hash tag {id}. */
enum store_key_kind {
    KEY_META,
    KEY_TOTALS,
    KEY_UNIQUES,
    KEY_LASTVIEW,
    KEY_ONLINE,
    KEY_REPORT,
    KEY_REPORTED, /* partner reports (store_sources.c) */
    KEY_REPORTS,
    KEY_HISTORY, /* status changes (put.lua) */
};
/* The set of streams a worker reported online shares to (spans streams:
 * written apart, idempotently), so the master can remove a dead worker's
 * shares. */
#define LT_ONLINE_STREAMS_PREFIX "lt:online-streams:"

/* Writes "lt:{<stream>}:<suffix>" into buf. Stream ids are validated
 * (lt_valid_stream_id, at most LT_STREAM_ID_MAX = 64 bytes) before they
 * reach the store, so a key is at most 4 + 64 + 2 + 8 = 78 bytes: the
 * callers' 128 hold it. Should one not fit, the length says 0 rather than
 * more than the buffer holds. */
size_t store_key(char *buf, size_t cap, const char *stream, enum store_key_kind k);
/* "lt:series:<series>" (a validated series id) and
 * "lt:online-streams:<field>": keys that span streams, each one key (one
 * slot on a cluster), written apart from the scripts. Same bounds and
 * return as store_key: 128 bytes hold them. */
size_t store_series_key(char *buf, size_t cap, const char *series);
size_t store_online_streams_key(char *buf, size_t cap, const char *online_field);

struct lt_store {
    const struct lt_config *cfg;
    char *incarnation;
    char *online_field;
    struct lt_map online_registered; /* streams already in our registry set */
    /* One Redis: `data`. A Redis Cluster: `cluster` (data is NULL). */
    struct lt_redis_conn *data;
    struct lt_redis_cluster *cluster;
    /* The control channel's subscriber (on a cluster: to one master,
     * moved to another when that one goes). */
    struct lt_redis_conn *pubsub;
    char pubsub_host[LT_CLUSTER_HOST_MAX + 1]; /* a cluster: where pubsub goes */
    int pubsub_port;
    unsigned control_pick; /* a cluster: the next master to try for pubsub */
    /* A cluster's live pushes (store_shard_push.c): one sharded subscriber
     * per master, and each subscribed stream -> its store_shard. */
    struct store_shard **shards;
    size_t n_shards, cap_shards;
    struct lt_map shard_streams;
    struct event_base *base;
    struct lt_redis_script *apply;
    struct lt_redis_script *read;
    struct lt_redis_script *timeseries;
    struct lt_redis_script *put;
    struct lt_redis_script *drop_share;
    struct lt_redis_script *series;
    struct lt_redis_script *put_reported; /* store_sources.c */
    struct lt_redis_script *segment;      /* store_segments.c */
    struct lt_redis_script *delete_stream; /* store_delete.c */
    struct lt_redis_script *merge_uniques; /* store_series_cluster.c */
    lt_store_push_cb *on_push;
    lt_store_resync_cb *on_resync;
    void *push_arg;
    char liveness_channel[96]; /* "lt:probe:" + an incarnation of 29 bytes (worker.c) */
    int64_t liveness_sent_ms; /* > 0: a probe is out, not heard back yet */
    lt_store_control_cb *on_control;
    void *control_arg;
    uint64_t control_epoch;
    struct event *health;
    /* Batches Redis answered with an error (LOADING while it loads its
     * dataset, OOM, ...) in a row: the first and every 100th are logged. */
    uint64_t batch_errors;
};

/* Publishes "<word> <stream>" on the control channel (word: a status name
 * or "deleted"). The payload is one argument: hiredis splits its format
 * string at spaces, so "PUBLISH %s %s %s" would send PUBLISH with three
 * arguments after the channel, which Redis refuses. cb may be NULL. */
int store_publish_control(struct lt_store *store, const char *word, const char *stream,
                          lt_redis_cb *cb, void *arg);

/* ---- where commands go (store_route.c) ------------------------------------ */

/* A command in hiredis' format, to the one Redis or to the master of
 * route_key's slot (the command's key; NULL: any master, for PUBLISH).
 * Returns and calls back as lt_redis_command. */
int store_command(struct lt_store *store, const char *route_key, lt_redis_cb *cb, void *arg,
                  const char *fmt, ...);
/* lt_redis_eval, routed by the first key. */
int store_eval(struct lt_store *store, const struct lt_redis_script *script, int numkeys, int argc,
               const char **argv, const size_t *lens, lt_redis_cb *cb, void *arg);
/* cb(arg, 0) once what conn wrote is safe from a failover (a replica has
 * it: WAIT); at once on one Redis. Else an LT_E* code: send it again. */
void store_confirm_replicated(struct lt_store *store, struct lt_redis_conn *conn,
                              lt_redis_cluster_done_cb *cb, void *arg);
/* A script as this store runs it (on a cluster: SPUBLISH for PUBLISH). */
struct lt_redis_script *store_script_new(const struct lt_store *store, const char *source);

/* ---- reply helpers (store.c) ------------------------------------------- */

/* An integer reply, or a string one holding a number; 0 otherwise. */
int64_t store_reply_int(const redisReply *r);
/* err set, no reply or an error reply (logged with what): true. */
bool store_reply_is_error(const redisReply *r, int err, const char *what);

/* Argument vector built on the heap: the strings live in one arena. */
struct store_argv {
    const char **argv;
    size_t *lens;
    int argc, cap;
    char *arena;
    size_t arena_len, arena_cap;
};
void store_argv_init(struct store_argv *b, int cap, size_t arena_cap);
void store_argv_add(struct store_argv *b, const char *s, size_t len);
void store_argv_add_str(struct store_argv *b, const char *s);
void store_argv_add_int(struct store_argv *b, int64_t v);
/* Fixes the pointers once every string is in: argv is usable after it. */
void store_argv_finish(struct store_argv *b);
void store_argv_free(struct store_argv *b);

/* ---- one stream's totals (store_read.c), used by listing and series ---- */

/* Sends read.lua for stream. */
int store_send_read(struct lt_store *store, const char *stream, int64_t now_ms, lt_redis_cb *cb,
                    void *arg);
/* One stream's read reply: 1 and t filled, 0 (no such stream), or an LT_E*
 * code. */
int store_read_result(const struct lt_store *store, const char *stream, int64_t now_ms,
                      const redisReply *r, int err, struct lt_totals *t);

/* ---- live pushes on a Redis Cluster (store_shard_push.c) ----------------- */

/* A message of a stream's totals channel, from either kind of subscriber
 * (store.c decodes it and calls on_push); payload NULL: subscribed. */
void store_stream_message(struct lt_store *store, const char *channel, size_t channel_len,
                          const char *payload, size_t len);
int store_shard_subscribe(struct lt_store *store, const char *stream);
int store_shard_unsubscribe(struct lt_store *store, const char *stream);
/* A new slot map: streams move to their slot's master. */
void store_shard_map_changed(struct lt_store *store);
/* Once a second: streams left unplaced are placed again. */
void store_shard_tick(struct lt_store *store);
void store_shard_free(struct lt_store *store);

/* ---- a series on a Redis Cluster (store_series_cluster.c) --------------- */

/* Reads the n_ids streams of series (ids copied) and answers cb as
 * lt_store_get_series does: series.lua's reads, one slot at a time. */
int store_read_series_cluster(struct lt_store *store, const char *series,
                              char (*ids)[LT_STREAM_ID_MAX + 1], size_t n_ids, bool truncated,
                              int64_t now_ms, lt_store_series_cb *cb, void *arg);

#endif
