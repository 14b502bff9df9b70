/* Counters for /metrics, declared once in LT_METRICS below; the struct, the
 * summing across workers and the Prometheus text are generated from it.
 * Beside them, in the same slot: events rejected by reason (one labelled
 * counter, LT_REJECT_REASONS) and histograms (LT_HISTOGRAMS, each with
 * fixed bucket bounds in metrics.c).
 *
 * The master maps one slot per worker in shared memory before forking
 * (lt_metrics_init_shared); each worker writes only its own slot through
 * lt_metrics (plain stores: one writer per slot, 64-bit aligned, so readers in
 * other workers see whole values), and any worker renders the sum. */
#ifndef LIVETALLY_METRICS_H
#define LIVETALLY_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* X(name, type, help); type is counter, gauge (summed over workers) or
 * gauge_max (the highest of the workers': an age). */
#define LT_METRICS(X)                                                                              \
    X(http_connections_accepted_total, counter, "TCP connections accepted")                        \
    X(http_connections_refused_total, counter, "connections refused over limits.max_connections")  \
    X(http_connections_refused_per_client_total, counter,                                          \
      "connections refused over limits.max_connections_per_client")                                \
    X(http_connections_open, gauge, "connections open now")                                        \
    X(http_requests_total, counter, "HTTP requests answered")                                      \
    X(http_responses_4xx_total, counter, "HTTP answers with a 4xx status")                         \
    X(http_responses_5xx_total, counter, "HTTP answers with a 5xx status")                         \
    X(http_closed_bad_request_total, counter, "connections closed for malformed requests")         \
    X(http_closed_timeout_total, counter, "connections closed by header or idle timeouts")         \
    X(events_accepted_total, counter, "events accepted")                                           \
    X(events_rejected_total, counter, "events rejected, every reason (lt_metrics_reject)")         \
    X(likes_accepted_total, counter, "like taps accepted")                                         \
    X(likes_rate_limited_total, counter, "like taps refused by a viewer's or client's budget")     \
    X(likes_client_limited_total, counter, "of those, taps the client budget alone refused")       \
    X(ingest_overloaded_total, counter, "event requests refused with 503 (backlog full)")          \
    X(redis_batches_sent_total, counter, "stream batches sent to Redis (resends included)")        \
    X(redis_batches_applied_total, counter, "stream batches applied by Redis")                     \
    X(redis_batches_duplicate_total, counter, "resent batches Redis had applied already")          \
    X(redis_batch_failures_total, counter, "batches whose outcome was unknown or failed")          \
    X(redis_connected, gauge, "1 while the data connection to Redis is up")                        \
    X(redis_pubsub_connected, gauge, "1 while the subscriber connection to Redis is up")           \
    X(cluster_map_refreshes_total, counter, "Redis Cluster slot maps asked for (CLUSTER SHARDS)")  \
    X(cluster_map_changes_total, counter, "Redis Cluster slot maps taken that moved a slot")       \
    X(cluster_moved_total, counter, "Redis Cluster MOVED redirections followed")                   \
    X(cluster_ask_total, counter, "Redis Cluster ASK redirections followed")                       \
    X(cluster_retries_total, counter, "commands sent again after TRYAGAIN, CLUSTERDOWN, LOADING")  \
    X(cluster_wait_failed_total, counter, "WAITs no replica confirmed: their batches are resent")  \
    X(backlog_entries, gauge, "view entries waiting for Redis")                                    \
    X(streams_dirty, gauge, "streams with counts not yet in Redis")                                \
    X(ws_connections_accepted_total, counter, "WebSocket handshakes completed")                    \
    X(ws_connections_open, gauge, "WebSocket connections open now")                                \
    X(ws_messages_received_total, counter, "WebSocket text messages received")                     \
    X(ws_frames_pushed_total, counter, "totals frames handed to WebSocket subscribers")            \
    X(ws_protocol_errors_total, counter, "WebSocket connections closed for protocol errors")       \
    X(ws_dropped_slow_total, counter, "WebSocket subscribers dropped: too much output pending")    \
    X(ws_idle_dropped_total, counter, "WebSocket connections dropped: no answer to ping")          \
    X(ws_overloaded_total, counter, "WebSocket connections closed with 1013 (overloaded)")         \
    X(ws_messages_rate_limited_total, counter, "WebSocket messages over their socket budget")      \
    X(ws_closed_policy_total, counter, "WebSocket connections closed with 1008 (errors)")          \
    X(sse_connections_open, gauge, "SSE subscriptions open now")                                   \
    X(sse_events_pushed_total, counter, "totals events handed to SSE subscribers")                 \
    X(sse_dropped_slow_total, counter, "SSE subscribers dropped: too much output pending")         \
    X(spool_bytes, gauge, "bytes in the workers' spool files")                                     \
    X(spool_oldest_unapplied_seconds, gauge_max,                                                   \
      "age of the oldest spooled event Redis has not acknowledged, the highest of any worker")     \
    X(spool_records_written_total, counter, "spool records written")                               \
    X(spool_bytes_written_total, counter, "bytes written to spool files")                          \
    X(spool_fsyncs_total, counter, "fsyncs of spool files")                                        \
    X(spool_write_failures_total, counter,                                                         \
      "spool reservations that failed (full disk, size limit)")                                    \
    X(spool_replayed_events_total, counter, "events read back from a predecessor's spool")         \
    X(spool_available, gauge,                                                                      \
      "workers whose spool takes records (each 1, or 0 while its ingest answers 503)")             \
    X(ingest_spool_unavailable_total, counter,                                                     \
      "events refused because the spool could not take them")                                      \
    X(memory_live_bytes, gauge, "bytes allocated through livetally's allocator")

/* Why an event was not counted: X(NAME, label). Rendered as
 * livetally_events_rejected_by_reason_total{reason="<label>"}, every reason
 * always present. An HTTP request refused whole counts each of its events. */
#define LT_REJECT_REASONS(X)                                                                       \
    X(BAD_EVENT, bad_event)                 /* invalid event (400 bad_event, WS bad_message) */    \
    X(RATE_LIMITED, rate_limited)           /* like budget, or a WebSocket's message budget */     \
    X(UNKNOWN_STREAM, unknown_stream)       /* streams.auto_create off */                          \
    X(STREAM_ENDED, stream_ended)           /* the stream has ended */                             \
    X(OVERLOADED, overloaded)               /* the backlog is full (503) */                        \
    X(NOT_READY, not_ready)                 /* the stream's status could not be read (Redis) */    \
    X(TOO_MANY_SOURCES, too_many_sources)   /* agg's source table of the stream is full */         \
    X(SPOOL_UNAVAILABLE, spool_unavailable) /* the spool could not take the event */

#define LT_REJECT_ENUM(name, label) LT_REJECT_##name,
enum lt_reject_reason { LT_REJECT_REASONS(LT_REJECT_ENUM) LT_REJECT_COUNT };
#undef LT_REJECT_ENUM

/* Histograms: X(ID, name, help). Buckets, their bounds and the unit a value
 * is observed in are fixed per histogram in metrics.c (seconds are observed
 * in microseconds and rendered in seconds). */
#define LT_HISTOGRAMS(X)                                                                           \
    X(REDIS_FLUSH_RTT, redis_flush_rtt_seconds,                                                    \
      "a batch's round trip: sent to Redis until its reply (applied or duplicate)")                \
    X(REDIS_BATCH_EVENTS, redis_batch_events, "events carried by each batch Redis applied")        \
    X(PUSH_DELAY, push_delay_seconds,                                                              \
      "a totals push: published by Redis (its ts) until handed to this worker's subscribers")

#define LT_HIST_ENUM(id, name, help) LT_HIST_##id,
enum lt_histogram_id { LT_HISTOGRAMS(LT_HIST_ENUM) LT_HIST_COUNT };
#undef LT_HIST_ENUM

/* Buckets per histogram, the +Inf bucket included. */
#define LT_HIST_MAX_BUCKETS 16

/* One histogram in one slot: counts per bucket (not cumulative: rendering
 * sums them), the sum of the observed values in their unit, the count. */
struct lt_histogram {
    uint64_t buckets[LT_HIST_MAX_BUCKETS];
    uint64_t sum;
    uint64_t count;
};

#define LT_METRIC_FIELD(name, type, help) uint64_t name;
struct lt_metrics {
    LT_METRICS(LT_METRIC_FIELD)
    uint64_t rejected_by_reason[LT_REJECT_COUNT];
    struct lt_histogram histograms[LT_HIST_COUNT];
};
#undef LT_METRIC_FIELD

/* This process' slot (a private dummy until lt_metrics_bind). */
extern struct lt_metrics *lt_metrics;

/* Master, before fork: maps n_slots zeroed slots shared with children. */
int lt_metrics_init_shared(int n_slots);
/* Worker: use slot i from now on; zeroes it (a restarted worker starts over,
 * so counters of a restarted slot may fall: Prometheus handles resets). */
void lt_metrics_bind(int slot);
/* Slots to read one by one (GET /v1/operator/status): their number (1
 * before lt_metrics_init_shared: the private slot), and slot i (NULL when
 * out of range) with the pid of the process last bound to it (0: none
 * yet). Values are read while their worker writes them: each is whole,
 * the set is not one instant's. */
int lt_metrics_slot_count(void);
const struct lt_metrics *lt_metrics_slot(int i, int64_t *pid);
/* Counts one event (lt_metrics_reject) or n events refused for why, in
 * events_rejected_by_reason_total and in events_rejected_total (so that the
 * latter is the sum of the former: never bump it by hand). */
void lt_metrics_reject(enum lt_reject_reason why);
void lt_metrics_reject_n(enum lt_reject_reason why, uint64_t n);
/* The label of a reason ("bad_event"...); "?" out of range. */
const char *lt_metrics_reject_label(enum lt_reject_reason why);

/* Records one value in histogram h of this process' slot, in the
 * histogram's unit: microseconds for the *_seconds ones, a plain count for
 * redis_batch_events. */
void lt_metrics_observe(enum lt_histogram_id h, uint64_t value);

/* Appends the Prometheus text format of all slots summed. */
void lt_metrics_render(struct evbuffer *out);
/* Appends one histogram's HELP, TYPE, cumulative _bucket{le="..."} lines
 * (+Inf last), _sum and _count (lt_metrics_render calls it with the sum of
 * the slots; tests with a histogram of their own). */
void lt_metrics_render_histogram(struct evbuffer *out, enum lt_histogram_id h,
                                 const struct lt_histogram *hist);

#endif
