/* lt-wsbench: the WebSocket fan-out load generator.
 *
 * One coordinator forks --procs worker processes. Each worker opens its share
 * of --clients WebSocket subscribers to one stream on a libevent loop, bound
 * round robin to the --sources addresses, and reads what the server pushes.
 * The coordinator waits until every client has its first totals, holds them
 * idle (server RSS per connection), then POSTs --updates likes over one
 * keep-alive HTTP connection and measures, in the workers, the time from each
 * POST to the first frame that carries its value (publish-to-receive).
 *
 * Processes share one MAP_SHARED region made before fork: the coordinator
 * writes the phase, the baseline likes L0 and the send time of each update;
 * each worker writes only its own statistics slot. CLOCK_MONOTONIC is one
 * clock for the whole system, so a worker subtracts the coordinator's send
 * time from its own receive time directly.
 *
 * The generator shares the machine's cores with the server, so every
 * received frame is handled with as little work as possible: one read() per
 * wake-up into a per-process scratch buffer, one clock read per read(), and a
 * scan for "likes" instead of a JSON parse (--parse json checks the scan). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h> /* struct event inside each client: no allocation */
#include <jansson.h>

#include "livetally/net/ws_frame.h"

#define WSB_MAX_SOURCES 64
#define WSB_MAX_PIDS 64
#define WSB_MAX_PROCS 64
#define WSB_PER_PROC_ADVISED 15000 /* leaves room under the 20,000 open files */
#define WSB_HIST_BUCKET_NS 100000  /* 0.1 ms */
#define WSB_HIST_BUCKETS 100001    /* up to 10 s; the last one is overflow */
#define WSB_SCRATCH (256 * 1024)
#define WSB_MAX_MESSAGE (64 * 1024)
#define WSB_MAX_HEAD 8192
#define WSB_MAX_INFLIGHT 1000 /* handshakes open at once per process */
#define WSB_NS 1000000000LL

/* ---------------------------------------------------------------------------
 * Options */

struct wsb_options {
    const char *host;
    long port;
    const char *stream;
    long clients;
    long procs; /* 0: chosen from clients */
    const char *sources_arg;
    long updates;
    long interval_ms;
    double idle_seconds;
    const char *pids_arg;
    long ramp;
    long poll_us; /* > 0: poll the sockets this often instead of sleeping in epoll */
    double client_timeout;
    double final_wait;
    double timeout;
    const char *parse;
    const char *label;
    const char *target;    /* "livetally" or "nchan" */
    const char *ports_arg; /* more server ports: clients spread over all */
    /* Derived: */
    bool parse_json;
    bool nchan; /* nchan: subscribe at /sub/<stream>, publish to /pub/<stream> */
    long ports[WSB_MAX_SOURCES];
    int nports;
    struct in_addr host_addr;
    struct in_addr sources[WSB_MAX_SOURCES];
    int nsources;
    pid_t server_pids[WSB_MAX_PIDS];
    int npids;
};

/* ---------------------------------------------------------------------------
 * Shared memory */

enum wsb_phase { WSB_PHASE_CONNECT, WSB_PHASE_RUN, WSB_PHASE_STOP };

/* Why a client ended: before its first totals it counts as failed, after
 * it as dropped. */
enum wsb_reason {
    WSB_R_CONNECT,     /* socket, bind or connect failed */
    WSB_R_TIMEOUT,     /* no progress within --client-timeout before the first totals */
    WSB_R_STATUS,      /* upgrade answered with something other than 101 */
    WSB_R_ACCEPT,      /* wrong or missing Sec-WebSocket-Accept */
    WSB_R_EOF,         /* the server closed the TCP connection */
    WSB_R_IO,          /* read error (reset) */
    WSB_R_CLOSE_FRAME, /* the server sent a close frame */
    WSB_R_PROTOCOL,    /* the frame reader refused the server's bytes */
    WSB_R_COUNT
};
static const char *const wsb_reason_names[WSB_R_COUNT] = {
    "connect", "timeout", "http_status", "bad_accept", "eof", "io_error", "close_frame", "protocol",
};

/* Latencies of (client, update) pairs: 0.1 ms buckets and the exact maximum. */
struct wsb_hist {
    _Atomic uint64_t samples;
    _Atomic int64_t max_ns;
    uint32_t b[WSB_HIST_BUCKETS];
};

/* One worker's slot: written only by that worker (relaxed atomics so that the
 * coordinator may poll them); the histogram is read after the worker exited. */
struct wsb_proc_stats {
    _Atomic uint64_t opened;
    _Atomic uint64_t upgraded;
    _Atomic uint64_t subscribed;
    _Atomic uint64_t failed;
    _Atomic uint64_t dropped;
    _Atomic uint64_t failed_by[WSB_R_COUNT];
    _Atomic uint64_t dropped_by[WSB_R_COUNT];
    _Atomic uint64_t frames;
    _Atomic uint64_t other_messages;
    _Atomic uint64_t pings;
    _Atomic uint64_t final_seen;
    _Atomic uint64_t dropped_before_final;
    _Atomic uint64_t unexplained;
    _Atomic int64_t cpu_ns; /* own CPU, written just before exit */
    _Atomic bool done_connecting;
    _Atomic bool first_failure_set;
    char first_failure[160];
    struct wsb_hist read;    /* send -> the client read it */
    struct wsb_hist arrival; /* send -> the kernel queued it on the client socket */
};

/* When update k was sent, on two clocks: CLOCK_MONOTONIC for the time the
 * client read the frame, CLOCK_REALTIME for the kernel's receive timestamp
 * (SO_TIMESTAMPNS has no monotonic variant). 0 = not sent yet. */
struct wsb_send {
    _Atomic int64_t mono, real;
};

struct wsb_shared {
    _Atomic int phase;
    _Atomic int64_t l0;    /* baseline likes; -1 until known */
    struct wsb_send *sent; /* [1..updates] */
    struct wsb_proc_stats *procs;
};

static uint64_t ld(_Atomic uint64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

static void inc(_Atomic uint64_t *a, uint64_t n)
{
    atomic_fetch_add_explicit(a, n, memory_order_relaxed);
}

static int64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * WSB_NS + ts.tv_nsec;
}

static int64_t now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static double secs(int64_t ns)
{
    return (double)ns / (double)WSB_NS;
}

