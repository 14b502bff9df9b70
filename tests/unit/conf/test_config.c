/* Unit tests of config.c: defaults, every value type, unknown keys, bounds,
 * messages, command-line overrides, secrets and trusted-proxy matching.
 *
 * `test_config --write-docs` regenerates docs/configuration.md; the test
 * test_docs_up_to_date fails when the committed file differs. */
#include "livetally/base/error.h"
#include "livetally/base/mem.h"
#include "livetally/conf/config.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#define DOCS_PATH LT_SOURCE_DIR "/docs/configuration.md"

static struct lt_config cfg;
static char err[1024];
static char tmpdir[64];
static char oldcwd[4096];

/* Every key of the contract and ours: the test's own list, so that a key
 * dropped from the table is noticed. */
static const char *const all_keys[] = {
    "listen",
    "workers",
    "redis.host",
    "redis.port",
    "redis.password_env",
    "redis.db",
    "redis.cluster",
    "redis.connect_timeout_ms",
    "redis.command_timeout_ms",
    "redis.max_backlog",
    "flush_interval_ms",
    "push_interval_ms",
    "streams.auto_create",
    "views.dedup_seconds",
    "likes.max_per_message",
    "likes.rate_per_second",
    "likes.burst",
    "likes.per_client_rate_per_second",
    "likes.per_client_burst",
    "counters",
    "cors.allowed_origins",
    "auth.operator_tokens_env",
    "auth.sources",
    "metrics.token_env",
    "trusted_proxies",
    "limits.max_connections",
    "limits.max_connections_per_client",
    "limits.max_body_bytes",
    "limits.max_header_bytes",
    "limits.max_ws_message_bytes",
    "limits.ws_messages_per_second",
    "limits.ws_message_burst",
    "limits.ws_max_errors",
    "limits.header_timeout_ms",
    "limits.idle_timeout_ms",
    "shutdown_timeout_ms",
    "log_level",
    "log_format",
    "spool.dir",
    "spool.fsync",
    "spool.segment_bytes",
    "web_root",
};
#define N_KEYS (sizeof all_keys / sizeof all_keys[0])

static int load(const char *json)
{
    err[0] = '\0';
    return lt_config_load_string(&cfg, "config/x.json", json, strlen(json), err, sizeof err);
}

/* {"a": {"b": VALUE}} for key "a.b". */
static const char *nest(const char *key, const char *value)
{
    static char buf[4096];
    char tmp[4096];
    const char *dot = strrchr(key, '.');
    if (!dot) {
        snprintf(buf, sizeof buf, "{\"%s\": %s}", key, value);
        return buf;
    }
    snprintf(tmp, sizeof tmp, "{\"%s\": %s}", dot + 1, value);
    char parent[128];
    snprintf(parent, sizeof parent, "%.*s", (int)(dot - key), key);
    char inner[4096];
    snprintf(inner, sizeof inner, "%s", tmp);
    return nest(parent, inner);
}

static void expect_ok(const char *json)
{
    int rc = load(json);
    if (rc != 0)
        fail_msg("%s: unexpected error: %s", json, err);
}

static void expect_error(const char *json, const char *message)
{
    int rc = load(json);
    if (rc != LT_EINVAL)
        fail_msg("%s: loaded, expected \"%s\"", json, message);
    assert_string_equal(err, message);
    lt_config_free(&cfg);
}

static void expect_error_prefix(const char *json, const char *prefix)
{
    int rc = load(json);
    if (rc != LT_EINVAL)
        fail_msg("%s: loaded, expected \"%s...\"", json, prefix);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("%s: got \"%s\", expected it to start with \"%s\"", json, err, prefix);
    lt_config_free(&cfg);
}

static int args(const char *first, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    struct lt_cli cli;
    argv[argc++] = (char *)"livetally";
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    err[0] = '\0';
    return lt_config_load_args(&cfg, &cli, argc, argv, err, sizeof err);
}

