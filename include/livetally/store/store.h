/* The Redis layer: every key, script and reply format of livetally lives in
 * store.c (docs/redis.md lists the keys). Callers see domain operations with
 * callbacks on the worker's loop.
 *
 * Connections: one "data" connection for commands and scripts and one
 * "pubsub" connection subscribed to the control channel (stream status
 * changes from operators). Both reconnect by themselves (redis_conn.h).
 *
 * Callback rules: each operation that returns 0 calls its callback exactly
 * once, later, on the loop; one that returns LT_EAGAIN (Redis not ready)
 * never calls it. err in a callback is 0 or an LT_E* code; LT_ETIMEDOUT and
 * LT_EDISCONNECTED mean the outcome is unknown. */
#ifndef LIVETALLY_STORE_H
#define LIVETALLY_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct lt_config;
struct lt_store;

enum lt_stream_status {
    LT_STATUS_NONE = 0, /* the stream does not exist */
    LT_STATUS_SCHEDULED,
    LT_STATUS_LIVE,
    LT_STATUS_ENDED,
};
const char *lt_status_name(enum lt_stream_status status);
/* "scheduled" | "live" | "ended" -> the status, else LT_STATUS_NONE. */
enum lt_stream_status lt_status_parse(const char *name, size_t len);

/* One stream's counts from one worker, sent as one script call. The store
 * does not copy it: it must stay unchanged until the callback has run (agg.c
 * resends the same batch until it is acknowledged). */
struct lt_batch_view {
    char viewer[65];
    uint16_t source; /* index into sources[] */
};
struct lt_batch_source {
    char name[33];
    int64_t likes;
};
struct lt_batch {
    char stream[65];
    uint64_t seq; /* per (incarnation, stream), from 1 */
    int64_t at_ms; /* when the batch was sealed: the time of its views */
    struct lt_batch_source *sources;
    size_t n_sources;
    int64_t *counters; /* one per configured counter, in config order */
    size_t n_counters;
    struct lt_batch_view *views;
    size_t n_views;
    int64_t online; /* this worker's subscribers of the stream; -1: no report */
};

struct lt_batch_result {
    bool applied;       /* false: Redis had applied this seq before (a resend) */
    int64_t views_counted;
    int64_t stream_seq; /* the stream's change counter after the batch */
    int64_t created_ms; /* the stream's created_at */
};

typedef void lt_store_batch_cb(void *arg, int err, const struct lt_batch_result *result);
typedef void lt_store_status_cb(void *arg, int err, enum lt_stream_status status);
/* totals: the contract's totals object (without display/online extras the
 * API adds), or NULL when the stream does not exist. Borrowed: incref to keep. */
typedef void lt_store_json_cb(void *arg, int err, json_t *result);
/* A control message: a stream's status changed (LT_STATUS_NONE: deleted). */
typedef void lt_store_control_cb(void *arg, const char *stream, enum lt_stream_status status);

/* incarnation: a string unique to this worker process' life, which keys the
 * high-water marks of its batches. online_field: this worker's name in the
 * streams' online shares, unique to this worker process in the master's life
 * ("<instance>.<worker index>.<generation>"), so that a live worker can remove
 * a dead one's share (lt_store_drop_online_share). */
struct lt_store *lt_store_new(struct event_base *base, const struct lt_config *cfg,
                              const char *incarnation, const char *online_field,
                              lt_store_control_cb *on_control, void *control_arg);

/* How long a worker's online share counts without being reported again. */
#define LT_ONLINE_TTL_MS 10000
void lt_store_free(struct lt_store *store);

/* The data connection is up. */
bool lt_store_ready(const struct lt_store *store);
/* The pubsub connection is up; after it comes back the caller should drop
 * cached statuses (a control message may have been missed). */
bool lt_store_control_ready(const struct lt_store *store);
/* Bumped every time the control subscription is (re)established. */
uint64_t lt_store_control_epoch(const struct lt_store *store);

int lt_store_apply_batch(struct lt_store *store, const struct lt_batch *batch,
                         lt_store_batch_cb *cb, void *arg);
/* Adds the stream to the stream index (idempotent, fire and forget). */
void lt_store_index_stream(struct lt_store *store, const char *stream, int64_t created_ms);

int lt_store_get_status(struct lt_store *store, const char *stream, lt_store_status_cb *cb,
                        void *arg);
int lt_store_get_totals(struct lt_store *store, const char *stream, lt_store_json_cb *cb,
                        void *arg);

/* Lists streams newest first. status (NULL = any) and series (NULL = any)
 * filter; cursor NULL = from the start. The result is
 * {"streams":[totals...],"next_cursor":"..."|null}. */
int lt_store_list_streams(struct lt_store *store, const char *status, const char *series,
                          const char *cursor, int limit, lt_store_json_cb *cb, void *arg);

/* Creates or updates a stream's fields (NULL = leave as is), indexes it,
 * tells every worker, and answers with the totals object. */
struct lt_stream_fields {
    const char *title;
    const char *series; /* "" removes the series */
    const char *status;
    const char *starts_at; /* RFC 3339, already validated */
};
int lt_store_put_stream(struct lt_store *store, const char *stream,
                        const struct lt_stream_fields *fields, lt_store_json_cb *cb, void *arg);

/* Live totals: the messages published on a stream's channel, each the
 * contract's {"type":"totals",...,"seq":N,"ts":ms} text. Subscribing is
 * idempotent per stream and kept across reconnects; after a reconnect the
 * caller should read a fresh snapshot (lt_store_control_epoch changes). */
/* json NULL: the stream's channel subscription was just confirmed; what
 * was published before may have been missed (read a snapshot). */
typedef void lt_store_push_cb(void *arg, const char *stream, const char *json, size_t len);
/* on_resync runs each time the subscriber connection is (re)established with
 * every channel confirmed: messages may have been missed before it. */
typedef void lt_store_resync_cb(void *arg);
void lt_store_on_push(struct lt_store *store, lt_store_push_cb *on_push,
                      lt_store_resync_cb *on_resync, void *arg);
int lt_store_subscribe_stream(struct lt_store *store, const char *stream);
int lt_store_unsubscribe_stream(struct lt_store *store, const char *stream);

/* Removes another worker's online share (a dead worker's online_field) from
 * every stream it reported to, publishes the changed totals and deletes its
 * registry, on this store's data connection (never blocking). cb (may be
 * NULL) runs once with err 0 and the number of streams whose share was
 * removed, or an LT_E* code. Returns 0, or LT_EAGAIN when Redis is not
 * connected (cb is then not called). */
typedef void lt_store_count_cb(void *arg, int err, int count);
int lt_store_drop_online_share(struct lt_store *store, const char *online_field,
                               lt_store_count_cb *cb, void *arg);

#endif
