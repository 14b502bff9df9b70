/* Server-Sent Events on /v1/streams/{id}/live: the same totals as the
 * WebSocket, as `event: totals` with `id:` = seq, fed by the hub. */
#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/list.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/base/outq.h"
#include "livetally/base/shared_buf.h"
#include "livetally/base/strbuf.h"
#include "livetally/conf/config.h"
#include "livetally/core/hub.h"
#include "livetally/net/http_response.h"
#include "livetally/api/app.h"
#include "livetally/api/live.h"
#include "livetally/api/totals_json.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A comment line at least this often keeps proxies and clients from
 * deciding the stream is dead (the contract says at least every 15 s). */
#define LT_SSE_KEEPALIVE_MS 15000
/* The browser's reconnect delay, sent as `retry:`. */
#define LT_SSE_RETRY_MS 3000
/* Output pending past this (and past the response head, which echoes an
 * Origin as long as limits.max_header_bytes allows) drops the subscriber. */
#define LT_SSE_MAX_PENDING (256 * 1024)
/* The socket's kernel send buffer (Linux doubles it: 32 KiB). Left to
 * autotuning it grows to megabytes (tcp_wmem), which a reader that stalls
 * would hold for minutes of pushes before its own queue reached the limit
 * above; an event stream carries one stream's totals, a few hundred bytes
 * at most every push_interval_ms, so this is ample for one that reads. */
#define LT_SSE_SNDBUF (16 * 1024)

struct sse_client {
    struct sse_client *prev, *next;
    struct lt_sse_server *srv;
    struct lt_http_server *http;
    int fd;
    struct event *ev_read;
    struct event *ev_write;
    struct lt_outq out;
    struct lt_hub_sub *sub;
    int64_t last_tx_ms;
    size_t head_len;       /* allowed to wait on top of LT_SSE_MAX_PENDING */
    bool end_when_flushed; /* the stream was deleted: close once written */
    /* INET6_ADDRSTRLEN: a peer or X-Forwarded-For address from inet_ntop/inet_pton */
    char peer[46];
    char request_id[LT_REQUEST_ID_MAX + 1]; /* of its request, for the log */
};

struct lt_sse_server {
    struct lt_app *app;
    struct sse_client *clients;
    size_t count;
    struct event *sweep;
};

static void client_close(struct sse_client *c, const char *why)
{
    struct lt_sse_server *srv = c->srv;
    lt_debug("sse", "%s closed: %s", c->peer, why);
    if (c->sub)
        lt_hub_unsubscribe(srv->app->hub, c->sub);
    event_free(c->ev_read);
    event_free(c->ev_write);
    lt_outq_free(&c->out);
    close(c->fd);
    lt_http_server_release(c->http, c->peer);
    LT_LIST_REMOVE(srv->clients, c);
    srv->count--;
    lt_metrics->sse_connections_open--;
    lt_free(c);
}

/* Returns false when the client was closed. */
static bool after_send(struct sse_client *c, int rc)
{
    if (rc < 0) {
        client_close(c, "write error");
        return false;
    }
    c->last_tx_ms = lt_mono_ms();
    if (rc == 1) {
        if (lt_outq_pending(&c->out) > LT_SSE_MAX_PENDING + c->head_len) {
            const char *outer = lt_log_request();
            lt_log_set_request(c->request_id);
            lt_warn("sse", "dropping %s: %zu bytes of output pending (a reader too slow)",
                    c->peer, lt_outq_pending(&c->out));
            lt_log_set_request(outer);
            lt_metrics->sse_dropped_slow_total++;
            client_close(c, "too slow");
            return false;
        }
        event_add(c->ev_write, NULL);
    }
    return true;
}

/* "id: <seq>\nevent: totals\ndata: <the totals message>\n\n" */
static struct lt_shared *encode_event(const struct lt_totals *totals)
{
    /* "id: " + at most 20 bytes of int64 + "\nevent: totals\ndata: " is at
     * most 44 bytes: it fits, and n is the length written. */
    char head[48], json[LT_TOTALS_MESSAGE_MAX];
    int n = snprintf(head, sizeof head, "id: %" PRId64 "\nevent: totals\ndata: ", totals->seq);
    size_t len = lt_totals_message(totals, json);
    struct lt_shared *b = lt_shared_new((size_t)n + len + 2);
    memcpy(b->data, head, (size_t)n);
    memcpy(b->data + n, json, len);
    memcpy(b->data + n + len, "\n\n", 2);
    return b;
}

/* Unsubscribing from inside a delivery is allowed (hub.h). */
static void deliver_event(void *owner, struct lt_shared *msg)
{
    struct sse_client *c = owner;
    lt_metrics->sse_events_pushed_total++;
    after_send(c, lt_outq_write_shared(&c->out, c->fd, msg));
}

/* "event: status" or "event: deleted" (no id: it is no totals seq), the
 * notice's JSON on the data line. */
static struct lt_shared *encode_notice(const char *stream, enum lt_stream_status status)
{
    char json[LT_NOTICE_MESSAGE_MAX];
    size_t len = lt_notice_message(stream, status, json);
    const char *head =
        status == LT_STATUS_NONE ? "event: deleted\ndata: " : "event: status\ndata: ";
    size_t hlen = strlen(head);
    struct lt_shared *b = lt_shared_new(hlen + len + 2);
    memcpy(b->data, head, hlen);
    memcpy(b->data + hlen, json, len);
    memcpy(b->data + hlen + len, "\n\n", 2);
    return b;
}

/* The stream was deleted: the event stream ends once its output (the
 * notice included) is written. */