static void expect_args_error(const char *message, const char *first, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    struct lt_cli cli;
    argv[argc++] = (char *)"livetally";
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    err[0] = '\0';
    assert_int_equal(lt_config_load_args(&cfg, &cli, argc, argv, err, sizeof err), LT_EINVAL);
    assert_string_equal(err, message);
    lt_config_free(&cfg);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void assert_default_values(const struct lt_config *c)
{
    assert_string_equal(c->listen_host, "127.0.0.1");
    assert_int_equal(c->listen_port, 8080);
    assert_int_equal(c->workers, 0);
    assert_string_equal(c->redis_host, "127.0.0.1");
    assert_int_equal(c->redis_port, 6379);
    assert_null(c->redis_password_env);
    assert_null(c->redis_password);
    assert_int_equal(c->redis_db, 0);
    assert_int_equal(c->redis_connect_timeout_ms, 1000);
    assert_int_equal(c->redis_command_timeout_ms, 2000);
    assert_int_equal(c->redis_max_backlog, 100000);
    assert_int_equal(c->flush_interval_ms, 50);
    assert_int_equal(c->push_interval_ms, 250);
    assert_true(c->streams_auto_create);
    assert_int_equal(c->views_dedup_seconds, 1800);
    assert_int_equal(c->likes_max_per_message, 50);
    assert_int_equal(c->likes_rate_per_second, 20);
    assert_int_equal(c->likes_burst, 100);
    assert_int_equal(c->likes_per_client_rate_per_second, 2000);
    assert_int_equal(c->likes_per_client_burst, 10000);
    assert_int_equal(c->counters.n, 0);
    assert_int_equal(c->cors_allowed_origins.n, 1);
    assert_string_equal(c->cors_allowed_origins.items[0], "*");
    assert_string_equal(c->operator_tokens_env, "LIVETALLY_OPERATOR_TOKENS");
    assert_null(c->metrics_token_env);
    assert_null(c->metrics_token);
    assert_int_equal(c->n_trusted_proxies, 0);
    assert_int_equal(c->max_connections, 10000);
    assert_int_equal(c->max_connections_per_client, 1000);
    assert_int_equal(c->max_body_bytes, 65536);
    assert_int_equal(c->max_header_bytes, 8192);
    assert_int_equal(c->max_ws_message_bytes, 4096);
    assert_int_equal(c->header_timeout_ms, 10000);
    assert_int_equal(c->idle_timeout_ms, 60000);
    assert_int_equal(c->shutdown_timeout_ms, 10000);
    assert_string_equal(c->log_level, "info");
    assert_string_equal(c->log_format, "text");
    assert_null(c->web_root);
}

static int teardown(void **state)
{
    (void)state;
    lt_config_free(&cfg);
    unsetenv("LIVETALLY_OPERATOR_TOKENS");
    return 0;
}

/* Tests run in an empty temporary directory, so that the default config path
 * does not exist unless a test creates it. */
static int group_setup(void **state)
{
    (void)state;
    /* jansson's allocations are counted too, so test_no_leaks sees a missed
     * json_decref as well as a missed lt_free. */
    lt_mem_install_hooks();
    unsetenv("LIVETALLY_OPERATOR_TOKENS");
    if (!getcwd(oldcwd, sizeof oldcwd))
        return -1;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lt_test_config.XXXXXX");
    if (!mkdtemp(tmpdir) || chdir(tmpdir) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    unlink("config/livetally.json");
    rmdir("config");
    unlink("a.json");
    rmdir("adir");
    if (chdir(oldcwd) != 0)
        return -1;
    return rmdir(tmpdir);
}

static void test_defaults(void **state)
{
    (void)state;
    lt_config_defaults(&cfg);
    assert_default_values(&cfg);
    assert_null(cfg.path);
    lt_config_free(&cfg);

    expect_ok("{}");
    assert_default_values(&cfg);
    assert_string_equal(cfg.path, "config/x.json");
    assert_int_equal(cfg.operator_tokens.n, 0);
    lt_config_free(&cfg);
    /* Freeing twice is harmless: free leaves the struct zeroed. */
    lt_config_free(&cfg);
    assert_null(cfg.listen_host);
}

static void test_every_type(void **state)
{
    (void)state;
    expect_ok("{\"listen\": \"0.0.0.0:0\", \"workers\": 3,"
              " \"redis\": {\"host\": \"redis.internal\", \"port\": 6380, \"password_env\": "
              "\"LT_T_NOPE\", \"db\": 2, \"connect_timeout_ms\": 100, \"command_timeout_ms\": "
              "60000, \"max_backlog\": 100},"
              " \"flush_interval_ms\": 5, \"push_interval_ms\": 10,"
              " \"streams\": {\"auto_create\": false}, \"views\": {\"dedup_seconds\": 1},"
              " \"likes\": {\"max_per_message\": 7, \"rate_per_second\": 8, \"burst\": 9,"
              " \"per_client_rate_per_second\": 10, \"per_client_burst\": 11},"
              " \"counters\": [\"shares\", \"gifts\"],"
              " \"cors\": {\"allowed_origins\": [\"https://example.com\"]},"
              " \"auth\": {\"operator_tokens_env\": null, \"sources\": {}},"
              " \"trusted_proxies\": [\"10.0.0.0/8\"],"
              " \"limits\": {\"max_connections\": 1, \"max_body_bytes\": 1024, "
              "\"max_header_bytes\": 1048576, \"max_ws_message_bytes\": 125, "
              "\"header_timeout_ms\": 100, \"idle_timeout_ms\": 86400000},"
              " \"shutdown_timeout_ms\": 600000, \"log_level\": \"debug\", \"web_root\": "
              "\"/srv/www\"}");
    assert_string_equal(cfg.listen_host, "0.0.0.0");
    assert_int_equal(cfg.listen_port, 0);
    assert_int_equal(cfg.workers, 3);
    assert_string_equal(cfg.redis_host, "redis.internal");
    assert_int_equal(cfg.redis_port, 6380);
    assert_string_equal(cfg.redis_password_env, "LT_T_NOPE");
    assert_null(cfg.redis_password);
    assert_int_equal(cfg.redis_db, 2);
    assert_int_equal(cfg.redis_connect_timeout_ms, 100);
    assert_int_equal(cfg.redis_command_timeout_ms, 60000);
    assert_int_equal(cfg.redis_max_backlog, 100);
    assert_int_equal(cfg.flush_interval_ms, 5);
    assert_int_equal(cfg.push_interval_ms, 10);
    assert_false(cfg.streams_auto_create);
    assert_int_equal(cfg.views_dedup_seconds, 1);
    assert_int_equal(cfg.likes_max_per_message, 7);
    assert_int_equal(cfg.likes_rate_per_second, 8);
    assert_int_equal(cfg.likes_burst, 9);
    assert_int_equal(cfg.likes_per_client_rate_per_second, 10);
    assert_int_equal(cfg.likes_per_client_burst, 11);
    assert_int_equal(cfg.counters.n, 2);
    assert_string_equal(cfg.counters.items[1], "gifts");
    assert_int_equal(cfg.cors_allowed_origins.n, 1);
    assert_string_equal(cfg.cors_allowed_origins.items[0], "https://example.com");
    assert_null(cfg.operator_tokens_env);
    assert_int_equal(cfg.operator_tokens.n, 0);
    assert_int_equal(cfg.n_trusted_proxies, 1);
    assert_int_equal(cfg.max_connections, 1);
    assert_int_equal(cfg.max_body_bytes, 1024);
    assert_int_equal(cfg.max_header_bytes, 1048576);
    assert_int_equal(cfg.max_ws_message_bytes, 125);
    assert_int_equal(cfg.header_timeout_ms, 100);
    assert_int_equal(cfg.idle_timeout_ms, 86400000);
    assert_int_equal(cfg.shutdown_timeout_ms, 600000);
    assert_string_equal(cfg.log_level, "debug");
    assert_string_equal(cfg.web_root, "/srv/www");
    lt_config_free(&cfg);

    /* A later value replaces the default without leaking it (ASan checks). */
    expect_ok(
        "{\"web_root\": null, \"log_level\": \"error\", \"log_format\": \"json\", "
        "\"cors\": {\"allowed_origins\": []}}");
    assert_null(cfg.web_root);
    assert_string_equal(cfg.log_level, "error");
    assert_string_equal(cfg.log_format, "json");
    assert_int_equal(cfg.cors_allowed_origins.n, 0);
}

static void test_unknown_keys(void **state)
{
    (void)state;
    expect_error("{\"listn\": \"127.0.0.1:1\"}", "config/x.json: listn: unknown key");
    expect_error("{\"limits\": {\"max_body_byte\": 2000}}",
                 "config/x.json: limits.max_body_byte: unknown key");
    expect_error("{\"redis\": {\"host\": \"h\", \"tls\": true}}",
                 "config/x.json: redis.tls: unknown key");
    expect_error("{\"views\": {\"extra\": {\"x\": 1}}}", "config/x.json: views.extra: unknown key");
    expect_error("{\"limits.max_body_bytes\": 2048}",
                 "config/x.json: limits.max_body_bytes: unknown key (a dotted name is written as "
                 "nested objects)");
    expect_error("{\"\": 1}", "config/x.json: : unknown key");
    /* A control character in a key is not echoed raw into the log. */
    expect_error("{\"a\\nb\": 1}", "config/x.json: a?b: unknown key");
}

struct bound {
    const char *key;
    size_t off;
    long long min, max;
};

static const struct bound bounds[] = {
    {"workers", offsetof(struct lt_config, workers), 0, 256},
    {"redis.port", offsetof(struct lt_config, redis_port), 1, 65535},
    {"redis.db", offsetof(struct lt_config, redis_db), 0, 255},
    {"redis.connect_timeout_ms", offsetof(struct lt_config, redis_connect_timeout_ms), 100, 60000},
    {"redis.command_timeout_ms", offsetof(struct lt_config, redis_command_timeout_ms), 100, 60000},
    {"redis.max_backlog", offsetof(struct lt_config, redis_max_backlog), 100, 10000000},
    {"flush_interval_ms", offsetof(struct lt_config, flush_interval_ms), 5, 10000},
    {"push_interval_ms", offsetof(struct lt_config, push_interval_ms), 10, 60000},
    {"views.dedup_seconds", offsetof(struct lt_config, views_dedup_seconds), 1, 604800},
    {"likes.max_per_message", offsetof(struct lt_config, likes_max_per_message), 1, 100000},
    {"likes.rate_per_second", offsetof(struct lt_config, likes_rate_per_second), 1, 1000000},
    {"likes.burst", offsetof(struct lt_config, likes_burst), 1, 10000000},
    {"likes.per_client_rate_per_second",
     offsetof(struct lt_config, likes_per_client_rate_per_second), 1, 1000000},
    {"likes.per_client_burst", offsetof(struct lt_config, likes_per_client_burst), 1, 10000000},
    {"limits.max_connections", offsetof(struct lt_config, max_connections), 1, 1000000},
    {"limits.max_connections_per_client",
     offsetof(struct lt_config, max_connections_per_client), 0, 1000000},
    {"limits.max_body_bytes", offsetof(struct lt_config, max_body_bytes), 1024, 16777216},
    {"limits.max_header_bytes", offsetof(struct lt_config, max_header_bytes), 1024, 1048576},
    {"limits.max_ws_message_bytes", offsetof(struct lt_config, max_ws_message_bytes), 125,
     16777216},
    {"limits.header_timeout_ms", offsetof(struct lt_config, header_timeout_ms), 100, 3600000},
    {"limits.idle_timeout_ms", offsetof(struct lt_config, idle_timeout_ms), 100, 86400000},
    {"shutdown_timeout_ms", offsetof(struct lt_config, shutdown_timeout_ms), 100, 600000},
};

static void test_bounds(void **state)
{
    char value[32], message[256];
    (void)state;
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        const struct bound *b = &bounds[i];
        long long edges[2] = {b->min, b->max};
        for (int k = 0; k < 2; k++) {
            snprintf(value, sizeof value, "%lld", edges[k]);
            expect_ok(nest(b->key, value));
            int got;
            memcpy(&got, (const char *)&cfg + b->off, sizeof got);
            assert_int_equal(got, edges[k]);
            lt_config_free(&cfg);
        }
        snprintf(value, sizeof value, "%lld", b->min - 1);
        snprintf(message, sizeof message, "config/x.json: %s: %lld is below the minimum %lld",
                 b->key, b->min - 1, b->min);
        expect_error(nest(b->key, value), message);
        snprintf(value, sizeof value, "%lld", b->max + 1);
        snprintf(message, sizeof message, "config/x.json: %s: %lld is above the maximum %lld",
                 b->key, b->max + 1, b->max);
        expect_error(nest(b->key, value), message);
    }
    /* Far outside int: no wrap-around into range. */
    expect_error("{\"workers\": 4294967296}",
                 "config/x.json: workers: 4294967296 is above the maximum 256");
    expect_error("{\"workers\": -4294967296}",
                 "config/x.json: workers: -4294967296 is below the minimum 0");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_error("{\"workers\": \"4\"}",
                 "config/x.json: workers: expected a whole number, got a string");
    expect_error("{\"workers\": 4.0}",
                 "config/x.json: workers: expected a whole number, got a real number");
    expect_error("{\"workers\": null}",
                 "config/x.json: workers: expected a whole number, got null");
    expect_error("{\"streams\": {\"auto_create\": 1}}",
                 "config/x.json: streams.auto_create: expected true or false, got a whole number");
    expect_error("{\"log_level\": 3}",
                 "config/x.json: log_level: expected a string, got a whole number");
    expect_error("{\"log_level\": null}", "config/x.json: log_level: expected a string, got null");
    expect_error("{\"web_root\": false}",
                 "config/x.json: web_root: expected a string or null, got a boolean");
    expect_error("{\"counters\": \"shares\"}",
                 "config/x.json: counters: expected a list of strings, got a string");
    expect_error("{\"counters\": [\"a\", 1]}",
                 "config/x.json: counters[1]: expected a string, got a whole number");
    expect_error("{\"limits\": 5}",
                 "config/x.json: limits: expected an object, got a whole number");
    expect_error("{\"listen\": 8080}",
                 "config/x.json: listen: expected a string \"HOST:PORT\", got a whole number");
    expect_error("{\"trusted_proxies\": \"10.0.0.1\"}",
                 "config/x.json: trusted_proxies: expected a list of addresses, got a string");
    expect_error("{\"trusted_proxies\": [{}]}",
                 "config/x.json: trusted_proxies[0]: expected a string, got an object");
    expect_error("[]", "config/x.json: expected a JSON object at the top level, got a list");
}

static void test_strings(void **state)
{
    (void)state;
    expect_error("{\"log_level\": \"verbose\"}",
                 "config/x.json: log_level: \"verbose\" is not one of debug, info, warn, error");
    expect_error("{\"log_format\": \"xml\"}",
                 "config/x.json: log_format: \"xml\" is not one of text, json");
    expect_error("{\"log_format\": null}", "config/x.json: log_format: expected a string, got null");
    expect_error("{\"web_root\": \"\"}", "config/x.json: web_root: must not be empty");
    expect_error("{\"redis\": {\"host\": \"bad host\"}}",
                 "config/x.json: redis.host: \"bad host\" is not a host name or IP address");
    expect_error("{\"redis\": {\"password_env\": \"1BAD\"}}",
                 "config/x.json: redis.password_env: \"1BAD\" is not an environment variable "
                 "name (letters, digits, _)");
    expect_ok("{\"redis\": {\"host\": \"::1\"}}");
    assert_string_equal(cfg.redis_host, "::1");
    lt_config_free(&cfg);

    /* Long values are cut in messages. */
    char json[512];
    snprintf(json, sizeof json, "{\"log_level\": \"%0300d\"}", 0);
    assert_int_equal(load(json), LT_EINVAL);
    assert_non_null(strstr(err, "...\" is not one of"));
    assert_true(strlen(err) < 200);
}

static void test_host_port(void **state)
{
    (void)state;
    expect_ok("{\"listen\": \"[::1]:8080\"}");
    assert_string_equal(cfg.listen_host, "::1");
    assert_int_equal(cfg.listen_port, 8080);
    lt_config_free(&cfg);
    expect_ok("{\"listen\": \"localhost:65535\"}");
    assert_string_equal(cfg.listen_host, "localhost");
    assert_int_equal(cfg.listen_port, 65535);
    lt_config_free(&cfg);

    expect_error("{\"listen\": \"localhost:65536\"}",
                 "config/x.json: listen: \"localhost:65536\" has port 65536 outside 0..65535");
    expect_error("{\"listen\": \"::1:8080\"}",
                 "config/x.json: listen: \"::1:8080\" needs brackets around an IPv6 address, as "
                 "in [::1]:8080");
    expect_error("{\"listen\": \"8080\"}",
                 "config/x.json: listen: \"8080\" is not HOST:PORT (the port is missing)");
    expect_error("{\"listen\": \"host:\"}",
                 "config/x.json: listen: \"host:\" has no valid port (HOST:PORT, port 0..65535)");
    expect_error_prefix("{\"listen\": \"host:80x\"}",
                        "config/x.json: listen: \"host:80x\" has no valid port");
    expect_error_prefix("{\"listen\": \"host:+80\"}",
                        "config/x.json: listen: \"host:+80\" has no valid port");
    expect_error("{\"listen\": \":80\"}", "config/x.json: listen: \":80\" has an invalid host");
    expect_error("{\"listen\": \"a b:80\"}",
                 "config/x.json: listen: \"a b:80\" has an invalid host");
    expect_error("{\"listen\": \"[::zz]:80\"}",
                 "config/x.json: listen: \"[::zz]:80\" has an invalid IPv6 address");
    expect_error("{\"listen\": \"[::1]8080\"}",
                 "config/x.json: listen: \"[::1]8080\" is not [IPv6]:PORT");

    /* redis.cluster: seed nodes HOST:PORT; [] (one Redis) takes any db,
     * a cluster only database 0. */
    expect_ok("{\"redis\": {\"cluster\": [], \"db\": 1}}");
    assert_int_equal(cfg.redis_db, 1);
    assert_int_equal((int)cfg.redis_cluster.n, 0);
    lt_config_free(&cfg);
    expect_ok("{\"redis\": {\"cluster\": [\"10.0.0.5:7000\", \"[::1]:7001\", \"r-2:7002\"]}}");
    assert_int_equal((int)cfg.redis_cluster.n, 3);
    assert_string_equal(cfg.redis_cluster.items[1], "[::1]:7001");
    lt_config_free(&cfg);
    expect_error("{\"redis\": {\"cluster\": [\"10.0.0.5:7000\"], \"db\": 2}}",
                 "config/x.json: redis.db: must be 0 with redis.cluster (a Redis Cluster has "
                 "database 0 only)");
    expect_error("{\"redis\": {\"cluster\": \"r1:7000\"}}",
                 "config/x.json: redis.cluster: expected a list of strings, got a string");
    expect_error("{\"redis\": {\"cluster\": [\"r1\"]}}",
                 "config/x.json: redis.cluster[0]: \"r1\" is not HOST:PORT (the port is missing)");
    expect_error("{\"redis\": {\"cluster\": [\"r1:0\"]}}",
                 "config/x.json: redis.cluster[0]: \"r1:0\" has port 0 outside 1..65535");
}

static void test_invalid_json(void **state)
{
    (void)state;
    expect_error("{\n  \"workers\": 1,\n}",
                 "config/x.json:3:1: invalid JSON: string or '}' expected near '}'");
    expect_error_prefix("{} x", "config/x.json:1:4: invalid JSON: ");
    expect_error_prefix("", "config/x.json:1:0: invalid JSON: ");
    /* A repeated key would otherwise silently take the last value. */
    expect_error_prefix("{\"workers\": 1, \"workers\": 2}",
                        "config/x.json:1:24: invalid JSON: duplicate object key");
    /* Embedded NUL byte. */
    assert_int_equal(lt_config_load_string(&cfg, "n.json", "{\"a\":\"\0\"}", 9, err, sizeof err),
                     LT_EINVAL);
    assert_non_null(strstr(err, "invalid JSON"));
    /* A NULL path still gives a message. */
    assert_int_equal(lt_config_load_string(&cfg, NULL, "{\"x\":1}", 7, err, sizeof err), LT_EINVAL);
    assert_string_equal(err, "<config>: x: unknown key");
    /* No message buffer: still an error code, no crash. */
    assert_int_equal(lt_config_load_string(&cfg, "x", "{", 1, NULL, 0), LT_EINVAL);
    assert_int_equal(lt_config_load_string(&cfg, "x", "{\"x\":1}", 7, NULL, 0), LT_EINVAL);
    struct lt_cli cli;
    char *argv[] = {(char *)"livetally", (char *)"--bogus", NULL};
    assert_int_equal(lt_config_load_args(&cfg, &cli, 2, argv, NULL, 0), LT_EINVAL);
    /* A failed load leaves nothing to free and a zeroed struct. */
    assert_null(cfg.listen_host);
    assert_null(cfg.cors_allowed_origins.items);
}

static void test_args_overrides(void **state)
{
    (void)state;
    write_file("a.json", "{\"workers\": 4, \"listen\": \"127.0.0.1:9000\", \"redis\": {\"host\": "
                         "\"r\", \"cluster\": []}}");
    assert_int_equal(args("--config", "a.json", NULL), 0);
    assert_string_equal(cfg.path, "a.json");
    assert_int_equal(cfg.workers, 4);
    assert_int_equal(cfg.listen_port, 9000);
    assert_string_equal(cfg.redis_host, "r");
    lt_config_free(&cfg);

    assert_int_equal(args("--workers", "2", "--config=a.json", "--listen=[::1]:0", "--redis",
                          "10.0.0.9:7000", NULL),
                     0);
    assert_int_equal(cfg.workers, 2);
    assert_string_equal(cfg.listen_host, "::1");
    assert_int_equal(cfg.listen_port, 0);
    assert_string_equal(cfg.redis_host, "10.0.0.9");
    assert_int_equal(cfg.redis_port, 7000);
    lt_config_free(&cfg);

    /* The last of a repeated option wins. */
    assert_int_equal(args("--workers=1", "--workers", "7", NULL), 0);
    assert_int_equal(cfg.workers, 7);
    lt_config_free(&cfg);

    /* Flags. */
    struct lt_cli cli;
    char *argv[] = {(char *)"livetally", (char *)"--config", (char *)"a.json",
                    (char *)"--check-config", NULL};
    assert_int_equal(lt_config_load_args(&cfg, &cli, 4, argv, err, sizeof err), 0);
    assert_true(cli.check_config);
    assert_false(cli.help);
    assert_string_equal(cli.config_path, "a.json");
    lt_config_free(&cfg);

    /* --help and --version leave defaults and read no file, not even a bad one. */
    char *help[] = {(char *)"livetally",
                    (char *)"--config",
                    (char *)"missing.json",
                    (char *)"-h",
                    (char *)"--workers",
                    (char *)"9",
                    NULL};
    assert_int_equal(lt_config_load_args(&cfg, &cli, 6, help, err, sizeof err), 0);
    assert_true(cli.help);
    assert_default_values(&cfg);
    lt_config_free(&cfg);
    char *version[] = {(char *)"livetally", (char *)"--version", NULL};
    assert_int_equal(lt_config_load_args(&cfg, &cli, 2, version, err, sizeof err), 0);
    assert_true(cli.version);
    assert_false(cli.help);
    assert_string_equal(cli.config_path, LT_CONFIG_DEFAULT_PATH);
    lt_config_free(&cfg);
    unlink("a.json");
}

static void test_args_errors(void **state)
{
    (void)state;
    expect_args_error("--workers: \"abc\" is not a whole number", "--workers", "abc", NULL);
    expect_args_error("--workers: \"4x\" is not a whole number", "--workers=4x", NULL);
    expect_args_error("--workers: \"\" is not a whole number", "--workers=", NULL);
    expect_args_error("--workers: \" 4\" is not a whole number", "--workers", " 4", NULL);
    expect_args_error("--workers: 300 is above the maximum 256", "--workers", "300", NULL);
    expect_args_error("--workers: -1 is below the minimum 0", "--workers", "-1", NULL);
    expect_args_error("--listen: \"bad\" is not HOST:PORT (the port is missing)", "--listen", "bad",
                      NULL);
    expect_args_error("--redis: \"r:0\" has port 0 outside 1..65535", "--redis", "r:0", NULL);
    expect_args_error("--bogus: unknown option (see --help)", "--bogus", NULL);
    expect_args_error("--bogus: unknown option (see --help)", "--bogus=1", NULL);
    expect_args_error("-x: unknown option (see --help)", "-x", NULL);
    expect_args_error("stray: unexpected argument", "stray", NULL);
    expect_args_error("--listen: missing value HOST:PORT", "--listen", NULL);
    expect_args_error("--help: takes no value", "--help=yes", NULL);
    /* A syntax error is reported even alongside --help. */
    expect_args_error("--config: missing value FILE", "--help", "--config", NULL);
}

static void test_config_file_lookup(void **state)
{
    struct stat st;
    (void)state;
    /* No --config and no default file: defaults, silently. */
    assert_int_equal(stat(LT_CONFIG_DEFAULT_PATH, &st), -1);
    assert_int_equal(args(NULL), 0);
    assert_default_values(&cfg);
    assert_null(cfg.path);
    lt_config_free(&cfg);

    /* --config given and missing: an error. */
    expect_args_error("nope.json: cannot read: No such file or directory", "--config", "nope.json",
                      NULL);
    expect_args_error(LT_CONFIG_DEFAULT_PATH ": cannot read: No such file or directory", "--config",
                      LT_CONFIG_DEFAULT_PATH, NULL);
    assert_int_equal(mkdir("adir", 0700), 0);
    expect_args_error("adir: cannot read: Is a directory", "--config", "adir", NULL);

    /* The default file exists: it is read, and its errors count. */
    assert_int_equal(mkdir("config", 0700), 0);
    write_file(LT_CONFIG_DEFAULT_PATH, "{\"workers\": 3}");
    assert_int_equal(args(NULL), 0);
    assert_int_equal(cfg.workers, 3);
    assert_string_equal(cfg.path, LT_CONFIG_DEFAULT_PATH);
    lt_config_free(&cfg);
    write_file(LT_CONFIG_DEFAULT_PATH, "{\"workers\": 999}");
    expect_args_error(LT_CONFIG_DEFAULT_PATH ": workers: 999 is above the maximum 256", NULL);
    unlink(LT_CONFIG_DEFAULT_PATH);
}

static void test_secrets(void **state)
{
    (void)state;
    setenv("LT_T_REDIS_PW", "s3cret", 1);
    setenv("LT_T_OP", " tok1 , ,tok2,,\ttok3  ,", 1);
    const char *json = "{\"redis\": {\"password_env\": \"LT_T_REDIS_PW\"}, \"auth\": "
                       "{\"operator_tokens_env\": \"LT_T_OP\"}}";
    expect_ok(json);
    assert_string_equal(cfg.redis_password, "s3cret");
    assert_int_equal(cfg.operator_tokens.n, 3);
    assert_string_equal(cfg.operator_tokens.items[0], "tok1");
    assert_string_equal(cfg.operator_tokens.items[1], "tok2");
    assert_string_equal(cfg.operator_tokens.items[2], "tok3");
    lt_config_free(&cfg);

    /* Unset and empty variables mean no secret. */
    unsetenv("LT_T_REDIS_PW");
    setenv("LT_T_OP", " , ,", 1);
    expect_ok(json);
    assert_null(cfg.redis_password);
    assert_int_equal(cfg.operator_tokens.n, 0);
    lt_config_free(&cfg);
    setenv("LT_T_REDIS_PW", "", 1);
    unsetenv("LT_T_OP");
    expect_ok(json);
    assert_null(cfg.redis_password);
    assert_int_equal(cfg.operator_tokens.n, 0);
    lt_config_free(&cfg);

    /* The default variable name, and secrets through load_args too. */
    setenv("LIVETALLY_OPERATOR_TOKENS", "only", 1);
    assert_int_equal(args(NULL), 0);
    assert_int_equal(cfg.operator_tokens.n, 1);
    assert_string_equal(cfg.operator_tokens.items[0], "only");
    lt_config_free(&cfg);
    /* operator_tokens_env null: no tokens even when the default variable is set. */
    expect_ok("{\"auth\": {\"operator_tokens_env\": null}}");
    assert_int_equal(cfg.operator_tokens.n, 0);
    lt_config_free(&cfg);
    unsetenv("LT_T_KEY_A");
    unsetenv("LT_T_KEY_C");
    unsetenv("LT_T_REDIS_PW");
}

/* metrics.token_env: null leaves /metrics open; a named variable must hold
 * a token, or the load fails naming the key and the variable (never a
 * value), through the file and through the command line alike. */
static void test_metrics_token(void **state)
{
    (void)state;
    setenv("LT_T_METRICS", " tok-with, comma ", 1);
    expect_ok("{\"metrics\": {\"token_env\": \"LT_T_METRICS\"}}");
    assert_string_equal(cfg.metrics_token_env, "LT_T_METRICS");
    /* One token, taken whole: not split like the operator tokens. */
    assert_string_equal(cfg.metrics_token, " tok-with, comma ");
    lt_config_free(&cfg);
    expect_ok("{\"metrics\": {\"token_env\": null}}");
    assert_null(cfg.metrics_token_env);
    assert_null(cfg.metrics_token);
    lt_config_free(&cfg);

    static const char missing[] =
        "config/x.json: metrics.token_env: the environment variable LT_T_METRICS is not set "
        "or is empty; set it to the token GET /metrics should require, or set "
        "metrics.token_env to null to leave /metrics open";
    setenv("LT_T_METRICS", "", 1);
    expect_error("{\"metrics\": {\"token_env\": \"LT_T_METRICS\"}}", missing);
    unsetenv("LT_T_METRICS");
    expect_error("{\"metrics\": {\"token_env\": \"LT_T_METRICS\"}}", missing);
    expect_error("{\"metrics\": {\"token_env\": \"LT-T\"}}",
                 "config/x.json: metrics.token_env: \"LT-T\" is not an environment variable "
                 "name (letters, digits, _)");
    expect_error("{\"metrics\": {\"token\": \"x\"}}", "config/x.json: metrics.token: unknown key");

    write_file("m.json", "{\"metrics\": {\"token_env\": \"LT_T_METRICS\"}}");
    expect_args_error("m.json: metrics.token_env: the environment variable LT_T_METRICS is not "
                      "set or is empty; set it to the token GET /metrics should require, or "
                      "set metrics.token_env to null to leave /metrics open",
                      "--config", "m.json", "--check-config", NULL);
    setenv("LT_T_METRICS", "m-token", 1);
    assert_int_equal(args("--config", "m.json", "--check-config", NULL), 0);
    assert_string_equal(cfg.metrics_token, "m-token");
    lt_config_free(&cfg);
    unlink("m.json");
    unsetenv("LT_T_METRICS");
}

static bool trusted4(const char *ip)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
    return lt_config_is_trusted_proxy(&cfg, (const struct sockaddr *)&sin);
}

