/* One-line log records on stderr, as text or JSON (see log.h). */
#include "livetally/base/log.h"

#include "livetally/base/clock.h"
#include "livetally/base/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum lt_log_level min_level = LT_LOG_INFO;
static enum lt_log_format format = LT_LOG_TEXT;
/* Longest message, and longest text record (the newline included). */
#define LT_LOG_MAX (64 * 1024)
/* Longest record: a message of LT_LOG_MAX bytes escaped in JSON (each byte
 * at most 6: \u00XX), the other fields well inside the rest. */
#define LT_LOG_RECORD_MAX (6 * LT_LOG_MAX + 1024)

/* "worker[N]" and "master" fit; a longer tag would be cut (harmless). */
static char process_tag[32] = "livetally";

/* See lt_log_set_request. */
static const char *request_id;

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const format_names[] = {"text", "json"};

void lt_log_set_level(enum lt_log_level level)
{
    min_level = level;
}

int lt_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

void lt_log_set_format(enum lt_log_format f)
{
    format = f;
}

int lt_log_format_parse(const char *name)
{
    for (int i = 0; i < 2; i++)
        if (strcmp(name, format_names[i]) == 0)
            return i;
    return -1;
}

void lt_log_configure(const char *level, const char *fmt)
{
    int l = level ? lt_log_level_parse(level) : -1;
    if (l >= 0)
        lt_log_set_level((enum lt_log_level)l);
    int f = fmt ? lt_log_format_parse(fmt) : -1;
    if (f >= 0)
        lt_log_set_format((enum lt_log_format)f);
}

void lt_log_set_process(const char *tag)
{
    snprintf(process_tag, sizeof process_tag, "%s", tag);
}

void lt_log_set_request(const char *id)
{
    request_id = id;
}

const char *lt_log_request(void)
{
    return request_id;
}

/* "2026-11-29T02:40:00.250Z worker[1] warn store: <msg> req=<id>\n" */
static int render_text(struct lt_strbuf *line, const struct lt_log_record *r)
{
    char stamp[32]; /* lt_format_rfc3339's documented minimum */
    lt_strbuf_add(line, stamp, lt_format_rfc3339(r->wall_ms, 1, stamp, sizeof stamp));
    lt_strbuf_addf(line, " %s %s %s: ", r->proc, level_names[r->level], r->module);
    lt_strbuf_add(line, r->msg, r->msg_len);
    if (r->req)
        lt_strbuf_addf(line, " req=%s", r->req);
    return lt_strbuf_add_char(line, '\n'); /* refused if anything before was */
}

/* ,"name":"value" (value JSON-escaped) */
static void add_field(struct lt_strbuf *line, const char *name, const char *value, size_t len)
{
    lt_strbuf_addf(line, ",\"%s\":", name);
    lt_strbuf_add_json_string(line, value, len);
}

/* {"ts":"2026-11-29T02:40:00.250Z","level":"warn","proc":"worker[1]",
 *  "module":"store","msg":"<msg>","req":"<id>"}\n, every string escaped
 * (strbuf.h), so any bytes in a message still make one JSON line. */
static int render_json(struct lt_strbuf *line, const struct lt_log_record *r)
{
    char stamp[32];
    lt_strbuf_add_str(line, "{\"ts\":");
    lt_strbuf_add_json_string(line, stamp, lt_format_rfc3339(r->wall_ms, 1, stamp, sizeof stamp));
    add_field(line, "level", level_names[r->level], strlen(level_names[r->level]));
    add_field(line, "proc", r->proc, strlen(r->proc));
    add_field(line, "module", r->module, strlen(r->module));
    add_field(line, "msg", r->msg, r->msg_len);
    if (r->req)
        add_field(line, "req", r->req, strlen(r->req));
    return lt_strbuf_add(line, "}\n", 2); /* refused if anything before was */
}

int lt_log_render(struct lt_strbuf *line, enum lt_log_format f, const struct lt_log_record *r)
{
    if ((unsigned)r->level > LT_LOG_ERROR)
        return -1;
    return f == LT_LOG_JSON ? render_json(line, r) : render_text(line, r);
}

void lt_log(enum lt_log_level level, const char *module, const char *fmt, ...)
{
    if (level < min_level)
        return;
    /* Format the message, then the whole record, and write it with one
     * write(2), so lines from several workers sharing stderr never
     * interleave. Text longer than the stack's 2 KB grows on the heap; a
     * message past LT_LOG_MAX is replaced by a note saying so. */
    char msg_stack[2048], line_stack[2048];
    struct lt_strbuf msg, line;
    lt_strbuf_init(&msg, msg_stack, sizeof msg_stack, LT_LOG_MAX);
    va_list ap;
    va_start(ap, fmt);
    int rc = lt_strbuf_vaddf(&msg, fmt, ap);
    va_end(ap);
    static const char too_long[] = "(a message too long to log)";
    struct lt_log_record r = {lt_wall_ms(),
                              process_tag,
                              level,
                              module,
                              rc == 0 ? lt_strbuf_text(&msg) : too_long,
                              rc == 0 ? msg.len : sizeof too_long - 1,
                              request_id};
    lt_strbuf_init(&line, line_stack, sizeof line_stack, LT_LOG_RECORD_MAX);
    if (lt_log_render(&line, format, &r) != 0) {
        /* Cannot happen within LT_LOG_RECORD_MAX; say so rather than drop it. */
        lt_strbuf_free(&line);
        lt_strbuf_init(&line, line_stack, sizeof line_stack, LT_LOG_RECORD_MAX);
        r.msg = too_long;
        r.msg_len = sizeof too_long - 1;
        lt_log_render(&line, format, &r);
    }
    ssize_t w = write(STDERR_FILENO, lt_strbuf_text(&line), line.len);
    (void)w;
    lt_strbuf_free(&line);
    lt_strbuf_free(&msg);
}
