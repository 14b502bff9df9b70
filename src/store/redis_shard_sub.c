/* A sharded pub/sub subscriber on hiredis' reply reader and a bufferevent
 * (redis_shard_sub.h says why not hiredis' async API). */
#include "livetally/store/redis_shard_sub.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"

#include "redis_retry.h"
#include "redis_shard_sub_internal.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define MOD "redis"

/* What a node may send on this connection: pushes and confirmations are
 * arrays of 3 (a pong of 2), payloads are totals messages. Anything past
 * these bounds is not this protocol, and hiredis 0.14's reader has no
 * limits of its own: it would allocate a pointer for every element an
 * array header announces (`*666666663` is 5 GB) before any arrives, and
 * buffer a bulk string of any announced length. */
#define SSUB_MAX_ELEMENTS 16
#define SSUB_MAX_PENDING_BYTES (1u << 20)

/* A recorded channel. */
struct chan {
    char *name;
    size_t len;
    bool confirmed; /* on the current link */
};

/* A command sent and not answered yet: Redis answers in order, so the
 * head of this FIFO owns the next reply that is not a push (an error reply
 * carries no channel name). */
enum sent_kind { SENT_AUTH, SENT_SUB, SENT_UNSUB, SENT_PING };
struct sent {
    struct sent *next;
    enum sent_kind kind;
    int64_t deadline; /* monotonic ms */
    size_t len;
    char channel[]; /* SUB, UNSUB */
};

struct lt_redis_ssub {
    struct event_base *base;
    struct lt_redis_ssub_opts opts; /* strings below are our copies */
    char *name, *host, *password;
    enum lt_redis_state state;
    struct lt_redis_retry retry;
    struct bufferevent *bev; /* the current link, NULL while none */
    redisReader *reader;
    struct chan *chans;
    size_t n_chans, cap_chans;
    struct sent *head, *tail;
    bool ping_out;
    unsigned drops; /* bumped by every drop: a caller sees its link went */
    struct event *ev_retry, *ev_connect_to, *ev_deadline, *ev_ping, *ev_reap;
};

/* ---- state ---------------------------------------------------------------- */

static void set_state(struct lt_redis_ssub *s, enum lt_redis_state state)
{
    if (s->state == state || s->state == LT_REDIS_CLOSED)
        return;
    s->state = state;
    if (state != LT_REDIS_CLOSED && s->opts.on_state)
        s->opts.on_state(s, state, s->opts.arg);
}

static struct chan *find_chan(struct lt_redis_ssub *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->n_chans; i++)
        if (s->chans[i].len == len && memcmp(s->chans[i].name, name, len) == 0)
            return &s->chans[i];
    return NULL;
}

static void forget_chan(struct lt_redis_ssub *s, struct chan *c)
{
    lt_free(c->name);
    *c = s->chans[--s->n_chans];
}

static void sent_clear(struct lt_redis_ssub *s)
{
    while (s->head) {
        struct sent *next = s->head->next;
        lt_free(s->head);
        s->head = next;
    }
    s->tail = NULL;
    s->ping_out = false;
}

static struct sent *sent_pop(struct lt_redis_ssub *s)
{
    struct sent *q = s->head;
    if (q) {
        s->head = q->next;
        if (!s->head)
            s->tail = NULL;
    }
    return q;
}

/* ---- the reply reader ------------------------------------------------------ */

static redisReplyObjectFunctions bounded_fn;
static void *(*default_create_array)(const redisReadTask *, int);

/* An array header past the bound makes the reader fail (as out of memory,
 * hiredis' one way to refuse), so the link is dropped. */
static void *create_array_bounded(const redisReadTask *task, int elements)
{
    if (elements > SSUB_MAX_ELEMENTS)
        return NULL;
    return default_create_array(task, elements);
}

static redisReader *reader_checked(redisReader *r)
{
    if (!r) {
        fprintf(stderr, "livetally: out of memory creating a Redis reply reader\n");
        abort();
    }
    return r;
}

/* hiredis' own reply objects (freeReplyObject frees them) with the array
 * bound above: its default functions are not exported, so they are taken
 * from a reader made the default way. */
