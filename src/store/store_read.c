/* Reads: a stream's status, its totals, its frozen reports and its time
 * buckets (store.h). */
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

/* ---- status ----------------------------------------------------------- */

struct status_call {
    lt_store_status_cb *cb;
    void *arg;
};

static void on_status_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct status_call *call = arg;
    if (store_reply_is_error(r, err, "status")) {
        call->cb(call->arg, err ? err : LT_EPROTO, LT_STATUS_NONE);
    } else if (r->type == REDIS_REPLY_STRING) {
        enum lt_stream_status st = lt_status_parse(r->str, r->len);
        call->cb(call->arg, 0, st == LT_STATUS_NONE ? LT_STATUS_LIVE : st);
    } else {
        call->cb(call->arg, 0, LT_STATUS_NONE);
    }
    lt_free(call);
}

int lt_store_get_status(struct lt_store *store, const char *stream, lt_store_status_cb *cb,
                        void *arg)
{
    char key[128]; /* stream_key */
    store_key(key, sizeof key, stream, KEY_META);
    struct status_call *call = lt_malloc(sizeof *call);
    call->cb = cb;
    call->arg = arg;
    int rc = store_command(store, key, on_status_reply, call, "HGET %s status", key);
    if (rc != 0)
        lt_free(call);
    return rc;
}

/* ---- totals ----------------------------------------------------------- */

/* Decodes read.lua's reply (a flat array of name, value; store_decode.h)
 * into t, prepared for stream. Returns 0 or LT_EPROTO. */
static int decode_read_reply(const struct lt_store *store, const char *stream, int64_t now_ms,
                             const redisReply *r, struct lt_totals *t)
{
    lt_store_decode_begin(t, stream, store->cfg->counters.items, store->cfg->counters.n);
    t->ts_ms = now_ms;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
        return LT_EPROTO;
    for (size_t i = 0; i < r->elements; i += 2) {
        const redisReply *name = r->element[i], *value = r->element[i + 1];
        char num[24]; /* a long long: at most 20 bytes */
        const char *v;
        size_t vlen;
        if (name->type != REDIS_REPLY_STRING)
            return LT_EPROTO;
        if (value->type == REDIS_REPLY_STRING) {
            v = value->str;
            vlen = value->len;
        } else if (value->type == REDIS_REPLY_INTEGER) {
            vlen = (size_t)snprintf(num, sizeof num, "%lld", (long long)value->integer);
            v = num;
        } else {
            return LT_EPROTO;
        }
        if (lt_store_decode_field(t, name->str, name->len, v, vlen) != 0)
            return LT_EPROTO;
    }
    return 0;
}

int store_send_read(struct lt_store *store, const char *stream, int64_t now_ms, lt_redis_cb *cb,
                     void *arg)
{
    /* keys: "lt:{" + a validated stream id (<= 64) + "}:" + a suffix of at most 16
     * bytes (stream_key); now: an int64 in at most 20 bytes. */
    char keys[4][128], now[24];
    const char *argv[5];
    size_t lens[5];
    const enum store_key_kind which[4] = {KEY_META, KEY_TOTALS, KEY_UNIQUES, KEY_ONLINE};
    for (int i = 0; i < 4; i++) {
        lens[i] = store_key(keys[i], sizeof keys[i], stream, which[i]);
        argv[i] = keys[i];
    }
    lens[4] = (size_t)snprintf(now, sizeof now, "%" PRId64, now_ms);
    argv[4] = now;
    return store_eval(store, store->read, 4, 5, argv, lens, cb, arg);
}

/* One stream's read reply: 1 and t filled, 0 (no such stream), or an LT_E*
 * code. */
int store_read_result(const struct lt_store *store, const char *stream, int64_t now_ms,
                       const redisReply *r, int err, struct lt_totals *t)
{
    if (store_reply_is_error(r, err, "totals"))
        return err ? err : LT_EPROTO;
    if (r->type == REDIS_REPLY_INTEGER)
        return 0;
    int rc = decode_read_reply(store, stream, now_ms, r, t);
    if (rc != 0) {
        lt_warn("store", "stream %s: the read script's reply does not decode", stream);
        lt_totals_free(t);
        return rc;
    }
    return 1;
}

