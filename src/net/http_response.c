/* Response heads as text (see http_response.h). */
#include "livetally/net/http_response.h"

#include "livetally/base/error.h"
#include "livetally/base/strbuf.h"

#include <string.h>
#include <time.h>

const char *lt_status_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

/* The Date header changes once a second; format it once per second. */
const char *lt_http_date(void)
{
    /* "Sun, 06 Nov 1994 08:49:37 GMT" is 29 bytes; strftime writes nothing
     * (and we keep the old text) in the impossible case it does not fit. */
    static char buf[40];
    static time_t cached;
    time_t now = time(NULL);
    if (now != cached) {
        struct tm tm;
        gmtime_r(&now, &tm);
        if (strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0)
            cached = now;
    }
    return buf;
}

bool lt_http_field_name_ok(const char *name, size_t len)
{
    static const char specials[] = "!#$%&'*+-.^_`|~";
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c != '\0' && memchr(specials, c, sizeof specials - 1) != NULL);
        if (!ok)
            return false;
    }
    return true;
}

bool lt_http_field_value_ok(const char *value, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

static int refuse(struct lt_strbuf *sb)
{
    sb->failed = true;
    return LT_EINVAL;
}

int lt_http_header_line(struct lt_strbuf *sb, const char *name, const char *value, size_t value_len)
{
    size_t name_len = strlen(name);
    if (!lt_http_field_name_ok(name, name_len) || !lt_http_field_value_ok(value, value_len))
        return refuse(sb);
    size_t before = sb->len;
    lt_strbuf_add(sb, name, name_len);
    lt_strbuf_add(sb, ": ", 2);
    lt_strbuf_add(sb, value, value_len);
    int rc = lt_strbuf_add(sb, "\r\n", 2); /* refusals are sticky: the last tells */
    if (rc != 0)
        lt_strbuf_cut(sb, before); /* no half line */
    return rc;
}

/* Lines of "Name: value\r\n" only, as lt_http_header_line writes them. */
static bool header_lines_ok(const char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const char *colon = memchr(p + i, ':', len - i);
        if (!colon || !lt_http_field_name_ok(p + i, (size_t)(colon - (p + i))))
            return false;
        size_t v = (size_t)(colon - p) + 1;
        size_t end = v;
        while (end < len && p[end] != '\r')
            end++;
        if (end + 1 >= len || p[end + 1] != '\n' || !lt_http_field_value_ok(p + v, end - v))
            return false;
        i = end + 2;
    }
    return true;
}

int lt_http_response_head(struct lt_strbuf *sb, const struct lt_response_head *h)
{
    if (h->status < 100 || h->status > 599)
        return refuse(sb);
    bool bodiless = h->status < 200 || h->status == 204 || h->status == 304;
    int invalid = 0; /* an LT_EINVAL from a value, reported over a refusal */
    lt_strbuf_add_str(sb, "HTTP/1.1 ");
    lt_strbuf_add_int(sb, h->status);
    lt_strbuf_add_char(sb, ' ');
    lt_strbuf_add_str(sb, lt_status_reason(h->status));
    lt_strbuf_add_str(sb, "\r\nServer: livetally\r\n");
    if (h->date && lt_http_header_line(sb, "Date", h->date, strlen(h->date)) == LT_EINVAL)
        invalid = LT_EINVAL;
    if (h->content_type && !bodiless &&
        lt_http_header_line(sb, "Content-Type", h->content_type, strlen(h->content_type)) ==
            LT_EINVAL)
        invalid = LT_EINVAL;
    if (h->content_length >= 0 && !bodiless) {
        lt_strbuf_add_str(sb, "Content-Length: ");
        lt_strbuf_add_int(sb, h->content_length);
        lt_strbuf_add_str(sb, "\r\n");
    }
    if (h->allow_origin && lt_http_header_line(sb, "Access-Control-Allow-Origin", h->allow_origin,
                                               h->allow_origin_len) == LT_EINVAL)
        invalid = LT_EINVAL;
    if (h->vary_origin)
        lt_strbuf_add_str(sb, "Vary: Origin\r\n");
    if (h->request_id) {
        if (lt_http_header_line(sb, "X-Request-Id", h->request_id, strlen(h->request_id)) ==
            LT_EINVAL)
            invalid = LT_EINVAL;
        if (h->allow_origin)
            lt_strbuf_add_str(sb, "Access-Control-Expose-Headers: X-Request-Id\r\n");
    }
    if (h->extra_len) {
        if (!header_lines_ok(h->extra, h->extra_len))
            return refuse(sb);
        lt_strbuf_add(sb, h->extra, h->extra_len);
    }
    if (h->connection &&
        lt_http_header_line(sb, "Connection", h->connection, strlen(h->connection)) == LT_EINVAL)
        invalid = LT_EINVAL;
    lt_strbuf_add_str(sb, "\r\n");
    if (lt_strbuf_failed(sb))
        return invalid ? invalid : LT_ETOOLARGE;
    return 0;
}
