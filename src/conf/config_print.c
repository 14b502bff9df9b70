/* What prints the option table: the running config as JSON
 * (lt_config_to_json), --help and docs/configuration.md (config.h). */
#include "livetally/base/error.h"
#include "livetally/base/ids.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"

#include "config_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One option's value as the JSON a file would hold for it. */
json_t *conf_option_to_json(const struct lt_config *cfg, const struct option *opt)
{
    struct lt_config *c = (struct lt_config *)cfg; /* conf_field() is read here */
    char buf[INET6_ADDRSTRLEN + 16];

    switch (opt->type) {
    case OPT_INT:
        return json_integer(*(int *)conf_field(c, opt->off));
    case OPT_BOOL:
        return json_boolean(*(bool *)conf_field(c, opt->off));
    case OPT_STRING:
    case OPT_NULLABLE_STRING: {
        const char *str = *(char **)conf_field(c, opt->off);
        return str ? json_string(str) : json_null();
    }
    case OPT_HOST_PORT: {
        const char *host = *(char **)conf_field(c, opt->off);
        int port = *(int *)conf_field(c, opt->off2);
        bool v6 = strchr(host, ':') != NULL;
        return json_sprintf("%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
    }
    case OPT_STRING_LIST: {
        const struct lt_strlist *list = conf_field(c, opt->off);
        json_t *a = json_array();
        for (size_t i = 0; i < list->n; i++)
            json_array_append_new(a, json_string(list->items[i]));
        return a;
    }
    case OPT_PROXIES: {
        const struct lt_cidr *cidrs = *(struct lt_cidr **)conf_field(c, opt->off);
        size_t n = *(size_t *)conf_field(c, opt->off2);
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            char addr[INET6_ADDRSTRLEN];
            inet_ntop(cidrs[i].family, cidrs[i].addr, addr, sizeof addr);
            snprintf(buf, sizeof buf, "%s/%d", addr, cidrs[i].prefix_len);
            json_array_append_new(a, json_string(buf));
        }
        return a;
    }
    case OPT_SOURCES: { /* the variables' names, never the keys */
        const struct lt_source_key *list = *(struct lt_source_key **)conf_field(c, opt->off);
        size_t n = *(size_t *)conf_field(c, opt->off2);
        json_t *o = json_object();
        for (size_t i = 0; i < n; i++)
            json_object_set_new(o, list[i].name, json_pack("{s:s}", "key_env", list[i].key_env));
        return o;
    }
    }
    return json_null();
}

char *lt_config_to_json(const struct lt_config *cfg)
{
    json_t *root = json_object();
    for (size_t i = 0; i < conf_n_options; i++) {
        const struct option *opt = &conf_options[i];
        char name[128];
        json_t *obj = root;
        snprintf(name, sizeof name, "%s", opt->name);
        /* "limits.max_body_bytes": {"limits": {"max_body_bytes": ...}}. */
        char *part = name, *dot;
        while ((dot = strchr(part, '.')) != NULL) {
            *dot = '\0';
            json_t *sub = json_object_get(obj, part);
            if (!sub) {
                sub = json_object();
                json_object_set_new(obj, part, sub);
            }
            obj = sub;
            part = dot + 1;
        }
        json_object_set_new(obj, part, conf_option_to_json(cfg, opt));
    }
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    /* jansson allocates through lt_mem (lt_mem_install_hooks) or malloc;
     * hand back an lt_malloc'd copy so the caller has one rule: lt_free. */
    char *out = lt_strdup(text);
    conf_json_text_free(text);
    return out;
}


static const char *opt_type_name(const struct option *opt)
{
    static const char *const names[] = {
        [OPT_INT] = "integer",
        [OPT_BOOL] = "boolean",
        [OPT_STRING] = "string",
        [OPT_NULLABLE_STRING] = "string or null",
        [OPT_STRING_LIST] = "list of strings",
        [OPT_HOST_PORT] = "string HOST:PORT",
        [OPT_PROXIES] = "list of addresses",
        [OPT_SOURCES] = "object",
    };
    return names[opt->type];
}

static const char *opt_bounds(const struct option *opt, char *buf, size_t len)
{
    buf[0] = '\0';
    if (opt->type == OPT_INT)
        snprintf(buf, len, "%lld..%lld", opt->min, opt->max);
    else if (opt->type == OPT_HOST_PORT)
        snprintf(buf, len, "port %lld..%lld", opt->min, opt->max);
    else if (opt->type == OPT_STRING_LIST && opt->max > 0)
        snprintf(buf, len, "at most %lld items", opt->max);
    else if (opt->type == OPT_SOURCES)
        snprintf(buf, len, "at most %lld sources", opt->max);
    return buf;
}

static const char *cli_synopsis(const struct cli_option *o, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "", o->name,
             o->arg ? " " : "", o->arg ? o->arg : "");
    return buf;
}

