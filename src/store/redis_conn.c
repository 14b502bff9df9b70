/* One asynchronous Redis connection (see redis_conn.h): hiredis 0.14 does the
 * protocol, this file adds timeouts, reconnection, AUTH/SELECT, EVALSHA with
 * NOSCRIPT fallback and subscriptions that survive reconnects.
 *
 * The hiredis context ("link") is disposable: every failure throws it away and
 * a timer builds a new one. What outlives links lives here: the pending
 * command FIFO (our own, so that timeouts and teardown can reach every
 * command) and the subscription table.
 *
 * Who frees what: a struct cmd belongs both to hiredis (until hiredis calls
 * on_cmd_reply, with a reply or with NULL on teardown) and to the FIFO (until
 * the owner's callback has run). It is freed when both are done, so it stays
 * valid whichever side finishes first.
 *
 * Choices the header leaves open:
 *  - READY is reported after AUTH/SELECT (or a PING when neither is needed:
 *    READY means the server answers) and, when channels are recorded, after
 *    every SUBSCRIBE is confirmed. The connect timeout covers all of that.
 *  - On a command timeout the overdue command (the FIFO head) gets
 *    LT_ETIMEDOUT, all the others LT_EDISCONNECTED.
 *  - on_state is not called for CLOSED; after lt_redis_conn_free every
 *    callback still pending reports LT_ECLOSED, and no message is delivered.
 *  - Commands on a connection with subscriptions return LT_EINVAL; so does
 *    lt_redis_eval with numkeys outside [0, argc]. lt_redis_unsubscribe of an
 *    unknown channel returns LT_ENOTFOUND.
 *  - connect_timeout_ms or command_timeout_ms <= 0 disables that timeout. */
#include "livetally/store/redis_conn.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"

#include "redis_retry.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MOD "redis"

struct lt_redis_script {
    char *source;
    size_t source_len;
    char sha[41]; /* SHA-1 in hex and the NUL */
};

struct cmd {
    struct cmd *prev, *next; /* FIFO links while not completed */
    struct lt_redis_conn *conn;
    lt_redis_cb *cb;
    void *arg;
    int64_t deadline; /* monotonic ms; 0: none */
    bool queued;      /* in the FIFO */
    bool in_hiredis;  /* hiredis still holds it as privdata */
    bool completed;   /* the owner's callback has run */
    bool internal;    /* AUTH/SELECT/PING: not counted in lt_redis_conn_pending */
    /* EVALSHA only: the whole argv ("EVALSHA", sha, numkeys, keys/args...),
     * kept until the reply so that NOSCRIPT can be retried as EVAL. */
    const struct lt_redis_script *script;
    int argc;
    const char **argv;
    size_t *argvlen;
    char numkeys[16]; /* an int */
};

enum sub_state {
    SUB_IDLE,    /* recorded, not sent on the current link */
    SUB_PENDING, /* SUBSCRIBE sent, confirmation awaited (has a deadline) */
    SUB_ACTIVE,  /* confirmed: no timeout from now on */
    SUB_LEAVING, /* owner unsubscribed; UNSUBSCRIBE confirmation awaited */
};

struct sub {
    char *channel;
    size_t len;
    lt_redis_message_cb *cb;
    void *arg;
    enum sub_state state;
    bool rejoin; /* subscribed again while LEAVING: resend on confirmation */
    int64_t deadline;
};

struct lt_redis_conn {
    struct event_base *base;
    struct lt_redis_conn_opts opts; /* strings below are our copies */
    char *name, *host, *password;
    enum lt_redis_state state;
    redisAsyncContext *ac; /* current link, NULL while none */
    unsigned link_gen;     /* bumped per link, to match deferred teardowns */
    int handshake_left;    /* AUTH/SELECT/PING replies still awaited */
    bool link_up; /* handshake done on the current link */
    struct lt_redis_retry retry; /* back-off and failure logs */
    struct cmd *head, *tail;
    size_t npending;
    struct sub *subs;
    size_t nsubs, subs_cap;
    struct event *ev_retry;      /* reconnect after backoff */
    struct event *ev_connect_to; /* connect + handshake deadline */
    struct event *ev_cmd_to;     /* oldest command / subscription deadline */
    struct event *ev_kill;       /* teardown requested from inside hiredis */
    struct event *ev_reap;       /* deferred lt_redis_conn_free */
    unsigned kill_gen;
    bool kill_pending;
    char kill_why[160]; /* a message for the log: cut short when long */
};

