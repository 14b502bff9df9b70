/* Routing: one table maps method and path pattern to a handler (router.c).
 * The router answers what needs no handler itself: 404 for unknown paths,
 * 405 with Allow, OPTIONS and CORS preflight, 400 for a malformed stream id
 * (bad_stream_id) or source id (bad_request) in a path. */
#ifndef LIVETALLY_ROUTER_H
#define LIVETALLY_ROUTER_H

#include "livetally/base/ids.h"
#include "livetally/net/http_server.h"

struct lt_app;

/* Path parameters: {id} (a stream or series id, validated) and {source}
 * (a source id, validated; "" when the route has none). A malformed source
 * id is 400 bad_request. */
struct lt_route_params {
    char id[LT_STREAM_ID_MAX + 1];
    char source[LT_SOURCE_ID_MAX + 1];
};

typedef void lt_route_handler(struct lt_app *app, struct lt_request *req,
                              const struct lt_route_params *params);

/* The lt_request_handler given to the HTTP server; req->user is the app. */
void lt_router_dispatch(struct lt_request *req);

#endif
