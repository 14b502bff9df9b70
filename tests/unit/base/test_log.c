/* Unit tests of log.c: the text line as before, the JSON line (every field,
 * req only when set, any bytes of a message still one line of valid JSON
 * that reads back to the message), lt_log itself writing one JSON line per
 * record to stderr (captured through a pipe), level filtering, the format
 * switch, and a message too long to log. */
#include "livetally/base/log.h"

#include "livetally/base/strbuf.h"

#include <jansson.h>

#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

/* 2026-11-29T02:40:00.250Z */
#define WALL_MS 1795920000250LL

static char *render(enum lt_log_format f, const struct lt_log_record *r)
{
    struct lt_strbuf sb;
    lt_strbuf_init(&sb, NULL, 0, 1 << 22);
    assert_int_equal(lt_log_render(&sb, f, r), 0);
    char *text = strdup(lt_strbuf_text(&sb));
    lt_strbuf_free(&sb);
    return text;
}

/* One JSON object and a newline, nothing else; returns the object. */
static json_t *parse_line(const char *line)
{
    size_t len = strlen(line);
    assert_true(len > 0 && line[len - 1] == '\n');
    assert_null(memchr(line, '\n', len - 1));
    json_error_t err;
    json_t *o = json_loadb(line, len - 1, JSON_ALLOW_NUL, &err);
    if (!o)
        fail_msg("not JSON (%s): %s", err.text, line);
    assert_true(json_is_object(o));
    return o;
}

static void test_text_line(void **state)
{
    (void)state;
    struct lt_log_record r = {WALL_MS, "worker[1]", LT_LOG_WARN, "store", "redis: timed out",
                              16,      NULL};
    char *t = render(LT_LOG_TEXT, &r);
    assert_string_equal(t, "2026-11-29T02:40:00.250Z worker[1] warn store: redis: timed out\n");
    free(t);
    r.req = "abc123";
    t = render(LT_LOG_TEXT, &r);
    assert_string_equal(
        t, "2026-11-29T02:40:00.250Z worker[1] warn store: redis: timed out req=abc123\n");
    free(t);
}

static void test_json_line_fields(void **state)
{
    (void)state;
    struct lt_log_record r = {WALL_MS, "master", LT_LOG_INFO, "master", "worker 2 started",
                              16,      NULL};
    char *t = render(LT_LOG_JSON, &r);
    assert_string_equal(
        t, "{\"ts\":\"2026-11-29T02:40:00.250Z\",\"level\":\"info\","
           "\"proc\":\"master\",\"module\":\"master\",\"msg\":\"worker 2 started\"}\n");
    json_t *o = parse_line(t);
    assert_int_equal(json_object_size(o), 5);
    assert_null(json_object_get(o, "req")); /* absent when not set */
    json_decref(o);
    free(t);

    r.req = "Zq9-req_1.x";
    r.level = LT_LOG_ERROR;
    t = render(LT_LOG_JSON, &r);
    o = parse_line(t);
    assert_int_equal(json_object_size(o), 6);
    assert_string_equal(json_string_value(json_object_get(o, "ts")), "2026-11-29T02:40:00.250Z");
    assert_string_equal(json_string_value(json_object_get(o, "level")), "error");
    assert_string_equal(json_string_value(json_object_get(o, "proc")), "master");
    assert_string_equal(json_string_value(json_object_get(o, "module")), "master");
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "worker 2 started");
    assert_string_equal(json_string_value(json_object_get(o, "req")), "Zq9-req_1.x");
    json_decref(o);
    free(t);

    /* Each level by its name. */
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int l = LT_LOG_DEBUG; l <= LT_LOG_ERROR; l++) {
        r.level = (enum lt_log_level)l;
        t = render(LT_LOG_JSON, &r);
        o = parse_line(t);
        assert_string_equal(json_string_value(json_object_get(o, "level")), names[l]);
        json_decref(o);
        free(t);
    }
}

static void test_json_line_escapes_any_message(void **state)
{
    (void)state;
    /* A message echoing what a client sent: quotes, backslashes, a
     * newline that would split the line, control bytes, a NUL, UTF-8, and
     * bytes of no UTF-8 sequence. */
    static const char msg[] =
        "bad \"header\" \\ value\nsecond line\r\t\x01\x7f\0after caf\xc3\xa9 \xff\xfe";
    size_t len = sizeof msg - 1;
    struct lt_log_record r = {WALL_MS, "worker[3]", LT_LOG_WARN, "http", msg, len, "r\"1"};
    char *t = render(LT_LOG_JSON, &r);
    json_t *o = parse_line(t);
    json_t *m = json_object_get(o, "msg");
    const char *want = "bad \"header\" \\ value\nsecond line\r\t\x01\x7f\0after caf\xc3\xa9 "
                       "\xef\xbf\xbd\xef\xbf\xbd";
    size_t want_len = 49 + 6; /* the two bad bytes: U+FFFD each */
    assert_int_equal(json_string_length(m), want_len);
    assert_memory_equal(json_string_value(m), want, want_len);
    assert_string_equal(json_string_value(json_object_get(o, "req")), "r\"1");
    json_decref(o);
    free(t);
}