struct totals_call {
    struct lt_store *store;
    lt_store_totals_cb *cb;
    void *arg;
    int64_t now_ms;
    char stream[LT_STREAM_ID_MAX + 1]; /* validated ids, copied whole */
};

static void on_totals_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct totals_call *call = arg;
    struct lt_totals t;
    int rc = store_read_result(call->store, call->stream, call->now_ms, r, err, &t);
    if (rc < 0) {
        call->cb(call->arg, rc, NULL);
    } else if (rc == 0) {
        call->cb(call->arg, 0, NULL); /* no such stream */
    } else {
        call->cb(call->arg, 0, &t);
        lt_totals_free(&t);
    }
    lt_free(call);
}

int lt_store_get_totals(struct lt_store *store, const char *stream, lt_store_totals_cb *cb,
                        void *arg)
{
    struct totals_call *call = lt_malloc(sizeof *call);
    call->store = store;
    call->cb = cb;
    call->arg = arg;
    call->now_ms = lt_wall_ms();
    snprintf(call->stream, sizeof call->stream, "%s", stream);
    int rc = store_send_read(store, stream, call->now_ms, on_totals_reply, call);
    if (rc != 0)
        lt_free(call);
    return rc;
}

/* ---- frozen reports --------------------------------------------------- */

struct report_call {
    lt_store_report_cb *cb;
    void *arg;
};

static void on_report_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct report_call *call = arg;
    if (store_reply_is_error(r, err, "report"))
        call->cb(call->arg, err ? err : LT_EPROTO, NULL, 0);
    else if (r->type == REDIS_REPLY_STRING)
        call->cb(call->arg, 0, r->str, r->len);
    else
        call->cb(call->arg, 0, NULL, 0);
    lt_free(call);
}

int lt_store_get_report(struct lt_store *store, const char *stream, const char *variant,
                        lt_store_report_cb *cb, void *arg)
{
    char key[128]; /* stream_key */
    store_key(key, sizeof key, stream, KEY_REPORT);
    struct report_call *call = lt_malloc(sizeof *call);
    call->cb = cb;
    call->arg = arg;
    int rc = store_command(store, key, on_report_reply, call, "HGET %s %s", key, variant);
    if (rc != 0)
        lt_free(call);
    return rc;
}

int lt_store_freeze_report(struct lt_store *store, const char *stream, const char *variant,
                           const char *body, size_t len, lt_store_report_cb *cb, void *arg)
{
    char key[128]; /* stream_key */
    store_key(key, sizeof key, stream, KEY_REPORT);
    /* HSETNX then HGET on the one connection, in order: whoever froze the
     * variant first wins, and every caller gets the winner's bytes. */
    int rc = store_command(store, key, NULL, NULL, "HSETNX %s %s %b", key, variant, body, len);
    if (rc != 0)
        return rc;
    return lt_store_get_report(store, stream, variant, cb, arg);
}

/* ---- time series ------------------------------------------------------ */

struct ts_call {
    lt_store_timeseries_cb *cb;
    void *arg;
    struct lt_ts_plan plan;
    size_t n_counters;
};

static void on_timeseries_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct ts_call *call = arg;
    if (store_reply_is_error(r, err, "timeseries")) {
        call->cb(call->arg, err ? err : LT_EPROTO, NULL);
    } else if (r->type == REDIS_REPLY_INTEGER) {
        call->cb(call->arg, 0, NULL); /* no such stream */
    } else if (r->type != REDIS_REPLY_ARRAY) {
        call->cb(call->arg, LT_EPROTO, NULL);
    } else {
        int64_t *v = lt_malloc((r->elements ? r->elements : 1) * sizeof *v);
        int rc = 0;
        for (size_t i = 0; i < r->elements && rc == 0; i++) {
            if (r->element[i]->type != REDIS_REPLY_INTEGER)
                rc = LT_EPROTO;
            else
                v[i] = (int64_t)r->element[i]->integer;
        }
        struct lt_timeseries ts;
        if (rc == 0)
            rc = lt_ts_decode(v, r->elements, &call->plan, call->n_counters, &ts);
        lt_free(v);
        if (rc != 0) {
            lt_warn("store", "the timeseries script's reply does not decode");
            call->cb(call->arg, rc, NULL);
        } else {
            call->cb(call->arg, 0, &ts);
            lt_timeseries_free(&ts);
        }
    }
    lt_free(call);
}