/* ---------------------------------------------------------------------------
 * Small helpers: randomness, base64, the totals scan */

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: keys and masks need to differ, not to be secret. */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void base64_encode(const uint8_t *in, size_t len, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

static const uint8_t *skip_ws(const uint8_t *p, const uint8_t *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Points after `"key"` and its colon, or NULL. The first occurrence wins:
 * the pushed message is flat, so a nested "likes" (as in the full totals'
 * "sources") would come after the top-level one. */
static const uint8_t *find_key(const uint8_t *s, size_t len, const char *key, size_t klen)
{
    const uint8_t *end = s + len;
    const uint8_t *p = memmem(s, len, key, klen);
    if (!p)
        return NULL;
    p = skip_ws(p + klen, end);
    if (p >= end || *p != ':')
        return NULL;
    return skip_ws(p + 1, end);
}

/* Is this a totals message, and what are its likes? */
static bool scan_totals(const uint8_t *s, size_t len, int64_t *likes)
{
    const uint8_t *end = s + len;
    const uint8_t *t = find_key(s, len, "\"type\"", 6);
    if (!t || (size_t)(end - t) < 8 || memcmp(t, "\"totals\"", 8) != 0)
        return false;
    const uint8_t *p = find_key(s, len, "\"likes\"", 7);
    if (!p || p >= end || *p < '0' || *p > '9')
        return false;
    int64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9' && v < INT64_MAX / 10)
        v = v * 10 + (*p++ - '0');
    *likes = v;
    return true;
}

static bool json_totals(const uint8_t *s, size_t len, int64_t *likes)
{
    json_t *j = json_loadb((const char *)s, len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    json_t *l = json_object_get(j, "likes");
    bool ok = type && strcmp(type, "totals") == 0 && json_is_integer(l);
    if (ok)
        *likes = (int64_t)json_integer_value(l);
    json_decref(j);
    return ok;
}

/* ---------------------------------------------------------------------------
 * Worker: one process, many clients on one event loop */

enum wsb_client_state { WSB_C_IDLE, WSB_C_CONNECTING, WSB_C_HANDSHAKE, WSB_C_OPEN, WSB_C_CLOSED };

struct wsb_worker;

struct wsb_client {
    struct event ev;
    struct wsb_worker *w;
    int fd;
    uint8_t state; /* enum wsb_client_state; only client_set_state changes it */
    bool armed;    /* ev has been added */
    bool subscribed;
    bool got_final;
    short watching;
    int64_t seen; /* highest likes seen; -1 before the first totals */
    struct lt_ws_reader reader;
    uint8_t *pend; /* input not yet parsed: a cut head or frame (usually NULL) */
    uint32_t pend_len;
    uint8_t *out; /* output the socket did not take (usually NULL) */
    uint32_t out_len;
    char accept[29]; /* the Sec-WebSocket-Accept we expect */
};

struct wsb_worker {
    const struct wsb_options *opt;
    struct wsb_shared *sh;
    struct wsb_proc_stats *st;
    struct event_base *base;
    struct event *ramp_ev;
    struct event *check_ev;
    struct wsb_client *clients;
    long count;       /* clients of this process */
    long first_index; /* global index of clients[0], for the source round robin */
    long opened;
    long settled; /* subscribed or failed */
    int64_t ramp_start;
    int64_t deadline;
    pid_t parent;
    uint64_t rng;
    uint8_t *scratch;
    struct timeval client_tv;
};

static void client_on_event(evutil_socket_t fd, short what, void *arg);

static void worker_note_failure(struct wsb_worker *w, const char *what, const char *detail)
{
    /* This worker is the slot's only writer: text first, then the flag that
     * lets the coordinator read it. */
    if (atomic_load_explicit(&w->st->first_failure_set, memory_order_relaxed))
        return;
    snprintf(w->st->first_failure, sizeof w->st->first_failure, "%s: %s", what, detail);
    atomic_store_explicit(&w->st->first_failure_set, true, memory_order_release);
}

static void worker_check_settled(struct wsb_worker *w)
{
    if (w->opened == w->count && w->settled == w->count)
        atomic_store(&w->st->done_connecting, true);
}

static void client_set_state(struct wsb_client *c, enum wsb_client_state s)
{
    c->state = (uint8_t)s;
}

/* (Re)registers the event for what the state needs. Until the first totals
 * the event carries the client timeout, so a stuck handshake ends. */
static void client_watch(struct wsb_client *c)
{
    short what = EV_PERSIST;
    if (c->state == WSB_C_CONNECTING)
        what |= EV_WRITE;
    else
        what |= EV_READ | (c->out_len ? EV_WRITE : 0);
    if (c->armed && what == c->watching)
        return;
    if (c->armed)
        event_del(&c->ev);
    event_assign(&c->ev, c->w->base, c->fd, what, client_on_event, c);
    event_add(&c->ev, c->subscribed ? NULL : &c->w->client_tv);
    c->armed = true;
    c->watching = what;
}

static void client_close(struct wsb_client *c)
{
    if (c->armed)
        event_del(&c->ev);
    c->armed = false;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->pend);
    free(c->out);
    c->pend = c->out = NULL;
    c->pend_len = c->out_len = 0;
    lt_ws_reader_free(&c->reader);
    client_set_state(c, WSB_C_CLOSED);
}

static void client_end(struct wsb_client *c, enum wsb_reason why, const char *detail)
{
    struct wsb_worker *w = c->w;
    if (c->state == WSB_C_CLOSED)
        return;
    if (!c->subscribed) {
        inc(&w->st->failed, 1);
        inc(&w->st->failed_by[why], 1);
        w->settled++;
        worker_note_failure(w, wsb_reason_names[why], detail);
    } else {
        inc(&w->st->dropped, 1);
        inc(&w->st->dropped_by[why], 1);
        if (!c->got_final)
            inc(&w->st->dropped_before_final, 1);
    }
    client_close(c);
    worker_check_settled(w);
}

/* Writes what it can now and keeps the rest for EV_WRITE. A write error is
 * left for the next read to report (EOF or reset), so that a client is never
 * closed in the middle of parsing its own input. */
static void client_write(struct wsb_client *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (c->out_len == 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN)
            return;
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
    }
    if (len == 0)
        return;
    c->out = realloc(c->out, c->out_len + len);
    if (!c->out)
        abort();
    memcpy(c->out + c->out_len, p, len);
    c->out_len += (uint32_t)len;
    client_watch(c);
}

static void client_flush(struct wsb_client *c)
{
    ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN) /* EWOULDBLOCK is the same on Linux */
            return;
        n = c->out_len; /* drop it; the read side reports the error */
    }
    memmove(c->out, c->out + n, c->out_len - (size_t)n);
    c->out_len -= (uint32_t)n;
    client_watch(c);
}

/* A control frame, masked as RFC 6455 5.3 requires of a client. */
static void client_send_control(struct wsb_client *c, enum lt_ws_opcode op, const uint8_t *data,
                                size_t len)
{
    uint8_t frame[14 + 125];
    uint8_t mask[4];
    uint64_t r = rng_next(&c->w->rng);
    memcpy(mask, &r, 4);
    if (len > 125)
        len = 125;
    size_t h = lt_ws_frame_header(frame, op, len, mask);
    memcpy(frame + h, data, len);
    lt_ws_mask(frame + h, len, mask, 0);
    client_write(c, frame, h + len);
}

static void client_open(struct wsb_client *c, long global_index)
{
    struct wsb_worker *w = c->w;
    const struct wsb_options *o = w->opt;
    char err[96];
    inc(&w->st->opened, 1);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        snprintf(err, sizeof err, "socket: %s", strerror(errno));
        client_end(c, WSB_R_CONNECT, err);
        return;
    }
    client_set_state(c, WSB_C_CONNECTING);
    /* Let connect() pick the port for the whole 4-tuple, so that one source
     * address is limited by its ports per destination, not by bind()'s
     * per-address port reservation. */
    int one = 1;
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_addr = o->sources[global_index % o->nsources]};
    long port = o->ports[global_index % o->nports];
    struct sockaddr_in dst = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = o->host_addr};
    if (bind(c->fd, (struct sockaddr *)&src, sizeof src) != 0) {
        snprintf(err, sizeof err, "bind %s: %s", inet_ntoa(src.sin_addr), strerror(errno));
        client_end(c, WSB_R_CONNECT, err);
        return;
    }
    if (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) != 0 && errno != EINPROGRESS) {
        snprintf(err, sizeof err, "connect from %s: %s", inet_ntoa(src.sin_addr), strerror(errno));
        client_end(c, WSB_R_CONNECT, err);
        return;
    }
    client_watch(c);
}

static void client_on_connected(struct wsb_client *c)
{
    struct wsb_worker *w = c->w;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        soerr = errno;
    if (soerr != 0) {
        client_end(c, WSB_R_CONNECT, strerror(soerr));
        return;
    }
    uint8_t raw[16];
    uint64_t r1 = rng_next(&w->rng), r2 = rng_next(&w->rng);
    memcpy(raw, &r1, 8);
    memcpy(raw + 8, &r2, 8);
    char key[25];
    base64_encode(raw, sizeof raw, key);
    lt_ws_accept_key(key, 24, c->accept);
    char req[512];
    char path[160];
    snprintf(path, sizeof path, w->opt->nchan ? "/sub/%s" : "/v1/streams/%s/ws", w->opt->stream);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s:%ld\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "User-Agent: lt-wsbench\r\n\r\n",
                     path, w->opt->host, w->opt->port, key);
    lt_ws_reader_init(&c->reader, WSB_MAX_MESSAGE, false /* server frames are unmasked */, false);
    client_set_state(c, WSB_C_HANDSHAKE);
    client_write(c, req, (size_t)n);
    client_watch(c);
}

/* When the bytes of one read() came: read = CLOCK_MONOTONIC after the read;
 * arrival = the kernel's CLOCK_REALTIME stamp of the last segment, 0 if none.
 * On loopback the segment is stamped as the server's write passes through,
 * so arrival leaves out the time the frame waited for this (busy) process. */
struct wsb_rx_time {
    int64_t read, arrival;
};

static void client_on_text(struct wsb_client *c, const uint8_t *data, size_t len,
                           const struct wsb_rx_time *now);

/* Parses the upgrade answer. Returns the bytes of the head (> 0), 0 when it
 * is not complete yet, -1 when the client was ended. */
static long client_handshake(struct wsb_client *c, const uint8_t *buf, size_t len)
{
    const uint8_t *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) {
        if (len > WSB_MAX_HEAD) {
            client_end(c, WSB_R_STATUS, "upgrade answer head too large");
            return -1;
        }
        return 0;
    }
    size_t head = (size_t)(end - buf) + 4;
    if (head < 12 || memcmp(buf, "HTTP/1.1 101", 12) != 0) {
        char line[100];
        const uint8_t *eol = memmem(buf, head, "\r\n", 2);
        size_t ll = (size_t)(eol - buf) < sizeof line - 1 ? (size_t)(eol - buf) : sizeof line - 1;
        memcpy(line, buf, ll);
        line[ll] = '\0';
        client_end(c, WSB_R_STATUS, line);
        return -1;
    }
    bool ok = false;
    const uint8_t *p = (const uint8_t *)memmem(buf, head, "\r\n", 2) + 2;
    while (p < buf + head) {
        const uint8_t *eol = memmem(p, (size_t)(buf + head - p), "\r\n", 2);
        if (!eol || eol == p)
            break;
        if (eol - p > 21 && strncasecmp((const char *)p, "sec-websocket-accept:", 21) == 0) {
            const uint8_t *v = skip_ws(p + 21, eol);
            ok = eol - v >= 28 && memcmp(v, c->accept, 28) == 0 && skip_ws(v + 28, eol) == eol;
        }
        p = eol + 2;
    }
    if (!ok) {
        client_end(c, WSB_R_ACCEPT, "Sec-WebSocket-Accept missing or wrong");
        return -1;
    }
    inc(&c->w->st->upgraded, 1);
    client_set_state(c, WSB_C_OPEN);
    if (c->w->opt->nchan) {
        /* nchan sends nothing on subscribe: the 101 is the subscription,
         * at likes 0 (each update publishes the count, see phase_updates) */
        static const uint8_t zero[] = "{\"type\":\"totals\",\"likes\":0}";
        struct wsb_rx_time t = {0, 0};
        client_on_text(c, zero, sizeof zero - 1, &t);
    }
    return (long)head;
}

