/* Configuration (see config.h). One table of options, in the manner of tmux's
 * options-table.c, drives everything: defaults are JSON text applied through
 * the same code as a file (so a bad default cannot slip past validation),
 * command-line overrides go through it too, and --help and
 * docs/configuration.md are printed from it (config_print.c). Adding a key
 * is one row in `conf_options` plus a field in struct lt_config; a check of
 * a single value goes in config_checks.c. */
#include "livetally/conf/config.h"

#include "livetally/base/error.h"
#include "livetally/base/ids.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"

#include "config_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE_BYTES (4 << 20)


/* A row leaves out the trailing `restart` flag when a reload may change the
 * key (false), so only the rows that need a restart spell it out. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
/* clang-format off */
const struct option conf_options[] = {
    {"listen", OPT_HOST_PORT, FIELD(listen_host), FIELD(listen_port), "\"127.0.0.1:8080\"", 0, 65535, NULL,
     "address and port for HTTP and WebSocket clients; port 0 picks a free one (shown on the ready line); IPv6 as [::1]:8080", true},
    {"workers", OPT_INT, FIELD(workers), 0, "0", 0, 256, NULL,
     "worker processes; 0 = one per CPU", true},
    {"redis.host", OPT_STRING, FIELD(redis_host), 0, "\"127.0.0.1\"", 0, 0, conf_check_host,
     "Redis server host name or address", true},
    {"redis.port", OPT_INT, FIELD(redis_port), 0, "6379", 1, 65535, NULL,
     "Redis server port", true},
    {"redis.password_env", OPT_NULLABLE_STRING, FIELD(redis_password_env), 0, "null", 0, 0, conf_check_env_name,
     "environment variable holding the Redis password; null = no AUTH", true},
    {"redis.db", OPT_INT, FIELD(redis_db), 0, "0", 0, 255, NULL,
     "Redis database number", true},
    {"redis.cluster", OPT_STRING_LIST, FIELD(redis_cluster), 0, "[]", 0, 64, conf_check_cluster_seed,
     "HOST:PORT seed nodes of a Redis Cluster (any of its nodes; the rest are learnt from CLUSTER SHARDS); when set, redis.host, redis.port and redis.db are unused (README \"Redis Cluster\")", true},
    {"redis.connect_timeout_ms", OPT_INT, FIELD(redis_connect_timeout_ms), 0, "1000", 100, 60000, NULL,
     "how long connecting to Redis may take", true},
    {"redis.command_timeout_ms", OPT_INT, FIELD(redis_command_timeout_ms), 0, "2000", 100, 60000, NULL,
     "how long to wait for a Redis reply", true},
    {"redis.max_backlog", OPT_INT, FIELD(redis_max_backlog), 0, "100000", 100, 10000000, NULL,
     "pending view entries a worker keeps while Redis is unreachable before ingest answers 503"},
    {"flush_interval_ms", OPT_INT, FIELD(flush_interval_ms), 0, "50", 5, 10000, NULL,
     "how often counts go to Redis"},
    {"push_interval_ms", OPT_INT, FIELD(push_interval_ms), 0, "250", 10, 60000, NULL,
     "the fastest pace of pushes per stream"},
    {"streams.auto_create", OPT_BOOL, FIELD(streams_auto_create), 0, "true", 0, 0, NULL,
     "events for an unknown stream create it; when false they get 404"},
    {"views.dedup_seconds", OPT_INT, FIELD(views_dedup_seconds), 0, "1800", 1, 604800, NULL,
     "a viewer is counted once per stream within this window", true},
    {"likes.max_per_message", OPT_INT, FIELD(likes_max_per_message), 0, "50", 1, 100000, NULL,
     "most likes one message may carry"},
    {"likes.rate_per_second", OPT_INT, FIELD(likes_rate_per_second), 0, "20", 1, 1000000, NULL,
     "likes per second one viewer may send (token bucket rate)"},
    {"likes.burst", OPT_INT, FIELD(likes_burst), 0, "100", 1, 10000000, NULL,
     "likes one viewer may send at once (token bucket size)"},
    {"likes.per_client_rate_per_second", OPT_INT, FIELD(likes_per_client_rate_per_second), 0, "2000", 1, 1000000, NULL,
     "likes per second one client address may send, all its viewers together (after trusted_proxies)"},
    {"likes.per_client_burst", OPT_INT, FIELD(likes_per_client_burst), 0, "10000", 1, 10000000, NULL,
     "likes one client address may send at once, all its viewers together (token bucket size)"},
    {"timeseries.retention_10s_hours", OPT_INT, FIELD(ts_retention_10s_hours), 0, "48", 1, 8760, NULL,
     "how long 10-second time buckets are kept (a bucket's expiry is set when it is first written)", true},
    {"timeseries.retention_1m_days", OPT_INT, FIELD(ts_retention_1m_days), 0, "90", 1, 3650, NULL,
     "how long 1-minute time buckets are kept (a bucket's expiry is set when it is first written)", true},
    {"timeseries.retention_1h_days", OPT_INT, FIELD(ts_retention_1h_days), 0, "1095", 1, 36500, NULL,
     "how long 1-hour time buckets are kept (a bucket's expiry is set when it is first written)", true},
    {"counters", OPT_STRING_LIST, FIELD(counters), 0, "[]", 0, MAX_COUNTERS, conf_check_counter,
     "extra counter names, e.g. [\"shares\"]: " ID_RULE ", not view, like, views, likes, online or uniques", true},
    {"cors.allowed_origins", OPT_STRING_LIST, FIELD(cors_allowed_origins), 0, "[\"*\"]", 0, 0, conf_check_origin,
     "origins allowed by CORS and for a WebSocket's Origin: \"*\" or scheme://host[:port]"},
    {"auth.operator_tokens_env", OPT_NULLABLE_STRING, FIELD(operator_tokens_env), 0, "\"LIVETALLY_OPERATOR_TOKENS\"", 0, 0, conf_check_env_name,
     "environment variable with comma-separated bearer tokens for operator endpoints; none set = they answer 403"},
    {"operator.max_subscriptions", OPT_INT, FIELD(operator_max_subscriptions), 0, "1000", 16, 100000, NULL,
     "streams one operator WebSocket (after its auth message) may subscribe to; viewers' sockets: 16"},
    {"auth.sources", OPT_SOURCES, FIELD(sources), FIELD(n_sources), "{}", 0, MAX_SOURCES, conf_check_env_name,
     "partner keys: {\"<source>\": {\"key_env\": \"VAR\"}}; a source's key (read from VAR at start and on SIGHUP) opens PUT /v1/streams/{id}/sources/<source> only; no key set = 403"},
    {"metrics.token_env", OPT_NULLABLE_STRING, FIELD(metrics_token_env), 0, "null", 0, 0, conf_check_env_name,
     "environment variable holding the bearer token GET /metrics requires (Authorization: Bearer <token>; operator tokens do not open it); null = /metrics is open; named but unset or empty = the server refuses to start"},
    {"trusted_proxies", OPT_PROXIES, FIELD(trusted_proxies), FIELD(n_trusted_proxies), "[]", 0, 0, NULL,
     "addresses or CIDR blocks (10.0.0.0/8, ::1) whose X-Forwarded-For is believed"},
    {"limits.max_connections", OPT_INT, FIELD(max_connections), 0, "10000", 1, 1000000, NULL,
     "open connections per worker"},
    {"limits.max_connections_per_client", OPT_INT, FIELD(max_connections_per_client), 0, "1000", 0, 1000000, NULL,
     "open connections per client address per worker (the TCP peer; behind trusted_proxies, the X-Forwarded-For client); 0 = no cap"},
    {"limits.max_body_bytes", OPT_INT, FIELD(max_body_bytes), 0, "65536", 1024, 16777216, NULL,
     "largest request body"},
    {"limits.max_header_bytes", OPT_INT, FIELD(max_header_bytes), 0, "8192", 1024, 1048576, NULL,
     "largest request line and headers"},
    {"limits.max_ws_message_bytes", OPT_INT, FIELD(max_ws_message_bytes), 0, "4096", 125, 16777216, NULL,
     "largest WebSocket message from a client"},
    {"limits.ws_messages_per_second", OPT_INT, FIELD(ws_messages_per_second), 0, "20", 1, 1000000, NULL,
     "text messages per second one WebSocket may send, every type together (token bucket rate); an operator's subscribe and unsubscribe are exempt"},
    {"limits.ws_message_burst", OPT_INT, FIELD(ws_message_burst), 0, "100", 1, 10000000, NULL,
     "text messages one WebSocket may send at once (token bucket size); one over it is answered rate_limited and not acted on"},
    {"limits.ws_max_errors", OPT_INT, FIELD(ws_max_errors), 0, "50", 1, 1000000, NULL,
     "error answers to bad, rate-limited or refused-auth messages after which a WebSocket is closed with 1008"},
    {"limits.header_timeout_ms", OPT_INT, FIELD(header_timeout_ms), 0, "10000", 100, 3600000, NULL,
     "time a client has to send a complete request head"},
    {"limits.idle_timeout_ms", OPT_INT, FIELD(idle_timeout_ms), 0, "60000", 100, 86400000, NULL,
     "an idle connection is closed after this"},
    {"shutdown_timeout_ms", OPT_INT, FIELD(shutdown_timeout_ms), 0, "10000", 100, 600000, NULL,
     "how long SIGTERM waits for the last flush to Redis"},
    {"log_level", OPT_STRING, FIELD(log_level), 0, "\"info\"", 0, 0, conf_check_log_level,
     "debug, info, warn or error"},
    {"log_format", OPT_STRING, FIELD(log_format), 0, "\"text\"", 0, 0, conf_check_log_format,
     "text (one line per record: time, process, level, module, message) or json (one JSON object per line: ts, level, proc, module, msg, req)"},
    {"spool.dir", OPT_STRING, FIELD(spool_dir), 0, "\"var/spool\"", 0, 0, conf_check_nonempty,
     "directory of the crash-safe spool (created 0700 if missing; relative to the working directory); one livetally per directory", true},
    {"spool.fsync", OPT_STRING, FIELD(spool_fsync), 0, "\"everysec\"", 0, 0, conf_check_spool_fsync,
     "when spool writes reach the disk: always (an answer waits for an fsync shared by the requests of a short window), everysec (an answer waits for write(2); fsync once a second), no (write(2) only; the kernel decides)", true},
    {"spool.segment_bytes", OPT_INT, FIELD(spool_segment_bytes), 0, "8388608", 65536, 1073741824, NULL,
     "a spool file past this size is followed by a new one that starts with a checkpoint; the older files are then deleted", true},
    {"web_root", OPT_NULLABLE_STRING, FIELD(web_root), 0, "null", 0, 0, NULL,
     "directory of files served; null = the web/ directory beside the binary"},
};
/* clang-format on */
#pragma GCC diagnostic pop

