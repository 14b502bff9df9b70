/* WebSocket connections (see ws_conn.h). */
#include "livetally/net/ws_conn.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/list.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/base/outq.h"
#include "livetally/base/shared_buf.h"
#include "livetally/base/strbuf.h"
#include "livetally/net/http_response.h"
#include "livetally/net/ws_frame.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* One read takes at most this much; complete frames are handled straight
 * from this scratch buffer, so an idle connection keeps no input buffer. */
#define LT_WS_SCRATCH 65536
/* How long we wait for the peer's close frame after sending ours. */
#define LT_WS_CLOSE_WAIT_MS 2000

enum ws_state {
    WS_OPEN,    /* messages flow */
    WS_CLOSING, /* our close frame is out; waiting for the peer's */
    WS_DRAIN,   /* nothing more to read; close TCP once the output is written */
    WS_CLOSED,  /* socket closed; freed when the last reference goes */
};

static const char *const state_names[] = {"open", "closing", "drain", "closed"};

struct lt_ws_conn {
    struct lt_ws_conn *prev, *next;
    struct lt_ws_server *srv;
    struct lt_http_server *http; /* released when the socket closes */
    int fd;
    enum ws_state state;
    const char *close_reason;
    struct event *ev_read;
    struct event *ev_write;
    uint8_t *in; /* a partial frame carried to the next read, else NULL */
    size_t in_len;
    struct lt_ws_reader reader;
    struct lt_outq out;
    const struct lt_ws_handlers *h;
    void *arg;
    int64_t last_rx_ms;
    int64_t closing_ms;
    bool ping_out;
    bool notified;
    bool settling; /* on the server's settle list */
    struct lt_ws_conn *settle_next;
    bool unprocessed; /* in holds bytes that came with the handshake */
    int refs; /* lt_ws_ref holders */
    char peer[46]; /* INET6_ADDRSTRLEN, as lt_takeover.peer */
    /* The upgrade request's id, named in log lines about the connection. */
    char request_id[LT_REQUEST_ID_MAX + 1];
};

struct lt_ws_server {
    struct event_base *base;
    struct lt_ws_settings settings;
    struct lt_ws_conn *conns;
    size_t count;
    struct event *sweep;
    struct event *settle; /* runs on_closed and frees, outside every callback */
    struct lt_ws_conn *settle_list;
    uint8_t *scratch;
};

/* Log lines about a connection name its upgrade request (log.h): set
 * around our callbacks, putting back what was named before. */
static const char *log_enter(const struct lt_ws_conn *c)
{
    const char *outer = lt_log_request();
    lt_log_set_request(c->request_id);
    return outer;
}

static void schedule_settle(struct lt_ws_conn *c)
{
    if (c->settling)
        return;
    c->settling = true;
    c->settle_next = c->srv->settle_list;
    c->srv->settle_list = c;
    event_active(c->srv->settle, EV_TIMEOUT, 1);
}

static void conn_set_state(struct lt_ws_conn *c, enum ws_state state, const char *reason)
{
    if (c->state == state)
        return;
    lt_debug("ws", "%s fd %d: %s -> %s (%s)", c->peer, c->fd, state_names[c->state],
             state_names[state], reason ? reason : "");
    c->state = state;
    if (reason)
        c->close_reason = reason;
    /* Leaving OPEN: the owner hears of it soon (its subscribers stop
     * counting online), from the settle event, never from inside a call of
     * its own or one of ours. */
    schedule_settle(c);
}

static void conn_free(struct lt_ws_conn *c)
{
    lt_ws_reader_free(&c->reader);
    lt_free(c->in);
    lt_free(c);
}

static void on_settle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_ws_server *srv = arg;
    while (srv->settle_list) {
        struct lt_ws_conn *c = srv->settle_list;
        srv->settle_list = c->settle_next;
        c->settling = false;
        if (!c->notified) {
            c->notified = true;
            const char *outer = log_enter(c);
            if (c->h->on_closed)
                c->h->on_closed(c, c->arg);
            lt_log_set_request(outer);
        }
        if (c->state == WS_CLOSED && c->refs == 0)
            conn_free(c);
    }
}

/* Closes the socket now; the owner is told and the memory freed by the
 * settle event. */
