/* TEMPORARY lead copy of the designed API (replaced by the ssub branch). */
#ifndef LIVETALLY_STORE_REDIS_SHARD_SUB_H
#define LIVETALLY_STORE_REDIS_SHARD_SUB_H
#include "livetally/store/redis_conn.h"
#include <stddef.h>
struct event_base;
struct lt_redis_ssub;
struct lt_redis_ssub_opts {
    const char *name;     /* for logs, e.g. "shard 127.0.0.1:7001" */
    const char *host; int port;
    const char *password; /* NULL: no AUTH */
    int connect_timeout_ms, command_timeout_ms;  /* command timeout bounds PING replies */
    int backoff_min_ms, backoff_max_ms;          /* reconnect back-off, defaults 50/2000 */
    int ping_interval_ms;                        /* liveness PING; default 1000 */
    void (*on_state)(struct lt_redis_ssub *s, enum lt_redis_state state, void *arg);
    /* a message; payload NULL = the node confirmed the subscription to channel (also after
       every reconnect): what is published from now on arrives */
    void (*on_message)(struct lt_redis_ssub *s, const char *channel, size_t channel_len,
                       const char *payload, size_t payload_len, void *arg);
    /* channel is no longer subscribed here and was forgotten: the node unsubscribed us
       (its slot moved: a server-initiated "sunsubscribe"), or refused SSUBSCRIBE with an
       error (MOVED ... while the slot is elsewhere); msg = the error text or "sunsubscribe" */
    void (*on_lost)(struct lt_redis_ssub *s, const char *channel, size_t channel_len,
                    const char *msg, void *arg);
    void *arg;
};
struct lt_redis_ssub *lt_redis_ssub_new(struct event_base *, const struct lt_redis_ssub_opts *);
void lt_redis_ssub_free(struct lt_redis_ssub *);  /* safe from inside its callbacks (deferred) */
enum lt_redis_state lt_redis_ssub_state(const struct lt_redis_ssub *);  /* enum from redis_conn.h */
int lt_redis_ssub_subscribe(struct lt_redis_ssub *, const char *channel);   /* 0, LT_EINVAL already */
int lt_redis_ssub_unsubscribe(struct lt_redis_ssub *, const char *channel); /* 0, LT_EINVAL unknown */
size_t lt_redis_ssub_count(const struct lt_redis_ssub *);  /* channels recorded */
#endif
