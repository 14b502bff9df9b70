/* Unit tests for the HTTP/1.1 request parser and the chunked decoder.
 *
 * The rejection tables are the point: each row is one way a request could be
 * read differently by us and by a proxy in front of us, and must stay refused
 * with its own reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "livetally/net/http_parse.h"

#define MAX_HEAD 8192

/* Finds the head with lt_http_head_end, then parses it. */
static long parse_len(const char *s, size_t len, struct lt_http_request *req)
{
    size_t scan = 0;
    long n = lt_http_head_end(s, len, MAX_HEAD, &scan);
    if (n <= 0)
        return n == 0 ? -1 : n; /* -1: never a parser result */
    return lt_http_parse_head(s, (size_t)n, req);
}

static long parse(const char *s, struct lt_http_request *req)
{
    return parse_len(s, strlen(s), req);
}

static void assert_span(const char *p, size_t len, const char *want)
{
    assert_non_null(p);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(p, want, len);
}

/* ---- lt_http_head_end ---------------------------------------------------- */

static void test_head_end_simple(void **state)
{
    (void)state;
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t scan = 0;
    assert_int_equal(lt_http_head_end(s, strlen(s), MAX_HEAD, &scan), (long)strlen(s));
}

static void test_head_end_pipelined(void **state)
{
    (void)state;
    const char *first = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n";
    const char *s = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
                    "GET /b HTTP/1.1\r\nHost: a\r\n\r\n";
    struct lt_http_request req;
    size_t scan = 0;
    long n = lt_http_head_end(s, strlen(s), MAX_HEAD, &scan);
    assert_int_equal(n, (long)strlen(first));
    assert_int_equal(lt_http_parse_head(s, (size_t)n, &req), n);
    assert_span(req.path, req.path_len, "/a");

    const char *rest = s + n;
    scan = 0;
    long m = lt_http_head_end(rest, strlen(rest), MAX_HEAD, &scan);
    assert_int_equal(m, (long)strlen(rest));
    assert_int_equal(lt_http_parse_head(rest, (size_t)m, &req), m);
    assert_span(req.path, req.path_len, "/b");
}

static void test_head_end_trickle(void **state)
{
    (void)state;
    const char *s = "\r\nGET /x HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\nGET";
    size_t head = strlen(s) - 3, scan = 0, last_scan = 0;
    for (size_t len = 0; len < head; len++) {
        assert_int_equal(lt_http_head_end(s, len, MAX_HEAD, &scan), LT_HTTP_NEED_MORE);
        assert_true(scan <= len);
        assert_true(scan >= last_scan);
        last_scan = scan;
    }
    assert_int_equal(lt_http_head_end(s, head, MAX_HEAD, &scan), (long)head);
}

static void test_head_end_split_terminator(void **state)
{
    (void)state;
    /* CRLF CRLF arriving in every possible two-piece split. */
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t len = strlen(s);
    for (size_t cut = len - 4; cut < len; cut++) {
        size_t scan = 0;
        assert_int_equal(lt_http_head_end(s, cut, MAX_HEAD, &scan), LT_HTTP_NEED_MORE);
        assert_int_equal(lt_http_head_end(s, len, MAX_HEAD, &scan), (long)len);
    }
}

static void test_head_end_leading_empty_lines(void **state)
{
    (void)state;
    size_t scan = 0;
    /* Leading CRLFs alone are not an (empty) head. */
    assert_int_equal(lt_http_head_end("\r\n\r\n", 4, MAX_HEAD, &scan), LT_HTTP_NEED_MORE);
    assert_int_equal(scan, 0);
    assert_int_equal(lt_http_head_end("\r\n\r", 3, MAX_HEAD, &scan), LT_HTTP_NEED_MORE);
    const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(lt_http_head_end(s, strlen(s), MAX_HEAD, &scan), (long)strlen(s));

    struct lt_http_request req;
    assert_int_equal(parse(s, &req), (long)strlen(s));
    assert_int_equal(req.method, LT_HTTP_GET);
    assert_int_equal(req.head_len, strlen(s));
}

static void test_head_end_bare_lf_stops(void **state)
{
    (void)state;
    /* An LF-only client gets its head back (and a 400), not a wait. */
    const char *s = "GET / HTTP/1.1\nHost: a\n\nrest";
    size_t scan = 0;
    assert_int_equal(lt_http_head_end(s, strlen(s), MAX_HEAD, &scan), (long)strlen(s) - 4);
    struct lt_http_request req;
    assert_int_equal(parse(s, &req), LT_HTTP_BAD);
    assert_string_equal(req.error, "bare LF");

    const char *t = "GET / HTTP/1.1\r\nHost: a\r\n\n";
    assert_int_equal(parse(t, &req), LT_HTTP_BAD);
    assert_string_equal(req.error, "bare LF");
}

static void test_head_end_too_large(void **state)
{
    (void)state;
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: aaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    size_t len = strlen(s), scan = 0;
    assert_int_equal(lt_http_head_end(s, len, len - 1, &scan), LT_HTTP_TOO_LARGE);
    scan = 0;
    assert_int_equal(lt_http_head_end(s, 20, 20, &scan), LT_HTTP_TOO_LARGE);
    scan = 0;
    assert_int_equal(lt_http_head_end(s, 19, 20, &scan), LT_HTTP_NEED_MORE);
    /* A head of exactly max_head bytes fits. */
    scan = 0;
    assert_int_equal(lt_http_head_end(s, len, len, &scan), (long)len);
    /* Only empty lines up to the limit. */
    scan = 0;
    assert_int_equal(lt_http_head_end("\r\n\r\n", 4, 4, &scan), LT_HTTP_TOO_LARGE);
}

/* ---- valid requests ------------------------------------------------------- */

