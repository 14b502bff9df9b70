/* GET /v1/series/{id}: a series' sums and its streams (API.md). The store
 * reads and sums them (lt_store_get_series, store/series.h); this file
 * only answers. */
#include "livetally/base/error.h"
#include "livetally/base/mem.h"
#include "livetally/store/store.h"
#include "livetally/api/api.h"
#include "livetally/api/app.h"
#include "livetally/api/totals_json.h"

#include <jansson.h>

struct series_ctx {
    struct lt_request *req;
    struct lt_totals_display display;
};

static void on_series(void *arg, int err, const struct lt_series_totals *series)
{
    struct series_ctx *ctx = arg;
    struct lt_request *req = ctx->req;
    if (err)
        lt_api_respond_store_error(req, err);
    else if (!series)
        lt_respond_error(req, 404, "not_found", "no such series: no stream is in it");
    else
        lt_respond_json(req, 200, lt_series_json(series, &ctx->display));
    lt_free(ctx);
}

void lt_api_get_series(struct lt_app *app, struct lt_request *req,
                       const struct lt_route_params *params)
{
    struct series_ctx *ctx = lt_malloc(sizeof *ctx);
    ctx->req = req;
    if (!lt_api_display_opts(req, &ctx->display)) {
        lt_free(ctx);
        return;
    }
    /* params->id passed the router's id rule, which is the series id rule
     * too (ids.h): LT_EINVAL cannot come back. */
    int rc = lt_store_get_series(app->store, params->id, on_series, ctx);
    if (rc != 0) {
        lt_free(ctx);
        lt_api_respond_store_error(req, rc);
    }
}