const size_t conf_n_options = sizeof conf_options / sizeof conf_options[0];

const struct cli_option conf_cli_options[] = {
    {CLI_CONFIG, "--config", NULL, "FILE",
     "the config file; when not given, " LT_CONFIG_DEFAULT_PATH " if it exists"},
    {CLI_LISTEN, "--listen", NULL, "HOST:PORT", "overrides listen"},
    {CLI_REDIS, "--redis", NULL, "HOST:PORT", "overrides redis.host and redis.port"},
    {CLI_WORKERS, "--workers", NULL, "N", "overrides workers"},
    {CLI_CHECK, "--check-config", NULL, NULL, "load and validate the config, then exit"},
    {CLI_HELP, "--help", "-h", NULL, "print this help and exit"},
    {CLI_VERSION, "--version", NULL, NULL, "print the version and exit"},
};

const size_t conf_n_cli_options = sizeof conf_cli_options / sizeof conf_cli_options[0];

/* Where a message goes and how it starts: "PATH: KEY: reason" for a file,
 * "--listen: reason" for a command-line override (which has no key). */
struct errctx {
    char *buf;
    size_t len;
    const char *path;
    const char *cli_name;
};

/* Messages quote user input; keep them one printable line for the log. */
static void make_printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

__attribute__((format(printf, 3, 4))) static int fail(struct errctx *e, const char *key,
                                                      const char *fmt, ...)
{
    char reason[512]; /* messages only: each is one snprintf, cut short when long */
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (e->cli_name)
        snprintf(e->buf, e->len, "%s: %s", e->cli_name, reason);
    else if (key)
        snprintf(e->buf, e->len, "%s: %s: %s", e->path, key, reason);
    else
        snprintf(e->buf, e->len, "%s: %s", e->path, reason);
    make_printable(e->buf);
    return LT_EINVAL;
}