static bool trusted6(const char *ip)
{
    struct sockaddr_in6 sin6;
    memset(&sin6, 0, sizeof sin6);
    sin6.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
    return lt_config_is_trusted_proxy(&cfg, (const struct sockaddr *)&sin6);
}

static void test_trusted_proxies(void **state)
{
    (void)state;
    expect_ok("{\"trusted_proxies\": [\"10.0.0.0/8\", \"192.168.1.7\", \"2001:db8::/32\", "
              "\"::1\", \"::ffff:172.16.0.0/108\", \"100.64.0.0/10\"]}");
    assert_int_equal(cfg.n_trusted_proxies, 6);
    assert_int_equal(cfg.trusted_proxies[0].family, AF_INET);
    assert_int_equal(cfg.trusted_proxies[0].prefix_len, 8);
    assert_int_equal(cfg.trusted_proxies[1].prefix_len, 32);
    assert_int_equal(cfg.trusted_proxies[2].family, AF_INET6);
    assert_int_equal(cfg.trusted_proxies[3].prefix_len, 128);

    assert_true(trusted4("10.0.0.0"));
    assert_true(trusted4("10.255.255.255"));
    assert_false(trusted4("11.0.0.0"));
    assert_false(trusted4("9.255.255.255"));
    assert_true(trusted4("192.168.1.7"));
    assert_false(trusted4("192.168.1.6"));
    /* /10: a prefix that ends inside a byte. */
    assert_true(trusted4("100.127.255.255"));
    assert_false(trusted4("100.128.0.0"));
    assert_false(trusted4("100.63.255.255"));
    assert_true(trusted6("2001:db8:ffff::1"));
    assert_false(trusted6("2001:db9::"));
    assert_true(trusted6("::1"));
    assert_false(trusted6("::2"));
    /* An IPv4 client on a dual-stack socket matches the IPv4 entries... */
    assert_true(trusted6("::ffff:10.9.9.9"));
    assert_true(trusted6("::ffff:192.168.1.7"));
    assert_false(trusted6("::ffff:11.0.0.1"));
    /* ...and a plain IPv4 client matches an entry written in mapped form. */
    assert_true(trusted4("172.31.0.1"));
    assert_false(trusted4("172.32.0.1"));
    assert_true(trusted6("::ffff:172.16.0.1"));
    /* 10.0.0.0/8 must not match IPv6 addresses whose first bytes look alike. */
    assert_false(trusted6("a00::1"));

    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    assert_false(lt_config_is_trusted_proxy(&cfg, (const struct sockaddr *)&sun));
    assert_false(lt_config_is_trusted_proxy(&cfg, NULL));
    lt_config_free(&cfg);

    expect_ok("{\"trusted_proxies\": [\"0.0.0.0/0\"]}");
    assert_true(trusted4("1.2.3.4"));
    assert_true(trusted6("::ffff:8.8.8.8"));
    assert_false(trusted6("2001:db8::1"));
    lt_config_free(&cfg);
    expect_ok("{\"trusted_proxies\": []}");
    assert_false(trusted4("127.0.0.1"));
    lt_config_free(&cfg);

    expect_error("{\"trusted_proxies\": [\"10.1.2.3/8\"]}",
                 "config/x.json: trusted_proxies[0]: \"10.1.2.3/8\" has bits set after the prefix "
                 "(did you mean 10.0.0.0/8?)");
    expect_error("{\"trusted_proxies\": [\"::1\", \"2001:db8::1/32\"]}",
                 "config/x.json: trusted_proxies[1]: \"2001:db8::1/32\" has bits set after the "
                 "prefix (did you mean 2001:db8::/32?)");
    expect_error("{\"trusted_proxies\": [\"10.0.0.0/33\"]}",
                 "config/x.json: trusted_proxies[0]: \"10.0.0.0/33\" has a prefix length outside "
                 "0..32");
    expect_error(
        "{\"trusted_proxies\": [\"::/129\"]}",
        "config/x.json: trusted_proxies[0]: \"::/129\" has a prefix length outside 0..128");
    expect_error_prefix("{\"trusted_proxies\": [\"10.0.0.0/\"]}",
                        "config/x.json: trusted_proxies[0]: \"10.0.0.0/\" has a prefix length");
    expect_error_prefix("{\"trusted_proxies\": [\"10.0.0.0/-1\"]}",
                        "config/x.json: trusted_proxies[0]: \"10.0.0.0/-1\" has a prefix length");
    expect_error("{\"trusted_proxies\": [\"proxy.local\"]}",
                 "config/x.json: trusted_proxies[0]: \"proxy.local\" is not an IP address or "
                 "CIDR block");
    expect_error("{\"trusted_proxies\": [\"\"]}",
                 "config/x.json: trusted_proxies[0]: \"\" is not an IP address or CIDR block");
    expect_error_prefix("{\"trusted_proxies\": [\"10.0.0\"]}",
                        "config/x.json: trusted_proxies[0]: \"10.0.0\" is not an IP");
}

