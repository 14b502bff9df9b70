/* HTTP/1.1 connection state machine (see http_server.h for the design). */
#include "livetally/net/http_server.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/list.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/base/outq.h"
#include "livetally/base/strbuf.h"
#include "livetally/conf/config.h"
#include "livetally/net/client_cap.h"
#include "livetally/net/http_response.h"
#include "livetally/net/request_id.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Read at least this much per recv; the input buffer starts at this size. */
#define LT_READ_CHUNK 16384
/* Stop processing pipelined requests while this much output is queued. */
#define LT_OUTPUT_HIGH_WATER (256 * 1024)
/* Accepts per wake-up, so one listener cannot starve the loop. */
#define LT_ACCEPTS_PER_WAKE 64
/* At most this many connections taken from the accept queue when the drain
 * closes the listening socket (somaxconn is at most 65535 on most kernels;
 * what is left beyond is reset by the close). */
#define LT_DRAIN_ACCEPT_MAX 65536
/* Connections accepted past limits.max_connections only to be told so
 * politely (503, or WebSocket close 1013) on their first request; past
 * this many more, they are refused at once. */
#define LT_OVER_LIMIT_SLACK 64

enum lt_conn_state {
    CONN_NEW,       /* accepted; its events are armed by the move to IDLE */
    CONN_IDLE,      /* between requests: idle timeout running */
    CONN_READ_HEAD, /* bytes of a head arrived: header deadline running */
    CONN_READ_BODY, /* head parsed, body incomplete: idle timeout per read */
    CONN_HANDLING,  /* handler has the request; reading paused */
    CONN_CLOSING,   /* answer queued, close once it is written */
    CONN_CLOSED,    /* socket closed; freed when no callback holds it */
};

static const char *const state_names[] = {"new", "idle", "read_head", "read_body",
                                          "handling", "closing", "closed"};

struct lt_http_conn {
    struct lt_http_server *srv;
    struct lt_http_conn *prev, *next; /* server's list of connections */
    int fd;
    enum lt_conn_state state;
    const char *close_reason; /* for the log */
    struct event *read_ev;
    struct event *write_ev;
    struct event *timer;
    char peer[INET6_ADDRSTRLEN]; /* inet_ntop of the peer, or "local" */
    bool peer_trusted;
    bool over_limit; /* past max_connections or the client's cap: answer 503/1013 */
    /* The address this connection is counted for in srv->per_client: the
     * peer from accept on, or, for a trusted proxy's connection, the client
     * its latest request came from (so the count moves with it). */
    char cap_addr[INET6_ADDRSTRLEN];
    bool cap_held;

    char *in; /* raw input bytes */
    size_t in_len, in_cap;
    size_t head_scan; /* lt_http_head_end's resume position */
    struct lt_chunked chunked;
    char *chunked_body; /* de-chunked body */
    size_t chunked_cap; /* its size: the largest max_body_bytes seen so far */
    bool sent_continue;
    bool keep_alive; /* of the current request */
    bool answered;   /* one request answered at least: idle means kept alive */
    char xff_addr[INET6_ADDRSTRLEN]; /* client_address copies only what inet_pton accepted */

    struct lt_outq out; /* what the socket did not take yet */
    struct lt_request req;
    bool request_pending; /* a handler holds req and has not answered */
    int in_callback;      /* > 0 while a callback of ours is on the stack */
};

struct lt_http_server {
    struct event_base *base;
    const struct lt_config *cfg;
    int listen_fd;
    struct event *accept_ev;
    struct event *accept_retry;
    lt_request_handler *handler;
    void *user;
    struct lt_http_conn *conns;
    size_t n_conns;
    size_t n_taken;                  /* taken over (WebSocket, SSE), still counted */
    struct lt_client_cap per_client; /* open connections per client address */
    bool draining;
};

static void conn_process(struct lt_http_conn *c);
static void conn_close(struct lt_http_conn *c, const char *reason);

/* ---- per-client connection counts ------------------------------------- */

static void conn_cap_release(struct lt_http_conn *c)
{
    if (!c->cap_held)
        return;
    lt_client_cap_drop(&c->srv->per_client, c->cap_addr);
    c->cap_held = false;
}

/* Counts c for addr (moving its count from another address if it had one)
 * and returns the new count; the caller compares it with the cap. */
