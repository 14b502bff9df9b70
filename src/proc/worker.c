/* A worker process (see worker.h). */
#include "livetally/proc/worker.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/base/strbuf.h"
#include "livetally/conf/config.h"
#include "livetally/store/store.h"
#include "livetally/core/agg.h"
#include "livetally/core/hub.h"
#include "livetally/core/ingest.h"
#include "livetally/core/stream_cache.h"
#include "livetally/net/http_server.h"
#include "livetally/net/ws_conn.h"
#include "livetally/net/ws_frame.h"
#include "livetally/api/app.h"
#include "livetally/api/live.h"
#include "livetally/api/router.h"
#include "livetally/api/static_files.h"

#include <event2/event.h>
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

struct worker {
    struct lt_app app;
    struct lt_config *cfg;
    const struct lt_worker_args *args;
    struct event *sigterm, *sigint, *sighup;
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

static void on_control(void *arg, const char *stream, enum lt_stream_status status)
{
    struct worker *w = arg;
    lt_stream_cache_set(w->app.stream_cache, stream, status);
}

/* SIGTERM, step by step: stop accepting, flush every accepted event, then
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

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct worker *w = arg;
    struct lt_config *next = lt_calloc(1, sizeof *next);
    struct lt_cli cli;
    char err[512]; /* config errors: single snprintfs, cut short when long */
    if (lt_config_load_args(next, &cli, w->args->argc, w->args->argv, err, sizeof err) != 0) {
        lt_error("worker", "SIGHUP: config not reloaded: %s", err);
        lt_config_free(next);
        lt_free(next);
        return;
    }
    /* Counters index the deltas by position, so they only change with a
     * restart; everything else that is read per request follows the file. */
    bool same_counters = next->counters.n == w->cfg->counters.n;
    for (size_t i = 0; same_counters && i < next->counters.n; i++)
        same_counters = strcmp(next->counters.items[i], w->cfg->counters.items[i]) == 0;
    if (!same_counters) {
        lt_error("worker", "SIGHUP: counters changed; restart to change them; not reloaded");
        lt_config_free(next);
        lt_free(next);
        return;
    }
    int level = lt_log_level_parse(next->log_level);
    if (level >= 0)
        lt_log_set_level((enum lt_log_level)level);
    lt_http_server_set_config(w->app.http, next);
    lt_hub_set_config(w->app.hub, next);
    struct lt_ws_settings ws = ws_settings(next);
    lt_ws_server_set_settings(w->app.ws, &ws);
    lt_agg_set_config(w->app.agg, next);
    lt_ingest_set_config(w->app.ingest, next);
    /* The store keeps the config it started with (Redis address, dedup
     * window): connections are not dropped on reload. The old config stays
     * allocated because the store still reads it. */
    w->app.cfg = next;
    w->cfg = next;
    /* The web files follow too (a new widget.js without a restart). */
    find_web_root(next, w->app.web_root, sizeof w->app.web_root);
    lt_static_free(w->app.static_files);
    w->app.static_files = lt_static_load(w->app.web_root);
    lt_info("worker", "config reloaded");
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

int lt_worker_run(struct lt_config *cfg, const struct lt_worker_args *args)
{
    char tag[32]; /* "worker[" an index <= 256 "]": 12 */
    snprintf(tag, sizeof tag, "worker[%d]", args->index);
    lt_log_set_process(tag);
    lt_metrics_bind(args->index);

    struct worker w;
    memset(&w, 0, sizeof w);
    w.cfg = cfg;
    w.args = args;
    struct lt_app *app = &w.app;
    app->cfg = cfg;
    app->worker_index = args->index;
    struct event_config *ec = event_config_new();
    event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
    app->base = event_base_new_with_config(ec);
    event_config_free(ec);
    find_web_root(cfg, app->web_root, sizeof app->web_root);
    app->static_files = lt_static_load(app->web_root);

    char incarnation[64]; /* make_incarnation: 29 */
    make_incarnation(args->index, incarnation, sizeof incarnation);
    char online_field[96]; /* the instance (12 hex digits), ".", an index <= 256 */
    snprintf(online_field, sizeof online_field, "%s.%d", args->instance, args->index);
    app->store = lt_store_new(app->base, cfg, incarnation, online_field, on_control, &w);
    app->stream_cache = lt_stream_cache_new(app->base, app->store, cfg->redis_command_timeout_ms);
    app->agg = lt_agg_new(app->base, cfg, app->store);
    app->hub = lt_hub_new(app->base, cfg, app->store, app->agg);
    app->ingest = lt_ingest_new(cfg, app->agg, app->stream_cache);
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
    w.sweep = event_new(app->base, -1, EV_PERSIST, on_sweep, &w);
    struct timeval sweep_tv = {LT_SWEEP_INTERVAL_MS / 1000, 0};
    event_add(w.sweep, &sweep_tv);
    w.started_ms = lt_mono_ms();
    event_base_once(app->base, -1, EV_TIMEOUT, on_started, &w, NULL);

    lt_info("worker", "serving (incarnation %s)", incarnation);
    event_base_dispatch(app->base);

    /* Our own events first, so that the loop pass below, which lets the
     * Redis connections release their contexts, runs none of them. */
    event_free(w.sigterm);
    event_free(w.sigint);
    event_free(w.sighup);
    event_free(w.sweep);
    if (w.shutdown_poll)
        event_free(w.shutdown_poll);
    lt_http_server_free(app->http);
    lt_ws_server_free(app->ws);
    lt_sse_server_free(app->sse);
    lt_hub_free(app->hub);
    lt_ingest_free(app->ingest); /* before agg and the stream cache it uses */
    lt_agg_free(app->agg);
    lt_stream_cache_free(app->stream_cache);
    lt_store_free(app->store);
    lt_static_free(app->static_files);
    event_base_loop(app->base, EVLOOP_NONBLOCK);
    event_base_free(app->base);
    return w.exit_code;
}
