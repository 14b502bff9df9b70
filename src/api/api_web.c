/* What browsers load: GET /widget.js, GET /embed/{id}, GET /demo, and the
 * operators' dashboard: GET /dashboard and GET /dashboard/<asset>. */
#include "livetally/base/ids.h"
#include "livetally/base/mem.h"
#include "livetally/api/api.h"
#include "livetally/api/app.h"
#include "livetally/api/static_files.h"

#include <stdio.h>
#include <string.h>

/* The widget's URL has no version in it: a short max-age, then the ETag. */
#define LT_WIDGET_MAX_AGE "public, max-age=300"

static bool accepts_gzip(const struct lt_request *req)
{
    const struct lt_http_header *h = lt_http_find_header(&req->head, "Accept-Encoding");
    return h && lt_http_header_has_token(h->value, h->value_len, "gzip");
}

static bool etag_matches(const struct lt_request *req, const char *etag)
{
    const struct lt_http_header *h = lt_http_find_header(&req->head, "If-None-Match");
    if (!h)
        return false;
    size_t n = strlen(etag);
    /* A list of tags, maybe weak ones: compare each, ignoring W/. */
    for (size_t i = 0; i + n <= h->value_len; i++)
        if (memcmp(h->value + i, etag, n) == 0)
            return true;
    return h->value_len == 1 && h->value[0] == '*';
}

static const struct lt_static_file *file_or_404(struct lt_app *app, struct lt_request *req,
                                                const char *name)
{
    const struct lt_static_file *f = lt_static_get(app->static_files, name);
    if (!f) {
        char msg[160]; /* name is one of our file names */
        snprintf(msg, sizeof msg, "%s is not installed on this server (web_root)", name);
        lt_respond_error(req, 404, "not_found", msg);
    }
    return f;
}

/* f as it is or gzipped, with its ETag and cache_control; 304 when the
 * client has it. */
static void send_file(struct lt_request *req, const struct lt_static_file *f,
                      const char *cache_control)
{
    /* The gzip variant is other bytes, so it has its own tag (RFC 9110 8.8.3). */
    bool gz = f->gz && accepts_gzip(req);
    char etag[32]; /* our etags are 18 bytes (static_files.c make_etag), + "-gz" */
    snprintf(etag, sizeof etag, "%.*s%s\"", (int)strlen(f->etag) - 1, f->etag, gz ? "-gz" : "");
    lt_response_header(req, "ETag", etag);
    lt_response_header(req, "Cache-Control", cache_control);
    lt_response_header(req, "Vary", "Accept-Encoding");
    if (etag_matches(req, etag)) {
        lt_respond(req, 304, NULL, NULL, 0);
        return;
    }
    if (gz) {
        lt_response_header(req, "Content-Encoding", "gzip");
        lt_respond(req, 200, f->content_type, f->gz, f->gz_len);
        return;
    }
    lt_respond(req, 200, f->content_type, f->data, f->len);
}

void lt_api_widget(struct lt_app *app, struct lt_request *req, const struct lt_route_params *params)
{
    (void)params;
    const struct lt_static_file *f = file_or_404(app, req, "widget.js");
    if (!f)
        return;
    /* Pages with Cross-Origin-Embedder-Policy may load it too. */
    lt_response_header(req, "Cross-Origin-Resource-Policy", "cross-origin");
    send_file(req, f, LT_WIDGET_MAX_AGE);
}

/* The dashboard runs only what it loads from here: no inline script or
 * style, no other origin, no framing. connect-src 'self' covers its
 * fetches and its WebSocket to /v1/ws (CSP3: 'self' matches ws: of the
 * same host and port). */
#define LT_DASHBOARD_CSP                                                                           \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

void lt_api_dashboard(struct lt_app *app, struct lt_request *req,
                      const struct lt_route_params *params)
{
    /* /dashboard is the page; /dashboard/<name> one of its two assets. */
    static const char *const assets[] = {"dashboard.js", "dashboard.css"};
    char name[48] = "dashboard/index.html";
    if (params->id[0]) {
        size_t i = 0;
        while (i < 2 && strcmp(params->id, assets[i]) != 0)
            i++;
        if (i == 2) {
            lt_respond_error(req, 404, "not_found", "no such file of the dashboard");
            return;
        }
        snprintf(name, sizeof name, "dashboard/%s", assets[i]);
    }
    const struct lt_static_file *f = file_or_404(app, req, name);
    if (!f)
        return;
    lt_response_header(req, "Content-Security-Policy", LT_DASHBOARD_CSP);
    lt_response_header(req, "X-Content-Type-Options", "nosniff");
    lt_response_header(req, "X-Frame-Options", "DENY");
    lt_response_header(req, "Referrer-Policy", "no-referrer");
    /* The page names its assets without a version: it is checked every
     * time (no-cache, then 304), the assets kept as long as the widget. */
    send_file(req, f, params->id[0] ? LT_WIDGET_MAX_AGE : "no-cache");
}

/* A query value, HTML-escaped, or def when absent or malformed. */
static void param(const struct lt_request *req, const char *name, const char *def, char *out,
                  size_t cap)
{
    char raw[128]; /* lt_query_get refuses a value that does not fit: then def */
    long n = req->head.query
                 ? lt_query_get(req->head.query, req->head.query_len, name, raw, sizeof raw)
                 : LT_QUERY_ABSENT;
    if (n < 0 || lt_html_escape(raw, out, cap) < 0)
        snprintf(out, cap, "%s", def);
}

static void render(struct lt_request *req, const struct lt_static_file *f, const char *stream)
{
    /* lt_html_escape refuses what does not fit: then the default */
    char locale[96], style[96], theme[96], source[96];
    param(req, "locale", "", locale, sizeof locale);
    param(req, "style", "floor", style, sizeof style);
    param(req, "theme", "auto", theme, sizeof theme);
    param(req, "source", LT_DEFAULT_SOURCE, source, sizeof source);
    static const char *const keys[] = {"STREAM", "LOCALE", "STYLE", "THEME", "SOURCE"};
    /* Stream ids are of A-Z a-z 0-9 _ - .: nothing to escape. */
    const char *values[] = {stream, locale, style, theme, source};
    size_t len;
    char *page = lt_template_render(f->data, f->len, keys, values, 5, &len);
    lt_response_header(req, "Cache-Control", "no-cache");
    lt_respond(req, 200, f->content_type, page, len);
    lt_free(page);
}

void lt_api_embed(struct lt_app *app, struct lt_request *req, const struct lt_route_params *params)
{
    const struct lt_static_file *f = file_or_404(app, req, "embed.html");
    if (!f)
        return;
    /* Any site may frame it: that is what it is for. */
    lt_response_header(req, "Content-Security-Policy", "frame-ancestors *");
    render(req, f, params->id);
}

void lt_api_demo(struct lt_app *app, struct lt_request *req, const struct lt_route_params *params)
{
    (void)params;
    const struct lt_static_file *f = file_or_404(app, req, "demo.html");
    if (!f)
        return;
    char stream[LT_STREAM_ID_MAX + 1] = "demo"; /* lt_query_get refuses what does not fit */
    long n = req->head.query ? lt_query_get(req->head.query, req->head.query_len, "stream", stream,
                                            sizeof stream)
                             : LT_QUERY_ABSENT;
    if (n >= 0 && !lt_valid_stream_id(stream, (size_t)n)) {
        lt_respond_error(req, 400, "bad_stream_id", "stream is not a valid stream id");
        return;
    }
    if (n < 0)
        snprintf(stream, sizeof stream, "demo");
    render(req, f, stream);
}