static void test_parse_get(void **state)
{
    (void)state;
    struct lt_http_request req;
    const char *s = "GET /v1/streams/abc?locale=zh-CN&x=1 HTTP/1.1\r\n"
                    "Host: example.com:8080\r\n"
                    "User-Agent:   curl/8.0 \t\r\n"
                    "Accept:*/*\r\n"
                    "X-Empty:\r\n"
                    "X-Utf8: \xe5\xbc\x80\xe5\xb9\x95\tmid\r\n"
                    "\r\n";
    assert_int_equal(parse(s, &req), (long)strlen(s));
    assert_null(req.error);
    assert_int_equal(req.method, LT_HTTP_GET);
    assert_span(req.method_str, req.method_len, "GET");
    assert_span(req.target, req.target_len, "/v1/streams/abc?locale=zh-CN&x=1");
    assert_span(req.path, req.path_len, "/v1/streams/abc");
    assert_span(req.query, req.query_len, "locale=zh-CN&x=1");
    assert_int_equal(req.version_minor, 1);
    assert_int_equal(req.n_headers, 5);
    assert_span(req.headers[1].name, req.headers[1].name_len, "User-Agent");
    assert_span(req.headers[1].value, req.headers[1].value_len, "curl/8.0");
    assert_span(req.headers[2].value, req.headers[2].value_len, "*/*");
    assert_int_equal(req.headers[3].value_len, 0);
    assert_span(req.headers[4].value, req.headers[4].value_len, "\xe5\xbc\x80\xe5\xb9\x95\tmid");
    assert_span(req.host, req.host_len, "example.com:8080");
    assert_true(req.keep_alive);
    assert_false(req.chunked);
    assert_false(req.has_content_length);
    assert_int_equal(req.content_length, 0);
    assert_false(req.expect_continue);
    assert_false(req.upgrade);
    assert_int_equal(req.head_len, strlen(s));
}

static void test_parse_no_query(void **state)
{
    (void)state;
    struct lt_http_request req;
    assert_true(parse("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
    assert_span(req.path, req.path_len, "/healthz");
    assert_null(req.query);
    assert_int_equal(req.query_len, 0);
    /* An empty query is still a query. */
    assert_true(parse("GET /x? HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
    assert_span(req.path, req.path_len, "/x");
    assert_non_null(req.query);
    assert_int_equal(req.query_len, 0);
}

static void test_parse_post_content_length(void **state)
{
    (void)state;
    struct lt_http_request req;
    const char *s = "POST /v1/streams/s/events HTTP/1.1\r\nHost: a\r\n"
                    "Content-Type: application/json\r\ncontent-LENGTH: 0042\r\n\r\n{...}";
    assert_int_equal(parse(s, &req), (long)strlen(s) - 5);
    assert_int_equal(req.method, LT_HTTP_POST);
    assert_true(req.has_content_length);
    assert_int_equal(req.content_length, 42);
    assert_false(req.chunked);

    assert_true(
        parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9007199254740991\r\n\r\n", &req) > 0);
    assert_int_equal(req.content_length, 9007199254740991ULL);
}

static void test_parse_chunked_request(void **state)
{
    (void)state;
    struct lt_http_request req;
    assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", &req) >
                0);
    assert_true(req.chunked);
    assert_false(req.has_content_length);
    assert_int_equal(req.content_length, 0);
    /* Empty list elements are ignored (RFC 9110 5.6.1). */
    assert_true(
        parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked ,\r\n\r\n", &req) > 0);
    assert_true(req.chunked);
}

static void test_parse_methods(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        enum lt_http_method method;
    } cases[] = {
        {"GET / HTTP/1.1\r\n", LT_HTTP_GET},        {"HEAD / HTTP/1.1\r\n", LT_HTTP_HEAD},
        {"POST / HTTP/1.1\r\n", LT_HTTP_POST},      {"PUT / HTTP/1.1\r\n", LT_HTTP_PUT},
        {"DELETE / HTTP/1.1\r\n", LT_HTTP_DELETE},  {"OPTIONS / HTTP/1.1\r\n", LT_HTTP_OPTIONS},
        {"PATCH / HTTP/1.1\r\n", LT_HTTP_OTHER},    {"get / HTTP/1.1\r\n", LT_HTTP_OTHER},
        {"M-SEARCH / HTTP/1.1\r\n", LT_HTTP_OTHER}, {"GETS / HTTP/1.1\r\n", LT_HTTP_OTHER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[256];
        struct lt_http_request req;
        snprintf(buf, sizeof buf, "%sHost: a\r\n\r\n", cases[i].line);
        if (parse(buf, &req) <= 0)
            fail_msg("%s: refused (%s)", cases[i].line, req.error);
        assert_int_equal(req.method, cases[i].method);
        assert_int_equal(req.method_len, strcspn(cases[i].line, " "));
    }
}

static void test_parse_options_asterisk(void **state)
{
    (void)state;
    struct lt_http_request req;
    assert_true(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
    assert_int_equal(req.method, LT_HTTP_OPTIONS);
    assert_span(req.target, req.target_len, "*");
    assert_span(req.path, req.path_len, "*");
    assert_null(req.query);
}

static void test_parse_absolute_form(void **state)
{
    (void)state;
    struct lt_http_request req;
    const char *s = "GET http://Example.com:8080/a/b?c=1 HTTP/1.1\r\nHost: other\r\n\r\n";
    assert_true(parse(s, &req) > 0);
    assert_span(req.target, req.target_len, "/a/b?c=1");
    assert_span(req.path, req.path_len, "/a/b");
    assert_span(req.query, req.query_len, "c=1");
    /* RFC 9112 3.2.2: the target's authority wins over Host. */
    assert_span(req.host, req.host_len, "Example.com:8080");

    assert_true(parse("GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", &req) > 0);
    assert_span(req.path, req.path_len, "/");
    assert_span(req.target, req.target_len, "/");
    assert_null(req.query);

    /* Host is still required. */
    assert_int_equal(parse("GET http://example.com/ HTTP/1.1\r\n\r\n", &req), LT_HTTP_BAD);
    assert_string_equal(req.error, "missing Host");
}

static void test_parse_http10(void **state)
{
    (void)state;
    struct lt_http_request req;
    assert_true(parse("GET / HTTP/1.0\r\n\r\n", &req) > 0);
    assert_int_equal(req.version_minor, 0);
    assert_null(req.host);
    assert_false(req.keep_alive);

    assert_true(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: h\r\n\r\n", &req) > 0);
    assert_true(req.keep_alive);
    assert_span(req.host, req.host_len, "h");

    assert_true(parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &req) > 0);
    assert_false(req.keep_alive);

    /* Expect and Upgrade are ignored in 1.0 (RFC 9110 10.1.1, 7.8). */
    assert_true(parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\nConnection: upgrade\r\n"
                      "Upgrade: websocket\r\nContent-Length: 1\r\n\r\n",
                      &req) > 0);
    assert_false(req.expect_continue);
    assert_false(req.upgrade);
}

static void test_parse_connection(void **state)
{
    (void)state;
    struct lt_http_request req;
    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &req) > 0);
    assert_false(req.keep_alive);
    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo,  CLOSE \r\n\r\n", &req) > 0);
    assert_false(req.keep_alive);
    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", &req) > 0);
    assert_true(req.keep_alive);

    assert_true(parse("GET /v1/ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
                      "Upgrade: websocket\r\n\r\n",
                      &req) > 0);
    assert_true(req.upgrade);
    assert_true(req.keep_alive);
    /* Upgrade without the Connection token, or the token without Upgrade. */
    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", &req) > 0);
    assert_false(req.upgrade);
    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", &req) > 0);
    assert_false(req.upgrade);
    assert_true(
        parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: \r\n\r\n", &req) > 0);
    assert_false(req.upgrade);
    /* Connection lines form one list. */
    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n"
                      "Upgrade: websocket\r\nConnection: upgrade\r\n\r\n",
                      &req) > 0);
    assert_true(req.upgrade);
}

static void test_parse_expect(void **state)
{
    (void)state;
    struct lt_http_request req;
    assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
                      "Content-Length: 3\r\n\r\n",
                      &req) > 0);
    assert_true(req.expect_continue);
    assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", &req) > 0);
    assert_false(req.expect_continue);
}