/* Only the owning worker writes a histogram, so plain increments do. */
static void hist_add(struct wsb_hist *h, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    uint64_t b = (uint64_t)ns / WSB_HIST_BUCKET_NS;
    h->b[b < WSB_HIST_BUCKETS ? b : WSB_HIST_BUCKETS - 1]++;
    inc(&h->samples, 1);
    if (ns > atomic_load_explicit(&h->max_ns, memory_order_relaxed))
        atomic_store_explicit(&h->max_ns, ns, memory_order_relaxed);
}


/* A totals message: when likes jump from a to b, updates a+1..b all arrived
 * now (the server coalesces), each counted once for this client. */
static void client_on_text(struct wsb_client *c, const uint8_t *data, size_t len,
                           const struct wsb_rx_time *now)
{
    struct wsb_worker *w = c->w;
    int64_t likes;
    bool is_totals =
        w->opt->parse_json ? json_totals(data, len, &likes) : scan_totals(data, len, &likes);
    if (!is_totals) {
        inc(&w->st->other_messages, 1);
        return;
    }
    inc(&w->st->frames, 1);
    if (!c->subscribed) {
        c->subscribed = true;
        inc(&w->st->subscribed, 1);
        w->settled++;
        worker_check_settled(w);
        c->armed = false; /* drop the client timeout: re-add without one */
        event_del(&c->ev);
        client_watch(c);
    }
    int64_t a = c->seen;
    if (likes <= a)
        return;
    c->seen = likes;
    int64_t l0 = atomic_load_explicit(&w->sh->l0, memory_order_acquire);
    if (l0 < 0)
        return;
    int64_t u = w->opt->updates;
    if (a >= 0) {
        int64_t lo = a - l0 + 1 < 1 ? 1 : a - l0 + 1;
        int64_t hi = likes - l0 > u ? u : likes - l0;
        for (int64_t k = lo; k <= hi; k++) {
            struct wsb_send *sent = &w->sh->sent[k];
            int64_t mono = atomic_load_explicit(&sent->mono, memory_order_acquire);
            if (mono == 0) {
                inc(&w->st->unexplained, 1); /* likes from someone else */
                continue;
            }
            hist_add(&w->st->read, now->read - mono);
            if (now->arrival)
                hist_add(&w->st->arrival, now->arrival - atomic_load(&sent->real));
        }
        if (likes - l0 > u)
            inc(&w->st->unexplained, (uint64_t)(likes - l0 - (a - l0 > u ? a - l0 : u)));
    }
    if (u > 0 && !c->got_final && likes >= l0 + u) {
        c->got_final = true;
        inc(&w->st->final_seen, 1);
    }
}

/* Handles every complete frame in buf. Returns the bytes used, or -1 when
 * the client was ended. */
static long client_frames(struct wsb_client *c, uint8_t *buf, size_t len,
                          const struct wsb_rx_time *now)
{
    struct wsb_worker *w = c->w;
    size_t off = 0;
    while (off < len) {
        struct lt_ws_event ev;
        size_t used = 0;
        enum lt_ws_event_type t = lt_ws_read(&c->reader, buf + off, len - off, &used, &ev);
        off += used;
        switch (t) {
        case LT_WS_NEED_MORE:
            return (long)off;
        case LT_WS_TEXT:
            client_on_text(c, ev.data, ev.len, now);
            break;
        case LT_WS_BINARY:
        case LT_WS_PONG:
            inc(&w->st->other_messages, 1);
            break;
        case LT_WS_PING:
            inc(&w->st->pings, 1);
            client_send_control(c, LT_WS_OP_PONG, ev.data, ev.len);
            break;
        case LT_WS_CLOSE: {
            char detail[48];
            uint8_t code[2] = {(uint8_t)(ev.close_code >> 8), (uint8_t)ev.close_code};
            snprintf(detail, sizeof detail, "close code %u", (unsigned)ev.close_code);
            /* Echo the code (RFC 6455 5.5.1) so the server can close cleanly. */
            client_send_control(c, LT_WS_OP_CLOSE, code,
                                ev.close_code == LT_WS_CLOSE_NO_STATUS ? 0 : 2);
            client_end(c, WSB_R_CLOSE_FRAME, detail);
            return -1;
        }
        case LT_WS_ERROR:
            client_end(c, WSB_R_PROTOCOL, ev.reason ? ev.reason : "frame error");
            return -1;
        default: /* a fragment of a longer message: the reader keeps it */
            break;
        }
    }
    return (long)off;
}

static void client_on_readable(struct wsb_client *c)
{
    struct wsb_worker *w = c->w;
    uint8_t *buf = w->scratch;
    size_t have = c->pend_len;
    if (have)
        memcpy(buf, c->pend, have);
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(struct timespec))];
    } ctl;
    struct iovec iov = {buf + have, WSB_SCRATCH - have};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof ctl};
    ssize_t n = recvmsg(c->fd, &msg, 0);
    if (n == 0) {
        client_end(c, WSB_R_EOF, "connection closed by the server");
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            client_end(c, WSB_R_IO, strerror(errno));
        return;
    }
    have += (size_t)n;
    struct wsb_rx_time now = {now_ns(), 0};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
        struct timespec ts;
        memcpy(&ts, CMSG_DATA(cm), sizeof ts);
        now.arrival = (int64_t)ts.tv_sec * WSB_NS + ts.tv_nsec;
    }
    size_t off = 0;
    if (c->state == WSB_C_HANDSHAKE) {
        long h = client_handshake(c, buf, have);
        if (h < 0)
            return;
        off = (size_t)h;
    }
    if (c->state == WSB_C_OPEN) {
        long used = client_frames(c, buf + off, have - off, &now);
        if (used < 0)
            return;
        off += (size_t)used;
    }
    size_t left = have - off;
    if (left != c->pend_len || left) {
        uint8_t *p = left ? malloc(left) : NULL;
        if (left && !p)
            abort();
        if (left)
            memcpy(p, buf + off, left);
        free(c->pend);
        c->pend = p;
        c->pend_len = (uint32_t)left;
    }
}

static void client_on_event(evutil_socket_t fd, short what, void *arg)
{
    struct wsb_client *c = arg;
    (void)fd;
    if (what & EV_TIMEOUT) {
        client_end(c, WSB_R_TIMEOUT,
                   c->state == WSB_C_CONNECTING  ? "connect timed out"
                   : c->state == WSB_C_HANDSHAKE ? "no upgrade answer"
                                                 : "no first totals");
        return;
    }
    if (c->state == WSB_C_CONNECTING) {
        client_on_connected(c);
        return;
    }
    if ((what & EV_WRITE) && c->out_len)
        client_flush(c);
    if ((what & EV_READ) && c->state != WSB_C_CLOSED)
        client_on_readable(c);
}

/* Opens clients at --ramp per second, and never more than WSB_MAX_INFLIGHT
 * handshakes at once, so that the server's accept queue is not flooded. */
static void worker_on_ramp(evutil_socket_t fd, short what, void *arg)
{
    struct wsb_worker *w = arg;
    (void)fd;
    (void)what;
    int64_t elapsed = now_ns() - w->ramp_start;
    long due = (long)((double)elapsed * (double)w->opt->ramp / (double)WSB_NS) + 1;
    while (w->opened < w->count && w->opened < due && w->opened - w->settled < WSB_MAX_INFLIGHT) {
        struct wsb_client *c = &w->clients[w->opened];
        w->opened++;
        client_open(c, w->first_index + w->opened - 1);
    }
    if (w->opened == w->count) {
        event_del(w->ramp_ev);
        worker_check_settled(w);
    }
}

static void worker_on_check(evutil_socket_t fd, short what, void *arg)
{
    struct wsb_worker *w = arg;
    (void)fd;
    (void)what;
    if (atomic_load(&w->sh->phase) == WSB_PHASE_STOP || now_ns() > w->deadline ||
        getppid() != w->parent)
        event_base_loopbreak(w->base);
}

