/* Listing streams and reading a series (store.h). */
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

/* ---- listing ---------------------------------------------------------- */

/* Cursor "<created_ms>.<id>": the last stream the previous page examined. */
#define LT_LIST_ROUNDS 8

/* A stream the index named in this round, and its totals once read. */
struct list_candidate {
    char id[LT_STREAM_ID_MAX + 1];
    int64_t score;
    bool found; /* totals hold the stream's totals */
    struct lt_totals totals;
};

struct list_call {
    struct lt_store *store;
    lt_store_list_cb *cb;
    void *arg;
    char index_key[128]; /* "lt:series:" + a validated series id (<= 64) */
    enum lt_stream_status status; /* LT_STATUS_NONE: any */
    int limit;
    int64_t after_score; /* -1: from the start */
    char after_id[LT_STREAM_ID_MAX + 1]; /* a validated stream id */
    int64_t now_ms;
    struct lt_totals *streams; /* collected totals, at most limit */
    size_t n_streams;
    struct list_candidate *cands; /* this round's, at most limit + 1 */
    size_t n_cands;
    size_t pending;
    int rounds;
    bool more; /* the index had more than this round fetched */
    int failed;
};

static void list_fetch(struct list_call *call);

static void list_clear_round(struct list_call *call)
{
    for (size_t i = 0; i < call->n_cands; i++)
        if (call->cands[i].found)
            lt_totals_free(&call->cands[i].totals);
    call->n_cands = 0;
}

static void list_finish(struct list_call *call, int err)
{
    if (err) {
        call->cb(call->arg, err, NULL, 0, NULL);
    } else {
        char next[24 + 1 + LT_STREAM_ID_MAX + 1]; /* at most 20 digits, '.', a 64-byte id */
        bool has_next = call->after_score >= 0 && call->more;
        if (has_next)
            snprintf(next, sizeof next, "%" PRId64 ".%s", call->after_score, call->after_id);
        call->cb(call->arg, 0, call->streams, call->n_streams, has_next ? next : NULL);
    }
    for (size_t i = 0; i < call->n_streams; i++)
        lt_totals_free(&call->streams[i]);
    list_clear_round(call);
    lt_free(call->streams);
    lt_free(call->cands);
    lt_free(call);
}

/* All totals of a round are in: keep those that pass the filter, in index
 * order, until the page is full. A kept totals moves into streams[]. */
static void list_round_done(struct list_call *call)
{
    if (call->failed) {
        list_finish(call, call->failed);
        return;
    }
    size_t n = call->n_cands;
    for (size_t i = 0; i < n; i++) {
        struct list_candidate *c = &call->cands[i];
        call->after_score = c->score;
        memcpy(call->after_id, c->id, sizeof call->after_id);
        if (c->found && (call->status == LT_STATUS_NONE || c->totals.status == call->status)) {
            call->streams[call->n_streams++] = c->totals;
            c->found = false;
        }
        if ((int)call->n_streams >= call->limit) {
            call->more = call->more || i + 1 < n;
            list_finish(call, 0);
            return;
        }
    }
    list_clear_round(call);
    if (call->more && ++call->rounds < LT_LIST_ROUNDS) {
        list_fetch(call);
        return;
    }
    list_finish(call, 0);
}

/* One candidate's read in flight. */
struct list_slot {
    struct list_call *call;
    size_t idx;
};

static void on_list_totals(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct list_slot *slot = arg;
    struct list_call *call = slot->call;
    struct list_candidate *c = &call->cands[slot->idx];
    lt_free(slot);
    int rc = store_read_result(call->store, c->id, call->now_ms, r, err, &c->totals);
    if (rc < 0)
        call->failed = rc;
    c->found = rc == 1; /* 0: deleted since the index named it */
    if (--call->pending == 0)
        list_round_done(call);
}

static void on_list_index(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct list_call *call = arg;
    if (store_reply_is_error(r, err, "list") || r->type != REDIS_REPLY_ARRAY) {
        list_finish(call, err ? err : LT_EPROTO);
        return;
    }
    list_clear_round(call);
    size_t want = (size_t)call->limit + 1;
    size_t fetched = r->elements / 2;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *id = r->element[i];
        int64_t score = store_reply_int(r->element[i + 1]);
        if (id->type != REDIS_REPLY_STRING || !lt_valid_stream_id(id->str, id->len))
            continue;
        /* Same-score members come in reverse lexical order: skip what the
         * cursor already covered. */
        if (call->after_score >= 0 && score == call->after_score &&
            strcmp(id->str, call->after_id) >= 0)
            continue;
        if (call->n_cands < want) {
            struct list_candidate *c = &call->cands[call->n_cands++];
            memcpy(c->id, id->str, id->len);
            c->id[id->len] = '\0';
            c->score = score;
            c->found = false;
        }
    }
    call->more = fetched >= want + 64 || call->n_cands == want;
    if (call->n_cands == want) {
        /* Fetched one beyond the page to know whether there is more; it is
         * examined in the next round. */
        call->n_cands--;
        call->more = true;
    }
    size_t n = call->n_cands;
    if (n == 0) {
        call->more = false;
        list_finish(call, 0);
        return;
    }
    call->pending = n;
    for (size_t i = 0; i < n; i++) {
        struct list_slot *slot = lt_malloc(sizeof *slot);
        slot->call = call;
        slot->idx = i;
        if (store_send_read(call->store, call->cands[i].id, call->now_ms, on_list_totals, slot) != 0) {
            lt_free(slot);
            call->failed = LT_EAGAIN;
            if (--call->pending == 0)
                list_round_done(call);
        }
    }
}