static void on_cmd_reply(redisAsyncContext *ac, void *reply, void *privdata);
static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata);
static void maybe_ready(struct lt_redis_conn *conn);
static void on_reap(evutil_socket_t fd, short what, void *arg);

/* ---- state, logging, backoff ---------------------------------------- */

/* The only place the state changes. CLOSED is final and is not reported:
 * the owner asked for it and may already have freed what arg points to. */
static void set_state(struct lt_redis_conn *conn, enum lt_redis_state state)
{
    if (conn->state == state || conn->state == LT_REDIS_CLOSED)
        return;
    conn->state = state;
    if (state != LT_REDIS_CLOSED && conn->opts.on_state)
        conn->opts.on_state(conn, state, conn->opts.arg);
}

/* ---- the command FIFO ------------------------------------------------ */

static void fifo_push(struct lt_redis_conn *conn, struct cmd *c)
{
    c->queued = true;
    c->next = NULL;
    c->prev = conn->tail;
    if (conn->tail)
        conn->tail->next = c;
    else
        conn->head = c;
    conn->tail = c;
}

static void fifo_unlink(struct lt_redis_conn *conn, struct cmd *c)
{
    if (!c->queued)
        return;
    c->queued = false;
    if (c->prev)
        c->prev->next = c->next;
    else
        conn->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        conn->tail = c->prev;
    c->prev = c->next = NULL;
}

static void cmd_free(struct cmd *c)
{
    lt_free(c->argv); /* argvlen and the copied bytes share this block */
    lt_free(c);
}

/* Runs the owner's callback exactly once. Once lt_redis_conn_free has been
 * called, whatever was still pending reports LT_ECLOSED, even a reply that
 * happened to arrive before the deferred free ran. */
static void complete(struct cmd *c, struct redisReply *reply, int err)
{
    struct lt_redis_conn *conn = c->conn;
    fifo_unlink(conn, c);
    c->completed = true;
    if (!c->internal)
        conn->npending--;
    if (conn->state == LT_REDIS_CLOSED) {
        reply = NULL;
        err = LT_ECLOSED;
    }
    if (c->cb)
        c->cb(conn, reply, err, c->arg);
    if (!c->in_hiredis)
        cmd_free(c);
}

/* The head is the command whose reply is overdue (or the one whose link
 * failed); everything queued behind it only shares its fate. */
static void fail_all(struct lt_redis_conn *conn, int head_err)
{
    int err = head_err;
    while (conn->head) {
        complete(conn->head, NULL, err);
        err = LT_EDISCONNECTED;
    }
}

static int64_t earliest_deadline(const struct lt_redis_conn *conn)
{
    int64_t when = conn->head ? conn->head->deadline : 0;
    for (size_t i = 0; i < conn->nsubs; i++) {
        const struct sub *s = &conn->subs[i];
        if (s->state == SUB_PENDING && (when == 0 || s->deadline < when))
            when = s->deadline;
    }
    return when;
}

/* One timer for all deadlines. It is armed lazily and may fire early (after
 * the command it was armed for got its reply); on_cmd_timeout re-arms it. */
static void arm_cmd_timer(struct lt_redis_conn *conn)
{
    if (conn->opts.command_timeout_ms <= 0 || evtimer_pending(conn->ev_cmd_to, NULL))
        return;
    int64_t when = earliest_deadline(conn);
    if (when)
        lt_redis_timer_ms(conn->ev_cmd_to, when - lt_mono_ms());
}

static int64_t new_deadline(const struct lt_redis_conn *conn)
{
    return conn->opts.command_timeout_ms > 0 ? lt_mono_ms() + conn->opts.command_timeout_ms : 0;
}

/* Hands a formatted command to hiredis and queues it. hiredis copies cmd. */
static int send_formatted(struct lt_redis_conn *conn, struct cmd *c, const char *buf, int len)
{
    if (!conn->ac || len < 0 ||
        redisAsyncFormattedCommand(conn->ac, on_cmd_reply, c, buf, (size_t)len) != REDIS_OK)
        return LT_EAGAIN;
    c->in_hiredis = true;
    c->deadline = new_deadline(conn);
    fifo_push(conn, c);
    arm_cmd_timer(conn);
    return 0;
}