/* A value as it appears in a message: "like this", cut short when long. */
static const char *quoted(const char *s, char *buf, size_t len)
{
    size_t n = strlen(s);
    if (n + 3 <= len)
        snprintf(buf, len, "\"%s\"", s);
    else
        snprintf(buf, len, "\"%.*s...\"", (int)(len > 6 ? len - 6 : 0), s);
    return buf;
}

static const char *type_name(const json_t *v)
{
    static const char *const names[] = {
        [JSON_OBJECT] = "an object",   [JSON_ARRAY] = "a list",
        [JSON_STRING] = "a string",    [JSON_INTEGER] = "a whole number",
        [JSON_REAL] = "a real number", [JSON_TRUE] = "a boolean",
        [JSON_FALSE] = "a boolean",    [JSON_NULL] = "null",
    };
    return names[json_typeof(v)];
}


static const struct option *find_option(const char *name)
{
    for (size_t i = 0; i < conf_n_options; i++)
        if (strcmp(conf_options[i].name, name) == 0)
            return &conf_options[i];
    return NULL;
}

/* Is name the start of some option's path ("limits" of "limits.max_body_bytes")? */
static bool is_group(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < conf_n_options; i++)
        if (strncmp(conf_options[i].name, name, n) == 0 && conf_options[i].name[n] == '.')
            return true;
    return false;
}

/* ---- applying a JSON value to one option ---- */

static void strlist_free(struct lt_strlist *list)
{
    for (size_t i = 0; i < list->n; i++)
        lt_free(list->items[i]);
    lt_free(list->items);
    list->items = NULL;
    list->n = 0;
}

static void sources_free(struct lt_source_key **list, size_t *n)
{
    for (size_t i = 0; i < *n; i++) {
        lt_free((*list)[i].key_env);
        lt_free((*list)[i].key);
    }
    lt_free(*list);
    *list = NULL;
    *n = 0;
}

