/* HTTP/1.1 request parsing (RFC 9112), strict on purpose: whatever a front proxy
 * could read differently from us (bare CR or LF, obs-fold, duplicate or odd
 * Content-Length, Transfer-Encoding tricks, lenient chunk framing) is refused,
 * so a request can never be smuggled past us or through us.
 *
 * The parser allocates nothing and does no I/O: it records pointers into the
 * caller's buffer. The only pointer that may lie outside that buffer is the
 * path "/" given to an absolute-form target with an empty path (a static
 * string).
 *
 * Choices beyond the header's contract:
 *  - absolute-form ("http://host/p?q", RFC 9112 3.2.2, which a server MUST
 *    accept) is reduced to path and query; req->target then points at the
 *    "/p?q" part. Host is still required for HTTP/1.1 and still checked, but
 *    req->host is the target's authority, which RFC 9112 3.2.2 says wins. An
 *    absolute-form target with an empty path but a query is refused.
 *  - Expect and Upgrade are ignored in HTTP/1.0 requests (RFC 9110 10.1.1,
 *    7.8 say a server MUST ignore them there).
 *  - An empty Host value is accepted (RFC 9112 3.2 lets a client send one).
 *  - Transfer-Encoding list items must be bare tokens; codings with
 *    parameters are refused as malformed rather than answered with 501.
 *  - lt_url_decode refuses "%00" and raw NUL so that a decoded value can be
 *    used as a C string without silent truncation. */
#include "livetally/net/http_parse.h"

#include <string.h>

/* RFC 9112 2.2 says a server SHOULD ignore at least one empty line before the
 * request line (old clients send a CRLF after a POST body); a few more are
 * tolerated, beyond that the request line is taken to be empty and refused. */
#define LT_HTTP_MAX_LEADING_EMPTY 4

/* Content-Length beyond 2^53 - 1 is refused: no body we accept comes near it,
 * and the cap keeps any arithmetic on it (offsets, sums with head_len) far
 * from overflow while still fitting a double exactly (for logs, metrics). */
#define LT_HTTP_MAX_CONTENT_LENGTH ((UINT64_C(1) << 53) - 1)

/* Chunked framing bounds: a size line (size and extensions) of at most this
 * many bytes, at most this many hex digits (any uint64_t fits), and a trailer
 * section of at most this many bytes. */
#define LT_CHUNK_LINE_MAX 4096
#define LT_CHUNK_SIZE_DIGITS 16
#define LT_CHUNK_TRAILER_MAX 8192

/* Byte classes, one table lookup per byte in the hot loops. */
enum {
    C_TCHAR = 1,   /* token character, RFC 9110 5.6.2 */
    C_VALUE = 2,   /* field-vchar, SP, HTAB, obs-text: what a field value may hold */
    C_TARGET = 4,  /* visible ASCII 0x21-0x7E: what a request-target may hold */
    C_HOST = 8,    /* RFC 3986 reg-name / IP-literal / port characters */
    C_QDTEXT = 16, /* qdtext of a quoted-string, RFC 9110 5.6.4 */
    C_HEX = 32,    /* hex digit */
};

/* Each entry ORs the classes above, written out from their definitions (e.g.
 * 0x22 '"' is 6: a value and target byte, but no token or host byte). The
 * fuzz target re-checks names and values against independent definitions. */
static const unsigned char byte_class[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  18, 0,  0,  0,  0,  0,  0,  /* 0x00 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x10 */
    18, 31, 6,  23, 31, 31, 31, 31, 30, 30, 31, 31, 30, 31, 31, 22, /* 0x20 */
    63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 30, 30, 22, 30, 22, 22, /* 0x30 */
    22, 63, 63, 63, 63, 63, 63, 31, 31, 31, 31, 31, 31, 31, 31, 31, /* 0x40 */
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 30, 6,  30, 23, 31, /* 0x50 */
    23, 63, 63, 63, 63, 63, 63, 31, 31, 31, 31, 31, 31, 31, 31, 31, /* 0x60 */
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 22, 23, 22, 31, 0,  /* 0x70 */
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, /* 0x80 */
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, /* 0x90 */
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, /* 0xA0 */
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, /* 0xB0 */
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, /* 0xC0 */
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, /* 0xD0 */
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, /* 0xE0 */
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, /* 0xF0 */
};

