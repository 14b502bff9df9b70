/* The Redis Cluster router (redis_cluster.h): slot map, one connection per
 * master, redirections and retries, WAIT groups. */
#include "livetally/store/redis_cluster.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/base/strbuf.h"
#include "livetally/store/cluster_slots.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "cluster"
#define MAX_REDIRECTS 5
#define RETRY_MIN_MS 10
#define RETRY_MAX_MS 500
#define TICK_MS 1000
#define REFRESH_EVERY_MS 10000
#define REFRESH_MIN_GAP_MS 50

/* A caller waiting for a WAIT (lt_redis_cluster_wait_replica). */
struct waiter {
    struct waiter *next;
    lt_redis_cluster_done_cb *cb;
    void *arg;
};

/* A node we talk to: every master of the map, and the seeds. Nodes are
 * kept for the router's life (a cluster has few); a node that stops being
 * a master (failed over) loses its connection. */
struct node {
    struct lt_redis_cluster *cl;
    char *host;
    int port;
    bool seed;
    bool master; /* in the current map */
    struct lt_redis_conn *conn;
    /* WAIT groups: `waiting` are covered by the WAIT in flight; `next`
     * wait for the one after it. */
    struct waiter *waiting, *next_head, *next_tail;
    bool wait_in_flight;
    unsigned wait_failures; /* in a row, for the log */
};

struct lt_redis_cluster {
    struct event_base *base;
    struct lt_redis_cluster_opts opts;
    char *password;
    struct node **nodes;
    size_t n_nodes, cap_nodes;
    struct lt_cluster_map *map;
    struct node **masters; /* map master index -> node */
    bool ready;
    bool refreshing;
    bool refresh_wanted;
    int64_t refreshed_ms;  /* monotonic: the last refresh sent */
    unsigned refresh_next; /* round robin over nodes */
    struct event *ev_tick;
    struct event *ev_refresh;
    struct event *ev_reap; /* the deferred free */
    struct req *retrying;  /* requests waiting for their retry timer */
    bool freeing;
};

/* One command the router owns until its outcome is known. */
struct req {
    struct lt_redis_cluster *cl;
    lt_redis_cb *cb;
    void *arg;
    int slot; /* -1: any master */
    /* a script call (argv copied: keys then arguments) or a RESP command */
    const struct lt_redis_script *script;
    int numkeys, argc;
    const char **argv;
    size_t *lens;
    char *cmd;
    size_t cmd_len;
    /* where the next send goes when a redirection named a node */
    struct node *target;
    bool asking;
    int redirects, retries;
    int64_t deadline; /* monotonic ms: no retry after it */
    struct event *ev_retry;
    struct req *prev, *next; /* in cl->retrying while the timer runs */
    bool in_retrying;
};

static void request_refresh(struct lt_redis_cluster *cl);
static void send_wait(struct node *n);

/* ---- nodes -------------------------------------------------------------- */

static void on_node_state(struct lt_redis_conn *conn, enum lt_redis_state state, void *arg);

static void update_ready(struct lt_redis_cluster *cl)
{
    bool ready = cl->map != NULL && !cl->freeing;
    for (size_t i = 0; ready && i < lt_cluster_map_n_masters(cl->map); i++) {
        struct node *n = cl->masters[i];
        ready = n->conn && lt_redis_conn_state(n->conn) == LT_REDIS_READY;
    }
    if (ready == cl->ready)
        return;
    cl->ready = ready;
    if (ready)
        lt_info(MOD, "ready: %zu masters connected", lt_cluster_map_n_masters(cl->map));
    if (cl->opts.on_ready)
        cl->opts.on_ready(cl, ready, cl->opts.arg);
}

static void node_connect(struct node *n)
{
    if (n->conn)
        return;
    struct lt_redis_conn_opts o = {
        .name = "cluster node", /* the logs add host:port */
        .host = n->host,
        .port = n->port,
        .password = n->cl->password,
        .connect_timeout_ms = n->cl->opts.connect_timeout_ms,
        .command_timeout_ms = n->cl->opts.command_timeout_ms,
        .on_state = on_node_state,
        .arg = n,
    };
    n->conn = lt_redis_conn_new(n->cl->base, &o);
}