static size_t conn_cap_take(struct lt_http_conn *c, const char *addr)
{
    if (c->cap_held && strcmp(c->cap_addr, addr) == 0)
        return lt_client_cap_count(&c->srv->per_client, addr);
    conn_cap_release(c);
    snprintf(c->cap_addr, sizeof c->cap_addr, "%s", addr);
    c->cap_held = true;
    return lt_client_cap_add(&c->srv->per_client, c->cap_addr);
}

/* ---- small helpers ---------------------------------------------------- */

const char *lt_request_header(const struct lt_request *req, const char *name, char *buf,
                              size_t cap)
{
    const struct lt_http_header *h = lt_http_find_header(&req->head, name);
    if (!h || cap == 0)
        return NULL;
    size_t n = h->value_len < cap - 1 ? h->value_len : cap - 1;
    memcpy(buf, h->value, n);
    buf[n] = '\0';
    return buf;
}

static void conn_set_state(struct lt_http_conn *c, enum lt_conn_state state)
{
    const struct lt_config *cfg = c->srv->cfg;
    if (c->state == state)
        return;
    lt_debug("http", "conn %d %s -> %s", c->fd, state_names[c->state], state_names[state]);
    c->state = state;
    switch (state) {
    case CONN_IDLE: {
        struct timeval tv = {cfg->idle_timeout_ms / 1000, (cfg->idle_timeout_ms % 1000) * 1000};
        evtimer_add(c->timer, &tv);
        event_add(c->read_ev, NULL);
        break;
    }
    case CONN_READ_HEAD: {
        /* One deadline for the whole head, set when its first byte arrives
         * and never extended, so trickling bytes buys nothing. */
        struct timeval tv = {cfg->header_timeout_ms / 1000,
                             (cfg->header_timeout_ms % 1000) * 1000};
        evtimer_add(c->timer, &tv);
        break;
    }
    case CONN_READ_BODY: {
        struct timeval tv = {cfg->idle_timeout_ms / 1000, (cfg->idle_timeout_ms % 1000) * 1000};
        evtimer_add(c->timer, &tv);
        break;
    }
    case CONN_HANDLING:
        /* Nothing here: most handlers answer before they return, and an
         * event_del/event_add pair would cost two epoll_ctl calls per
         * request. dispatch() pauses reading when one does not. */
        break;
    case CONN_CLOSING:
        evtimer_del(c->timer);
        event_del(c->read_ev);
        break;
    case CONN_NEW:
    case CONN_CLOSED:
        break;
    }
}

/* ---- output ----------------------------------------------------------- */

static void on_write(evutil_socket_t fd, short what, void *arg);

/* Writes straight to the socket when nothing is queued; queues the rest
 * (outq.h). */
static void conn_send(struct lt_http_conn *c, const struct iovec *iov, int iovcnt)
{
    if (c->state == CONN_CLOSED)
        return;
    int rc = lt_outq_writev(&c->out, c->fd, iov, iovcnt);
    if (rc < 0)
        conn_close(c, "write error");
    else if (rc == 1)
        event_add(c->write_ev, NULL);
}

static bool conn_output_pending(const struct lt_http_conn *c)
{
    return lt_outq_pending(&c->out) > 0;
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct lt_http_conn *c = arg;
    c->in_callback++;
    int rc = lt_outq_flush(&c->out, fd);
    if (rc < 0) {
        conn_close(c, "write error");
    } else if (rc == 0) {
        event_del(c->write_ev);
        if (c->state == CONN_CLOSING)
            conn_close(c, c->close_reason ? c->close_reason : "closed after answer");
        else if (c->state != CONN_CLOSED && c->state != CONN_HANDLING) {
            event_add(c->read_ev, NULL);
            if (c->in_len > 0)
                conn_process(c); /* pipelined requests waited for the output */
        }
    }
    c->in_callback--;
    if (c->state == CONN_CLOSED && c->in_callback == 0)
        conn_close(c, NULL);
}

/* ---- answers ---------------------------------------------------------- */

bool lt_http_origin_allowed(const struct lt_config *cfg, const char *origin, size_t len)
{
    for (size_t i = 0; i < cfg->cors_allowed_origins.n; i++) {
        const char *o = cfg->cors_allowed_origins.items[i];
        if (strcmp(o, "*") == 0 || (strlen(o) == len && memcmp(o, origin, len) == 0))
            return true;
    }
    return false;
}

void lt_response_header(struct lt_request *req, const char *name, const char *value)
{
    /* A refusal (too long, or a byte not allowed on the wire) is sticky and
     * makes lt_respond answer 500 instead of a head missing a header. */
    lt_http_header_line(&req->extra, name, value, strlen(value));
}

