/* A worker process (see worker.h). */
#include "livetally/proc/worker.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/base/strbuf.h"
#include "livetally/conf/config.h"
#include "livetally/spool/spool.h"
#include "livetally/spool/spool_replay.h"
#include "livetally/store/store.h"
#include "livetally/core/agg.h"
#include "livetally/core/hub.h"
#include "livetally/core/ingest.h"
#include "livetally/core/stream_cache.h"
#include "livetally/net/http_server.h"
#include "livetally/net/request_id.h"
#include "livetally/net/ws_conn.h"
#include "livetally/net/ws_frame.h"
#include "livetally/api/app.h"
#include "livetally/api/live.h"
#include "livetally/api/router.h"
#include "livetally/api/static_files.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define LT_SHUTDOWN_POLL_MS 10
#define LT_SWEEP_INTERVAL_MS 5000
#define LT_SHUTDOWN_GRACE_MS 500
/* A subscriber with this much output unsent is dropped: pushes are small
 * and coalesced, so only a reader that stopped reading gets there. */
#define LT_WS_MAX_PENDING_OUTPUT (256 * 1024)
/* A dead worker's share asked to be removed while Redis is away is tried
 * again this often, until its fields have expired by themselves. */
#define LT_DROP_RETRY_MS 200

struct pending_drop {
    char field[96];
    int64_t give_up_ms;
};

struct worker {
    struct lt_app app;
    /* The current config snapshot (a reference of ours); app, http, hub and
     * agg borrow it (config.h). */
    const struct lt_config *cfg;
    /* The start-up snapshot, which the store keeps for its life (Redis
     * address, dedup window, counters: all restart-only keys); our
     * reference on its behalf is dropped after lt_store_free. */
    const struct lt_config *store_cfg;
    const struct lt_worker_args *args;
    struct event *sigterm, *sigint, *sighup;
    struct event *control;       /* the master's frames */
    struct evbuffer *control_in; /* a frame not complete yet */
    struct pending_drop *drops;  /* shares still to remove */
    size_t n_drops;
    struct event *drop_retry;
    struct event *shutdown_poll;
    struct event *sweep;
    int64_t started_ms;
    bool told_ready;
    bool live_closed;
    int64_t shutdown_started;
    int64_t shutdown_deadline;
    int exit_code;
};

/* A string unique to this process' life: the key of its batches'
 * high-water marks in Redis. */
static void make_incarnation(int index, char *out, size_t cap)
{
    unsigned char rnd[12];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        lt_error("worker", "getrandom failed");
        memset(rnd, 0, sizeof rnd);
    }
    /* "w" + at most 3 digits (workers <= 256) + "-" + 24 hex digits: 29
     * bytes, and the caller's 64 hold them. A refusal would leave a shorter
     * but still unique-enough name, never an overflow. */
    static const char hex[] = "0123456789abcdef";
    struct lt_strbuf sb;
    lt_strbuf_init_fixed(&sb, out, cap);
    lt_strbuf_add_char(&sb, 'w');
    lt_strbuf_add_int(&sb, index);
    lt_strbuf_add_char(&sb, '-');
    for (size_t i = 0; i < sizeof rnd; i++) {
        lt_strbuf_add_char(&sb, hex[rnd[i] >> 4]);
        lt_strbuf_add_char(&sb, hex[rnd[i] & 15]);
    }
}

/* The owners the master handed over (worker.h): each one's files read back
 * (spool_replay.h), its state given to agg, written into our own first
 * checkpoint and made durable, and only then its files deleted. An owner
 * that another of them had already taken over (named in that one's
 * checkpoint, its files not deleted yet when it died) is deleted unread.
 * Returns 0, or -1 (logged) when our spool cannot be started. */
