/* Unit tests of report_out.c: the three forms of a report built from a
 * fixed model (no sockets, no Redis): the JSON's sha256 rule, CSV quoting
 * and sections, HTML escaping, figures and chart, digests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "livetally/api/report_out.h"
#include "livetally/base/mem.h"
#include "livetally/base/strbuf.h"
#include "livetally/store/timeseries.h"
#include "livetally/store/totals.h"

#include <jansson.h>
#include <stdint.h>
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
    assert_non_null(strstr(body, "likes per minute (highest: 12,345 (1万+))"));
    assert_non_null(strstr(body, ">02:00</text>"));
    assert_non_null(strstr(body, "20,000")); /* dropped taps */
    /* The segments' table: titles escaped, the running one without an end. */
    assert_null(strstr(body, "<img"));
    assert_non_null(strstr(body, "<th>&lt;img src=x onerror=alert(1)&gt;, &quot;Q&quot;</th>"));
    assert_non_null(strstr(body, "<tr><td>1</td><th>开幕式</th><td>2022-07-16T02:00:00+00:00</td>"
                                 "<td>2022-07-16T02:01:30+00:00</td><td>2</td><td>12,000 (1万+)"));
    assert_non_null(strstr(body, "<td>the stream's end</td>"));
    free(body);
    body = encode(LT_REPORT_HTML, "Asia/Shanghai", LT_LOCALE_EN, &len);
    assert_non_null(strstr(body, ">10:00</text>"));
    assert_non_null(strstr(body, "203,411 (203K+)"));
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
    assert_non_null(strstr(html, "lower than the report before"));
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
        cmocka_unit_test_setup_teardown(test_digest_and_names, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