static void option_free(struct lt_config *cfg, const struct option *opt)
{
    char **str = conf_field(cfg, opt->off);
    size_t *count = conf_field(cfg, opt->off2);

    switch (opt->type) {
    case OPT_INT:
    case OPT_BOOL:
        break;
    case OPT_STRING:
    case OPT_NULLABLE_STRING:
    case OPT_HOST_PORT:
        lt_free(*str);
        *str = NULL;
        break;
    case OPT_STRING_LIST:
        strlist_free(conf_field(cfg, opt->off));
        break;
    case OPT_PROXIES:
        lt_free(*(struct lt_cidr **)conf_field(cfg, opt->off));
        *(struct lt_cidr **)conf_field(cfg, opt->off) = NULL;
        *count = 0;
        break;
    case OPT_SOURCES:
        sources_free(conf_field(cfg, opt->off), count);
        break;
    }
}

/* The checks every string value gets: not empty (null says "none"), then the
 * option's own check. */
static int check_string(const struct option *opt, const char *s, const char *key, struct errctx *e)
{
    char why[256], q[80]; /* messages: one snprintf each, cut short */
    if (*s == '\0')
        return fail(e, key, "must not be empty");
    if (opt->check && !opt->check(s, why, sizeof why))
        return fail(e, key, "%s %s", quoted(s, q, sizeof q), why);
    return 0;
}

static int apply_int(struct lt_config *cfg, const struct option *opt, const json_t *v,
                     const char *key, struct errctx *e)
{
    long long n;
    if (!json_is_integer(v))
        return fail(e, key, "expected a whole number, got %s", type_name(v));
    n = (long long)json_integer_value(v);
    if (n < opt->min)
        return fail(e, key, "%lld is below the minimum %lld", n, opt->min);
    if (n > opt->max)
        return fail(e, key, "%lld is above the maximum %lld", n, opt->max);
    *(int *)conf_field(cfg, opt->off) = (int)n;
    return 0;
}

static int apply_bool(struct lt_config *cfg, const struct option *opt, const json_t *v,
                      const char *key, struct errctx *e)
{
    if (!json_is_boolean(v))
        return fail(e, key, "expected true or false, got %s", type_name(v));
    *(bool *)conf_field(cfg, opt->off) = json_is_true(v);
    return 0;
}

static int apply_string(struct lt_config *cfg, const struct option *opt, const json_t *v,
                        const char *key, struct errctx *e)
{
    char **str = conf_field(cfg, opt->off);
    bool nullable = opt->type == OPT_NULLABLE_STRING;
    int rc;

    if (nullable && json_is_null(v)) {
        lt_free(*str);
        *str = NULL;
        return 0;
    }
    if (!json_is_string(v))
        return fail(e, key, "expected %s, got %s", nullable ? "a string or null" : "a string",
                    type_name(v));
    if ((rc = check_string(opt, json_string_value(v), key, e)) != 0)
        return rc;
    lt_free(*str);
    *str = lt_strdup(json_string_value(v));
    return 0;
}

static int apply_host_port(struct lt_config *cfg, const struct option *opt, const json_t *v,
                           const char *key, struct errctx *e)
{
    char why[256], q[80]; /* messages: one snprintf each, cut short */
    char *host = NULL;
    int port = 0;

    if (!json_is_string(v))
        return fail(e, key, "expected a string \"HOST:PORT\", got %s", type_name(v));
    if (!conf_parse_host_port(json_string_value(v), opt->min, opt->max, &host, &port, why, sizeof why))
        return fail(e, key, "%s %s", quoted(json_string_value(v), q, sizeof q), why);
    lt_free(*(char **)conf_field(cfg, opt->off));
    *(char **)conf_field(cfg, opt->off) = host;
    *(int *)conf_field(cfg, opt->off2) = port;
    return 0;
}

/* A string list is built aside and swapped in only when every item passed,
 * so a failed load never leaves half a list behind. */
static int apply_string_list(struct lt_config *cfg, const struct option *opt, json_t *v,
                             const char *key, struct errctx *e)
{
    struct lt_strlist list = {NULL, 0}, *dst = conf_field(cfg, opt->off);
    char ikey[160], q[80]; /* key names for messages: cut short when long */
    json_t *item;
    size_t i;
    int rc = 0;

    if (!json_is_array(v))
        return fail(e, key, "expected a list of strings, got %s", type_name(v));
    if (opt->max > 0 && json_array_size(v) > (size_t)opt->max)
        return fail(e, key, "has %zu items, at most %lld are allowed", json_array_size(v),
                    opt->max);
    list.items = lt_calloc(json_array_size(v) + 1, sizeof *list.items);
    json_array_foreach(v, i, item)
    {
        const char *s = json_string_value(item);
        snprintf(ikey, sizeof ikey, "%s[%zu]", key, i);
        if (!s) {
            rc = fail(e, ikey, "expected a string, got %s", type_name(item));
            goto out;
        }
        if ((rc = check_string(opt, s, ikey, e)) != 0)
            goto out;
        for (size_t j = 0; j < list.n; j++) {
            if (strcmp(list.items[j], s) == 0) {
                rc = fail(e, ikey, "%s is listed twice", quoted(s, q, sizeof q));
                goto out;
            }
        }
        list.items[list.n++] = lt_strdup(s);
    }
    strlist_free(dst);
    *dst = list;
    return 0;
out:
    strlist_free(&list);
    return rc;
}

