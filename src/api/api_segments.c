/* Segments of a stream: the operator's POST /v1/streams/{id}/segments
 * (start one; it ends the one before) and the public GET of the list.
 *
 * Where the boundary lies: a segment starts at started_at (now, or a
 * moment ago), and every batch is counted in the segment whose start is the
 * latest at or before the batch's seal time (its at_ms, at most
 * flush_interval_ms after its events were accepted). The store applies the
 * start atomically between batches (segment.lua, apply.lua), so no event is
 * counted in two segments or in none; a backdated start moves nothing that
 * was counted before the POST (docs/redis.md, "Segments"). */
#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/mem.h"
#include "livetally/store/store.h"
#include "livetally/api/api.h"
#include "livetally/api/app.h"
#include "livetally/api/totals_json.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* How far back started_at may lie (a segment that began a moment ago), and
 * how far ahead of our clock it may lie (another clock's skew; such a start
 * is taken as now). */
#define LT_SEGMENT_BACKDATE_MAX_MS (10 * 60 * 1000)
#define LT_SEGMENT_SKEW_MS 5000

struct segment_ctx {
    struct lt_request *req;
    char *title;
    int64_t started_ms;
};

static void on_started(void *arg, int err, const struct lt_segment_start *res)
{
    struct segment_ctx *ctx = arg;
    struct lt_request *req = ctx->req;
    char msg[160], when[40];
    if (err) {
        lt_api_respond_store_error(req, err);
    } else if (res->outcome == LT_SEGMENT_UNKNOWN_STREAM) {
        lt_respond_error(req, 404, "unknown_stream", "no such stream");
    } else if (res->outcome == LT_SEGMENT_STREAM_ENDED) {
        lt_respond_error(req, 409, "stream_ended", "the stream has ended: no segment starts");
    } else if (res->outcome == LT_SEGMENT_BEFORE_PREVIOUS) {
        lt_format_rfc3339(res->previous_started_ms, 1, when, sizeof when);
        snprintf(msg, sizeof msg, "started_at is before the previous segment's start (%s)", when);
        lt_respond_error(req, 400, "bad_request", msg);
    } else if (res->outcome == LT_SEGMENT_TOO_MANY) {
        snprintf(msg, sizeof msg, "the stream has %d segments, the most it may have",
                 LT_SEGMENTS_MAX);
        lt_respond_error(req, 409, "too_many_segments", msg);
    } else {
        /* A new segment has counted nothing yet: what was counted before
         * the POST stays where it was (see the top). */
        struct lt_totals_segment g = {
            .id = res->id, .title = ctx->title, .started_ms = ctx->started_ms};
        lt_respond_json(req, 201, lt_segment_json(&g));
    }
    lt_free(ctx->title);
    lt_free(ctx);
}

/* Checks the body; fills title (a copy) and started_ms, or answers 400 and
 * returns false. */
static bool parse_body(struct lt_request *req, char **title, size_t *title_len, int64_t *started_ms)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        lt_respond_error(req, 400, "bad_json", "the body must be a JSON object");
        return false;
    }
    const char *key, *problem = NULL;
    json_t *value;
    char msg[160];
    json_object_foreach(body, key, value)
    {
        if (strcmp(key, "title") != 0 && strcmp(key, "started_at") != 0) {
            snprintf(msg, sizeof msg, "unknown field \"%.64s\"", key); /* the key cut to 64 */
            problem = msg;
            break;
        }
    }
    json_t *t = json_object_get(body, "title"), *s = json_object_get(body, "started_at");
    int64_t now = lt_wall_ms(), at = now;
    if (problem) {
        /* answered below */
    } else if (!json_is_string(t)) {
        problem = "title is required: a string";
    } else if (json_string_length(t) < 1 || json_string_length(t) > LT_SEGMENT_TITLE_MAX) {
        problem = "title is 1 to 256 bytes of UTF-8";
    } else if (s && !json_is_string(s)) {
        problem = "started_at is an RFC 3339 time (a string)";
    } else if (s && lt_parse_time(json_string_value(s), json_string_length(s), &at) != 0) {
        problem = "started_at is an RFC 3339 time";
    } else if (at < now - LT_SEGMENT_BACKDATE_MAX_MS) {
        problem = "started_at is at most 10 minutes ago";
    } else if (at > now + LT_SEGMENT_SKEW_MS) {
        problem = "started_at is in the future";
    }
    if (problem) {
        lt_respond_error(req, 400, "bad_request", problem);
        json_decref(body);
        return false;
    }
    /* jansson refuses invalid UTF-8 and \u0000 (no JSON_ALLOW_NUL): the
     * title is a C string of valid UTF-8. */
    *title_len = json_string_length(t);
    *title = lt_strndup(json_string_value(t), *title_len);
    *started_ms = at > now ? now : at;
    json_decref(body);
    return true;
}

void lt_api_post_segment(struct lt_app *app, struct lt_request *req,
                         const struct lt_route_params *params)
{
    if (!lt_auth_operator(app, req))
        return;
    struct segment_ctx *ctx = lt_calloc(1, sizeof *ctx);
    ctx->req = req;
    size_t title_len;
    if (!parse_body(req, &ctx->title, &title_len, &ctx->started_ms)) {
        lt_free(ctx);
        return;
    }
    int rc = lt_store_start_segment(app->store, params->id, ctx->title, title_len, ctx->started_ms,
                                    on_started, ctx);
    if (rc != 0) {
        lt_free(ctx->title);
        lt_free(ctx);
        lt_api_respond_store_error(req, rc);
    }
}

static void on_totals(void *arg, int err, const struct lt_totals *totals)
{
    struct lt_request *req = arg;
    if (err) {
        lt_api_respond_store_error(req, err);
    } else if (!totals) {
        lt_respond_error(req, 404, "unknown_stream", "no such stream");
    } else {
        json_t *list = json_array();
        for (size_t i = 0; i < totals->n_segments; i++)
            json_array_append_new(list, lt_segment_json(&totals->segments[i]));
        lt_respond_json(req, 200,
                        json_pack("{s:s, s:o}", "stream", totals->stream, "segments", list));
    }
}

void lt_api_get_segments(struct lt_app *app, struct lt_request *req,
                         const struct lt_route_params *params)
{
    int rc = lt_store_get_totals(app->store, params->id, on_totals, req);
    if (rc != 0)
        lt_api_respond_store_error(req, rc);
}
