/* Configuration: one table of options (name, type, default, bounds, help) in
 * config.c drives loading, validation, --help and docs/configuration.md.
 *
 * Loading order: defaults, then the JSON file, then command-line overrides,
 * then secrets from the environment variables that the config names. Any
 * unknown key, wrong type or out-of-range value fails the load with a message
 * "FILE: KEY: reason" (for overrides: "--listen: reason").
 *
 * Ownership: lt_config_load_* fill a struct lt_config whose strings and
 * arrays it owns; lt_config_free releases them.
 *
 * Snapshots: the running server never changes a config; it replaces it.
 * lt_config_snapshot turns a loaded config into an immutable, reference-
 * counted snapshot on the heap. The rule for who may keep the pointer:
 *  - whoever keeps a snapshot pointer past the current callback holds a
 *    reference (lt_config_ref) and drops it with lt_config_unref; the last
 *    unref frees the snapshot;
 *  - a module that is handed a config (lt_http_server_new/_set_config,
 *    lt_hub_*, lt_agg_*, struct lt_app) borrows it: its owner (worker.c)
 *    holds the reference, hands every module the new pointer at once on a
 *    reload (between two callbacks of the loop) and only then drops the old
 *    reference. A module must not keep a pointer into the config (a string,
 *    a list) in anything that outlives that swap;
 *  - the master holds the current snapshot; a worker forked from it starts
 *    with that snapshot (its copy of the master's memory) and takes its own
 *    references.
 * One process, one loop: the count is not atomic. */
#ifndef LIVETALLY_CONFIG_H
#define LIVETALLY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#define LT_CONFIG_DEFAULT_PATH "config/livetally.json"

struct lt_strlist {
    char **items;
    size_t n;
};

/* An address or CIDR block from trusted_proxies ("10.0.0.0/8", "::1"). */
struct lt_cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix_len;
};

/* One entry of auth.sources. key is a secret: never logged. */
struct lt_source_key {
    char name[33]; /* a source id (LT_SOURCE_ID_MAX bytes at most) */
    char *key_env;
    char *key; /* read from key_env; NULL: not set */
};

struct lt_config {
    char *path; /* the file that was loaded, for messages */
    int refs;   /* snapshot references; 0 for a config that is not a snapshot */

    char *listen_host; /* "127.0.0.1" */
    int listen_port;   /* 0..65535, 0 = any */
    int workers;       /* 0 = one per CPU (resolved by the caller) */

    char *redis_host;
    int redis_port;
    char *redis_password_env; /* NULL when not configured */
    char *redis_password;     /* read from that variable; NULL when unset */
    int redis_db;
    struct lt_strlist redis_cluster; /* seed nodes "host:port"; empty: one Redis */
    int redis_connect_timeout_ms;
    int redis_command_timeout_ms;
    int redis_max_backlog; /* pending viewer entries per worker before 503 */

    int flush_interval_ms;
    int push_interval_ms;
    bool streams_auto_create;
    int views_dedup_seconds;
    int likes_max_per_message;
    int likes_rate_per_second;
    int likes_burst;
    int likes_per_client_rate_per_second; /* per client address (after trusted_proxies) */
    int likes_per_client_burst;
    /* timeseries.*: how long each resolution's buckets are kept; read when
     * a bucket is first written (its expiry is set then). */
    int ts_retention_10s_hours;
    int ts_retention_1m_days;
    int ts_retention_1h_days;
    struct lt_strlist counters; /* validated: a-z0-9_-, not view/like */

    struct lt_strlist cors_allowed_origins; /* "*" or exact origins */

    char *operator_tokens_env;
    struct lt_strlist operator_tokens; /* from that variable, split on ',' */
    /* auth.sources, in file order: each partner source's key variable and
     * the key read from it (NULL when unset or empty: that source's
     * endpoint answers 403). */
    struct lt_source_key *sources;
    size_t n_sources;
    int operator_max_subscriptions;    /* per operator WebSocket (viewers: LT_WS_MAX_SUBSCRIPTIONS) */
    /* metrics.token_env: NULL leaves /metrics open; otherwise metrics_token
     * holds that variable's value, never NULL once loaded (a load fails when
     * the variable is unset or empty). A secret: never logged. */
    char *metrics_token_env;
    char *metrics_token;