static void fail_waiters(struct waiter *w, int err)
{
    while (w) {
        struct waiter *next = w->next;
        w->cb(w->arg, err);
        lt_free(w);
        w = next;
    }
}

/* The node is no longer a master or a seed: its link goes. Waiters not
 * yet covered by a WAIT fail now; those of the WAIT in flight fail when
 * its callback runs with LT_ECLOSED. */
static void node_disconnect(struct node *n)
{
    if (!n->conn)
        return;
    struct waiter *w = n->next_head;
    n->next_head = n->next_tail = NULL;
    lt_redis_conn_free(n->conn);
    n->conn = NULL;
    fail_waiters(w, LT_EDISCONNECTED);
}

static struct node *find_node(struct lt_redis_cluster *cl, const char *host, int port)
{
    for (size_t i = 0; i < cl->n_nodes; i++)
        if (cl->nodes[i]->port == port && strcmp(cl->nodes[i]->host, host) == 0)
            return cl->nodes[i];
    return NULL;
}

static struct node *add_node(struct lt_redis_cluster *cl, const char *host, int port)
{
    struct node *n = find_node(cl, host, port);
    if (n)
        return n;
    if (cl->n_nodes == cl->cap_nodes) {
        cl->cap_nodes = cl->cap_nodes ? cl->cap_nodes * 2 : 8;
        cl->nodes = lt_realloc(cl->nodes, cl->cap_nodes * sizeof *cl->nodes);
    }
    n = lt_calloc(1, sizeof *n);
    n->cl = cl;
    n->host = lt_strdup(host);
    n->port = port;
    cl->nodes[cl->n_nodes++] = n;
    return n;
}

static struct node *node_of_conn(struct lt_redis_cluster *cl, const struct lt_redis_conn *conn)
{
    for (size_t i = 0; conn && i < cl->n_nodes; i++)
        if (cl->nodes[i]->conn == conn)
            return cl->nodes[i];
    return NULL;
}

static void on_node_state(struct lt_redis_conn *conn, enum lt_redis_state state, void *arg)
{
    (void)conn;
    struct node *n = arg;
    struct lt_redis_cluster *cl = n->cl;
    if (cl->freeing || state == LT_REDIS_CLOSED)
        return;
    if (state == LT_REDIS_READY && n->next_head && !n->wait_in_flight)
        send_wait(n);
    if (state == LT_REDIS_DOWN && n->master)
        request_refresh(cl); /* failed over, perhaps */
    if (state == LT_REDIS_READY && !cl->map)
        request_refresh(cl); /* a seed is up: ask it for the map */
    update_ready(cl);
}

/* ---- the slot map ------------------------------------------------------ */

static void take_map(struct lt_redis_cluster *cl, struct lt_cluster_map *map,
                     const struct node *asked)
{
    const char *from = asked->host;
    size_t nm = lt_cluster_map_n_masters(map);
    struct node **masters = lt_calloc(nm ? nm : 1, sizeof *masters);
    for (size_t i = 0; i < cl->n_nodes; i++)
        cl->nodes[i]->master = false;
    for (size_t i = 0; i < nm; i++) {
        const struct lt_cluster_node *m = &lt_cluster_map_master(map, i)->master;
        /* "" : the node the map was asked of did not say its own address */
        masters[i] = add_node(cl, m->host[0] ? m->host : from, m->port);
        masters[i]->master = true;
        node_connect(masters[i]);
    }
    bool changed = !cl->map;
    if (cl->map) {
        for (unsigned s = 0; s < LT_CLUSTER_SLOTS && !changed; s++) {
            const struct node *was = cl->masters[lt_cluster_map_master_index(cl->map, s)];
            changed = was != masters[lt_cluster_map_master_index(map, s)];
        }
    }
    lt_cluster_map_free(cl->map);
    lt_free(cl->masters);
    cl->map = map;
    cl->masters = masters;
    for (size_t i = 0; i < cl->n_nodes; i++) {
        struct node *n = cl->nodes[i];
        if (!n->master && !n->seed)
            node_disconnect(n);
    }
    if (changed) {
        lt_info(MOD, "slot map from %s:%d: %zu masters", from, asked->port, nm);
        lt_metrics->cluster_map_changes_total++;
    }
    update_ready(cl);
    if (changed && cl->opts.on_map)
        cl->opts.on_map(cl, cl->opts.arg);
}

