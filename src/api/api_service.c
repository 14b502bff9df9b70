/* /healthz, /readyz, /metrics. */
#include "livetally/base/error.h"
#include "livetally/base/metrics.h"
#include "livetally/base/strbuf.h"
#include "livetally/spool/spool.h"
#include "livetally/store/store.h"
#include "livetally/api/api.h"
#include "livetally/api/app.h"

#include <event2/buffer.h>
#include <string.h>

void lt_api_respond_store_error(struct lt_request *req, int err)
{
    lt_response_header(req, "Retry-After", "1");
    lt_respond_error(req, 503, "not_ready",
                     err == LT_EAGAIN ? "the store (Redis) is not reachable right now"
                                      : "the store (Redis) did not answer in time");
}

void lt_api_healthz(struct lt_app *app, struct lt_request *req,
                    const struct lt_route_params *params)
{
    (void)app;
    (void)params;
    static const char body[] = "{\"status\":\"ok\"}";
    lt_respond(req, 200, "application/json; charset=utf-8", body, sizeof body - 1);
}

void lt_api_readyz(struct lt_app *app, struct lt_request *req, const struct lt_route_params *params)
{
    (void)params;
    if (app->shutting_down) {
        lt_response_header(req, "Retry-After", "1");
        lt_respond_error(req, 503, "not_ready", "shutting down");
        return;
    }
    if (!lt_store_ready(app->store)) {
        lt_api_respond_store_error(req, LT_EAGAIN);
        return;
    }
    if (app->spool && !lt_spool_available(app->spool)) {
        char msg[512]; /* the reason (at most 160) and spool.dir, cut short if long */
        struct lt_strbuf sb;
        lt_strbuf_init_fixed(&sb, msg, sizeof msg);
        lt_strbuf_add_str(&sb, "spool: ");
        lt_strbuf_add_str(&sb, lt_spool_problem(app->spool));
        lt_strbuf_add_str(&sb, " (");
        lt_strbuf_add_str(&sb, lt_spool_dir(app->spool));
        lt_strbuf_add_str(&sb, ")");
        lt_response_header(req, "Retry-After", "1");
        lt_respond_error(req, 503, "not_ready", lt_strbuf_text(&sb));
        return;
    }
    static const char body[] = "{\"status\":\"ready\"}";
    lt_respond(req, 200, "application/json; charset=utf-8", body, sizeof body - 1);
}

void lt_api_metrics(struct lt_app *app, struct lt_request *req, const struct lt_route_params *params)
{
    (void)app;
    (void)params;
    struct evbuffer *out = evbuffer_new();
    lt_metrics_render(out);
    size_t len = evbuffer_get_length(out);
    const char *text = (const char *)evbuffer_pullup(out, -1);
    lt_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    evbuffer_free(out);
}