static struct cmd *cmd_new(struct lt_redis_conn *conn, lt_redis_cb *cb, void *arg)
{
    struct cmd *c = lt_calloc(1, sizeof *c);
    c->conn = conn;
    c->cb = cb;
    c->arg = arg;
    return c;
}

/* Queues a command from the owner: counted, and dropped (callback never run)
 * when hiredis refuses it. */
static int submit(struct lt_redis_conn *conn, struct cmd *c, const char *buf, int len)
{
    int rc = send_formatted(conn, c, buf, len);
    if (rc < 0) {
        cmd_free(c);
        return rc;
    }
    conn->npending++;
    return 0;
}

/* ---- subscriptions --------------------------------------------------- */

static struct sub *find_sub(struct lt_redis_conn *conn, const char *channel, size_t len)
{
    for (size_t i = 0; i < conn->nsubs; i++)
        if (conn->subs[i].len == len && memcmp(conn->subs[i].channel, channel, len) == 0)
            return &conn->subs[i];
    return NULL;
}

static void remove_sub(struct lt_redis_conn *conn, struct sub *s)
{
    lt_free(s->channel);
    *s = conn->subs[--conn->nsubs];
}

static void send_subscribe(struct lt_redis_conn *conn, struct sub *s)
{
    /* privdata is the connection, never a per-call object: hiredis 0.14
     * keeps subscription callbacks in a dict and, for a pub/sub reply it
     * cannot match, reuses the previous callback, so a short-lived privdata
     * could be used after free. on_sub_reply dispatches by channel name. */
    if (redisAsyncCommand(conn->ac, on_sub_reply, conn, "SUBSCRIBE %b", s->channel, s->len) !=
        REDIS_OK) {
        s->state = SUB_IDLE; /* the link is going away; the next one resends */
        return;
    }
    s->state = SUB_PENDING;
    s->deadline = new_deadline(conn);
    arm_cmd_timer(conn);
}

/* A new link starts with no subscriptions: forget unsubscribes in flight
 * and mark the rest for resending. */
static void subs_reset(struct lt_redis_conn *conn)
{
    for (size_t i = 0; i < conn->nsubs;) {
        struct sub *s = &conn->subs[i];
        if (s->state == SUB_LEAVING && !s->rejoin) {
            remove_sub(conn, s);
            continue;
        }
        s->state = SUB_IDLE;
        s->rejoin = false;
        i++;
    }
}

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct lt_redis_conn *conn = privdata;
    const redisReply *r = reply;
    /* NULL on teardown; ac->data is cleared when we detached the link. */
    if (!r || !ac->data || conn->ac != ac || conn->state == LT_REDIS_CLOSED)
        return;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = r->element[0]->str;
    struct sub *s = find_sub(conn, r->element[1]->str, r->element[1]->len);
    if (!s)
        return; /* unsubscribed meanwhile: in-flight messages are dropped */
    if (strcmp(kind, "message") == 0) {
        const redisReply *payload = r->element[2];
        if ((s->state == SUB_ACTIVE || s->state == SUB_PENDING) &&
            payload->type == REDIS_REPLY_STRING)
            s->cb(conn, s->channel, s->len, payload->str, payload->len, s->arg);
    } else if (strcmp(kind, "subscribe") == 0) {
        bool confirmed_now = s->state == SUB_PENDING && conn->state == LT_REDIS_READY;
        if (s->state == SUB_PENDING)
            s->state = SUB_ACTIVE;
        maybe_ready(conn); /* also when it was unsubscribed meanwhile */
        /* A subscription made while READY: from here on nothing published
         * is missed, which the owner may want to know (a fresh read). */
        if (confirmed_now)
            s->cb(conn, s->channel, s->len, NULL, 0, s->arg);
    } else if (strcmp(kind, "unsubscribe") == 0 && s->state == SUB_LEAVING) {
        /* Resubscribing only now, not when the owner asked: hiredis 0.14
         * drops its callback for the channel on this confirmation, which
         * would orphan a SUBSCRIBE sent before it. */
        if (s->rejoin) {
            s->rejoin = false;
            send_subscribe(conn, s);
        } else {
            remove_sub(conn, s);
        }
    }
}

/* ---- link lifecycle --------------------------------------------------- */