static int apply_proxies(struct lt_config *cfg, const struct option *opt, json_t *v,
                         const char *key, struct errctx *e)
{
    struct lt_cidr *cidrs, **dst = conf_field(cfg, opt->off);
    size_t *count = conf_field(cfg, opt->off2);
    char ikey[160], why[256], q[80]; /* for messages: cut short when long */
    json_t *item;
    size_t i;

    if (!json_is_array(v))
        return fail(e, key, "expected a list of addresses, got %s", type_name(v));
    cidrs = lt_calloc(json_array_size(v) + 1, sizeof *cidrs);
    json_array_foreach(v, i, item)
    {
        const char *s = json_string_value(item);
        int rc = 0;
        snprintf(ikey, sizeof ikey, "%s[%zu]", key, i);
        if (!s)
            rc = fail(e, ikey, "expected a string, got %s", type_name(item));
        else if (!conf_parse_cidr(s, &cidrs[i], why, sizeof why))
            rc = fail(e, ikey, "%s %s", quoted(s, q, sizeof q), why);
        if (rc) {
            lt_free(cidrs);
            return rc;
        }
    }
    lt_free(*dst);
    *dst = cidrs;
    *count = json_array_size(v);
    return 0;
}

/* auth.sources: {"<source>": {"key_env": "VAR"}}. Built aside and swapped
 * in only when every entry passed (as a string list is). The keys
 * themselves are read later, with the other secrets (read_secrets). */
static int apply_sources(struct lt_config *cfg, const struct option *opt, json_t *v,
                         const char *key, struct errctx *e)
{
    struct lt_source_key *list, **dst = conf_field(cfg, opt->off);
    size_t n = 0, *count = conf_field(cfg, opt->off2);
    char ikey[200], q[80]; /* messages: cut short when long */
    const char *name;
    json_t *entry;
    int rc = 0;

    if (!json_is_object(v))
        return fail(e, key, "expected an object {\"<source>\": {\"key_env\": \"VAR\"}}, got %s",
                    type_name(v));
    if (json_object_size(v) > (size_t)opt->max)
        return fail(e, key, "has %zu sources, at most %lld are allowed", json_object_size(v),
                    opt->max);
    list = lt_calloc(json_object_size(v) + 1, sizeof *list);
    json_object_foreach(v, name, entry)
    {
        const char *k;
        json_t *item;
        if (!conf_is_id(name)) {
            rc = fail(e, key, "%s is not a valid source id (" ID_RULE ")",
                      quoted(name, q, sizeof q));
            goto out;
        }
        snprintf(ikey, sizeof ikey, "%s.%s", key, name);
        if (!json_is_object(entry)) {
            rc = fail(e, ikey, "expected an object {\"key_env\": \"VAR\"}, got %s",
                      type_name(entry));
            goto out;
        }
        json_object_foreach(entry, k, item)
        {
            if (strcmp(k, "key_env") != 0) {
                rc = fail(e, ikey, "unknown key %s (only key_env)", quoted(k, q, sizeof q));
                goto out;
            }
        }
        json_t *env = json_object_get(entry, "key_env");
        snprintf(ikey, sizeof ikey, "%s.%s.key_env", key, name);
        if (!env) {
            rc = fail(e, ikey, "is missing: name the environment variable holding the key");
            goto out;
        }
        if (!json_is_string(env)) {
            rc = fail(e, ikey, "expected a string, got %s", type_name(env));
            goto out;
        }
        if ((rc = check_string(opt, json_string_value(env), ikey, e)) != 0)
            goto out;
        list[n].key_env = lt_strdup(json_string_value(env));
        snprintf(list[n].name, sizeof list[n].name, "%s", name);
        n++;
    }
    sources_free(dst, count);
    *dst = list;
    *count = n;
    return 0;
out:
    sources_free(&list, &n);
    return rc;
}

static int apply(struct lt_config *cfg, const struct option *opt, json_t *v, const char *key,
                 struct errctx *e)
{
    switch (opt->type) {
    case OPT_INT:
        return apply_int(cfg, opt, v, key, e);
    case OPT_BOOL:
        return apply_bool(cfg, opt, v, key, e);
    case OPT_STRING:
    case OPT_NULLABLE_STRING:
        return apply_string(cfg, opt, v, key, e);
    case OPT_HOST_PORT:
        return apply_host_port(cfg, opt, v, key, e);
    case OPT_STRING_LIST:
        return apply_string_list(cfg, opt, v, key, e);
    case OPT_PROXIES:
        return apply_proxies(cfg, opt, v, key, e);
    case OPT_SOURCES:
        return apply_sources(cfg, opt, v, key, e);
    }
    return fail(e, key, "unsupported option type");
}

