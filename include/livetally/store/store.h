/* The store: where totals are kept. Callers (core, api) see domain
 * operations on the model of totals.h with callbacks on the worker's loop:
 * apply a batch, read one stream's totals, list streams, read a series,
 * create or update a stream, delete one, read its status history, start a
 * segment, record a partner's report, subscribe to a stream's live totals.
 * Nothing of Redis or JSON shows through: one Redis or a Redis Cluster sits
 * behind these functions without their callers knowing which.
 *
 * Every key, script and reply format of livetally lives in
 * src/store/store*.c and src/store/lua/ (docs/redis.md lists the keys).
 *
 * Connections, one Redis: one "data" connection for commands and scripts
 * and one "pubsub" connection subscribed to the control channel (stream
 * status changes and deletions from operators, heard by every worker and
 * instance) and to the streams' totals channels. A Redis Cluster
 * (redis.cluster): a connection per master through the router
 * (redis_cluster.h; store_route.c picks by key), the control subscriber on
 * one master, and one sharded subscriber per master for the streams'
 * channels (store_shard_push.c). All reconnect by themselves.
 *
 * Callback rules: each operation that returns 0 calls its callback exactly
 * once, later, on the loop; one that returns LT_EAGAIN (Redis not ready)
 * never calls it. err in a callback is 0 or an LT_E* code; LT_ETIMEDOUT and
 * LT_EDISCONNECTED mean the outcome is unknown. */
#ifndef LIVETALLY_STORE_H
#define LIVETALLY_STORE_H

#include "livetally/store/series.h"
#include "livetally/store/totals.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct lt_config;
struct lt_store;

typedef void lt_store_batch_cb(void *arg, int err, const struct lt_batch_result *result);
typedef void lt_store_status_cb(void *arg, int err, enum lt_stream_status status);
/* err 0 or an LT_E* code; totals NULL when the stream does not exist (or
 * err). Borrowed for the call: lt_totals_copy to keep. */
typedef void lt_store_totals_cb(void *arg, int err, const struct lt_totals *totals);
/* A page of streams: n totals (borrowed for the call), next_cursor NULL
 * on the last page (else borrowed too). */
typedef void lt_store_list_cb(void *arg, int err, const struct lt_totals *streams, size_t n,
                              const char *next_cursor);
/* An outcome only: 0 or an LT_E* code. */
typedef void lt_store_done_cb(void *arg, int err);
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

/* Applies a batch exactly once, however often it is sent with the same
 * (incarnation, seq), to the totals and, in the same script, to the 10 s,
 * 1 min and 1 h time buckets that hold batch->at_ms (timeseries.h). LT_EINVAL: the batch carries a dimension (dims) this
 * store does not apply yet; it is refused, never half applied. */
int lt_store_apply_batch(struct lt_store *store, const struct lt_batch *batch,
                         lt_store_batch_cb *cb, void *arg);
/* Adds the stream to the stream index (idempotent); cb (may be NULL) says
 * whether the write succeeded, so the caller can try again when not. */
int lt_store_index_stream(struct lt_store *store, const char *stream, int64_t created_ms,
                          lt_store_done_cb *cb, void *arg);

int lt_store_get_status(struct lt_store *store, const char *stream, lt_store_status_cb *cb,
                        void *arg);
/* The stream's totals, read now (ts_ms = the read's time). */
int lt_store_get_totals(struct lt_store *store, const char *stream, lt_store_totals_cb *cb,
                        void *arg);

/* A stream's time buckets as planned (timeseries.h), read with one script
 * call. ts NULL when the stream does not exist (or err); borrowed for the
 * call. want_uniques false leaves the uniques column at 0 (no PFCOUNT). */
struct lt_ts_plan;
struct lt_timeseries;
typedef void lt_store_timeseries_cb(void *arg, int err, const struct lt_timeseries *ts);
int lt_store_get_timeseries(struct lt_store *store, const char *stream,
                            const struct lt_ts_plan *plan, bool want_uniques,
                            lt_store_timeseries_cb *cb, void *arg);

/* Frozen reports of an ended stream (docs/redis.md: lt:{id}:report, one
 * field per variant "<format>|<locale>|<tz>", kept as long as the stream).
 * get: the variant's bytes, or body NULL when none was frozen. freeze: stores
 * body unless the variant is there already, and answers with what is stored
 * (the first freeze wins). body is borrowed for the call. */
typedef void lt_store_report_cb(void *arg, int err, const char *body, size_t len);
int lt_store_get_report(struct lt_store *store, const char *stream, const char *variant,
                        lt_store_report_cb *cb, void *arg);
int lt_store_freeze_report(struct lt_store *store, const char *stream, const char *variant,
                           const char *body, size_t len, lt_store_report_cb *cb, void *arg);

/* Lists streams newest first. status (NULL = any) and series (NULL = any)
 * filter; cursor NULL = from the start, else a next_cursor this store gave
 * out (LT_EINVAL when it is not one). At most limit streams per page. */
int lt_store_list_streams(struct lt_store *store, const char *status, const char *series,
                          const char *cursor, int limit, lt_store_list_cb *cb, void *arg);

/* A series' totals (series.h): its streams, read now, summed, and the
 * distinct viewers across them. series NULL (err 0) when no stream is in
 * the series: an unknown series. Borrowed for the call. Two Redis round
 * trips whatever the number of streams (at most LT_SERIES_MAX_STREAMS are
 * read). LT_EINVAL: series is not a valid series id. */
typedef void lt_store_series_cb(void *arg, int err, const struct lt_series_totals *series);
int lt_store_get_series(struct lt_store *store, const char *series, lt_store_series_cb *cb,
                        void *arg);

