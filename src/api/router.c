/* The route table and the answers that need no handler (see router.h). */
#include "livetally/api/router.h"

#include "livetally/api/api.h"
#include "livetally/api/app.h"
#include "livetally/base/strbuf.h"

#include <stdio.h>
#include <string.h>

enum { M_GET = 1 << 0, M_HEAD = 1 << 1, M_POST = 1 << 2, M_PUT = 1 << 3, M_DELETE = 1 << 4 };

struct route {
    unsigned methods;
    /* Segments separated by '/'; "{id}" captures a stream or series id,
     * "{source}" a source id. */
    const char *pattern;
    lt_route_handler *handler;
};

static const struct route routes[] = {
    {M_POST, "/v1/streams/{id}/events", lt_api_post_events},
    {M_GET | M_HEAD, "/v1/streams/{id}", lt_api_get_stream},
    {M_PUT, "/v1/streams/{id}", lt_api_put_stream},
    {M_DELETE, "/v1/streams/{id}", lt_api_delete_stream},
    {M_GET | M_HEAD, "/v1/streams", lt_api_list_streams},
    {M_GET | M_HEAD, "/v1/series/{id}", lt_api_get_series},
    {M_GET, "/v1/streams/{id}/timeseries", lt_api_get_timeseries},
    {M_GET, "/v1/series/{id}/timeseries", lt_api_get_series_timeseries},
    {M_GET, "/v1/streams/{id}/report", lt_api_get_report},
    {M_PUT, "/v1/streams/{id}/sources/{source}", lt_api_put_source},
    {M_POST, "/v1/streams/{id}/segments", lt_api_post_segment},
    {M_GET | M_HEAD, "/v1/streams/{id}/segments", lt_api_get_segments},
    {M_GET, "/v1/streams/{id}/ws", lt_api_stream_ws},
    {M_GET, "/v1/streams/{id}/live", lt_api_live},
    {M_GET, "/v1/ws", lt_api_ws},
    {M_GET | M_HEAD, "/v1/operator/status", lt_api_operator_status},
    {M_GET | M_HEAD, "/healthz", lt_api_healthz},
    {M_GET | M_HEAD, "/readyz", lt_api_readyz},
    {M_GET | M_HEAD, "/metrics", lt_api_metrics},
    {M_GET | M_HEAD, "/widget.js", lt_api_widget},
    {M_GET | M_HEAD, "/embed/{id}", lt_api_embed},
    {M_GET | M_HEAD, "/demo", lt_api_demo},
    {M_GET | M_HEAD, "/dashboard", lt_api_dashboard},
    {M_GET | M_HEAD, "/dashboard/{id}", lt_api_dashboard},
};

enum match { NO_MATCH, MATCH, BAD_ID, BAD_SOURCE };

/* Matches path against pattern, capturing parameters. */
static enum match match_route(const char *pattern, const char *path, size_t len,
                              struct lt_route_params *params)
{
    const char *p = pattern;
    size_t i = 0;
    bool bad = false, bad_source = false;
    while (*p && i <= len) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t seg_end = i;
            while (seg_end < len && path[seg_end] != '/')
                seg_end++;
            size_t seg_len = seg_end - i;
            if (seg_len == 0)
                return NO_MATCH;
            if (strncmp(p, "{source}", 8) == 0) {
                /* A valid source id is at most LT_SOURCE_ID_MAX bytes. */
                if (lt_valid_source_id(path + i, seg_len)) {
                    memcpy(params->source, path + i, seg_len);
                    params->source[seg_len] = '\0';
                } else {
                    bad_source = true;
                }
            } else if (lt_valid_stream_id(path + i, seg_len)) {
                /* A valid id is at most LT_STREAM_ID_MAX bytes: it fits id[]. */
                memcpy(params->id, path + i, seg_len);
                params->id[seg_len] = '\0';
            } else {
                bad = true;
            }
            i = seg_end;
            p = close + 1;
            continue;
        }
        if (i >= len || path[i] != *p)
            return NO_MATCH;
        i++;
        p++;
    }
    if (*p || i != len)
        return NO_MATCH;
    return bad ? BAD_ID : bad_source ? BAD_SOURCE : MATCH;
}

static unsigned method_bit(enum lt_http_method m)
{
    switch (m) {
    case LT_HTTP_GET: return M_GET;
    case LT_HTTP_HEAD: return M_HEAD;
    case LT_HTTP_POST: return M_POST;
    case LT_HTTP_PUT: return M_PUT;
    case LT_HTTP_DELETE: return M_DELETE;
    case LT_HTTP_OPTIONS:
    case LT_HTTP_OTHER: break;
    }
    return 0;
}

/* The Allow list: at most "GET, HEAD, POST, PUT, DELETE, OPTIONS", 37
 * bytes and the NUL, so the caller's 64 bytes always hold it. */
static void allow_list(unsigned methods, char *buf, size_t cap)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE"};
    struct lt_strbuf sb;
    lt_strbuf_init_fixed(&sb, buf, cap);
    for (int i = 0; i < 5; i++) {
        if (methods & (1u << i)) {
            lt_strbuf_add_str(&sb, names[i]);
            lt_strbuf_add_str(&sb, ", ");
        }
    }
    lt_strbuf_add_str(&sb, "OPTIONS");
}

void lt_router_dispatch(struct lt_request *req)
{
    struct lt_app *app = req->user;
    const struct lt_http_request *h = &req->head;
    if (lt_request_over_limit(req) && !lt_http_find_header(h, "Upgrade")) {
        lt_response_header(req, "Retry-After", "1");
        lt_respond_error(req, 503, "overloaded", "too many connections, retry shortly");
        return;
    }
    struct lt_route_params params;
    unsigned allowed = 0;
    bool bad_id = false, bad_source = false;
    unsigned want = method_bit(h->method);
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        memset(&params, 0, sizeof params);
        enum match m = match_route(routes[i].pattern, h->path, h->path_len, &params);
        if (m == NO_MATCH)
            continue;
        allowed |= routes[i].methods;
        if (m == BAD_ID) {
            bad_id = true;
            continue;
        }
        if (m == BAD_SOURCE) {
            bad_source = true;
            continue;
        }
        if (routes[i].methods & want) {
            routes[i].handler(app, req, &params);
            return;
        }
    }
    if (!allowed) {
        lt_respond_error(req, 404, "not_found", "no such endpoint");
        return;
    }
    if (bad_id && (allowed & want)) {
        lt_respond_error(req, 400, "bad_stream_id",
                         "a stream id is 1-64 characters of A-Z a-z 0-9 _ - . and does not "
                         "start with '.'");
        return;
    }
    if (bad_source && (allowed & want)) {
        lt_respond_error(req, 400, "bad_request", "a source id is 1-32 characters of a-z 0-9 _ -");
        return;
    }
    char allow[64]; /* allow_list: at most 37 bytes */
    allow_list(allowed, allow, sizeof allow);
    lt_response_header(req, "Allow", allow);
    if (h->method == LT_HTTP_OPTIONS) {
        /* CORS preflight: lt_respond adds the origin when it is allowed. */
        if (lt_http_find_header(h, "Access-Control-Request-Method")) {
            lt_response_header(req, "Access-Control-Allow-Methods", allow);
            lt_response_header(req, "Access-Control-Allow-Headers",
                               "Authorization, Content-Type, Last-Event-ID");
            lt_response_header(req, "Access-Control-Max-Age", "600");
        }
        lt_respond(req, 204, NULL, NULL, 0);
        return;
    }
    lt_respond_error(req, 405, "method_not_allowed", "this method is not allowed here");
}