static void conn_finish(struct lt_ws_conn *c, const char *reason)
{
    if (c->state == WS_CLOSED)
        return;
    struct lt_ws_server *srv = c->srv;
    conn_set_state(c, WS_CLOSED, reason);
    lt_debug("ws", "%s closed: %s", c->peer, c->close_reason ? c->close_reason : "");
    event_free(c->ev_read);
    event_free(c->ev_write);
    lt_outq_free(&c->out);
    close(c->fd);
    c->fd = -1;
    lt_http_server_release(c->http, c->peer);
    LT_LIST_REMOVE(srv->conns, c);
    srv->count--;
    lt_metrics->ws_connections_open--;
}

/* ---- output ----------------------------------------------------------- */

static void after_send(struct lt_ws_conn *c, int rc)
{
    if (rc < 0) {
        conn_finish(c, "write error");
        return;
    }
    if (rc == 1) {
        if (lt_outq_pending(&c->out) > c->srv->settings.max_pending_output) {
            const char *outer = log_enter(c); /* fan-out sends outside our callbacks */
            lt_warn("ws", "dropping %s: %zu bytes of output pending (a reader too slow)",
                    c->peer, lt_outq_pending(&c->out));
            lt_log_set_request(outer);
            lt_metrics->ws_dropped_slow_total++;
            conn_finish(c, "too slow");
            return;
        }
        event_add(c->ev_write, NULL);
    } else if (c->state == WS_DRAIN) {
        conn_finish(c, NULL);
    }
}

static void send_frame(struct lt_ws_conn *c, enum lt_ws_opcode op, const void *data, size_t len)
{
    if (c->state == WS_CLOSED)
        return;
    uint8_t head[14]; /* lt_ws_frame_header's most */
    size_t hl = lt_ws_frame_header(head, op, len, NULL);
    struct iovec iov[2] = {{head, hl}, {(void *)data, len}};
    after_send(c, lt_outq_writev(&c->out, c->fd, iov, len ? 2 : 1));
}

void lt_ws_send_text(struct lt_ws_conn *c, const char *data, size_t len)
{
    if (c->state != WS_OPEN)
        return;
    send_frame(c, LT_WS_OP_TEXT, data, len);
}

void lt_ws_send_binary(struct lt_ws_conn *c, const uint8_t *data, size_t len)
{
    if (c->state != WS_OPEN)
        return;
    send_frame(c, LT_WS_OP_BINARY, data, len);
}

void lt_ws_send_frame(struct lt_ws_conn *c, struct lt_shared *frame)
{
    if (c->state != WS_OPEN)
        return;
    lt_metrics->ws_frames_pushed_total++;
    after_send(c, lt_outq_write_shared(&c->out, c->fd, frame));
}

struct lt_shared *lt_ws_text_frame(const char *data, size_t len)
{
    uint8_t head[14]; /* lt_ws_frame_header's most */
    size_t hl = lt_ws_frame_header(head, LT_WS_OP_TEXT, len, NULL);
    struct lt_shared *b = lt_shared_new(hl + len);
    memcpy(b->data, head, hl);
    memcpy(b->data + hl, data, len);
    return b;
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_ws_conn *c = arg;
    const char *outer = log_enter(c);
    int rc = lt_outq_flush(&c->out, c->fd);
    if (rc < 0) {
        conn_finish(c, "write error");
    } else if (rc == 0) {
        event_del(c->ev_write);
        if (c->state == WS_DRAIN)
            conn_finish(c, NULL);
    }
    lt_log_set_request(outer);
}

void lt_ws_close(struct lt_ws_conn *c, uint16_t code, const char *reason)
{
    if (c->state != WS_OPEN)
        return;
    uint8_t frame[127]; /* lt_ws_close_frame cuts the reason to fit (ws_frame.h) */
    size_t n = lt_ws_close_frame(frame, code, reason);
    struct iovec iov = {frame, n};
    conn_set_state(c, WS_CLOSING, reason);
    c->closing_ms = lt_mono_ms();
    after_send(c, lt_outq_writev(&c->out, c->fd, &iov, 1));
}

/* A protocol error: say why and close TCP once that is written. */
static void fail(struct lt_ws_conn *c, uint16_t code, const char *reason)
{
    if (c->state == WS_OPEN) {
        uint8_t frame[127]; /* lt_ws_close_frame cuts the reason to fit */
        size_t n = lt_ws_close_frame(frame, code, reason);
        struct iovec iov = {frame, n};
        conn_set_state(c, WS_DRAIN, reason);
        lt_metrics->ws_protocol_errors_total++;
        after_send(c, lt_outq_writev(&c->out, c->fd, &iov, 1));
    } else {
        conn_finish(c, reason);
    }
}