static void test_counters(void **state)
{
    char json[2048];
    size_t n;
    (void)state;
    expect_ok("{\"counters\": [\"shares\", \"gift_2\", \"a-b\"]}");
    assert_true(lt_config_has_counter(&cfg, "shares", 6));
    assert_true(lt_config_has_counter(&cfg, "a-b", 3));
    assert_false(lt_config_has_counter(&cfg, "share", 5));
    /* The length decides, not a terminator: "sharesx" cut at 6 is "shares". */
    assert_true(lt_config_has_counter(&cfg, "sharesx", 6));
    assert_false(lt_config_has_counter(&cfg, "sharesx", 7));
    assert_false(lt_config_has_counter(&cfg, "view", 4));
    assert_false(lt_config_has_counter(&cfg, "", 0));
    lt_config_free(&cfg);

    const char *reserved[] = {"view", "like", "views", "likes", "online", "uniques"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        char message[256];
        snprintf(json, sizeof json, "{\"counters\": [\"%s\"]}", reserved[i]);
        snprintf(message, sizeof message,
                 "config/x.json: counters[0]: \"%s\" is reserved for a built-in count",
                 reserved[i]);
        expect_error(json, message);
    }
    expect_error("{\"counters\": [\"Shares\"]}",
                 "config/x.json: counters[0]: \"Shares\" is not a valid counter name (1-32 "
                 "characters of a-z 0-9 _ -)");
    expect_error_prefix("{\"counters\": [\"a.b\"]}",
                        "config/x.json: counters[0]: \"a.b\" is not a valid counter name");
    expect_error("{\"counters\": [\"\"]}", "config/x.json: counters[0]: must not be empty");
    expect_error("{\"counters\": [\"x\", \"y\", \"x\"]}",
                 "config/x.json: counters[2]: \"x\" is listed twice");
    expect_ok("{\"counters\": [\"abcdefghijklmnopqrstuvwxyz012345\"]}"); /* 32 chars */
    lt_config_free(&cfg);
    expect_error_prefix("{\"counters\": [\"abcdefghijklmnopqrstuvwxyz0123456\"]}",
                        "config/x.json: counters[0]: \"abcdefghijklmnopqrstuvwxyz0123456\" is not");

    /* At most 32. */
    n = (size_t)snprintf(json, sizeof json, "{\"counters\": [");
    for (int i = 0; i < 32; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "%s\"c%d\"", i ? ", " : "", i);
    snprintf(json + n, sizeof json - n, "]}");
    expect_ok(json);
    assert_int_equal(cfg.counters.n, 32);
    assert_true(lt_config_has_counter(&cfg, "c31", 3));
    lt_config_free(&cfg);
    snprintf(json + n, sizeof json - n, ", \"c32\"]}");
    expect_error(json, "config/x.json: counters: has 33 items, at most 32 are allowed");
}

