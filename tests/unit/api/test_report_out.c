/* Unit tests of report_out.c: the three forms of a report built from a
 * fixed model (no sockets, no Redis): the JSON's sha256 rule, CSV quoting
 * and sections, HTML escaping, figures and chart, digests; and of
 * report_words.c: every word in every language, the HTML in each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "livetally/api/report_out.h"
#include "livetally/api/report_words.h"
#include "livetally/base/mem.h"
#include "livetally/base/strbuf.h"
#include "livetally/store/timeseries.h"
#include "livetally/store/totals.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2022-07-16T02:00:00Z */
#define T0 1657936800

static struct lt_totals totals;
static int64_t tvals[3] = {T0, T0 + 60, T0 + 120};
static int64_t vals[3 * 4] = {3, 12345, 3, 0, 2, 3, 2, 7, 1, 0, 1, 5};
static struct lt_timeseries minutes = {60, 3, 4, tvals, vals};

static struct lt_report model(const char *tz, enum lt_display_locale locale)
{
    struct lt_report r = {
        .totals = &totals,
        .minutes = &minutes,
        .method = {1800, 20, 100, 2000, 10000},
        .generated_ms = (int64_t)(T0 + 3600) * 1000 + 250,
        .tz = tz,
        .locale = locale,
    };
    return r;
}

static int setup(void **state)
{
    (void)state;
    lt_totals_init(&totals, "rep-1");
    const char title[] = "<b>\"Q&A\"</b>, 开幕";
    lt_totals_set_title(&totals, title, sizeof title - 1);
    totals.status = LT_STATUS_ENDED;
    totals.views = 203411;
    totals.likes = 12348;
    totals.uniques = 6;
    totals.peak_online = 7;
    totals.peak_at_ms = (int64_t)(T0 + 60) * 1000;
    totals.created_ms = (int64_t)T0 * 1000;
    totals.dropped_taps = 20000;
    totals.rejected = 3;
    struct lt_totals_source *s = lt_totals_source(&totals, "bili", 4);
    s->views = 1;
    s->likes = 3;
    struct lt_totals_segment *g = lt_totals_segment(&totals, 1);
    g->title = lt_strdup("开幕式");
    g->started_ms = (int64_t)T0 * 1000;
    g->ended_ms = (int64_t)(T0 + 90) * 1000 + 500;
    g->views = 2;
    g->likes = 12000;
    g->uniques = 2;
    g = lt_totals_segment(&totals, 2);
    g->title = lt_strdup("<img src=x onerror=alert(1)>, \"Q\"");
    g->started_ms = (int64_t)(T0 + 90) * 1000 + 500;
    g->views = 1;
    g->likes = 348;
    g->uniques = 1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lt_totals_free(&totals);
    return 0;
}

static char *encode(enum lt_report_format f, const char *tz, enum lt_display_locale loc,
                    size_t *len)
{
    struct lt_report r = model(tz, loc);
    struct lt_strbuf sb;
    char stack[64];
    lt_strbuf_init(&sb, stack, sizeof stack, 1 << 20);
    assert_int_equal(lt_report_encode(&sb, &r, f), 0);
    *len = sb.len;
    char *out = malloc(sb.len + 1);
    memcpy(out, lt_strbuf_text(&sb), sb.len + 1);
    lt_strbuf_free(&sb);
    return out;
}