/* The body of a worker process. Never returns. */
static void worker_main(const struct wsb_options *o, struct wsb_shared *sh, int index,
                        long first_index, long count, int64_t deadline, pid_t parent)
{
    /* The coordinator handles Ctrl-C and stops us through the phase; if it
     * dies, so do we. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);

    struct wsb_worker w = {
        .opt = o,
        .sh = sh,
        .st = &sh->procs[index],
        .count = count,
        .first_index = first_index,
        .deadline = deadline,
        .parent = parent,
    };
    if (getrandom(&w.rng, sizeof w.rng, 0) != sizeof w.rng || w.rng == 0)
        w.rng = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32) ^ 1;
    w.client_tv.tv_sec = (time_t)o->client_timeout;
    w.client_tv.tv_usec = (suseconds_t)((o->client_timeout - (double)w.client_tv.tv_sec) * 1e6);
    w.scratch = malloc(WSB_SCRATCH);
    w.clients = calloc((size_t)(count ? count : 1), sizeof *w.clients);
    w.base = event_base_new();
    if (!w.scratch || !w.clients || !w.base) {
        fprintf(stderr, "lt-wsbench: worker %d: out of memory\n", index);
        _exit(1);
    }
    for (long i = 0; i < count; i++) {
        w.clients[i].w = &w;
        w.clients[i].fd = -1;
        w.clients[i].seen = -1;
    }
    w.ramp_ev = event_new(w.base, -1, EV_PERSIST, worker_on_ramp, &w);
    w.check_ev = event_new(w.base, -1, EV_PERSIST, worker_on_check, &w);
    struct timeval ramp_tv = {0, 10000}, check_tv = {0, 20000};
    event_add(w.ramp_ev, &ramp_tv);
    event_add(w.check_ev, &check_tv);
    w.ramp_start = now_ns();
    worker_check_settled(&w);

    if (o->poll_us > 0) {
        /* Polling: no sleep in epoll, so no wake-up and context switch per
         * burst of frames (measured: 2.8 instead of 4.8 us of CPU per frame,
         * on the cores the server shares). A frame waits at most poll_us
         * before it is read, and its receive time is taken when it is read,
         * so the measured latency can only grow. */
        struct timespec nap = {0, o->poll_us * 1000};
        while (event_base_loop(w.base, EVLOOP_NONBLOCK) == 0 && !event_base_got_break(w.base) &&
               !event_base_got_exit(w.base))
            nanosleep(&nap, NULL);
    } else {
        event_base_dispatch(w.base);
    }

    /* Sockets close with the process; what matters is that our CPU time is
     * in the shared slot before the coordinator reads it. */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    atomic_store(&w.st->cpu_ns, (int64_t)ru.ru_utime.tv_sec * WSB_NS + ru.ru_utime.tv_usec * 1000 +
                                    (int64_t)ru.ru_stime.tv_sec * WSB_NS +
                                    ru.ru_stime.tv_usec * 1000);
    _exit(0);
}

/* ---------------------------------------------------------------------------
 * Coordinator: /proc readings */

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* utime + stime of a process in seconds, or -1 when it cannot be read. */
static double proc_cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields start after
     * the last ')'. utime and stime are fields 14 and 15, i.e. the 12th and
     * 13th after the state (field 3). */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS in kB, or -1. */
static long proc_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static double server_cpu(const struct wsb_options *o)
{
    double sum = 0;
    for (int i = 0; i < o->npids; i++) {
        double s = proc_cpu_seconds(o->server_pids[i]);
        if (s < 0)
            fprintf(stderr, "lt-wsbench: cannot read CPU of server pid %d\n",
                    (int)o->server_pids[i]);
        else
            sum += s;
    }
    return sum;
}

static long server_rss_kb(const struct wsb_options *o)
{
    long sum = 0;
    for (int i = 0; i < o->npids; i++) {
        long kb = proc_rss_kb(o->server_pids[i]);
        if (kb < 0)
            fprintf(stderr, "lt-wsbench: cannot read RSS of server pid %d\n",
                    (int)o->server_pids[i]);
        else
            sum += kb;
    }
    return sum;
}

/* ---------------------------------------------------------------------------
 * Coordinator: a blocking keep-alive HTTP/1.1 client for the updates */

struct wsb_http {
    const struct wsb_options *opt;
    int fd;
    char buf[65536];
    size_t have; /* bytes of the current answer read so far */
};

static void http_close(struct wsb_http *h)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    h->have = 0;
}

static int http_connect(struct wsb_http *h)
{
    h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (h->fd < 0)
        return -1;
    struct timeval tv = {5, 0};
    int one = 1;
    setsockopt(h->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(h->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    /* One write per request, sent at once: no Nagle delay in the latency. */
    setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in dst = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)h->opt->port),
                              .sin_addr = h->opt->host_addr};
    if (connect(h->fd, (struct sockaddr *)&dst, sizeof dst) != 0) {
        http_close(h);
        return -1;
    }
    return 0;
}

/* Sends one request and reads its answer (Content-Length bodies only, which
 * is what livetally sends). If sent is not NULL, the send time is stored
 * there just before the request leaves. Returns the status, -1 on failure;
 * the body is copied NUL-terminated into body (cut to cap). */
static int http_request(struct wsb_http *h, const char *method, const char *path, const char *json,
                        struct wsb_send *sent, char *body, size_t cap)
{
    if (h->fd < 0 && http_connect(h) != 0)
        return -1;
    char req[1024];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: %s:%ld\r\n", method, path,
                     h->opt->host, h->opt->port);
    if (json)
        n += snprintf(req + n, sizeof req - (size_t)n,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                      strlen(json), json);
    else
        n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    if (sent) {
        atomic_store(&sent->real, clock_ns(CLOCK_REALTIME));
        atomic_store_explicit(&sent->mono, now_ns(), memory_order_release);
    }
    if (send(h->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        http_close(h);
        return -1;
    }
    h->have = 0;
    size_t head = 0, need = 0;
    int status = -1;
    bool close_after = false;
    for (;;) {
        if (!head) {
            char *e = memmem(h->buf, h->have, "\r\n\r\n", 4);
            if (e) {
                head = (size_t)(e - h->buf) + 4;
                if (sscanf(h->buf, "HTTP/1.%*d %d", &status) != 1) {
                    http_close(h);
                    return -1;
                }
                size_t clen = 0;
                for (char *p = h->buf; p < h->buf + head; p++) {
                    if (p != h->buf && p[-1] != '\n')
                        continue;
                    if (strncasecmp(p, "content-length:", 15) == 0)
                        clen = strtoul(p + 15, NULL, 10);
                    if (strncasecmp(p, "connection: close", 17) == 0)
                        close_after = true;
                }
                need = head + clen;
                if (need > sizeof h->buf) {
                    http_close(h);
                    return -1;
                }
            }
        }
        if (head && h->have >= need)
            break;
        if (h->have == sizeof h->buf) {
            http_close(h);
            return -1;
        }
        ssize_t r = recv(h->fd, h->buf + h->have, sizeof h->buf - h->have, 0);
        if (r <= 0) {
            http_close(h);
            return -1;
        }
        h->have += (size_t)r;
    }
    if (body && cap) {
        size_t bl = need - head < cap - 1 ? need - head : cap - 1;
        memcpy(body, h->buf + head, bl);
        body[bl] = '\0';
    }
    if (close_after)
        http_close(h);
    return status;
}

/* The stream's likes from GET /v1/streams/{id}; -1 when unknown. */
static int64_t http_get_likes(struct wsb_http *h, int *status)
{
    char path[160], body[16384];
    snprintf(path, sizeof path, "/v1/streams/%s", h->opt->stream);
    *status = http_request(h, "GET", path, NULL, NULL, body, sizeof body);
    if (*status != 200)
        return -1;
    json_t *j = json_loads(body, 0, NULL);
    json_t *l = json_object_get(j, "likes");
    int64_t likes = json_is_integer(l) ? (int64_t)json_integer_value(l) : -1;
    json_decref(j);
    return likes;
}

/* ---------------------------------------------------------------------------
 * Coordinator: phases */

struct wsb_coord {
    const struct wsb_options *o;
    struct wsb_shared *sh;
    pid_t kids[WSB_MAX_PROCS];
    bool reaped[WSB_MAX_PROCS];
    int nkids;
    int64_t start, deadline;
    bool worker_died;
    const char *abort_reason; /* why the run stopped early, NULL if it did not */
};

static uint64_t sum_stat(const struct wsb_coord *co, size_t offset)
{
    uint64_t s = 0;
    for (int i = 0; i < co->nkids; i++)
        s += ld((_Atomic uint64_t *)(void *)((char *)&co->sh->procs[i] + offset)); /* offsetof of a uint64_t field: aligned */
    return s;
}
#define SUM(co, field) sum_stat((co), offsetof(struct wsb_proc_stats, field))