/* ---- input ------------------------------------------------------------ */

/* Handles the complete frames at the start of buf; returns bytes used. */
static size_t handle_frames(struct lt_ws_conn *c, uint8_t *buf, size_t len)
{
    size_t used = 0;
    while (c->state == WS_OPEN || c->state == WS_CLOSING) {
        struct lt_ws_event ev;
        size_t consumed = 0;
        enum lt_ws_event_type t = lt_ws_read(&c->reader, buf + used, len - used, &consumed, &ev);
        used += consumed;
        switch (t) {
        case LT_WS_NEED_MORE:
            return used;
        case LT_WS_FRAGMENT:
            break; /* the reader keeps it until the message is complete */
        case LT_WS_TEXT:
            if (c->state == WS_OPEN) {
                lt_metrics->ws_messages_received_total++;
                c->h->on_text(c, (const char *)ev.data, ev.len, c->arg);
            }
            break;
        case LT_WS_BINARY:
            if (c->state == WS_OPEN && c->h->on_binary)
                c->h->on_binary(c, ev.data, ev.len, c->arg);
            break;
        case LT_WS_PING:
            if (c->state == WS_OPEN)
                send_frame(c, LT_WS_OP_PONG, ev.data, ev.len);
            break;
        case LT_WS_PONG:
            c->ping_out = false;
            break;
        case LT_WS_CLOSE:
            if (c->state == WS_CLOSING) {
                conn_finish(c, NULL); /* our close answered: we close TCP */
            } else {
                /* Echo the code (RFC 6455 5.5.1), then close TCP ourselves. */
                uint8_t frame[127]; /* lt_ws_close_frame cuts the reason to fit */
                size_t n = ev.close_code == LT_WS_CLOSE_NO_STATUS
                               ? lt_ws_frame_header(frame, LT_WS_OP_CLOSE, 0, NULL)
                               : lt_ws_close_frame(frame, ev.close_code, "");
                struct iovec iov = {frame, n};
                conn_set_state(c, WS_DRAIN, "closed by the peer");
                after_send(c, lt_outq_writev(&c->out, c->fd, &iov, 1));
            }
            return used;
        case LT_WS_ERROR:
            fail(c, ev.close_code, ev.reason);
            return used;
        }
    }
    return used;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct lt_ws_conn *c = arg;
    struct lt_ws_server *srv = c->srv;
    const char *outer = log_enter(c); /* the memory outlives this callback */
    /* Without a partial frame waiting, read into the shared scratch buffer
     * and keep only what is left of an incomplete frame; with one, read
     * behind it in the connection's own buffer. */
    uint8_t *buf;
    size_t have, room;
    if (c->in_len == 0) {
        buf = srv->scratch;
        have = 0;
        room = LT_WS_SCRATCH;
    } else {
        size_t cap = c->in_len + LT_WS_SCRATCH / 4;
        c->in = lt_realloc(c->in, cap);
        buf = c->in;
        have = c->in_len;
        room = cap - have;
    }
    ssize_t n = recv(fd, buf + have, room, 0);
    bool leftover = c->unprocessed;
    c->unprocessed = false;
    if (n < 0 && (errno == EAGAIN || errno == EINTR) && leftover)
        n = 0; /* nothing new, but bytes from the handshake's packet wait */
    else if (n == 0)
        conn_finish(c, "peer closed");
    else if (n < 0 && errno != EAGAIN && errno != EINTR)
        conn_finish(c, "read error");
    if (n >= 0 && c->state != WS_CLOSED) {
        c->last_rx_ms = lt_mono_ms();
        c->ping_out = false;
        size_t len = have + (size_t)n;
        size_t used = handle_frames(c, buf, len);
        size_t rest = c->state == WS_CLOSED ? 0 : len - used;
        if (buf == c->in) {
            memmove(c->in, c->in + used, rest);
        } else if (rest) {
            c->in = lt_malloc(rest);
            memcpy(c->in, buf + used, rest);
        }
        c->in_len = rest;
        if (rest == 0) {
            lt_free(c->in);
            c->in = NULL;
        }
    }
    lt_log_set_request(outer);
}

/* ---- idle sweep ------------------------------------------------------- */