static void test_json_and_its_sha256(void **state)
{
    (void)state;
    size_t len;
    char *body = encode(LT_REPORT_JSON, "UTC", LT_LOCALE_EN, &len);
    /* The rule: the bytes before ,"sha256" then '}', hashed. */
    const char *cut = strstr(body, ",\"sha256\":\"");
    assert_non_null(cut);
    assert_string_equal(cut + 11 + 64, "\"}");
    size_t n = (size_t)(cut - body);
    char *doc = malloc(n + 2);
    memcpy(doc, body, n);
    doc[n] = '}';
    doc[n + 1] = '\0';
    char hex[65];
    assert_int_equal(lt_report_sha256_hex(doc, n + 1, hex), 0);
    assert_memory_equal(cut + 11, hex, 64);
    /* A changed byte changes it. */
    doc[2] ^= 1;
    char hex2[65];
    lt_report_sha256_hex(doc, n + 1, hex2);
    assert_string_not_equal(hex, hex2);
    free(doc);
    json_error_t err;
    json_t *o = json_loads(body, 0, &err);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "totals"), "views")),
                     203411);
    json_t *m = json_object_get(o, "method");
    assert_int_equal(json_integer_value(json_object_get(m, "dropped_taps")), 20000);
    assert_int_equal(json_integer_value(json_object_get(m, "rejected_events")), 3);
    assert_int_equal(json_integer_value(json_object_get(m, "dedup_seconds")), 1800);
    json_t *pts = json_object_get(json_object_get(o, "per_minute"), "points");
    assert_int_equal(json_array_size(pts), 3);
    assert_int_equal(json_integer_value(json_array_get(json_array_get(pts, 0), 2)), 12345);
    json_t *src = json_array_get(json_object_get(o, "sources"), 0);
    assert_true(json_is_null(json_object_get(src, "partner_reported")));
    assert_string_equal(json_string_value(json_object_get(o, "generated_at")),
                        "2022-07-16T03:00:00.250Z");
    json_t *segs = json_object_get(o, "segments");
    assert_int_equal(json_array_size(segs), 2);
    json_t *g = json_array_get(segs, 1);
    assert_int_equal(json_integer_value(json_object_get(g, "id")), 2);
    assert_string_equal(json_string_value(json_object_get(g, "title")),
                        "<img src=x onerror=alert(1)>, \"Q\"");
    assert_string_equal(json_string_value(json_object_get(g, "started_at")),
                        "2022-07-16T02:01:30.500Z");
    assert_true(json_is_null(json_object_get(g, "ended_at")));
    assert_int_equal(json_integer_value(json_object_get(g, "likes")), 348);
    g = json_array_get(segs, 0);
    assert_string_equal(json_string_value(json_object_get(g, "ended_at")),
                        "2022-07-16T02:01:30.500Z");
    assert_int_equal(json_integer_value(json_object_get(g, "likes")), 12000);
    json_decref(o);
    free(body);
}

static void test_csv(void **state)
{
    (void)state;
    size_t len;
    char *body = encode(LT_REPORT_CSV, "Asia/Shanghai", LT_LOCALE_EN, &len);
    assert_true(strncmp(body, "section,key,time,value,views,likes,uniques,online\r\n", 51) == 0);
    /* The title quoted, its quotes doubled. */
    assert_non_null(strstr(body, "\r\nreport,title,,\"<b>\"\"Q&A\"\"</b>, 开幕\",,,,\r\n"));
    assert_non_null(strstr(body, "\r\ntotals,views,,203411,,,,\r\n"));
    assert_non_null(strstr(body, "\r\npeak,online,2022-07-16T10:01:00+08:00,7,,,,\r\n"));
    assert_non_null(strstr(body, "\r\nsource_counted_here,bili,,,1,3,,\r\n"));
    /* segment,<id>,<local start>,<title>,views,likes,uniques, */
    assert_non_null(strstr(body, "\r\nsegment,1,2022-07-16T10:00:00+08:00,开幕式,2,12000,2,\r\n"));
    assert_non_null(strstr(body, "\r\nsegment,2,2022-07-16T10:01:30+08:00,"
                                 "\"<img src=x onerror=alert(1)>, \"\"Q\"\"\",1,348,1,\r\n"));
    assert_non_null(strstr(body, "\r\nmethod,dropped_taps,,20000,,,,\r\n"));
    assert_non_null(
        strstr(body, "\r\nminute,1657936800,2022-07-16T10:00:00+08:00,,3,12345,3,0\r\n"));
    free(body);
}