/* Runs fn with stderr going to a pipe; returns what it wrote. */
static char *capture_stderr(void (*fn)(void))
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
    close(fds[1]);
    fn();
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    /* The pipe's writer is closed: read to EOF (records are small enough
     * for the pipe's buffer). */
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap + 1);
    ssize_t n;
    while ((n = read(fds[0], buf + len, cap - len)) > 0)
        len += (size_t)n;
    close(fds[0]);
    buf[len] = '\0';
    return buf;
}

static void log_some(void)
{
    lt_log_set_process("worker[7]");
    lt_debug("agg", "not shown at info");
    lt_info("agg", "batch %d of stream %s", 4, "s\"1");
    lt_log_set_request("req-42");
    lt_warn("http", "closing: %s", "a\nb");
    lt_log_set_request(NULL);
}

static void test_lt_log_writes_json_lines(void **state)
{
    (void)state;
    lt_log_configure("info", "json");
    char *out = capture_stderr(log_some);
    lt_log_configure("info", "text");
    /* Two records, two lines. */
    char *second = strchr(out, '\n');
    assert_non_null(second);
    second++;
    char *end = strchr(second, '\n');
    assert_non_null(end);
    assert_string_equal(end + 1, "");
    char first_line[1024];
    memcpy(first_line, out, (size_t)(second - out));
    first_line[second - out] = '\0';
    json_t *a = parse_line(first_line);
    json_t *b = parse_line(second);
    assert_string_equal(json_string_value(json_object_get(a, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(a, "proc")), "worker[7]");
    assert_string_equal(json_string_value(json_object_get(a, "module")), "agg");
    assert_string_equal(json_string_value(json_object_get(a, "msg")), "batch 4 of stream s\"1");
    assert_null(json_object_get(a, "req"));
    assert_string_equal(json_string_value(json_object_get(b, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(b, "msg")), "closing: a\nb");
    assert_string_equal(json_string_value(json_object_get(b, "req")), "req-42");
    /* ts: RFC 3339 with milliseconds, UTC. */
    const char *ts = json_string_value(json_object_get(a, "ts"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), 24);
    assert_true(ts[10] == 'T' && ts[19] == '.' && ts[23] == 'Z');
    json_decref(a);
    json_decref(b);
    free(out);
}

static void log_text(void)
{
    lt_log_set_process("master");
    lt_info("master", "ready");
}

static void test_format_switch_and_parse(void **state)
{
    (void)state;
    assert_int_equal(lt_log_format_parse("text"), LT_LOG_TEXT);
    assert_int_equal(lt_log_format_parse("json"), LT_LOG_JSON);
    assert_int_equal(lt_log_format_parse("JSON"), -1);
    assert_int_equal(lt_log_format_parse(""), -1);
    /* An unknown name leaves the setting as it was. */
    lt_log_configure("info", "text");
    lt_log_configure("loud", "yaml");
    char *out = capture_stderr(log_text);
    assert_non_null(strstr(out, " master info master: ready\n"));
    assert_true(out[0] >= '0' && out[0] <= '9');
    free(out);
    /* The level is applied too: warn hides info. */
    lt_log_configure("warn", NULL);
    out = capture_stderr(log_text);
    assert_string_equal(out, "");
    free(out);
    lt_log_configure("info", NULL);
}

static void log_huge(void)
{
    char *big = malloc(70000);
    memset(big, 'x', 69999);
    big[69999] = '\0';
    lt_warn("http", "%s", big);
    free(big);
}

static void test_message_too_long(void **state)
{
    (void)state;
    lt_log_configure("info", "json");
    char *out = capture_stderr(log_huge);
    lt_log_configure("info", "text");
    json_t *o = parse_line(out);
    assert_string_equal(json_string_value(json_object_get(o, "msg")),
                        "(a message too long to log)");
    json_decref(o);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_line),
        cmocka_unit_test(test_json_line_fields),
        cmocka_unit_test(test_json_line_escapes_any_message),
        cmocka_unit_test(test_lt_log_writes_json_lines),
        cmocka_unit_test(test_format_switch_and_parse),
        cmocka_unit_test(test_message_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