static void list_fetch(struct list_call *call)
{
    char max[32]; /* an int64 (at most 20 bytes) or "+inf" */
    if (call->after_score >= 0)
        snprintf(max, sizeof max, "%" PRId64, call->after_score);
    else
        snprintf(max, sizeof max, "+inf");
    /* Fetch extra members to step over same-score ties the cursor covers. */
    int rc = store_command(call->store, call->index_key, on_list_index, call,
                           "ZREVRANGEBYSCORE %s %s -inf WITHSCORES LIMIT 0 %d", call->index_key,
                           max, call->limit + 1 + 64);
    if (rc != 0)
        list_finish(call, rc);
}

int lt_store_list_streams(struct lt_store *store, const char *status, const char *series,
                          const char *cursor, int limit, lt_store_list_cb *cb, void *arg)
{
    if (!lt_store_ready(store))
        return LT_EAGAIN;
    if (limit < 1)
        return LT_EINVAL;
    int64_t after_score = -1;
    const char *after_id = NULL;
    if (cursor) {
        const char *dot = strchr(cursor, '.');
        char *end = NULL;
        long long score = strtoll(cursor, &end, 10);
        if (!dot || end != dot || score < 0 || !lt_valid_stream_id(dot + 1, strlen(dot + 1)))
            return LT_EINVAL;
        after_score = score;
        after_id = dot + 1;
    }
    struct list_call *call = lt_calloc(1, sizeof *call);
    call->store = store;
    call->cb = cb;
    call->arg = arg;
    call->limit = limit;
    call->after_score = after_score;
    if (after_id)
        snprintf(call->after_id, sizeof call->after_id, "%s", after_id);
    call->now_ms = lt_wall_ms();
    call->status = status ? lt_status_parse(status, strlen(status)) : LT_STATUS_NONE;
    call->streams = lt_malloc((size_t)limit * sizeof *call->streams);
    call->cands = lt_malloc(((size_t)limit + 1) * sizeof *call->cands);
    if (series)
        snprintf(call->index_key, sizeof call->index_key, "lt:series:%s", series);
    else
        snprintf(call->index_key, sizeof call->index_key, "%s", LT_STREAM_INDEX);
    list_fetch(call);
    return 0;
}

/* ---- series ----------------------------------------------------------- */

/* Two round trips whatever the number of streams: the series index (ZRANGE,
 * oldest created first, one more than the cap to know whether it is over),
 * then series.lua once with every stream's keys, which reads each stream as
 * read.lua does and counts the distinct viewers across them with one
 * PFCOUNT over all their HyperLogLogs.
 *
 * Those keys carry different hash tags: on a Redis Cluster they sit on
 * different slots, and one script cannot take them. There the first step
 * stays and store_series_cluster.c replaces the second: read.lua and a GET
 * of the HLL per stream (each at its slot's master), the same sums, and the
 * HLLs' union counted by merge_uniques.lua on scratch keys of one tag. The
 * model and the callers do not change. */

struct series_call {
    struct lt_store *store;
    lt_store_series_cb *cb;
    void *arg;
    int64_t now_ms;
    char series[LT_SERIES_ID_MAX + 1]; /* a validated series id, copied whole */
    bool truncated;
    /* The streams the index named, in its order; their reads answer in the
     * same order (series.lua's r<i>). */
    char (*ids)[LT_STREAM_ID_MAX + 1];
    size_t n_ids;
};

static void series_call_free(struct series_call *call)
{
    lt_free(call->ids);
    lt_free(call);
}