static void schedule_retry(struct lt_redis_conn *conn)
{
    if (conn->state != LT_REDIS_DOWN)
        return;
    lt_redis_timer_ms(conn->ev_retry, lt_redis_retry_delay_ms(&conn->retry));
}

/* The link is already detached (conn->ac is NULL or about to be freed). */
static void go_down(struct lt_redis_conn *conn, int head_err, const char *why)
{
    conn->link_up = false;
    evtimer_del(conn->ev_connect_to);
    evtimer_del(conn->ev_cmd_to);
    if (conn->state != LT_REDIS_CLOSED)
        lt_redis_retry_failed(&conn->retry, why);
    set_state(conn, LT_REDIS_DOWN);
    fail_all(conn, head_err);
    subs_reset(conn);
    schedule_retry(conn);
}

/* Teardown we start ourselves, from a timer or a deferred event, never from
 * inside hiredis: every callback runs before redisAsyncFree, which then only
 * releases hiredis' hold on the commands. */
static void teardown(struct lt_redis_conn *conn, int head_err, const char *why)
{
    redisAsyncContext *ac = conn->ac;
    if (!ac)
        return;
    conn->ac = NULL;
    ac->data = NULL;
    go_down(conn, head_err, why);
    redisAsyncFree(ac);
}

/* Teardown requested from inside a hiredis callback, where freeing the
 * context would pull it from under hiredis' feet: done on the next loop
 * pass, if that link is still the current one. */
static void schedule_kill(struct lt_redis_conn *conn, const char *why)
{
    if (conn->kill_pending)
        return;
    conn->kill_pending = true;
    conn->kill_gen = conn->link_gen;
    snprintf(conn->kill_why, sizeof conn->kill_why, "%s", why);
    event_active(conn->ev_kill, EV_TIMEOUT, 0);
}

static void on_kill(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_redis_conn *conn = arg;
    conn->kill_pending = false;
    if (conn->kill_gen == conn->link_gen)
        teardown(conn, LT_EDISCONNECTED, conn->kill_why);
}

/* hiredis is freeing the context itself (read/write error, EOF): it is
 * calling us from inside redisAsyncFree's loop, so we only detach. */
static void link_lost(struct lt_redis_conn *conn, const char *errstr)
{
    char why[200]; /* for the log: one snprintf, cut short when long */
    conn->ac = NULL;
    snprintf(why, sizeof why, "connection lost: %s", errstr[0] ? errstr : "unknown error");
    go_down(conn, LT_EDISCONNECTED, why);
}

/* READY on a connection with subscriptions means every recorded channel is
 * confirmed: an owner that resynchronises on READY (store.c drops cached
 * statuses) then misses no message published after it. The connect timer
 * keeps running until then, so a server that never confirms is retried. */
static void maybe_ready(struct lt_redis_conn *conn)
{
    if (!conn->link_up || conn->state != LT_REDIS_CONNECTING)
        return;
    for (size_t i = 0; i < conn->nsubs; i++)
        if (conn->subs[i].state == SUB_PENDING)
            return;
    evtimer_del(conn->ev_connect_to);
    set_state(conn, LT_REDIS_READY);
}

static void handshake_done(struct lt_redis_conn *conn)
{
    char db[24]; /* "db " and an int */
    snprintf(db, sizeof db, "db %d", conn->opts.db);
    lt_redis_retry_up(&conn->retry, db);
    conn->link_up = true;
    for (size_t i = 0; i < conn->nsubs; i++)
        if (conn->subs[i].state == SUB_IDLE)
            send_subscribe(conn, &conn->subs[i]);
    maybe_ready(conn);
}

static void on_handshake_reply(struct lt_redis_conn *conn, struct redisReply *reply, int err,
                               void *arg)
{
    const char *what = arg;
    if (err < 0 || !reply)
        return; /* the link is being torn down already */
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[160]; /* for the log: one snprintf, cut short when long */
        snprintf(why, sizeof why, "%s failed: %s", what, reply->str);
        schedule_kill(conn, why);
        return;
    }
    if (--conn->handshake_left == 0 && !conn->kill_pending)
        handshake_done(conn);
}