static void test_cors(void **state)
{
    const char *good[] = {"*",
                          "https://example.com",
                          "http://localhost:3000",
                          "http://[::1]:8080",
                          "https://a.b-c.example",
                          "http://127.0.0.1"};
    const char *bad[] = {"ftp://example.com",
                         "example.com",
                         "https://example.com/",
                         "https://example.com/x",
                         "https://Example.com",
                         "https://",
                         "http://host:0",
                         "http://host:99999",
                         "http://host:",
                         "https://user@host",
                         "http://[::1",
                         "https://*.example.com",
                         "null",
                         "https://a.com?x"};
    char json[256];
    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(json, sizeof json, "{\"cors\": {\"allowed_origins\": [\"%s\"]}}", good[i]);
        expect_ok(json);
        assert_string_equal(cfg.cors_allowed_origins.items[0], good[i]);
        lt_config_free(&cfg);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char prefix[256];
        snprintf(json, sizeof json, "{\"cors\": {\"allowed_origins\": [\"*\", \"%s\"]}}", bad[i]);
        snprintf(prefix, sizeof prefix, "config/x.json: cors.allowed_origins[1]: \"%s\" ", bad[i]);
        expect_error_prefix(json, prefix);
    }
    expect_error("{\"cors\": {\"allowed_origins\": [\"https://Example.com\"]}}",
                 "config/x.json: cors.allowed_origins[0]: \"https://Example.com\" is not an "
                 "origin: browsers send it in lowercase");
    expect_error("{\"cors\": {\"allowed_origins\": [\"https://example.com/\"]}}",
                 "config/x.json: cors.allowed_origins[0]: \"https://example.com/\" is not an "
                 "origin: scheme://host[:port] with no path or slash");
}