static inline bool is_class(unsigned char c, int cls)
{
    return (byte_class[c] & cls) != 0;
}

static inline bool is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static inline unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Value of a byte already known to be a hex digit. */
static inline unsigned hex_value(unsigned char c)
{
    return (c & 0xFu) + (c >> 6) * 9u;
}

/* Case-insensitive comparison of s[0..len) with a lowercase literal. */
static bool equals_lower(const char *s, size_t len, const char *lit, size_t lit_len)
{
    if (len != lit_len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (ascii_lower((unsigned char)s[i]) != (unsigned char)lit[i])
            return false;
    return true;
}

#define EQUALS_LIT(s, len, lit) equals_lower((s), (len), lit, sizeof(lit) - 1)

/* ---- end of the header section ---------------------------------------- */

long lt_http_head_end(const char *buf, size_t len, size_t max_head, size_t *scan_pos)
{
    size_t limit = len < max_head ? len : max_head;
    size_t pos = *scan_pos;

    if (pos == 0) {
        /* Leading empty lines (RFC 9112 2.2) would otherwise read as the end
         * of the head. While they may still be leading lines, *scan_pos stays
         * 0 and the next call skips them again: at most a few bytes. */
        int empty = 0;
        while (empty < LT_HTTP_MAX_LEADING_EMPTY && pos + 1 < limit && buf[pos] == '\r' &&
               buf[pos + 1] == '\n') {
            pos += 2;
            empty++;
        }
        if (empty < LT_HTTP_MAX_LEADING_EMPTY &&
            (pos == limit || (pos + 1 == limit && buf[pos] == '\r')))
            return len >= max_head ? LT_HTTP_TOO_LARGE : LT_HTTP_NEED_MORE;
    }

    /* The head ends at an empty line: a LF preceded by LF or by LF CR. That
     * covers CRLF CRLF, and also a client that only sends bare LF, which would
     * otherwise keep us waiting until the size limit; lt_http_parse_head
     * rejects those. Looking back two bytes finds an end split across calls
     * without rescanning. */
    while (pos < limit) {
        const char *nl = memchr(buf + pos, '\n', limit - pos);
        if (!nl)
            break;
        size_t i = (size_t)(nl - buf);
        if ((i >= 1 && buf[i - 1] == '\n') ||
            (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n')) {
            *scan_pos = i + 1;
            return (long)(i + 1);
        }
        pos = i + 1;
    }
    *scan_pos = limit;
    return len >= max_head ? LT_HTTP_TOO_LARGE : LT_HTTP_NEED_MORE;
}

/* ---- comma-separated lists -------------------------------------------- */

/* Next element of a list (RFC 9110 5.6.1) with OWS trimmed; empty elements
 * are skipped, as recipients must. False at the end of the list. */
static bool next_element(const char **pp, const char *end, const char **el, size_t *el_len)
{
    const char *p = *pp;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        const char *s = p;
        p = comma ? comma + 1 : end;
        while (s < e && is_ows((unsigned char)*s))
            s++;
        while (e > s && is_ows((unsigned char)e[-1]))
            e--;
        if (e > s) {
            *pp = p;
            *el = s;
            *el_len = (size_t)(e - s);
            return true;
        }
    }
    *pp = end;
    return false;
}

bool lt_http_header_has_token(const char *value, size_t value_len, const char *token)
{
    const char *p = value, *end = value + value_len, *el;
    size_t el_len, token_len = strlen(token);
    while (next_element(&p, end, &el, &el_len)) {
        if (el_len != token_len)
            continue;
        size_t i = 0;
        while (i < el_len &&
               ascii_lower((unsigned char)el[i]) == ascii_lower((unsigned char)token[i]))
            i++;
        if (i == el_len)
            return true;
    }
    return false;
}

const struct lt_http_header *lt_http_find_header(const struct lt_http_request *req,
                                                 const char *name)
{
    size_t name_len = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct lt_http_header *h = &req->headers[i];
        if (h->name_len != name_len)
            continue;
        size_t j = 0;
        while (j < name_len &&
               ascii_lower((unsigned char)h->name[j]) == ascii_lower((unsigned char)name[j]))
            j++;
        if (j == name_len)
            return h;
    }
    return NULL;
}

/* ---- the header section ----------------------------------------------- */

