/* Unit tests of totals_json.c: the totals object and the totals message,
 * byte for byte (the contract's field names and order, null where unknown,
 * display when asked). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "livetally/base/mem.h"
#include "livetally/store/totals.h"
#include "livetally/api/totals_json.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static char *dump(json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_non_null(text);
    return text;
}

static void full(struct lt_totals *t)
{
    lt_totals_init(t, "ganzhou-2022-07-16");
    lt_totals_set_title(t, "开幕式 \"1\"", strlen("开幕式 \"1\""));
    lt_totals_set_series(t, "tour-2022", 9);
    t->status = LT_STATUS_ENDED;
    t->views = 203411;
    t->uniques = 151020;
    t->likes = 100873;
    t->online = 5234;
    t->peak_online = 8123;
    t->peak_at_ms = 1657938725000;
    lt_totals_add_counter(t, "shares", 120);
    lt_totals_add_counter(t, "gifts", 0);
    struct lt_totals_source *s = lt_totals_source(t, "direct", 6);
    s->views = 150000;
    s->likes = 80000;
    s = lt_totals_source(t, "wutongcun", 9);
    s->has_reported = true;
    s->reported.views = 53411;
    s->reported.likes = 20873;
    s->reported.at_ms = 1657939000000;
    t->seq = 77;
    t->ts_ms = 1657939200999;
    t->created_ms = 1657936000000;
    t->has_starts = true;
    t->starts_ms = 1657936800000;
    t->updated_ms = 1657939200250;
}

static void test_totals_object(void **state)
{
    (void)state;
    struct lt_totals t;
    full(&t);
    char *text = dump(lt_totals_json(&t, NULL));
    assert_string_equal(
        text,
        "{\"stream\":\"ganzhou-2022-07-16\",\"title\":\"开幕式 "
        "\\\"1\\\"\",\"series\":\"tour-2022\","
        "\"status\":\"ended\",\"views\":203411,\"uniques\":151020,\"likes\":100873,"
        "\"online\":5234,\"peak_online\":8123,\"peak_at\":\"2022-07-16T02:32:05Z\","
        "\"counters\":{\"shares\":120,\"gifts\":0},"
        "\"sources\":{\"direct\":{\"views\":150000,\"likes\":80000},"
        "\"wutongcun\":{\"views\":0,\"likes\":0,\"reported\":{\"views\":53411,\"likes\":20873,"
        "\"at\":\"2022-07-16T02:36:40.000Z\",\"lower_than_previous\":false}}},"
        "\"segments\":[],\"seq\":77,\"created_at\":\"2022-07-16T01:46:40Z\","
        "\"starts_at\":\"2022-07-16T02:00:00Z\",\"updated_at\":\"2022-07-16T02:40:00.250Z\"}");
    lt_free(text);
    lt_totals_free(&t);
}

static void test_segments(void **state)
{
    (void)state;
    struct lt_totals t;
    lt_totals_init(&t, "s");
    struct lt_totals_segment *g = lt_totals_segment(&t, 2); /* 1 comes with it */
    g->title = lt_strdup("圆桌会议 \"<x>\"");
    g->started_ms = 1657937400250;
    g->views = 7;
    g->likes = 23;
    g->uniques = 6;
    t.segments[0].started_ms = 1657936800000;
    t.segments[0].ended_ms = 1657937400250;
    json_t *o = lt_totals_json(&t, NULL);
    char *text = dump(json_incref(json_object_get(o, "segments")));
    json_decref(o);
    assert_string_equal(text,
                        "[{\"id\":1,\"title\":null,\"started_at\":\"2022-07-16T02:00:00.000Z\","
                        "\"ended_at\":\"2022-07-16T02:10:00.250Z\",\"views\":0,\"likes\":0,"
                        "\"uniques\":0},{\"id\":2,\"title\":\"圆桌会议 \\\"<x>\\\"\","
                        "\"started_at\":\"2022-07-16T02:10:00.250Z\",\"ended_at\":null,"
                        "\"views\":7,\"likes\":23,\"uniques\":6}]");
    lt_free(text);
    lt_totals_free(&t);
}

