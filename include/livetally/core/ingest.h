/* Ingest: the counting rules that every accepted event goes through, once,
 * for both transports (POST /v1/streams/{id}/events and the WebSocket view
 * and like messages). The callers only parse their wire form and turn the
 * typed outcome below into their own answer (an HTTP status and error body,
 * or a WebSocket error message).
 *
 * The rules, in order:
 *   1. the stream's status, from the stream cache (stream_cache.h); a stream
 *      this worker never met is looked up once and the caller waits;
 *      lookup failed (Redis unreachable)          -> LT_INGEST_NOT_READY
 *      unknown and streams.auto_create is false   -> LT_INGEST_UNKNOWN_STREAM
 *      ended                                      -> LT_INGEST_STREAM_ENDED
 *   2. the backlog (agg.h): no room for the request's views
 *                                                 -> LT_INGEST_OVERLOADED
 *      an unknown stream is then recorded as live (auto-created: its first
 *      batch creates it in Redis);
 *   3. per event: a like spends its viewer's budget (likes.rate_per_second,
 *      likes.burst) and its client address' budget
 *      (likes.per_client_rate_per_second, likes.per_client_burst). A like
 *      without a viewer spends the budget of the client's viewer: the
 *      socket's, else the one derived from client address and User-Agent.
 *      Over either budget, HTTP rejects the event whole and WebSocket drops
 *      the taps that do not fit            -> LT_INGEST_RATE_LIMITED / dropped
 *   4. the accepted counts are appended to the spool (spool.h: room for the
 *      request's events was reserved in rule 2, where a spool that cannot
 *      take them                            -> LT_INGEST_SPOOL_UNAVAILABLE)
 *      and then go to agg; a stream with too many sources in this worker
 *      right now (asked before spooling)   -> LT_INGEST_TOO_MANY_SOURCES
 *      An answer saying events were accepted waits for the spool
 *      (lt_ingest_when_kept).
 *   5. /metrics: events_accepted_total, events_rejected_total (also invalid
 *      events, through lt_ingest_validate), likes_accepted_total,
 *      likes_rate_limited_total, likes_client_limited_total,
 *      ingest_overloaded_total.
 *
 * Budgets are kept per worker process (likes_budget.h): a client spread over
 * several workers could spend up to one budget per worker. Everything runs on
 * the worker's loop; nothing here blocks or talks to Redis but the one status
 * lookup. */
#ifndef LIVETALLY_INGEST_H
#define LIVETALLY_INGEST_H

#include "livetally/core/event_validate.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lt_config;
struct lt_agg;
struct lt_spool;
struct lt_stream_cache;
struct lt_ingest;

enum lt_ingest_code {
    LT_INGEST_OK = 0,           /* accepted (with drop_excess_likes some taps may be dropped) */
    LT_INGEST_NOT_READY,        /* the stream's status could not be read (Redis): 503 not_ready */
    LT_INGEST_UNKNOWN_STREAM,   /* no such stream, auto_create off: 404 unknown_stream */
    LT_INGEST_STREAM_ENDED,     /* 409 stream_ended */
    LT_INGEST_OVERLOADED,       /* backlog full: 503 overloaded */
    LT_INGEST_RATE_LIMITED,     /* over a like budget, nothing counted: 429 rate_limited */
    LT_INGEST_TOO_MANY_SOURCES, /* the stream has too many sources in this worker right now */
    LT_INGEST_SPOOL_UNAVAILABLE, /* the spool cannot take events: 503 spool_unavailable */
};

/* A short human reason for a code, for the message of an error answer. */
const char *lt_ingest_reason(enum lt_ingest_code code);

/* Who sends the events. */
struct lt_ingest_client {
    const char *addr;       /* client address after trusted_proxies (never NULL): keys the
                             * per-client budget */
    const char *viewer;     /* the viewer of events that name none (a socket's), or NULL */
    const char *user_agent; /* with viewer NULL: derives the viewer with addr (ids.h) */
    size_t user_agent_len;
    bool drop_excess_likes; /* WebSocket rule: taps over a budget are dropped, the rest
                             * counted; false (HTTP): a like over a budget is rejected whole */
    char derived[35];       /* filled by ingest when it derives the viewer */
};

/* The outcome of one event. */
struct lt_ingest_outcome {
    enum lt_ingest_code code;
    int64_t counted;        /* views, taps or counter units handed to agg */
    int64_t dropped;        /* like taps refused by a budget (likes only) */
    int64_t retry_after_ms; /* with LT_INGEST_RATE_LIMITED: when the taps would fit;
                             * -1 when they never can (n above a burst) */
};

/* cfg, agg, cache and spool must outlive the ingest (cfg may be replaced
 * with lt_ingest_set_config). spool NULL: nothing is spooled (tests). */
struct lt_ingest *lt_ingest_new(const struct lt_config *cfg, struct lt_agg *agg,
                                struct lt_stream_cache *cache, struct lt_spool *spool);
/* Lookups still under way call back with LT_INGEST_NOT_READY afterwards. */
void lt_ingest_free(struct lt_ingest *ing);
/* New budget limits and auto_create take effect for the next event. */
void lt_ingest_set_config(struct lt_ingest *ing, const struct lt_config *cfg);
/* Forgets budget buckets that have refilled; call every few seconds. */
void lt_ingest_sweep(struct lt_ingest *ing, int64_t now_ms);

/* Rules 1 and 2 for a request (or WebSocket message) of n_events events,
 * n_views of them views, to a stream (a valid id). Returns an lt_ingest_code (>= 0) when decided now.
 * Else returns LT_EAGAIN: with cb NULL nothing was started (call again with
 * a callback, typically after copying what the callback needs to the heap);
 * with a cb, it runs exactly once later on the loop with the code.
 * After LT_INGEST_OK, count the events with lt_ingest_event in the same loop
 * pass (before returning to the loop). */
typedef void lt_ingest_open_cb(void *arg, enum lt_ingest_code code);
int lt_ingest_open(struct lt_ingest *ing, const char *stream, size_t n_views, size_t n_events,
                   lt_ingest_open_cb *cb, void *arg);

/* Validates one JSON event (event_validate.h); an invalid one counts in
 * events_rejected_total. Returns NULL or the reason. */
const char *lt_ingest_validate(struct lt_ingest *ing, json_t *event, struct lt_event *out);
/* Counts an event of stream that lt_ingest_validate refused in the stream's
 * own refusals (carried with its batches; the report shows them). */
void lt_ingest_rejected(struct lt_ingest *ing, const char *stream);

/* Rules 3 to 5 for one valid event of a stream that lt_ingest_open
 * answered LT_INGEST_OK. Fills out. */
void lt_ingest_event(struct lt_ingest *ing, const char *stream, const struct lt_event *e,
                     struct lt_ingest_client *client, struct lt_ingest_outcome *out);

/* cb(arg) once every event counted so far is kept as an answer needs
 * (spool.h, LT_SPOOL_ANSWER: written, or synced with spool.fsync=always):
 * later, on the loop. Without a spool, at once. */
typedef void lt_ingest_kept_cb(void *arg);
void lt_ingest_when_kept(struct lt_ingest *ing, lt_ingest_kept_cb *cb, void *arg);

#endif
