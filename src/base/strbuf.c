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
