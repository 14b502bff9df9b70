/* Writes: batches, the stream index, the operator's stream fields, and
 * the removal of a dead worker's online shares (store.h). */
#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/ids.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/conf/config.h"
#include "livetally/store/store_decode.h"
#include "livetally/store/timeseries.h"

#include "store_internal.h"
#include "store_scripts.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- batches ---------------------------------------------------------- */

struct batch_call {
    struct lt_store *store;
    lt_store_batch_cb *cb;
    void *arg;
    struct lt_batch_result res;
};

/* The batch's reply is kept until a replica has the batch too (on a
 * cluster: WAIT). Until then the caller keeps it in the spool: a master
 * that fails before its replica has the batch takes it along, and only a
 * batch sent again (same seq, counted once) brings it back. A batch that
 * was a duplicate needs the same wait: the first send's effect may be the
 * one not replicated yet. */
static void on_batch_replicated(void *arg, int err)
{
    struct batch_call *call = arg;
    call->cb(call->arg, err, err ? NULL : &call->res);
    lt_free(call);
}

static void on_batch_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    struct batch_call *call = arg;
    if (err) {
        call->cb(call->arg, err, NULL);
    } else if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 4) {
        /* Refused (LOADING, OOM, ...) or not understood: the caller keeps
         * the batch and sends it again, as often as it takes. */
        if (call->store->batch_errors++ % 100 == 0)
            lt_warn("store", "batch refused: %s (%llu in a row); kept and sent again",
                    r && r->type == REDIS_REPLY_ERROR ? r->str : "a reply that is not an array",
                    (unsigned long long)call->store->batch_errors);
        call->cb(call->arg, LT_EPROTO, NULL);
    } else {
        if (call->store->batch_errors) {
            lt_info("store", "batches applied again after %llu refused",
                    (unsigned long long)call->store->batch_errors);
            call->store->batch_errors = 0;
        }
        call->res.applied = store_reply_int(r->element[0]) == 1;
        call->res.views_counted = store_reply_int(r->element[1]);
        call->res.stream_seq = store_reply_int(r->element[2]);
        call->res.created_ms = store_reply_int(r->element[3]);
        store_confirm_replicated(call->store, conn, on_batch_replicated, call);
        return;
    }
    lt_free(call);
}

int lt_store_apply_batch(struct lt_store *store, const struct lt_batch *b, lt_store_batch_cb *cb,
                         void *arg)
{
    if (b->n_dims)
        return LT_EINVAL; /* no dimension is applied yet (totals.h) */
    /* On a cluster the router answers LT_EAGAIN for this stream's master
     * alone: while one master fails over, the others' streams flow on. */
    if (!store->cluster && !lt_store_ready(store))
        return LT_EAGAIN;
    struct store_argv av;
    store_argv_init(&av, 18 + (int)(b->n_sources * 2 + b->n_counters * 2 + b->n_views * 2), 1024);
    char key[128]; /* stream_key */
    for (enum store_key_kind k = KEY_META; k <= KEY_ONLINE; k++)
        store_argv_add(&av, key, store_key(key, sizeof key, b->stream, k));
    store_argv_add_str(&av, b->incarnation ? b->incarnation : store->incarnation);
    store_argv_add_int(&av, (int64_t)b->seq);
    store_argv_add_int(&av, b->at_ms);
    store_argv_add_int(&av, (int64_t)store->cfg->views_dedup_seconds * 1000);
    store_argv_add_str(&av, b->stream);
    store_argv_add_str(&av, b->online >= 0 ? store->online_field : "");
    store_argv_add_int(&av, b->online >= 0 ? b->online : 0);
    store_argv_add_int(&av, LT_ONLINE_TTL_MS);
    store_argv_add_int(&av, (int64_t)store->cfg->ts_retention_10s_hours * 3600);
    store_argv_add_int(&av, (int64_t)store->cfg->ts_retention_1m_days * 86400);
    store_argv_add_int(&av, (int64_t)store->cfg->ts_retention_1h_days * 86400);
    store_argv_add_int(&av, b->dropped_taps > 0 ? b->dropped_taps : 0);
    store_argv_add_int(&av, b->rejected > 0 ? b->rejected : 0);
    store_argv_add_int(&av, (int64_t)b->n_sources);
    for (size_t i = 0; i < b->n_sources; i++) {
        store_argv_add_str(&av, b->sources[i].name);
        store_argv_add_int(&av, b->sources[i].likes);
    }
    size_t n_counters = 0;
    for (size_t i = 0; i < b->n_counters; i++)
        n_counters += b->counters[i] != 0;
    store_argv_add_int(&av, (int64_t)n_counters);
    for (size_t i = 0; i < b->n_counters; i++) {
        if (!b->counters[i])
            continue;
        store_argv_add_str(&av, store->cfg->counters.items[i]);
        store_argv_add_int(&av, b->counters[i]);
    }
    for (size_t i = 0; i < b->n_views; i++) {
        store_argv_add_str(&av, b->views[i].viewer);
        store_argv_add_int(&av, (int64_t)b->views[i].source + 1);
    }
    store_argv_finish(&av);
    struct batch_call *call = lt_calloc(1, sizeof *call);
    call->store = store;
    call->cb = cb;
    call->arg = arg;
    int rc = store_eval(store, store->apply, 5, av.argc, av.argv, av.lens, on_batch_reply, call);
    store_argv_free(&av);
    if (rc != 0) {
        lt_free(call);
        return rc;
    }
    /* Record the stream in this worker's registry once, so the master can
     * remove our share should we die. */
    size_t id_len = strlen(b->stream);
    if (b->online > 0 && !lt_map_get(&store->online_registered, b->stream, id_len)) {
        lt_map_put(&store->online_registered, b->stream, id_len, store);
        char reg[128]; /* store_online_streams_key */
        store_online_streams_key(reg, sizeof reg, store->online_field);
        store_command(store, reg, NULL, NULL, "SADD %s %s", reg, b->stream);
    }
    return 0;
}

