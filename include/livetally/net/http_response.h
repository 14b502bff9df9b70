/* Response heads as text: the one writer of every HTTP answer's head
 * (lt_respond), the WebSocket handshake's 101 and the SSE stream's 200.
 *
 * No I/O and no allocation of its own: it appends to a caller's strbuf
 * (strbuf.h), which grows or refuses, never overflows. Every value that goes
 * on the wire is checked first: header names must be tokens (RFC 9110 5.1)
 * and values may hold no control byte but HTAB (RFC 9110 5.5), so nothing
 * a client sent and we echo (Origin) can split the head with a CR or LF.
 * tests/fuzz/fuzz_response.c drives it with arbitrary values. */
#ifndef LIVETALLY_HTTP_RESPONSE_H
#define LIVETALLY_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lt_strbuf;

struct lt_response_head {
    int status;               /* 100..599 */
    const char *date;         /* Date header value; NULL for none */
    const char *content_type; /* NULL for none; never sent with 1xx, 204, 304 */
    /* Content-Length, or < 0 for none (a body that runs until the connection
     * closes). 1xx, 204 and 304 never get one. */
    int64_t content_length;
    /* Access-Control-Allow-Origin value (the request's Origin, already
     * allowed by the caller); NULL for none. */
    const char *allow_origin;
    size_t allow_origin_len;
    bool vary_origin; /* "Vary: Origin" */
    /* X-Request-Id value (request_id.h); NULL for none. With allow_origin,
     * "Access-Control-Expose-Headers: X-Request-Id" lets a page read it. */
    const char *request_id;
    /* Header lines already written with lt_http_header_line, or NULL. */
    const char *extra;
    size_t extra_len;
    const char *connection; /* Connection header value; NULL for none */
};

/* Appends the head, ending with its empty line. Returns 0, LT_EINVAL when
 * the status or a value is not allowed on the wire (a control byte, a name
 * that is not a token), or LT_ETOOLARGE when the strbuf refused; after an
 * error the strbuf is marked failed and the caller answers otherwise. */
int lt_http_response_head(struct lt_strbuf *sb, const struct lt_response_head *h);

/* Appends "name: value\r\n" after checking both. Same returns; an invalid
 * name or value also marks the strbuf failed. */
int lt_http_header_line(struct lt_strbuf *sb, const char *name, const char *value,
                        size_t value_len);

/* May these bytes be sent as a header value (no control byte but HTAB)? */
bool lt_http_field_value_ok(const char *value, size_t len);
/* Is this a header name (a non-empty token)? */
bool lt_http_field_name_ok(const char *name, size_t len);

/* The reason phrase of a status ("Not Found"; "Unknown" for others). */
const char *lt_status_reason(int status);
/* The current time as an IMF-fixdate, formatted once a second. The text
 * stays valid until the next call. */
const char *lt_http_date(void);

#endif