/* Walks a JSON object against the option names, so that an unknown key is
 * caught at any depth ("limits.max_body_byte", "redis.tls"). */
static int walk(struct lt_config *cfg, json_t *obj, const char *prefix, struct errctx *e)
{
    const char *k;
    json_t *v;

    json_object_foreach(obj, k, v)
    {
        char name[128]; /* a longer name is no option: checked below */
        const struct option *opt = NULL;
        bool group = false;
        int n, rc;

        n = prefix ? snprintf(name, sizeof name, "%s.%s", prefix, k)
                   : snprintf(name, sizeof name, "%s", k);
        /* A name longer than the buffer can be no option (they are short). */
        if (n > 0 && (size_t)n < sizeof name && *k && !strchr(k, '.')) {
            opt = find_option(name);
            group = !opt && is_group(name);
        }
        if (opt)
            rc = apply(cfg, opt, v, name, e);
        else if (group && json_is_object(v))
            rc = walk(cfg, v, name, e);
        else if (group)
            rc = fail(e, name, "expected an object, got %s", type_name(v));
        else if (strchr(k, '.') && find_option(name))
            rc = fail(e, name, "unknown key (a dotted name is written as nested objects)");
        else
            rc = fail(e, name, "unknown key");
        if (rc)
            return rc;
    }
    return 0;
}

/* Parses JSON text and applies it through the table. */
static int apply_json_text(struct lt_config *cfg, const struct option *opt, const char *text,
                           struct errctx *e)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    int rc;
    if (!v)
        return fail(e, opt->name, "%s", jerr.text);
    rc = apply(cfg, opt, v, opt->name, e);
    json_decref(v);
    return rc;
}

/* Rules that span keys; run after the file and after overrides. None at
 * the moment: the place for them stays. */
static int check_combinations(struct lt_config *cfg, struct errctx *e)
{
    /* A Redis Cluster has database 0 only (SELECT is refused there). */
    if (cfg->redis_cluster.n > 0 && cfg->redis_db != 0)
        return fail(e, "redis.db",
                    "must be 0 with redis.cluster (a Redis Cluster has database 0 only)");
    return 0;
}

/* ---- secrets ---- */

static char *env_secret(const char *name)
{
    const char *v = name ? getenv(name) : NULL;
    return v && *v ? lt_strdup(v) : NULL;
}

static void split_tokens(const char *s, struct lt_strlist *out)
{
    size_t cap = 0;
    while (s && *s) {
        size_t len = strcspn(s, ",");
        const char *start = s, *end = s + len;
        while (start < end && strchr(" \t\r\n", *start))
            start++;
        while (end > start && strchr(" \t\r\n", end[-1]))
            end--;
        if (end > start) {
            if (out->n == cap) {
                cap = cap ? cap * 2 : 4;
                out->items = lt_realloc(out->items, cap * sizeof *out->items);
            }
            out->items[out->n++] = lt_strndup(start, (size_t)(end - start));
        }
        s += len;
        if (*s == ',')
            s++;
    }
}

static void read_secrets(struct lt_config *cfg)
{
    lt_free(cfg->redis_password);
    cfg->redis_password = env_secret(cfg->redis_password_env);
    lt_free(cfg->metrics_token);
    cfg->metrics_token = env_secret(cfg->metrics_token_env);
    strlist_free(&cfg->operator_tokens);
    split_tokens(cfg->operator_tokens_env ? getenv(cfg->operator_tokens_env) : NULL,
                 &cfg->operator_tokens);
    for (size_t i = 0; i < cfg->n_sources; i++) {
        lt_free(cfg->sources[i].key);
        cfg->sources[i].key = env_secret(cfg->sources[i].key_env);
    }
}

/* A secret whose absence would open what the config means to close is an
 * error, not "no secret": metrics.token_env names a variable, so /metrics
 * must not quietly stay open because that variable is empty. (Operator
 * tokens and partner keys fail closed instead: none set answers 403.) The
 * message names the variable, never a value. */
static int check_secrets(const struct lt_config *cfg, struct errctx *e)
{
    if (cfg->metrics_token_env && !cfg->metrics_token)
        return fail(e, "metrics.token_env",
                    "the environment variable %s is not set or is empty; set it to the token "
                    "GET /metrics should require, or set metrics.token_env to null to leave "
                    "/metrics open",
                    cfg->metrics_token_env);
    return 0;
}

/* ---- loading ---- */