void lt_config_print_help(FILE *out)
{
    char buf[64]; /* opt_bounds and cli_synopsis: short texts of ours */

    fprintf(out, "usage: livetally");
    for (size_t i = 0; i < conf_n_cli_options; i++)
        fprintf(out, " [%s%s%s]", conf_cli_options[i].name, conf_cli_options[i].arg ? " " : "",
                conf_cli_options[i].arg ? conf_cli_options[i].arg : "");
    fprintf(out, "\n\noptions:\n");
    for (size_t i = 0; i < conf_n_cli_options; i++)
        fprintf(out, "  %-22s %s\n", cli_synopsis(&conf_cli_options[i], buf, sizeof buf),
                conf_cli_options[i].help);
    fprintf(out, "\nconfig file keys (JSON; \"limits.max_body_bytes\" is written "
                 "{\"limits\": {\"max_body_bytes\": ...}}):\n");
    for (size_t i = 0; i < conf_n_options; i++) {
        const struct option *opt = &conf_options[i];
        opt_bounds(opt, buf, sizeof buf);
        fprintf(out, "  %s (%s, default %s%s%s%s)\n      %s\n", opt->name, opt_type_name(opt),
                opt->def, buf[0] ? ", " : "", buf, opt->restart ? ", needs a restart" : "",
                opt->help);
    }
}

/* Table cells cannot hold a bare '|'. */
static void md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

void lt_config_print_markdown(FILE *out)
{
    char buf[64]; /* opt_bounds and cli_synopsis: short texts of ours */

    fprintf(out,
            "# Configuration\n\n"
            "<!-- Generated from the option table in src/conf/config.c; do not edit by hand.\n"
            "     Regenerate with: build/tests/test_config --write-docs -->\n\n"
            "livetally reads one JSON file. A dotted key below names nested objects:\n"
            "`limits.max_body_bytes` is written `{\"limits\": {\"max_body_bytes\": 65536}}`.\n"
            "An unknown key, a value of the wrong type or out of bounds, or invalid JSON\n"
            "stops the server with a message naming the file and the key, e.g.\n"
            "`config/x.json: limits.max_body_bytes: 10 is below the minimum 1024`.\n\n"
            "[`config/livetally.json`](../config/livetally.json) holds every default;\n"
            "[`config/example-full.json`](../config/example-full.json) sets every key.\n\n"
            "## How the file is found\n\n"
            "1. Every key starts at its default (table below).\n"
            "2. With `--config FILE`, that file is read; if it cannot be read, livetally\n"
            "   exits with an error. Without `--config`, `%s` (relative to the\n"
            "   working directory) is read if it exists; if it does not, the defaults are\n"
            "   used, so the binary runs from any directory.\n"
            "3. Command-line overrides are applied, with the same checks as the file.\n"
            "4. Secrets are read from the environment variables the config names:\n"
            "   `redis.password_env`, `auth.operator_tokens_env` (tokens split on `,`,\n"
            "   blanks trimmed, empty items dropped), each `auth.sources.<source>.key_env`\n"
            "   (one partner key) and `metrics.token_env` (the one token GET /metrics\n"
            "   needs). An unset or empty variable means no secret, except for\n"
            "   `metrics.token_env`: a config that names it while it is unset or empty is\n"
            "   refused (at start, by `--check-config` and on SIGHUP), so /metrics never\n"
            "   opens by mistake. On SIGHUP each worker reads the variables the reloaded\n"
            "   config names again: a running process' environment cannot be changed\n"
            "   from outside, so tokens and keys are rotated by pointing the config at\n"
            "   another variable (set when the server started) and sending SIGHUP. No\n"
            "   token, key or password is ever logged.\n\n"
            "## Reloading\n\n"
            "On SIGHUP the master reads the file again (with the same command-line\n"
            "overrides) and checks it. When it has an error, the master logs it and\n"
            "everything keeps running on the old config. Otherwise every worker switches\n"
            "to the new config between two events of its loop, without dropping a\n"
            "connection, and a worker restarted later starts with it. Keys marked\n"
            "*restart* in the table below keep their running value until the server is\n"
            "restarted; a change to one is logged as needing a restart.\n\n"
            "## Command line\n\n"
            "| option | meaning |\n"
            "|---|---|\n",
            LT_CONFIG_DEFAULT_PATH);
    for (size_t i = 0; i < conf_n_cli_options; i++) {
        fprintf(out, "| `%s` | ", cli_synopsis(&conf_cli_options[i], buf, sizeof buf));
        md_cell(out, conf_cli_options[i].help);
        fprintf(out, " |\n");
    }
    fprintf(out, "\n`--opt value` and `--opt=value` are both accepted.\n\n"
                 "## Keys\n\n"
                 "| key | type | default | bounds | on SIGHUP | meaning |\n"
                 "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < conf_n_options; i++) {
        const struct option *opt = &conf_options[i];
        fprintf(out, "| `%s` | ", opt->name);
        md_cell(out, opt_type_name(opt));
        fprintf(out, " | `");
        md_cell(out, opt->def);
        fprintf(out, "` | %s | %s | ", opt_bounds(opt, buf, sizeof buf),
                opt->restart ? "*restart*" : "applied");
        md_cell(out, opt->help);
        fprintf(out, " |\n");
    }
    fprintf(out, "\n## Shapes of the structured keys\n\n"
                 "```json\n"
                 "{\n"
                 "  \"listen\": \"[::1]:8080\",\n"
                 "  \"counters\": [\"shares\", \"gifts\"],\n"
                 "  \"cors\": {\"allowed_origins\": [\"https://example.com\", "
                 "\"http://localhost:3000\"]},\n"
                 "  \"trusted_proxies\": [\"10.0.0.0/8\", \"::1\"]\n"
                 "}\n"
                 "```\n\n"
                 "Counter names are " ID_RULE ". An origin is\n"
                 "`scheme://host[:port]` in lowercase with no path. A trusted proxy may not\n"
                 "have bits set after its prefix (`10.0.0.0/8`, not `10.1.2.3/8`); an IPv4\n"
                 "entry also matches the same client seen as `::ffff:a.b.c.d`.\n");
}
