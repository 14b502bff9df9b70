/* HTTP/1.1 request parsing (RFC 9112), with no sockets and no allocation: the
 * caller owns the bytes; the parser only records pointers into them.
 *
 * Why our own parser: http-parser 2.9.4 accepts obs-fold and requests without
 * Host, needs callbacks stitched back together, and we need strict rejection
 * of everything RFC 9112 lets a server reject (request smuggling vectors in
 * particular). This one works on the contiguous header section, which the
 * connection buffers anyway to enforce limits.max_header_bytes.
 *
 * Use:
 *   1. lt_http_head_end() on the bytes received so far, until it finds the
 *      end of the header section (or says the section is too large);
 *   2. lt_http_parse_head() on exactly that section;
 *   3. the body: req.content_length bytes, or lt_chunked_step() over the bytes
 *      that follow the head when req.chunked is set. */
#ifndef LIVETALLY_HTTP_PARSE_H
#define LIVETALLY_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LT_HTTP_MAX_HEADERS 64

/* Results besides a positive length. */
enum {
    LT_HTTP_NEED_MORE = 0,
    LT_HTTP_BAD = -400,       /* malformed: answer 400 and close */
    LT_HTTP_TOO_LARGE = -431, /* header section over the limit: 431 and close */
    LT_HTTP_BODY_TOO_LARGE = -413,
    LT_HTTP_NOT_IMPLEMENTED = -501, /* a transfer coding other than chunked */
};

enum lt_http_method {
    LT_HTTP_OTHER = 0, /* a valid token we do not route; answer 405/501 */
    LT_HTTP_GET,
    LT_HTTP_HEAD,
    LT_HTTP_POST,
    LT_HTTP_PUT,
    LT_HTTP_DELETE,
    LT_HTTP_OPTIONS,
};

struct lt_http_header {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    const char *value; /* leading and trailing OWS removed */
    size_t value_len;
};

struct lt_http_request {
    enum lt_http_method method;
    const char *method_str;
    size_t method_len;
    const char *target; /* origin-form "/path?query"; "*" only for OPTIONS */
    size_t target_len;
    const char *path; /* target up to '?' */
    size_t path_len;
    const char *query; /* after '?', NULL when none */
    size_t query_len;
    int version_minor; /* HTTP/1.0 -> 0, HTTP/1.1 -> 1 */

    struct lt_http_header headers[LT_HTTP_MAX_HEADERS];
    size_t n_headers;

    /* Derived from the headers while parsing: */
    bool keep_alive;          /* 1.1 without "close", or 1.0 with "keep-alive" */
    bool chunked;             /* Transfer-Encoding: chunked */
    bool has_content_length;
    uint64_t content_length;  /* 0 when neither length nor chunked */
    bool expect_continue;     /* Expect: 100-continue */
    bool upgrade;             /* Connection has "upgrade" and Upgrade is present */
    const char *host;         /* the Host header's value, NULL for 1.0 without it */
    size_t host_len;

    size_t head_len; /* bytes of the header section, final CRLF CRLF included */
    const char *error; /* on LT_HTTP_BAD etc.: a short human reason */
};

/* Scans buf[0..len) for the CRLF CRLF that ends the header section. *scan_pos
 * carries the scan across calls (start it at 0) so trickled bytes are not
 * scanned twice. Returns the head length (> 0), LT_HTTP_NEED_MORE, or
 * LT_HTTP_TOO_LARGE when max_head bytes hold no end. Leading empty lines
 * before the request line (RFC 9112 2.2) are part of the head. A bare LF
 * line ending is rejected later by lt_http_parse_head. */
long lt_http_head_end(const char *buf, size_t len, size_t max_head, size_t *scan_pos);

/* Parses a complete header section (head_len from lt_http_head_end). Returns
 * head_len on success, or LT_HTTP_BAD / LT_HTTP_TOO_LARGE (too many headers) /
 * LT_HTTP_NOT_IMPLEMENTED, with req->error set. Rejected with LT_HTTP_BAD:
 * a garbage request line, a version other than HTTP/1.0 or 1.1, a header
 * name with a non-token byte, whitespace before the colon, obs-fold, NUL or
 * other control bytes (but HTAB) in a value, bare LF or CR, duplicate or
 * malformed Content-Length (differing values; "1,1" is also refused),
 * Content-Length together with Transfer-Encoding, a Transfer-Encoding whose
 * last coding is not chunked, HTTP/1.1 without Host or with two Hosts, a
 * target that is not origin-form (absolute-form and "*" only where noted). */
long lt_http_parse_head(const char *buf, size_t head_len, struct lt_http_request *req);

/* Finds a header by case-insensitive name; the first one, or NULL. */
const struct lt_http_header *lt_http_find_header(const struct lt_http_request *req,
                                                 const char *name);

/* Does a comma-separated header value contain this token (case-insensitive)? */
bool lt_http_header_has_token(const char *value, size_t value_len, const char *token);

/* Incremental chunked body decoding over a contiguous buffer that grows
 * between calls (the connection's input after the head). */
struct lt_chunked {
    size_t in_pos;  /* bytes of input consumed so far */
    size_t out_len; /* decoded body bytes written to out so far */
    int state;      /* private */
    uint64_t chunk_left;
};

/* Continues decoding buf[st->in_pos..len) into out (out_cap bytes, the body
 * limit). Returns LT_HTTP_NEED_MORE, a positive value when the body and its
 * trailers are complete (st->in_pos is then the total bytes consumed,
 * st->out_len the body length), LT_HTTP_BAD, or LT_HTTP_BODY_TOO_LARGE when
 * the body would pass out_cap. Chunk extensions are skipped; trailer fields
 * are skipped but checked like header fields. */
int lt_chunked_step(struct lt_chunked *st, const char *buf, size_t len, char *out, size_t out_cap);

/* Decodes a percent-encoded query component value in place semantics:
 * writes at most cap-1 bytes plus NUL to out. '+' becomes a space. Returns
 * the decoded length, or -1 for a bad escape or when it does not fit. */
long lt_url_decode(const char *in, size_t len, char *out, size_t cap);

/* Finds query parameter `name` in a raw query string and decodes its value
 * into out. Returns the decoded length, LT_QUERY_ABSENT (-1) when there is
 * no such parameter, or LT_QUERY_BAD (-2) when it is there but undecodable
 * or longer than cap - 1 (callers answer 400 for that). */
#define LT_QUERY_ABSENT (-1)
#define LT_QUERY_BAD (-2)
long lt_query_get(const char *query, size_t query_len, const char *name, char *out, size_t cap);

#endif
