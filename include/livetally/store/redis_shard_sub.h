/* A sharded pub/sub subscriber (SSUBSCRIBE, Redis 7) to one Redis node, on
 * a libevent loop: how a cluster store hears a stream's pushes at the
 * master that owns the stream's slot (store_shard_push.c).
 *
 * Why not hiredis' async API, as redis_conn.c: hiredis 0.14 knows only
 * SUBSCRIBE and PSUBSCRIBE replies; an "ssubscribe" or "smessage" array in
 * subscriber mode is matched to no callback and it aborts the process. So
 * this connection is our own socket (a bufferevent) whose bytes go through
 * hiredis' reply parser alone (redisReaderFeed / redisReaderGetReply), the
 * part of hiredis that has no idea of pub/sub, and commands are written as
 * RESP with redisFormatCommand.
 *
 * Behaviour:
 *  - Connects (connect_timeout_ms), sends AUTH when a password is set,
 *    then is READY and sends one SSUBSCRIBE per recorded channel (one
 *    command per channel: the channels of one SSUBSCRIBE must share a
 *    slot). Channels are kept across reconnects and subscribed again.
 *  - on_message(channel, payload) for each "smessage"; payload NULL once
 *    the node confirms a subscription ("ssubscribe"), after a reconnect
 *    too: whatever is published from then on arrives.
 *  - on_lost(channel, why) when the channel was forgotten because the node
 *    will not deliver it: it unsubscribed us itself ("sunsubscribe" we did
 *    not ask for: the slot moved away), or answered SSUBSCRIBE with an
 *    error ("MOVED 1234 10.0.0.2:7002": the slot is elsewhere).
 *  - PING every ping_interval_ms (allowed in subscriber mode); a reply that
 *    does not come within command_timeout_ms, a reply that does not parse
 *    or has an unexpected shape, one past this protocol's bounds (an array
 *    of more than 16 elements, more than 1 MiB without a whole reply:
 *    hiredis 0.14's reader has no limits of its own), EOF or an I/O error
 *    drop the connection (logged) and reconnect with back-off
 *    (redis_retry.h). Nothing is written while not connected.
 *  - Callbacks run on the loop, never inside the calls below; the owner
 *    may call lt_redis_ssub_free from inside a callback (deferred). */
#ifndef LIVETALLY_STORE_REDIS_SHARD_SUB_H
#define LIVETALLY_STORE_REDIS_SHARD_SUB_H

#include "livetally/store/redis_conn.h"

#include <stddef.h>

struct event_base;
struct lt_redis_ssub;

/* The longest channel name accepted (lt:{<id>}:totals is at most 76). */
#define LT_REDIS_SSUB_CHANNEL_MAX 512

struct lt_redis_ssub_opts {
    const char *name; /* for logs, e.g. "shard 127.0.0.1:7001" */
    const char *host;
    int port;
    const char *password; /* NULL: no AUTH */
    int connect_timeout_ms;
    int command_timeout_ms; /* bounds every reply: AUTH, SSUBSCRIBE, PING */
    int backoff_min_ms;     /* reconnect back-off; 0: 50 */
    int backoff_max_ms;     /* 0: 2000 */
    int ping_interval_ms;   /* 0: 1000 */
    /* May be NULL. CLOSED is never reported (the owner asked for it). */
    void (*on_state)(struct lt_redis_ssub *s, enum lt_redis_state state, void *arg);
    void (*on_message)(struct lt_redis_ssub *s, const char *channel, size_t channel_len,
                       const char *payload, size_t payload_len, void *arg);
    void (*on_lost)(struct lt_redis_ssub *s, const char *channel, size_t channel_len,
                    const char *why, void *arg);
    void *arg;
};

/* Starts connecting (from the loop). Strings in opts are copied. */
struct lt_redis_ssub *lt_redis_ssub_new(struct event_base *base,
                                        const struct lt_redis_ssub_opts *opts);
void lt_redis_ssub_free(struct lt_redis_ssub *s);
enum lt_redis_state lt_redis_ssub_state(const struct lt_redis_ssub *s);

/* Records channel and subscribes now when READY. 0, or LT_EINVAL (already
 * recorded, empty, or longer than LT_REDIS_SSUB_CHANNEL_MAX). */
int lt_redis_ssub_subscribe(struct lt_redis_ssub *s, const char *channel);
/* Forgets channel (SUNSUBSCRIBE when READY; its confirmation is not
 * reported). 0, or LT_EINVAL when it is not recorded. */
int lt_redis_ssub_unsubscribe(struct lt_redis_ssub *s, const char *channel);
/* Channels recorded now. */
size_t lt_redis_ssub_count(const struct lt_redis_ssub *s);

#endif
