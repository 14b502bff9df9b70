/* Where the store's commands go (store_internal.h): on one Redis, the data
 * connection; on a Redis Cluster (redis.cluster set), the router
 * (redis_cluster.h), by the slot of each command's key. The other store
 * files call these and never ask which Redis they talk to. */
#include "livetally/base/error.h"
#include "livetally/base/mem.h"
#include "livetally/base/strbuf.h"
#include "livetally/store/redis_cluster.h"

#include "store_internal.h"

#include <stdarg.h>
#include <string.h>

int store_command(struct lt_store *store, const char *route_key, lt_redis_cb *cb, void *arg,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = store->cluster ? lt_redis_cluster_vcommand(store->cluster, route_key, cb, arg, fmt, ap)
                            : lt_redis_vcommand(store->data, cb, arg, fmt, ap);
    va_end(ap);
    return rc;
}

int store_eval(struct lt_store *store, const struct lt_redis_script *script, int numkeys, int argc,
               const char **argv, const size_t *lens, lt_redis_cb *cb, void *arg)
{
    if (store->cluster)
        return lt_redis_cluster_eval(store->cluster, script, numkeys, argc, argv, lens, cb, arg);
    return lt_redis_eval(store->data, script, numkeys, argc, argv, lens, cb, arg);
}

void store_confirm_replicated(struct lt_store *store, struct lt_redis_conn *conn,
                              lt_redis_cluster_done_cb *cb, void *arg)
{
    if (store->cluster)
        lt_redis_cluster_wait_replica(store->cluster, conn, cb, arg);
    else
        cb(arg, 0); /* one Redis: its own persistence (AOF) is what keeps it */
}

/* The scripts publish a stream's totals with PUBLISH; a cluster's node
 * passes a PUBLISH to every node over the cluster bus, so there they use
 * SPUBLISH, which stays within the slot's shard (Redis 7) and reaches
 * the sharded subscribers of store_shard_push.c. */
struct lt_redis_script *store_script_new(const struct lt_store *store, const char *source)
{
    if (!store->cluster)
        return lt_redis_script_new(source);
    static const char from[] = "redis.call('PUBLISH'", to[] = "redis.call('SPUBLISH'";
    struct lt_strbuf sb;
    lt_strbuf_init(&sb, NULL, 0, (size_t)1 << 20); /* the scripts are a few KiB */
    const char *at = source, *hit;
    while ((hit = strstr(at, from)) != NULL) {
        lt_strbuf_add(&sb, at, (size_t)(hit - at));
        lt_strbuf_add_str(&sb, to);
        at = hit + sizeof from - 1;
    }
    lt_strbuf_add_str(&sb, at);
    struct lt_redis_script *script = lt_redis_script_new(lt_strbuf_text(&sb));
    lt_strbuf_free(&sb);
    return script;
}