static void test_auth_sources(void **state)
{
    (void)state;
    /* {"<source>": {"key_env": "VAR"}}: each key read from its variable;
     * a bad entry is refused naming the source and what is wrong. */
    expect_ok("{\"auth\": {\"sources\": {}}}");
    assert_int_equal(cfg.n_sources, 0);
    lt_config_free(&cfg);
    setenv("LT_T_KEY_P", "pk", 1);
    unsetenv("LT_T_KEY_Q");
    expect_ok("{\"auth\": {\"sources\": {\"p\": {\"key_env\": \"LT_T_KEY_P\"}, "
              "\"q-2\": {\"key_env\": \"LT_T_KEY_Q\"}}}}");
    assert_int_equal(cfg.n_sources, 2);
    const struct lt_source_key *p = lt_config_find_source(&cfg, "p", 1);
    assert_non_null(p);
    assert_string_equal(p->key_env, "LT_T_KEY_P");
    assert_string_equal(p->key, "pk");
    const struct lt_source_key *q = lt_config_find_source(&cfg, "q-2", 3);
    assert_non_null(q);
    assert_null(q->key);
    assert_null(lt_config_find_source(&cfg, "q", 1));
    /* The JSON form names the variables, never the keys. */
    char *json = lt_config_to_json(&cfg);
    assert_non_null(strstr(json, "\"sources\":{\"p\":{\"key_env\":\"LT_T_KEY_P\"}"));
    assert_null(strstr(json, "pk\""));
    lt_free(json);
    lt_config_free(&cfg);
    expect_error("{\"auth\": {\"sources\": []}}",
                 "config/x.json: auth.sources: expected an object {\"<source>\": {\"key_env\": "
                 "\"VAR\"}}, got a list");
    expect_error("{\"auth\": {\"sources\": {\"Bad Id\": {\"key_env\": \"A\"}}}}",
                 "config/x.json: auth.sources: \"Bad Id\" is not a valid source id (1-32 "
                 "characters of a-z 0-9 _ -)");
    expect_error("{\"auth\": {\"sources\": {\"p\": \"A\"}}}",
                 "config/x.json: auth.sources.p: expected an object {\"key_env\": \"VAR\"}, got "
                 "a string");
    expect_error("{\"auth\": {\"sources\": {\"p\": {}}}}",
                 "config/x.json: auth.sources.p.key_env: is missing: name the environment "
                 "variable holding the key");
    expect_error("{\"auth\": {\"sources\": {\"p\": {\"key\": \"secret\"}}}}",
                 "config/x.json: auth.sources.p: unknown key \"key\" (only key_env)");
    expect_error("{\"auth\": {\"sources\": {\"p\": {\"key_env\": 3}}}}",
                 "config/x.json: auth.sources.p.key_env: expected a string, got a whole number");
    expect_error("{\"auth\": {\"sources\": {\"p\": {\"key_env\": \"A-B\"}}}}",
                 "config/x.json: auth.sources.p.key_env: \"A-B\" is not an environment variable "
                 "name (letters, digits, _)");
}