static int take_over(struct worker *w)
{
    const struct lt_worker_args *args = w->args;
    struct lt_app *app = &w->app;
    const char *dir = w->cfg->spool_dir;
    int64_t t0 = lt_mono_ms();
    struct lt_spool_replay *r = lt_calloc(args->n_inherit ? args->n_inherit : 1, sizeof *r);
    for (size_t i = 0; i < args->n_inherit; i++) {
        lt_spool_replay_init(&r[i]);
        if (lt_spool_replay_owner(&r[i], dir, args->inherit[i]) != 0)
            lt_error("worker", "spool of %s could not be read; it is left in %s", args->inherit[i],
                     dir);
    }
    uint64_t events = 0, batches = 0;
    for (size_t i = 0; i < args->n_inherit; i++) {
        bool absorbed = false;
        for (size_t j = 0; j < args->n_inherit && !absorbed; j++)
            for (size_t k = 0; j != i && k < r[j].n_absorbed && !absorbed; k++)
                absorbed = strcmp(r[j].absorbed[k], args->inherit[i]) == 0;
        if (absorbed) {
            lt_info("worker", "spool of %s was taken over already; deleting it", args->inherit[i]);
            continue;
        }
        events += r[i].events;
        batches += r[i].n_batches;
        lt_agg_adopt_replay(app->agg, &r[i]);
    }
    lt_metrics->spool_replayed_events_total += events;
    char err[512];
    int rc = lt_spool_start(app->spool, args->inherit, args->n_inherit, err, sizeof err);
    for (size_t i = 0; i < args->n_inherit; i++)
        lt_spool_replay_free(&r[i]);
    lt_free(r);
    if (rc != 0) {
        lt_error("worker", "%s", err);
        return -1;
    }
    for (size_t i = 0; i < args->n_inherit; i++)
        lt_spool_remove_owner(dir, args->inherit[i]);
    if (args->n_inherit)
        lt_info("worker",
                "took over %zu spools: %llu events, %llu unacknowledged batches, in %lld ms",
                args->n_inherit, (unsigned long long)events, (unsigned long long)batches,
                (long long)(lt_mono_ms() - t0));
    return 0;
}

static void find_web_root(const struct lt_config *cfg, char *out, size_t cap)
{
    if (cfg->web_root) {
        snprintf(out, cap, "%s", cfg->web_root);
        return;
    }
    char exe[PATH_MAX]; /* readlink is given sizeof exe - 1 and the NUL is added */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(out, cap, "web");
        return;
    }
    exe[n] = '\0';
    char *dir = dirname(exe);
    /* Beside the binary (build tree), else the installed share directory. */
    int n1 = snprintf(out, cap, "%s/web", dir);
    if (n1 > 0 && (size_t)n1 < cap && access(out, R_OK) == 0)
        return;
    snprintf(out, cap, "%.*s/../share/livetally/web", (int)(cap > 32 ? cap - 32 : 0), dir);
}

static struct lt_ws_settings ws_settings(const struct lt_config *cfg)
{
    struct lt_ws_settings s = {
        .max_message = (size_t)cfg->max_ws_message_bytes,
        .idle_timeout_ms = cfg->idle_timeout_ms,
        .max_pending_output = LT_WS_MAX_PENDING_OUTPUT,
        .allow_binary = false,
    };
    return s;
}

static void on_stream_control(void *arg, const char *stream, enum lt_stream_status status)
{
    struct worker *w = arg;
    lt_stream_cache_set(w->app.stream_cache, stream, status);
    lt_hub_stream_status(w->app.hub, stream, status);
}

/* SIGTERM, step by step: stop accepting (the connections already queued are
 * taken and the listening socket closed: lt_http_server_drain), flush every
 * accepted event, then
 * close WebSockets with 1001 and event streams, flush again (their online
 * share drops to zero), and exit once that is in Redis. */
static void shutdown_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    struct lt_app *app = &w->app;
    lt_agg_flush(app->agg);
    bool flushed = lt_agg_idle(app->agg);
    if (flushed && !w->live_closed) {
        w->live_closed = true;
        lt_ws_server_close_all(app->ws, LT_WS_CLOSE_GOING_AWAY, "server shutting down");
        lt_sse_server_close_all(app->sse);
        lt_agg_flush(app->agg);
        return;
    }
    /* Connections still reading a request get a short grace to finish it;
     * the flush is what must complete. */
    bool grace_over = lt_mono_ms() >= w->shutdown_started + LT_SHUTDOWN_GRACE_MS;
    bool quiet = lt_http_server_connections(app->http) == 0 && lt_ws_server_count(app->ws) == 0;
    if (flushed && w->live_closed && (quiet || grace_over)) {
        lt_info("worker", "every accepted event is in Redis; exiting");
        event_base_loopbreak(app->base);
        return;
    }
    if (lt_mono_ms() >= w->shutdown_deadline) {
        if (!flushed) {
            lt_error("worker",
                     "shutdown_timeout_ms passed with %zu backlog entries not in Redis; "
                     "they are lost",
                     lt_agg_backlog(app->agg));
            w->exit_code = 1;
        }
        event_base_loopbreak(app->base);
    }
}

