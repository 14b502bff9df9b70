/* A worker's application context: what request handlers work with. One per
 * worker process, created by worker.c, handed to every handler through the
 * HTTP server's user pointer. */
#ifndef LIVETALLY_APP_H
#define LIVETALLY_APP_H

#include <limits.h>
#include <stdbool.h>

struct event_base;
struct lt_config;
struct lt_store;
struct lt_agg;
struct lt_stream_cache;
struct lt_ingest;
struct lt_http_server;
struct lt_hub;
struct lt_ws_server;
struct lt_static;
struct lt_sse_server;
struct lt_spool;

struct lt_app {
    struct event_base *base;
    const struct lt_config *cfg;
    struct lt_store *store;
    struct lt_agg *agg;
    struct lt_stream_cache *stream_cache;
    struct lt_ingest *ingest; /* the counting rules of both transports */
    struct lt_spool *spool;   /* this worker's spool (spool.h) */
    struct lt_http_server *http;
    struct lt_hub *hub;
    struct lt_ws_server *ws;
    struct lt_sse_server *sse;
    struct lt_static *static_files; /* web_root's files, read at start and on SIGHUP */
    char web_root[PATH_MAX];
    int worker_index;
    char instance[32]; /* the master's instance id (the online shares' prefix) */
    bool shutting_down;
};

#endif