/* Reaps workers that ended; notes an unexpected end. */
static void reap_some(struct wsb_coord *co)
{
    for (int i = 0; i < co->nkids; i++) {
        if (co->reaped[i])
            continue;
        int st;
        if (waitpid(co->kids[i], &st, WNOHANG) == co->kids[i]) {
            co->reaped[i] = true;
            if (atomic_load(&co->sh->phase) != WSB_PHASE_STOP) {
                co->worker_died = true;
                fprintf(stderr, "lt-wsbench: worker %d (pid %d) ended early (%s %d)\n", i,
                        (int)co->kids[i], WIFSIGNALED(st) ? "signal" : "status",
                        WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
            }
        }
    }
}

static bool all_connected(struct wsb_coord *co)
{
    for (int i = 0; i < co->nkids; i++)
        if (!atomic_load(&co->sh->procs[i].done_connecting))
            return false;
    return true;
}

static bool all_final(struct wsb_coord *co)
{
    /* Everyone who can still receive it has it. */
    return SUM(co, final_seen) + SUM(co, dropped_before_final) >= SUM(co, subscribed);
}

enum wsb_wait { WSB_WAIT_DONE, WSB_WAIT_TIMEOUT, WSB_WAIT_STOPPED };

/* Polls cond (NULL: none) every 10 ms until it holds, `until` passes, Ctrl-C
 * or a worker's death. With progress, prints the connect state each second. */
static enum wsb_wait wait_until(struct wsb_coord *co, bool (*cond)(struct wsb_coord *),
                                int64_t until, bool progress)
{
    int64_t next_print = now_ns() + WSB_NS;
    if (until > co->deadline)
        until = co->deadline;
    for (;;) {
        reap_some(co);
        if (stop_requested || co->worker_died)
            return WSB_WAIT_STOPPED;
        if (cond && cond(co))
            return WSB_WAIT_DONE;
        int64_t now = now_ns();
        if (now >= until)
            return WSB_WAIT_TIMEOUT;
        if (progress && now >= next_print) {
            fprintf(stderr,
                    "  %.0fs: opened %" PRIu64 ", subscribed %" PRIu64 ", failed %" PRIu64 "\n",
                    secs(now - co->start), SUM(co, opened), SUM(co, subscribed), SUM(co, failed));
            next_print += WSB_NS;
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
}

/* Sleeps until an absolute CLOCK_MONOTONIC time; false on Ctrl-C. */
static bool sleep_until(int64_t t)
{
    struct timespec ts = {(time_t)(t / WSB_NS), (long)(t % WSB_NS)};
    while (!stop_requested) {
        int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        if (r == 0)
            return true;
        if (r != EINTR)
            return false;
    }
    return false;
}

static double generator_cpu(const struct wsb_coord *co)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    double sum = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    for (int i = 0; i < co->nkids; i++) {
        double s = co->reaped[i] ? -1 : proc_cpu_seconds(co->kids[i]);
        if (s > 0)
            sum += s;
    }
    return sum;
}

/* Tells the workers to stop, gives them 3 s, then kills what is left. */
static void stop_workers(struct wsb_coord *co)
{
    atomic_store(&co->sh->phase, WSB_PHASE_STOP);
    int64_t until = now_ns() + 3 * WSB_NS;
    for (;;) {
        reap_some(co);
        bool left = false;
        for (int i = 0; i < co->nkids; i++)
            left |= !co->reaped[i];
        if (!left)
            return;
        if (now_ns() > until)
            break;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < co->nkids; i++) {
        if (!co->reaped[i]) {
            kill(co->kids[i], SIGKILL);
            waitpid(co->kids[i], NULL, 0);
            co->reaped[i] = true;
        }
    }
}

/* The latency at quantile q of the merged histogram, in ms (bucket upper
 * edge, never above the exact maximum). */
static double hist_quantile(const uint64_t *hist, uint64_t n, double q, double max_ms)
{
    if (n == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)n);
    if ((double)rank < q * (double)n)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t cum = 0;
    for (int b = 0; b < WSB_HIST_BUCKETS; b++) {
        cum += hist[b];
        if (cum >= rank) {
            double ms = (double)(b + 1) * WSB_HIST_BUCKET_NS / 1e6;
            return b == WSB_HIST_BUCKETS - 1 || ms > max_ms ? max_ms : ms;
        }
    }
    return max_ms;
}

/* Percentiles of one merged histogram, in ms. */
struct wsb_latency {
    uint64_t samples;
    double p50, p90, p99, max;
};

/* Every figure of a run, filled phase by phase; printed by report(). */
struct wsb_result {
    long rss_before_kb, rss_idle_kb; /* -1: not measured */
    uint64_t subscribed, failed, dropped, idle_conns, final_seen, frames;
    uint64_t update_frames; /* received between the first update and the final wait's end */
    int64_t connect_ns, update_ns, final_ns;
    int64_t l0;
    long sent_ok, sent_bad;
    bool ran_updates, final_everywhere, connect_timed_out;
    double server_cpu, gen_cpu, gen_cpu_total; /* seconds */
    struct wsb_latency read, arrival;
};

/* One shared region: header, one stats slot per worker, the send times. */
static struct wsb_shared *shared_create(const struct wsb_options *o, size_t *size)
{
    size_t head = (sizeof(struct wsb_shared) + 63) & ~(size_t)63;
    size_t slots = sizeof(struct wsb_proc_stats) * (size_t)o->procs;
    size_t times = sizeof(struct wsb_send) * (size_t)(o->updates + 1);
    *size = head + slots + times;
    char *region = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED)
        return NULL;
    struct wsb_shared *sh = (struct wsb_shared *)(void *)region;
    sh->procs = (struct wsb_proc_stats *)(void *)(region + head);
    sh->sent = (struct wsb_send *)(void *)(region + head + slots);
    atomic_store(&sh->phase, WSB_PHASE_CONNECT);
    atomic_store(&sh->l0, -1);
    return sh;
}

/* The stream must exist before clients subscribe: a view creates it
 * (auto_create) without touching likes. Returns false if the server does
 * not answer as livetally would. */
static bool ensure_stream(struct wsb_http *h)
{
    if (h->opt->nchan)
        return true; /* a channel is made by its first subscriber */
    int status;
    int64_t likes = http_get_likes(h, &status);
    if (status == 404) {
        char path[160], body[1024];
        snprintf(path, sizeof path, "/v1/streams/%s/events", h->opt->stream);
        int s = http_request(h, "POST", path, "{\"type\":\"view\"}", NULL, body, sizeof body);
        printf("stream %s did not exist: POST view -> %d\n", h->opt->stream, s);
        for (int i = 0; i < 40 && likes < 0 && !stop_requested; i++) {
            struct timespec ts = {0, 50000000};
            nanosleep(&ts, NULL);
            likes = http_get_likes(h, &status);
        }
    }
    http_close(h);
    if (likes < 0)
        fprintf(stderr, "lt-wsbench: GET /v1/streams/%s answered %d; is the server up on %s:%ld?\n",
                h->opt->stream, status, h->opt->host, h->opt->port);
    return likes >= 0;
}

/* Forks the workers, clients split as evenly as possible. */
static bool spawn_workers(struct wsb_coord *co)
{
    const struct wsb_options *o = co->o;
    int64_t worker_deadline = co->deadline + 5 * WSB_NS; /* they stop by themselves too */
    long first = 0;
    pid_t me = getpid();
    fflush(stdout);
    for (int i = 0; i < o->procs; i++) {
        long count = o->clients / o->procs + (i < o->clients % o->procs ? 1 : 0);
        pid_t pid = fork();
        if (pid < 0) {
            perror("lt-wsbench: fork");
            co->abort_reason = "fork failed";
            return false;
        }
        if (pid == 0)
            worker_main(o, co->sh, i, first, count, worker_deadline, me);
        co->kids[co->nkids++] = pid;
        first += count;
    }
    return true;
}

/* Phase 1: every client subscribed or given up. Each client gives up by
 * itself after --client-timeout without progress, so the workers always
 * settle; a slow server (every subscribe changes `online`, which is pushed
 * to all subscribers) may still take long, so this phase may use the whole
 * --timeout but what the later phases need. */