static void on_sigterm(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct worker *w = arg;
    if (w->app.shutting_down)
        return;
    lt_info("worker", "signal %d: draining connections and flushing to Redis", (int)sig);
    w->app.shutting_down = true;
    w->shutdown_started = lt_mono_ms();
    w->shutdown_deadline = w->shutdown_started + w->cfg->shutdown_timeout_ms;
    lt_http_server_drain(w->app.http);
    w->shutdown_poll = event_new(w->app.base, -1, EV_PERSIST, shutdown_check, w);
    struct timeval tv = {0, LT_SHUTDOWN_POLL_MS * 1000};
    event_add(w->shutdown_poll, &tv);
    shutdown_check(-1, 0, w);
}

/* SIGHUP is the master's: it reads and checks the file once and sends the
 * result to every worker. One sent to a worker alone changes nothing. */
static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    lt_warn("worker", "SIGHUP ignored: send it to the master (pid %d) to reload the config",
            (int)getppid());
}

/* Switches every module to next at once, then drops our reference to the
 * old snapshot (freed here unless the store still holds it). */
static void apply_config(struct worker *w, const struct lt_config *next)
{
    const struct lt_config *old = w->cfg;
    lt_log_configure(next->log_level, next->log_format);
    lt_http_server_set_config(w->app.http, next);
    lt_hub_set_config(w->app.hub, next);
    struct lt_ws_settings ws = ws_settings(next);
    lt_ws_server_set_settings(w->app.ws, &ws);
    lt_agg_set_config(w->app.agg, next);
    lt_ingest_set_config(w->app.ingest, next);
    w->app.cfg = next;
    w->cfg = next;
    /* The web files follow too (a new widget.js without a restart). */
    find_web_root(next, w->app.web_root, sizeof w->app.web_root);
    lt_static_free(w->app.static_files);
    w->app.static_files = lt_static_load(w->app.web_root);
    lt_config_unref(old);
}

static void on_config_frame(struct worker *w, const char *body, size_t len)
{
    const char *nul = memchr(body, '\0', len);
    if (!nul) {
        lt_error("worker", "control: a config frame without its path; ignored");
        return;
    }
    const char *json = nul + 1;
    struct lt_config loaded;
    char err[512];
    if (lt_config_load_string(&loaded, body[0] ? body : NULL, json, len - (size_t)(json - body),
                              err, sizeof err) != 0) {
        /* The master checked this very text: only a bug gets here. */
        lt_error("worker", "config from the master refused, keeping the running one: %s", err);
        return;
    }
    /* Counters index the deltas by position; the master keeps them as they
     * were (restart-only), so a difference here is a bug, not a wish. */
    bool same_counters = loaded.counters.n == w->cfg->counters.n;
    for (size_t i = 0; same_counters && i < loaded.counters.n; i++)
        same_counters = strcmp(loaded.counters.items[i], w->cfg->counters.items[i]) == 0;
    if (!same_counters) {
        lt_error("worker", "config from the master changes counters; keeping the running one");
        lt_config_free(&loaded);
        return;
    }
    apply_config(w, lt_config_snapshot(&loaded));
    lt_info("worker", "config reloaded from %s", w->cfg->path ? w->cfg->path : "(defaults)");
}

static void on_share_dropped(void *arg, int err, int count)
{
    const char *field = arg;
    if (err)
        lt_warn("worker", "removing online share %s: %s (it expires by itself)", field,
                lt_strerror(err));
    else
        lt_info("worker", "removed online share %s from %d streams", field, count);
    lt_free(arg);
}

/* Tries every pending removal; those Redis is not ready for wait for the
 * next retry, until their shares would have expired anyway. */
static void run_drops(struct worker *w)
{
    int64_t now = lt_mono_ms();
    size_t keep = 0;
    for (size_t i = 0; i < w->n_drops; i++) {
        struct pending_drop *d = &w->drops[i];
        char *field = lt_strdup(d->field);
        int rc = lt_store_drop_online_share(w->app.store, d->field, on_share_dropped, field);
        if (rc == 0)
            continue;
        lt_free(field);
        if (rc == LT_EAGAIN && now < d->give_up_ms)
            w->drops[keep++] = *d;
        else if (rc != LT_EAGAIN)
            lt_warn("worker", "removing online share %s: %s", d->field, lt_strerror(rc));
    }
    w->n_drops = keep;
    if (keep > 0 && !evtimer_pending(w->drop_retry, NULL)) {
        struct timeval tv = {0, LT_DROP_RETRY_MS * 1000};
        evtimer_add(w->drop_retry, &tv);
    }
}

