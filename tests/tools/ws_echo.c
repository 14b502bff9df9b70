/* lt-ws-echo: a test-only WebSocket echo server built from livetally's own
 * HTTP and WebSocket code (http_server.c, ws_conn.c, ws_frame.c), so that
 * echo-based conformance suites (../shared/tools/wsconf.py, Autobahn) can
 * exercise it. Every path upgrades; every message comes back as it came.
 *
 *   lt-ws-echo --listen HOST:PORT [--max-payload N]
 *
 * Prints "lt-ws-echo ready on ws://HOST:PORT" once it accepts connections. */
#include "livetally/base/mem.h"
#include "livetally/conf/config.h"
#include "livetally/net/listen.h"
#include "livetally/net/ws_conn.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct lt_ws_server *ws_server;

static void on_text(struct lt_ws_conn *conn, const char *data, size_t len, void *arg)
{
    (void)arg;
    lt_ws_send_text(conn, data, len);
}

static void on_binary(struct lt_ws_conn *conn, const uint8_t *data, size_t len, void *arg)
{
    (void)arg;
    lt_ws_send_binary(conn, data, len);
}

static void on_closed(struct lt_ws_conn *conn, void *arg)
{
    (void)conn;
    (void)arg;
}

static const struct lt_ws_handlers echo = {on_text, on_binary, on_closed};

static void on_request(struct lt_request *req)
{
    if (lt_ws_check_upgrade(req) == 0)
        lt_ws_accept(ws_server, req, &echo, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

static int usage(void)
{
    fprintf(stderr, "usage: lt-ws-echo --listen HOST:PORT [--max-payload N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *listen = NULL;
    long max_payload = 16 * 1024 * 1024;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
            listen = argv[++i];
        else if (strcmp(argv[i], "--max-payload") == 0 && i + 1 < argc)
            max_payload = strtol(argv[++i], NULL, 10);
        else
            return usage();
    }
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (!colon || max_payload < 1)
        return usage();
    char host[256];
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    int port = atoi(colon + 1);

    signal(SIGPIPE, SIG_IGN);
    lt_mem_install_hooks();
    struct lt_config cfg;
    lt_config_defaults(&cfg);
    int fd, bound;
    char err[256];
    if (lt_listen_sockets(host, port, 1, &fd, &bound, err, sizeof err) != 0) {
        fprintf(stderr, "lt-ws-echo: %s\n", err);
        return 1;
    }
    struct event_base *base = event_base_new();
    struct lt_ws_settings settings = {
        .max_message = (size_t)max_payload,
        .idle_timeout_ms = cfg.idle_timeout_ms,
        .max_pending_output = (size_t)max_payload * 4 + 65536,
        .allow_binary = true,
    };
    ws_server = lt_ws_server_new(base, &settings);
    struct lt_http_server *http = lt_http_server_new(base, fd, &cfg, on_request, NULL);
    struct event *term = evsignal_new(base, SIGTERM, on_signal, base);
    struct event *intr = evsignal_new(base, SIGINT, on_signal, base);
    event_add(term, NULL);
    event_add(intr, NULL);
    printf("lt-ws-echo ready on ws://%s:%d\n", host, bound);
    fflush(stdout);
    event_base_dispatch(base);
    lt_http_server_free(http);
    lt_ws_server_free(ws_server);
    event_free(term);
    event_free(intr);
    event_base_free(base);
    lt_config_free(&cfg);
    return 0;
}
