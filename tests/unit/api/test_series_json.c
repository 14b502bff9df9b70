/* Unit tests of the series object (totals_json.c: lt_series_json): the
 * contract's shape, byte for byte, with each stream written as the one
 * totals encoder writes it, and display when asked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "livetally/base/mem.h"
#include "livetally/store/series.h"
#include "livetally/store/totals.h"
#include "livetally/api/totals_json.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static char shares[] = "shares";
static char *const counters[] = {shares};

static char *dump(json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_non_null(text);
    return text;
}

static void add(struct lt_series_totals *s, const char *id, int64_t views, int64_t likes,
                int64_t n_shares)
{
    struct lt_totals t;
    lt_totals_init(&t, id);
    lt_totals_set_series(&t, s->series, strlen(s->series));
    t.views = views;
    t.likes = likes;
    t.uniques = views;
    lt_totals_add_counter(&t, "shares", n_shares);
    lt_series_add_stream(s, &t);
}

static void test_series_object(void **state)
{
    (void)state;
    struct lt_series_totals s;
    lt_series_init(&s, "tour-2022", counters, 1);
    add(&s, "ganzhou", 203411, 100873, 120);
    add(&s, "nanchang", 1, 2, 3);
    s.uniques = 150000;
    char *text = dump(lt_series_json(&s, NULL));
    /* Each stream is exactly what the totals encoder writes. */
    char *a = dump(lt_totals_json(&s.streams[0], NULL));
    char *b = dump(lt_totals_json(&s.streams[1], NULL));
    char want[4096];
    snprintf(want, sizeof want,
             "{\"series\":\"tour-2022\",\"totals\":{\"views\":203412,\"likes\":100875,"
             "\"uniques\":150000,\"counters\":{\"shares\":123}},\"streams\":[%s,%s],"
             "\"truncated\":false}",
             a, b);
    assert_string_equal(text, want);
    lt_free(a);
    lt_free(b);
    lt_free(text);
    lt_series_free(&s);
}

static void test_series_display(void **state)
{
    (void)state;
    struct lt_series_totals s;
    lt_series_init(&s, "tour", counters, 1);
    add(&s, "ganzhou", 203411, 100873, 0);
    s.uniques = 100000;
    s.truncated = true;
    struct lt_totals_display d = {
        .wanted = true, .locale = LT_LOCALE_ZH_CN, .style = LT_STYLE_FLOOR};
    json_t *o = lt_series_json(&s, &d);
    json_t *disp = json_object_get(json_object_get(o, "totals"), "display");
    assert_string_equal(json_string_value(json_object_get(disp, "views")), "20万+");
    assert_string_equal(json_string_value(json_object_get(disp, "likes")), "10万+");
    assert_string_equal(json_string_value(json_object_get(disp, "uniques")), "10万");
    assert_string_equal(json_string_value(json_object_get(disp, "locale")), "zh-CN");
    /* The streams carry their display too, as GET /v1/streams/{id} would. */
    json_t *first = json_array_get(json_object_get(o, "streams"), 0);
    json_t *sd = json_object_get(first, "display");
    assert_string_equal(json_string_value(json_object_get(sd, "views")), "20万+");
    assert_true(json_is_true(json_object_get(o, "truncated")));
    json_decref(o);
    /* Without display asked: no display anywhere. */
    char *text = dump(lt_series_json(&s, &(struct lt_totals_display){.wanted = false}));
    assert_null(strstr(text, "display"));
    lt_free(text);
    lt_series_free(&s);
}

static void test_series_without_counters(void **state)
{
    (void)state;
    struct lt_series_totals s;
    lt_series_init(&s, "t", NULL, 0);
    char *text = dump(lt_series_json(&s, NULL));
    assert_string_equal(text, "{\"series\":\"t\",\"totals\":{\"views\":0,\"likes\":0,\"uniques\":0,"
                              "\"counters\":{}},\"streams\":[],\"truncated\":false}");
    lt_free(text);
    lt_series_free(&s);
}

int main(void)
{
    lt_mem_install_hooks(); /* jansson allocates through lt_* as in the server */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_object),
        cmocka_unit_test(test_series_display),
        cmocka_unit_test(test_series_without_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