/* What the header fields said, gathered while parsing and judged at the end,
 * since some rules (TE with CL, Host count) need all of them. */
struct head_facts {
    int host_count;
    bool te_seen;
    bool te_last_chunked; /* the last coding seen so far is chunked */
    bool te_other;        /* some coding other than chunked */
    int te_chunked_count;
    bool conn_close;
    bool conn_keep_alive;
    bool conn_upgrade;
    bool upgrade_header;
    bool expect_continue;
};

static long fail(struct lt_http_request *req, long code, const char *why)
{
    req->error = why;
    return code;
}

static bool valid_host(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_class((unsigned char)s[i], C_HOST))
            return false;
    return true;
}

static enum lt_http_method method_from(const char *m, size_t len)
{
    /* Methods are case-sensitive (RFC 9110 9.1): "get" is some other method. */
    switch (len) {
    case 3:
        if (memcmp(m, "GET", 3) == 0)
            return LT_HTTP_GET;
        if (memcmp(m, "PUT", 3) == 0)
            return LT_HTTP_PUT;
        break;
    case 4:
        if (memcmp(m, "HEAD", 4) == 0)
            return LT_HTTP_HEAD;
        if (memcmp(m, "POST", 4) == 0)
            return LT_HTTP_POST;
        break;
    case 6:
        if (memcmp(m, "DELETE", 6) == 0)
            return LT_HTTP_DELETE;
        break;
    case 7:
        if (memcmp(m, "OPTIONS", 7) == 0)
            return LT_HTTP_OPTIONS;
        break;
    default:
        break;
    }
    return LT_HTTP_OTHER;
}

static void split_query(struct lt_http_request *req, const char *t, size_t len)
{
    const char *q = memchr(t, '?', len);
    req->target = t;
    req->target_len = len;
    req->path = t;
    if (q) {
        req->path_len = (size_t)(q - t);
        req->query = q + 1;
        req->query_len = len - req->path_len - 1;
    } else {
        req->path_len = len;
    }
}

/* absolute-form, RFC 9112 3.2.2: "http" "://" authority path-abempty [ "?" query ]. */
static long parse_absolute_form(struct lt_http_request *req, const char *t, size_t len,
                                const char **authority, size_t *authority_len)
{
    size_t skip;
    if (len >= 7 && EQUALS_LIT(t, 7, "http://"))
        skip = 7;
    else if (len >= 8 && EQUALS_LIT(t, 8, "https://"))
        skip = 8;
    else
        return fail(req, LT_HTTP_BAD, "request target must be origin-form");

    const char *a = t + skip, *end = t + len, *ae = a;
    while (ae < end && *ae != '/' && *ae != '?')
        ae++;
    if (ae == a || !valid_host(a, (size_t)(ae - a)))
        return fail(req, LT_HTTP_BAD, "invalid authority in absolute-form target");
    *authority = a;
    *authority_len = (size_t)(ae - a);

    if (ae == end) {
        /* An empty path means "/" (RFC 9110 4.2.3); the buffer holds no "/". */
        req->target = req->path = "/";
        req->target_len = req->path_len = 1;
        return 0;
    }
    if (*ae == '?')
        return fail(req, LT_HTTP_BAD, "absolute-form target without a path");
    split_query(req, ae, (size_t)(end - ae));
    return 0;
}

static long parse_content_length(struct lt_http_request *req, const char *v, size_t len)
{
    /* Only 1*DIGIT: a list ("1,1"), a sign or spaces inside are all ways for
     * two parsers to disagree about where the body ends (RFC 9112 6.3). */
    if (req->has_content_length)
        return fail(req, LT_HTTP_BAD, "duplicate Content-Length");
    if (len == 0)
        return fail(req, LT_HTTP_BAD, "empty Content-Length");
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < '0' || c > '9')
            return fail(req, LT_HTTP_BAD, "invalid Content-Length");
        n = n * 10 + (c - '0');
        if (n > LT_HTTP_MAX_CONTENT_LENGTH)
            return fail(req, LT_HTTP_BAD, "Content-Length too large");
    }
    req->has_content_length = true;
    req->content_length = n;
    return 0;
}