struct refresh_call {
    struct lt_redis_cluster *cl;
    struct node *node;
    bool slots; /* CLUSTER SLOTS: the node did not know SHARDS */
};

static void refresh_done(struct lt_redis_cluster *cl)
{
    cl->refreshing = false;
    if (cl->refresh_wanted)
        request_refresh(cl);
}

static void on_map_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    struct refresh_call *call = arg;
    struct lt_redis_cluster *cl = call->cl;
    struct node *n = call->node;
    bool slots = call->slots;
    lt_free(call);
    if (err == LT_ECLOSED && cl->freeing)
        return; /* the router is going: nothing of it may be touched but this */
    const char *cmd = slots ? "CLUSTER SLOTS" : "CLUSTER SHARDS";
    if (!err && r && r->type == REDIS_REPLY_ERROR && !slots &&
        (strstr(r->str, "nknown subcommand") || strstr(r->str, "nknown command"))) {
        struct refresh_call *again = lt_calloc(1, sizeof *again);
        *again = (struct refresh_call){.cl = cl, .node = n, .slots = true};
        if (lt_redis_command(conn, on_map_reply, again, "CLUSTER SLOTS") == 0)
            return;
        lt_free(again);
    }
    struct lt_cluster_map *map = NULL;
    char why[256];
    struct lt_strbuf sb;
    lt_strbuf_init_fixed(&sb, why, sizeof why);
    if (err || !r) {
        lt_strbuf_add_str(&sb, "no reply");
    } else if (r->type == REDIS_REPLY_ERROR) {
        lt_strbuf_add_str(&sb, r->str);
    } else {
        int rc = slots ? lt_cluster_map_from_slots(r, &map, &sb)
                       : lt_cluster_map_from_shards(r, &map, &sb);
        if (rc != 0)
            map = NULL;
    }
    if (map) {
        take_map(cl, map, n);
    } else {
        lt_warn(MOD, "%s from %s:%d: %s; keeping the map we had", cmd, n->host, n->port,
                lt_strbuf_text(&sb));
        cl->refresh_wanted = true; /* another node is asked next */
    }
    refresh_done(cl);
}

/* The next node that is up, masters and seeds alike, round robin so that a
 * node answering with a stale map is not asked twice in a row. */
static struct node *pick_refresh_node(struct lt_redis_cluster *cl)
{
    for (size_t k = 0; k < cl->n_nodes; k++) {
        struct node *n = cl->nodes[(cl->refresh_next + k) % cl->n_nodes];
        if (n->conn && lt_redis_conn_state(n->conn) == LT_REDIS_READY) {
            cl->refresh_next = (unsigned)((cl->refresh_next + k + 1) % cl->n_nodes);
            return n;
        }
    }
    return NULL;
}

static void start_refresh(struct lt_redis_cluster *cl)
{
    struct node *n = pick_refresh_node(cl);
    if (!n) {
        /* No node is up: connect to every seed again (they may have been
         * dropped as non-masters) and wait for one. */
        for (size_t i = 0; i < cl->n_nodes; i++)
            if (cl->nodes[i]->seed || cl->nodes[i]->master)
                node_connect(cl->nodes[i]);
        return;
    }
    struct refresh_call *call = lt_calloc(1, sizeof *call);
    *call = (struct refresh_call){.cl = cl, .node = n};
    if (lt_redis_command(n->conn, on_map_reply, call, "CLUSTER SHARDS") != 0) {
        lt_free(call);
        return;
    }
    cl->refreshing = true;
    cl->refresh_wanted = false;
    cl->refreshed_ms = lt_mono_ms();
    lt_metrics->cluster_map_refreshes_total++;
}

static void on_refresh_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_redis_cluster *cl = arg;
    if (!cl->refreshing && cl->refresh_wanted)
        start_refresh(cl);
}

static void request_refresh(struct lt_redis_cluster *cl)
{
    if (cl->freeing)
        return;
    cl->refresh_wanted = true;
    if (cl->refreshing || evtimer_pending(cl->ev_refresh, NULL))
        return;
    int64_t gap = lt_mono_ms() - cl->refreshed_ms;
    int64_t delay = gap >= REFRESH_MIN_GAP_MS ? 0 : REFRESH_MIN_GAP_MS - gap;
    struct timeval tv = {0, (suseconds_t)(delay * 1000)};
    evtimer_add(cl->ev_refresh, &tv);
}

