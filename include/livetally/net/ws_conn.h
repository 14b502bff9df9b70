/* WebSocket connections (RFC 6455) on sockets taken over from the HTTP
 * server: the opening handshake, frames (ws_frame.h) read straight from the
 * input buffer, ping/pong, the close handshake, idle pings, and a cap on
 * pending output. What the messages mean is the owner's business
 * (ws_api.c for livetally, tests/ws_echo for the echo server): it gets
 * callbacks and sends text or pre-framed shared buffers.
 *
 * Each connection is a state machine (enum in ws_conn.c, changed in one
 * place); the close reason is kept for the log and /metrics. A connection is
 * freed after on_closed has run and no reference (lt_ws_ref) is held, never
 * inside one of its own callbacks. */
#ifndef LIVETALLY_WS_CONN_H
#define LIVETALLY_WS_CONN_H

#include "livetally/net/http_server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct lt_shared;
struct lt_ws_server;
struct lt_ws_conn;

struct lt_ws_settings {
    size_t max_message;        /* limits.max_ws_message_bytes: over it, 1009 */
    int idle_timeout_ms;       /* ping after half of it in silence, drop at the end */
    size_t max_pending_output; /* a slower reader is dropped (1008) */
    bool allow_binary;         /* false: binary messages close with 1003 */
};

struct lt_ws_handlers {
    /* A complete text message (valid UTF-8), not NUL-terminated. */
    void (*on_text)(struct lt_ws_conn *conn, const char *data, size_t len, void *arg);
    /* A complete binary message (only with allow_binary). May be NULL. */
    void (*on_binary)(struct lt_ws_conn *conn, const uint8_t *data, size_t len, void *arg);
    /* The connection is closing (for whatever reason); drop what refers to
     * it. Called once. Sends are ignored from here on. */
    void (*on_closed)(struct lt_ws_conn *conn, void *arg);
};

/* One per event loop: the open connections, their idle sweep, counts. */
struct lt_ws_server *lt_ws_server_new(struct event_base *base, const struct lt_ws_settings *s);
void lt_ws_server_set_settings(struct lt_ws_server *srv, const struct lt_ws_settings *s);
size_t lt_ws_server_count(const struct lt_ws_server *srv);
/* Starts the close handshake on every connection (SIGTERM: 1001). */
void lt_ws_server_close_all(struct lt_ws_server *srv, uint16_t code, const char *reason);
/* Frees the server and every connection (no handshake; the loop is ending). */
void lt_ws_server_free(struct lt_ws_server *srv);

/* Checks that req is a valid WebSocket upgrade. Returns 0, or answers the
 * request itself (400 bad_request, 426 with Sec-WebSocket-Version: 13) and
 * returns LT_EINVAL. */
int lt_ws_check_upgrade(struct lt_request *req);

/* Answers 101, takes the socket over and returns the connection (handlers
 * and arg are the owner's). Call after lt_ws_check_upgrade. Returns NULL
 * after answering 503 when the socket cannot be taken over now. */
struct lt_ws_conn *lt_ws_accept(struct lt_ws_server *srv, struct lt_request *req,
                                const struct lt_ws_handlers *handlers, void *arg);

/* Sends a text message (copied into one frame). */
void lt_ws_send_text(struct lt_ws_conn *conn, const char *data, size_t len);
/* Sends a binary message (copied into one frame). */
void lt_ws_send_binary(struct lt_ws_conn *conn, const uint8_t *data, size_t len);
/* Sends bytes that are already a whole frame, by reference. */
void lt_ws_send_frame(struct lt_ws_conn *conn, struct lt_shared *frame);
/* A whole unmasked text frame of json, for lt_ws_send_frame to many. */
struct lt_shared *lt_ws_text_frame(const char *data, size_t len);

/* Starts the close handshake: sends the close frame, stops reading
 * messages, and closes TCP when the peer answers (or after a short wait). */
void lt_ws_close(struct lt_ws_conn *conn, uint16_t code, const char *reason);

/* Keeps the connection's memory alive across an asynchronous operation. */
void lt_ws_ref(struct lt_ws_conn *conn);
void lt_ws_unref(struct lt_ws_conn *conn);
bool lt_ws_is_open(const struct lt_ws_conn *conn);
void *lt_ws_arg(const struct lt_ws_conn *conn);
const char *lt_ws_peer(const struct lt_ws_conn *conn);

#endif
