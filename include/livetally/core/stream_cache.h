/* The worker's cache of stream existence and status, so that events never
 * read Redis: a stream is looked up once (one HGET) when the worker first
 * meets it, then kept fresh by the store's control channel. When that
 * subscription comes back after a loss (messages may have been missed), each
 * cached status is still used but refreshed in the background the next time
 * it is asked for. Requests that meet a stream never looked up wait for the
 * answer (lt_stream_cache_get returns LT_EAGAIN and calls back). */
#ifndef LIVETALLY_STREAM_CACHE_H
#define LIVETALLY_STREAM_CACHE_H

#include "livetally/store/store.h"

#include <stddef.h>

struct lt_stream_cache;

/* status LT_STATUS_NONE: the stream does not exist. err: the lookup failed
 * (Redis unreachable); status is then meaningless. */
typedef void lt_stream_cache_cb(void *arg, int err, enum lt_stream_status status);

/* max_wait_ms: how long a first lookup waits for Redis to be connected
 * before its callers get LT_EDISCONNECTED. */
struct event_base;
struct lt_stream_cache *lt_stream_cache_new(struct event_base *base, struct lt_store *store,
                                            int max_wait_ms);
void lt_stream_cache_free(struct lt_stream_cache *cache);

/* Returns the status (>= 0, LT_STATUS_NONE included) when known now; else
 * LT_EAGAIN, and cb runs once with the answer (err LT_EDISCONNECTED when
 * Redis stayed unreachable for max_wait_ms). */
int lt_stream_cache_get(struct lt_stream_cache *cache, const char *id, lt_stream_cache_cb *cb,
                        void *arg);

/* The cached status (>= 0), or LT_EAGAIN when unknown (then use
 * lt_stream_cache_get). Never waits: a stale status is answered and refreshed in
 * the background, as lt_stream_cache_get does. */
int lt_stream_cache_peek(struct lt_stream_cache *cache, const char *id);

/* Record a status learnt otherwise (operator PUT in this worker, a control
 * message, an auto-created stream). LT_STATUS_NONE records that it does
 * not exist (deleted). */
void lt_stream_cache_set(struct lt_stream_cache *cache, const char *id,
                         enum lt_stream_status status);

#endif