static void test_parse_host_values(void **state)
{
    (void)state;
    struct lt_http_request req;
    assert_true(parse("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", &req) > 0);
    assert_span(req.host, req.host_len, "[::1]:8080");
    /* RFC 9112 3.2 allows an empty Host. */
    assert_true(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n", &req) > 0);
    assert_non_null(req.host);
    assert_int_equal(req.host_len, 0);
}

static void test_parse_leading_empty_lines(void **state)
{
    (void)state;
    struct lt_http_request req;
    assert_true(parse("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
    assert_true(parse("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
    assert_int_equal(parse("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &req),
                     LT_HTTP_BAD);
    assert_string_equal(req.error, "empty request line");
}

static void test_parse_max_headers(void **state)
{
    (void)state;
    char buf[4096];
    struct lt_http_request req;
    size_t off = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < LT_HTTP_MAX_HEADERS; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "X-%d: %d\r\n", i, i);
    snprintf(buf + off, sizeof buf - off, "\r\n");
    assert_true(parse(buf, &req) > 0);
    assert_int_equal(req.n_headers, LT_HTTP_MAX_HEADERS);

    snprintf(buf + off, sizeof buf - off, "X-last: 1\r\n\r\n");
    assert_int_equal(parse(buf, &req), LT_HTTP_TOO_LARGE);
    assert_string_equal(req.error, "too many header fields");
}

static void test_parse_head_len_mismatch(void **state)
{
    (void)state;
    struct lt_http_request req;
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\n\r\nX\n";
    assert_int_equal(lt_http_parse_head(s, strlen(s), &req), LT_HTTP_BAD);
    assert_string_equal(req.error, "data after the header section");
    /* Cut after a header line, and cut inside one. */
    assert_int_equal(lt_http_parse_head(s, strlen(s) - 4, &req), LT_HTTP_BAD);
    assert_string_equal(req.error, "incomplete header section");
    assert_int_equal(lt_http_parse_head(s, strlen(s) - 7, &req), LT_HTTP_BAD);
    assert_string_equal(req.error, "incomplete header section");
    assert_int_equal(lt_http_parse_head(s, 0, &req), LT_HTTP_BAD);
    assert_string_equal(req.error, "incomplete header section");
    /* Found by fuzzing: only leading empty lines, parsed without head_end. */
    assert_int_equal(lt_http_parse_head("\r\n", 2, &req), LT_HTTP_BAD);
    assert_string_equal(req.error, "incomplete header section");
    assert_int_equal(lt_http_parse_head("\r\n\r\n\r\n\r\n", 8, &req), LT_HTTP_BAD);
    assert_string_equal(req.error, "incomplete header section");
}

static void test_find_header_and_tokens(void **state)
{
    (void)state;
    struct lt_http_request req;
    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\n"
                      "Accept-Encoding: gzip ,deflate,, BR\r\n\r\n",
                      &req) > 0);
    const struct lt_http_header *h = lt_http_find_header(&req, "X-a");
    assert_non_null(h);
    assert_span(h->value, h->value_len, "1");
    assert_null(lt_http_find_header(&req, "X-"));
    assert_null(lt_http_find_header(&req, "X-AB"));
    h = lt_http_find_header(&req, "accept-encoding");
    assert_non_null(h);
    assert_true(lt_http_header_has_token(h->value, h->value_len, "gzip"));
    assert_true(lt_http_header_has_token(h->value, h->value_len, "deflate"));
    assert_true(lt_http_header_has_token(h->value, h->value_len, "br"));
    assert_false(lt_http_header_has_token(h->value, h->value_len, "gz"));
    assert_false(lt_http_header_has_token(h->value, h->value_len, "deflate,"));
    assert_false(lt_http_header_has_token("", 0, "x"));
    assert_false(lt_http_header_has_token(" , ", 3, ""));
}

/* ---- rejections ---------------------------------------------------------- */

struct reject_case {
    const char *head; /* passed to lt_http_parse_head whole */
    size_t len;       /* 0: strlen(head) */
    long code;
    const char *error;
};

#define R(h, c, e)                                                                                 \
    {                                                                                              \
        h, sizeof(h) - 1, c, e                                                                     \
    }
#define HOST "Host: a\r\n"

static const struct reject_case rejects[] = {
    /* request line */
    R("GET  / HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD, "invalid request target"),
    R("GET / HTTP/1.1 \r\n" HOST "\r\n", LT_HTTP_BAD, "malformed request line"),
    R("GET /  HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD, "unsupported HTTP version"),
    R("GET\t/ HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD, "invalid method"),
    R(" GET / HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD, "invalid method"),
    R("G(T / HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD, "invalid method"),
    R("GET HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD, "invalid request target"),
    R("GET /\r\n" HOST "\r\n", LT_HTTP_BAD, "invalid request target"),
    R("GET /a b HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD, "unsupported HTTP version"),
    R("GET / HTTP/2.0\r\n" HOST "\r\n", LT_HTTP_BAD, "unsupported HTTP version"),
    R("GET / HTTP/1.2\r\n" HOST "\r\n", LT_HTTP_BAD, "unsupported HTTP version"),
    R("GET / HTTP/0.9\r\n" HOST "\r\n", LT_HTTP_BAD, "unsupported HTTP version"),
    R("GET / http/1.1\r\n" HOST "\r\n", LT_HTTP_BAD, "unsupported HTTP version"),
    R("GET / HTTP/1.10\r\n" HOST "\r\n", LT_HTTP_BAD, "malformed request line"),
    R("GET / HTTP/1.1\r\r\n" HOST "\r\n", LT_HTTP_BAD, "bare CR"),
    R("GET / HTTP/1.1\rX\n" HOST "\r\n", LT_HTTP_BAD, "bare CR"),
    R("GET / HTTP/1.1\n" HOST "\r\n", LT_HTTP_BAD, "bare LF"),
    R("GET /\x7f HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD, "invalid request target"),
    R("GET /\x80 HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD, "invalid request target"),
    R("GET /\x01 HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD, "invalid request target"),
    R("GET /\0 HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD, "invalid request target"),
    R("GET * HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD, "asterisk-form target is only for OPTIONS"),
    R("OPTIONS ** HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD, "request target must be origin-form"),
    R("GET foo HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD, "request target must be origin-form"),
    R("CONNECT a:443 HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD, "request target must be origin-form"),
    R("GET ftp://a/ HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD, "request target must be origin-form"),
    R("GET http:///x HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD,
      "invalid authority in absolute-form target"),
    R("GET http://u@a/ HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD,
      "invalid authority in absolute-form target"),
    R("GET http://a?x=1 HTTP/1.1\r\n" HOST "\r\n", LT_HTTP_BAD,
      "absolute-form target without a path"),
    R("\r\n\r\n\r\n\r\n\r\n", LT_HTTP_BAD, "empty request line"),
    R("\n\n", LT_HTTP_BAD, "invalid method"),
    /* header lines */
    R("GET / HTTP/1.1\r\n" HOST "X: a\r\n b\r\n\r\n", LT_HTTP_BAD, "obs-fold is not allowed"),
    R("GET / HTTP/1.1\r\n" HOST "X: a\r\n\tb\r\n\r\n", LT_HTTP_BAD, "obs-fold is not allowed"),
    R("GET / HTTP/1.1\r\n " HOST "\r\n", LT_HTTP_BAD, "whitespace before the first header field"),
    R("GET / HTTP/1.1\r\nHost : a\r\n\r\n", LT_HTTP_BAD, "whitespace before the colon"),
    R("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", LT_HTTP_BAD, "whitespace before the colon"),
    R("GET / HTTP/1.1\r\n" HOST ": a\r\n\r\n", LT_HTTP_BAD, "invalid header name"),
    R("GET / HTTP/1.1\r\n" HOST "X[1]: a\r\n\r\n", LT_HTTP_BAD, "invalid character in header name"),
    R("GET / HTTP/1.1\r\n" HOST "X\x80: a\r\n\r\n", LT_HTTP_BAD,
      "invalid character in header name"),
    R("GET / HTTP/1.1\r\n" HOST "Foo\r\n\r\n", LT_HTTP_BAD, "header line without a colon"),
    R("GET / HTTP/1.1\r\n" HOST "X: a\0b\r\n\r\n", LT_HTTP_BAD,
      "control character in header value"),
    R("GET / HTTP/1.1\r\n" HOST "X: a\x01b\r\n\r\n", LT_HTTP_BAD,
      "control character in header value"),
    R("GET / HTTP/1.1\r\n" HOST "X: a\x7f\r\n\r\n", LT_HTTP_BAD,
      "control character in header value"),
    R("GET / HTTP/1.1\r\n" HOST "X: a\x1b[0m\r\n\r\n", LT_HTTP_BAD,
      "control character in header value"),
    R("GET / HTTP/1.1\r\n" HOST "X: a\rb\r\n\r\n", LT_HTTP_BAD, "bare CR"),
    R("GET / HTTP/1.1\r\n" HOST "X: a\nY: b\r\n\r\n", LT_HTTP_BAD, "bare LF"),
    R("GET / HTTP/1.1\r\n" HOST "\nX: a\r\n\r\n", LT_HTTP_BAD, "bare LF"),
    R("GET / HTTP/1.1\r\n" HOST "\rX: a\r\n\r\n", LT_HTTP_BAD, "bare CR"),
    R("GET / HTTP/1.1\r\n" HOST "\r\r\n", LT_HTTP_BAD, "bare CR"),
    /* Content-Length */
    R("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", LT_HTTP_BAD,
      "duplicate Content-Length"),
    R("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", LT_HTTP_BAD,
      "duplicate Content-Length"),
    R("POST / HTTP/1.1\r\n" HOST "Content-Length: 1,1\r\n\r\n", LT_HTTP_BAD,
      "invalid Content-Length"),
    R("POST / HTTP/1.1\r\n" HOST "Content-Length: +5\r\n\r\n", LT_HTTP_BAD,
      "invalid Content-Length"),
    R("POST / HTTP/1.1\r\n" HOST "Content-Length: -1\r\n\r\n", LT_HTTP_BAD,
      "invalid Content-Length"),
    R("POST / HTTP/1.1\r\n" HOST "Content-Length: 0x10\r\n\r\n", LT_HTTP_BAD,
      "invalid Content-Length"),
    R("POST / HTTP/1.1\r\n" HOST "Content-Length: 1 2\r\n\r\n", LT_HTTP_BAD,
      "invalid Content-Length"),
    R("POST / HTTP/1.1\r\n" HOST "Content-Length:\r\n\r\n", LT_HTTP_BAD, "empty Content-Length"),
    R("POST / HTTP/1.1\r\n" HOST "Content-Length: 9007199254740992\r\n\r\n", LT_HTTP_BAD,
      "Content-Length too large"),
    R("POST / HTTP/1.1\r\n" HOST "Content-Length: 99999999999999999999999\r\n\r\n", LT_HTTP_BAD,
      "Content-Length too large"),
    /* Transfer-Encoding */
    R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip\r\n\r\n", LT_HTTP_BAD,
      "chunked is not the final transfer coding"),
    R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked, gzip\r\n\r\n", LT_HTTP_BAD,
      "chunked is not the final transfer coding"),
    R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: identity\r\n\r\n", LT_HTTP_BAD,
      "chunked is not the final transfer coding"),
    R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding:\r\n\r\n", LT_HTTP_BAD,
      "chunked is not the final transfer coding"),
    R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked, chunked\r\n\r\n", LT_HTTP_BAD,
      "chunked applied more than once"),
    R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
      LT_HTTP_BAD, "chunked applied more than once"),
    R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
      LT_HTTP_BAD, "chunked is not the final transfer coding"),
    R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked;q=1\r\n\r\n", LT_HTTP_BAD,
      "invalid Transfer-Encoding"),
    R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: \"chunked\"\r\n\r\n", LT_HTTP_BAD,
      "invalid Transfer-Encoding"),
    R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunk ed\r\n\r\n", LT_HTTP_BAD,
      "invalid Transfer-Encoding"),
    R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: xchunked\r\n\r\n", LT_HTTP_BAD,
      "chunked is not the final transfer coding"),
    R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
      LT_HTTP_BAD, "both Content-Length and Transfer-Encoding"),
    R("POST / HTTP/1.1\r\n" HOST "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
      LT_HTTP_BAD, "both Content-Length and Transfer-Encoding"),
    R("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", LT_HTTP_BAD,
      "Transfer-Encoding in an HTTP/1.0 request"),
    R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip, chunked\r\n\r\n",
      LT_HTTP_NOT_IMPLEMENTED, "transfer coding not implemented"),
    R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
      LT_HTTP_NOT_IMPLEMENTED, "transfer coding not implemented"),
    /* Host */
    R("GET / HTTP/1.1\r\n\r\n", LT_HTTP_BAD, "missing Host"),
    R("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", LT_HTTP_BAD, "duplicate Host"),
    R("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", LT_HTTP_BAD, "duplicate Host"),
    R("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", LT_HTTP_BAD, "duplicate Host"),
    R("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", LT_HTTP_BAD, "invalid Host"),
    R("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", LT_HTTP_BAD, "invalid Host"),
    R("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", LT_HTTP_BAD, "invalid Host"),
    R("GET / HTTP/1.1\r\nHost: a\tb\r\n\r\n", LT_HTTP_BAD, "invalid Host"),
    R("GET / HTTP/1.1\r\nHost: \xc3\xa9.com\r\n\r\n", LT_HTTP_BAD, "invalid Host"),
};

static void test_parse_rejections(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rejects / sizeof rejects[0]; i++) {
        const struct reject_case *c = &rejects[i];
        struct lt_http_request req;
        long rc = lt_http_parse_head(c->head, c->len, &req);
        if (rc != c->code || !req.error || strcmp(req.error, c->error) != 0)
            fail_msg("case %zu %.40s...: got %ld \"%s\", want %ld \"%s\"", i, c->head, rc,
                     req.error ? req.error : "(null)", c->code, c->error);
    }
}

/* The same rejections when the head is found by lt_http_head_end, as the
 * server does: the result must not depend on how the head was delimited. */
static void test_parse_rejections_via_head_end(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rejects / sizeof rejects[0]; i++) {
        const struct reject_case *c = &rejects[i];
        struct lt_http_request req;
        size_t scan = 0;
        long n = lt_http_head_end(c->head, c->len, MAX_HEAD, &scan);
        /* "\r\r\n" ends no line, so that head waits for more (and times out). */
        if (n == LT_HTTP_NEED_MORE && strstr(c->head, "\r\r\n"))
            continue;
        if (n <= 0)
            fail_msg("case %zu %.40s...: head_end gave %ld", i, c->head, n);
        long rc = lt_http_parse_head(c->head, (size_t)n, &req);
        if (rc != c->code)
            fail_msg("case %zu %.40s...: got %ld \"%s\", want %ld", i, c->head, rc,
                     req.error ? req.error : "(null)", c->code);
    }
}

/* ---- chunked ------------------------------------------------------------ */

/* Runs the decoder over s in one piece. */
static int dechunk(const char *s, size_t len, char *out, size_t cap, struct lt_chunked *st)
{
    memset(st, 0, sizeof *st);
    return lt_chunked_step(st, s, len, out, cap);
}

/* Runs it a byte at a time; checks that every prefix says NEED_MORE until the
 * result, and that the result equals the one-piece run. */
static int dechunk_trickle(const char *s, size_t len, char *out, size_t cap, struct lt_chunked *st)
{
    memset(st, 0, sizeof *st);
    int rc = LT_HTTP_NEED_MORE;
    for (size_t i = 1; i <= len && rc == LT_HTTP_NEED_MORE; i++)
        rc = lt_chunked_step(st, s, i, out, cap);
    return rc;
}

#define CHUNKED_OK(s, want_body)                                                                   \
    do {                                                                                           \
        char out_[256];                                                                            \
        struct lt_chunked st_;                                                                     \
        for (int pass_ = 0; pass_ < 2; pass_++) {                                                  \
            int rc_ = pass_ ? dechunk_trickle(s, sizeof(s) - 1, out_, sizeof out_, &st_)           \
                            : dechunk(s, sizeof(s) - 1, out_, sizeof out_, &st_);                  \
            if (rc_ <= 0)                                                                          \
                fail_msg("%s (pass %d): got %d", #s, pass_, rc_);                                  \
            assert_int_equal(st_.in_pos, sizeof(s) - 1);                                           \
            assert_int_equal(st_.out_len, sizeof(want_body) - 1);                                  \
            assert_memory_equal(out_, want_body, sizeof(want_body) - 1);                           \
        }                                                                                          \
    } while (0)

#define CHUNKED_FAILS(s, cap, code)                                                                \
    do {                                                                                           \
        char out_[256];                                                                            \
        struct lt_chunked st_;                                                                     \
        int rc1_ = dechunk(s, sizeof(s) - 1, out_, cap, &st_);                                     \
        size_t pos1_ = st_.in_pos;                                                                 \
        int rc2_ = dechunk_trickle(s, sizeof(s) - 1, out_, cap, &st_);                             \
        if (rc1_ != (code) || rc2_ != (code))                                                      \
            fail_msg("%s: got %d / %d byte-wise, want %d", #s, rc1_, rc2_, code);                  \
        assert_int_equal(pos1_, st_.in_pos);                                                       \
    } while (0)

static void test_chunked_simple(void **state)
{
    (void)state;
    CHUNKED_OK("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
    CHUNKED_OK("0\r\n\r\n", "");
    CHUNKED_OK("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij");
    CHUNKED_OK("0005\r\nhello\r\n000\r\n\r\n", "hello");
    /* Chunk data is opaque: CRLF and NUL inside it are data. */
    CHUNKED_OK("4\r\n\r\n\0x\r\n0\r\n\r\n", "\r\n\0x");
}

static void test_chunked_stops_at_end(void **state)
{
    (void)state;
    /* The next pipelined request is not consumed. */
    const char s[] = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    char out[16];
    struct lt_chunked st;
    assert_int_equal(dechunk(s, sizeof s - 1, out, sizeof out, &st) > 0, 1);
    assert_int_equal(st.in_pos, strlen("3\r\nabc\r\n0\r\n\r\n"));
    assert_int_equal(st.out_len, 3);
    /* Calling again changes nothing. */
    assert_true(lt_chunked_step(&st, s, sizeof s - 1, out, sizeof out) > 0);
    assert_int_equal(st.in_pos, strlen("3\r\nabc\r\n0\r\n\r\n"));
}

static void test_chunked_need_more(void **state)
{
    (void)state;
    const char s[] = "5\r\nhel";
    char out[16];
    struct lt_chunked st;
    assert_int_equal(dechunk(s, sizeof s - 1, out, sizeof out, &st), LT_HTTP_NEED_MORE);
    assert_int_equal(st.in_pos, sizeof s - 1);
    assert_int_equal(st.out_len, 3);
    assert_memory_equal(out, "hel", 3);
    const char t[] = "5\r\nhello\r\n0\r\n\r\n";
    assert_true(lt_chunked_step(&st, t, sizeof t - 1, out, sizeof out) > 0);
    assert_int_equal(st.out_len, 5);
    assert_memory_equal(out, "hello", 5);
}

static void test_chunked_extensions(void **state)
{
    (void)state;
    CHUNKED_OK("5;foo=bar\r\nhello\r\n0\r\n\r\n", "hello");
    CHUNKED_OK("5;foo\r\nhello\r\n0;last\r\n\r\n", "hello");
    CHUNKED_OK("5;a=1;b;c=\"x y\"\r\nhello\r\n0\r\n\r\n", "hello");
    CHUNKED_OK("5 ; a = 1 ;b =\t\"q\\\"uo;te\"\r\nhello\r\n0\r\n\r\n", "hello");
    CHUNKED_OK("5;a=\"\"\r\nhello\r\n0\r\n\r\n", "hello");

    CHUNKED_FAILS("5;\r\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5;a=\r\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5;=1\r\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5;a b\r\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5;a \r\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5;a=1 \r\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5;a=\"x\r\n\"\r\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5;a=\"x\\\n\"\r\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5;a=\"x\"y\r\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5;a\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5;a=\x01\r\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
}

static void test_chunked_extension_line_bound(void **state)
{
    (void)state;
    static char s[5000];
    char out[16];
    struct lt_chunked st;
    /* "1;" + a name filling the line up to exactly 4096 bytes with its CRLF. */
    size_t n = 0;
    s[n++] = '1';
    s[n++] = ';';
    while (n < 4094)
        s[n++] = 'x';
    memcpy(s + n, "\r\nZ\r\n0\r\n\r\n", 10);
    assert_true(dechunk(s, n + 10, out, sizeof out, &st) > 0);
    assert_int_equal(st.out_len, 1);
    /* One byte more is refused. */
    s[n++] = 'x';
    memcpy(s + n, "\r\nZ\r\n0\r\n\r\n", 10);
    assert_int_equal(dechunk(s, n + 10, out, sizeof out, &st), LT_HTTP_BAD);
    /* A line that never ends is refused at its 4097th byte, not waited for. */
    memset(s + 2, 'x', sizeof s - 2);
    assert_int_equal(dechunk(s, 4096, out, sizeof out, &st), LT_HTTP_NEED_MORE);
    assert_int_equal(dechunk(s, 4097, out, sizeof out, &st), LT_HTTP_BAD);
    assert_int_equal(st.in_pos, 4097);
}

static void test_chunked_trailers(void **state)
{
    (void)state;
    CHUNKED_OK("3\r\nabc\r\n0\r\nX-Sum: 123\r\nY:\r\nZ: a\tb \xc3\xa9\r\n\r\n", "abc");

    CHUNKED_FAILS("3\r\nabc\r\n0\r\nX: a\r\n b\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("3\r\nabc\r\n0\r\n X: a\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("3\r\nabc\r\n0\r\nX : a\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("3\r\nabc\r\n0\r\n: a\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("3\r\nabc\r\n0\r\nX\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("3\r\nabc\r\n0\r\nX: a\nY: b\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("3\r\nabc\r\n0\r\nX: a\0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("3\r\nabc\r\n0\r\nX: a\rb\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("3\r\nabc\r\n0\r\n\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("3\r\nabc\r\n0\r\n\rX", 256, LT_HTTP_BAD);
}

static void test_chunked_trailer_bound(void **state)
{
    (void)state;
    static char s[9000];
    char out[16];
    struct lt_chunked st;
    size_t n = (size_t)snprintf(s, sizeof s, "0\r\nX: ");
    /* The trailer section (its final CRLF included) may take 8192 bytes. */
    while (n < 3 + 8192 - 4)
        s[n++] = 'v';
    memcpy(s + n, "\r\n\r\n", 4);
    assert_true(dechunk(s, n + 4, out, sizeof out, &st) > 0);
    s[n++] = 'v';
    memcpy(s + n, "\r\n\r\n", 4);
    assert_int_equal(dechunk(s, n + 4, out, sizeof out, &st), LT_HTTP_BAD);
}

static void test_chunked_bad_sizes(void **state)
{
    (void)state;
    CHUNKED_FAILS("\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("x\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("0x5\r\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("-1\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("+5\r\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS(" 5\r\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5 \r\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5\rhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5g\r\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    /* 17 digits, even as leading zeros, and anything past 64 bits. */
    CHUNKED_FAILS("00000000000000005\r\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("10000000000000000\r\n", 256, LT_HTTP_BAD);
    /* 16 digits parse, and then do not fit. */
    CHUNKED_FAILS("FFFFFFFFFFFFFFFF\r\n", 256, LT_HTTP_BODY_TOO_LARGE);
    CHUNKED_OK("0000000000000005\r\nhello\r\n0\r\n\r\n", "hello");
}

static void test_chunked_missing_crlf(void **state)
{
    (void)state;
    CHUNKED_FAILS("5\r\nhelloX\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5\r\nhello\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5\r\nhelloX\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5\r\nhello\n\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5\r\nhello\rX0\r\n\r\n", 256, LT_HTTP_BAD);
    /* A size one short of the data: the extra byte is where CRLF must be. */
    CHUNKED_FAILS("4\r\nhello\r\n0\r\n\r\n", 256, LT_HTTP_BAD);
    CHUNKED_FAILS("5\r\nhello\r\n0\r\n", 256, LT_HTTP_NEED_MORE);
    CHUNKED_FAILS("5\r\nhello\r\n0\r\nX", 256, LT_HTTP_NEED_MORE);
}

static void test_chunked_too_large(void **state)
{
    (void)state;
    CHUNKED_FAILS("5\r\nhello\r\n4\r\nabcd\r\n0\r\n\r\n", 8, LT_HTTP_BODY_TOO_LARGE);
    CHUNKED_FAILS("1\r\nx\r\n", 0, LT_HTTP_BODY_TOO_LARGE);

    const char s[] = "5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n";
    char out[8];
    struct lt_chunked st;
    assert_true(dechunk(s, sizeof s - 1, out, sizeof out, &st) > 0);
    assert_int_equal(st.out_len, 8);
    assert_memory_equal(out, "helloabc", 8);
}

static void test_chunked_errors_are_sticky(void **state)
{
    (void)state;
    const char s[] = "5\r\nhelloXX\r\n0\r\n\r\n";
    char out[16];
    struct lt_chunked st;
    assert_int_equal(dechunk(s, sizeof s - 1, out, sizeof out, &st), LT_HTTP_BAD);
    assert_int_equal(lt_chunked_step(&st, s, sizeof s - 1, out, sizeof out), LT_HTTP_BAD);
    assert_int_equal(dechunk("9\r\n", 3, out, 4, &st), LT_HTTP_BODY_TOO_LARGE);
    assert_int_equal(lt_chunked_step(&st, "9\r\n", 3, out, 4), LT_HTTP_BODY_TOO_LARGE);
}

/* ---- url decoding and query parameters ---------------------------------- */

static void test_url_decode(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(lt_url_decode("a%20b+c%2B", 10, out, sizeof out), 6);
    assert_string_equal(out, "a b c+");
    assert_int_equal(lt_url_decode("%e4%b8%87", 9, out, sizeof out), 3);
    assert_string_equal(out, "\xe4\xb8\x87");
    assert_int_equal(lt_url_decode("", 0, out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(lt_url_decode("%zz", 3, out, sizeof out), -1);
    assert_int_equal(lt_url_decode("%2", 2, out, sizeof out), -1);
    assert_int_equal(lt_url_decode("a%", 2, out, sizeof out), -1);
    assert_int_equal(lt_url_decode("%00", 3, out, sizeof out), -1);
    /* cap counts the NUL. */
    assert_int_equal(lt_url_decode("abcd", 4, out, 5), 4);
    assert_int_equal(lt_url_decode("abcd", 4, out, 4), -1);
    assert_int_equal(lt_url_decode("", 0, out, 0), -1);

    char inplace[] = "x%41%42+y";
    assert_int_equal(lt_url_decode(inplace, strlen(inplace), inplace, sizeof inplace), 5);
    assert_string_equal(inplace, "xAB y");
}

static void test_query_get(void **state)
{
    (void)state;
    const char *q = "a=1&b=x%20y&c&locale=zh-CN&a=2&%6Bey=v&sp+ace=s&&e=";
    size_t len = strlen(q);
    char out[16];
    assert_int_equal(lt_query_get(q, len, "a", out, sizeof out), 1);
    assert_string_equal(out, "1");
    assert_int_equal(lt_query_get(q, len, "b", out, sizeof out), 3);
    assert_string_equal(out, "x y");
    assert_int_equal(lt_query_get(q, len, "c", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(lt_query_get(q, len, "locale", out, sizeof out), 5);
    assert_string_equal(out, "zh-CN");
    assert_int_equal(lt_query_get(q, len, "key", out, sizeof out), 1);
    assert_int_equal(lt_query_get(q, len, "sp ace", out, sizeof out), 1);
    assert_string_equal(out, "s");
    assert_int_equal(lt_query_get(q, len, "e", out, sizeof out), 0);
    assert_int_equal(lt_query_get(q, len, "d", out, sizeof out), LT_QUERY_ABSENT);
    assert_int_equal(lt_query_get(q, len, "loc", out, sizeof out), LT_QUERY_ABSENT);
    assert_int_equal(lt_query_get(q, len, "locales", out, sizeof out), LT_QUERY_ABSENT);
    /* Present but too long, or undecodable: told apart from absent. */
    assert_int_equal(lt_query_get(q, len, "b", out, 3), LT_QUERY_BAD);
    assert_int_equal(lt_query_get(NULL, 0, "a", out, sizeof out), LT_QUERY_ABSENT);
    assert_int_equal(lt_query_get("a=%zz", 5, "a", out, sizeof out), LT_QUERY_BAD);
    /* The query of a parsed request. */
    struct lt_http_request req;
    assert_true(parse("GET /v1/streams?status=live&limit=10 HTTP/1.1\r\nHost: a\r\n\r\n", &req) >
                0);
    assert_int_equal(lt_query_get(req.query, req.query_len, "limit", out, sizeof out), 2);
    assert_string_equal(out, "10");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_end_simple),
        cmocka_unit_test(test_head_end_pipelined),
        cmocka_unit_test(test_head_end_trickle),
        cmocka_unit_test(test_head_end_split_terminator),
        cmocka_unit_test(test_head_end_leading_empty_lines),
        cmocka_unit_test(test_head_end_bare_lf_stops),
        cmocka_unit_test(test_head_end_too_large),
        cmocka_unit_test(test_parse_get),
        cmocka_unit_test(test_parse_no_query),
        cmocka_unit_test(test_parse_post_content_length),
        cmocka_unit_test(test_parse_chunked_request),
        cmocka_unit_test(test_parse_methods),
        cmocka_unit_test(test_parse_options_asterisk),
        cmocka_unit_test(test_parse_absolute_form),
        cmocka_unit_test(test_parse_http10),
        cmocka_unit_test(test_parse_connection),
        cmocka_unit_test(test_parse_expect),
        cmocka_unit_test(test_parse_host_values),
        cmocka_unit_test(test_parse_leading_empty_lines),
        cmocka_unit_test(test_parse_max_headers),
        cmocka_unit_test(test_parse_head_len_mismatch),
        cmocka_unit_test(test_find_header_and_tokens),
        cmocka_unit_test(test_parse_rejections),
        cmocka_unit_test(test_parse_rejections_via_head_end),
        cmocka_unit_test(test_chunked_simple),
        cmocka_unit_test(test_chunked_stops_at_end),
        cmocka_unit_test(test_chunked_need_more),
        cmocka_unit_test(test_chunked_extensions),
        cmocka_unit_test(test_chunked_extension_line_bound),
        cmocka_unit_test(test_chunked_trailers),
        cmocka_unit_test(test_chunked_trailer_bound),
        cmocka_unit_test(test_chunked_bad_sizes),
        cmocka_unit_test(test_chunked_missing_crlf),
        cmocka_unit_test(test_chunked_too_large),
        cmocka_unit_test(test_chunked_errors_are_sticky),
        cmocka_unit_test(test_url_decode),
        cmocka_unit_test(test_query_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