static void send_handshake(struct lt_redis_conn *conn, const char *what, const char *fmt,
                           const char *value)
{
    struct cmd *c = cmd_new(conn, on_handshake_reply, (void *)(uintptr_t)what);
    c->internal = true;
    char *buf = NULL;
    int len = redisFormatCommand(&buf, fmt, value);
    if (send_formatted(conn, c, buf, len) < 0) {
        cmd_free(c);
        schedule_kill(conn, "could not queue handshake");
    } else {
        conn->handshake_left++;
    }
    redisFreeCommand(buf);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct lt_redis_conn *conn = ac->data;
    if (!conn || conn->ac != ac)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context right after this returns and will not
         * call on_disconnect. No command was queued before the connect. */
        char why[200]; /* for the log: one snprintf, cut short when long */
        snprintf(why, sizeof why, "connect failed: %s", ac->c.errstr);
        conn->ac = NULL;
        go_down(conn, LT_EDISCONNECTED, why);
        return;
    }
    if (conn->state == LT_REDIS_CLOSED)
        return;
    char db[16]; /* an int */
    snprintf(db, sizeof db, "%d", conn->opts.db);
    conn->handshake_left = 0;
    if (conn->password)
        send_handshake(conn, "AUTH", "AUTH %s", conn->password);
    if (conn->opts.db != 0)
        send_handshake(conn, "SELECT", "SELECT %s", db);
    /* Without AUTH or SELECT, a PING: READY must mean the server answers,
     * not only that the kernel completed the TCP handshake (a server stuck
     * in a long script does that too). Otherwise every connect/time-out
     * cycle would count as a recovery, reset the backoff and log twice. */
    if (conn->handshake_left == 0)
        send_handshake(conn, "PING", "PING", NULL);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    struct lt_redis_conn *conn = ac->data;
    if (conn && conn->ac == ac)
        link_lost(conn, ac->c.errstr);
}

static void start_connect(struct lt_redis_conn *conn)
{
    conn->link_gen++;
    set_state(conn, LT_REDIS_CONNECTING);
    if (conn->state != LT_REDIS_CONNECTING)
        return; /* freed from on_state */
    redisAsyncContext *ac = redisAsyncConnect(conn->host, conn->opts.port);
    if (!ac) {
        fprintf(stderr, "livetally: out of memory in redisAsyncConnect\n");
        abort();
    }
    if (ac->err) {
        char why[200]; /* for the log: one snprintf, cut short when long */
        snprintf(why, sizeof why, "connect failed: %s", ac->errstr);
        redisAsyncFree(ac);
        go_down(conn, LT_EDISCONNECTED, why);
        return;
    }
    ac->data = conn;
    conn->ac = ac;
    redisLibeventAttach(ac, conn->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (conn->opts.connect_timeout_ms > 0)
        lt_redis_timer_ms(conn->ev_connect_to, conn->opts.connect_timeout_ms);
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
    struct lt_redis_conn *conn = arg;
    char why[80]; /* for the log: one snprintf, cut short when long */
    snprintf(why, sizeof why, "connect timed out after %d ms", conn->opts.connect_timeout_ms);
    teardown(conn, LT_ETIMEDOUT, why);
}

static void on_cmd_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_redis_conn *conn = arg;
    int64_t now = lt_mono_ms();
    char why[200]; /* for the log: one snprintf, cut short when long */
    if (conn->head && conn->head->deadline && conn->head->deadline <= now) {
        snprintf(why, sizeof why, "command timed out after %d ms", conn->opts.command_timeout_ms);
        teardown(conn, LT_ETIMEDOUT, why);
        return;
    }
    for (size_t i = 0; i < conn->nsubs; i++) {
        const struct sub *s = &conn->subs[i];
        if (s->state == SUB_PENDING && s->deadline <= now) {
            snprintf(why, sizeof why, "SUBSCRIBE %.*s not confirmed within %d ms", (int)s->len,
                     s->channel, conn->opts.command_timeout_ms);
            teardown(conn, LT_EDISCONNECTED, why);
            return;
        }
    }
    arm_cmd_timer(conn);
}

/* ---- replies ------------------------------------------------------------ */

static int send_eval(struct lt_redis_conn *conn, struct cmd *c, bool with_source)
{
    c->argv[0] = with_source ? "EVAL" : "EVALSHA";
    c->argvlen[0] = strlen(c->argv[0]);
    c->argv[1] = with_source ? c->script->source : c->script->sha;
    c->argvlen[1] = with_source ? c->script->source_len : 40;
    char *buf = NULL;
    int len = redisFormatCommandArgv(&buf, c->argc, c->argv, c->argvlen);
    int rc = send_formatted(conn, c, buf, len);
    redisFreeCommand(buf);
    return rc;
}

