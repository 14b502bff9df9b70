/* HTTP/1.1 connections on raw sockets and libevent events (not evhttp: it
 * cannot hand a connection over to WebSocket in libevent 2.1 and accepts
 * requests that RFC 9112 rejects; not bufferevents: they wait a loop pass and
 * two epoll_ctl calls per answer, while we write straight to the socket when
 * nothing is queued).
 *
 * Each connection is a state machine (enum lt_conn_state in http_server.c,
 * changed only by conn_set_state). Requests are answered in order: while a
 * request's handler has not answered, the connection reads nothing more, so
 * pipelined requests wait in the input buffer and back-pressure reaches the
 * client's TCP window.
 *
 * Ownership: a struct lt_request belongs to its connection. The handler (or
 * whoever it hands the request to) must answer it exactly once with one of
 * the lt_respond* functions; after that the request and every pointer into it
 * are gone. The connection is never freed while a request is unanswered. */
#ifndef LIVETALLY_HTTP_SERVER_H
#define LIVETALLY_HTTP_SERVER_H

#include "livetally/base/strbuf.h"
#include "livetally/net/http_parse.h"
#include "livetally/net/http_response.h"
#include "livetally/net/request_id.h"

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct lt_config;
struct lt_http_server;
struct lt_http_conn;

struct lt_request {
    struct lt_http_request head; /* pointers into the connection's buffer */
    const char *body;            /* the whole body (de-chunked), not NUL-terminated */
    size_t body_len;
    const char *client_addr; /* peer, or X-Forwarded-For from a trusted proxy */
    struct lt_http_conn *conn;
    void *user; /* the server's user pointer (the app) */
    /* X-Request-Id (request_id.h): a trusted proxy's, else generated. Every
     * answer carries it, and log lines written while the handler runs (or
     * while lt_respond does) end with req=<id>. */
    char id[LT_REQUEST_ID_MAX + 1];
    /* Extra response headers added with lt_response_header, as header lines
     * in extra_store. They are our own (Allow, Retry-After, ETag, a
     * preflight's three, ...): the longest set is a fraction of 512 bytes.
     * One that does not fit, or has a byte not allowed on the wire, makes
     * the answer a 500 rather than a head with a header missing. */
    char extra_store[512];
    struct lt_strbuf extra;
};

/* Called for every complete request. */
typedef void lt_request_handler(struct lt_request *req);

/* The server owns a listening socket (already bound and listening, made by the
 * master; closed by lt_http_server_drain or lt_http_server_free) and the
 * connections it accepts. cfg must outlive the server; it may
 * be replaced with lt_http_server_set_config (SIGHUP). */
struct lt_http_server *lt_http_server_new(struct event_base *base, int listen_fd,
                                          const struct lt_config *cfg,
                                          lt_request_handler *handler, void *user);
void lt_http_server_set_config(struct lt_http_server *srv, const struct lt_config *cfg);

/* Stops accepting: takes the connections already in the listening socket's
 * queue, then closes the socket (a connect is refused once no other process
 * holds it either), and closes idle keep-alive connections. Connections
 * with a request under way, and those taken from the queue, get their
 * answer with "Connection: close". */
void lt_http_server_drain(struct lt_http_server *srv);
/* Connections still open. */
size_t lt_http_server_connections(const struct lt_http_server *srv);
/* Closes everything and frees the server. */
void lt_http_server_free(struct lt_http_server *srv);

/* Adds a response header for the coming answer ("Allow", "GET, HEAD"). A
 * name that is not a token, a value with a control byte, or more than
 * extra_store holds makes the answer 500 internal_error (a bug of ours:
 * values from a request are never put here unchecked). */
void lt_response_header(struct lt_request *req, const char *name, const char *value);

/* Answers with a body of that content type; HEAD requests get no body. */
void lt_respond(struct lt_request *req, int status, const char *content_type, const char *body,
                size_t body_len);
/* Answers with JSON text (compact) of obj, and drops the caller's reference. */
struct json_t;
void lt_respond_json(struct lt_request *req, int status, struct json_t *obj);
/* The contract's error body {"error": code, "message": message}. */
void lt_respond_error(struct lt_request *req, int status, const char *code, const char *message);

/* A socket handed over by lt_http_takeover. */
struct lt_takeover {
    int fd;
    char *leftover; /* bytes that came after the request, lt_malloc'd; NULL when none */
    size_t leftover_len;
    struct lt_http_server *srv; /* to call lt_http_server_release on when it closes */
    char peer[46];              /* the request's client address, as counted per client */
    /* The request's id, for the new owner's log lines. */
    char request_id[LT_REQUEST_ID_MAX + 1];
};

/* Hands the request's connection over to another protocol (WebSocket) or a
 * long-lived answer (SSE): the caller owns t->fd and writes every byte
 * itself from now on; the request is gone. The connection still counts
 * against limits.max_connections and limits.max_connections_per_client
 * (for t->peer) until the new owner calls
 * lt_http_server_release(t->srv, t->peer). Returns 0; or, while answers to earlier
 * pipelined requests are still being written, answers the request itself
 * (503 overloaded, Retry-After: 1) and returns LT_EAGAIN. */
int lt_http_takeover(struct lt_request *req, struct lt_takeover *t);
/* Was the connection accepted past limits.max_connections, or is its client
 * address (the TCP peer; behind a trusted proxy, the request's
 * X-Forwarded-For client) past limits.max_connections_per_client? Its
 * requests are then answered 503 overloaded (WebSocket upgrades: close
 * 1013) and it is closed after the answer. */
bool lt_request_over_limit(const struct lt_request *req);
/* A taken-over connection closed: it stops counting for both limits. */
void lt_http_server_release(struct lt_http_server *srv, const char *client_addr);
/* Connections counted against limits.max_connections: HTTP and taken over. */
size_t lt_http_server_load(const struct lt_http_server *srv);

/* Is this Origin allowed by cors.allowed_origins? */
bool lt_http_origin_allowed(const struct lt_config *cfg, const char *origin, size_t len);

/* Helpers for handlers (lt_status_reason is in http_response.h). */
/* The first header with that name, NUL-terminated into buf; NULL if absent. */
const char *lt_request_header(const struct lt_request *req, const char *name, char *buf,
                              size_t cap);

#endif