void lt_redis_cluster_refresh(struct lt_redis_cluster *cl)
{
    request_refresh(cl);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_redis_cluster *cl = arg;
    if (!cl->ready || lt_mono_ms() - cl->refreshed_ms >= REFRESH_EVERY_MS)
        request_refresh(cl);
    /* An idle link would not notice a node that hangs without closing
     * the socket: a PING's timeout does (redis_conn.h). */
    for (size_t i = 0; i < cl->n_nodes; i++) {
        struct lt_redis_conn *c = cl->nodes[i]->conn;
        if (c && lt_redis_conn_state(c) == LT_REDIS_READY && lt_redis_conn_pending(c) == 0)
            lt_redis_command(c, NULL, NULL, "PING");
    }
}

/* ---- requests ------------------------------------------------------------ */

static void retrying_unlink(struct req *q)
{
    if (!q->in_retrying)
        return;
    if (q->prev)
        q->prev->next = q->next;
    else
        q->cl->retrying = q->next;
    if (q->next)
        q->next->prev = q->prev;
    q->prev = q->next = NULL;
    q->in_retrying = false;
}

static void req_free(struct req *q)
{
    retrying_unlink(q);
    if (q->ev_retry)
        event_free(q->ev_retry);
    lt_free(q->argv); /* lens and the bytes share the block */
    lt_free(q->cmd);
    lt_free(q);
}

static void req_finish(struct req *q, struct lt_redis_conn *conn, redisReply *r, int err)
{
    if (q->cb)
        q->cb(conn, r, err, q->arg);
    req_free(q);
}

static struct node *route(struct lt_redis_cluster *cl, const struct req *q)
{
    if (q->target)
        return q->target;
    if (!cl->map)
        return NULL;
    if (q->slot >= 0)
        return cl->masters[lt_cluster_map_master_index(cl->map, (unsigned)q->slot)];
    for (size_t i = 0; i < lt_cluster_map_n_masters(cl->map); i++) {
        struct node *n = cl->masters[i];
        if (n->conn && lt_redis_conn_state(n->conn) == LT_REDIS_READY)
            return n;
    }
    return NULL;
}

static void on_req_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg);

/* Sends q where it goes now. 0, or LT_EAGAIN when that node is not up. */
static int req_send(struct req *q)
{
    struct node *n = route(q->cl, q);
    if (!n || !n->conn)
        return LT_EAGAIN;
    bool asking = q->asking;
    q->target = NULL;
    q->asking = false;
    if (q->script) {
        return asking ? lt_redis_eval_asking(n->conn, q->script, q->numkeys, q->argc, q->argv,
                                             q->lens, on_req_reply, q)
                      : lt_redis_eval(n->conn, q->script, q->numkeys, q->argc, q->argv, q->lens,
                                      on_req_reply, q);
    }
    return lt_redis_command_formatted(n->conn, asking, on_req_reply, q, q->cmd, q->cmd_len);
}

static void req_retry_later(struct req *q);

static void on_req_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct req *q = arg;
    retrying_unlink(q);
    if (req_send(q) == 0)
        return;
    if (lt_mono_ms() >= q->deadline) {
        /* Not sent again, but an earlier send's fate may be unknown. */
        req_finish(q, NULL, NULL, LT_EDISCONNECTED);
        return;
    }
    req_retry_later(q);
}

static void req_retry_later(struct req *q)
{
    struct lt_redis_cluster *cl = q->cl;
    if (!q->ev_retry)
        q->ev_retry = evtimer_new(cl->base, on_req_retry, q);
    q->next = cl->retrying;
    if (cl->retrying)
        cl->retrying->prev = q;
    cl->retrying = q;
    q->in_retrying = true;
    q->retries++;
    int ms = RETRY_MIN_MS << (q->retries < 6 ? q->retries : 6);
    struct timeval tv = {0, (suseconds_t)(ms > RETRY_MAX_MS ? RETRY_MAX_MS : ms) * 1000};
    evtimer_add(q->ev_retry, &tv);
    lt_metrics->cluster_retries_total++;
}

