/* Display formats of counts (API.md "Display formats"): one rule set, here
 * in C for the totals' `display` field and in web/ for the widget, both
 * checked against tests/display_vectors.json.
 *
 * A displayed number never overstates the count: digits are cut, never
 * rounded up. `compact` keeps one decimal and drops a trailing ".0";
 * `floor` keeps whole units and adds "+" only when something was cut. A unit
 * is used from its own size up to the next unit. */
#ifndef LIVETALLY_DISPLAY_H
#define LIVETALLY_DISPLAY_H

#include <stddef.h>
#include <stdint.h>

enum lt_display_locale { LT_LOCALE_EN, LT_LOCALE_ZH_CN, LT_LOCALE_ZH_CN_W };
enum lt_display_style { LT_STYLE_FLOOR, LT_STYLE_COMPACT };

/* Resolves a locale tag: "zh-CN-W" (ours, exact) -> zh-CN-W; "zh", "zh-CN",
 * "zh-Hans", "zh-Hans-CN" and any other "zh-..." -> zh-CN; everything else
 * ("en", "en-US", unknown) -> en. Case-insensitive. */
enum lt_display_locale lt_display_locale_parse(const char *tag, size_t len);
const char *lt_display_locale_name(enum lt_display_locale locale);

/* "floor" or "compact"; returns -1 for anything else. */
int lt_display_style_parse(const char *name, size_t len);

/* Formats n (negative numbers are shown as plain digits) into out, which
 * needs LT_DISPLAY_MAX bytes. Returns the length. */
#define LT_DISPLAY_MAX 48
size_t lt_display_format(int64_t n, enum lt_display_locale locale, enum lt_display_style style,
                         char *out);

#endif
