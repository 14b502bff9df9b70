/* Aggregation: accepted events only change in-memory deltas of their stream;
 * each changed stream's deltas are sealed into one batch and handed to the
 * store as one script call, at most once per flush_interval_ms per stream
 * (the first deltas after a quiet interval go at once).
 *
 * Exactly once, without per-batch marker keys: each stream has at most one
 * batch in flight; a batch whose outcome is unknown (timeout, lost
 * connection) is resent unchanged, with the same (incarnation, seq), until
 * Redis acknowledges it; the script applies a seq only above the stream's
 * high-water mark for this worker incarnation (src/store/lua/apply.lua).
 *
 * While Redis is away the deltas wait here. Counts of likes and counters take
 * constant space; views carry their viewer ids and so take space: their
 * number (plus one per waiting stream) is the backlog, bounded by
 * redis.max_backlog. lt_agg_can_accept says whether a request may add more.
 *
 * Once a batch's reply says the stream exists, the stream is added to the
 * stream index (which spans streams, so it is written apart from the
 * batch); it counts as indexed only when the store confirms the write, and
 * the write is tried again on every tick until then (the stream is kept
 * that long). Once per active period of a stream in this worker. */
#ifndef LIVETALLY_AGG_H
#define LIVETALLY_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct lt_config;
struct lt_store;
struct lt_agg;

struct lt_spool;
struct lt_spool_replay;

/* spool (may be NULL: nothing spooled) must outlive agg; agg appends SEAL
 * and ACK records to it and writes its checkpoints (spool.h). A sealed
 * batch goes to Redis only once its SEAL is durable; an acknowledged one
 * gets an ACK (no wait). */
struct lt_agg *lt_agg_new(struct event_base *base, const struct lt_config *cfg,
                          struct lt_store *store, struct lt_spool *spool);
void lt_agg_free(struct lt_agg *agg);
void lt_agg_set_config(struct lt_agg *agg, const struct lt_config *cfg);

/* Can n_views more view entries (and a new stream) be kept? false = answer
 * 503: the backlog is full. */
bool lt_agg_can_accept(const struct lt_agg *agg, size_t n_views);

/* Whether an event of stream from source (NULL = direct) would be taken by
 * lt_agg_add_view / lt_agg_add_likes: false when the stream already has
 * too many distinct sources in this worker. Asked before the event is
 * spooled, so that nothing is spooled that agg then refuses. */
bool lt_agg_can_add(struct lt_agg *agg, const char *stream, const char *source);

/* Takes over a predecessor's state rebuilt from its spool
 * (spool_replay.h): its sealed batches are sent first, each under its own
 * incarnation and seq; its pending deltas are sealed now as this worker's
 * own batches. Takes what it needs out of r (free r afterwards as usual).
 * Counters the config does not have are dropped with a warning. Call
 * before lt_spool_start, whose checkpoint then holds all of it. */
void lt_agg_adopt_replay(struct lt_agg *agg, struct lt_spool_replay *r);

/* Record accepted events. Ids must be valid (ids.h); source NULL = direct.
 * Returns 0, or LT_ETOOLARGE when the stream already has too many distinct
 * sources in this worker (the event is then rejected). */
int lt_agg_add_view(struct lt_agg *agg, const char *stream, const char *viewer,
                    const char *source);
int lt_agg_add_likes(struct lt_agg *agg, const char *stream, const char *source, int64_t n);
int lt_agg_add_counter(struct lt_agg *agg, const char *stream, size_t counter_index, int64_t n);
/* Refusals of the stream's events (like taps dropped by the budgets, events
 * rejected), carried to the store with its next batch (lt_batch). */
int lt_agg_add_refused(struct lt_agg *agg, const char *stream, int64_t dropped_taps,
                       int64_t rejected);

/* This worker's subscribers of a stream that count as online (the hub
 * calls it on every change). Reported to Redis with the stream's next batch
 * when it changed, and refreshed every few seconds while non-zero. */
void lt_agg_set_online(struct lt_agg *agg, const char *stream, int64_t count);

/* Forget a deleted stream's pending deltas. */
void lt_agg_drop_stream(struct lt_agg *agg, const char *stream);

/* Flush now rather than at the next tick (shutdown). */
void lt_agg_flush(struct lt_agg *agg);
/* Nothing pending and nothing in flight. An index write not confirmed yet
 * does not count: no count waits on it, and a stream missing from the index
 * is added again by the next worker that counts for it, or by a PUT. */
bool lt_agg_idle(const struct lt_agg *agg);
/* View entries plus waiting streams, for /metrics and the bound. */
size_t lt_agg_backlog(const struct lt_agg *agg);

#endif