static void on_cmd_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct cmd *c = privdata;
    redisReply *r = reply;
    c->in_hiredis = false;
    if (c->completed) { /* failed by us already; hiredis lets go of it now */
        cmd_free(c);
        return;
    }
    struct lt_redis_conn *conn = c->conn;
    if (!r) {
        /* hiredis is tearing the link down on its own: fail the whole FIFO
         * now, in order (c included, and freed), rather than one by one in
         * hiredis' order. */
        if (ac->data && conn->ac == ac)
            link_lost(conn, ac->c.errstr);
        else
            complete(c, NULL, LT_EDISCONNECTED); /* not reached: c was queued */
        return;
    }
    if (c->script && c->argv[1] == c->script->sha && r->type == REDIS_REPLY_ERROR &&
        strncmp(r->str, "NOSCRIPT", 8) == 0 && conn->state == LT_REDIS_READY) {
        /* The server lost the script (restart, SCRIPT FLUSH): send the
         * source, once; the owner only sees that reply. The retry goes to
         * the end of the pipeline, so commands sent after this one may run
         * before it: owners that need an order wait for the callback. */
        fifo_unlink(conn, c);
        if (send_eval(conn, c, true) < 0)
            complete(c, NULL, LT_EDISCONNECTED);
        return;
    }
    complete(c, r, 0);
}

/* ---- public API ---------------------------------------------------------- */

struct lt_redis_conn *lt_redis_conn_new(struct event_base *base,
                                        const struct lt_redis_conn_opts *opts)
{
    struct lt_redis_conn *conn = lt_calloc(1, sizeof *conn);
    conn->base = base;
    conn->opts = *opts;
    conn->name = lt_strdup(opts->name ? opts->name : "redis");
    conn->host = lt_strdup(opts->host ? opts->host : "127.0.0.1");
    conn->password = opts->password && opts->password[0] ? lt_strdup(opts->password) : NULL;
    conn->opts.name = conn->name;
    conn->opts.host = conn->host;
    conn->opts.password = conn->password;
    lt_redis_retry_init(&conn->retry, conn->name, conn->host, conn->opts.port,
                        conn->opts.backoff_min_ms, conn->opts.backoff_max_ms, (uintptr_t)conn);
    conn->state = LT_REDIS_CONNECTING;
    conn->ev_retry = evtimer_new(base, on_retry, conn);
    conn->ev_connect_to = evtimer_new(base, on_connect_timeout, conn);
    conn->ev_cmd_to = evtimer_new(base, on_cmd_timeout, conn);
    conn->ev_kill = event_new(base, -1, 0, on_kill, conn);
    conn->ev_reap = event_new(base, -1, 0, on_reap, conn);
    /* Connect from the loop, not here: a synchronous failure would call
     * on_state inside this call, which the header promises never happens. */
    lt_redis_timer_ms(conn->ev_retry, 0);
    return conn;
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_redis_conn *conn = arg;
    redisAsyncContext *ac = conn->ac;
    conn->ac = NULL;
    if (ac)
        ac->data = NULL;
    fail_all(conn, LT_ECLOSED); /* complete() turns every error into LT_ECLOSED */
    if (ac)
        redisAsyncFree(ac);
    for (size_t i = 0; i < conn->nsubs; i++)
        lt_free(conn->subs[i].channel);
    lt_free(conn->subs);
    event_free(conn->ev_retry);
    event_free(conn->ev_connect_to);
    event_free(conn->ev_cmd_to);
    event_free(conn->ev_kill);
    event_free(conn->ev_reap);
    lt_free(conn->name);
    lt_free(conn->host);
    lt_free(conn->password);
    lt_free(conn);
}

void lt_redis_conn_free(struct lt_redis_conn *conn)
{
    if (!conn || conn->state == LT_REDIS_CLOSED)
        return;
    set_state(conn, LT_REDIS_CLOSED);
    evtimer_del(conn->ev_retry);
    evtimer_del(conn->ev_connect_to);
    evtimer_del(conn->ev_cmd_to);
    event_del(conn->ev_kill);
    /* Possibly called from inside hiredis (a reply callback) or from
     * on_state: the context and this struct go away on the next loop pass. */
    event_active(conn->ev_reap, EV_TIMEOUT, 0);
}

