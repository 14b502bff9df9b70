/* A Redis Cluster client on a libevent loop: the router between the store
 * and the cluster's masters (issue 11; docs/redis.md "Redis Cluster").
 *
 * It keeps the slot map (cluster_slots.h) from CLUSTER SHARDS, or CLUSTER
 * SLOTS on a Redis without SHARDS, asked of a seed node first and then of
 * any node it knows; one lt_redis_conn per master; and sends each command to
 * the master of its route key's slot. Error replies of the cluster are
 * handled here, so the owner sees only its command's own outcome:
 *   MOVED       the command goes to the named node at once, and the whole
 *               map is asked again (one refresh in flight at a time);
 *   ASK         ASKING and the command go to the named node, once; the map
 *               stays (the slot is being migrated);
 *   TRYAGAIN, CLUSTERDOWN, LOADING
 *               the command is sent again after a back-off (10 ms doubling
 *               to 500 ms) until redis.command_timeout_ms has passed since
 *               it was first sent, then that error reply is the outcome.
 * None of these ran the command, so sending it again never runs it twice.
 * A command whose outcome is unknown (a timeout, a lost link) is reported
 * as such (redis_conn.h), and the map is asked again: a master may have
 * failed; the owner decides (agg sends a batch again, under the same seq).
 *
 * Replication: lt_redis_cluster_wait_replica tells when everything one
 * connection wrote is on a replica (WAIT), so that a batch is dropped from
 * the spool only once a failover cannot lose it.
 *
 * The map is refreshed on MOVED, on a lost or timed-out command, every
 * second while a master is unreachable or the map is unknown, and every
 * 10 s otherwise. Callbacks follow redis_conn.h's rules; the conn handed
 * to a callback is the connection that answered (NULL when none did). */
#ifndef LIVETALLY_STORE_REDIS_CLUSTER_H
#define LIVETALLY_STORE_REDIS_CLUSTER_H

#include "livetally/store/redis_conn.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct lt_cluster_map;
struct lt_redis_cluster;

struct lt_redis_cluster_opts {
    const char *const *seeds; /* "host:port" or "[v6]:port", checked by the config */
    size_t n_seeds;
    const char *password; /* NULL: no AUTH */
    int connect_timeout_ms;
    int command_timeout_ms;
    /* Readiness changed: a map covers every slot and every master's
     * connection is up. May be NULL. */
    void (*on_ready)(struct lt_redis_cluster *cl, bool ready, void *arg);
    /* A new map was taken (slots may have moved). May be NULL. */
    void (*on_map)(struct lt_redis_cluster *cl, void *arg);
    void *arg;
};

/* Starts connecting to the seeds at once. Strings in opts are copied. */
struct lt_redis_cluster *lt_redis_cluster_new(struct event_base *base,
                                              const struct lt_redis_cluster_opts *opts);
/* Deferred like lt_redis_conn_free: pending callbacks run with LT_ECLOSED. */
void lt_redis_cluster_free(struct lt_redis_cluster *cl);

bool lt_redis_cluster_ready(const struct lt_redis_cluster *cl);

/* Sends a command (hiredis' printf-like format) to the master of
 * route_key's slot (its {hash tag}); route_key NULL: any master that is up
 * (PUBLISH, which the cluster passes to every node). Returns 0 (cb runs
 * exactly once) or LT_EAGAIN (no map yet, or that master is not connected:
 * cb will not run), LT_EINVAL (a format hiredis refuses). */
int lt_redis_cluster_command(struct lt_redis_cluster *cl, const char *route_key, lt_redis_cb *cb,
                             void *arg, const char *fmt, ...);
int lt_redis_cluster_vcommand(struct lt_redis_cluster *cl, const char *route_key, lt_redis_cb *cb,
                              void *arg, const char *fmt, va_list ap);
/* lt_redis_eval routed by the script's first key (argv[0]); numkeys >= 1. */
int lt_redis_cluster_eval(struct lt_redis_cluster *cl, const struct lt_redis_script *script,
                          int numkeys, int argc, const char **argv, const size_t *argvlen,
                          lt_redis_cb *cb, void *arg);

/* cb(arg, 0) once a replica of conn's master has everything conn sent so
 * far (WAIT 1, several callers sharing one WAIT), or at once when the map
 * lists no replica for that master (nothing could be promoted without it).
 * A replica that is down still counts: it could come back and be promoted
 * with what it had. cb(arg, LT_ETIMEDOUT) when no replica confirmed within the
 * wait (a fraction of redis.command_timeout_ms), LT_EDISCONNECTED when the
 * link went or conn is not a master's. cb may run before this returns. */
typedef void lt_redis_cluster_done_cb(void *arg, int err);
void lt_redis_cluster_wait_replica(struct lt_redis_cluster *cl, struct lt_redis_conn *conn,
                                   lt_redis_cluster_done_cb *cb, void *arg);

/* The master that owns slot in the current map: 0 with *host (valid until
 * the next map) and *port set, or LT_EAGAIN when there is no map. */
int lt_redis_cluster_slot_master(const struct lt_redis_cluster *cl, unsigned slot,
                                 const char **host, int *port);
size_t lt_redis_cluster_n_masters(const struct lt_redis_cluster *cl); /* 0: no map */
/* Any master, for a connection that may go to any node (the control
 * channel's subscriber): the i-th modulo their number. LT_EAGAIN: no map. */
int lt_redis_cluster_any_master(const struct lt_redis_cluster *cl, unsigned i, const char **host,
                                int *port);
/* Asks for a new map soon (a subscriber heard its slot move). */
void lt_redis_cluster_refresh(struct lt_redis_cluster *cl);

#endif