/* MOVED or ASK: the named node gets the command next. */
static bool redirect(struct req *q, struct lt_redis_conn *conn, const redisReply *r,
                     enum lt_cluster_error kind)
{
    struct lt_redis_cluster *cl = q->cl;
    struct lt_cluster_redirect rd;
    if (q->redirects >= MAX_REDIRECTS || lt_cluster_redirect_parse(r->str, r->len, &rd) != 0)
        return false;
    q->redirects++;
    if (!rd.host[0]) { /* Redis' "unknown endpoint": the node that answered */
        const struct node *from = node_of_conn(cl, conn);
        if (!from)
            return false;
        snprintf(rd.host, sizeof rd.host, "%s", from->host);
    }
    struct node *n = add_node(cl, rd.host, rd.port);
    node_connect(n);
    q->target = n;
    q->asking = kind == LT_CLUSTER_ERR_ASK;
    if (kind == LT_CLUSTER_ERR_MOVED) {
        lt_metrics->cluster_moved_total++;
        request_refresh(cl);
    } else {
        lt_metrics->cluster_ask_total++;
    }
    if (req_send(q) != 0) {
        /* the named node is still connecting: try it again shortly */
        q->target = n;
        q->asking = kind == LT_CLUSTER_ERR_ASK;
        req_retry_later(q);
    }
    return true;
}

static void on_req_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    struct req *q = arg;
    struct lt_redis_cluster *cl = q->cl;
    if (err || !r) {
        if (!cl->freeing && err != LT_ECLOSED)
            request_refresh(cl); /* a master may have failed */
        req_finish(q, conn, r, err ? err : LT_EDISCONNECTED);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR && !cl->freeing) {
        enum lt_cluster_error kind = lt_cluster_error_kind(r->str, r->len);
        if ((kind == LT_CLUSTER_ERR_MOVED || kind == LT_CLUSTER_ERR_ASK) &&
            redirect(q, conn, r, kind))
            return;
        if (lt_cluster_error_retryable(kind) && lt_mono_ms() < q->deadline) {
            if (kind == LT_CLUSTER_ERR_CLUSTERDOWN)
                request_refresh(cl);
            req_retry_later(q);
            return;
        }
    }
    req_finish(q, conn, r, 0);
}

static struct req *req_new(struct lt_redis_cluster *cl, int slot, lt_redis_cb *cb, void *arg)
{
    struct req *q = lt_calloc(1, sizeof *q);
    q->cl = cl;
    q->slot = slot;
    q->cb = cb;
    q->arg = arg;
    q->deadline = lt_mono_ms() + cl->opts.command_timeout_ms;
    return q;
}

/* The first send: LT_EAGAIN goes back to the owner, who tries later. */
static int req_start(struct req *q)
{
    int rc = req_send(q);
    if (rc != 0) {
        q->cb = NULL;
        req_free(q);
    }
    return rc;
}

int lt_redis_cluster_command(struct lt_redis_cluster *cl, const char *route_key, lt_redis_cb *cb,
                             void *arg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = lt_redis_cluster_vcommand(cl, route_key, cb, arg, fmt, ap);
    va_end(ap);
    return rc;
}

int lt_redis_cluster_vcommand(struct lt_redis_cluster *cl, const char *route_key, lt_redis_cb *cb,
                              void *arg, const char *fmt, va_list ap)
{
    if (!cl->map)
        return LT_EAGAIN;
    char *buf = NULL;
    int len = redisvFormatCommand(&buf, fmt, ap);
    if (len <= 0)
        return LT_EINVAL;
    int slot = route_key ? (int)lt_cluster_keyslot(route_key, strlen(route_key)) : -1;
    struct req *q = req_new(cl, slot, cb, arg);
    q->cmd = lt_malloc((size_t)len);
    memcpy(q->cmd, buf, (size_t)len);
    q->cmd_len = (size_t)len;
    redisFreeCommand(buf);
    return req_start(q);
}