struct done_call {
    lt_store_done_cb *cb;
    void *arg;
};

static void on_done_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct done_call *call = arg;
    int rc = store_reply_is_error(r, err, "index") ? (err ? err : LT_EPROTO) : 0;
    if (call->cb)
        call->cb(call->arg, rc);
    lt_free(call);
}

int lt_store_index_stream(struct lt_store *store, const char *stream, int64_t created_ms,
                          lt_store_done_cb *cb, void *arg)
{
    struct done_call *call = lt_malloc(sizeof *call);
    call->cb = cb;
    call->arg = arg;
    int rc = store_command(store, LT_STREAM_INDEX, on_done_reply, call, "ZADD %s NX %lld %s",
                           LT_STREAM_INDEX, (long long)created_ms, stream);
    if (rc != 0)
        lt_free(call);
    return rc;
}

/* ---- operator writes -------------------------------------------------- */

struct put_call {
    struct lt_store *store;
    lt_store_totals_cb *cb;
    void *arg;
    char stream[LT_STREAM_ID_MAX + 1]; /* validated ids (api_streams.c), copied whole */
    char series[LT_SERIES_ID_MAX + 1];
    char old_series[LT_SERIES_ID_MAX + 1];
    char status[16];
    bool series_given;
    bool changed; /* the status changed (put.lua recorded it) */
    int64_t created;
};

/* The index write is answered: only a stream that is in the index is
 * reported created (a failed write fails the PUT, and the PUT's retry
 * repairs it: every step is idempotent). */
static void on_put_indexed(void *arg, int err)
{
    struct put_call *call = arg;
    struct lt_store *store = call->store;
    if (err) {
        call->cb(call->arg, err, NULL);
        lt_free(call);
        return;
    }
    char key[128]; /* store_series_key */
    if (call->series_given && call->old_series[0] && strcmp(call->old_series, call->series) != 0) {
        store_series_key(key, sizeof key, call->old_series);
        store_command(store, key, NULL, NULL, "ZREM %s %s", key, call->stream);
    }
    if (call->series_given && call->series[0]) {
        store_series_key(key, sizeof key, call->series);
        store_command(store, key, NULL, NULL, "ZADD %s NX %lld %s", key, (long long)call->created,
                      call->stream);
    }
    /* Only a change is told: workers refresh their status caches and tell
     * the stream's subscribers (a new stream is a change too). */
    if (call->changed)
        store_publish_control(store, call->status, call->stream, NULL, NULL);
    if (lt_store_get_totals(store, call->stream, call->cb, call->arg) != 0)
        call->cb(call->arg, LT_EAGAIN, NULL);
    lt_free(call);
}

static void on_put_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct put_call *call = arg;
    struct lt_store *store = call->store;
    if (store_reply_is_error(r, err, "put") || r->type != REDIS_REPLY_ARRAY || r->elements != 4) {
        call->cb(call->arg, err ? err : LT_EPROTO, NULL);
        lt_free(call);
        return;
    }
    call->created = store_reply_int(r->element[0]);
    if (call->created == 0) { /* a refused status move: nothing was written */
        call->cb(call->arg, LT_EINVAL, NULL);
        lt_free(call);
        return;
    }
    call->changed = store_reply_int(r->element[3]) == 1;
    snprintf(call->status, sizeof call->status, "%s",
             r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "live");
    snprintf(call->old_series, sizeof call->old_series, "%s",
             r->element[2]->type == REDIS_REPLY_STRING ? r->element[2]->str : "");
    /* The index keys span streams: written apart from the stream's script,
     * each write idempotent, so a retried PUT repairs a half-done one. */
    int rc = lt_store_index_stream(store, call->stream, call->created, on_put_indexed, call);
    if (rc != 0) {
        call->cb(call->arg, rc, NULL);
        lt_free(call);
    }
}

