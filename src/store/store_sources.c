/* Partner reports (store.h): put_reported.lua records one, ZRANGEBYSCORE
 * reads them back for the time series and the report. docs/redis.md:
 * lt:{id}:reported and lt:{id}:reports. */
#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/ids.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/store/store.h"

#include "store_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- recording one ---------------------------------------------------- */

struct put_reported_call {
    lt_store_report_put_cb *cb;
    void *arg;
    int64_t views, likes;
};

static void on_put_reported(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct put_reported_call *call = arg;
    if (store_reply_is_error(r, err, "partner report") || r->type != REDIS_REPLY_ARRAY ||
        r->elements != 6) {
        call->cb(call->arg, err ? err : LT_EPROTO, NULL);
        lt_free(call);
        return;
    }
    struct lt_report_result res = {0};
    int64_t status = store_reply_int(r->element[0]);
    res.status = status == 1   ? LT_REPORT_RECORDED
                 : status == 0 ? LT_REPORT_UNKNOWN_STREAM
                               : LT_REPORT_STREAM_ENDED;
    res.views = store_reply_int(r->element[1]);
    res.likes = store_reply_int(r->element[2]);
    res.reported.views = call->views;
    res.reported.likes = call->likes;
    res.reported.lower = store_reply_int(r->element[3]) == 1;
    res.reported.at_ms = store_reply_int(r->element[4]);
    res.seq = store_reply_int(r->element[5]);
    call->cb(call->arg, 0, &res);
    lt_free(call);
}

int lt_store_put_reported(struct lt_store *store, const char *stream, const char *source,
                          int64_t views, int64_t likes, lt_store_report_put_cb *cb, void *arg)
{
    if (!lt_valid_source_id(source, strlen(source)) || views < 0 || likes < 0)
        return LT_EINVAL;
    if (!lt_store_ready(store))
        return LT_EAGAIN;
    /* Keys: a valid stream id is at most 64 bytes (store_internal.h). */
    char meta[128], totals[128], reported[128], reports[128];
    char v[24], l[24], now[24], cap[24]; /* int64s: at most 20 bytes */
    const char *argv[] = {meta, totals, reported, reports, stream, source, v, l, now, cap};
    size_t lens[] = {
        store_key(meta, sizeof meta, stream, KEY_META),
        store_key(totals, sizeof totals, stream, KEY_TOTALS),
        store_key(reported, sizeof reported, stream, KEY_REPORTED),
        store_key(reports, sizeof reports, stream, KEY_REPORTS),
        strlen(stream),
        strlen(source),
        (size_t)snprintf(v, sizeof v, "%" PRId64, views),
        (size_t)snprintf(l, sizeof l, "%" PRId64, likes),
        (size_t)snprintf(now, sizeof now, "%" PRId64, lt_wall_ms()),
        (size_t)snprintf(cap, sizeof cap, "%d", LT_REPORTS_KEPT),
    };
    struct put_reported_call *call = lt_malloc(sizeof *call);
    call->cb = cb;
    call->arg = arg;
    call->views = views;
    call->likes = likes;
    int rc = store_eval(store, store->put_reported, 4, 10, argv, lens, on_put_reported, call);
    if (rc != 0)
        lt_free(call);
    return rc;
}

/* ---- reading them back ------------------------------------------------ */

struct reports_call {
    lt_store_reports_cb *cb;
    void *arg;
};

/* A member "<at_ms> <source> <views> <likes> <lower 0|1>" (put_reported.lua). */
static bool parse_member(const char *s, size_t len, struct lt_partner_report *out)
{
    char buf[128]; /* the longest member: 20 + 32 + 20 + 20 + 1 and 4 spaces */
    char src[LT_SOURCE_ID_MAX + 2];
    long long at, v, l;
    int lower, used = 0;
    if (len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (sscanf(buf, "%lld %33s %lld %lld %d%n", &at, src, &v, &l, &lower, &used) != 5 ||
        (size_t)used != len || !lt_valid_source_id(src, strlen(src)))
        return false;
    memcpy(out->source, src, strlen(src) + 1); /* a valid id: at most 32 bytes */
    out->at_ms = at;
    out->views = v;
    out->likes = l;
    out->lower = lower != 0;
    return true;
}

static void on_reports(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct reports_call *call = arg;
    if (store_reply_is_error(r, err, "partner reports") || r->type != REDIS_REPLY_ARRAY) {
        call->cb(call->arg, err ? err : LT_EPROTO, NULL, 0);
        lt_free(call);
        return;
    }
    struct lt_partner_report *reps = lt_calloc(r->elements + 1, sizeof *reps);
    size_t n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *el = r->element[i];
        if (el->type == REDIS_REPLY_STRING && parse_member(el->str, el->len, &reps[n]))
            n++;
        else
            lt_warn("store", "partner reports: a member that does not parse was skipped");
    }
    call->cb(call->arg, 0, reps, n);
    lt_free(reps);
    lt_free(call);
}

int lt_store_get_reports(struct lt_store *store, const char *stream, int64_t from_ms, int64_t to_ms,
                         lt_store_reports_cb *cb, void *arg)
{
    if (!lt_store_ready(store))
        return LT_EAGAIN;
    char key[128]; /* store_key */
    store_key(key, sizeof key, stream, KEY_REPORTS);
    struct reports_call *call = lt_malloc(sizeof *call);
    call->cb = cb;
    call->arg = arg;
    int rc = store_command(store, key, on_reports, call, "ZRANGEBYSCORE %s %lld %lld", key,
                           (long long)from_ms, (long long)to_ms);
    if (rc != 0)
        lt_free(call);
    return rc;
}