static void request_reset_extra(struct lt_request *req)
{
    lt_strbuf_init_fixed(&req->extra, req->extra_store, sizeof req->extra_store);
}

/* Said when a head cannot be written (a handler's header refused): no
 * request data in it but the request's id (checked when it was chosen, and
 * at most LT_REQUEST_ID_MAX bytes), so it always can be. */
static const char head_failed_1[] =
    "HTTP/1.1 500 Internal Server Error\r\nServer: livetally\r\n"
    "Content-Type: application/json; charset=utf-8\r\nContent-Length: 77\r\n"
    "Connection: close\r\nX-Request-Id: ";
static const char head_failed_2[] =
    "\r\n\r\n"
    "{\"error\":\"internal_error\",\"message\":\"the answer's head could not be written\"}";

static void request_finished(struct lt_http_conn *c);

static void respond(struct lt_request *req, int status, const char *content_type,
                    const char *body, size_t body_len);

void lt_respond(struct lt_request *req, int status, const char *content_type, const char *body,
                size_t body_len)
{
    struct lt_http_conn *c = req->conn;
    c->request_pending = false;
    if (c->state == CONN_CLOSED) { /* the client left while we worked */
        conn_close(c, NULL);
        return;
    }
    /* An answer may come from a store callback, outside dispatch: name the
     * request in what is logged meanwhile, then put back what was named
     * (an outer request of this connection, or none). */
    const char *outer_id = lt_log_request();
    lt_log_set_request(req->id);
    respond(req, status, content_type, body, body_len);
    lt_log_set_request(outer_id);
}

static void respond(struct lt_request *req, int status, const char *content_type, const char *body,
                    size_t body_len)
{
    struct lt_http_conn *c = req->conn;
    const struct lt_config *cfg = c->srv->cfg;
    bool close_after = !c->keep_alive || c->srv->draining || c->over_limit;
    struct lt_response_head h = {
        .status = status,
        .date = lt_http_date(),
        .content_type = content_type,
        .content_length = (int64_t)body_len,
        .vary_origin = true,
        .request_id = req->id[0] ? req->id : NULL,
        .extra = lt_strbuf_text(&req->extra),
        .extra_len = req->extra.len,
        .connection = close_after ? "close" : NULL,
    };
    const struct lt_http_header *origin =
        req->head.n_headers ? lt_http_find_header(&req->head, "Origin") : NULL;
    if (origin && lt_http_origin_allowed(cfg, origin->value, origin->value_len)) {
        h.allow_origin = origin->value;
        h.allow_origin_len = origin->value_len;
    }
    /* Most heads fit on the stack. The echoed Origin is bounded by
     * limits.max_header_bytes (the parser's limit on the whole head), the
     * extra lines by extra_store, and the rest is ours and short, so this
     * max is never reached; if it were, the answer would be 500. */
    char stack[1024];
    char canned[sizeof head_failed_1 + LT_REQUEST_ID_MAX + sizeof head_failed_2];
    struct lt_strbuf head;
    lt_strbuf_init(&head, stack, sizeof stack,
                   (size_t)cfg->max_header_bytes + sizeof req->extra_store + 1024);
    int rc = lt_strbuf_failed(&req->extra) ? LT_EINVAL : lt_http_response_head(&head, &h);
    if (rc != 0) {
        lt_error("http", "the head of a %d answer could not be written (%s); answering 500",
                 status, lt_strerror(rc));
        lt_strbuf_free(&head);
        lt_strbuf_init_fixed(&head, canned, sizeof canned);
        lt_strbuf_add(&head, head_failed_1, sizeof head_failed_1 - 1);
        lt_strbuf_add_str(&head, req->id[0] ? req->id : "-");
        lt_strbuf_add(&head, head_failed_2, sizeof head_failed_2 - 1);
        status = 500;
        close_after = true;
        body = NULL; /* the head holds the whole canned answer */
        body_len = 0;
    }
    struct iovec iov[2] = {{head.data, head.len}, {(void *)body, body_len}};
    bool with_body = body_len > 0 && req->head.method != LT_HTTP_HEAD;
    conn_send(c, iov, with_body ? 2 : 1);
    lt_strbuf_free(&head);

    lt_metrics->http_requests_total++;
    if (status >= 500)
        lt_metrics->http_responses_5xx_total++;
    else if (status >= 400)
        lt_metrics->http_responses_4xx_total++;
    if (close_after && c->state != CONN_CLOSED) {
        c->close_reason = status == 400 ? "bad request" : status == 431 ? "headers too large"
                                                                        : "closed after answer";
        if (status == 400 || status == 431)
            lt_metrics->http_closed_bad_request_total++;
        conn_set_state(c, CONN_CLOSING);
        if (!conn_output_pending(c))
            conn_close(c, c->close_reason);
        return;
    }
    request_finished(c);
}

