/* What the config's files share: the option table's types and its rows
 * (config.c: the table, applying JSON to it, loading, snapshots, lookups),
 * the checks of single values (config_checks.c), and what prints the table
 * (config_print.c: --help, docs/configuration.md, the running config as
 * JSON). Private to src/conf/. */
#ifndef LIVETALLY_CONFIG_INTERNAL_H
#define LIVETALLY_CONFIG_INTERNAL_H

#include "livetally/conf/config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum opt_type {
    OPT_INT,
    OPT_BOOL,
    OPT_STRING,
    OPT_NULLABLE_STRING,
    OPT_STRING_LIST,
    OPT_HOST_PORT,
    OPT_PROXIES, /* trusted_proxies: ["10.0.0.0/8", "::1"] */
    OPT_SOURCES, /* auth.sources: {"<source>": {"key_env": "VAR"}} */
};

struct option {
    const char *name; /* dotted JSON path: "limits.max_body_bytes" */
    enum opt_type type;
    size_t off;      /* the field in struct lt_config */
    size_t off2;     /* host:port: the int port; proxies: the size_t count */
    const char *def; /* default, as JSON text */
    /* int: bounds; host:port: bounds of the port; string list: max items (0 = any) */
    long long min, max;
    /* Extra check of a string or of each list item. On failure it writes a
     * reason that reads after the quoted value: "is not a valid origin". */
    bool (*check)(const char *s, char *why, size_t whylen);
    const char *help;
    /* true: the running value stays until a restart (SIGHUP logs "needs a
     * restart" and keeps it); false: SIGHUP applies it in every worker. */
    bool restart;
};

#define FIELD(f) offsetof(struct lt_config, f)
#define ID_RULE "1-32 characters of a-z 0-9 _ -"
#define MAX_COUNTERS 32
#define MAX_SOURCES 256

/* The table (config.c), in the order --help and the docs show it. */
extern const struct option conf_options[];
extern const size_t conf_n_options;

enum cli_id { CLI_CONFIG, CLI_LISTEN, CLI_REDIS, CLI_WORKERS, CLI_CHECK, CLI_HELP, CLI_VERSION };

struct cli_option {
    enum cli_id id;
    const char *name;
    const char *alias;
    const char *arg; /* NULL for a flag */
    const char *help;
};

extern const struct cli_option conf_cli_options[];
extern const size_t conf_n_cli_options;

/* The field of cfg at offset off (struct option's off, off2). */
static inline void *conf_field(struct lt_config *cfg, size_t off)
{
    return (char *)cfg + off;
}

/* Text from json_dumps goes back to jansson's allocator, whichever it is. */
static inline void conf_json_text_free(char *text)
{
    json_free_t free_fn;
    json_get_alloc_funcs(NULL, &free_fn);
    if (text)
        free_fn(text);
}

/* One option's value as the JSON a file would hold for it (config_print.c). */
json_t *conf_option_to_json(const struct lt_config *cfg, const struct option *opt);

/* ---- value checks (config_checks.c) ---- */

/* An id of a counter or source: 1-32 characters of a-z 0-9 _ -. */
bool conf_is_id(const char *s);
/* "host:port" or "[v6]:port" with the port in pmin..pmax; *host is
 * lt_malloc'd. false with a reason in why. */
bool conf_parse_host_port(const char *s, long long pmin, long long pmax, char **host, int *port,
                          char *why, size_t whylen);
/* "10.0.0.0/8", "::1" (a whole address without a prefix). */
bool conf_parse_cidr(const char *s, struct lt_cidr *out, char *why, size_t whylen);
/* struct option's check functions: false with a reason that reads after the
 * quoted value ("is not a valid origin"). */
bool conf_check_host(const char *s, char *why, size_t whylen);
bool conf_check_cluster_seed(const char *s, char *why, size_t whylen);
bool conf_check_env_name(const char *s, char *why, size_t whylen);
bool conf_check_counter(const char *s, char *why, size_t whylen);
bool conf_check_origin(const char *s, char *why, size_t whylen);
bool conf_check_log_level(const char *s, char *why, size_t whylen);
bool conf_check_log_format(const char *s, char *why, size_t whylen);
bool conf_check_spool_fsync(const char *s, char *why, size_t whylen);
bool conf_check_nonempty(const char *s, char *why, size_t whylen);

#endif