static void test_empty_totals_have_nulls(void **state)
{
    (void)state;
    struct lt_totals t;
    lt_totals_init(&t, "s");
    lt_totals_set_title(&t, "\xff\xfe", 2); /* not UTF-8: shown as null */
    char *text = dump(lt_totals_json(&t, NULL));
    assert_string_equal(text,
                        "{\"stream\":\"s\",\"title\":null,\"series\":null,\"status\":\"live\","
                        "\"views\":0,\"uniques\":0,\"likes\":0,\"online\":0,"
                        "\"peak_online\":0,\"peak_at\":null,\"counters\":{},\"sources\":{},"
                        "\"segments\":[],\"seq\":0,\"created_at\":null,\"starts_at\":null,"
                        "\"updated_at\":null}");
    lt_free(text);
    lt_totals_free(&t);
}

static void test_display(void **state)
{
    (void)state;
    struct lt_totals t;
    full(&t);
    struct lt_totals_display d = {true, LT_LOCALE_ZH_CN, LT_STYLE_FLOOR};
    json_t *o = lt_totals_json(&t, &d);
    char *text = dump(json_incref(json_object_get(o, "display")));
    assert_string_equal(text, "{\"views\":\"20万+\",\"likes\":\"10万+\",\"uniques\":\"15万+\","
                              "\"online\":\"5234\",\"peak_online\":\"8123\","
                              "\"locale\":\"zh-CN\"}");
    lt_free(text);
    json_decref(o);
    d.wanted = false;
    o = lt_totals_json(&t, &d);
    assert_null(json_object_get(o, "display"));
    json_decref(o);
    lt_totals_free(&t);
}

static void test_message(void **state)
{
    (void)state;
    struct lt_totals t;
    full(&t);
    char buf[LT_TOTALS_MESSAGE_MAX];
    size_t n = lt_totals_message(&t, buf);
    static const char want[] =
        "{\"type\":\"totals\",\"stream\":\"ganzhou-2022-07-16\",\"views\":203411,"
        "\"uniques\":151020,\"likes\":100873,\"online\":5234,\"peak_online\":8123,\"seq\":77,"
        "\"ts\":1657939200999}";
    assert_int_equal(n, sizeof want - 1);
    assert_memory_equal(buf, want, n);
    lt_totals_free(&t);
}

/* With what was counted here known (every script today), the message
 * carries it beside the summed views and likes. */
static void test_message_counted(void **state)
{
    (void)state;
    struct lt_totals t;
    full(&t);
    t.has_counted = true;
    t.counted_views = 150000;
    t.counted_likes = 80000;
    char buf[LT_TOTALS_MESSAGE_MAX];
    size_t n = lt_totals_message(&t, buf);
    static const char want[] =
        "{\"type\":\"totals\",\"stream\":\"ganzhou-2022-07-16\",\"views\":203411,"
        "\"uniques\":151020,\"likes\":100873,\"online\":5234,\"peak_online\":8123,"
        "\"counted_views\":150000,\"counted_likes\":80000,\"seq\":77,\"ts\":1657939200999}";
    assert_int_equal(n, sizeof want - 1);
    assert_memory_equal(buf, want, n);
    lt_totals_free(&t);
}

/* The largest message there can be fits the buffer. */
static void test_message_bound(void **state)
{
    (void)state;
    struct lt_totals t;
    char id[LT_STREAM_ID_MAX + 1];
    memset(id, 'x', LT_STREAM_ID_MAX);
    id[LT_STREAM_ID_MAX] = '\0';
    lt_totals_init(&t, id);
    t.views = t.uniques = t.likes = t.online = t.peak_online = t.seq = t.ts_ms = INT64_MIN;
    t.has_counted = true;
    t.counted_views = t.counted_likes = INT64_MIN;
    char buf[LT_TOTALS_MESSAGE_MAX];
    size_t n = lt_totals_message(&t, buf);
    assert_true(n > 0 && n < LT_TOTALS_MESSAGE_MAX);
    json_error_t err;
    json_t *o = json_loadb(buf, n, 0, &err);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "stream")), id);
    assert_true(json_integer_value(json_object_get(o, "seq")) == INT64_MIN);
    assert_true(json_integer_value(json_object_get(o, "counted_likes")) == INT64_MIN);
    json_decref(o);
    lt_totals_free(&t);
}

int main(void)
{
    lt_mem_install_hooks(); /* jansson allocates through lt_* as in the server */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_totals_object),   cmocka_unit_test(test_empty_totals_have_nulls),
        cmocka_unit_test(test_display),         cmocka_unit_test(test_message),
        cmocka_unit_test(test_message_bound),   cmocka_unit_test(test_segments),
        cmocka_unit_test(test_message_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
