/* Deleting a stream (store.h: lt_store_delete_stream): delete.lua in
 * slices, then the indexes, then the word to every worker. */
#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/ids.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/conf/config.h"

#include "store_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The most keys one delete.lua call removes: Redis serves other clients
 * between the calls, so a stream of many buckets never blocks it long. */
#define LT_DELETE_SLICE 1000

/* The stream's keys that are not known to store_key's kinds, named here so
 * that delete.lua gets every fixed key (docs/redis.md). */
static const char *const extra_suffix[] = {"segments", "reported", "reports"};

struct delete_call {
    struct lt_store *store;
    lt_store_delete_cb *cb;
    void *arg;
    char stream[LT_STREAM_ID_MAX + 1]; /* a validated id, copied whole */
    char series[LT_SERIES_ID_MAX + 1];
    char cursor[48]; /* "<phase> <position>": a digit, a space, an int64 */
    int slices;
    int index_writes; /* ZREMs not answered yet */
    int index_err;
};

static void delete_finish(struct delete_call *call, int err, bool found)
{
    call->cb(call->arg, err, found);
    lt_free(call);
}

static int send_slice(struct delete_call *call);

static void on_published(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct delete_call *call = arg;
    if (store_reply_is_error(r, err, "delete: publish"))
        delete_finish(call, err ? err : LT_EPROTO, true);
    else
        delete_finish(call, 0, true);
}

/* Once the indexes are clean, "deleted <id>" goes on the control channel. */
static void index_write_done(struct delete_call *call)
{
    if (--call->index_writes > 0)
        return;
    int rc = call->index_err;
    if (rc == 0)
        rc = store_publish_control(call->store, "deleted", call->stream, on_published, call);
    if (rc != 0)
        delete_finish(call, rc, true); /* a retry finishes it (store.h) */
}

static void on_index_removed(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct delete_call *call = arg;
    if (store_reply_is_error(r, err, "delete: index"))
        call->index_err = err ? err : LT_EPROTO;
    index_write_done(call);
}

/* Every key of the stream is gone: the indexes (written apart, as the PUT
 * writes them: they span streams, and on a cluster live on other slots),
 * then, once both are answered, the word to every worker. */
static void delete_indexes(struct delete_call *call)
{
    struct lt_store *store = call->store;
    char series_key[128];   /* store_series_key */
    call->index_writes = 1; /* held until both are sent */
    if (store_command(store, LT_STREAM_INDEX, on_index_removed, call, "ZREM %s %s", LT_STREAM_INDEX,
                      call->stream) == 0)
        call->index_writes++;
    else
        call->index_err = LT_EAGAIN;
    if (call->series[0]) {
        store_series_key(series_key, sizeof series_key, call->series);
        if (store_command(store, series_key, on_index_removed, call, "ZREM %s %s", series_key,
                          call->stream) == 0)
            call->index_writes++;
        else
            call->index_err = LT_EAGAIN;
    }
    index_write_done(call); /* the hold */
}

static void on_slice(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct delete_call *call = arg;
    if (store_reply_is_error(r, err, "delete") || r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
        delete_finish(call, err ? err : LT_EPROTO, false);
        return;
    }
    if (store_reply_int(r->element[0]) == 0) {
        delete_finish(call, 0, false); /* no such stream */
        return;
    }
    if (r->elements != 3 || r->element[1]->type != REDIS_REPLY_STRING ||
        r->element[2]->type != REDIS_REPLY_STRING || r->element[1]->len >= sizeof call->cursor) {
        delete_finish(call, LT_EPROTO, false);
        return;
    }
    const redisReply *series = r->element[2];
    if (series->len > 0 && lt_valid_series_id(series->str, series->len))
        snprintf(call->series, sizeof call->series, "%s", series->str);
    call->slices++;
    if (r->element[1]->len == 0) {
        lt_debug("store", "stream %s deleted in %d script calls", call->stream, call->slices);
        delete_indexes(call);
        return;
    }
    memcpy(call->cursor, r->element[1]->str, r->element[1]->len);
    call->cursor[r->element[1]->len] = '\0';
    int rc = send_slice(call);
    if (rc != 0)
        delete_finish(call, rc, true);
}

static int send_slice(struct delete_call *call)
{
    struct lt_store *store = call->store;
    const struct lt_config *cfg = store->cfg;
    struct store_argv av;
    store_argv_init(&av, 20, 1024);
    char key[128]; /* store_key; "lt:{" + an id of at most 64 + "}:" + a suffix: < 128 */
    for (enum store_key_kind k = KEY_META; k <= KEY_HISTORY; k++)
        store_argv_add(&av, key, store_key(key, sizeof key, call->stream, k));
    for (size_t i = 0; i < sizeof extra_suffix / sizeof extra_suffix[0]; i++) {
        int n = snprintf(key, sizeof key, "lt:{%s}:%s", call->stream, extra_suffix[i]);
        store_argv_add(&av, key, (size_t)n);
    }
    int n_keys = av.argc;
    store_argv_add_str(&av, call->stream);
    store_argv_add_int(&av, lt_wall_ms());
    store_argv_add_int(&av, (int64_t)cfg->ts_retention_10s_hours * 3600);
    store_argv_add_int(&av, (int64_t)cfg->ts_retention_1m_days * 86400);
    store_argv_add_int(&av, (int64_t)cfg->ts_retention_1h_days * 86400);
    store_argv_add_str(&av, call->cursor);
    store_argv_add_int(&av, LT_DELETE_SLICE);
    store_argv_finish(&av);
    int rc =
        store_eval(store, store->delete_stream, n_keys, av.argc, av.argv, av.lens, on_slice, call);
    store_argv_free(&av);
    return rc;
}

int lt_store_delete_stream(struct lt_store *store, const char *stream, lt_store_delete_cb *cb,
                           void *arg)
{
    if (!lt_store_ready(store))
        return LT_EAGAIN;
    struct delete_call *call = lt_calloc(1, sizeof *call);
    call->store = store;
    call->cb = cb;
    call->arg = arg;
    snprintf(call->stream, sizeof call->stream, "%s", stream);
    int rc = send_slice(call);
    if (rc != 0)
        lt_free(call);
    return rc;
}
