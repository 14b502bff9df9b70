/* One asynchronous Redis connection on a libevent loop (hiredis 0.14 inside),
 * with what hiredis 0.14 lacks: a connect timeout, per-command timeouts,
 * reconnection with capped exponential backoff, AUTH/SELECT on connect,
 * EVALSHA with transparent NOSCRIPT fallback, and subscriptions that survive
 * reconnects.
 *
 * Outcome rules (the exactly-once logic in agg.c relies on them):
 *  - Every accepted command's callback runs exactly once: with the reply, or
 *    with reply == NULL and err < 0 (LT_ETIMEDOUT, LT_EDISCONNECTED,
 *    LT_ECLOSED) when the outcome is unknown: the command may or may not have
 *    run. Error replies from Redis arrive as a reply of REDIS_REPLY_ERROR with
 *    err == 0.
 *  - A command timeout tears the whole connection down (Redis answers in
 *    order, so nothing after a lost reply can be trusted), fails every pending
 *    callback with LT_ETIMEDOUT/LT_EDISCONNECTED, and reconnects.
 *  - Callbacks run on the loop, never inside lt_redis_* calls made by the
 *    owner, and the owner may call lt_redis_conn_free from inside a callback
 *    (the free is deferred until hiredis has returned).
 *
 * hiredis' camelCase types stay in redis_conn.c and store.c; other modules see
 * struct redisReply only as an opaque pointer handed to store.c. */
#ifndef LIVETALLY_REDIS_CONN_H
#define LIVETALLY_REDIS_CONN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct redisReply;
struct lt_redis_conn;

enum lt_redis_state {
    LT_REDIS_CONNECTING, /* TCP connect + AUTH/SELECT in progress */
    LT_REDIS_READY,      /* commands are accepted */
    LT_REDIS_DOWN,       /* lost; a reconnect is scheduled */
    LT_REDIS_CLOSED,     /* lt_redis_conn_free was called */
};

struct lt_redis_conn_opts {
    const char *name; /* for logs, e.g. "data" or "pubsub" */
    const char *host;
    int port;
    const char *password; /* NULL: no AUTH */
    int db;               /* SELECT when non-zero */
    int connect_timeout_ms;
    int command_timeout_ms;
    int backoff_min_ms; /* first reconnect delay; default 50 when 0 */
    int backoff_max_ms; /* cap; default 2000 when 0 */
    /* Called on every state change, on the loop. May be NULL. */
    void (*on_state)(struct lt_redis_conn *conn, enum lt_redis_state state, void *arg);
    void *arg;
};

typedef void lt_redis_cb(struct lt_redis_conn *conn, struct redisReply *reply, int err, void *arg);

/* Starts connecting at once. Strings in opts are copied. */
struct lt_redis_conn *lt_redis_conn_new(struct event_base *base,
                                        const struct lt_redis_conn_opts *opts);

/* Deferred free: pending callbacks run with LT_ECLOSED first. */
void lt_redis_conn_free(struct lt_redis_conn *conn);

enum lt_redis_state lt_redis_conn_state(const struct lt_redis_conn *conn);

/* Commands pending a reply right now. */
size_t lt_redis_conn_pending(const struct lt_redis_conn *conn);

/* Sends a command given as argv. Returns 0 (the callback will run exactly
 * once), or LT_EAGAIN when the connection is not READY (the callback will
 * not run). cb may be NULL for fire-and-forget. */
int lt_redis_command_argv(struct lt_redis_conn *conn, lt_redis_cb *cb, void *arg, int argc,
                          const char **argv, const size_t *argvlen);

/* printf-like, with hiredis' format (%s, %b with pointer+length, %d...). */
int lt_redis_command(struct lt_redis_conn *conn, lt_redis_cb *cb, void *arg, const char *fmt, ...);
int lt_redis_vcommand(struct lt_redis_conn *conn, lt_redis_cb *cb, void *arg, const char *fmt,
                      va_list ap);

/* A Lua script known by its SHA-1 (computed with libcrypto). Scripts are
 * created at start-up and live for the process. */
struct lt_redis_script;
struct lt_redis_script *lt_redis_script_new(const char *lua_source);
const char *lt_redis_script_sha(const struct lt_redis_script *script);

/* EVALSHA sha numkeys argv...; when Redis answers NOSCRIPT (a restarted or
 * flushed server), sends EVAL with the source instead and reports that
 * reply. argv holds the keys first, then the arguments. Same return and
 * callback rules as lt_redis_command_argv. */
int lt_redis_eval(struct lt_redis_conn *conn, const struct lt_redis_script *script, int numkeys,
                  int argc, const char **argv, const size_t *argvlen, lt_redis_cb *cb, void *arg);

/* For a Redis Cluster router (redis_cluster.c), which keeps a command to
 * send it again after a redirection: cmd is a command already in RESP
 * (redisFormatCommand's output), copied. asking: ASKING is sent first, on
 * the same link (an ASK redirection). Same return and callback rules as
 * lt_redis_command_argv; LT_EINVAL when len is 0. */
int lt_redis_command_formatted(struct lt_redis_conn *conn, bool asking, lt_redis_cb *cb, void *arg,
                               const char *cmd, size_t len);
/* lt_redis_eval after an ASK redirection: ASKING, then EVAL with the source
 * (an EVALSHA answered NOSCRIPT would be sent again without ASKING). */
int lt_redis_eval_asking(struct lt_redis_conn *conn, const struct lt_redis_script *script,
                         int numkeys, int argc, const char **argv, const size_t *argvlen,
                         lt_redis_cb *cb, void *arg);

/* Subscriber mode. A connection used for SUBSCRIBE should carry nothing
 * else. lt_redis_subscribe records the channel and subscribes now (if READY)
 * and again after every reconnect; on_message runs for each message with the
 * channel name and payload (not NUL-terminated), and once with payload NULL
 * when Redis confirms a subscription made while READY: whatever is published
 * after that point arrives (after a reconnect, READY itself says so).
 * Unsubscribe forgets it.
 * Returns 0 or LT_EINVAL (already subscribed). */
typedef void lt_redis_message_cb(struct lt_redis_conn *conn, const char *channel,
                                 size_t channel_len, const char *payload, size_t payload_len,
                                 void *arg);
int lt_redis_subscribe(struct lt_redis_conn *conn, const char *channel, lt_redis_message_cb *cb,
                       void *arg);
int lt_redis_unsubscribe(struct lt_redis_conn *conn, const char *channel);

/* Drops the link and reconnects (on the next loop pass), as after a lost
 * connection: pending callbacks get LT_EDISCONNECTED. For a liveness check
 * that failed (store.c's probe of the subscriber connection). */
void lt_redis_conn_reset(struct lt_redis_conn *conn);

#endif
