/* GET /v1/operator/status: what only operators see of the whole server,
 * read from the workers' shared metrics slots (base/metrics.h), so any
 * worker answers for all of them without asking the others. */
#include "livetally/base/clock.h"
#include "livetally/base/metrics.h"
#include "livetally/store/store.h"
#include "livetally/api/api.h"
#include "livetally/api/app.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>

/* A slot's process still runs (a dead worker's slot keeps its last figures
 * until the master's replacement binds it). */
static bool running(int64_t pid)
{
    return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

void lt_api_operator_status(struct lt_app *app, struct lt_request *req,
                            const struct lt_route_params *params)
{
    (void)params;
    if (!lt_auth_operator(app, req))
        return;
    json_t *workers = json_array();
    uint64_t backlog = 0, dirty = 0, ev_ok = 0, ev_bad = 0, likes_ok = 0, likes_dropped = 0;
    bool all_connected = true;
    int n = lt_metrics_slot_count();
    for (int i = 0; i < n; i++) {
        int64_t pid = 0;
        const struct lt_metrics *m = lt_metrics_slot(i, &pid);
        if (!m)
            continue;
        bool alive = running(pid);
        /* Read once: the worker changes them meanwhile, and the sums must
         * add up to what is shown per worker. */
        uint64_t w_backlog = m->backlog_entries, w_dirty = m->streams_dirty;
        bool w_connected = m->redis_connected != 0;
        if (alive) {
            backlog += w_backlog;
            dirty += w_dirty;
            all_connected = all_connected && w_connected;
        }
        ev_ok += m->events_accepted_total;
        ev_bad += m->events_rejected_total;
        likes_ok += m->likes_accepted_total;
        likes_dropped += m->likes_rate_limited_total;
        json_array_append_new(workers,
                              json_pack("{s:i, s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:b}", "index", i,
                                        "pid", (json_int_t)pid, "running", alive, "connections",
                                        (json_int_t)m->http_connections_open, "ws",
                                        (json_int_t)m->ws_connections_open, "sse",
                                        (json_int_t)m->sse_connections_open, "backlog_entries",
                                        (json_int_t)w_backlog, "streams_dirty", (json_int_t)w_dirty,
                                        "redis_connected", w_connected));
    }
    char now[40]; /* lt_format_rfc3339 needs 32 */
    lt_format_rfc3339(lt_wall_ms(), 1, now, sizeof now);
    json_t *body =
        json_pack("{s:s, s:o, s:{s:b, s:b, s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I}, s:s}", "instance",
                  app->instance, "workers", workers, "redis", "connected",
                  all_connected && lt_store_ready(app->store), "control_connected",
                  lt_store_control_ready(app->store), "backlog_entries", (json_int_t)backlog,
                  "streams_dirty", (json_int_t)dirty, "events", "accepted", (json_int_t)ev_ok,
                  "rejected", (json_int_t)ev_bad, "likes", "accepted", (json_int_t)likes_ok,
                  "dropped", (json_int_t)likes_dropped, "generated_at", now);
    lt_respond_json(req, 200, body);
}
