/* The words of the HTML report (report_out.c) in each report locale: one
 * table of messages, an id per message and one array per language (English
 * for en; Simplified Chinese for zh-CN and zh-CN-W, which differ only in how
 * figures are shown). The report's JSON and CSV keep their English keys:
 * they are machine formats and do not use this table.
 *
 * A message is plain text that report_out.c writes into element text and
 * attribute values as it is, without escaping: none holds & < > or a double
 * quote (the unit test checks). Where the words stand
 * around figures in a different order per language, the message holds the
 * places "{1}" and "{2}" that lt_report_words_add fills; every language's
 * message has the same places. A message added to the enum without a word in
 * every language fails the unit test (tests/unit/api/test_report_out.c). */
#ifndef LIVETALLY_REPORT_WORDS_H
#define LIVETALLY_REPORT_WORDS_H

#include "livetally/base/display.h"
#include "livetally/store/totals.h"

struct lt_strbuf;

enum lt_report_word {
    LT_RW_LANG,         /* the <html lang> tag */
    LT_RW_TITLE_PREFIX, /* before the stream's title in <title> */
    /* The line under the heading: "Stream <id>, series <s>, status <st>.
     * Generated at <time>; times in <tz>." */
    LT_RW_INTRO_STREAM,
    LT_RW_INTRO_SERIES,
    LT_RW_INTRO_STATUS,
    LT_RW_INTRO_GENERATED,
    LT_RW_INTRO_TZ,
    LT_RW_INTRO_END,
    LT_RW_STATUS_SCHEDULED,
    LT_RW_STATUS_LIVE,
    LT_RW_STATUS_ENDED,
    /* Totals. */
    LT_RW_H_TOTALS,
    LT_RW_VIEWS,
    LT_RW_LIKES,
    LT_RW_UNIQUES_ESTIMATE,
    LT_RW_PEAK_ONLINE,
    LT_RW_PEAK_AT,
    /* The per-minute charts. */
    LT_RW_H_PER_MINUTE,
    LT_RW_NO_MINUTES,
    LT_RW_CHART_VIEWS,
    LT_RW_CHART_LIKES,
    LT_RW_CHART_HIGHEST, /* {1}: the highest minute's figure */
    /* Segments. */
    LT_RW_H_SEGMENTS,
    LT_RW_NONE_SENTENCE,
    LT_RW_COL_NUMBER,
    LT_RW_COL_SEGMENT,
    LT_RW_COL_STARTED,
    LT_RW_COL_ENDED,
    LT_RW_COL_VIEWS,
    LT_RW_COL_LIKES,
    LT_RW_COL_UNIQUES_ESTIMATE,
    LT_RW_SEGMENT_RUNNING,
    LT_RW_SEGMENT_TO_END,
    /* Sources and partner reports. */
    LT_RW_H_SOURCES,
    LT_RW_COL_SOURCE,
    LT_RW_COL_VIEWS_HERE,
    LT_RW_COL_LIKES_HERE,
    LT_RW_COL_PARTNER_REPORTED,
    LT_RW_REPORTED_FIGURES, /* {1} views, {2} likes */
    LT_RW_LOWER_NOTE,       /* after the reported figures */
    LT_RW_NONE,
    LT_RW_H_PARTNER_REPORTS,
    LT_RW_COL_TIME,
    LT_RW_COL_VIEWS_REPORTED,
    LT_RW_COL_LIKES_REPORTED,
    LT_RW_LOWER_THAN_BEFORE,
    /* The counting method. */
    LT_RW_H_METHOD,
    LT_RW_A_VIEW,
    LT_RW_VIEW_RULE,
    LT_RW_DEDUP_WINDOW,
    LT_RW_BUDGET_VIEWER,
    LT_RW_BUDGET_CLIENT,
    LT_RW_BUDGET_FIGURES, /* {1} taps per second, {2} burst */
    LT_RW_TAPS_DROPPED,
    LT_RW_EVENTS_REJECTED,
    /* The per-minute table. */
    LT_RW_H_MINUTE_TABLE,
    LT_RW_COL_UNIQUES,
    LT_RW_COL_ONLINE,
    LT_RW_COUNT
};

/* The message id in the locale's language; never NULL (an id out of range
 * or a word missing from a table gives "", which the unit test forbids).
 * Static storage. */
const char *lt_report_word(enum lt_display_locale locale, enum lt_report_word id);

/* The report's word for a stream status ("ended", "已结束"); "" for
 * LT_STATUS_NONE. Static storage. */
const char *lt_report_status_word(enum lt_display_locale locale, enum lt_stream_status status);

/* Appends the message to sb with "{1}" replaced by a1 and "{2}" by a2, as
 * given (the caller escapes them when needed; NULL is taken as ""). */
void lt_report_words_add(struct lt_strbuf *sb, enum lt_display_locale locale,
                         enum lt_report_word id, const char *a1, const char *a2);

#endif
