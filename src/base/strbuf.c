/* Checked text building (see strbuf.h for the rules). */
#include "livetally/base/strbuf.h"

#include "livetally/base/error.h"
#include "livetally/base/mem.h"

#include <stdio.h>
#include <string.h>

/* With max at most a quarter of SIZE_MAX, len + n + 1 and cap * 2 below
 * cannot wrap once n has been checked against max - len. */
#define STRBUF_MAX_LIMIT (SIZE_MAX / 4)

void lt_strbuf_init(struct lt_strbuf *sb, char *storage, size_t cap, size_t max)
{
    sb->data = cap ? storage : NULL;
    sb->cap = storage ? cap : 0;
    sb->len = 0;
    sb->max = max > STRBUF_MAX_LIMIT ? STRBUF_MAX_LIMIT : max;
    sb->heap = false;
    sb->failed = false;
    if (sb->data)
        sb->data[0] = '\0';
}

void lt_strbuf_init_fixed(struct lt_strbuf *sb, char *storage, size_t cap)
{
    lt_strbuf_init(sb, storage, cap, storage && cap ? cap - 1 : 0);
}

void lt_strbuf_free(struct lt_strbuf *sb)
{
    if (sb->heap)
        lt_free(sb->data);
    sb->data = NULL;
    sb->cap = 0;
    sb->len = 0;
    sb->heap = false;
}

const char *lt_strbuf_text(const struct lt_strbuf *sb)
{
    return sb->data ? sb->data : "";
}

void lt_strbuf_cut(struct lt_strbuf *sb, size_t len)
{
    if (len < sb->len) {
        sb->len = len;
        sb->data[len] = '\0';
    }
}

static int refuse(struct lt_strbuf *sb, int code)
{
    sb->failed = true;
    return code;
}

/* Makes room for n more bytes of text and the NUL, or refuses. */
static int reserve(struct lt_strbuf *sb, size_t n)
{
    if (sb->failed)
        return LT_ETOOLARGE;
    if (n > sb->max - sb->len) /* len <= max always: no wrap */
        return refuse(sb, LT_ETOOLARGE);
    size_t need = sb->len + n + 1;
    if (need <= sb->cap)
        return 0;
    size_t cap = sb->cap < 64 ? 64 : sb->cap * 2;
    if (cap < need)
        cap = need;
    if (cap > sb->max + 1)
        cap = sb->max + 1;
    if (sb->heap) {
        sb->data = lt_realloc(sb->data, cap);
    } else {
        char *p = lt_malloc(cap);
        if (sb->len)
            memcpy(p, sb->data, sb->len);
        p[sb->len] = '\0';
        sb->data = p;
        sb->heap = true;
    }
    sb->cap = cap;
    return 0;
}

int lt_strbuf_add(struct lt_strbuf *sb, const void *bytes, size_t n)
{
    int rc = reserve(sb, n);
    if (rc != 0)
        return rc;
    if (n == 0)
        return 0; /* there may be no storage at all yet */
    memcpy(sb->data + sb->len, bytes, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
    return 0;
}

int lt_strbuf_add_str(struct lt_strbuf *sb, const char *s)
{
    return lt_strbuf_add(sb, s, strlen(s));
}

int lt_strbuf_add_char(struct lt_strbuf *sb, char c)
{
    return lt_strbuf_add(sb, &c, 1);
}

int lt_strbuf_vaddf(struct lt_strbuf *sb, const char *fmt, va_list ap)
{
    if (sb->failed)
        return LT_ETOOLARGE;
    /* First try in the room there is; vsnprintf says how much it needed. */
    size_t room = sb->data ? sb->cap - sb->len : 0;
    va_list again;
    va_copy(again, ap);
    int r = vsnprintf(sb->data ? sb->data + sb->len : NULL, room, fmt, ap);
    if (r < 0) {
        va_end(again);
        if (sb->data)
            sb->data[sb->len] = '\0';
        return refuse(sb, LT_EINVAL);
    }
    size_t n = (size_t)r;
    if (n < room) {
        va_end(again);
        /* Fits in the storage, but the text must not pass max either. */
        if (n > sb->max - sb->len) {
            sb->data[sb->len] = '\0';
            return refuse(sb, LT_ETOOLARGE);
        }
        sb->len += n;
        return 0;
    }
    if (sb->data)
        sb->data[sb->len] = '\0'; /* undo the truncated attempt */
    int rc = reserve(sb, n);
    if (rc != 0) {
        va_end(again);
        return rc;
    }
    int r2 = vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, again);
    va_end(again);
    if (r2 != r) { /* the same format and arguments: cannot differ */
        sb->data[sb->len] = '\0';
        return refuse(sb, LT_EINVAL);
    }
    sb->len += n;
    return 0;
}

int lt_strbuf_addf(struct lt_strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = lt_strbuf_vaddf(sb, fmt, ap);
    va_end(ap);
    return rc;
}

int lt_strbuf_add_uint(struct lt_strbuf *sb, uint64_t v)
{
    char digits[20]; /* UINT64_MAX has 20 digits */
    size_t i = sizeof digits;
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return lt_strbuf_add(sb, digits + i, sizeof digits - i);
}

int lt_strbuf_add_int(struct lt_strbuf *sb, int64_t v)
{
    if (v >= 0)
        return lt_strbuf_add_uint(sb, (uint64_t)v);
    /* The magnitude as unsigned, which INT64_MIN also has. */
    uint64_t mag = (uint64_t)0 - (uint64_t)v;
    char text[21]; /* '-' and at most 20 digits */
    size_t i = sizeof text;
    do {
        text[--i] = (char)('0' + mag % 10);
        mag /= 10;
    } while (mag);
    text[--i] = '-';
    return lt_strbuf_add(sb, text + i, sizeof text - i);
}

/* The length of the well-formed UTF-8 sequence at s (n bytes left), or 0:
 * RFC 3629's table, so no overlong form, no surrogate, nothing past
 * U+10FFFF. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

int lt_strbuf_add_json_string(struct lt_strbuf *sb, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = sb->len;
    const unsigned char *p = (const unsigned char *)s;
    int rc = lt_strbuf_add_char(sb, '"');
    size_t i = 0;
    while (rc == 0 && i < n) {
        /* The longest run that needs no escaping goes in one append. */
        size_t run = i;
        size_t len = 0;
        while (run < n && p[run] >= 0x20 && p[run] != '"' && p[run] != '\\' && p[run] != 0x7F &&
               (len = utf8_sequence(p + run, n - run)) > 0)
            run += len;
        if (run > i) {
            rc = lt_strbuf_add(sb, p + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t esc_len = 2;
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            if (c < 0x20 || c == 0x7F) {
                memcpy(esc + 2, "00", 2);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
            } else {
                memcpy(esc + 2, "fffd", 4); /* a byte of no well-formed sequence */
            }
            esc_len = 6;
        }
        rc = lt_strbuf_add(sb, esc, esc_len);
        i++;
    }
    if (rc == 0)
        rc = lt_strbuf_add_char(sb, '"');
    if (rc != 0)
        lt_strbuf_cut(sb, start); /* refused whole; the failure stays marked */
    return rc;
}