static int sweep_interval_ms(const struct lt_ws_settings *s)
{
    int ms = s->idle_timeout_ms / 4;
    return ms < 25 ? 25 : ms > 1000 ? 1000 : ms;
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_ws_server *srv = arg;
    int64_t now = lt_mono_ms();
    int idle = srv->settings.idle_timeout_ms;
    struct lt_ws_conn *c = srv->conns;
    while (c) {
        struct lt_ws_conn *next = c->next;
        const char *outer = log_enter(c);
        int64_t silent = now - c->last_rx_ms;
        if (c->state == WS_CLOSING && now - c->closing_ms > LT_WS_CLOSE_WAIT_MS) {
            conn_finish(c, "no close frame from the peer");
        } else if (c->state == WS_OPEN && silent >= idle) {
            lt_metrics->ws_idle_dropped_total++;
            conn_finish(c, "idle timeout: no answer to ping");
        } else if (c->state == WS_OPEN && silent >= idle / 2 && !c->ping_out) {
            c->ping_out = true;
            send_frame(c, LT_WS_OP_PING, NULL, 0);
        }
        lt_log_set_request(outer);
        c = next;
    }
}

/* ---- server ----------------------------------------------------------- */

struct lt_ws_server *lt_ws_server_new(struct event_base *base, const struct lt_ws_settings *s)
{
    struct lt_ws_server *srv = lt_calloc(1, sizeof *srv);
    srv->base = base;
    srv->settings = *s;
    srv->scratch = lt_malloc(LT_WS_SCRATCH);
    srv->sweep = event_new(base, -1, EV_PERSIST, on_sweep, srv);
    srv->settle = event_new(base, -1, 0, on_settle, srv);
    int ms = sweep_interval_ms(s);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(srv->sweep, &tv);
    return srv;
}

void lt_ws_server_set_settings(struct lt_ws_server *srv, const struct lt_ws_settings *s)
{
    srv->settings = *s;
    int ms = sweep_interval_ms(s);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(srv->sweep, &tv);
}

size_t lt_ws_server_count(const struct lt_ws_server *srv)
{
    return srv->count;
}

void lt_ws_server_close_all(struct lt_ws_server *srv, uint16_t code, const char *reason)
{
    struct lt_ws_conn *c = srv->conns;
    while (c) {
        struct lt_ws_conn *next = c->next;
        lt_ws_close(c, code, reason);
        c = next;
    }
}

void lt_ws_server_free(struct lt_ws_server *srv)
{
    while (srv->conns)
        conn_finish(srv->conns, "server stopped");
    /* The loop is ending: settle now, references or not. */
    while (srv->settle_list) {
        struct lt_ws_conn *c = srv->settle_list;
        srv->settle_list = c->settle_next;
        if (!c->notified && c->h->on_closed)
            c->h->on_closed(c, c->arg);
        conn_free(c);
    }
    event_free(srv->settle);
    event_free(srv->sweep);
    lt_free(srv->scratch);
    lt_free(srv);
}

/* ---- handshake -------------------------------------------------------- */

static bool has_token(const struct lt_request *req, const char *header, const char *token)
{
    const struct lt_http_header *h = lt_http_find_header(&req->head, header);
    return h && lt_http_header_has_token(h->value, h->value_len, token);
}

/* A Sec-WebSocket-Key is the base64 of 16 bytes: 22 characters and "==". */
static bool key_valid(const struct lt_http_header *h)
{
    if (!h || h->value_len != 24 || h->value[22] != '=' || h->value[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++) {
        char ch = h->value[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '+' || ch == '/'))
            return false;
    }
    return true;
}

int lt_ws_check_upgrade(struct lt_request *req)
{
    const struct lt_http_request *h = &req->head;
    if (!lt_http_find_header(h, "Upgrade")) {
        lt_response_header(req, "Upgrade", "websocket");
        lt_respond_error(req, 426, "upgrade_required", "this endpoint speaks WebSocket");
        return LT_EINVAL;
    }
    if (h->method != LT_HTTP_GET || h->version_minor != 1 || !has_token(req, "Upgrade", "websocket") ||
        !has_token(req, "Connection", "upgrade")) {
        lt_respond_error(req, 400, "bad_request",
                         "a WebSocket upgrade is an HTTP/1.1 GET with Upgrade: websocket and "
                         "Connection: Upgrade");
        return LT_EINVAL;
    }
    const struct lt_http_header *v = lt_http_find_header(h, "Sec-WebSocket-Version");
    if (!v || v->value_len != 2 || memcmp(v->value, "13", 2) != 0) {
        lt_response_header(req, "Sec-WebSocket-Version", "13");
        lt_respond_error(req, 426, "upgrade_required", "only WebSocket version 13 is spoken");
        return LT_EINVAL;
    }
    if (!key_valid(lt_http_find_header(h, "Sec-WebSocket-Key"))) {
        lt_respond_error(req, 400, "bad_request", "Sec-WebSocket-Key is not 16 bytes in base64");
        return LT_EINVAL;
    }
    return 0;
}

