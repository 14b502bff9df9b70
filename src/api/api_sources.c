/* PUT /v1/streams/{id}/sources/{source}: a partner platform's absolute
 * counts of one source (API.md "Partner platform"), with that source's key.
 *
 * Body {"views":N,"likes":N}: both required, whole numbers 0..10^12, no
 * other field. The latest report replaces the previous one; a lower one is
 * accepted and flagged (lower_than_previous, and a warning in the log). A
 * report creates no stream (404 unknown_stream) and an ended stream takes
 * none (409 stream_ended). Answer: 200 {"stream","source","reported":{views,
 * likes,at,lower_than_previous},"views","likes"}, the last two being the
 * stream's new top-level totals (counted here + reported). */
#include "livetally/api/api.h"
#include "livetally/api/app.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/store/store.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* A figure above this is no platform's count: a bug or a typo. */
#define LT_REPORT_MAX 1000000000000LL /* 10^12 */

struct source_ctx {
    struct lt_request *req;
    char stream[LT_STREAM_ID_MAX + 1]; /* validated by the router: copied whole */
    char source[LT_SOURCE_ID_MAX + 1];
};

static void on_reported(void *arg, int err, const struct lt_report_result *res)
{
    struct source_ctx *ctx = arg;
    struct lt_request *req = ctx->req;
    if (err) {
        lt_api_respond_store_error(req, err);
    } else if (res->status == LT_REPORT_UNKNOWN_STREAM) {
        lt_respond_error(req, 404, "unknown_stream",
                         "no such stream: a report does not create one");
    } else if (res->status == LT_REPORT_STREAM_ENDED) {
        lt_respond_error(req, 409, "stream_ended",
                         "the stream has ended: it takes no more reports");
    } else {
        if (res->reported.lower)
            lt_warn("api",
                    "stream %s: source %s reported views %lld, likes %lld: lower than its "
                    "previous report (recorded, flagged lower_than_previous)",
                    ctx->stream, ctx->source, (long long)res->reported.views,
                    (long long)res->reported.likes);
        char at[40]; /* lt_format_rfc3339 needs 32 */
        lt_format_rfc3339(res->reported.at_ms, 1, at, sizeof at);
        json_t *o =
            json_pack("{s:s, s:s, s:{s:I, s:I, s:s, s:b}, s:I, s:I}", "stream", ctx->stream,
                      "source", ctx->source, "reported", "views", (json_int_t)res->reported.views,
                      "likes", (json_int_t)res->reported.likes, "at", at, "lower_than_previous",
                      (int)res->reported.lower, "views", (json_int_t)res->views, "likes",
                      (json_int_t)res->likes);
        lt_respond_json(req, 200, o);
    }
    lt_free(ctx);
}

/* A count of the body: a whole number 0..10^12, else why not. */
static const char *count_field(json_t *body, const char *name, int64_t *out)
{
    json_t *v = json_object_get(body, name);
    if (!v)
        return "views and likes are both required";
    if (!json_is_integer(v))
        return "views and likes are whole numbers";
    json_int_t n = json_integer_value(v);
    if (n < 0)
        return "views and likes are not negative";
    if (n > LT_REPORT_MAX)
        return "views and likes are at most 10^12";
    *out = (int64_t)n;
    return NULL;
}

void lt_api_put_source(struct lt_app *app, struct lt_request *req,
                       const struct lt_route_params *params)
{
    if (!lt_auth_source(app, req, params->source))
        return;
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
    if (!body && json_error_code(&jerr) == json_error_numeric_overflow) {
        lt_respond_error(req, 400, "bad_request", "views and likes are at most 10^12");
        return;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        lt_respond_error(req, 400, "bad_json", "the body must be a JSON object");
        return;
    }
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value)
    {
        if (strcmp(key, "views") && strcmp(key, "likes")) {
            char msg[160]; /* the key is cut to 64 bytes by %.64s */
            snprintf(msg, sizeof msg, "unknown field \"%.64s\" (only views and likes)", key);
            lt_respond_error(req, 400, "bad_request", msg);
            json_decref(body);
            return;
        }
    }
    int64_t views = 0, likes = 0;
    const char *problem = count_field(body, "views", &views);
    if (!problem)
        problem = count_field(body, "likes", &likes);
    json_decref(body);
    if (problem) {
        lt_respond_error(req, 400, "bad_request", problem);
        return;
    }
    struct source_ctx *ctx = lt_malloc(sizeof *ctx);
    ctx->req = req;
    snprintf(ctx->stream, sizeof ctx->stream, "%s", params->id);
    snprintf(ctx->source, sizeof ctx->source, "%s", params->source);
    int rc = lt_store_put_reported(app->store, params->id, params->source, views, likes,
                                   on_reported, ctx);
    if (rc != 0) {
        lt_free(ctx);
        lt_api_respond_store_error(req, rc);
    }
}