static enum wsb_wait phase_connect(struct wsb_coord *co, struct wsb_result *r)
{
    const struct wsb_options *o = co->o;
    int64_t t = now_ns();
    double ramp_s = (double)o->clients / (double)o->procs / (double)o->ramp;
    double later =
        o->idle_seconds + (double)(o->updates * o->interval_ms) / 1e3 + o->final_wait + 5;
    int64_t until = co->deadline - (int64_t)(later * 1e9);
    int64_t least = t + (int64_t)((ramp_s + o->client_timeout) * 1e9);
    until = until > least ? until : least;
    printf("connecting %ld clients (%ld procs, %d sources, %ld/s per proc)\n", o->clients, o->procs,
           o->nsources, o->ramp);
    enum wsb_wait wr = wait_until(co, all_connected, until, true);
    r->connect_ns = now_ns() - t;
    r->connect_timed_out = wr == WSB_WAIT_TIMEOUT;
    r->subscribed = SUM(co, subscribed);
    r->failed = SUM(co, failed);
    printf("connect: %" PRIu64 " subscribed, %" PRIu64 " upgraded, %" PRIu64 " failed, %" PRIu64
           " not attempted, in %.2f s%s\n",
           r->subscribed, SUM(co, upgraded), r->failed, (uint64_t)o->clients - SUM(co, opened),
           secs(r->connect_ns), r->connect_timed_out ? " (connect phase timed out)" : "");
    for (int i = 0; i < WSB_R_COUNT; i++) {
        uint64_t n = SUM(co, failed_by[i]);
        if (n)
            printf("  failed (%s): %" PRIu64 "\n", wsb_reason_names[i], n);
    }
    for (int i = 0; i < co->nkids; i++) {
        if (atomic_load(&co->sh->procs[i].first_failure_set)) {
            printf("  first failure in worker %d: %s\n", i, co->sh->procs[i].first_failure);
            break;
        }
    }
    return wr;
}

/* Phase 2: hold the connections idle, then the server's RSS and the
 * baseline likes. */
static enum wsb_wait phase_idle(struct wsb_coord *co, struct wsb_http *h, struct wsb_result *r)
{
    const struct wsb_options *o = co->o;
    enum wsb_wait wr = wait_until(co, NULL, now_ns() + (int64_t)(o->idle_seconds * 1e9), false);
    if (wr == WSB_WAIT_STOPPED)
        return wr;
    r->idle_conns = SUM(co, subscribed) - SUM(co, dropped);
    r->rss_idle_kb = o->npids ? server_rss_kb(o) : -1;
    printf("idle %.1f s: server rss %ld kB with %" PRIu64 " open connections\n", o->idle_seconds,
           r->rss_idle_kb, r->idle_conns);
    int status = 200;
    r->l0 = o->nchan ? 0 : http_get_likes(h, &status);
    http_close(h); /* the updates get a fresh connection */
    if (r->l0 < 0) {
        fprintf(stderr, "lt-wsbench: cannot read the baseline likes (status %d)\n", status);
        co->abort_reason = "the server did not answer GET /v1/streams/{id}";
        return WSB_WAIT_STOPPED;
    }
    return WSB_WAIT_DONE;
}

/* Phase 3: one like per interval on a schedule (a slow answer delays only
 * its own update), then the wait for the final value. CPU and frames are
 * counted over both. */
static void phase_updates(struct wsb_coord *co, struct wsb_http *h, struct wsb_result *r)
{
    const struct wsb_options *o = co->o;
    struct wsb_shared *sh = co->sh;
    char path[160], body[1024], msg[96];
    snprintf(path, sizeof path, o->nchan ? "/pub/%s" : "/v1/streams/%s/events", o->stream);
    r->ran_updates = true;
    atomic_store_explicit(&sh->l0, r->l0, memory_order_release);
    atomic_store(&sh->phase, WSB_PHASE_RUN);
    printf("baseline likes L0 = %" PRId64 "; %ld updates every %ld ms\n", r->l0, o->updates,
           o->interval_ms);
    double srv0 = server_cpu(o), gen0 = generator_cpu(co);
    uint64_t frames0 = SUM(co, frames);
    int64_t t0 = now_ns();
    for (long k = 1; k <= o->updates; k++) {
        if (k > 1 && !sleep_until(t0 + (k - 1) * o->interval_ms * 1000000LL))
            break;
        reap_some(co);
        if (co->worker_died || now_ns() > co->deadline)
            break;
        /* nchan relays what it is given: the count itself, as a push */
        snprintf(msg, sizeof msg, "{\"type\":\"totals\",\"likes\":%ld}", k);
        int s = http_request(h, "POST", path, o->nchan ? msg : "{\"type\":\"like\",\"n\":1}",
                             &sh->sent[k], body, sizeof body);
        if (s == 202 || (o->nchan && s >= 200 && s < 300)) {
            r->sent_ok++;
            continue;
        }
        r->sent_bad++;
        fprintf(stderr, "lt-wsbench: update %ld answered %d: %.200s\n", k, s, s < 0 ? "" : body);
        if (s < 0)
            break; /* the connection broke: whether it counted is unknown */
    }
    int64_t t_last = now_ns();
    r->update_ns = t_last - t0;
    if (r->sent_bad == 0 && r->sent_ok == o->updates)
        r->final_everywhere = wait_until(co, all_final, t_last + (int64_t)(o->final_wait * 1e9),
                                         false) == WSB_WAIT_DONE;
    r->final_ns = now_ns() - t_last;
    r->server_cpu = server_cpu(o) - srv0;
    r->gen_cpu = generator_cpu(co) - gen0;
    r->update_frames = SUM(co, frames) - frames0;
}

/* Merges one histogram (read or arrival, by offset) of every worker. */
static struct wsb_latency merge_latency(struct wsb_coord *co, size_t offset)
{
    static uint64_t hist[WSB_HIST_BUCKETS];
    struct wsb_latency l = {0};
    int64_t max_ns = 0;
    memset(hist, 0, sizeof hist);
    for (int i = 0; i < co->nkids; i++) {
        struct wsb_hist *h = (struct wsb_hist *)(void *)((char *)&co->sh->procs[i] + offset);
        for (int b = 0; b < WSB_HIST_BUCKETS; b++)
            hist[b] += h->b[b];
        l.samples += ld(&h->samples);
        int64_t m = atomic_load(&h->max_ns);
        max_ns = m > max_ns ? m : max_ns;
    }
    l.max = (double)max_ns / 1e6;
    l.p50 = hist_quantile(hist, l.samples, 0.50, l.max);
    l.p90 = hist_quantile(hist, l.samples, 0.90, l.max);
    l.p99 = hist_quantile(hist, l.samples, 0.99, l.max);
    return l;
}