static void test_help_lists_every_key(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    (void)state;
    lt_config_print_help(f);
    fclose(f);
    for (size_t i = 0; i < N_KEYS; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "\n  %s (", all_keys[i]);
        if (!strstr(text, needle))
            fail_msg("--help does not list %s", all_keys[i]);
    }
    assert_non_null(strstr(text, "--config FILE"));
    assert_non_null(strstr(text, "--listen HOST:PORT"));
    assert_non_null(strstr(text, "--redis HOST:PORT"));
    assert_non_null(strstr(text, "--workers N"));
    assert_non_null(strstr(text, "--check-config"));
    assert_non_null(strstr(text, "-h, --help"));
    assert_non_null(strstr(text, "--version"));
    assert_non_null(strstr(text, "limits.max_body_bytes (integer, default 65536, 1024..16777216)"));
    assert_non_null(strstr(text, "listen (string HOST:PORT, default \"127.0.0.1:8080\", port "
                                 "0..65535, needs a restart)"));
    assert_non_null(strstr(text, "before ingest answers 503"));
    free(text);
}

static char *render_markdown(size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    lt_config_print_markdown(f);
    fclose(f);
    return text;
}

static void test_docs_up_to_date(void **state)
{
    size_t want_len = 0, have_len = 0;
    char *want = render_markdown(&want_len);
    char *have = read_file(DOCS_PATH, &have_len);
    (void)state;
    for (size_t i = 0; i < N_KEYS; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "| `%s` |", all_keys[i]);
        if (!strstr(want, needle))
            fail_msg("the markdown does not list %s", all_keys[i]);
    }
    if (!have || have_len != want_len || memcmp(have, want, want_len) != 0) {
        free(have);
        free(want);
        fail_msg("%s is out of date; regenerate with: build/tests/test_config --write-docs",
                 DOCS_PATH);
    }
    free(have);
    free(want);
}

/* Marks each leaf of a shipped config that is a known key; anything else
 * fails the test. */
static void collect_keys(json_t *obj, const char *prefix, bool *seen)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        char name[128];
        size_t i;
        snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", k);
        for (i = 0; i < N_KEYS && strcmp(all_keys[i], name) != 0; i++)
            ;
        if (i < N_KEYS)
            seen[i] = true;
        else if (json_is_object(v))
            collect_keys(v, name, seen);
        else
            fail_msg("unexpected key %s", name);
    }
}

static void assert_has_every_key(const char *path)
{
    bool seen[N_KEYS] = {false};
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        fail_msg("%s: %s", path, jerr.text);
    collect_keys(root, "", seen);
    json_decref(root);
    for (size_t i = 0; i < N_KEYS; i++)
        if (!seen[i])
            fail_msg("%s does not set %s", path, all_keys[i]);
}

static void test_shipped_configs(void **state)
{
    (void)state;
    unsetenv("LIVETALLY_OPERATOR_TOKENS");
    assert_int_equal(args("--config", LT_SOURCE_DIR "/config/livetally.json", NULL), 0);
    assert_default_values(&cfg);
    lt_config_free(&cfg);
    assert_has_every_key(LT_SOURCE_DIR "/config/livetally.json");

    /* It names every secret's variable; the metrics token must be set. */
    setenv("LIVETALLY_METRICS_TOKEN", "example-metrics-token", 1);
    if (args("--config", LT_SOURCE_DIR "/config/example-full.json", NULL) != 0)
        fail_msg("%s", err);
    unsetenv("LIVETALLY_METRICS_TOKEN");
    assert_string_equal(cfg.metrics_token, "example-metrics-token");
    assert_true(cfg.counters.n > 0);
    assert_true(cfg.n_trusted_proxies > 0);
    lt_config_free(&cfg);
    assert_has_every_key(LT_SOURCE_DIR "/config/example-full.json");
}

/* Every path, successful or not, gives back all it allocated. */
static void test_no_leaks(void **state)
{
    static const char *const inputs[] = {
        "{}",
        /* Parenthesised: one element cut over lines (clang's
         * -Wstring-concatenation asks for it). */
        ("{\"counters\": [\"a\", \"b\"], \"redis\": {\"password_env\": \"LT_T_PW\", "
         "\"cluster\": []}, \"auth\": {\"sources\": {}}, \"trusted_proxies\": [\"::1\"], "
         "\"web_root\": \"/w\"}"),
        "{\"counters\": [\"a\", \"view\"]}",
        ("{\"auth\": {\"sources\": {\"s\": {\"key_env\": \"LT_T_PW\"}, \"t\": {\"key_env\": "
         "\"A\"}}}}"),
        "{\"auth\": {\"sources\": {\"s\": {\"key_env\": \"LT_T_PW\"}, \"t\": {\"key_env\": 1}}}}",
        "{\"trusted_proxies\": [\"::1\", \"x\"]}",
        "{\"listen\": \"[::1]:1\", \"redis\": {\"cluster\": [\"r:1\"], \"db\": 1}}",
        "{\"workers\": 1,",
        "[]",
        "{\"metrics\": {\"token_env\": \"LT_T_PW\"}}",
        "{\"metrics\": {\"token_env\": \"LT_T_UNSET_METRICS\"}}",
    };
    int64_t before = lt_mem_live_bytes();
    (void)state;
    setenv("LT_T_PW", "pw", 1);
    setenv("LIVETALLY_OPERATOR_TOKENS", "a,b", 1);
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        load(inputs[i]);
        lt_config_free(&cfg);
        if (lt_mem_live_bytes() != before)
            fail_msg("%s: %lld bytes left", inputs[i], (long long)(lt_mem_live_bytes() - before));
    }
    assert_int_equal(args("--listen", "[::1]:0", "--redis", "h:1", "--workers", "2", NULL), 0);
    lt_config_free(&cfg);
    assert_int_equal(args("--redis", "h:1", "--workers", "x", NULL), LT_EINVAL);
    lt_config_free(&cfg);
    assert_int_equal(lt_mem_live_bytes(), before);
    unsetenv("LT_T_PW");
}

