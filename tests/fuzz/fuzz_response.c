/* Fuzz target for the response-head writer (net/http_response.c): arbitrary
 * status, Date, Content-Type, Content-Length, echoed Origin, Connection and
 * extra header lines (Allow, Retry-After, ETag, ... through
 * lt_http_header_line, as lt_response_header adds them), written into a
 * growing strbuf and into fixed ones of every small size.
 *
 * Checks, against rules written here independently of the writer:
 *  - it accepts exactly what may go on the wire (status 100..599, names that
 *    are tokens, values with no control byte but HTAB) and refuses the rest
 *    with LT_EINVAL;
 *  - an accepted head has exactly the length computed here from the inputs,
 *    or the writer says LT_ETOOLARGE when that passes the buffer's max;
 *  - an accepted head is well formed: a status line, then lines each ending
 *    in CRLF with no CR, LF or NUL inside them, "Name: value" after the
 *    first, and one empty line at the very end;
 *  - the echoed origin is exactly the input's bytes;
 *  - nothing is written past a fixed buffer (ASan), and strbuf never claims
 *    more text than its storage holds.
 *
 * Input: 2 bytes status (big-endian), 1 byte flags, 4 bytes Content-Length,
 * 1 byte fixed-buffer size, then fields of 2-byte big-endian length and
 * bytes: date, content type, origin, connection, then name/value pairs.
 * Flag 0x80 sends the connection field's bytes as the request id too. */
#include "livetally/base/error.h"
#include "livetally/base/strbuf.h"
#include "livetally/net/http_response.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PAIRS 12

struct reader {
    const uint8_t *p;
    size_t left;
};

static size_t take(struct reader *r, size_t n, const uint8_t **out)
{
    if (n > r->left)
        n = r->left;
    *out = r->p;
    r->p += n;
    r->left -= n;
    return n;
}

/* A field as a NUL-terminated copy (the writer takes C strings for these). */
static char *field(struct reader *r, size_t *len)
{
    const uint8_t *b;
    size_t n = 0;
    if (take(r, 2, &b) == 2)
        n = (size_t)b[0] << 8 | b[1];
    n = take(r, n, &b);
    char *s = malloc(n + 1);
    if (n)
        memcpy(s, b, n);
    s[n] = '\0';
    *len = n;
    return s;
}

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int name_ok(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

static int value_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0x7f || (c < 0x20 && c != '\t'))
            return 0;
    }
    return 1;
}