int lt_store_get_timeseries(struct lt_store *store, const char *stream,
                            const struct lt_ts_plan *plan, bool want_uniques,
                            lt_store_timeseries_cb *cb, void *arg)
{
    if (!lt_store_ready(store))
        return LT_EAGAIN;
    const struct lt_strlist *counters = &store->cfg->counters;
    struct store_argv av;
    store_argv_init(&av, 9 + (int)counters->n, 256);
    char key[128]; /* stream_key */
    store_argv_add(&av, key, store_key(key, sizeof key, stream, KEY_META));
    store_argv_add(&av, key, store_key(key, sizeof key, stream, KEY_TOTALS));
    store_argv_add_str(&av, stream);
    store_argv_add_int(&av, plan->res_s);
    store_argv_add_int(&av, plan->step_s);
    store_argv_add_int(&av, plan->first_t);
    store_argv_add_int(&av, (int64_t)plan->n_points);
    store_argv_add_int(&av, want_uniques ? 1 : 0);
    for (size_t i = 0; i < counters->n; i++)
        store_argv_add_str(&av, counters->items[i]);
    store_argv_finish(&av);
    struct ts_call *call = lt_malloc(sizeof *call);
    call->cb = cb;
    call->arg = arg;
    call->plan = *plan;
    call->n_counters = counters->n;
    int rc = store_eval(store, store->timeseries, 2, av.argc, av.argv, av.lens, on_timeseries_reply,
                        call);
    store_argv_free(&av);
    if (rc != 0)
        lt_free(call);
    return rc;
}

/* ---- status history ----------------------------------------------------- */

struct history_call {
    lt_store_history_cb *cb;
    void *arg;
};

/* Entries "<at_ms> <status>" (put.lua); one that does not parse is skipped
 * (and logged): the list is ours, so that would be a bug, not input. */
static void on_history_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct history_call *call = arg;
    if (store_reply_is_error(r, err, "history") || r->type != REDIS_REPLY_ARRAY) {
        call->cb(call->arg, err ? err : LT_EPROTO, NULL, 0);
        lt_free(call);
        return;
    }
    struct lt_status_change *changes = lt_calloc(r->elements + 1, sizeof *changes);
    size_t n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *el = r->element[i];
        const char *sp = el->type == REDIS_REPLY_STRING ? memchr(el->str, ' ', el->len) : NULL;
        enum lt_stream_status st =
            sp ? lt_status_parse(sp + 1, el->len - (size_t)(sp + 1 - el->str)) : LT_STATUS_NONE;
        if (st == LT_STATUS_NONE) {
            lt_warn("store", "a status history entry that does not parse; skipped");
            continue;
        }
        changes[n].at_ms = strtoll(el->str, NULL, 10);
        changes[n].status = st;
        n++;
    }
    call->cb(call->arg, 0, changes, n);
    lt_free(changes);
    lt_free(call);
}

int lt_store_get_history(struct lt_store *store, const char *stream, lt_store_history_cb *cb,
                         void *arg)
{
    char key[128]; /* stream_key */
    store_key(key, sizeof key, stream, KEY_HISTORY);
    struct history_call *call = lt_malloc(sizeof *call);
    call->cb = cb;
    call->arg = arg;
    int rc = store_command(store, key, on_history_reply, call, "LRANGE %s 0 -1", key);
    if (rc != 0)
        lt_free(call);
    return rc;
}
