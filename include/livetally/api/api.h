/* Request handlers of the HTTP API, one file per group:
 *   api_events.c   POST /v1/streams/{id}/events
 *   api_streams.c  stream reads and operator writes
 *   api_operator.c GET /v1/operator/status (operator)
 *   api_series.c   GET /v1/series/{id}
 *   api_timeseries.c  GET /v1/streams/{id}/timeseries
 *   api_series_timeseries.c  GET /v1/series/{id}/timeseries
 *   api_report.c   GET /v1/streams/{id}/report
 *   api_sources.c  PUT /v1/streams/{id}/sources/{source} (partner reports)
 *   api_segments.c POST and GET /v1/streams/{id}/segments
 *   api_service.c  /healthz, /readyz, /metrics
 *   api_live.c     WebSocket and SSE endpoints
 *   api_web.c      /widget.js, /embed/{id}, /demo, /dashboard
 * Each answers its request exactly once (http_server.h), possibly later. */
#ifndef LIVETALLY_API_H
#define LIVETALLY_API_H

#include "livetally/api/router.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

lt_route_handler lt_api_post_events;
lt_route_handler lt_api_get_stream;
lt_route_handler lt_api_put_stream;
lt_route_handler lt_api_list_streams;
lt_route_handler lt_api_delete_stream; /* DELETE /v1/streams/{id} (operator) */
lt_route_handler lt_api_operator_status; /* api_operator.c: GET /v1/operator/status */
lt_route_handler lt_api_get_series; /* api_series.c: GET /v1/series/{id} */
lt_route_handler lt_api_get_timeseries; /* api_timeseries.c */
lt_route_handler lt_api_get_series_timeseries;
/* api_report.c: GET /v1/streams/{id}/report (JSON, CSV, HTML; frozen once ended) */
lt_route_handler lt_api_get_report;
/* api_sources.c: PUT /v1/streams/{id}/sources/{source} (partner key) */
lt_route_handler lt_api_put_source;
/* api_segments.c: POST (operator) and GET /v1/streams/{id}/segments */
lt_route_handler lt_api_post_segment;
lt_route_handler lt_api_get_segments;
lt_route_handler lt_api_healthz;
lt_route_handler lt_api_readyz;
lt_route_handler lt_api_metrics;
lt_route_handler lt_api_stream_ws; /* api_live.c: GET /v1/streams/{id}/ws */
lt_route_handler lt_api_ws;        /* GET /v1/ws */
lt_route_handler lt_api_live;      /* GET /v1/streams/{id}/live (SSE) */
lt_route_handler lt_api_widget;    /* api_web.c: GET /widget.js */
lt_route_handler lt_api_embed;     /* GET /embed/{id} */
lt_route_handler lt_api_demo;      /* GET /demo */
lt_route_handler lt_api_dashboard; /* GET /dashboard and /dashboard/<asset> */

/* Bearer credentials (auth.c), compared in constant time; never logged.
 * lt_auth_operator: true when the request carries one of the operator
 * tokens; otherwise answers and returns false: 403 forbidden when no
 * operator token is configured (whatever the header says), 401
 * unauthorized with WWW-Authenticate: Bearer when the header is missing,
 * not "Bearer <token>", or the token is wrong. */
bool lt_auth_operator(struct lt_app *app, struct lt_request *req);
/* The same check with no answer (for fields only operators see). */
bool lt_auth_operator_ok(struct lt_app *app, const struct lt_request *req);
/* Partner key of source (auth.sources): 403 when the source has no key
 * configured or its variable is unset, 401 (with WWW-Authenticate) when
 * the header is missing, malformed or holds anything but that source's
 * key (another source's key included). */
bool lt_auth_source(struct lt_app *app, struct lt_request *req, const char *source);

/* GET /metrics: true when metrics.token_env is null (open) or the request
 * carries "Bearer <the metrics token>"; otherwise answers 401 unauthorized
 * with WWW-Authenticate: Bearer and returns false. Operator tokens do not
 * open it. */
bool lt_auth_metrics(struct lt_app *app, struct lt_request *req);

/* Is token one of the operator tokens (constant time)? */
struct lt_config;
bool lt_auth_token_ok(const struct lt_config *cfg, const char *token, size_t len);

/* Reads ?locale= and ?style= into d (api_streams.c); answers 400 and
 * returns false when one is bad. */
struct lt_totals_display;
bool lt_api_display_opts(struct lt_request *req, struct lt_totals_display *d);

/* api_params.c: ?name= into buf (cap bytes): 1 present (*len set), 0 absent,
 * -1 malformed or too long, answered 400 naming the parameter. */
int lt_api_query_param(struct lt_request *req, const char *name, char *buf, size_t cap, long *len);
/* Does the request's Accept header ask for text/csv? */
bool lt_api_accepts_csv(struct lt_request *req);
/* The time buckets' retentions in seconds, in lt_ts_sizes order. */
void lt_api_ts_retentions(const struct lt_config *cfg, int64_t out[3]);

/* A stream's status history as JSON: [{"status":"live","at":RFC 3339}...]
 * (api_streams.c; the operator fields and the report). A new reference. */
struct lt_status_change;
struct json_t;
struct json_t *lt_api_history_json(const struct lt_status_change *changes, size_t n);

/* Maps an LT_E* error from the store to 503 not_ready with Retry-After. */
void lt_api_respond_store_error(struct lt_request *req, int err);

#endif