int lt_redis_cluster_eval(struct lt_redis_cluster *cl, const struct lt_redis_script *script,
                          int numkeys, int argc, const char **argv, const size_t *argvlen,
                          lt_redis_cb *cb, void *arg)
{
    if (!cl->map)
        return LT_EAGAIN;
    if (numkeys < 1 || argc < numkeys)
        return LT_EINVAL;
    /* One block: pointers, lengths, bytes, kept for sending again. */
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        bytes += argvlen ? argvlen[i] : strlen(argv[i]);
    size_t head = (size_t)argc * (sizeof(char *) + sizeof(size_t));
    char *block = lt_malloc(head + bytes + 1);
    struct req *q = req_new(cl, 0, cb, arg);
    q->script = script;
    q->numkeys = numkeys;
    q->argc = argc;
    q->argv = (const char **)(void *)block;
    q->lens = (size_t *)(void *)(block + (size_t)argc * sizeof(char *));
    char *data = block + head;
    for (int i = 0; i < argc; i++) {
        size_t n = argvlen ? argvlen[i] : strlen(argv[i]);
        memcpy(data, argv[i], n);
        q->argv[i] = data;
        q->lens[i] = n;
        data += n;
    }
    q->slot = (int)lt_cluster_keyslot(q->argv[0], q->lens[0]);
    return req_start(q);
}

/* ---- WAIT groups ------------------------------------------------------- */

/* The replicas the map lists for n's shard, failed ones included: a
 * replica that is down now (stopped, cut off) can come back and be promoted
 * with what it had, so a batch is not safe until one has confirmed it. A
 * failed master is not a replica (cluster_slots.c leaves it out), so after
 * a failover the new master waits for nobody until its old master rejoins
 * as its replica. */
static size_t listed_replicas(const struct lt_redis_cluster *cl, const struct node *n)
{
    for (size_t i = 0; cl->map && i < lt_cluster_map_n_masters(cl->map); i++)
        if (cl->masters[i] == n)
            return lt_cluster_map_master(cl->map, i)->n_replicas;
    return 0;
}

/* The wait of one WAIT: short enough that a WAIT never meets the command
 * timeout (which would tear the whole link down). */
static int wait_ms(const struct lt_redis_cluster *cl)
{
    int ms = cl->opts.command_timeout_ms / 4;
    return ms > 1000 ? 1000 : ms;
}

static void on_wait_reply(struct lt_redis_conn *conn, redisReply *r, int err, void *arg)
{
    (void)conn;
    struct node *n = arg;
    struct waiter *w = n->waiting;
    n->waiting = NULL;
    n->wait_in_flight = false;
    int rc = 0;
    if (err)
        rc = err;
    else if (!r || r->type != REDIS_REPLY_INTEGER)
        rc = LT_EPROTO;
    else if (r->integer < 1)
        rc = LT_ETIMEDOUT;
    /* Logged when it starts failing, then every 100th: while a replica is
     * down every WAIT of its master fails (its streams' batches wait, safe
     * in the spool; README "Redis Cluster"). */
    if (rc && rc != LT_ECLOSED && n->wait_failures++ % 100 == 0)
        lt_warn(MOD,
                "WAIT on %s:%d: %s (%u in a row); its batches are kept and sent again until "
                "a replica has them",
                n->host, n->port,
                r && r->type == REDIS_REPLY_ERROR ? r->str
                : rc == LT_ETIMEDOUT              ? "no replica confirmed in time"
                                                  : "no reply",
                n->wait_failures);
    if (rc == 0 && n->wait_failures) {
        lt_info(MOD, "WAIT on %s:%d: a replica confirms again after %u failures", n->host, n->port,
                n->wait_failures);
        n->wait_failures = 0;
    }
    if (rc)
        lt_metrics->cluster_wait_failed_total++;
    fail_waiters(w, rc);
    if (!n->cl->freeing && n->next_head && n->conn &&
        lt_redis_conn_state(n->conn) == LT_REDIS_READY)
        send_wait(n);
}

static void send_wait(struct node *n)
{
    if (lt_redis_command(n->conn, on_wait_reply, n, "WAIT 1 %d", wait_ms(n->cl)) != 0)
        return; /* not up: sent when it is (on_node_state), or failed with it */
    n->waiting = n->next_head;
    n->next_head = n->next_tail = NULL;
    n->wait_in_flight = true;
}