void lt_config_defaults(struct lt_config *cfg)
{
    char err[512]; /* a default that fails is a bug: the message is for the log */
    struct errctx e = {err, sizeof err, "built-in default", NULL};

    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < conf_n_options; i++) {
        if (apply_json_text(cfg, &conf_options[i], conf_options[i].def, &e) != 0) {
            fprintf(stderr, "livetally: %s\n", err);
            abort();
        }
    }
}

void lt_config_free(struct lt_config *cfg)
{
    for (size_t i = 0; i < conf_n_options; i++)
        option_free(cfg, &conf_options[i]);
    lt_free(cfg->path);
    lt_free(cfg->redis_password);
    lt_free(cfg->metrics_token);
    strlist_free(&cfg->operator_tokens);
    memset(cfg, 0, sizeof *cfg);
}

static int load_json(struct lt_config *cfg, const char *path, const char *json, size_t len,
                     char *err, size_t errlen)
{
    struct errctx e = {err, errlen, path, NULL};
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc;

    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: invalid JSON: %s", path, jerr.line, jerr.column,
                 jerr.text);
        make_printable(err);
        return LT_EINVAL;
    }
    if (json_is_object(root))
        rc = walk(cfg, root, NULL, &e);
    else
        rc = fail(&e, NULL, "expected a JSON object at the top level, got %s", type_name(root));
    json_decref(root);
    return rc;
}

int lt_config_load_string(struct lt_config *cfg, const char *path, const char *json, size_t len,
                          char *err, size_t errlen)
{
    char none[1]; /* errlen 0: no message wanted */
    struct errctx e = {err, errlen, path ? path : "<config>", NULL};
    int rc;

    if (!err || errlen == 0) {
        e.buf = err = none;
        e.len = errlen = sizeof none;
    }
    lt_config_defaults(cfg);
    cfg->path = path ? lt_strdup(path) : NULL;
    rc = load_json(cfg, e.path, json, len, err, errlen);
    if (rc == 0)
        rc = check_combinations(cfg, &e);
    if (rc != 0) {
        lt_config_free(cfg);
        return rc;
    }
    read_secrets(cfg);
    rc = check_secrets(cfg, &e);
    if (rc != 0)
        lt_config_free(cfg);
    return rc;
}

/* Reads and applies a file. A missing default file is not an error, so that
 * the binary runs with defaults from any directory; a missing --config is. */
static int load_file(struct lt_config *cfg, const char *path, bool optional, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "rb");
    size_t len = 0, cap = 4096, n;
    char *buf;
    int rc;

    if (!f) {
        if (optional && errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return LT_EINVAL;
    }
    buf = lt_malloc(cap);
    while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            if (cap >= MAX_FILE_BYTES)
                break;
            cap *= 2;
            buf = lt_realloc(buf, cap);
        }
    }
    if (ferror(f))
        rc = snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    else if (len >= MAX_FILE_BYTES)
        rc = snprintf(err, errlen, "%s: larger than %d bytes", path, MAX_FILE_BYTES);
    else
        rc = 0;
    fclose(f);
    if (rc == 0) {
        cfg->path = lt_strdup(path);
        rc = load_json(cfg, path, buf, len, err, errlen);
    } else {
        rc = LT_EINVAL;
    }
    lt_free(buf);
    return rc;
}

/* Recognises argv[*i] as an option, taking its value from "=value" or the
 * next argument (advancing *i). */
static int next_cli(int argc, char **argv, int *i, const struct cli_option **opt,
                    const char **value, char *err, size_t errlen)
{
    const char *arg = argv[*i];
    const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
    size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);

    *opt = NULL;
    *value = NULL;
    for (size_t k = 0; k < conf_n_cli_options && !*opt; k++) {
        const struct cli_option *o = &conf_cli_options[k];
        if ((strlen(o->name) == nlen && strncmp(o->name, arg, nlen) == 0) ||
            (o->alias && strcmp(o->alias, arg) == 0))
            *opt = o;
    }
    if (!*opt) {
        snprintf(err, errlen, "%.*s: %s", (int)nlen, arg,
                 arg[0] == '-' ? "unknown option (see --help)" : "unexpected argument");
        make_printable(err);
        return LT_EINVAL;
    }
    if ((*opt)->arg && eq) {
        *value = eq + 1;
    } else if ((*opt)->arg && *i + 1 < argc) {
        *value = argv[++*i];
    } else if ((*opt)->arg) {
        snprintf(err, errlen, "%s: missing value %s", (*opt)->name, (*opt)->arg);
        return LT_EINVAL;
    } else if (eq) {
        snprintf(err, errlen, "%s: takes no value", (*opt)->name);
        return LT_EINVAL;
    }
    return 0;
}

static int apply_cli_value(struct lt_config *cfg, const char *name, json_t *v, struct errctx *e)
{
    int rc;
    if (!v)
        return fail(e, name, "is not valid UTF-8");
    rc = apply(cfg, find_option(name), v, name, e);
    json_decref(v);
    return rc;
}

