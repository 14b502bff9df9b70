/* Segments: starting one (store.h, lt_store_start_segment). Reading them
 * is part of a stream's totals (read.lua, store_read.c); counting in them
 * is part of every batch (apply.lua). */
#include "livetally/base/error.h"
#include "livetally/base/ids.h"
#include "livetally/base/mem.h"
#include "livetally/store/store.h"

#include "store_internal.h"

#include <stdio.h>

struct segment_call {
    lt_store_segment_cb *cb;
    void *arg;
};

static void on_segment_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct segment_call *call = arg;
    if (store_reply_is_error(r, err, "segment")) {
        call->cb(call->arg, err ? err : LT_EPROTO, NULL);
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
               r->element[0]->type != REDIS_REPLY_INTEGER ||
               r->element[0]->integer < LT_SEGMENT_STARTED ||
               r->element[0]->integer > LT_SEGMENT_TOO_MANY) {
        call->cb(call->arg, LT_EPROTO, NULL);
    } else {
        /* segment.lua's codes are the enum's values. */
        struct lt_segment_start res = {
            .outcome = (enum lt_segment_outcome)r->element[0]->integer,
        };
        int64_t v = store_reply_int(r->element[1]);
        if (res.outcome == LT_SEGMENT_STARTED)
            res.id = v;
        else if (res.outcome == LT_SEGMENT_BEFORE_PREVIOUS)
            res.previous_started_ms = v;
        call->cb(call->arg, 0, &res);
    }
    lt_free(call);
}

int lt_store_start_segment(struct lt_store *store, const char *stream, const char *title,
                           size_t title_len, int64_t started_ms, lt_store_segment_cb *cb, void *arg)
{
    if (!lt_store_ready(store))
        return LT_EAGAIN;
    struct store_argv av;
    store_argv_init(&av, 6, 512);
    char key[128]; /* stream_key; "lt:{" + a 64-byte id + "}:segments" fits too */
    store_argv_add(&av, key, store_key(key, sizeof key, stream, KEY_META));
    store_argv_add(&av, key, store_key(key, sizeof key, stream, KEY_TOTALS));
    int n = snprintf(key, sizeof key, "lt:{%s}:segments", stream);
    store_argv_add(&av, key, n > 0 && (size_t)n < sizeof key ? (size_t)n : 0);
    store_argv_add(&av, title, title_len);
    store_argv_add_int(&av, started_ms);
    store_argv_add_int(&av, LT_SEGMENTS_MAX);
    store_argv_finish(&av);
    struct segment_call *call = lt_malloc(sizeof *call);
    call->cb = cb;
    call->arg = arg;
    int rc =
        store_eval(store, store->segment, 3, av.argc, av.argv, av.lens, on_segment_reply, call);
    store_argv_free(&av);
    if (rc != 0)
        lt_free(call);
    return rc;
}