void lt_redis_cluster_wait_replica(struct lt_redis_cluster *cl, struct lt_redis_conn *conn,
                                   lt_redis_cluster_done_cb *cb, void *arg)
{
    struct node *n = node_of_conn(cl, conn);
    if (!n || !n->master || cl->freeing) {
        cb(arg, LT_EDISCONNECTED);
        return;
    }
    if (listed_replicas(cl, n) == 0) {
        cb(arg, 0); /* nothing to wait for: no failover could lose it */
        return;
    }
    struct waiter *w = lt_calloc(1, sizeof *w);
    w->cb = cb;
    w->arg = arg;
    if (n->next_tail)
        n->next_tail->next = w;
    else
        n->next_head = w;
    n->next_tail = w;
    if (!n->wait_in_flight)
        send_wait(n);
}

/* ---- the router -------------------------------------------------------- */

static void on_reap(evutil_socket_t fd, short what, void *arg);

struct lt_redis_cluster *lt_redis_cluster_new(struct event_base *base,
                                              const struct lt_redis_cluster_opts *opts)
{
    struct lt_redis_cluster *cl = lt_calloc(1, sizeof *cl);
    cl->base = base;
    cl->opts = *opts;
    cl->opts.seeds = NULL;
    cl->password = opts->password && opts->password[0] ? lt_strdup(opts->password) : NULL;
    for (size_t i = 0; i < opts->n_seeds; i++) {
        char host[LT_CLUSTER_HOST_MAX + 1];
        int port;
        const char *s = opts->seeds[i];
        if (lt_cluster_parse_address(s, strlen(s), host, &port) != 0 || !host[0]) {
            lt_warn(MOD, "seed %s is not host:port; skipped", s);
            continue;
        }
        struct node *n = add_node(cl, host, port);
        n->seed = true;
        node_connect(n);
    }
    cl->ev_refresh = evtimer_new(base, on_refresh_timer, cl);
    cl->ev_reap = event_new(base, -1, 0, on_reap, cl);
    cl->ev_tick = event_new(base, -1, EV_PERSIST, on_tick, cl);
    struct timeval tv = {TICK_MS / 1000, (TICK_MS % 1000) * 1000};
    event_add(cl->ev_tick, &tv);
    return cl;
}

/* After every connection's deferred free has run its callbacks (they were
 * made active before this, and libevent runs active events in order). */
static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_redis_cluster *cl = arg;
    for (size_t i = 0; i < cl->n_nodes; i++) {
        fail_waiters(cl->nodes[i]->waiting, LT_ECLOSED);
        lt_free(cl->nodes[i]->host);
        lt_free(cl->nodes[i]);
    }
    lt_free(cl->nodes);
    lt_free(cl->masters);
    lt_free(cl->password);
    event_free(cl->ev_reap);
    lt_free(cl);
}

void lt_redis_cluster_free(struct lt_redis_cluster *cl)
{
    if (!cl || cl->freeing)
        return;
    cl->freeing = true;
    event_free(cl->ev_tick);
    event_free(cl->ev_refresh);
    while (cl->retrying)
        req_finish(cl->retrying, NULL, NULL, LT_ECLOSED);
    for (size_t i = 0; i < cl->n_nodes; i++)
        node_disconnect(cl->nodes[i]);
    lt_cluster_map_free(cl->map);
    cl->map = NULL;
    event_active(cl->ev_reap, EV_TIMEOUT, 0);
}

bool lt_redis_cluster_ready(const struct lt_redis_cluster *cl)
{
    return cl->ready;
}

int lt_redis_cluster_slot_master(const struct lt_redis_cluster *cl, unsigned slot,
                                 const char **host, int *port)
{
    if (!cl->map || slot >= LT_CLUSTER_SLOTS)
        return LT_EAGAIN;
    const struct node *n = cl->masters[lt_cluster_map_master_index(cl->map, slot)];
    *host = n->host;
    *port = n->port;
    return 0;
}

size_t lt_redis_cluster_n_masters(const struct lt_redis_cluster *cl)
{
    return cl->map ? lt_cluster_map_n_masters(cl->map) : 0;
}

int lt_redis_cluster_any_master(const struct lt_redis_cluster *cl, unsigned i, const char **host,
                                int *port)
{
    if (!cl->map || lt_cluster_map_n_masters(cl->map) == 0)
        return LT_EAGAIN;
    const struct node *n = cl->masters[i % lt_cluster_map_n_masters(cl->map)];
    *host = n->host;
    *port = n->port;
    return 0;
}