enum lt_redis_state lt_redis_conn_state(const struct lt_redis_conn *conn)
{
    return conn->state;
}

size_t lt_redis_conn_pending(const struct lt_redis_conn *conn)
{
    return conn->npending;
}

/* Commands are refused on a connection that has subscriptions: in
 * subscriber mode hiredis 0.14 routes their replies through its pub/sub
 * path, where an array reply (PING's, for one) is matched to no channel and
 * handed to the previous callback again, with a privdata we have freed. */
static int check_ready(const struct lt_redis_conn *conn)
{
    if (conn->state != LT_REDIS_READY || !conn->ac)
        return LT_EAGAIN;
    return conn->nsubs > 0 ? LT_EINVAL : 0;
}

int lt_redis_command_argv(struct lt_redis_conn *conn, lt_redis_cb *cb, void *arg, int argc,
                          const char **argv, const size_t *argvlen)
{
    int rc = check_ready(conn);
    if (rc < 0)
        return rc;
    if (argc <= 0)
        return LT_EINVAL;
    char *buf = NULL;
    int len = redisFormatCommandArgv(&buf, argc, argv, argvlen);
    rc = submit(conn, cmd_new(conn, cb, arg), buf, len);
    redisFreeCommand(buf);
    return rc;
}

int lt_redis_vcommand(struct lt_redis_conn *conn, lt_redis_cb *cb, void *arg, const char *fmt,
                      va_list ap)
{
    int rc = check_ready(conn);
    if (rc < 0)
        return rc;
    char *buf = NULL;
    int len = redisvFormatCommand(&buf, fmt, ap);
    if (len < 0)
        return LT_EINVAL;
    rc = submit(conn, cmd_new(conn, cb, arg), buf, len);
    redisFreeCommand(buf);
    return rc;
}

int lt_redis_command(struct lt_redis_conn *conn, lt_redis_cb *cb, void *arg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = lt_redis_vcommand(conn, cb, arg, fmt, ap);
    va_end(ap);
    return rc;
}

struct lt_redis_script *lt_redis_script_new(const char *lua_source)
{
    struct lt_redis_script *s = lt_calloc(1, sizeof *s);
    s->source = lt_strdup(lua_source);
    s->source_len = strlen(lua_source);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, s->source, s->source_len) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != 20) {
        fprintf(stderr, "livetally: libcrypto SHA-1 failed\n");
        abort();
    }
    EVP_MD_CTX_free(ctx);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 20; i++) {
        s->sha[2 * i] = hex[md[i] >> 4];
        s->sha[2 * i + 1] = hex[md[i] & 15];
    }
    s->sha[40] = '\0';
    return s;
}

const char *lt_redis_script_sha(const struct lt_redis_script *script)
{
    return script->sha;
}

/* ASKING goes first on the same link: Redis applies it to the next
 * command only (a Redis Cluster's ASK redirection). Internal: its reply is
 * not the owner's. */
static int send_asking(struct lt_redis_conn *conn)
{
    static const char asking[] = "*1\r\n$6\r\nASKING\r\n";
    struct cmd *c = cmd_new(conn, NULL, NULL);
    c->internal = true;
    int rc = send_formatted(conn, c, asking, (int)sizeof asking - 1);
    if (rc < 0)
        cmd_free(c);
    return rc;
}

int lt_redis_command_formatted(struct lt_redis_conn *conn, bool asking, lt_redis_cb *cb, void *arg,
                               const char *cmd, size_t len)
{
    int rc = check_ready(conn);
    if (rc < 0)
        return rc;
    if (len == 0 || len > INT_MAX)
        return LT_EINVAL;
    if (asking && send_asking(conn) < 0)
        return LT_EAGAIN;
    return submit(conn, cmd_new(conn, cb, arg), cmd, (int)len);
}