static void on_drop_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_drops(arg);
}

static void on_drop_frame(struct worker *w, const char *body, size_t len)
{
    struct pending_drop d;
    if (len == 0 || len >= sizeof d.field || memchr(body, '\0', len)) {
        lt_error("worker", "control: a bad online share name; ignored");
        return;
    }
    memcpy(d.field, body, len);
    d.field[len] = '\0';
    d.give_up_ms = lt_mono_ms() + LT_ONLINE_TTL_MS;
    w->drops = lt_realloc(w->drops, (w->n_drops + 1) * sizeof *w->drops);
    w->drops[w->n_drops++] = d;
    run_drops(w);
}

static void on_control(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct worker *w = arg;
    int n = evbuffer_read(w->control_in, fd, -1);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        /* The master is gone; PR_SET_PDEATHSIG brings SIGTERM. */
        event_del(w->control);
        return;
    }
    for (;;) {
        size_t have = evbuffer_get_length(w->control_in);
        uint32_t len_be;
        if (have < sizeof len_be)
            return;
        evbuffer_copyout(w->control_in, &len_be, sizeof len_be);
        uint32_t len = ntohl(len_be);
        if (len == 0 || len > LT_CTL_MAX_FRAME) {
            lt_error("worker", "control: a frame of %u bytes; closing the channel", len);
            event_del(w->control);
            return;
        }
        if (have < sizeof len_be + len)
            return;
        evbuffer_drain(w->control_in, sizeof len_be);
        /* One frame made contiguous, plus a NUL so the JSON can be parsed
         * in place. */
        char *frame = lt_malloc((size_t)len + 1);
        evbuffer_remove(w->control_in, frame, len);
        frame[len] = '\0';
        if (frame[0] == LT_CTL_CONFIG)
            on_config_frame(w, frame + 1, len - 1);
        else if (frame[0] == LT_CTL_DROP_SHARE)
            on_drop_frame(w, frame + 1, len - 1);
        else
            lt_error("worker", "control: unknown frame type %d; ignored", frame[0]);
        lt_free(frame);
    }
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    lt_ingest_sweep(w->app.ingest, lt_mono_ms());
    lt_metrics->memory_live_bytes = (uint64_t)lt_mem_live_bytes();
}

/* Tells the master this worker is ready: once its Redis connection is up,
 * or after redis.connect_timeout_ms without it (it then serves what it can
 * and answers 503 for the rest, and /readyz says so). */
static void on_started(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    if (w->args->ready_fd < 0 || w->told_ready)
        return;
    if (!lt_store_ready(w->app.store) &&
        lt_mono_ms() - w->started_ms < w->cfg->redis_connect_timeout_ms) {
        struct timeval tv = {0, 5000};
        event_base_once(w->app.base, -1, EV_TIMEOUT, on_started, w, &tv);
        return;
    }
    w->told_ready = true;
    char one = '1';
    if (write(w->args->ready_fd, &one, 1) != 1)
        lt_warn("worker", "could not tell the master it is ready");
    close(w->args->ready_fd);
}