void lt_respond_json(struct lt_request *req, int status, json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    lt_respond(req, status, "application/json; charset=utf-8", text, text ? strlen(text) : 0);
    lt_free(text);
}

void lt_respond_error(struct lt_request *req, int status, const char *code, const char *message)
{
    json_t *obj = json_pack("{s:s, s:s}", "error", code, "message", message);
    lt_respond_json(req, status, obj);
}

/* Requests refused before a handler saw them are logged, at most
 * LT_FAIL_LOGS_PER_SECOND lines a second per worker so that a flood of bad
 * requests cannot flood the log too (the counters in /metrics see them
 * all). */
#define LT_FAIL_LOGS_PER_SECOND 20

static bool log_budget_left(void)
{
    static int64_t second;
    static int lines;
    int64_t now = lt_mono_ms() / 1000;
    if (now != second) {
        second = now;
        lines = 0;
    }
    return lines++ < LT_FAIL_LOGS_PER_SECOND;
}

/* The request's id (request_id.h), from its head when parsed is true. */
static void request_choose_id(struct lt_http_conn *c, bool parsed)
{
    const struct lt_http_header *h =
        parsed && c->peer_trusted ? lt_http_find_header(&c->req.head, "X-Request-Id") : NULL;
    lt_request_id_choose(c->peer_trusted, h ? h->value : NULL, h ? h->value_len : 0, c->req.id);
}

/* An error before a request could be formed (bad head, timeouts): answer and
 * close, with a request object that carries no headers. */
static void conn_fail(struct lt_http_conn *c, int status, const char *code, const char *message)
{
    /* A head that parsed (the state moved on to READ_BODY) may bring a
     * trusted proxy's id; anything earlier gets a new one. */
    request_choose_id(c, c->state == CONN_READ_BODY);
    memset(&c->req.head, 0, sizeof c->req.head);
    request_reset_extra(&c->req);
    c->req.conn = c;
    c->keep_alive = false;
    const char *outer_id = lt_log_request();
    lt_log_set_request(c->req.id);
    if (log_budget_left())
        lt_info("http", "%s: answered %d %s: %s", c->peer, status, code, message);
    lt_respond_error(&c->req, status, code, message);
    lt_log_set_request(outer_id);
}

/* ---- input ------------------------------------------------------------ */

static void conn_consume(struct lt_http_conn *c, size_t n)
{
    if (n >= c->in_len) {
        c->in_len = 0;
    } else {
        memmove(c->in, c->in + n, c->in_len - n);
        c->in_len -= n;
    }
    c->head_scan = 0;
}

/* The request was answered: drop its bytes and go on with pipelined ones. */
static void request_finished(struct lt_http_conn *c)
{
    size_t used = c->req.head.head_len;
    used += c->req.head.chunked ? c->chunked.in_pos : (size_t)c->req.head.content_length;
    bool was_handling = c->state == CONN_HANDLING;
    conn_consume(c, used);
    memset(&c->chunked, 0, sizeof c->chunked);
    c->sent_continue = false;
    c->req.head.head_len = 0;
    c->req.head.content_length = 0;
    c->req.head.chunked = false;
    c->answered = true;
    conn_set_state(c, CONN_IDLE);
    /* An asynchronous answer arrives outside our callbacks: resume here. */
    if (was_handling && c->in_callback == 0) {
        c->in_callback++;
        if (c->in_len > 0)
            conn_process(c);
        c->in_callback--;
        if (c->state == CONN_CLOSED)
            conn_close(c, NULL);
    }
}

static const char *client_address(struct lt_http_conn *c)
{
    if (!c->peer_trusted)
        return c->peer;
    const struct lt_http_header *xff = lt_http_find_header(&c->req.head, "X-Forwarded-For");
    if (!xff)
        return c->peer;
    /* Walk from the right: the last hop not itself a trusted proxy is the
     * client (RFC 7239 section 5.2 reasoning applied to X-Forwarded-For). */
    const char *v = xff->value;
    size_t end = xff->value_len;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && v[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && (v[a] == ' ' || v[a] == '\t'))
            a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
            b--;
        char addr[INET6_ADDRSTRLEN]; /* longer elements are refused below */
        if (b - a == 0 || b - a >= sizeof addr)
            break;
        memcpy(addr, v + a, b - a);
        addr[b - a] = '\0';
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof ss);
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1)
            s4->sin_family = AF_INET;
        else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1)
            s6->sin6_family = AF_INET6;
        else
            break;
        memcpy(c->xff_addr, addr, b - a + 1);
        if (!lt_config_is_trusted_proxy(c->srv->cfg, (struct sockaddr *)&ss))
            return c->xff_addr;
        end = start > 0 ? start - 1 : 0;
    }
    return c->xff_addr[0] ? c->xff_addr : c->peer;
}