struct lt_ws_conn *lt_ws_accept(struct lt_ws_server *srv, struct lt_request *req,
                                const struct lt_ws_handlers *handlers, void *arg)
{
    const struct lt_http_header *key = lt_http_find_header(&req->head, "Sec-WebSocket-Key");
    char accept[29]; /* base64 of a SHA-1: 28 bytes and the NUL */
    lt_ws_accept_key(key->value, key->value_len, accept);
    /* Nothing from the request but the 28-byte accept key and the id (at
     * most 64 checked bytes) goes in: both buffers hold their text with
     * room to spare, and if they did not, the client would get a 500
     * rather than a cut handshake. */
    char lines_store[128], head_store[384]; /* the id: at most 80 more bytes */
    struct lt_strbuf lines, head;
    lt_strbuf_init_fixed(&lines, lines_store, sizeof lines_store);
    lt_strbuf_init_fixed(&head, head_store, sizeof head_store);
    lt_http_header_line(&lines, "Upgrade", "websocket", 9);
    lt_http_header_line(&lines, "Sec-WebSocket-Accept", accept, strlen(accept));
    struct lt_response_head h = {
        .status = 101,
        .content_length = -1,
        .extra = lt_strbuf_text(&lines),
        .extra_len = lines.len,
        .connection = "Upgrade",
        .request_id = req->id,
    };
    if (lt_strbuf_failed(&lines) || lt_http_response_head(&head, &h) != 0) {
        lt_respond_error(req, 500, "internal_error", "the handshake could not be written");
        return NULL;
    }
    struct lt_takeover t;
    if (lt_http_takeover(req, &t) != 0)
        return NULL;
    int fd = t.fd;
    char *leftover = t.leftover;
    size_t leftover_len = t.leftover_len;
    struct lt_ws_conn *c = lt_calloc(1, sizeof *c);
    c->srv = srv;
    c->http = t.srv;
    c->fd = fd;
    c->state = WS_OPEN;
    c->h = handlers;
    c->arg = arg;
    c->last_rx_ms = lt_mono_ms();
    memcpy(c->peer, t.peer, sizeof c->peer);
    memcpy(c->request_id, t.request_id, sizeof c->request_id);
    lt_ws_reader_init(&c->reader, srv->settings.max_message, true, srv->settings.allow_binary);
    c->ev_read = event_new(srv->base, fd, EV_READ | EV_PERSIST, on_read, c);
    c->ev_write = event_new(srv->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
    LT_LIST_PUSH(srv->conns, c);
    srv->count++;
    lt_metrics->ws_connections_open++;
    lt_metrics->ws_connections_accepted_total++;
    event_add(c->ev_read, NULL);

    struct iovec iov = {head.data, head.len};
    after_send(c, lt_outq_writev(&c->out, c->fd, &iov, 1));
    /* Frames a client sent right behind its handshake wait for the next
     * read (the owner has not set the connection up yet). */
    if (leftover_len && c->state == WS_OPEN) {
        c->in = (uint8_t *)leftover;
        c->in_len = leftover_len;
        c->unprocessed = true;
        leftover = NULL;
        event_active(c->ev_read, EV_READ, 0);
    }
    lt_free(leftover);
    return c;
}

/* ---- references ------------------------------------------------------- */

void lt_ws_ref(struct lt_ws_conn *c)
{
    c->refs++;
}

void lt_ws_unref(struct lt_ws_conn *c)
{
    if (--c->refs == 0 && c->state == WS_CLOSED && c->notified && !c->settling)
        conn_free(c);
}

bool lt_ws_is_open(const struct lt_ws_conn *c)
{
    return c->state == WS_OPEN;
}

void *lt_ws_arg(const struct lt_ws_conn *c)
{
    return c->arg;
}

const char *lt_ws_peer(const struct lt_ws_conn *c)
{
    return c->peer;
}