static long note_transfer_encoding(struct lt_http_request *req, struct head_facts *f, const char *v,
                                   size_t len)
{
    /* Several Transfer-Encoding lines form one list (RFC 9110 5.3), so the
     * "last coding" spans them all. */
    const char *p = v, *end = v + len, *el;
    size_t el_len;
    f->te_seen = true;
    while (next_element(&p, end, &el, &el_len)) {
        for (size_t i = 0; i < el_len; i++)
            if (!is_class((unsigned char)el[i], C_TCHAR))
                return fail(req, LT_HTTP_BAD, "invalid Transfer-Encoding");
        if (EQUALS_LIT(el, el_len, "chunked")) {
            f->te_chunked_count++;
            f->te_last_chunked = true;
        } else {
            f->te_other = true;
            f->te_last_chunked = false;
        }
    }
    return 0;
}

static void note_connection(struct head_facts *f, const char *v, size_t len)
{
    const char *p = v, *end = v + len, *el;
    size_t el_len;
    while (next_element(&p, end, &el, &el_len)) {
        if (EQUALS_LIT(el, el_len, "close"))
            f->conn_close = true;
        else if (EQUALS_LIT(el, el_len, "keep-alive"))
            f->conn_keep_alive = true;
        else if (EQUALS_LIT(el, el_len, "upgrade"))
            f->conn_upgrade = true;
    }
}

/* Records what one header field means for the request. Names are matched by
 * length first so that most fields cost one switch. */
static long note_header(struct lt_http_request *req, struct head_facts *f,
                        const struct lt_http_header *h)
{
    switch (h->name_len) {
    case 4:
        if (EQUALS_LIT(h->name, 4, "host")) {
            /* RFC 9112 3.2: more than one Host, or an invalid one, is a 400. */
            if (++f->host_count > 1)
                return fail(req, LT_HTTP_BAD, "duplicate Host");
            if (!valid_host(h->value, h->value_len))
                return fail(req, LT_HTTP_BAD, "invalid Host");
            req->host = h->value;
            req->host_len = h->value_len;
        }
        break;
    case 6:
        if (EQUALS_LIT(h->name, 6, "expect") && EQUALS_LIT(h->value, h->value_len, "100-continue"))
            f->expect_continue = true;
        break;
    case 7:
        if (EQUALS_LIT(h->name, 7, "upgrade") && h->value_len > 0)
            f->upgrade_header = true;
        break;
    case 10:
        if (EQUALS_LIT(h->name, 10, "connection"))
            note_connection(f, h->value, h->value_len);
        break;
    case 14:
        if (EQUALS_LIT(h->name, 14, "content-length"))
            return parse_content_length(req, h->value, h->value_len);
        break;
    case 17:
        if (EQUALS_LIT(h->name, 17, "transfer-encoding"))
            return note_transfer_encoding(req, f, h->value, h->value_len);
        break;
    default:
        break;
    }
    return 0;
}

/* Advances over bytes of a class. Needs no bounds check: the head ends with
 * LF (lt_http_parse_head checks), which is in no class, and each && reads a
 * byte only after the one before it was found in the class, so not the last.
 * Unrolled because this loop is most of the parsing time. */
static inline const unsigned char *skip_class(const unsigned char *p, int cls)
{
    while (is_class(p[0], cls) && is_class(p[1], cls) && is_class(p[2], cls) && is_class(p[3], cls))
        p += 4;
    while (is_class(*p, cls))
        p++;
    return p;
}

/* The request line, RFC 9112 3: method SP request-target SP HTTP-version CRLF,
 * single spaces only. Returns bytes consumed or an error. */