static void dispatch(struct lt_http_conn *c, const char *body, size_t body_len)
{
    c->xff_addr[0] = '\0';
    c->req.body = body;
    c->req.body_len = body_len;
    c->req.conn = c;
    c->req.user = c->srv->user;
    request_reset_extra(&c->req);
    c->req.client_addr = client_address(c);
    /* A trusted proxy's connection is counted for the client its request
     * names, known only now; past the cap, this request is refused (503 or
     * 1013) and the connection closed after the answer. */
    if (c->peer_trusted && !c->over_limit &&
        lt_client_cap_over(conn_cap_take(c, c->req.client_addr),
                           c->srv->cfg->max_connections_per_client)) {
        lt_metrics->http_connections_refused_per_client_total++;
        c->over_limit = true;
    }
    c->keep_alive = c->req.head.keep_alive;
    request_choose_id(c, true);
    conn_set_state(c, CONN_HANDLING);
    c->request_pending = true;
    const char *outer_id = lt_log_request();
    lt_log_set_request(c->req.id);
    c->srv->handler(&c->req);
    lt_log_set_request(outer_id);
    if (c->request_pending && c->state == CONN_HANDLING) {
        /* Answered later: read nothing more until then (pipelined requests
         * wait in the buffer, back-pressure reaches the client). Reading
         * is paused by on_read, when bytes come before the answer: an
         * answer later in this loop pass (an event's, once the spool has
         * written it) then costs no epoll_ctl at all. */
        evtimer_del(c->timer);
    }
}

/* Parses and dispatches as many buffered requests as possible. */
static void conn_process(struct lt_http_conn *c)
{
    const struct lt_config *cfg = c->srv->cfg;
    while (c->state != CONN_CLOSED && c->state != CONN_CLOSING && c->state != CONN_HANDLING &&
           c->in_len > 0) {
        if (lt_outq_pending(&c->out) > LT_OUTPUT_HIGH_WATER) {
            /* The client does not read its answers: stop reading its
             * requests until on_write drains the queue. */
            event_del(c->read_ev);
            return;
        }
        /* Empty lines before a request line (RFC 9112 2.2) are left to the
         * parser, which allows a few CRLFs there. */
        if (c->state == CONN_IDLE)
            conn_set_state(c, CONN_READ_HEAD);
        if (c->state == CONN_READ_HEAD) {
            long end = lt_http_head_end(c->in, c->in_len, (size_t)cfg->max_header_bytes,
                                        &c->head_scan);
            if (end == LT_HTTP_NEED_MORE)
                return;
            if (end == LT_HTTP_TOO_LARGE) {
                conn_fail(c, 431, "headers_too_large", "the header section is too large");
                return;
            }
            long r = lt_http_parse_head(c->in, (size_t)end, &c->req.head);
            if (r < 0) {
                const char *why = c->req.head.error ? c->req.head.error : "malformed request";
                if (r == LT_HTTP_TOO_LARGE)
                    conn_fail(c, 431, "headers_too_large", why);
                else if (r == LT_HTTP_NOT_IMPLEMENTED)
                    conn_fail(c, 501, "bad_request", why);
                else
                    conn_fail(c, 400, "bad_request", why);
                return;
            }
            conn_set_state(c, CONN_READ_BODY);
            if (c->req.head.content_length > (uint64_t)cfg->max_body_bytes) {
                conn_fail(c, 413, "too_large", "the request body is too large");
                return;
            }
        }
        /* CONN_READ_BODY */
        struct lt_http_request *h = &c->req.head;
        size_t avail = c->in_len - h->head_len;
        if (h->chunked) {
            /* A reload may change max_body_bytes while this connection keeps
             * its buffer: grow it (keeping what is decoded) before the limit
             * is used as its size, and never pass a limit below what is
             * decoded already (the parser subtracts one from the other). */
            size_t limit = (size_t)cfg->max_body_bytes;
            if (c->chunked_cap < limit) {
                c->chunked_body = lt_realloc(c->chunked_body, limit);
                c->chunked_cap = limit;
            }
            if (limit < c->chunked.out_len)
                limit = c->chunked.out_len;
            int r =
                lt_chunked_step(&c->chunked, c->in + h->head_len, avail, c->chunked_body, limit);
            if (r == LT_HTTP_BODY_TOO_LARGE) {
                conn_fail(c, 413, "too_large", "the request body is too large");
                return;
            }
            if (r < 0) {
                conn_fail(c, 400, "bad_request", "malformed chunked body");
                return;
            }
            if (r == LT_HTTP_NEED_MORE)
                goto need_body;
            dispatch(c, c->chunked_body, c->chunked.out_len);
        } else {
            if (avail < h->content_length)
                goto need_body;
            dispatch(c, c->in + h->head_len, (size_t)h->content_length);
        }
        continue;
    need_body:
        if (h->expect_continue && !c->sent_continue && h->version_minor == 1) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            struct iovec iov = {(void *)cont, sizeof cont - 1};
            c->sent_continue = true;
            conn_send(c, &iov, 1);
        }
        return;
    }
}