static redisReader *reader_new(void)
{
    if (!default_create_array) {
        redisReader *r = reader_checked(redisReaderCreate());
        bounded_fn = *r->fn;
        default_create_array = bounded_fn.createArray;
        bounded_fn.createArray = create_array_bounded;
        redisReaderFree(r);
    }
    return reader_checked(redisReaderCreateWithFunctions(&bounded_fn));
}

/* Bytes fed and not yet a whole reply. */
static size_t reader_pending(const redisReader *r)
{
    return r->len - r->pos;
}

/* ---- the link --------------------------------------------------------------- */

static void drop(struct lt_redis_ssub *s, const char *why)
{
    s->drops++;
    if (s->bev) {
        bufferevent_free(s->bev); /* safe inside its own callbacks */
        s->bev = NULL;
    }
    redisReaderFree(s->reader);
    s->reader = reader_new();
    sent_clear(s);
    for (size_t i = 0; i < s->n_chans; i++)
        s->chans[i].confirmed = false;
    evtimer_del(s->ev_connect_to);
    evtimer_del(s->ev_deadline);
    evtimer_del(s->ev_ping);
    if (s->state == LT_REDIS_CLOSED)
        return;
    lt_redis_retry_failed(&s->retry, why);
    set_state(s, LT_REDIS_DOWN);
    lt_redis_timer_ms(s->ev_retry, lt_redis_retry_delay_ms(&s->retry));
}

/* Records a command sent: its reply comes in this order. */
static void record_sent(struct lt_redis_ssub *s, enum sent_kind kind, const char *channel,
                        size_t len)
{
    struct sent *q = lt_calloc(1, sizeof *q + len + 1);
    q->kind = kind;
    q->len = len;
    if (len)
        memcpy(q->channel, channel, len);
    q->deadline = lt_mono_ms() + s->opts.command_timeout_ms;
    if (s->tail)
        s->tail->next = q;
    else
        s->head = q;
    s->tail = q;
    if (kind == SENT_PING)
        s->ping_out = true;
}

void lt_redis_ssub_expect(struct lt_redis_ssub *s, int kind, const char *channel)
{
    record_sent(s, (enum sent_kind)kind, channel, channel ? strlen(channel) : 0);
}

/* Writes a command (argv) and records what its reply will answer. */
static void send_cmd(struct lt_redis_ssub *s, enum sent_kind kind, const char *channel, size_t len,
                     int argc, const char **argv, const size_t *lens)
{
    char *buf = NULL;
    int n = redisFormatCommandArgv(&buf, argc, argv, lens);
    if (n < 0 || !s->bev || bufferevent_write(s->bev, buf, (size_t)n) != 0) {
        redisFreeCommand(buf);
        drop(s, "could not write a command");
        return;
    }
    redisFreeCommand(buf);
    record_sent(s, kind, channel, len);
    if (!evtimer_pending(s->ev_deadline, NULL))
        lt_redis_timer_ms(s->ev_deadline, s->opts.command_timeout_ms);
}

static void send_channel_cmd(struct lt_redis_ssub *s, enum sent_kind kind, const char *channel,
                             size_t len)
{
    const char *argv[2] = {kind == SENT_SUB ? "SSUBSCRIBE" : "SUNSUBSCRIBE", channel};
    size_t lens[2] = {strlen(argv[0]), len};
    send_cmd(s, kind, channel, len, 2, argv, lens);
}

static void link_ready(struct lt_redis_ssub *s)
{
    evtimer_del(s->ev_connect_to);
    lt_redis_retry_up(&s->retry, NULL);
    set_state(s, LT_REDIS_READY);
    for (size_t i = 0; i < s->n_chans && s->bev; i++)
        send_channel_cmd(s, SENT_SUB, s->chans[i].name, s->chans[i].len);
    if (s->bev)
        lt_redis_timer_ms(s->ev_ping, s->opts.ping_interval_ms);
}

/* ---- replies ----------------------------------------------------------------- */