/* lt_config_to_json's text loads back into the same config: what the
 * master sends its workers on SIGHUP is what it checked. */
static void test_to_json_round_trip(void **state)
{
    static const char *const inputs[] = {
        "{}",
        "{\"listen\": \"[::1]:0\", \"workers\": 3, \"redis\": {\"host\": \"r.internal\", \"port\": "
        "6380, \"password_env\": \"LT_T_PW\", \"db\": 2}, \"counters\": [\"shares\", \"gifts\"], "
        "\"cors\": {\"allowed_origins\": [\"https://a.example\", \"http://[::1]:3000\"]}, "
        "\"auth\": {\"operator_tokens_env\": null}, \"trusted_proxies\": [\"10.0.0.0/8\", "
        "\"::1\", \"fe80::/10\"], \"streams\": {\"auto_create\": false}, \"web_root\": \"/w\", "
        "\"limits\": {\"max_body_bytes\": 2048}, \"log_level\": \"warn\"}",
    };
    (void)state;
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        assert_int_equal(load(inputs[i]), 0);
        char *text = lt_config_to_json(&cfg);
        struct lt_config again;
        if (lt_config_load_string(&again, "again.json", text, strlen(text), err, sizeof err) != 0)
            fail_msg("%s: %s", text, err);
        char *text2 = lt_config_to_json(&again);
        assert_string_equal(text, text2);
        assert_int_equal(again.listen_port, cfg.listen_port);
        assert_string_equal(again.listen_host, cfg.listen_host);
        assert_int_equal(again.n_trusted_proxies, cfg.n_trusted_proxies);
        assert_int_equal(again.max_body_bytes, cfg.max_body_bytes);
        assert_int_equal(again.cors_allowed_origins.n, cfg.cors_allowed_origins.n);
        lt_free(text);
        lt_free(text2);
        lt_config_free(&again);
        lt_config_free(&cfg);
    }
}

struct kept_log {
    char keys[512];
    int n;
};

static void on_kept(void *arg, const char *key, const char *running, const char *wanted)
{
    struct kept_log *log = arg;
    size_t len = strlen(log->keys);
    snprintf(log->keys + len, sizeof log->keys - len, "%s%s=%s->%s", log->n ? " " : "", key,
             running, wanted);
    log->n++;
}

/* Keys that need a restart keep their running value on a reload; the
 * others take the new one. */
static void test_keep_restart_only(void **state)
{
    struct lt_config running, next;
    struct kept_log log;
    (void)state;
    assert_int_equal(load("{\"listen\": \"127.0.0.1:8080\", \"workers\": 2, \"redis\": {\"port\": "
                          "6390}, \"counters\": [\"shares\"], \"limits\": {\"max_body_bytes\": "
                          "4096}, \"cors\": {\"allowed_origins\": [\"https://a.example\"]}}"),
                     0);
    running = cfg;
    assert_int_equal(load("{\"listen\": \"127.0.0.1:9090\", \"workers\": 2, \"redis\": {\"port\": "
                          "6391}, \"counters\": [\"gifts\"], \"limits\": {\"max_body_bytes\": "
                          "8192}, \"cors\": {\"allowed_origins\": [\"https://b.example\"]}, "
                          "\"views\": {\"dedup_seconds\": 5}}"),
                     0);
    next = cfg;
    memset(&log, 0, sizeof log);
    assert_int_equal(lt_config_keep_restart_only(&next, &running, on_kept, &log), 4);
    assert_string_equal(log.keys, "listen=\"127.0.0.1:8080\"->\"127.0.0.1:9090\" "
                                  "redis.port=6390->6391 views.dedup_seconds=1800->5 "
                                  "counters=[\"shares\"]->[\"gifts\"]");
    assert_int_equal(next.listen_port, 8080);
    assert_int_equal(next.redis_port, 6390);
    assert_int_equal(next.views_dedup_seconds, 1800);
    assert_string_equal(next.counters.items[0], "shares");
    /* Reloadable keys take the new values. */
    assert_int_equal(next.max_body_bytes, 8192);
    assert_string_equal(next.cors_allowed_origins.items[0], "https://b.example");
    /* Nothing to keep: nothing reported. */
    memset(&log, 0, sizeof log);
    assert_int_equal(lt_config_keep_restart_only(&next, &running, on_kept, &log), 0);
    assert_int_equal(log.n, 0);
    lt_config_free(&running);
    lt_config_free(&next);
    memset(&cfg, 0, sizeof cfg);
}

/* A snapshot lives until its last reference goes, then gives back all it
 * held: a reload leaks nothing. */
static void test_snapshots(void **state)
{
    (void)state;
    int64_t before = lt_mem_live_bytes();
    for (int round = 0; round < 3; round++) {
        assert_int_equal(load("{\"counters\": [\"a\"], \"trusted_proxies\": [\"::1\"], "
                              "\"web_root\": \"/w\"}"),
                         0);
        const struct lt_config *snap = lt_config_snapshot(&cfg);
        assert_null(cfg.listen_host); /* moved out */
        assert_int_equal(snap->refs, 1);
        assert_string_equal(snap->web_root, "/w");
        const struct lt_config *again = lt_config_ref(snap);
        assert_ptr_equal(again, snap);
        assert_int_equal(snap->refs, 2);
        lt_config_unref(snap);
        /* Still readable through the other reference. */
        assert_string_equal(again->counters.items[0], "a");
        lt_config_unref(again);
        if (lt_mem_live_bytes() != before)
            fail_msg("round %d: %lld bytes left", round, (long long)(lt_mem_live_bytes() - before));
    }
    lt_config_unref(NULL);
}

static int write_docs(void)
{
    FILE *f = fopen(DOCS_PATH, "w");
    if (!f) {
        perror(DOCS_PATH);
        return 1;
    }
    lt_config_print_markdown(f);
    if (fclose(f) != 0) {
        perror(DOCS_PATH);
        return 1;
    }
    printf("wrote %s\n", DOCS_PATH);
    return 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_defaults, teardown),
        cmocka_unit_test_teardown(test_every_type, teardown),
        cmocka_unit_test_teardown(test_unknown_keys, teardown),
        cmocka_unit_test_teardown(test_bounds, teardown),
        cmocka_unit_test_teardown(test_wrong_types, teardown),
        cmocka_unit_test_teardown(test_strings, teardown),
        cmocka_unit_test_teardown(test_host_port, teardown),
        cmocka_unit_test_teardown(test_invalid_json, teardown),
        cmocka_unit_test_teardown(test_args_overrides, teardown),
        cmocka_unit_test_teardown(test_args_errors, teardown),
        cmocka_unit_test_teardown(test_config_file_lookup, teardown),
        cmocka_unit_test_teardown(test_secrets, teardown),
        cmocka_unit_test_teardown(test_metrics_token, teardown),
        cmocka_unit_test_teardown(test_trusted_proxies, teardown),
        cmocka_unit_test_teardown(test_counters, teardown),
        cmocka_unit_test_teardown(test_cors, teardown),
        cmocka_unit_test_teardown(test_auth_sources, teardown),
        cmocka_unit_test_teardown(test_help_lists_every_key, teardown),
        cmocka_unit_test_teardown(test_docs_up_to_date, teardown),
        cmocka_unit_test_teardown(test_shipped_configs, teardown),
        cmocka_unit_test_teardown(test_no_leaks, teardown),
        cmocka_unit_test_teardown(test_to_json_round_trip, teardown),
        cmocka_unit_test_teardown(test_keep_restart_only, teardown),
        cmocka_unit_test_teardown(test_snapshots, teardown),
    };
    /* Parsed before cmocka, which would take the flag for its own. */
    if (argc > 1 && strcmp(argv[1], "--write-docs") == 0)
        return write_docs();
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
