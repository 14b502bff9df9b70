/* Display formats (see display.h). */
#include "livetally/base/display.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct unit {
    int64_t size;
    const char *suffix;
};

/* Largest first; a locale's list ends with a zero size. */
static const struct unit units_en[] = {
    {1000000000, "B"}, {1000000, "M"}, {1000, "K"}, {0, NULL}};
static const struct unit units_zh[] = {{100000000, "亿"}, {10000, "万"}, {0, NULL}};
static const struct unit units_zh_w[] = {{100000000, "亿"}, {10000, "W"}, {0, NULL}};

enum lt_display_locale lt_display_locale_parse(const char *tag, size_t len)
{
    if (len == 7 && strncasecmp(tag, "zh-CN-W", 7) == 0)
        return LT_LOCALE_ZH_CN_W;
    if ((len == 2 && strncasecmp(tag, "zh", 2) == 0) ||
        (len > 2 && strncasecmp(tag, "zh", 2) == 0 && (tag[2] == '-' || tag[2] == '_')))
        return LT_LOCALE_ZH_CN;
    return LT_LOCALE_EN;
}

const char *lt_display_locale_name(enum lt_display_locale locale)
{
    switch (locale) {
    case LT_LOCALE_ZH_CN: return "zh-CN";
    case LT_LOCALE_ZH_CN_W: return "zh-CN-W";
    case LT_LOCALE_EN: break;
    }
    return "en";
}

int lt_display_style_parse(const char *name, size_t len)
{
    if (len == 5 && memcmp(name, "floor", 5) == 0)
        return LT_STYLE_FLOOR;
    if (len == 7 && memcmp(name, "compact", 7) == 0)
        return LT_STYLE_COMPACT;
    return -1;
}

size_t lt_display_format(int64_t n, enum lt_display_locale locale, enum lt_display_style style,
                         char *out)
{
    const struct unit *u = locale == LT_LOCALE_EN      ? units_en
                           : locale == LT_LOCALE_ZH_CN ? units_zh
                                                       : units_zh_w;
    /* snprintf returns what it wrote: at most 20 digits, ".", a digit, a 3-byte suffix and "+" fit
     * LT_DISPLAY_MAX */
    int len;
    while (u->size && n < u->size)
        u++;
    if (n < 0 || !u->size) {
        len = snprintf(out, LT_DISPLAY_MAX, "%" PRId64, n);
        return (size_t)len;
    }
    int64_t whole = n / u->size;
    int64_t rest = n % u->size;
    if (style == LT_STYLE_FLOOR) {
        len = snprintf(out, LT_DISPLAY_MAX, "%" PRId64 "%s%s", whole, u->suffix, rest ? "+" : "");
    } else {
        /* One decimal, cut: 1299 -> 1.2K, never 1.3K. */
        int64_t tenth = rest / (u->size / 10);
        if (tenth)
            len = snprintf(out, LT_DISPLAY_MAX, "%" PRId64 ".%d%s", whole, (int)tenth, u->suffix);
        else
            len = snprintf(out, LT_DISPLAY_MAX, "%" PRId64 "%s", whole, u->suffix);
    }
    return (size_t)len;
}
