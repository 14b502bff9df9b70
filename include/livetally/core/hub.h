/* The fan-out hub of a worker: local subscribers of streams, live totals
 * from Redis, and the pace of pushes.
 *
 * The hub subscribes the worker's Redis subscriber connection to a stream's
 * channel while the stream has local subscribers, reads a snapshot when the
 * first one arrives (and again after that connection comes back), and pushes
 * the newest totals to every subscriber: at most every push_interval_ms per
 * stream, at once when the last push is older than that, only when seq rose,
 * and never a seq lower than one a subscriber already got. Totals arrive
 * from the store decoded (struct lt_totals): seq is compared as a number. A
 * stream that does not exist yet is pushed as zeros with seq 0.
 *
 * A stream's status changes and its deletion (heard on the store's control
 * channel) reach its subscribers as notices (lt_hub_stream_status); a
 * deletion ends their subscriptions. A subscriber's first totals come
 * before any status notice: one heard earlier waits for them.
 *
 * It knows nothing of WebSocket or SSE: a subscriber belongs to a kind
 * (struct lt_push_kind) that encodes a push once per stream per push into
 * shared bytes, which the hub hands to each subscriber of that kind by
 * reference. */
#ifndef LIVETALLY_HUB_H
#define LIVETALLY_HUB_H

#include "livetally/store/totals.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct lt_config;
struct lt_store;
struct lt_totals;
struct lt_agg;
struct lt_shared;
struct lt_hub;
struct lt_hub_sub;

struct lt_push_kind {
    const char *name;
    /* The wire bytes of one push of the stream's newest totals (borrowed
     * for the call). Only the pushed fields (views, uniques, likes, online,
     * peak_online, seq, ts) and the stream id are certain to be set. */
    struct lt_shared *(*encode)(const struct lt_totals *totals);
    /* Hands a push to one subscriber; take a reference to keep it. The
     * subscriber may unsubscribe from inside (e.g. it was too slow). */
    void (*deliver)(void *owner, struct lt_shared *msg);
    /* Optional (NULL: the kind is not told). The wire bytes of a status
     * notice: the stream's status changed to status, or the stream was
     * deleted (LT_STATUS_NONE). Delivered through deliver like a push. */
    struct lt_shared *(*encode_notice)(const char *stream, enum lt_stream_status status);
    /* After the deleted notice: the subscription is over and the owner
     * must lt_hub_unsubscribe(sub) before returning (and may close). NULL
     * only for kinds without encode_notice. */
    void (*ended)(void *owner, struct lt_hub_sub *sub);
};

struct lt_hub *lt_hub_new(struct event_base *base, const struct lt_config *cfg,
                          struct lt_store *store, struct lt_agg *agg);
void lt_hub_free(struct lt_hub *hub);
void lt_hub_set_config(struct lt_hub *hub, const struct lt_config *cfg);

/* Subscribes owner to a stream (a valid id). The first push (the current
 * totals) follows at once when known, else when the snapshot arrives.
 * after_seq: pushes with seq <= after_seq are skipped (SSE Last-Event-ID);
 * -1 for none. counts_online: whether it counts in the stream's online. */
struct lt_hub_sub *lt_hub_subscribe(struct lt_hub *hub, const char *stream,
                                    const struct lt_push_kind *kind, void *owner,
                                    bool counts_online, int64_t after_seq);
void lt_hub_unsubscribe(struct lt_hub *hub, struct lt_hub_sub *sub);
void lt_hub_set_counts_online(struct lt_hub *hub, struct lt_hub_sub *sub, bool counts);
const char *lt_hub_sub_stream(const struct lt_hub_sub *sub);

/* A stream's status changed (from the store's control channel, so every
 * worker and instance hears it): its local subscribers get the notice
 * (encode_notice), once per kind. LT_STATUS_NONE: the stream was deleted;
 * after the notice every subscription of it ends (ended). */
void lt_hub_stream_status(struct lt_hub *hub, const char *stream, enum lt_stream_status status);

/* Subscribers in this worker (all streams). */
size_t lt_hub_subscribers(const struct lt_hub *hub);

#endif