/* Creates or updates a stream's fields (NULL = leave as is), indexes it,
 * and answers with its totals. A change of status is recorded in the
 * stream's history and told to every worker (the control channel). Status
 * moves (README "Stream lifecycle"): scheduled -> live -> ended, scheduled
 * -> ended, ended -> live (a reopen); a move back to scheduled is refused
 * with err LT_EINVAL and nothing is written. */
struct lt_stream_fields {
    const char *title;
    const char *series; /* "" removes the series */
    const char *status;
    const char *starts_at; /* RFC 3339, already validated */
};
int lt_store_put_stream(struct lt_store *store, const char *stream,
                        const struct lt_stream_fields *fields, lt_store_totals_cb *cb, void *arg);

/* ---- partner reports (store_sources.c) ---------------------------------- */

/* Every report is kept (lt:{id}:reports, the newest LT_REPORTS_KEPT). */
#define LT_REPORTS_KEPT 100000

/* The outcome of lt_store_put_reported. */
enum lt_report_status { LT_REPORT_RECORDED, LT_REPORT_UNKNOWN_STREAM, LT_REPORT_STREAM_ENDED };
struct lt_report_result {
    enum lt_report_status status;
    struct lt_totals_reported reported; /* the report as recorded (at_ms, lower) */
    int64_t views, likes;               /* the stream's new top-level totals */
    int64_t seq;
};
typedef void lt_store_report_put_cb(void *arg, int err, const struct lt_report_result *result);
/* Records a partner's absolute counts of source (a valid source id) for an
 * existing, not ended stream, in one script: the source's latest report
 * replaced, the reported sums in the totals adjusted, the report appended
 * to the stream's reports, and the changed totals (seq raised) published.
 * A report below the source's previous one is recorded, with lower set.
 * result is borrowed for the call. */
int lt_store_put_reported(struct lt_store *store, const char *stream, const char *source,
                          int64_t views, int64_t likes, lt_store_report_put_cb *cb, void *arg);

/* One partner report as kept in lt:{id}:reports. */
struct lt_partner_report {
    char source[LT_SOURCE_ID_MAX + 1];
    int64_t at_ms;
    int64_t views, likes;
    bool lower;
};
/* reports (n of them, oldest first) are borrowed for the call; err 0 and
 * n 0 when there are none. */
typedef void lt_store_reports_cb(void *arg, int err, const struct lt_partner_report *reports,
                                 size_t n);
/* The stream's partner reports whose time is in [from_ms, to_ms]. */
int lt_store_get_reports(struct lt_store *store, const char *stream, int64_t from_ms, int64_t to_ms,
                         lt_store_reports_cb *cb, void *arg);
/* Starts segment n+1 of a stream (store_segments.c, segment.lua), which
 * ends segment n. title: title_len bytes of UTF-8 (1..LT_SEGMENT_TITLE_MAX,
 * checked by the caller); started_ms: its start, epoch ms, which the caller
 * bounded against its clock (the script checks it is not before segment
 * n's). Each batch applied afterwards counts in the segment whose start is
 * the latest at or before the batch's at_ms; batches applied before stay
 * where they were counted (docs/redis.md). The segments appear in the
 * totals (struct lt_totals_segment). result is borrowed for the call. */
enum lt_segment_outcome {
    LT_SEGMENT_STARTED,
    LT_SEGMENT_UNKNOWN_STREAM,
    LT_SEGMENT_STREAM_ENDED,
    LT_SEGMENT_BEFORE_PREVIOUS, /* started_ms < the previous segment's start */
    LT_SEGMENT_TOO_MANY,        /* the stream has LT_SEGMENTS_MAX segments */
};
struct lt_segment_start {
    enum lt_segment_outcome outcome;
    int64_t id;                  /* STARTED: the new segment's id */
    int64_t previous_started_ms; /* BEFORE_PREVIOUS: the previous segment's start */
};
typedef void lt_store_segment_cb(void *arg, int err, const struct lt_segment_start *result);
int lt_store_start_segment(struct lt_store *store, const char *stream, const char *title,
                           size_t title_len, int64_t started_ms, lt_store_segment_cb *cb,
                           void *arg);

/* Deletes a stream and every key of it, time buckets included, without
 * scanning the keyspace (delete.lua, in calls of at most ~1000 keys each),
 * then its entries in the stream and series indexes, then publishes
 * "deleted <id>" on the control channel: every worker drops its cached
 * status and ends the stream's subscriptions (on_control with
 * LT_STATUS_NONE). found false (err 0): there was no such stream. Not
 * atomic: a retry after an error finishes a deletion cut short. */
typedef void lt_store_delete_cb(void *arg, int err, bool found);
int lt_store_delete_stream(struct lt_store *store, const char *stream, lt_store_delete_cb *cb,
                           void *arg);

/* A stream's status changes, oldest first (put.lua records them: a new
 * stream's first status, then every move; the newest 1000 are kept). An
 * auto-created stream was live from created_at without an entry. changes
 * borrowed for the call; n 0 when there is none (or no such stream). */
struct lt_status_change {
    int64_t at_ms;
    enum lt_stream_status status;
};
typedef void lt_store_history_cb(void *arg, int err, const struct lt_status_change *changes,
                                 size_t n);
int lt_store_get_history(struct lt_store *store, const char *stream, lt_store_history_cb *cb,
                         void *arg);

/* Live totals: each change of a stream's pushed fields (views, uniques,
 * likes, online, peak_online, with seq and ts; the other fields of the
 * totals are left empty), decoded. Subscribing is idempotent per stream and
 * kept across reconnects.
 * totals NULL: the stream's channel subscription was just confirmed; what
 * was published before may have been missed (read a snapshot). */
typedef void lt_store_push_cb(void *arg, const char *stream, const struct lt_totals *totals);
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
