/* Live totals to viewers: livetally's WebSocket messages (ws_api.c, on top
 * of ws_conn.h) and Server-Sent Events (sse.c), both fed by the hub. */
#ifndef LIVETALLY_LIVE_H
#define LIVETALLY_LIVE_H

#include "livetally/net/http_server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lt_app;
struct lt_sse_server;

/* Subscriptions one viewer's WebSocket may hold on /v1/ws (an operator's
 * socket, after its auth message: operator.max_subscriptions). */
#define LT_WS_MAX_SUBSCRIPTIONS 16

/* Upgrades req (already checked with lt_ws_check_upgrade) to a livetally
 * WebSocket. stream: the stream of /v1/streams/{id}/ws, or NULL for /v1/ws.
 * viewer and source: the socket's (from ?viewer=, ?source= or derived).
 * implied_view: count a view at once (?viewer= given). Answers req. */
void lt_live_ws_open(struct lt_app *app, struct lt_request *req, const char *stream,
                     const char *viewer, const char *source, bool implied_view);

/* SSE: one per worker. */
struct lt_sse_server *lt_sse_server_new(struct lt_app *app);
void lt_sse_server_free(struct lt_sse_server *srv);
size_t lt_sse_server_count(const struct lt_sse_server *srv);
void lt_sse_server_close_all(struct lt_sse_server *srv);
/* Answers req with an event stream of the stream's totals (after_seq: from
 * Last-Event-ID, -1 when none). */
void lt_sse_open(struct lt_sse_server *srv, struct lt_request *req, const char *stream,
                 int64_t after_seq);

#endif