/* After the workers exited: the merged histograms and the totals. */
static void collect(struct wsb_coord *co, struct wsb_result *r)
{
    for (int i = 0; i < co->nkids; i++)
        r->gen_cpu_total += secs(atomic_load(&co->sh->procs[i].cpu_ns));
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    r->gen_cpu_total += (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    r->subscribed = SUM(co, subscribed);
    r->dropped = SUM(co, dropped);
    r->final_seen = SUM(co, final_seen);
    r->frames = SUM(co, frames);
    r->read = merge_latency(co, offsetof(struct wsb_proc_stats, read));
    r->arrival = merge_latency(co, offsetof(struct wsb_proc_stats, arrival));
}

static void json_set_num(json_t *o, const char *k, double v, bool valid)
{
    json_object_set_new(o, k, valid ? json_real(v) : json_null());
}

static void json_set_int(json_t *o, const char *k, int64_t v, bool valid)
{
    json_object_set_new(o, k, valid ? json_integer(v) : json_null());
}

static double per(double a, uint64_t b)
{
    return b ? a / (double)b : 0;
}

/* Human-readable lines, then one line of JSON with every figure (null where
 * it was not measured), last, for scripts. */
static void report(struct wsb_coord *co, const struct wsb_result *r, bool complete)
{
    const struct wsb_options *o = co->o;
    bool srv = o->npids > 0, upd = r->ran_updates;
    uint64_t missed =
        upd ? r->subscribed - (r->final_seen < r->subscribed ? r->final_seen : r->subscribed) : 0;
    double rss_per_conn =
        r->rss_idle_kb >= 0
            ? per((double)(r->rss_idle_kb - r->rss_before_kb) * 1024.0, r->idle_conns)
            : 0;
    uint64_t pings = SUM(co, pings), other = SUM(co, other_messages);
    uint64_t unexplained = SUM(co, unexplained);

    printf("\n== %s\n", o->label);
    printf("clients: requested %ld, subscribed %" PRIu64 ", failed %" PRIu64
           ", dropped later %" PRIu64 ", connect time %.2f s\n",
           o->clients, r->subscribed, r->failed, r->dropped, secs(r->connect_ns));
    if (upd) {
        printf("updates: %ld sent (%ld answered 202) in %.2f s; final value %s after %.2f s\n",
               r->sent_ok + r->sent_bad, r->sent_ok, secs(r->update_ns),
               r->final_everywhere ? "everywhere" : "NOT everywhere", secs(r->final_ns));
        printf("pushes delivered: %" PRIu64
               " totals frames in the update phase (%.2f per client), %" PRIu64
               " in the whole run\n",
               r->update_frames, per((double)r->update_frames, r->subscribed), r->frames);
        printf("publish-to-receive: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms over "
               "%" PRIu64 " (client, update) pairs (expected %" PRIu64 ")\n",
               r->read.p50, r->read.p90, r->read.p99, r->read.max, r->read.samples,
               r->subscribed * (uint64_t)r->sent_ok);
        printf("publish-to-arrival (kernel timestamp, without the generator's own delay): p50 "
               "%.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms over %" PRIu64 " pairs\n",
               r->arrival.p50, r->arrival.p90, r->arrival.p99, r->arrival.max, r->arrival.samples);
        printf("missed final value: %" PRIu64 " of %" PRIu64 " subscribed\n", missed,
               r->subscribed);
        if (srv)
            printf("server cpu: %.2f s in the update phase, %.2f us per pushed frame\n",
                   r->server_cpu, per(r->server_cpu * 1e6, r->update_frames));
        printf("generator cpu: %.2f s in the update phase, %.2f us per frame; %.2f s in the whole "
               "run\n",
               r->gen_cpu, per(r->gen_cpu * 1e6, r->update_frames), r->gen_cpu_total);
    }
    if (srv)
        printf("server rss: %ld kB before, %ld kB with %" PRIu64
               " idle connections: %.0f bytes per connection\n",
               r->rss_before_kb, r->rss_idle_kb, r->idle_conns, rss_per_conn);
    if (pings || other || unexplained)
        printf("also: %" PRIu64 " pings answered, %" PRIu64 " other messages, %" PRIu64
               " likes increments not from our updates\n",
               pings, other, unexplained);
    for (int i = 0; i < WSB_R_COUNT; i++) {
        uint64_t n = SUM(co, dropped_by[i]);
        if (n)
            printf("  dropped (%s): %" PRIu64 "\n", wsb_reason_names[i], n);
    }
    if (!complete)
        printf("run INCOMPLETE (%s)\n", stop_requested     ? "interrupted"
                                        : co->worker_died  ? "a worker died"
                                        : co->abort_reason ? co->abort_reason
                                                           : "stopped early");

    json_t *j = json_object();
    json_object_set_new(j, "label", json_string(o->label));
    json_object_set_new(j, "complete", json_boolean(complete));
    json_set_int(j, "clients_requested", o->clients, true);
    json_set_int(j, "clients_subscribed", (int64_t)r->subscribed, true);
    json_set_int(j, "clients_failed", (int64_t)r->failed, true);
    json_set_int(j, "clients_dropped", (int64_t)r->dropped, true);
    json_set_num(j, "connect_seconds", secs(r->connect_ns), true);
    json_set_int(j, "procs", o->procs, true);
    json_set_int(j, "sources", o->nsources, true);
    json_set_int(j, "updates", o->updates, true);
    json_set_int(j, "updates_accepted", r->sent_ok, upd);
    json_set_int(j, "interval_ms", o->interval_ms, true);
    json_set_int(j, "frames_total", (int64_t)r->frames, true);
    json_set_int(j, "frames_update_phase", (int64_t)r->update_frames, upd);
    json_set_num(j, "frames_per_client", per((double)r->update_frames, r->subscribed), upd);
    const struct wsb_latency *ls[2] = {&r->read, &r->arrival};
    const char *names[2][5] = {
        {"latency_samples", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_max_ms"},
        {"arrival_samples", "arrival_p50_ms", "arrival_p90_ms", "arrival_p99_ms", "arrival_max_ms"},
    };
    for (int i = 0; i < 2; i++) {
        bool have = upd && ls[i]->samples;
        json_set_int(j, names[i][0], (int64_t)ls[i]->samples, upd);
        json_set_num(j, names[i][1], ls[i]->p50, have);
        json_set_num(j, names[i][2], ls[i]->p90, have);
        json_set_num(j, names[i][3], ls[i]->p99, have);
        json_set_num(j, names[i][4], ls[i]->max, have);
    }
    json_set_int(j, "missed_final", (int64_t)missed, upd);
    json_set_num(j, "final_wait_seconds", secs(r->final_ns), upd);
    json_set_num(j, "server_cpu_seconds", r->server_cpu, upd && srv);
    json_set_num(j, "server_cpu_us_per_frame", per(r->server_cpu * 1e6, r->update_frames),
                 upd && srv && r->update_frames);
    json_set_num(j, "generator_cpu_seconds", r->gen_cpu, upd);
    json_set_num(j, "generator_cpu_us_per_frame", per(r->gen_cpu * 1e6, r->update_frames),
                 upd && r->update_frames);
    json_set_num(j, "generator_cpu_total_seconds", r->gen_cpu_total, true);
    json_set_int(j, "server_rss_before_kb", r->rss_before_kb, srv);
    json_set_int(j, "server_rss_idle_kb", r->rss_idle_kb, srv && r->rss_idle_kb >= 0);
    json_set_int(j, "idle_connections", (int64_t)r->idle_conns, true);
    json_set_num(j, "server_rss_per_idle_conn_bytes", rss_per_conn,
                 srv && r->rss_idle_kb >= 0 && r->idle_conns);
    json_set_int(j, "pings_answered", (int64_t)pings, true);
    json_set_int(j, "unexplained_increments", (int64_t)unexplained, true);
    char *line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    printf("%s\n", line);
    free(line);
    json_decref(j);
}

static int coordinator(const struct wsb_options *o)
{
    struct wsb_coord co = {.o = o};
    struct wsb_result r = {.rss_before_kb = -1, .rss_idle_kb = -1, .l0 = -1};
    struct wsb_http http = {.opt = o, .fd = -1};
    size_t size;
    co.start = now_ns();
    co.deadline = co.start + (int64_t)(o->timeout * 1e9);
    co.sh = shared_create(o, &size);
    if (!co.sh) {
        perror("lt-wsbench: mmap");
        return 1;
    }
    if (!ensure_stream(&http))
        return 1;
    if (o->npids) {
        r.rss_before_kb = server_rss_kb(o);
        printf("server rss before: %ld kB over %d pids\n", r.rss_before_kb, o->npids);
    }

    enum wsb_wait wr = spawn_workers(&co) ? WSB_WAIT_DONE : WSB_WAIT_STOPPED;
    if (wr != WSB_WAIT_STOPPED)
        wr = phase_connect(&co, &r);
    if (wr != WSB_WAIT_STOPPED)
        wr = phase_idle(&co, &http, &r);
    if (wr != WSB_WAIT_STOPPED && o->updates > 0)
        phase_updates(&co, &http, &r);
    http_close(&http);

    stop_workers(&co);
    collect(&co, &r);
    bool complete = !stop_requested && !co.worker_died && wr != WSB_WAIT_STOPPED;
    report(&co, &r, complete);
    munmap(co.sh, size);
    return complete ? 0 : 1;
}

/* ---------------------------------------------------------------------------
 * Options: one table gives getopt its list, --help its text and the bounds. */

enum wsb_opt_type { WSB_OPT_STR, WSB_OPT_LONG, WSB_OPT_SECONDS };

struct wsb_opt {
    const char *name;
    enum wsb_opt_type type;
    size_t field; /* offset in struct wsb_options */
    double lo, hi;
    const char *arg, *help;
};

#define WSB_F(x) offsetof(struct wsb_options, x)
static const struct wsb_opt wsb_opts[] = {
    {"host", WSB_OPT_STR, WSB_F(host), 0, 0, "ADDR", "server IPv4 address, loopback only"},
    {"port", WSB_OPT_LONG, WSB_F(port), 1, 65535, "P", "server port (HTTP and WebSocket)"},
    {"stream", WSB_OPT_STR, WSB_F(stream), 0, 0, "ID", "stream to subscribe to and update"},
    {"clients", WSB_OPT_LONG, WSB_F(clients), 1, 1e7, "N", "WebSocket clients in total"},
    {"procs", WSB_OPT_LONG, WSB_F(procs), 1, WSB_MAX_PROCS, "K",
     "client processes (0: enough for 15,000 clients each, at least 2)"},
    {"sources", WSB_OPT_STR, WSB_F(sources_arg), 0, 0, "A,B,..",
     "source addresses, round robin (about 28,000 clients each)"},
    {"updates", WSB_OPT_LONG, WSB_F(updates), 0, 1e6, "U", "likes posted, one per interval"},
    {"interval-ms", WSB_OPT_LONG, WSB_F(interval_ms), 1, 3.6e6, "MS", "between updates"},
    {"idle-seconds", WSB_OPT_SECONDS, WSB_F(idle_seconds), 0, 86400, "S",
     "hold the connections idle before the updates (server RSS)"},
    {"server-pids", WSB_OPT_STR, WSB_F(pids_arg), 0, 0, "P,..",
     "server processes for CPU and RSS (their children are added)"},
    {"ramp", WSB_OPT_LONG, WSB_F(ramp), 1, 1e6, "R", "connections opened per second per process"},
    {"poll-us", WSB_OPT_LONG, WSB_F(poll_us), 0, 100000, "US",
     "0: wait in epoll (a process is woken and switched in again and again during a "
     "fan-out); else look every US microseconds: cheaper on the cores the server shares, "
     "adds at most US to the measured latency"},
    {"client-timeout", WSB_OPT_SECONDS, WSB_F(client_timeout), 0.1, 3600, "S",
     "per client, without progress before its first totals"},
    {"final-wait", WSB_OPT_SECONDS, WSB_F(final_wait), 0, 3600, "S",
     "for the final value after the last update"},
    {"timeout", WSB_OPT_SECONDS, WSB_F(timeout), 1, 86400, "S", "the whole run"},
    {"parse", WSB_OPT_STR, WSB_F(parse), 0, 0, "scan|json",
     "how totals are read (json: with jansson, to check the scan)"},
    {"label", WSB_OPT_STR, WSB_F(label), 0, 0, "NAME", "names the run in the report"},
    {"target", WSB_OPT_STR, WSB_F(target), 0, 0, "livetally|nchan",
     "nchan: subscribe at /sub/<stream>, publish {\"type\":\"totals\",\"likes\":k} to "
     "/pub/<stream> (the reference)"},
    {"extra-ports", WSB_OPT_STR, WSB_F(ports_arg), 0, 0, "P,..",
     "more servers on the same host: clients spread round robin over --port and these "
     "(updates go to --port)"},
};
#define WSB_NOPTS (sizeof wsb_opts / sizeof wsb_opts[0])

static void usage(FILE *f, const struct wsb_options *defaults)
{
    fprintf(f, "usage: lt-wsbench --port P [options]\n");
    for (size_t i = 0; i < WSB_NOPTS; i++) {
        const struct wsb_opt *op = &wsb_opts[i];
        const char *p = (const char *)defaults + op->field;
        char arg[40], def[64] = "";
        snprintf(arg, sizeof arg, "%s %s", op->name, op->arg);
        if (op->type == WSB_OPT_STR && *(const char *const *)(const void *)p)
            snprintf(def, sizeof def, " (%s)", *(const char *const *)(const void *)p);
        else if (op->type == WSB_OPT_LONG && *(const long *)(const void *)p)
            snprintf(def, sizeof def, " (%ld)", *(const long *)(const void *)p);
        else if (op->type == WSB_OPT_SECONDS)
            snprintf(def, sizeof def, " (%g)", *(const double *)(const void *)p);
        fprintf(f, "  --%-22s %s%s\n", arg, op->help, def);
    }
}

static bool parse_long(const char *s, double lo, double hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || (double)v < lo || (double)v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool is_loopback(struct in_addr a)
{
    return (ntohl(a.s_addr) >> 24) == 127;
}

/* Adds the children of the listed server pids (a master's workers) that are
 * not listed yet: a master pid alone would leave the workers' CPU and
 * memory, where the connections live, out of every figure. */
static void add_server_children(struct wsb_options *o)
{
    int listed = o->npids;
    for (int i = 0; i < listed; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)o->server_pids[i],
                 (int)o->server_pids[i]);
        FILE *f = fopen(path, "r");
        long kid;
        while (f && fscanf(f, "%ld", &kid) == 1) {
            bool known = false;
            for (int k = 0; k < o->npids; k++)
                known |= o->server_pids[k] == (pid_t)kid;
            if (!known && o->npids < WSB_MAX_PIDS)
                o->server_pids[o->npids++] = (pid_t)kid;
        }
        if (f)
            fclose(f);
    }
}

/* Fails early on limits that would otherwise show up as thousands of failed
 * connects: open files per process, ephemeral ports per source address. */
static bool check_limits(const struct wsb_options *o)
{
    long per_proc = (o->clients + o->procs - 1) / o->procs;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (rlim_t)per_proc + 64 > rl.rlim_cur) {
        fprintf(stderr, "lt-wsbench: %ld clients per process exceed the open-file limit %llu\n",
                per_proc, (unsigned long long)rl.rlim_cur);
        return false;
    }
    if (per_proc > WSB_PER_PROC_ADVISED)
        fprintf(stderr, "lt-wsbench: note: %ld clients per process (advised at most %d)\n",
                per_proc, WSB_PER_PROC_ADVISED);
    long lo = 32768, hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &lo, &hi) != 2)
            lo = 32768, hi = 60999;
        fclose(f);
    }
    long per_source = (o->clients + o->nsources - 1) / o->nsources;
    if (per_source > hi - lo + 1) {
        fprintf(stderr, "lt-wsbench: %ld clients per source address exceed its %ld ports\n",
                per_source, hi - lo + 1);
        return false;
    }
    return true;
}