    struct lt_cidr *trusted_proxies;
    size_t n_trusted_proxies;

    int max_connections;
    int max_connections_per_client; /* 0: no cap */
    int max_body_bytes;
    int max_header_bytes;
    int max_ws_message_bytes;
    int ws_messages_per_second; /* per WebSocket, all text messages (ws_api.c) */
    int ws_message_burst;
    int ws_max_errors; /* error answers, then 1008 */
    int header_timeout_ms;
    int idle_timeout_ms;

    int shutdown_timeout_ms;
    char *log_level;  /* "debug" | "info" | "warn" | "error" */
    char *log_format; /* "text" | "json" */
    char *web_root;  /* NULL: found beside the binary */
    char *spool_dir; /* the spool's directory (spool.h) */
    char *spool_fsync; /* "always" | "everysec" | "no" */
    int spool_segment_bytes;
};

/* What the command line asked for besides config overrides. */
struct lt_cli {
    const char *config_path; /* --config, else LT_CONFIG_DEFAULT_PATH */
    bool check_config;       /* --check-config */
    bool help;               /* --help */
    bool version;            /* --version */
};

/* Parses argv (--config FILE, --listen HOST:PORT, --redis HOST:PORT,
 * --workers N, --check-config, --help, --version; "--opt=value" also
 * accepted), loads the file and applies overrides and secrets.
 * Returns 0, or LT_EINVAL with a message in err. When cli->help or
 * cli->version is set, cfg is left with defaults only and 0 is returned. */
int lt_config_load_args(struct lt_config *cfg, struct lt_cli *cli, int argc, char **argv, char *err,
                        size_t errlen);

/* Loads defaults, then the JSON text of a file (path is used for messages
 * only), then secrets. Returns 0 or LT_EINVAL with a message in err. */
int lt_config_load_string(struct lt_config *cfg, const char *path, const char *json, size_t len,
                          char *err, size_t errlen);

/* Fills cfg with defaults only. */
void lt_config_defaults(struct lt_config *cfg);

void lt_config_free(struct lt_config *cfg);

/* Moves a loaded config into a new snapshot with one reference (the
 * caller's); *loaded is left empty. */
const struct lt_config *lt_config_snapshot(struct lt_config *loaded);
const struct lt_config *lt_config_ref(const struct lt_config *snap);
/* Drops a reference; the last one frees the snapshot. NULL is ignored. */
void lt_config_unref(const struct lt_config *snap);

/* The whole config as compact JSON text that lt_config_load_string turns
 * back into the same config (every key, defaults included; secrets are not
 * in it: they are read again from the environment). Free with lt_free. */
char *lt_config_to_json(const struct lt_config *cfg);

/* For a reload: every key that needs a restart to change (listen, workers,
 * redis.*, counters, views.dedup_seconds; marked in the option table) and
 * differs between next and running gets its running value back in next, and
 * on_kept (may be NULL) is told the key and both values as JSON text.
 * Returns how many keys were kept. */
int lt_config_keep_restart_only(struct lt_config *next, const struct lt_config *running,
                                void (*on_kept)(void *arg, const char *key, const char *running,
                                                const char *wanted),
                                void *arg);

/* Is this peer address in trusted_proxies? */
bool lt_config_is_trusted_proxy(const struct lt_config *cfg, const struct sockaddr *addr);

/* The auth.sources entry of source name[0..len), or NULL. */
const struct lt_source_key *lt_config_find_source(const struct lt_config *cfg, const char *name,
                                                  size_t len);

/* Is this counter name configured (not "view" or "like")? */
bool lt_config_has_counter(const struct lt_config *cfg, const char *name, size_t len);

/* --help text: usage, options, then every config key with type, default,
 * bounds and help, generated from the table. */
void lt_config_print_help(FILE *out);

/* docs/configuration.md, generated from the same table. */
void lt_config_print_markdown(FILE *out);

#endif