static void sub_ended(void *owner, struct lt_hub_sub *sub)
{
    struct sse_client *c = owner;
    lt_hub_unsubscribe(c->srv->app->hub, sub);
    c->sub = NULL;
    c->end_when_flushed = true;
    if (lt_outq_pending(&c->out) == 0)
        client_close(c, "stream deleted");
}

static const struct lt_push_kind sse_kind = {"sse", encode_event, deliver_event, encode_notice,
                                             sub_ended};

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct sse_client *c = arg;
    char buf[512]; /* read and dropped: recv takes at most sizeof buf */
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    /* A client has nothing to say after its request: only its leaving matters. */
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        client_close(c, n == 0 ? "peer closed" : "read error");
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sse_client *c = arg;
    int rc = lt_outq_flush(&c->out, c->fd);
    if (rc < 0)
        client_close(c, "write error");
    else if (rc == 0 && c->end_when_flushed)
        client_close(c, "stream deleted");
    else if (rc == 0)
        event_del(c->ev_write);
}

static int keepalive_ms(const struct lt_config *cfg)
{
    int half_idle = cfg->idle_timeout_ms / 2;
    return half_idle < LT_SSE_KEEPALIVE_MS ? half_idle : LT_SSE_KEEPALIVE_MS;
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_sse_server *srv = arg;
    int64_t now = lt_mono_ms();
    int every = keepalive_ms(srv->app->cfg);
    struct sse_client *c = srv->clients;
    while (c) {
        struct sse_client *next = c->next;
        if (now - c->last_tx_ms >= every) {
            static const char comment[] = ": keep-alive\n\n";
            struct iovec iov = {(void *)comment, sizeof comment - 1};
            after_send(c, lt_outq_writev(&c->out, c->fd, &iov, 1));
        }
        c = next;
    }
}

struct lt_sse_server *lt_sse_server_new(struct lt_app *app)
{
    struct lt_sse_server *srv = lt_calloc(1, sizeof *srv);
    srv->app = app;
    srv->sweep = event_new(app->base, -1, EV_PERSIST, on_sweep, srv);
    int ms = keepalive_ms(app->cfg) / 4;
    if (ms < 25)
        ms = 25;
    if (ms > 1000)
        ms = 1000;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(srv->sweep, &tv);
    return srv;
}

void lt_sse_server_close_all(struct lt_sse_server *srv)
{
    while (srv->clients)
        client_close(srv->clients, "server shutting down");
}

void lt_sse_server_free(struct lt_sse_server *srv)
{
    lt_sse_server_close_all(srv);
    event_free(srv->sweep);
    lt_free(srv);
}

size_t lt_sse_server_count(const struct lt_sse_server *srv)
{
    return srv->count;
}

void lt_sse_open(struct lt_sse_server *srv, struct lt_request *req, const char *stream,
                 int64_t after_seq)
{
    const struct lt_config *cfg = srv->app->cfg;
    /* The answer's head is ours to write once the socket is taken over, so
     * CORS is decided here, as lt_respond would, and the head is written
     * while the request (and its Origin) still exists. No Content-Length
     * and no chunking: the body runs until the connection closes (RFC 9112
     * 6.3), which is what an event stream is. The echoed Origin is bounded
     * by limits.max_header_bytes, so the max below is never reached; if it
     * were, the client would get a 500 instead. */
    static const char lines[] = "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n";
    struct lt_response_head h = {
        .status = 200,
        .date = lt_http_date(),
        .content_type = "text/event-stream; charset=utf-8",
        .content_length = -1,
        .vary_origin = true,
        .extra = lines,
        .extra_len = sizeof lines - 1,
        .connection = "close",
        .request_id = req->id,
    };
    const struct lt_http_header *origin = lt_http_find_header(&req->head, "Origin");
    if (origin && lt_http_origin_allowed(cfg, origin->value, origin->value_len)) {
        h.allow_origin = origin->value;
        h.allow_origin_len = origin->value_len;
    }
    char stack[512]; /* most heads; longer ones grow on the heap (see above) */
    struct lt_strbuf head;
    lt_strbuf_init(&head, stack, sizeof stack, (size_t)cfg->max_header_bytes + 1024);
    lt_http_response_head(&head, &h);
    lt_strbuf_add_str(&head, "retry: ");
    lt_strbuf_add_int(&head, LT_SSE_RETRY_MS);
    lt_strbuf_add_str(&head, "\n\n");
    if (lt_strbuf_failed(&head)) {
        lt_strbuf_free(&head);
        lt_respond_error(req, 500, "internal_error",
                         "the event stream's head could not be written");
        return;
    }
    struct lt_takeover t;
    if (lt_http_takeover(req, &t) != 0) {
        lt_strbuf_free(&head);
        return;
    }
    lt_free(t.leftover); /* an event stream's client has nothing more to say */
    int fd = t.fd;
    int sndbuf = LT_SSE_SNDBUF;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf); /* a hint: fine if refused */
    struct sse_client *c = lt_calloc(1, sizeof *c);
    c->srv = srv;
    c->http = t.srv;
    c->fd = fd;
    memcpy(c->peer, t.peer, sizeof c->peer);
    memcpy(c->request_id, t.request_id, sizeof c->request_id);
    c->head_len = head.len;
    c->ev_read = event_new(srv->app->base, fd, EV_READ | EV_PERSIST, on_read, c);
    c->ev_write = event_new(srv->app->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
    LT_LIST_PUSH(srv->clients, c);
    srv->count++;
    lt_metrics->sse_connections_open++;
    event_add(c->ev_read, NULL);
    struct iovec iov = {head.data, head.len};
    bool sent = after_send(c, lt_outq_writev(&c->out, c->fd, &iov, 1));
    lt_strbuf_free(&head);
    if (!sent)
        return;
    c->sub = lt_hub_subscribe(srv->app->hub, stream, &sse_kind, c, true, after_seq);
}