static bool is_str(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

static bool word_is(const redisReply *r, const char *w)
{
    return is_str(r) && r->len == strlen(w) && strncasecmp(r->str, w, r->len) == 0;
}

/* A push or a reply of the subscriber protocol ([kind, channel, x]). */
static int dispatch_array(struct lt_redis_ssub *s, const redisReply *r)
{
    if (r->elements < 2 || !is_str(r->element[0]))
        return -1;
    const redisReply *kind = r->element[0], *ch = r->element[1];
    if (word_is(kind, "pong")) {
        struct sent *q = s->head && s->head->kind == SENT_PING ? sent_pop(s) : NULL;
        if (!q)
            return -1;
        lt_free(q);
        s->ping_out = false;
        return 0;
    }
    if (r->elements != 3 || !is_str(ch) || ch->len > LT_REDIS_SSUB_CHANNEL_MAX)
        return -1;
    const redisReply *third = r->element[2];
    struct chan *c = find_chan(s, ch->str, ch->len);
    if (word_is(kind, "smessage")) {
        if (!is_str(third))
            return -1;
        if (c && s->opts.on_message) /* else a late one after unsubscribing */
            s->opts.on_message(s, ch->str, ch->len, third->str, third->len, s->opts.arg);
        return 0;
    }
    if (word_is(kind, "ssubscribe")) {
        struct sent *q = s->head;
        if (!q || q->kind != SENT_SUB || q->len != ch->len || memcmp(q->channel, ch->str, q->len))
            return -1;
        lt_free(sent_pop(s));
        if (c && !c->confirmed) {
            c->confirmed = true;
            if (s->opts.on_message)
                s->opts.on_message(s, ch->str, ch->len, NULL, 0, s->opts.arg);
        }
        return 0;
    }
    if (word_is(kind, "sunsubscribe")) {
        struct sent *q = s->head;
        if (q && q->kind == SENT_UNSUB && q->len == ch->len &&
            !memcmp(q->channel, ch->str, q->len)) {
            lt_free(sent_pop(s)); /* ours */
            return 0;
        }
        if (c) { /* the node's own: the slot moved away */
            char name[LT_REDIS_SSUB_CHANNEL_MAX + 1];
            memcpy(name, ch->str, ch->len);
            name[ch->len] = '\0';
            forget_chan(s, c);
            if (s->opts.on_lost)
                s->opts.on_lost(s, name, ch->len, "sunsubscribe", s->opts.arg);
        }
        return 0;
    }
    return -1;
}

static int dispatch_error(struct lt_redis_ssub *s, const redisReply *r)
{
    struct sent *q = sent_pop(s);
    if (!q)
        return -1;
    int rc = 0;
    if (q->kind == SENT_SUB) {
        struct chan *c = find_chan(s, q->channel, q->len);
        if (c) {
            forget_chan(s, c);
            if (s->opts.on_lost)
                s->opts.on_lost(s, q->channel, q->len, r->str, s->opts.arg);
        }
    } else if (q->kind == SENT_AUTH || q->kind == SENT_PING) {
        char why[200]; /* for the log (never the password): cut short when long */
        snprintf(why, sizeof why, "%s refused: %.150s", q->kind == SENT_AUTH ? "AUTH" : "PING",
                 r->str);
        drop(s, why);
        rc = 1;
    } /* SENT_UNSUB: nothing to do */
    lt_free(q);
    return rc;
}

/* One reply. 0: go on; 1: the link was dropped; -1: a reply this protocol
 * does not have (the caller drops the link). */
int lt_redis_ssub_dispatch(struct lt_redis_ssub *s, const struct redisReply *r)
{
    switch (r->type) {
    case REDIS_REPLY_ARRAY:
        return dispatch_array(s, r);
    case REDIS_REPLY_ERROR:
        return dispatch_error(s, r);
    case REDIS_REPLY_STATUS:
        if (word_is(r, "OK") && s->head && s->head->kind == SENT_AUTH) {
            unsigned drops = s->drops;
            lt_free(sent_pop(s));
            link_ready(s);
            return s->drops == drops ? 0 : 1;
        }
        if (word_is(r, "PONG") && s->head && s->head->kind == SENT_PING) {
            lt_free(sent_pop(s));
            s->ping_out = false;
            return 0;
        }
        return -1;
    default:
        return -1;
    }
}

int lt_redis_ssub_feed(struct lt_redis_ssub *s, const char *bytes, size_t len)
{
    unsigned drops = s->drops;
    if (redisReaderFeed(s->reader, bytes, len) != REDIS_OK) {
        drop(s, "the reply reader refused the bytes");
        return 1;
    }
    for (;;) {
        void *reply = NULL;
        if (redisReaderGetReply(s->reader, &reply) != REDIS_OK) {
            char why[160]; /* for the log: cut short when long */
            snprintf(why, sizeof why, "protocol error: %.120s", s->reader->errstr);
            drop(s, why);
            return 1;
        }
        if (!reply) {
            if (reader_pending(s->reader) > SSUB_MAX_PENDING_BYTES) {
                drop(s, "a reply larger than any the sharded subscriber protocol has");
                return 1;
            }
            return 0; /* needs more bytes */
        }
        int rc = lt_redis_ssub_dispatch(s, reply);
        freeReplyObject(reply);
        if (rc < 0) {
            drop(s, "a reply the sharded subscriber protocol does not have");
            return 1;
        }
        if (rc > 0 || s->state == LT_REDIS_CLOSED || s->drops != drops)
            return 1; /* dropped, or freed by the owner in a callback */
    }
}

/* ---- events ------------------------------------------------------------------ */

static void on_read(struct bufferevent *bev, void *arg)
{
    struct lt_redis_ssub *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (evbuffer_get_length(in) > 0 && s->bev == bev) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        size_t n = v.iov_len;
        int rc = lt_redis_ssub_feed(s, v.iov_base, n);
        if (rc != 0)
            return; /* bev may be gone: do not touch in */
        evbuffer_drain(in, n);
    }
}