/* Turns an override into the JSON value the file would hold and applies it
 * through the table, so the checks exist once. */
static int apply_cli(struct lt_config *cfg, const struct cli_option *o, const char *value,
                     char *err, size_t errlen)
{
    struct errctx e = {err, errlen, NULL, o->name};
    const struct option *port_opt = find_option("redis.port");
    char why[256], q[80], *host = NULL; /* messages: one snprintf each, cut short */
    int port = 0, rc;
    long long n;
    char *end;

    switch (o->id) {
    case CLI_LISTEN:
        return apply_cli_value(cfg, "listen", json_string(value), &e);
    case CLI_WORKERS:
        errno = 0;
        n = strtoll(value, &end, 10);
        if (!(value[0] == '-' || (value[0] >= '0' && value[0] <= '9')) || *end || errno)
            return fail(&e, NULL, "%s is not a whole number", quoted(value, q, sizeof q));
        return apply_cli_value(cfg, "workers", json_integer(n), &e);
    case CLI_REDIS:
        if (!conf_parse_host_port(value, port_opt->min, port_opt->max, &host, &port, why, sizeof why))
            return fail(&e, NULL, "%s %s", quoted(value, q, sizeof q), why);
        rc = apply_cli_value(cfg, "redis.host", json_string(host), &e);
        lt_free(host);
        if (rc == 0)
            rc = apply_cli_value(cfg, "redis.port", json_integer(port), &e);
        return rc;
    case CLI_CONFIG:
    case CLI_CHECK:
    case CLI_HELP:
    case CLI_VERSION:
        break;
    }
    return 0;
}

int lt_config_load_args(struct lt_config *cfg, struct lt_cli *cli, int argc, char **argv, char *err,
                        size_t errlen)
{
    const struct cli_option *o;
    const char *value;
    bool explicit_config = false;
    char none[1]; /* errlen 0: no message wanted */
    struct errctx e = {err, errlen, NULL, NULL};
    int rc = 0;

    if (!err || errlen == 0) {
        e.buf = err = none;
        e.len = errlen = sizeof none;
    }
    lt_config_defaults(cfg);
    memset(cli, 0, sizeof *cli);
    cli->config_path = LT_CONFIG_DEFAULT_PATH;
    /* First pass: syntax and flags; overrides wait until the file is in. */
    for (int i = 1; i < argc && rc == 0; i++) {
        rc = next_cli(argc, argv, &i, &o, &value, err, errlen);
        if (rc == 0 && o->id == CLI_CONFIG) {
            cli->config_path = value;
            explicit_config = true;
        }
        cli->check_config |= rc == 0 && o->id == CLI_CHECK;
        cli->help |= rc == 0 && o->id == CLI_HELP;
        cli->version |= rc == 0 && o->id == CLI_VERSION;
    }
    if (rc != 0 || cli->help || cli->version)
        goto out;
    rc = load_file(cfg, cli->config_path, !explicit_config, err, errlen);
    for (int i = 1; i < argc && rc == 0; i++) {
        rc = next_cli(argc, argv, &i, &o, &value, err, errlen);
        if (rc == 0)
            rc = apply_cli(cfg, o, value, err, errlen);
    }
    e.path = cfg->path ? cfg->path : "command line";
    if (rc == 0)
        rc = check_combinations(cfg, &e);
    if (rc == 0) {
        read_secrets(cfg);
        rc = check_secrets(cfg, &e);
    }
out:
    if (rc != 0)
        lt_config_free(cfg);
    return rc;
}

/* ---- reload ---- */

int lt_config_keep_restart_only(struct lt_config *next, const struct lt_config *running,
                                void (*on_kept)(void *arg, const char *key, const char *running,
                                                const char *wanted),
                                void *arg)
{
    char why[512];
    struct errctx e = {why, sizeof why, "running config", NULL};
    int kept = 0;

    for (size_t i = 0; i < conf_n_options; i++) {
        const struct option *opt = &conf_options[i];
        if (!opt->restart)
            continue;
        json_t *old = conf_option_to_json(running, opt);
        json_t *new = conf_option_to_json(next, opt);
        if (!json_equal(old, new)) {
            char *old_text = json_dumps(old, JSON_COMPACT | JSON_ENCODE_ANY);
            char *new_text = json_dumps(new, JSON_COMPACT | JSON_ENCODE_ANY);
            if (on_kept)
                on_kept(arg, opt->name, old_text ? old_text : "?", new_text ? new_text : "?");
            conf_json_text_free(old_text);
            conf_json_text_free(new_text);
            /* The running value was valid when it was loaded: applying it
             * again cannot fail. */
            if (apply(next, opt, old, opt->name, &e) != 0) {
                fprintf(stderr, "livetally: %s\n", why);
                abort();
            }
            kept++;
        }
        json_decref(old);
        json_decref(new);
    }
    if (kept)
        read_secrets(next); /* a kept *_env name names the secret again */
    return kept;
}
