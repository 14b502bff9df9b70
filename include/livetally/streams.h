/* The worker's cache of stream existence and status, so that events never
 * read Redis: a stream is looked up once (one HGET) when the worker first
 * meets it, then kept fresh by the store's control channel. When that
 * subscription comes back after a loss (messages may have been missed), each
 * cached status is still used but refreshed in the background the next time
 * it is asked for. Requests that meet a stream never looked up wait for the
 * answer (lt_streams_get returns LT_EAGAIN and calls back). */
#ifndef LIVETALLY_STREAMS_H
#define LIVETALLY_STREAMS_H

#include "livetally/store.h"

#include <stddef.h>

struct lt_streams;

/* status LT_STATUS_NONE: the stream does not exist. err: the lookup failed
 * (Redis unreachable); status is then meaningless. */
typedef void lt_streams_cb(void *arg, int err, enum lt_stream_status status);

/* max_wait_ms: how long a first lookup waits for Redis to be connected
 * before its callers get LT_EDISCONNECTED. */
struct event_base;
struct lt_streams *lt_streams_new(struct event_base *base, struct lt_store *store,
                                  int max_wait_ms);
void lt_streams_free(struct lt_streams *streams);

/* Returns the status (>= 0, LT_STATUS_NONE included) when known now; else
 * LT_EAGAIN, and cb runs once with the answer (err LT_EDISCONNECTED when
 * Redis stayed unreachable for max_wait_ms). */
int lt_streams_get(struct lt_streams *streams, const char *id, lt_streams_cb *cb, void *arg);

/* The cached status (>= 0), or LT_EAGAIN when unknown (then use
 * lt_streams_get). Never waits: a stale status is answered and refreshed in
 * the background, as lt_streams_get does. */
int lt_streams_peek(struct lt_streams *streams, const char *id);

/* Record a status learnt otherwise (operator PUT in this worker, a control
 * message, an auto-created stream). LT_STATUS_NONE records that it does
 * not exist (deleted). */
void lt_streams_set(struct lt_streams *streams, const char *id, enum lt_stream_status status);

#endif
