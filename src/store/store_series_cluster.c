/* A series' streams read on a Redis Cluster (store_list.c says why
 * series.lua cannot run there): read.lua per stream and a GET of its
 * uniques HyperLogLog, all sent at once (each to its slot's master), then
 * merge_uniques.lua for the distinct viewers across the streams. Three
 * round trips whatever the number of streams; the sums and the model are
 * the ones series.lua's path makes. */
#include "livetally/base/error.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/conf/config.h"

#include "store_internal.h"

#include <stdio.h>
#include <string.h>

struct series_stream {
    struct series_read *read;
    int rc; /* read.lua: 1 read, 0 gone or in another series; < 0 failed */
    struct lt_totals t;
    char *hll; /* the uniques HLL's bytes; NULL when the stream has none */
    size_t hll_len;
};

struct series_read {
    struct lt_store *store;
    lt_store_series_cb *cb;
    void *arg;
    int64_t now_ms;
    char series[LT_SERIES_ID_MAX + 1];
    bool truncated;
    struct series_stream *streams;
    char (*ids)[LT_STREAM_ID_MAX + 1];
    size_t n;
    int pending;
    int err;
};

static void series_read_free(struct series_read *sr)
{
    for (size_t i = 0; i < sr->n; i++) {
        if (sr->streams[i].rc == 1)
            lt_totals_free(&sr->streams[i].t);
        lt_free(sr->streams[i].hll);
    }
    lt_free(sr->streams);
    lt_free(sr->ids);
    lt_free(sr);
}

static void series_answer(struct series_read *sr, int64_t uniques)
{
    struct lt_series_totals s;
    lt_series_init(&s, sr->series, sr->store->cfg->counters.items, sr->store->cfg->counters.n);
    s.truncated = sr->truncated;
    s.uniques = uniques;
    for (size_t i = 0; i < sr->n; i++)
        if (sr->streams[i].rc == 1) {
            lt_series_add_stream(&s, &sr->streams[i].t); /* moved: nothing left to free */
            sr->streams[i].rc = 0;
        }
    if (s.n_streams == 0) {
        sr->cb(sr->arg, 0, NULL); /* no stream is in it (any more): unknown */
    } else {
        lt_series_sort(&s);
        sr->cb(sr->arg, 0, &s);
    }
    lt_series_free(&s);
    series_read_free(sr);
}

static void on_merged(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct series_read *sr = arg;
    if (store_reply_is_error(r, err, "series uniques") || r->type != REDIS_REPLY_INTEGER) {
        sr->cb(sr->arg, err ? err : LT_EPROTO, NULL);
        series_read_free(sr);
        return;
    }
    series_answer(sr, r->integer);
}

/* Every read is in: the HLLs of the streams still in the series go to one
 * merge (scratch keys tagged by the series, so one slot). */
static void merge_uniques(struct series_read *sr)
{
    if (sr->err) {
        sr->cb(sr->arg, sr->err, NULL);
        series_read_free(sr);
        return;
    }
    size_t m = 0;
    for (size_t i = 0; i < sr->n; i++)
        m += sr->streams[i].rc == 1 && sr->streams[i].hll;
    if (m == 0) {
        series_answer(sr, 0);
        return;
    }
    struct store_argv av;
    store_argv_init(&av, (int)(2 * m), 4096);
    char key[128]; /* "lt:{series:" + a series id (<= 64) + "}:merge:" + an index */
    for (size_t i = 0, k = 0; i < sr->n; i++) {
        if (sr->streams[i].rc != 1 || !sr->streams[i].hll)
            continue;
        int len = snprintf(key, sizeof key, "lt:{series:%s}:merge:%zu", sr->series, k++);
        store_argv_add(&av, key, (size_t)len);
    }
    for (size_t i = 0; i < sr->n; i++)
        if (sr->streams[i].rc == 1 && sr->streams[i].hll)
            store_argv_add(&av, sr->streams[i].hll, sr->streams[i].hll_len);
    store_argv_finish(&av);
    int rc = store_eval(sr->store, sr->store->merge_uniques, (int)m, av.argc, av.argv, av.lens,
                        on_merged, sr);
    store_argv_free(&av);
    if (rc != 0) {
        sr->cb(sr->arg, rc, NULL);
        series_read_free(sr);
    }
}

static void one_done(struct series_read *sr)
{
    if (--sr->pending == 0)
        merge_uniques(sr);
}

static void on_stream_read(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct series_stream *st = arg;
    struct series_read *sr = st->read;
    size_t i = (size_t)(st - sr->streams);
    st->rc = store_read_result(sr->store, sr->ids[i], sr->now_ms, r, err, &st->t);
    if (st->rc < 0) {
        sr->err = st->rc;
    } else if (st->rc == 1 && !(st->t.series && strcmp(st->t.series, sr->series) == 0)) {
        lt_totals_free(&st->t); /* moved to another series since the index named it */
        st->rc = 0;
    }
    one_done(sr);
}

static void on_stream_hll(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct series_stream *st = arg;
    struct series_read *sr = st->read;
    if (store_reply_is_error(r, err, "series: a stream's uniques")) {
        sr->err = err ? err : LT_EPROTO;
    } else if (r->type == REDIS_REPLY_STRING) {
        st->hll = lt_malloc(r->len ? r->len : 1);
        memcpy(st->hll, r->str, r->len);
        st->hll_len = r->len;
    }
    one_done(sr);
}

int store_read_series_cluster(struct lt_store *store, const char *series,
                              char (*ids)[LT_STREAM_ID_MAX + 1], size_t n_ids, bool truncated,
                              int64_t now_ms, lt_store_series_cb *cb, void *arg)
{
    struct series_read *sr = lt_calloc(1, sizeof *sr);
    sr->store = store;
    sr->cb = cb;
    sr->arg = arg;
    sr->now_ms = now_ms;
    sr->truncated = truncated;
    snprintf(sr->series, sizeof sr->series, "%s", series);
    sr->n = n_ids;
    sr->ids = lt_malloc(n_ids * sizeof *sr->ids);
    memcpy(sr->ids, ids, n_ids * sizeof *sr->ids);
    sr->streams = lt_calloc(n_ids, sizeof *sr->streams);
    sr->pending = 1; /* held until every read is sent */
    for (size_t i = 0; i < n_ids; i++) {
        struct series_stream *st = &sr->streams[i];
        st->read = sr;
        char key[128]; /* store_key */
        store_key(key, sizeof key, sr->ids[i], KEY_UNIQUES);
        if (store_send_read(store, sr->ids[i], now_ms, on_stream_read, st) == 0)
            sr->pending++;
        else
            sr->err = LT_EAGAIN;
        if (store_command(store, key, on_stream_hll, st, "GET %s", key) == 0)
            sr->pending++;
        else
            sr->err = LT_EAGAIN;
    }
    one_done(sr);
    return 0;
}