/* Reads what the socket has and processes it. */
static void conn_read(struct lt_http_conn *c)
{
    const struct lt_config *cfg = c->srv->cfg;
    /* Room for a full head and body, plus chunk framing. */
    size_t limit = (size_t)cfg->max_header_bytes + 2 * (size_t)cfg->max_body_bytes + 4096;
    if (c->in_cap - c->in_len < LT_READ_CHUNK / 4 && c->in_cap < limit) {
        size_t cap = c->in_cap ? c->in_cap * 2 : LT_READ_CHUNK;
        if (cap > limit)
            cap = limit;
        char *old = c->in;
        c->in = lt_realloc(c->in, cap);
        c->in_cap = cap;
        /* The parsed head points into the buffer: parse it again where the
         * buffer now is (cheap, and simpler than moving every pointer). */
        if (c->in != old && c->state == CONN_READ_BODY)
            lt_http_parse_head(c->in, c->req.head.head_len, &c->req.head);
    }
    if (c->in_len == c->in_cap) {
        conn_fail(c, 413, "too_large", "the request is too large");
        return;
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n == 0) {
        conn_close(c, "peer closed");
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            conn_close(c, "read error");
        return;
    }
    c->in_len += (size_t)n;
    if (c->state == CONN_READ_BODY) {
        struct timeval tv = {cfg->idle_timeout_ms / 1000, (cfg->idle_timeout_ms % 1000) * 1000};
        evtimer_add(c->timer, &tv);
    }
    conn_process(c);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_http_conn *c = arg;
    if (c->state == CONN_HANDLING) {
        event_del(c->read_ev); /* until the answer (CONN_IDLE adds it again) */
        return;
    }
    c->in_callback++;
    conn_read(c);
    /* An idle connection keeps no input buffer: most are idle most of the time. */
    if (c->state == CONN_IDLE && c->in_len == 0 && c->in) {
        lt_free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
    c->in_callback--;
    if (c->state == CONN_CLOSED && c->in_callback == 0)
        conn_close(c, NULL);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_http_conn *c = arg;
    c->in_callback++;
    lt_metrics->http_closed_timeout_total++;
    if (c->state == CONN_READ_HEAD || c->state == CONN_READ_BODY)
        conn_fail(c, 408, "request_timeout", "the request did not arrive in time");
    else
        conn_close(c, "idle timeout");
    c->in_callback--;
    if (c->state == CONN_CLOSED && c->in_callback == 0)
        conn_close(c, NULL);
}

/* Closes the socket at once; the memory goes when no callback of ours is on
 * the stack (in_callback) and no handler holds the request. A second call
 * with reason NULL performs that deferred free. */
static void conn_close(struct lt_http_conn *c, const char *reason)
{
    struct lt_http_server *srv = c->srv;
    if (c->state != CONN_CLOSED) {
        if (reason)
            lt_debug("http", "closing %s fd %d: %s", c->peer, c->fd, reason);
        event_del(c->read_ev);
        event_del(c->write_ev);
        evtimer_del(c->timer);
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        c->state = CONN_CLOSED;
        conn_cap_release(c);
        lt_metrics->http_connections_open--;
    }
    /* A handler still holding the request answers into the void later, and
     * lt_respond on a closed connection comes back here to free it. */
    if (c->in_callback > 0 || c->request_pending)
        return;
    LT_LIST_REMOVE(srv->conns, c);
    srv->n_conns--;
    event_free(c->read_ev);
    event_free(c->write_ev);
    event_free(c->timer);
    lt_outq_free(&c->out);
    lt_free(c->in);
    lt_free(c->chunked_body);
    lt_free(c);
}

/* ---- accepting -------------------------------------------------------- */

static void refuse_connection(int fd)
{
    static const char busy_1[] =
        "HTTP/1.1 503 Service Unavailable\r\nServer: livetally\r\nContent-Type: application/json; "
        "charset=utf-8\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 70\r\n"
        "X-Request-Id: ";
    static const char busy_2[] =
        "\r\n\r\n{\"error\":\"overloaded\",\"message\":\"too many connections, retry shortly\"}";
    char id[LT_REQUEST_ID_MAX + 1];
    size_t id_len = lt_request_id_generate(id);
    struct iovec iov[3] = {
        {(void *)busy_1, sizeof busy_1 - 1}, {id, id_len}, {(void *)busy_2, sizeof busy_2 - 1}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 3};
    ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
    close(fd);
}

/* Accepts up to max connections from the listening socket's queue. Returns
 * true when it stopped short: the queue is empty (or accept failed). */
static bool accept_some(struct lt_http_server *srv, int max)
{
    for (int i = 0; i < max; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(srv->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue; /* that one is gone; the queue may hold more */
            if ((errno == EMFILE || errno == ENFILE) && !srv->draining) {
                /* Out of descriptors: pause accepting for a moment rather
                 * than spin on a listener that stays readable. */
                lt_warn("http", "accept: %s; pausing accepts for 100 ms", strerror(errno));
                event_del(srv->accept_ev);
                struct timeval tv = {0, 100000};
                evtimer_add(srv->accept_retry, &tv);
            }
            return true;
        }
        lt_metrics->http_connections_accepted_total++;
        size_t load = srv->n_conns + srv->n_taken;
        if (load >= (size_t)srv->cfg->max_connections + LT_OVER_LIMIT_SLACK) {
            lt_metrics->http_connections_refused_total++;
            refuse_connection(fd);
            continue;
        }
        char peer[INET6_ADDRSTRLEN];
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, peer, sizeof peer);
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, peer, sizeof peer);
        else
            snprintf(peer, sizeof peer, "local");
        bool trusted = lt_config_is_trusted_proxy(srv->cfg, (struct sockaddr *)&ss);
        /* A direct client is counted by its TCP peer address from accept on;
         * a trusted proxy's connection only once a request names its client
         * (dispatch). Past the cap a connection is kept to be told politely
         * on its first request, like one past max_connections, but only up
         * to LT_OVER_LIMIT_SLACK more per address: beyond, refused at once. */
        int per_client = srv->cfg->max_connections_per_client;
        size_t mine = trusted ? 0 : lt_client_cap_count(&srv->per_client, peer) + 1;
        if (lt_client_cap_over(mine, per_client) &&
            mine > (size_t)per_client + LT_OVER_LIMIT_SLACK) {
            lt_metrics->http_connections_refused_per_client_total++;
            refuse_connection(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct lt_http_conn *c = lt_calloc(1, sizeof *c);
        c->srv = srv;
        c->fd = fd;
        c->state = CONN_NEW;
        memcpy(c->peer, peer, sizeof c->peer);
        c->peer_trusted = trusted;
        c->over_limit = load >= (size_t)srv->cfg->max_connections;
        if (!trusted && lt_client_cap_over(conn_cap_take(c, peer), per_client)) {
            lt_metrics->http_connections_refused_per_client_total++;
            c->over_limit = true;
        }
        c->read_ev = event_new(srv->base, fd, EV_READ | EV_PERSIST, on_read, c);
        c->write_ev = event_new(srv->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
        c->timer = evtimer_new(srv->base, on_timer, c);
        LT_LIST_PUSH(srv->conns, c);
        srv->n_conns++;
        lt_metrics->http_connections_open++;
        conn_set_state(c, CONN_IDLE);
    }
    return false;
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    (void)lfd;
    (void)what;
    accept_some(arg, LT_ACCEPTS_PER_WAKE);
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_http_server *srv = arg;
    if (!srv->draining)
        event_add(srv->accept_ev, NULL);
}

struct lt_http_server *lt_http_server_new(struct event_base *base, int listen_fd,
                                          const struct lt_config *cfg,
                                          lt_request_handler *handler, void *user)
{
    struct lt_http_server *srv = lt_calloc(1, sizeof *srv);
    srv->base = base;
    srv->cfg = cfg;
    srv->listen_fd = listen_fd;
    srv->handler = handler;
    srv->user = user;
    lt_client_cap_init(&srv->per_client);
    srv->accept_ev = event_new(base, listen_fd, EV_READ | EV_PERSIST, on_accept, srv);
    srv->accept_retry = evtimer_new(base, on_accept_retry, srv);
    event_add(srv->accept_ev, NULL);
    return srv;
}

void lt_http_server_set_config(struct lt_http_server *srv, const struct lt_config *cfg)
{
    srv->cfg = cfg;
}

void lt_http_server_drain(struct lt_http_server *srv)
{
    if (srv->draining)
        return;
    srv->draining = true;
    event_del(srv->accept_ev);
    evtimer_del(srv->accept_retry);
    /* Connections the kernel already took for us are accepted and served
     * (their answers say Connection: close) rather than reset at exit;
     * then the socket is closed, so that once every process holding it
     * (the master too: listen.h) has closed it, a connect is refused at
     * once and a proxy goes to another instance. */
    uint64_t before = lt_metrics->http_connections_accepted_total;
    for (int n = 0; n < LT_DRAIN_ACCEPT_MAX; n += LT_ACCEPTS_PER_WAKE)
        if (accept_some(srv, LT_ACCEPTS_PER_WAKE))
            break;
    close(srv->listen_fd);
    srv->listen_fd = -1;
    lt_info("http", "listening socket closed; %llu connections taken from its queue",
            (unsigned long long)(lt_metrics->http_connections_accepted_total - before));
    /* Idle keep-alive connections go now; one that has not sent its first
     * request yet gets the chance (a proxy sends it right after connect). */
    struct lt_http_conn *c = srv->conns;
    while (c) {
        struct lt_http_conn *next = c->next;
        if (c->answered && c->state == CONN_IDLE && c->in_len == 0 && !conn_output_pending(c))
            conn_close(c, "server shutting down");
        c = next;
    }
}

size_t lt_http_server_connections(const struct lt_http_server *srv)
{
    return srv->n_conns;
}

size_t lt_http_server_load(const struct lt_http_server *srv)
{
    return srv->n_conns + srv->n_taken;
}

bool lt_request_over_limit(const struct lt_request *req)
{
    return req->conn->over_limit;
}

void lt_http_server_release(struct lt_http_server *srv, const char *client_addr)
{
    if (srv->n_taken > 0)
        srv->n_taken--;
    lt_client_cap_drop(&srv->per_client, client_addr);
}

int lt_http_takeover(struct lt_request *req, struct lt_takeover *t)
{
    struct lt_http_conn *c = req->conn;
    if (conn_output_pending(c) || c->state == CONN_CLOSED) {
        lt_response_header(req, "Retry-After", "1");
        lt_respond_error(req, 503, "overloaded", "answers to earlier requests are still queued");
        return LT_EAGAIN;
    }
    size_t used = c->req.head.head_len +
                  (c->req.head.chunked ? c->chunked.in_pos : (size_t)c->req.head.content_length);
    t->leftover = NULL;
    t->leftover_len = 0;
    if (c->in_len > used) {
        t->leftover_len = c->in_len - used;
        t->leftover = lt_malloc(t->leftover_len);
        memcpy(t->leftover, c->in + used, t->leftover_len);
    }
    t->srv = c->srv;
    /* The connection's count goes with it: the new owner drops it by this
     * address in lt_http_server_release. */
    if (!c->cap_held)
        conn_cap_take(c, req->client_addr);
    snprintf(t->peer, sizeof t->peer, "%s", c->cap_addr);
    c->cap_held = false;
    memcpy(t->request_id, req->id, sizeof t->request_id);
    t->fd = c->fd;
    c->fd = -1; /* conn_close must not close it now */
    c->request_pending = false;
    c->srv->n_taken++;
    lt_metrics->http_requests_total++;
    conn_close(c, "taken over");
    return 0;
}

void lt_http_server_free(struct lt_http_server *srv)
{
    while (srv->conns) {
        struct lt_http_conn *c = srv->conns;
        c->in_callback = 0;
        c->request_pending = false; /* the loop is gone; nobody will answer */
        conn_close(c, "server stopped");
        if (srv->conns == c)
            conn_close(c, NULL);
    }
    event_free(srv->accept_ev);
    event_free(srv->accept_retry);
    if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    lt_client_cap_free(&srv->per_client);
    lt_free(srv);
}