static int eval(struct lt_redis_conn *conn, bool asking, const struct lt_redis_script *script,
                int numkeys, int argc, const char **argv, const size_t *argvlen, lt_redis_cb *cb,
                void *arg)
{
    int rc = check_ready(conn);
    if (rc < 0)
        return rc;
    if (argc < 0 || numkeys < 0 || numkeys > argc)
        return LT_EINVAL;
    /* One block: argv pointers, lengths, then the copied bytes, kept for the
     * NOSCRIPT retry (the owner's buffers may be gone by then). */
    int total_argc = argc + 3;
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        bytes += argvlen ? argvlen[i] : strlen(argv[i]);
    size_t head = (size_t)total_argc * (sizeof(char *) + sizeof(size_t));
    char *block = lt_malloc(head + bytes + 1);
    struct cmd *c = cmd_new(conn, cb, arg);
    c->script = script;
    c->argc = total_argc;
    c->argv = (const char **)(void *)block;
    c->argvlen = (size_t *)(void *)(block + (size_t)total_argc * sizeof(char *));
    char *data = block + head;
    snprintf(c->numkeys, sizeof c->numkeys, "%d", numkeys);
    c->argv[2] = c->numkeys;
    c->argvlen[2] = strlen(c->numkeys);
    for (int i = 0; i < argc; i++) {
        size_t n = argvlen ? argvlen[i] : strlen(argv[i]);
        memcpy(data, argv[i], n);
        c->argv[3 + i] = data;
        c->argvlen[3 + i] = n;
        data += n;
    }
    /* After ASKING the source goes at once: a NOSCRIPT retry would come
     * without ASKING and be redirected again. */
    if ((asking && send_asking(conn) < 0) || send_eval(conn, c, asking) < 0) {
        cmd_free(c);
        return LT_EAGAIN;
    }
    conn->npending++;
    return 0;
}

int lt_redis_eval(struct lt_redis_conn *conn, const struct lt_redis_script *script, int numkeys,
                  int argc, const char **argv, const size_t *argvlen, lt_redis_cb *cb, void *arg)
{
    return eval(conn, false, script, numkeys, argc, argv, argvlen, cb, arg);
}

int lt_redis_eval_asking(struct lt_redis_conn *conn, const struct lt_redis_script *script,
                         int numkeys, int argc, const char **argv, const size_t *argvlen,
                         lt_redis_cb *cb, void *arg)
{
    return eval(conn, true, script, numkeys, argc, argv, argvlen, cb, arg);
}

int lt_redis_subscribe(struct lt_redis_conn *conn, const char *channel, lt_redis_message_cb *cb,
                       void *arg)
{
    size_t len = strlen(channel);
    struct sub *s = find_sub(conn, channel, len);
    if (s) {
        if (s->state != SUB_LEAVING || s->rejoin)
            return LT_EINVAL;
        s->cb = cb; /* resent when the pending UNSUBSCRIBE is confirmed */
        s->arg = arg;
        s->rejoin = true;
        return 0;
    }
    if (conn->nsubs == conn->subs_cap) {
        conn->subs_cap = conn->subs_cap ? conn->subs_cap * 2 : 8;
        conn->subs = lt_realloc(conn->subs, conn->subs_cap * sizeof *conn->subs);
    }
    s = &conn->subs[conn->nsubs++];
    *s = (struct sub){.channel = lt_strndup(channel, len), .len = len, .cb = cb, .arg = arg};
    if (conn->link_up && conn->state != LT_REDIS_CLOSED)
        send_subscribe(conn, s);
    return 0;
}

int lt_redis_unsubscribe(struct lt_redis_conn *conn, const char *channel)
{
    struct sub *s = find_sub(conn, channel, strlen(channel));
    if (!s || (s->state == SUB_LEAVING && !s->rejoin))
        return LT_ENOTFOUND;
    if (s->state == SUB_LEAVING) {
        s->rejoin = false;
        return 0;
    }
    /* hiredis registers no callback for UNSUBSCRIBE; its confirmation comes
     * through the channel's SUBSCRIBE callback (on_sub_reply). */
    if ((s->state == SUB_PENDING || s->state == SUB_ACTIVE) && conn->ac &&
        redisAsyncCommand(conn->ac, NULL, NULL, "UNSUBSCRIBE %b", s->channel, s->len) == REDIS_OK) {
        s->state = SUB_LEAVING;
        return 0;
    }
    remove_sub(conn, s);
    maybe_ready(conn);
    return 0;
}

void lt_redis_conn_reset(struct lt_redis_conn *conn)
{
    if (conn->ac)
        schedule_kill(conn, "reset by its owner");
}