static size_t digits(uint64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Checks the shape of an accepted head; returns the echoed origin's value
 * (pointer into head, *olen) when there is one. */
static const char *check_shape(const char *head, size_t len, size_t *olen)
{
    const char *origin = NULL;
    if (len < 17 || memcmp(head, "HTTP/1.1 ", 9) != 0)
        abort();
    if (memchr(head, '\0', len))
        abort();
    size_t i = 0;
    int first = 1;
    for (;;) {
        const char *cr = memchr(head + i, '\r', len - i);
        const char *lf = memchr(head + i, '\n', len - i);
        if (!cr || !lf || lf != cr + 1) /* a bare CR or LF */
            abort();
        size_t end = (size_t)(cr - head);
        if (end == i) { /* the empty line: must be the very end */
            if (end + 2 != len)
                abort();
            break;
        }
        if (!first) {
            const char *colon = memchr(head + i, ':', end - i);
            if (!colon || !name_ok(head + i, (size_t)(colon - (head + i))))
                abort();
            size_t v = (size_t)(colon - head) + 1;
            if (v < end && head[v] == ' ')
                v++;
            if (!value_ok(head + v, end - v))
                abort();
            static const char acao[] = "Access-Control-Allow-Origin:";
            if ((size_t)(colon - (head + i)) + 1 == sizeof acao - 1 &&
                memcmp(head + i, acao, sizeof acao - 1) == 0) {
                if (!origin) {
                    origin = head + v;
                    *olen = end - v;
                }
            }
        }
        first = 0;
        i = end + 2;
    }
    return origin;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader r = {data, size};
    const uint8_t *b;
    if (take(&r, 8, &b) < 8)
        return 0;
    int status = (b[0] << 8 | b[1]) % 1000;
    unsigned flags = b[2];
    int64_t clen =
        (int64_t)((uint32_t)b[3] << 24 | (uint32_t)b[4] << 16 | (uint32_t)b[5] << 8 | b[6]);
    if (flags & 0x20)
        clen = -1;
    size_t fixed_cap = b[7] * 4u; /* 0..1020 */

    size_t date_len, ct_len, origin_len, conn_len;
    char *date = field(&r, &date_len);
    char *ct = field(&r, &ct_len);
    char *origin = field(&r, &origin_len);
    char *conn = field(&r, &conn_len);

    /* Extra header lines, as lt_response_header builds them. */
    char extra_store[512];
    struct lt_strbuf extra;
    lt_strbuf_init_fixed(&extra, extra_store, sizeof extra_store);
    size_t extra_expect = 0;
    int extra_failed = 0;
    for (int k = 0; k < MAX_PAIRS && r.left > 0; k++) {
        size_t nlen, vlen;
        char *name = field(&r, &nlen);
        char *value = field(&r, &vlen);
        size_t before = extra.len;
        int rc = lt_http_header_line(&extra, name, value, vlen);
        size_t name_c = strlen(name); /* the name is a C string */
        int valid = name_ok(name, name_c) && value_ok(value, vlen);
        size_t line = name_c + 2 + vlen + 2;
        if (extra_failed) {
            if (rc == 0)
                abort(); /* refusals are sticky */
        } else if (!valid) {
            if (rc != LT_EINVAL || extra.len != before)
                abort();
            extra_failed = 1;
        } else if (extra_expect + line > sizeof extra_store - 1) {
            if (rc != LT_ETOOLARGE || extra.len != before)
                abort();
            extra_failed = 1;
        } else {
            if (rc != 0 || extra.len != before + line)
                abort();
            if (memcmp(extra_store + before, name, name_c) != 0 ||
                memcmp(extra_store + before + name_c, ": ", 2) != 0 ||
                memcmp(extra_store + before + name_c + 2, value, vlen) != 0)
                abort();
            extra_expect += line;
        }
        if (lt_strbuf_failed(&extra) != extra_failed)
            abort();
        free(name);
        free(value);
    }

    struct lt_response_head h = {
        .status = status,
        .date = (flags & 1) ? date : NULL,
        .content_type = (flags & 2) ? ct : NULL,
        .content_length = clen,
        .allow_origin = (flags & 4) ? origin : NULL,
        .allow_origin_len = origin_len,
        .vary_origin = (flags & 8) != 0,
        .extra = extra_failed ? NULL : lt_strbuf_text(&extra),
        .extra_len = extra_failed ? 0 : extra.len,
        .connection = (flags & 0x10) ? conn : NULL,
        .request_id = (flags & 0x80) ? conn : NULL,
    };

    /* What the writer must do, computed from the rules. */
    int valid = status >= 100 && status <= 599;
    int bodiless = status < 200 || status == 204 || status == 304;
    size_t want =
        9 + 3 + 1 + strlen(lt_status_reason(status)) + 2 + strlen("Server: livetally\r\n");
    if (h.date) {
        valid &= value_ok(date, strlen(date));
        want += 6 + strlen(date) + 2;
    }
    if (h.content_type && !bodiless) {
        valid &= value_ok(ct, strlen(ct));
        want += 14 + strlen(ct) + 2;
    }
    if (clen >= 0 && !bodiless)
        want += 16 + digits((uint64_t)clen) + 2;
    if (h.allow_origin) {
        valid &= value_ok(origin, origin_len);
        want += 29 + origin_len + 2;
    }
    if (h.vary_origin)
        want += 14;
    if (h.request_id) {
        valid &= value_ok(conn, strlen(conn));
        want += 14 + strlen(conn) + 2;
        if (h.allow_origin)
            want += strlen("Access-Control-Expose-Headers: X-Request-Id\r\n");
    }
    want += h.extra_len;
    if (h.connection) {
        valid &= value_ok(conn, strlen(conn));
        want += 12 + strlen(conn) + 2;
    }
    want += 2;

    for (int mode = 0; mode < 2; mode++) {
        char stack[64];
        char *fixed = NULL;
        struct lt_strbuf sb;
        size_t max;
        if (mode == 0) {
            max = 4096 + (flags & 0x40 ? 0 : 65536);
            lt_strbuf_init(&sb, stack, sizeof stack, max);
        } else {
            /* Exactly fixed_cap bytes of heap, so ASan sees any write past. */
            fixed = malloc(fixed_cap ? fixed_cap : 1);
            lt_strbuf_init_fixed(&sb, fixed_cap ? fixed : NULL, fixed_cap);
            max = fixed_cap ? fixed_cap - 1 : 0;
        }
        int rc = lt_http_response_head(&sb, &h);
        if (sb.data && (sb.len >= sb.cap || sb.data[sb.len] != '\0'))
            abort();
        if (!valid) {
            if (rc != LT_EINVAL || !lt_strbuf_failed(&sb))
                abort();
        } else if (want > max) {
            if (rc != LT_ETOOLARGE || !lt_strbuf_failed(&sb))
                abort();
        } else {
            if (rc != 0 || lt_strbuf_failed(&sb) || sb.len != want)
                abort();
            size_t olen = 0;
            const char *echoed = check_shape(sb.data, sb.len, &olen);
            /* The writer's own comes before any extra line of that name. */
            if (h.allow_origin &&
                (!echoed || olen != origin_len || memcmp(echoed, origin, olen) != 0))
                abort();
        }
        lt_strbuf_free(&sb);
        free(fixed);
    }
    free(date);
    free(ct);
    free(origin);
    free(conn);
    return 0;
}