static void on_bev_event(struct bufferevent *bev, short what, void *arg)
{
    struct lt_redis_ssub *s = arg;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        bufferevent_enable(bev, EV_READ);
        if (s->password) {
            const char *argv[2] = {"AUTH", s->password};
            size_t lens[2] = {4, strlen(s->password)};
            send_cmd(s, SENT_AUTH, NULL, 0, 2, argv, lens);
        } else {
            link_ready(s);
        }
        return;
    }
    char why[160]; /* for the log: cut short when long */
    int err = EVUTIL_SOCKET_ERROR();
    snprintf(why, sizeof why, "%s",
             what & BEV_EVENT_EOF ? "connection closed by the server"
                                  : evutil_socket_error_to_string(err));
    drop(s, why);
}

static void start_connect(struct lt_redis_ssub *s)
{
    set_state(s, LT_REDIS_CONNECTING);
    char port[8];
    snprintf(port, sizeof port, "%d", s->opts.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo(s->host, port, &hints, &res);
    if (gai != 0 || !res) {
        char why[160]; /* for the log: cut short when long */
        snprintf(why, sizeof why, "cannot resolve: %s", gai_strerror(gai));
        drop(s, why);
        return;
    }
    s->bev = bufferevent_socket_new(s->base, -1, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(s->bev, on_read, NULL, on_bev_event, s);
    int rc = s->bev ? bufferevent_socket_connect(s->bev, res->ai_addr, (int)res->ai_addrlen) : -1;
    freeaddrinfo(res);
    if (rc != 0) {
        drop(s, "connect failed");
        return;
    }
    lt_redis_timer_ms(s->ev_connect_to, s->opts.connect_timeout_ms);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_connect(arg);
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drop(arg, "connect timed out");
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_redis_ssub *s = arg;
    if (!s->head)
        return;
    int64_t left = s->head->deadline - lt_mono_ms();
    if (left > 0) {
        lt_redis_timer_ms(s->ev_deadline, left);
        return;
    }
    char why[96]; /* an int: one snprintf */
    snprintf(why, sizeof why, "no reply within %d ms", s->opts.command_timeout_ms);
    drop(s, why);
}

static void on_ping(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_redis_ssub *s = arg;
    if (s->state != LT_REDIS_READY || !s->bev)
        return;
    if (!s->ping_out) {
        const char *argv[1] = {"PING"};
        size_t lens[1] = {4};
        send_cmd(s, SENT_PING, NULL, 0, 1, argv, lens);
    }
    if (s->bev)
        lt_redis_timer_ms(s->ev_ping, s->opts.ping_interval_ms);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_redis_ssub *s = arg;
    drop(s, "closed");
    redisReaderFree(s->reader);
    for (size_t i = 0; i < s->n_chans; i++)
        lt_free(s->chans[i].name);
    lt_free(s->chans);
    event_free(s->ev_retry);
    event_free(s->ev_connect_to);
    event_free(s->ev_deadline);
    event_free(s->ev_ping);
    event_free(s->ev_reap);
    lt_free(s->name);
    lt_free(s->host);
    lt_free(s->password);
    lt_free(s);
}

/* ---- the API ----------------------------------------------------------------- */

struct lt_redis_ssub *lt_redis_ssub_new(struct event_base *base,
                                        const struct lt_redis_ssub_opts *opts)
{
    struct lt_redis_ssub *s = lt_calloc(1, sizeof *s);
    s->base = base;
    s->opts = *opts;
    s->name = lt_strdup(opts->name ? opts->name : "sharded subscriber");
    s->host = lt_strdup(opts->host ? opts->host : "127.0.0.1");
    s->password = opts->password && opts->password[0] ? lt_strdup(opts->password) : NULL;
    s->opts.name = s->name;
    s->opts.host = s->host;
    s->opts.password = s->password;
    if (s->opts.ping_interval_ms <= 0)
        s->opts.ping_interval_ms = 1000;
    if (s->opts.command_timeout_ms <= 0)
        s->opts.command_timeout_ms = 2000;
    if (s->opts.connect_timeout_ms <= 0)
        s->opts.connect_timeout_ms = 1000;
    lt_redis_retry_init(&s->retry, s->name, s->host, s->opts.port, opts->backoff_min_ms,
                        opts->backoff_max_ms, (uintptr_t)s);
    s->reader = reader_new();
    s->state = LT_REDIS_CONNECTING;
    s->ev_retry = evtimer_new(base, on_retry, s);
    s->ev_connect_to = evtimer_new(base, on_connect_timeout, s);
    s->ev_deadline = evtimer_new(base, on_deadline, s);
    s->ev_ping = evtimer_new(base, on_ping, s);
    s->ev_reap = event_new(base, -1, 0, on_reap, s);
    /* From the loop: a synchronous failure would report a state inside
     * this call. */
    lt_redis_timer_ms(s->ev_retry, 0);
    return s;
}

void lt_redis_ssub_free(struct lt_redis_ssub *s)
{
    if (!s || s->state == LT_REDIS_CLOSED)
        return;
    set_state(s, LT_REDIS_CLOSED);
    if (s->bev)
        bufferevent_disable(s->bev, EV_READ | EV_WRITE);
    evtimer_del(s->ev_retry);
    event_active(s->ev_reap, EV_TIMEOUT, 0);
}

enum lt_redis_state lt_redis_ssub_state(const struct lt_redis_ssub *s)
{
    return s->state;
}

size_t lt_redis_ssub_count(const struct lt_redis_ssub *s)
{
    return s->n_chans;
}

int lt_redis_ssub_subscribe(struct lt_redis_ssub *s, const char *channel)
{
    size_t len = strlen(channel);
    if (s->state == LT_REDIS_CLOSED || len == 0 || len > LT_REDIS_SSUB_CHANNEL_MAX ||
        find_chan(s, channel, len))
        return LT_EINVAL;
    if (s->n_chans == s->cap_chans) {
        s->cap_chans = s->cap_chans ? s->cap_chans * 2 : 8;
        s->chans = lt_realloc(s->chans, s->cap_chans * sizeof *s->chans);
    }
    s->chans[s->n_chans++] = (struct chan){.name = lt_strndup(channel, len), .len = len};
    if (s->state == LT_REDIS_READY && s->bev)
        send_channel_cmd(s, SENT_SUB, channel, len);
    return 0;
}

int lt_redis_ssub_unsubscribe(struct lt_redis_ssub *s, const char *channel)
{
    size_t len = strlen(channel);
    struct chan *c = find_chan(s, channel, len);
    if (!c)
        return LT_EINVAL;
    forget_chan(s, c);
    if (s->state == LT_REDIS_READY && s->bev)
        send_channel_cmd(s, SENT_UNSUB, channel, len);
    return 0;
}
