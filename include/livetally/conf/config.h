/* Configuration: one table of options (name, type, default, bounds, help) in
 * config.c drives loading, validation, --help and docs/configuration.md.
 *
 * Loading order: defaults, then the JSON file, then command-line overrides,
 * then secrets from the environment variables that the config names. Any
 * unknown key, wrong type or out-of-range value fails the load with a message
 * "FILE: KEY: reason" (for overrides: "--listen: reason").
 *
 * Ownership: lt_config_load fills a struct lt_config whose strings and arrays
 * it owns; lt_config_free releases them. A loaded config is read-only. */
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

/* A partner source allowed to report counts (auth.sources). */
struct lt_source_auth {
    char *source;  /* source id, validated like any source id */
    char *key_env; /* the environment variable holding its key */
    char *key;     /* the key read from that variable; NULL when unset */
};

/* An address or CIDR block from trusted_proxies ("10.0.0.0/8", "::1"). */
struct lt_cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix_len;
};

struct lt_config {
    char *path; /* the file that was loaded, for messages */

    char *listen_host; /* "127.0.0.1" */
    int listen_port;   /* 0..65535, 0 = any */
    int workers;       /* 0 = one per CPU (resolved by the caller) */

    char *redis_host;
    int redis_port;
    char *redis_password_env; /* NULL when not configured */
    char *redis_password;     /* read from that variable; NULL when unset */
    int redis_db;
    struct lt_strlist redis_cluster; /* "host:port" seeds */
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
    struct lt_strlist counters; /* validated: a-z0-9_-, not view/like */

    struct lt_strlist cors_allowed_origins; /* "*" or exact origins */

    char *operator_tokens_env;
    struct lt_strlist operator_tokens; /* from that variable, split on ',' */
    struct lt_source_auth *sources;
    size_t n_sources;

    struct lt_cidr *trusted_proxies;
    size_t n_trusted_proxies;

    int max_connections;
    int max_body_bytes;
    int max_header_bytes;
    int max_ws_message_bytes;
    int header_timeout_ms;
    int idle_timeout_ms;

    int shutdown_timeout_ms;
    char *log_level; /* "debug" | "info" | "warn" | "error" */
    char *web_root;  /* NULL: found beside the binary */
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

/* Is this peer address in trusted_proxies? */
bool lt_config_is_trusted_proxy(const struct lt_config *cfg, const struct sockaddr *addr);

/* Is this counter name configured (not "view" or "like")? */
bool lt_config_has_counter(const struct lt_config *cfg, const char *name, size_t len);

/* --help text: usage, options, then every config key with type, default,
 * bounds and help, generated from the table. */
void lt_config_print_help(FILE *out);

/* docs/configuration.md, generated from the same table. */
void lt_config_print_markdown(FILE *out);

#endif