int lt_worker_run(const struct lt_config *cfg, const struct lt_worker_args *args)
{
    char tag[32]; /* "worker[" an index <= 256 "]": 12 */
    snprintf(tag, sizeof tag, "worker[%d]", args->index);
    lt_log_set_process(tag);
    lt_metrics_bind(args->index);
    signal(SIGXFSZ, SIG_IGN); /* the spool's reservations meet a file size limit as EFBIG */
    lt_request_id_init(0); /* after fork: a prefix of this worker's own */

    struct worker w;
    memset(&w, 0, sizeof w);
    w.cfg = lt_config_ref(cfg);
    w.store_cfg = lt_config_ref(cfg);
    w.args = args;
    struct lt_app *app = &w.app;
    app->cfg = cfg;
    app->worker_index = args->index;
    /* online_field is "<instance>.<index>.<generation>" */
    snprintf(app->instance, sizeof app->instance, "%.*s",
             (int)strcspn(args->online_field, "."), args->online_field);
    struct event_config *ec = event_config_new();
    event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
    app->base = event_base_new_with_config(ec);
    event_config_free(ec);
    find_web_root(cfg, app->web_root, sizeof app->web_root);
    app->static_files = lt_static_load(app->web_root);

    char incarnation[64]; /* make_incarnation: 29 */
    make_incarnation(args->index, incarnation, sizeof incarnation);
    app->store = lt_store_new(app->base, w.store_cfg, incarnation, args->online_field,
                              on_stream_control, &w);
    app->stream_cache = lt_stream_cache_new(app->base, app->store, cfg->redis_command_timeout_ms);
    struct lt_spool_settings spool = {
        .dir = cfg->spool_dir,
        .owner = args->spool_owner,
        .incarnation = incarnation,
        .fsync = lt_spool_fsync_parse(cfg->spool_fsync),
        .segment_bytes = cfg->spool_segment_bytes,
    };
    char err[512];
    app->spool = lt_spool_open(app->base, &spool, err, sizeof err);
    if (!app->spool) {
        lt_error("worker", "%s", err);
        return 1; /* the master restarts it, more slowly each time */
    }
    app->agg = lt_agg_new(app->base, cfg, app->store, app->spool);
    if (take_over(&w) != 0)
        return 1;
    app->hub = lt_hub_new(app->base, cfg, app->store, app->agg);
    app->ingest = lt_ingest_new(cfg, app->agg, app->stream_cache, app->spool);
    struct lt_ws_settings ws = ws_settings(cfg);
    app->ws = lt_ws_server_new(app->base, &ws);
    app->sse = lt_sse_server_new(app);
    app->http = lt_http_server_new(app->base, args->listen_fd, cfg, lt_router_dispatch, app);

    w.sigterm = evsignal_new(app->base, SIGTERM, on_sigterm, &w);
    w.sigint = evsignal_new(app->base, SIGINT, on_sigterm, &w);
    w.sighup = evsignal_new(app->base, SIGHUP, on_sighup, &w);
    event_add(w.sigterm, NULL);
    event_add(w.sigint, NULL);
    event_add(w.sighup, NULL);
    /* The master forked us with these blocked; now they have handlers. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_UNBLOCK, &mask, NULL);
    w.control_in = evbuffer_new();
    w.drop_retry = evtimer_new(app->base, on_drop_retry, &w);
    if (args->control_fd >= 0) {
        evutil_make_socket_nonblocking(args->control_fd);
        w.control = event_new(app->base, args->control_fd, EV_READ | EV_PERSIST, on_control, &w);
        event_add(w.control, NULL);
    }
    w.sweep = event_new(app->base, -1, EV_PERSIST, on_sweep, &w);
    struct timeval sweep_tv = {LT_SWEEP_INTERVAL_MS / 1000, 0};
    event_add(w.sweep, &sweep_tv);
    w.started_ms = lt_mono_ms();
    event_base_once(app->base, -1, EV_TIMEOUT, on_started, &w, NULL);

    lt_info("worker", "serving (incarnation %s, spool %s/%s.*)", incarnation, cfg->spool_dir,
            args->spool_owner);
    event_base_dispatch(app->base);
    /* Answers and sends still waiting for the spool get it now. */
    lt_spool_drain(app->spool);

    /* Our own events first, so that the loop pass below, which lets the
     * Redis connections release their contexts, runs none of them. */
    event_free(w.sigterm);
    event_free(w.sigint);
    event_free(w.sighup);
    event_free(w.sweep);
    if (w.control)
        event_free(w.control);
    event_free(w.drop_retry);
    if (w.shutdown_poll)
        event_free(w.shutdown_poll);
    lt_http_server_free(app->http);
    lt_ws_server_free(app->ws);
    lt_sse_server_free(app->sse);
    lt_hub_free(app->hub);
    lt_ingest_free(app->ingest); /* before agg and the stream cache it uses */
    /* Everything it holds is in Redis: nothing to replay. */
    if (w.exit_code == 0 && lt_agg_idle(app->agg))
        lt_spool_remove_files(app->spool);
    lt_agg_free(app->agg);
    lt_stream_cache_free(app->stream_cache);
    lt_store_free(app->store);
    lt_spool_free(app->spool);
    lt_static_free(app->static_files);
    event_base_loop(app->base, EVLOOP_NONBLOCK);
    event_base_free(app->base);
    evbuffer_free(w.control_in);
    lt_free(w.drops);
    lt_config_unref(w.store_cfg);
    lt_config_unref(w.cfg);
    return w.exit_code;
}
