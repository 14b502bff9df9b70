/* Fuzzes the request path as the server runs it: lt_http_head_end, then
 * lt_http_parse_head on the head, then lt_chunked_step over what follows when
 * the request is chunked. Checks invariants that must hold for any input:
 * results inside the buffer, incremental and one-shot head scans agreeing,
 * and no request that both is chunked and has a length. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "livetally/net/http_parse.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEAD 8192
#define BODY_CAP 4096

/* Not assert(): fuzz builds may define NDEBUG. */

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void check_span(const char *base, size_t len, const char *p, size_t n)
{
    CHECK(p != NULL);
    CHECK(p >= base && n <= len && (size_t)(p - base) <= len - n);
}

static void check_request(const char *buf, size_t head_len, const struct lt_http_request *req)
{
    CHECK(req->error == NULL);
    CHECK(req->head_len == head_len);
    CHECK(req->version_minor == 0 || req->version_minor == 1);
    check_span(buf, head_len, req->method_str, req->method_len);
    CHECK(req->method_len > 0);
    for (size_t i = 0; i < req->method_len; i++)
        CHECK(is_tchar((unsigned char)req->method_str[i]));

    /* Only an empty absolute-form path may point outside (at a static "/"). */
    if (!(req->path_len == 1 && req->path[0] == '/' && req->target == req->path))
        check_span(buf, head_len, req->target, req->target_len);
    CHECK(req->target_len > 0 && req->path_len > 0);
    CHECK(req->path[0] == '/' ||
          (req->path_len == 1 && req->path[0] == '*' && req->method == LT_HTTP_OPTIONS));
    for (size_t i = 0; i < req->target_len; i++)
        CHECK(req->target[i] > 0x20 && req->target[i] < 0x7f);
    CHECK(req->path == req->target);
    if (req->query) {
        check_span(buf, head_len, req->query, req->query_len);
        CHECK(req->query == req->path + req->path_len + 1);
        CHECK(req->query[-1] == '?');
        CHECK(req->path_len + 1 + req->query_len == req->target_len);
    } else {
        CHECK(req->path_len == req->target_len);
    }

    CHECK(req->n_headers <= LT_HTTP_MAX_HEADERS);
    int hosts = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct lt_http_header *h = &req->headers[i];
        check_span(buf, head_len, h->name, h->name_len);
        check_span(buf, head_len, h->value, h->value_len);
        CHECK(h->name_len > 0);
        for (size_t j = 0; j < h->name_len; j++)
            CHECK(is_tchar((unsigned char)h->name[j]));
        for (size_t j = 0; j < h->value_len; j++) {
            unsigned char c = (unsigned char)h->value[j];
            CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        if (h->value_len > 0) {
            CHECK(h->value[0] != ' ' && h->value[0] != '\t');
            CHECK(h->value[h->value_len - 1] != ' ' && h->value[h->value_len - 1] != '\t');
        }
        /* Exercised for memory safety; a value holding "close" says yes. */
        if (lt_http_header_has_token(h->value, h->value_len, "close"))
            CHECK(h->value_len >= 5);
        if (h->name_len == 4 && strncasecmp(h->name, "host", 4) == 0)
            hosts++;
        CHECK(lt_http_find_header(req, "host") != NULL || hosts == 0);
    }
    CHECK(hosts <= 1);
    CHECK(hosts == 1 || req->version_minor == 0);
    if (req->host)
        check_span(buf, head_len, req->host, req->host_len);

    /* Request smuggling: one framing, never two. */
    CHECK(!(req->chunked && req->has_content_length));
    CHECK(!req->chunked || req->version_minor == 1);
    CHECK(req->has_content_length || req->content_length == 0);
    CHECK(req->content_length < (UINT64_C(1) << 53));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;

    size_t scan = 0;
    long n = lt_http_head_end(buf, size, MAX_HEAD, &scan);
    CHECK(n == LT_HTTP_NEED_MORE || n == LT_HTTP_TOO_LARGE || (n > 0 && (size_t)n <= size));
    CHECK(n <= MAX_HEAD);

    /* The same scan fed in three pieces must agree. */
    size_t scan2 = 0, cut1 = size / 3, cut2 = size - size / 4;
    long m = lt_http_head_end(buf, cut1, MAX_HEAD, &scan2);
    if (m == LT_HTTP_NEED_MORE) {
        CHECK(scan2 <= cut1);
        m = lt_http_head_end(buf, cut2, MAX_HEAD, &scan2);
    }
    if (m == LT_HTTP_NEED_MORE)
        m = lt_http_head_end(buf, size, MAX_HEAD, &scan2);
    CHECK(m == n);

    struct lt_http_request req;

    /* parse_head on the whole input, whatever it ends with: it must stay
     * inside it (ASan sees the exact-size buffer). */
    if (lt_http_parse_head(buf, size, &req) > 0)
        check_request(buf, size, &req);

    if (n <= 0)
        return 0;

    long rc = lt_http_parse_head(buf, (size_t)n, &req);
    if (rc < 0) {
        CHECK(rc == LT_HTTP_BAD || rc == LT_HTTP_TOO_LARGE || rc == LT_HTTP_NOT_IMPLEMENTED);
        CHECK(req.error != NULL && req.error[0] != '\0');
        return 0;
    }
    CHECK(rc == n);
    check_request(buf, (size_t)n, &req);

    if (req.query) {
        char value[64];
        long v = lt_query_get(req.query, req.query_len, "a", value, sizeof value);
        CHECK(v == LT_QUERY_ABSENT || v == LT_QUERY_BAD || (v >= 0 && v < (long)sizeof value));
        if (v >= 0)
            CHECK(value[v] == '\0' && strlen(value) == (size_t)v);
    }

    if (req.chunked) {
        static char body[BODY_CAP];
        struct lt_chunked st = {0};
        const char *rest = buf + n;
        size_t rest_len = size - (size_t)n;
        int r = lt_chunked_step(&st, rest, rest_len, body, sizeof body);
        CHECK(r == LT_HTTP_NEED_MORE || r == 1 || r == LT_HTTP_BAD || r == LT_HTTP_BODY_TOO_LARGE);
        CHECK(st.in_pos <= rest_len);
        CHECK(st.out_len <= sizeof body);
        CHECK(st.out_len <= st.in_pos);
        if (r == LT_HTTP_NEED_MORE)
            CHECK(st.in_pos == rest_len);
    }
    return 0;
}