static void test_html(void **state)
{
    (void)state;
    size_t len;
    char *body = encode(LT_REPORT_HTML, "UTC", LT_LOCALE_ZH_CN, &len);
    assert_null(strstr(body, "<b>"));
    assert_null(strstr(body, "<script"));
    assert_non_null(strstr(body, "&lt;b&gt;&quot;Q&amp;A&quot;&lt;/b&gt;, 开幕"));
    assert_non_null(strstr(body, "203,411 (20万+)"));
    assert_non_null(strstr(body, "<svg"));
    assert_non_null(strstr(body, "每分钟点赞（最高：12,345 (1万+)）"));
    assert_non_null(strstr(body, ">02:00</text>"));
    assert_non_null(strstr(body, "20,000")); /* dropped taps */
    /* The segments' table: titles escaped, the running one without an end. */
    assert_null(strstr(body, "<img"));
    assert_non_null(strstr(body, "<th>&lt;img src=x onerror=alert(1)&gt;, &quot;Q&quot;</th>"));
    assert_non_null(strstr(body, "<tr><td>1</td><th>开幕式</th><td>2022-07-16T02:00:00+00:00</td>"
                                 "<td>2022-07-16T02:01:30+00:00</td><td>2</td><td>12,000 (1万+)"));
    assert_non_null(strstr(body, "<td>随直播结束</td>"));
    free(body);
    body = encode(LT_REPORT_HTML, "Asia/Shanghai", LT_LOCALE_EN, &len);
    assert_non_null(strstr(body, ">10:00</text>"));
    assert_non_null(strstr(body, "203,411 (203K+)"));
    assert_non_null(strstr(body, "likes per minute (highest: 12,345 (12K+))"));
    assert_non_null(strstr(body, "<td>the stream's end</td>"));
    free(body);
}

/* A message's places "{1}", "{2}": how many times s holds p. */
static int count_of(const char *s, const char *p)
{
    int n = 0;
    for (const char *at = strstr(s, p); at; at = strstr(at + 1, p))
        n++;
    return n;
}

/* Every message id has a word in each language (an id added to the enum
 * without one fails here), safe to write unescaped, with the same places as
 * the English one; the Chinese differs from the English everywhere (no word
 * left untranslated). */
static void test_every_word_in_every_language(void **state)
{
    (void)state;
    static const enum lt_display_locale locales[] = {LT_LOCALE_EN, LT_LOCALE_ZH_CN,
                                                     LT_LOCALE_ZH_CN_W};
    for (int id = 0; id < LT_RW_COUNT; id++) {
        const char *en = lt_report_word(LT_LOCALE_EN, (enum lt_report_word)id);
        for (size_t l = 0; l < sizeof locales / sizeof *locales; l++) {
            const char *w = lt_report_word(locales[l], (enum lt_report_word)id);
            assert_non_null(w);
            if (w[0] == '\0')
                fail_msg("message %d has no word in locale %s", id,
                         lt_display_locale_name(locales[l]));
            assert_null(strpbrk(w, "&<>\""));
            assert_int_equal(count_of(w, "{1}"), count_of(en, "{1}"));
            assert_int_equal(count_of(w, "{2}"), count_of(en, "{2}"));
            if (locales[l] != LT_LOCALE_EN && strcmp(w, en) == 0)
                fail_msg("message %d (\"%s\") is not translated", id, en);
        }
        assert_string_equal(lt_report_word(LT_LOCALE_ZH_CN, (enum lt_report_word)id),
                            lt_report_word(LT_LOCALE_ZH_CN_W, (enum lt_report_word)id));
    }
    assert_string_equal(lt_report_word(LT_LOCALE_EN, LT_RW_COUNT), "");
    assert_string_equal(lt_report_status_word(LT_LOCALE_ZH_CN, LT_STATUS_ENDED), "已结束");
    assert_string_equal(lt_report_status_word(LT_LOCALE_EN, LT_STATUS_LIVE), "live");
    assert_string_equal(lt_report_status_word(LT_LOCALE_EN, LT_STATUS_NONE), "");
    struct lt_strbuf sb;
    lt_strbuf_init(&sb, NULL, 0, 1 << 10);
    lt_report_words_add(&sb, LT_LOCALE_ZH_CN, LT_RW_BUDGET_FIGURES, "20", "100");
    lt_report_words_add(&sb, LT_LOCALE_EN, LT_RW_REPORTED_FIGURES, "9", NULL);
    assert_string_equal(lt_strbuf_text(&sb), "每秒 20 次，突发上限 100 次views 9, likes ");
    lt_strbuf_free(&sb);
}