static void on_series_reads(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct series_call *call = arg;
    struct lt_store *store = call->store;
    if (store_reply_is_error(r, err, "series") || r->type != REDIS_REPLY_ARRAY ||
        r->elements != call->n_ids + 1 || r->element[0]->type != REDIS_REPLY_INTEGER) {
        call->cb(call->arg, err ? err : LT_EPROTO, NULL);
        series_call_free(call);
        return;
    }
    struct lt_series_totals s;
    lt_series_init(&s, call->series, store->cfg->counters.items, store->cfg->counters.n);
    s.truncated = call->truncated;
    s.uniques = r->element[0]->integer;
    int failed = 0;
    for (size_t i = 0; i < call->n_ids && !failed; i++) {
        struct lt_totals t;
        int rc = store_read_result(store, call->ids[i], call->now_ms, r->element[i + 1], 0, &t);
        if (rc < 0)
            failed = rc;
        else if (rc == 1)
            lt_series_add_stream(&s, &t); /* moved into s: nothing left to free in t */
        /* rc 0: gone, or moved to another series since the index named it */
    }
    if (failed) {
        call->cb(call->arg, failed, NULL);
    } else if (s.n_streams == 0) {
        call->cb(call->arg, 0, NULL); /* no stream is in it (any more): unknown */
    } else {
        lt_series_sort(&s);
        call->cb(call->arg, 0, &s);
    }
    lt_series_free(&s);
    series_call_free(call);
}

/* The one place that reads the streams of a series (see above). */
static int series_read_streams(struct series_call *call)
{
    /* 4 keys per stream; each "lt:{" + a validated stream id (<= 64) + "}:"
     * + a suffix of at most 8 bytes: 78 bytes and the NUL fit in 80. */
    enum { KEY_CAP = 80 };
    const enum store_key_kind which[4] = {KEY_META, KEY_TOTALS, KEY_UNIQUES, KEY_ONLINE};
    size_t nkeys = call->n_ids * 4;
    char *keys = lt_malloc(nkeys * KEY_CAP);
    const char **argv = lt_malloc((nkeys + 2) * sizeof *argv);
    size_t *lens = lt_malloc((nkeys + 2) * sizeof *lens);
    for (size_t i = 0; i < call->n_ids; i++) {
        for (size_t k = 0; k < 4; k++) {
            char *key = keys + (i * 4 + k) * KEY_CAP;
            lens[i * 4 + k] = store_key(key, KEY_CAP, call->ids[i], which[k]);
            argv[i * 4 + k] = key;
        }
    }
    char now[24]; /* an int64: at most 20 bytes */
    lens[nkeys] = (size_t)snprintf(now, sizeof now, "%" PRId64, call->now_ms);
    argv[nkeys] = now;
    lens[nkeys + 1] = strlen(call->series);
    argv[nkeys + 1] = call->series;
    /* lt_redis_eval copies argv: the buffers can go at once. */
    int rc = store_eval(call->store, call->store->series, (int)nkeys, (int)nkeys + 2, argv, lens,
                        on_series_reads, call);
    lt_free(keys);
    lt_free(argv);
    lt_free(lens);
    return rc;
}

static void on_series_index(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct series_call *call = arg;
    if (store_reply_is_error(r, err, "series index") || r->type != REDIS_REPLY_ARRAY) {
        call->cb(call->arg, err ? err : LT_EPROTO, NULL);
        series_call_free(call);
        return;
    }
    size_t n = r->elements;
    if (n > LT_SERIES_MAX_STREAMS) {
        call->truncated = true;
        n = LT_SERIES_MAX_STREAMS;
    }
    call->ids = lt_malloc((n ? n : 1) * sizeof *call->ids);
    for (size_t i = 0; i < n; i++) {
        const redisReply *id = r->element[i];
        if (id->type != REDIS_REPLY_STRING || !lt_valid_stream_id(id->str, id->len))
            continue; /* not written by us: skipped */
        memcpy(call->ids[call->n_ids], id->str, id->len);
        call->ids[call->n_ids][id->len] = '\0';
        call->n_ids++;
    }
    if (call->n_ids == 0) {
        call->cb(call->arg, 0, NULL); /* an unknown series */
        series_call_free(call);
        return;
    }
    if (call->store->cluster) {
        store_read_series_cluster(call->store, call->series, call->ids, call->n_ids,
                                  call->truncated, call->now_ms, call->cb, call->arg);
        series_call_free(call);
        return;
    }
    int rc = series_read_streams(call);
    if (rc != 0) {
        call->cb(call->arg, rc, NULL);
        series_call_free(call);
    }
}

int lt_store_get_series(struct lt_store *store, const char *series, lt_store_series_cb *cb,
                        void *arg)
{
    if (!lt_store_ready(store))
        return LT_EAGAIN;
    if (!lt_valid_series_id(series, strlen(series)))
        return LT_EINVAL;
    struct series_call *call = lt_calloc(1, sizeof *call);
    call->store = store;
    call->cb = cb;
    call->arg = arg;
    call->now_ms = lt_wall_ms();
    snprintf(call->series, sizeof call->series, "%s", series);
    char key[128]; /* store_series_key */
    store_series_key(key, sizeof key, series);
    int rc = store_command(store, key, on_series_index, call, "ZRANGE %s 0 %d", key,
                           LT_SERIES_MAX_STREAMS);
    if (rc != 0)
        series_call_free(call);
    return rc;
}