int lt_store_put_stream(struct lt_store *store, const char *stream,
                        const struct lt_stream_fields *f, lt_store_totals_cb *cb, void *arg)
{
    if (!lt_store_ready(store))
        return LT_EAGAIN;
    char key[128], history[128], report[128]; /* stream_key */
    const char *argv[16]; /* 3 keys, now and at most 4 name/value pairs: 12 */
    size_t lens[16];
    int argc = 0;
    char now[24]; /* an int64: at most 20 bytes */
    lens[argc] = store_key(key, sizeof key, stream, KEY_META);
    argv[argc++] = key;
    lens[argc] = store_key(history, sizeof history, stream, KEY_HISTORY);
    argv[argc++] = history;
    lens[argc] = store_key(report, sizeof report, stream, KEY_REPORT);
    argv[argc++] = report;
    lens[argc] = (size_t)snprintf(now, sizeof now, "%" PRId64, lt_wall_ms());
    argv[argc++] = now;
    const char *names[] = {"title", "series", "status", "starts_at"};
    const char *values[] = {f->title, f->series, f->status, f->starts_at};
    for (int i = 0; i < 4; i++) {
        if (!values[i])
            continue;
        argv[argc] = names[i];
        lens[argc++] = strlen(names[i]);
        argv[argc] = values[i];
        lens[argc++] = strlen(values[i]);
    }
    struct put_call *call = lt_calloc(1, sizeof *call);
    call->store = store;
    call->cb = cb;
    call->arg = arg;
    snprintf(call->stream, sizeof call->stream, "%s", stream);
    if (f->series) {
        call->series_given = true;
        snprintf(call->series, sizeof call->series, "%s", f->series);
    }
    int rc = store_eval(store, store->put, 3, argc, argv, lens, on_put_reply, call);
    if (rc != 0)
        lt_free(call);
    return rc;
}

/* ---- another worker's online share ----------------------------------- */

/* SMEMBERS of the dead worker's registry, then one drop_share script per
 * stream and DEL of the registry, all on the data connection: Redis answers
 * in order, so the call ends with the last reply. */
struct drop_call {
    struct lt_store *store;
    lt_store_count_cb *cb;
    void *arg;
    char field[96];
    int pending;
    int touched;
    int err;
};

static void drop_call_done(struct drop_call *call)
{
    if (--call->pending > 0)
        return;
    if (call->cb)
        call->cb(call->arg, call->err, call->err ? 0 : call->touched);
    lt_free(call);
}

static void on_drop_one(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct drop_call *call = arg;
    if (err)
        call->err = err;
    else if (r && r->type == REDIS_REPLY_INTEGER)
        call->touched += (int)r->integer;
    else if (r && r->type == REDIS_REPLY_ERROR)
        lt_warn("store", "removing online share %s: %s", call->field, r->str);
    drop_call_done(call);
}

static void on_drop_members(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct drop_call *call = arg;
    struct lt_store *store = call->store;
    if (err || !r || r->type != REDIS_REPLY_ARRAY) {
        call->err = err ? err : LT_EPROTO;
        drop_call_done(call);
        return;
    }
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, lt_wall_ms());
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *el = r->element[i];
        if (el->type != REDIS_REPLY_STRING || !lt_valid_stream_id(el->str, el->len))
            continue;
        /* A valid stream id is at most 64 bytes: the keys fit. */
        char totals[128], online[128];
        store_key(totals, sizeof totals, el->str, KEY_TOTALS);
        store_key(online, sizeof online, el->str, KEY_ONLINE);
        const char *argv[] = {totals, online, call->field, now, el->str};
        size_t lens[] = {strlen(totals), strlen(online), strlen(call->field), strlen(now), el->len};
        if (store_eval(store, store->drop_share, 2, 5, argv, lens, on_drop_one, call) == 0)
            call->pending++;
    }
    char key[128]; /* store_online_streams_key */
    store_online_streams_key(key, sizeof key, call->field);
    if (store_command(store, key, on_drop_one, call, "DEL %s", key) == 0)
        call->pending++;
    drop_call_done(call); /* this reply's own count */
}

int lt_store_drop_online_share(struct lt_store *store, const char *online_field,
                               lt_store_count_cb *cb, void *arg)
{
    if (strlen(online_field) >= sizeof((struct drop_call *)0)->field)
        return LT_EINVAL;
    struct drop_call *call = lt_calloc(1, sizeof *call);
    call->cb = cb;
    call->arg = arg;
    call->pending = 1;
    call->store = store;
    snprintf(call->field, sizeof call->field, "%s", online_field);
    char key[128]; /* store_online_streams_key */
    store_online_streams_key(key, sizeof key, online_field);
    int rc = store_command(store, key, on_drop_members, call, "SMEMBERS %s", key);
    if (rc != 0)
        lt_free(call);
    return rc;
}