/* The English word of every message that stands in the HTML on its own:
 * none of them may be in a Chinese report. A word of letters alone is
 * looked for as an element's whole text (">time<": "time" is also a tag);
 * a message with places, by its longest part without them. */
static void assert_no_english_word(const char *body)
{
    for (int id = 0; id < LT_RW_COUNT; id++) {
        if (id == LT_RW_LANG)
            continue;
        const char *en = lt_report_word(LT_LOCALE_EN, (enum lt_report_word)id);
        char needle[256];
        const char *place = strchr(en, '{');
        if (place) {
            /* "{1} taps/s, burst {2}" -> " taps/s, burst " */
            const char *from = en, *best = en;
            size_t best_len = 0;
            while (from) {
                const char *next = strchr(from, '{');
                size_t n = next ? (size_t)(next - from) : strlen(from);
                if (n > best_len) {
                    best = from;
                    best_len = n;
                }
                from = next ? next + 3 : NULL;
            }
            snprintf(needle, sizeof needle, "%.*s", (int)best_len, best);
        } else if (strspn(en, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") ==
                   strlen(en)) {
            snprintf(needle, sizeof needle, ">%s<", en);
        } else {
            snprintf(needle, sizeof needle, "%s", en);
        }
        if (strlen(needle) < 3)
            continue; /* "." and "#" */
        if (strstr(body, needle))
            fail_msg("the English \"%s\" (message %d) is in the Chinese report", needle, id);
    }
}

/* zh-CN and zh-CN-W: every word in Chinese (headings, table headers, the
 * method, the chart titles, the line under the heading), the figures in the
 * locale's display form, the times in ?tz=; en keeps its words. */
static void test_html_words_follow_the_locale(void **state)
{
    (void)state;
    static const char *const zh_headings[] = {
        "<h2>总计</h2>", "<h2>每分钟走势</h2>", "<h2>分段</h2>",
        "<h2>来源</h2>", "<h2>统计方法</h2>",   "<h2>每分钟数据</h2>",
    };
    static const char *const en_headings[] = {
        "<h2>Totals</h2>",  "<h2>Per minute</h2>",      "<h2>Segments</h2>",
        "<h2>Sources</h2>", "<h2>Counting method</h2>", "<h2>Per-minute figures</h2>",
    };
    size_t len;
    for (int w = 0; w < 2; w++) {
        enum lt_display_locale loc = w ? LT_LOCALE_ZH_CN_W : LT_LOCALE_ZH_CN;
        char *body = encode(LT_REPORT_HTML, "Asia/Shanghai", loc, &len);
        for (size_t i = 0; i < sizeof zh_headings / sizeof *zh_headings; i++) {
            assert_non_null(strstr(body, zh_headings[i]));
            assert_null(strstr(body, en_headings[i]));
        }
        assert_non_null(strstr(body, "<html lang=\"zh-CN\">"));
        assert_non_null(strstr(body, "<title>直播数据报告：&lt;b&gt;"));
        assert_non_null(strstr(body, "<p>直播 <code>rep-1</code>，状态：已结束。生成于 "
                                     "<time>2022-07-16T11:00:00+08:00</time>；时区："
                                     "Asia/Shanghai。</p>"));
        assert_non_null(strstr(body, "<tr><th>观看次数</th><td>203,411 ("));
        assert_non_null(strstr(body, "<tr><th>独立观众（估算）</th><td>6</td></tr>"));
        assert_non_null(strstr(body, "<th>峰值在线</th><td>7，出现于 2022-07-16T10:01:00+08:00"));
        assert_non_null(strstr(body, "aria-label=\"每分钟观看次数\""));
        assert_non_null(strstr(body, ">每分钟观看次数（最高：3）</text>"));
        assert_non_null(
            strstr(body, "<th>序号</th><th>分段</th><th>开始时间</th><th>结束时间</th>"));
        assert_non_null(strstr(body, "<th>来源</th><th>本站统计观看次数</th><th>本站统计点赞</th>"
                                     "<th>合作平台上报</th>"));
        assert_non_null(strstr(body, "<tr><th>bili</th><td>1</td><td>3</td><td>无</td></tr>"));
        assert_non_null(strstr(body, "<td>每秒 20 次，突发上限 100 次</td>"));
        assert_non_null(strstr(body, "<th>时间</th><th>观看次数</th><th>点赞</th><th>独立观众</th>"
                                     "<th>在线人数</th>"));
        assert_non_null(strstr(body, "<th>2022-07-16T10:00:00+08:00</th>"));
        assert_non_null(strstr(body, w ? "203,411 (20W+)" : "203,411 (20万+)"));
        assert_no_english_word(body);
        free(body);
    }
    /* A live stream: its status and its running segment, in both languages. */
    totals.status = LT_STATUS_LIVE;
    char *body = encode(LT_REPORT_HTML, "UTC", LT_LOCALE_ZH_CN, &len);
    assert_non_null(strstr(body, "，状态：直播中。"));
    assert_non_null(strstr(body, "<td>进行中</td>"));
    assert_no_english_word(body);
    free(body);
    body = encode(LT_REPORT_HTML, "UTC", LT_LOCALE_EN, &len);
    assert_non_null(strstr(body, ", status live. Generated at <time>"));
    assert_non_null(strstr(body, "<td>running</td>"));
    free(body);
    /* No segments, no minutes. */
    struct lt_totals bare;
    lt_totals_init(&bare, "bare-1");
    struct lt_report r = model("UTC", LT_LOCALE_ZH_CN);
    r.totals = &bare;
    r.minutes = NULL;
    struct lt_strbuf sb;
    lt_strbuf_init(&sb, NULL, 0, 1 << 20);
    assert_int_equal(lt_report_html(&sb, &r), 0);
    assert_non_null(strstr(lt_strbuf_text(&sb), "<p>未保留每分钟数据。</p>"));
    assert_non_null(strstr(lt_strbuf_text(&sb), "<h2>分段</h2>\n<p>无。</p>"));
    assert_no_english_word(lt_strbuf_text(&sb));
    lt_strbuf_free(&sb);
    r.locale = LT_LOCALE_EN;
    lt_strbuf_init(&sb, NULL, 0, 1 << 20);
    assert_int_equal(lt_report_html(&sb, &r), 0);
    assert_non_null(strstr(lt_strbuf_text(&sb), "<p>No per-minute figures retained.</p>"));
    assert_non_null(strstr(lt_strbuf_text(&sb), "<h2>Segments</h2>\n<p>None.</p>"));
    lt_strbuf_free(&sb);
    lt_totals_free(&bare);
    /* en: the words it always had. */
    body = encode(LT_REPORT_HTML, "UTC", LT_LOCALE_EN, &len);
    for (size_t i = 0; i < sizeof en_headings / sizeof *en_headings; i++)
        assert_non_null(strstr(body, en_headings[i]));
    assert_non_null(strstr(body, "<html lang=\"en\">"));
    assert_non_null(strstr(body, "<title>Report: &lt;b&gt;"));
    assert_non_null(strstr(body, "<tr><th>Unique viewers (estimate)</th><td>6</td></tr>"));
    assert_non_null(strstr(body, "<td>20 taps/s, burst 100</td>"));
    assert_non_null(strstr(body, "<tr><th>bili</th><td>1</td><td>3</td><td>none</td></tr>"));
    assert_null(strstr(body, "总计"));
    free(body);
}

/* Partner reports: the latest in each source's partner_reported, and every
 * one over time (JSON "reports", CSV source_partner_report rows, an HTML
 * table). */
static void test_partner_reports(void **state)
{
    (void)state;
    struct lt_totals_source *s = lt_totals_source(&totals, "wutong", 6);
    s->has_reported = true;
    s->reported = (struct lt_totals_reported){900, 40, (int64_t)(T0 + 120) * 1000, true};
    static const struct lt_partner_report reps[] = {
        {"wutong", (int64_t)T0 * 1000, 1000, 30, false},
        {"other", (int64_t)(T0 + 30) * 1000, 5, 6, false},
        {"wutong", (int64_t)(T0 + 120) * 1000, 900, 40, true},
    };
    struct lt_report r = model("UTC", LT_LOCALE_EN);
    r.reports = reps;
    r.n_reports = 3;
    struct lt_strbuf sb;
    lt_strbuf_init(&sb, NULL, 0, 1 << 20);
    assert_int_equal(lt_report_json(&sb, &r), 0);
    json_t *o = json_loads(lt_strbuf_text(&sb), 0, NULL);
    assert_non_null(o);
    json_t *src = json_array_get(json_object_get(o, "sources"), 1);
    assert_string_equal(json_string_value(json_object_get(src, "source")), "wutong");
    json_t *pr = json_object_get(src, "partner_reported");
    assert_int_equal(json_integer_value(json_object_get(pr, "views")), 900);
    assert_true(json_is_true(json_object_get(pr, "lower_than_previous")));
    json_t *list = json_object_get(pr, "reports");
    assert_int_equal(json_array_size(list), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "views")), 1000);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "at")),
                        "2022-07-16T02:02:00.000Z");
    assert_true(json_is_true(json_object_get(json_array_get(list, 1), "lower_than_previous")));
    json_decref(o);
    lt_strbuf_free(&sb);
    lt_strbuf_init(&sb, NULL, 0, 1 << 20);
    assert_int_equal(lt_report_csv(&sb, &r), 0);
    const char *csv = lt_strbuf_text(&sb);
    assert_non_null(
        strstr(csv, "source_partner_report,wutong,2022-07-16T02:00:00+00:00,0,1000,30,,\r\n"));
    assert_non_null(
        strstr(csv, "source_partner_report,wutong,2022-07-16T02:02:00+00:00,1,900,40,,\r\n"));
    assert_null(strstr(csv, "source_partner_report,wutong,2022-07-16T02:00:30"));
    lt_strbuf_free(&sb);
    lt_strbuf_init(&sb, NULL, 0, 1 << 20);
    assert_int_equal(lt_report_html(&sb, &r), 0);
    const char *html = lt_strbuf_text(&sb);
    assert_non_null(strstr(html, "<h2>Partner reports</h2>"));
    assert_non_null(strstr(html, "<td>views 900, likes 40 (lower than the report before)</td>"));
    assert_non_null(strstr(html, "<td>lower than the report before</td></tr>"));
    lt_strbuf_free(&sb);
    r.locale = LT_LOCALE_ZH_CN;
    lt_strbuf_init(&sb, NULL, 0, 1 << 20);
    assert_int_equal(lt_report_html(&sb, &r), 0);
    html = lt_strbuf_text(&sb);
    assert_non_null(strstr(html, "<h2>合作平台上报记录</h2>\n<table><tr><th>来源</th><th>时间</th>"
                                 "<th>上报观看次数</th><th>上报点赞</th><th></th></tr>"));
    assert_non_null(strstr(html, "<td>观看次数 900，点赞 40（低于上一次上报）</td>"));
    assert_non_null(strstr(html, "<td>低于上一次上报</td></tr>"));
    assert_no_english_word(html);
    lt_strbuf_free(&sb);
}

static void test_digest_and_names(void **state)
{
    (void)state;
    char d[LT_REPORT_DIGEST_MAX];
    assert_int_equal(lt_report_repr_digest("abc", 3, d), 0);
    assert_string_equal(d, "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:");
    enum lt_report_format f;
    assert_int_equal(lt_report_format_parse("html", 4, &f), 0);
    assert_int_equal(f, LT_REPORT_HTML);
    assert_int_equal(lt_report_format_parse("pdf", 3, &f), -1);
    assert_int_equal(lt_report_format_parse("", 0, &f), -1);
    assert_string_equal(lt_report_format_name(LT_REPORT_CSV), "csv");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_and_its_sha256, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_html, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partner_reports, setup, teardown),
        cmocka_unit_test(test_every_word_in_every_language),
        cmocka_unit_test_setup_teardown(test_html_words_follow_the_locale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest_and_names, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