static long parse_request_line(struct lt_http_request *req, const unsigned char *start,
                               const unsigned char *end, const char **authority,
                               size_t *authority_len)
{
    const unsigned char *p = skip_class(start, C_TCHAR);

    if (p == start) {
        if (*p == '\r')
            return fail(req, LT_HTTP_BAD, "empty request line");
        return fail(req, LT_HTTP_BAD, "invalid method");
    }
    if (*p != ' ')
        return fail(req, LT_HTTP_BAD, "invalid method");
    req->method_str = (const char *)start;
    req->method_len = (size_t)(p - start);
    req->method = method_from(req->method_str, req->method_len);

    const unsigned char *t = ++p;
    p = skip_class(p, C_TARGET);
    if (p == t || *p != ' ')
        return fail(req, LT_HTTP_BAD, "invalid request target");
    size_t t_len = (size_t)(p - t);
    p++;

    /* HTTP-name is case-sensitive; anything but 1.0 and 1.1 is refused. */
    if (end - p < 10 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1'))
        return fail(req, LT_HTTP_BAD, "unsupported HTTP version");
    req->version_minor = p[7] - '0';
    if (p[8] != '\r')
        return fail(req, LT_HTTP_BAD, p[8] == '\n' ? "bare LF" : "malformed request line");
    if (p[9] != '\n')
        return fail(req, LT_HTTP_BAD, "bare CR");
    p += 10;

    if (*t == '/') {
        split_query(req, (const char *)t, t_len);
    } else if (t_len == 1 && *t == '*') {
        /* asterisk-form, RFC 9112 3.2.4: OPTIONS only. */
        if (req->method != LT_HTTP_OPTIONS)
            return fail(req, LT_HTTP_BAD, "asterisk-form target is only for OPTIONS");
        req->target = req->path = (const char *)t;
        req->target_len = req->path_len = 1;
    } else {
        long rc = parse_absolute_form(req, (const char *)t, t_len, authority, authority_len);
        if (rc < 0)
            return rc;
    }
    return p - start;
}

long lt_http_parse_head(const char *buf, size_t head_len, struct lt_http_request *req)
{
    const unsigned char *p = (const unsigned char *)buf;
    const unsigned char *end = p + head_len;
    struct head_facts f = {0};
    const char *authority = NULL;
    size_t authority_len = 0;

    /* Field by field rather than memset: headers[] is 2 KiB we would only
     * overwrite again. */
    req->method = LT_HTTP_OTHER;
    req->method_str = NULL;
    req->method_len = 0;
    req->target = req->path = req->query = NULL;
    req->target_len = req->path_len = req->query_len = 0;
    req->version_minor = 0;
    req->n_headers = 0;
    req->keep_alive = false;
    req->chunked = false;
    req->has_content_length = false;
    req->content_length = 0;
    req->expect_continue = false;
    req->upgrade = false;
    req->host = NULL;
    req->host_len = 0;
    req->head_len = 0;
    req->error = NULL;

    /* The final LF is the sentinel that lets the loops below run without
     * bounds checks. */
    if (head_len == 0 || buf[head_len - 1] != '\n')
        return fail(req, LT_HTTP_BAD, "incomplete header section");

    /* Must match lt_http_head_end's skipping. */
    for (int i = 0; i < LT_HTTP_MAX_LEADING_EMPTY && end - p >= 2 && p[0] == '\r' && p[1] == '\n';
         i++)
        p += 2;

    /* Only empty lines: the sentinel would be behind us. */
    if (p == end)
        return fail(req, LT_HTTP_BAD, "incomplete header section");

    long rc = parse_request_line(req, p, end, &authority, &authority_len);
    if (rc < 0)
        return rc;
    p += rc;

    for (;;) {
        if (p == end)
            return fail(req, LT_HTTP_BAD, "incomplete header section");
        if (*p == '\r') {
            if (end - p < 2 || p[1] != '\n')
                return fail(req, LT_HTTP_BAD, "bare CR");
            p += 2;
            break;
        }
        if (*p == '\n')
            return fail(req, LT_HTTP_BAD, "bare LF");
        if (is_ows(*p)) {
            /* RFC 9112 5.2 (obs-fold) and 2.2 (whitespace after the start
             * line): a server may reject both, and a proxy might not read them
             * as we would. */
            return fail(req, LT_HTTP_BAD,
                        req->n_headers == 0 ? "whitespace before the first header field"
                                            : "obs-fold is not allowed");
        }

        const unsigned char *name = p;
        p = skip_class(p, C_TCHAR);
        if (p == name)
            return fail(req, LT_HTTP_BAD, "invalid header name");
        if (*p != ':') {
            /* RFC 9112 5.1: no whitespace between field name and colon. */
            if (is_ows(*p))
                return fail(req, LT_HTTP_BAD, "whitespace before the colon");
            if (*p == '\r' || *p == '\n')
                return fail(req, LT_HTTP_BAD, "header line without a colon");
            return fail(req, LT_HTTP_BAD, "invalid character in header name");
        }
        const unsigned char *name_end = p++;

        while (is_ows(*p))
            p++;
        const unsigned char *value = p;
        p = skip_class(p, C_VALUE);
        if (*p != '\r')
            return fail(req, LT_HTTP_BAD,
                        *p == '\n' ? "bare LF" : "control character in header value");
        if (end - p < 2 || p[1] != '\n')
            return fail(req, LT_HTTP_BAD, "bare CR");
        const unsigned char *value_end = p;
        while (value_end > value && is_ows(value_end[-1]))
            value_end--;
        p += 2;

        if (req->n_headers == LT_HTTP_MAX_HEADERS)
            return fail(req, LT_HTTP_TOO_LARGE, "too many header fields");
        struct lt_http_header *h = &req->headers[req->n_headers++];
        h->name = (const char *)name;
        h->name_len = (size_t)(name_end - name);
        h->value = (const char *)value;
        h->value_len = (size_t)(value_end - value);
        rc = note_header(req, &f, h);
        if (rc < 0)
            return rc;
    }
    if (p != end)
        return fail(req, LT_HTTP_BAD, "data after the header section");

    if (req->version_minor == 1 && f.host_count == 0)
        return fail(req, LT_HTTP_BAD, "missing Host");
    if (authority) {
        req->host = authority;
        req->host_len = authority_len;
    }

    /* RFC 9112 6.1 and 6.3: the framing rules a smuggler plays with. */
    if (f.te_seen) {
        if (req->version_minor == 0)
            return fail(req, LT_HTTP_BAD, "Transfer-Encoding in an HTTP/1.0 request");
        if (req->has_content_length)
            return fail(req, LT_HTTP_BAD, "both Content-Length and Transfer-Encoding");
        if (f.te_chunked_count > 1)
            return fail(req, LT_HTTP_BAD, "chunked applied more than once");
        if (!f.te_last_chunked)
            return fail(req, LT_HTTP_BAD, "chunked is not the final transfer coding");
        if (f.te_other)
            return fail(req, LT_HTTP_NOT_IMPLEMENTED, "transfer coding not implemented");
        req->chunked = true;
    }

    if (req->version_minor == 1) {
        req->keep_alive = !f.conn_close;
        req->upgrade = f.conn_upgrade && f.upgrade_header;
        req->expect_continue = f.expect_continue;
    } else {
        req->keep_alive = f.conn_keep_alive && !f.conn_close;
    }
    req->head_len = head_len;
    return (long)head_len;
}

/* ---- chunked transfer coding, RFC 9112 7.1 ---------------------------- */

/* st->state holds one of these in its low 8 bits and, while on a chunk-size
 * line, the bytes seen on that line above them. st->chunk_left holds the size
 * being read on a size line, the bytes left in a chunk's data, and the
 * trailer section's length so far in the trailer. */
enum chunk_state {
    CS_SIZE = 0,        /* chunk-size digits; 0 so that a zeroed struct starts here */
    CS_BWS_SEMI,        /* BWS that must be followed by ';' */
    CS_EXT_NAME_START,  /* after ';': BWS chunk-ext-name */
    CS_EXT_NAME,        /* in chunk-ext-name */
    CS_EXT_AFTER_NAME,  /* BWS after a name: '=' or ';' must follow */
    CS_EXT_VALUE_START, /* after '=': BWS then token or quoted-string */
    CS_EXT_TOKEN,       /* in a token value */
    CS_EXT_QUOTED,      /* in a quoted-string value */
    CS_EXT_QUOTED_PAIR, /* after a backslash in a quoted-string */
    CS_EXT_VALUE_END,   /* after the closing quote */
    CS_SIZE_LF,         /* the LF ending the size line */
    CS_DATA,            /* chunk data */
    CS_DATA_CR,         /* the CRLF after chunk data */
    CS_DATA_LF,
    CS_TRAILER_START, /* start of a trailer line, or the final CRLF */
    CS_TRAILER_NAME,
    CS_TRAILER_VALUE,
    CS_TRAILER_LF,
    CS_END_LF, /* the LF of the final CRLF */
    CS_DONE,
    CS_BAD,
    CS_TOO_LARGE,
};

int lt_chunked_step(struct lt_chunked *st, const char *buf, size_t len, char *out, size_t out_cap)
{
    int state = st->state & 0xff;
    unsigned line = (unsigned)st->state >> 8;
    uint64_t n = st->chunk_left;
    size_t pos = st->in_pos;

    switch (state) {
    case CS_DONE:
        return 1;
    case CS_BAD:
        return LT_HTTP_BAD;
    case CS_TOO_LARGE:
        return LT_HTTP_BODY_TOO_LARGE;
    default:
        break;
    }

    while (pos < len) {
        if (state == CS_DATA) {
            size_t take = len - pos;
            if (n < take)
                take = (size_t)n;
            /* The size line already checked that the whole chunk fits. */
            memcpy(out + st->out_len, buf + pos, take);
            st->out_len += take;
            pos += take;
            n -= take;
            if (n == 0)
                state = CS_DATA_CR;
            continue;
        }

        unsigned char c = (unsigned char)buf[pos++];
        if (state < CS_DATA && ++line > LT_CHUNK_LINE_MAX) {
            state = CS_BAD;
            break;
        }
        if (state >= CS_TRAILER_START && ++n > LT_CHUNK_TRAILER_MAX) {
            state = CS_BAD;
            break;
        }

        switch (state) {
        case CS_SIZE:
            if (is_class(c, C_HEX)) {
                /* line counts the digits here; 16 always fit in 64 bits. */
                if (line > LT_CHUNK_SIZE_DIGITS)
                    state = CS_BAD;
                else
                    n = (n << 4) | hex_value(c);
            } else if (line == 1) {
                state = CS_BAD; /* no digits: "", "0x", "-1", " 5" */
            } else if (c == ';') {
                state = CS_EXT_NAME_START;
            } else if (c == '\r') {
                state = CS_SIZE_LF;
            } else if (is_ows(c)) {
                state = CS_BWS_SEMI;
            } else {
                state = CS_BAD;
            }
            break;
        /* Extensions are skipped, but by their grammar (RFC 9112 7.1.1):
         * a lenient skip to the next CRLF is exactly what lets a bare LF or a
         * quoted CRLF hide a second request. */
        case CS_BWS_SEMI:
            if (c == ';')
                state = CS_EXT_NAME_START;
            else if (!is_ows(c))
                state = CS_BAD;
            break;
        case CS_EXT_NAME_START:
            if (is_class(c, C_TCHAR))
                state = CS_EXT_NAME;
            else if (!is_ows(c))
                state = CS_BAD;
            break;
        case CS_EXT_NAME:
            if (is_class(c, C_TCHAR))
                break;
            if (c == '=')
                state = CS_EXT_VALUE_START;
            else if (c == ';')
                state = CS_EXT_NAME_START;
            else if (c == '\r')
                state = CS_SIZE_LF;
            else if (is_ows(c))
                state = CS_EXT_AFTER_NAME;
            else
                state = CS_BAD;
            break;
        case CS_EXT_AFTER_NAME:
            if (c == '=')
                state = CS_EXT_VALUE_START;
            else if (c == ';')
                state = CS_EXT_NAME_START;
            else if (!is_ows(c))
                state = CS_BAD;
            break;
        case CS_EXT_VALUE_START:
            if (c == '"')
                state = CS_EXT_QUOTED;
            else if (is_class(c, C_TCHAR))
                state = CS_EXT_TOKEN;
            else if (!is_ows(c))
                state = CS_BAD;
            break;
        case CS_EXT_TOKEN:
            if (is_class(c, C_TCHAR))
                break;
            if (c == ';')
                state = CS_EXT_NAME_START;
            else if (c == '\r')
                state = CS_SIZE_LF;
            else if (is_ows(c))
                state = CS_BWS_SEMI;
            else
                state = CS_BAD;
            break;
        case CS_EXT_QUOTED:
            if (c == '"')
                state = CS_EXT_VALUE_END;
            else if (c == '\\')
                state = CS_EXT_QUOTED_PAIR;
            else if (!is_class(c, C_QDTEXT))
                state = CS_BAD;
            break;
        case CS_EXT_QUOTED_PAIR:
            /* quoted-pair: HTAB, SP, VCHAR, obs-text; never CR or LF. */
            state = is_class(c, C_VALUE) ? CS_EXT_QUOTED : CS_BAD;
            break;
        case CS_EXT_VALUE_END:
            if (c == ';')
                state = CS_EXT_NAME_START;
            else if (c == '\r')
                state = CS_SIZE_LF;
            else if (is_ows(c))
                state = CS_BWS_SEMI;
            else
                state = CS_BAD;
            break;
        case CS_SIZE_LF:
            line = 0;
            if (c != '\n') {
                state = CS_BAD;
            } else if (n == 0) {
                state = CS_TRAILER_START; /* last-chunk; n now counts trailer bytes */
            } else if (n > out_cap - st->out_len) {
                /* Refuse before copying: no point in reading a chunk that
                 * cannot fit. */
                state = CS_TOO_LARGE;
            } else {
                state = CS_DATA;
            }
            break;
        case CS_DATA_CR:
            state = c == '\r' ? CS_DATA_LF : CS_BAD;
            break;
        case CS_DATA_LF:
            state = c == '\n' ? CS_SIZE : CS_BAD;
            break;
        /* Trailer fields are discarded, but checked like header fields so
         * that no bare LF or obs-fold can make them mean something to
         * another reader (RFC 9112 7.1.2). */
        case CS_TRAILER_START:
            if (c == '\r')
                state = CS_END_LF;
            else if (is_class(c, C_TCHAR))
                state = CS_TRAILER_NAME;
            else
                state = CS_BAD;
            break;
        case CS_TRAILER_NAME:
            if (c == ':')
                state = CS_TRAILER_VALUE;
            else if (!is_class(c, C_TCHAR))
                state = CS_BAD;
            break;
        case CS_TRAILER_VALUE:
            if (c == '\r')
                state = CS_TRAILER_LF;
            else if (!is_class(c, C_VALUE))
                state = CS_BAD;
            break;
        case CS_TRAILER_LF:
            state = c == '\n' ? CS_TRAILER_START : CS_BAD;
            break;
        case CS_END_LF:
            state = c == '\n' ? CS_DONE : CS_BAD;
            break;
        default:
            state = CS_BAD;
            break;
        }

        if (state >= CS_DONE)
            break;
    }

    st->state = state | (int)(line << 8);
    st->chunk_left = n;
    st->in_pos = pos;
    switch (state) {
    case CS_DONE:
        return 1;
    case CS_BAD:
        return LT_HTTP_BAD;
    case CS_TOO_LARGE:
        return LT_HTTP_BODY_TOO_LARGE;
    default:
        return LT_HTTP_NEED_MORE;
    }
}

/* ---- query strings ---------------------------------------------------- */

/* Decoding never writes ahead of reading (an escape shrinks 3 bytes to 1), so
 * out may be the same buffer as in. */
long lt_url_decode(const char *in, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '%') {
            if (len - i < 3 || !is_class((unsigned char)in[i + 1], C_HEX) ||
                !is_class((unsigned char)in[i + 2], C_HEX))
                return -1;
            c = (unsigned char)(hex_value((unsigned char)in[i + 1]) << 4 |
                                hex_value((unsigned char)in[i + 2]));
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == '\0' || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (long)o;
}

/* Does the encoded key k[0..len) decode to exactly name[0..name_len)? */
static bool key_matches(const char *k, size_t len, const char *name, size_t name_len)
{
    size_t j = 0;
    for (size_t i = 0; i < len; i++, j++) {
        unsigned char c = (unsigned char)k[i];
        if (c == '%') {
            if (len - i < 3 || !is_class((unsigned char)k[i + 1], C_HEX) ||
                !is_class((unsigned char)k[i + 2], C_HEX))
                return false;
            c = (unsigned char)(hex_value((unsigned char)k[i + 1]) << 4 |
                                hex_value((unsigned char)k[i + 2]));
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (j >= name_len || (unsigned char)name[j] != c)
            return false;
    }
    return j == name_len;
}

long lt_query_get(const char *query, size_t query_len, const char *name, char *out, size_t cap)
{
    if (!query)
        return -1;
    size_t name_len = strlen(name);
    const char *p = query, *end = query + query_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        if (key_matches(p, (size_t)((eq ? eq : pe) - p), name, name_len)) {
            if (eq) {
                long n = lt_url_decode(eq + 1, (size_t)(pe - eq - 1), out, cap);
                return n < 0 ? LT_QUERY_BAD : n;
            }
            if (cap == 0)
                return LT_QUERY_BAD;
            out[0] = '\0';
            return 0;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return -1;
}