static int parse_options(int argc, char **argv, struct wsb_options *o)
{
    *o = (struct wsb_options){.host = "127.0.0.1",
                              .stream = "bench",
                              .clients = 1000,
                              .sources_arg = "127.0.0.1",
                              .updates = 20,
                              .interval_ms = 500,
                              .idle_seconds = 2,
                              .ramp = 5000,
                              .timeout = 300,
                              .final_wait = 5,
                              .client_timeout = 15,
                              .parse = "scan",
                              .label = "ws fan-out",
                              .target = "livetally"};
    struct option longopts[WSB_NOPTS + 2];
    for (size_t i = 0; i < WSB_NOPTS; i++)
        longopts[i] = (struct option){wsb_opts[i].name, required_argument, NULL, 256 + (int)i};
    longopts[WSB_NOPTS] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[WSB_NOPTS + 1] = (struct option){NULL, 0, NULL, 0};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout, o);
            exit(0);
        }
        if (c < 256 || c >= 256 + (int)WSB_NOPTS) {
            usage(stderr, o);
            return -1;
        }
        const struct wsb_opt *op = &wsb_opts[c - 256];
        void *field = (char *)o + op->field;
        bool ok = true;
        if (op->type == WSB_OPT_STR)
            *(const char **)field = optarg;
        else if (op->type == WSB_OPT_LONG)
            ok = parse_long(optarg, op->lo, op->hi, field);
        else
            ok = parse_double(optarg, op->lo, op->hi, field);
        if (!ok) {
            fprintf(stderr, "lt-wsbench: --%s %s: not a number in [%g, %g]\n", op->name, optarg,
                    op->lo, op->hi);
            return -1;
        }
    }
    if (optind != argc || !o->port) {
        usage(stderr, o);
        return -1;
    }
    o->parse_json = strcmp(o->parse, "json") == 0;
    o->nchan = strcmp(o->target, "nchan") == 0;
    if (!o->nchan && strcmp(o->target, "livetally") != 0) {
        fprintf(stderr, "lt-wsbench: --target is livetally or nchan\n");
        return -1;
    }
    o->ports[o->nports++] = o->port;
    if (!o->parse_json && strcmp(o->parse, "scan") != 0) {
        fprintf(stderr, "lt-wsbench: --parse is scan or json\n");
        return -1;
    }
    /* Loopback only: this is a load generator. */
    if (inet_pton(AF_INET, o->host, &o->host_addr) != 1 || !is_loopback(o->host_addr)) {
        fprintf(stderr, "lt-wsbench: --host must be an IPv4 loopback address (127.x.y.z)\n");
        return -1;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", o->sources_arg);
    for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (o->nsources == WSB_MAX_SOURCES ||
            inet_pton(AF_INET, t, &o->sources[o->nsources]) != 1 ||
            !is_loopback(o->sources[o->nsources])) {
            fprintf(stderr, "lt-wsbench: bad --sources entry %s (loopback IPv4, at most %d)\n", t,
                    WSB_MAX_SOURCES);
            return -1;
        }
        o->nsources++;
    }
    snprintf(tmp, sizeof tmp, "%s", o->ports_arg ? o->ports_arg : "");
    for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (o->nports == WSB_MAX_SOURCES || !parse_long(t, 1, 65535, &o->ports[o->nports])) {
            fprintf(stderr, "lt-wsbench: bad --extra-ports entry %s\n", t);
            return -1;
        }
        o->nports++;
    }
    snprintf(tmp, sizeof tmp, "%s", o->pids_arg ? o->pids_arg : "");
    for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long v;
        if (o->npids == WSB_MAX_PIDS || !parse_long(t, 1, INT32_MAX, &v)) {
            fprintf(stderr, "lt-wsbench: bad --server-pids entry %s\n", t);
            return -1;
        }
        o->server_pids[o->npids++] = (pid_t)v;
    }
    add_server_children(o);
    if (!o->procs) {
        long need = (o->clients + WSB_PER_PROC_ADVISED - 1) / WSB_PER_PROC_ADVISED;
        o->procs = need < 2 ? 2 : need > WSB_MAX_PROCS ? WSB_MAX_PROCS : need;
    }
    if (o->procs > o->clients)
        o->procs = o->clients;
    return check_limits(o) ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct wsb_options o;
    if (parse_options(argc, argv, &o) != 0)
        return 2;
    struct sigaction sa = {.sa_handler = on_stop_signal}; /* no SA_RESTART: waits see EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    return coordinator(&o);
}
