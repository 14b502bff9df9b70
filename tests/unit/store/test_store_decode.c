/* Unit tests of store_decode.c (what the Lua scripts return and publish,
 * into struct lt_totals) and of the totals model's helpers (totals.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "livetally/base/error.h"
#include "livetally/store/store_decode.h"
#include "livetally/store/totals.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static char shares[] = "shares", gifts[] = "gifts";
static char *const counters[] = {shares, gifts};

static int field(struct lt_totals *t, const char *name, const char *value)
{
    return lt_store_decode_field(t, name, strlen(name), value, strlen(value));
}

static const struct lt_totals_source *source(const struct lt_totals *t, const char *name)
{
    for (size_t i = 0; i < t->n_sources; i++)
        if (strcmp(t->sources[i].name, name) == 0)
            return &t->sources[i];
    fail_msg("no source %s", name);
    return &t->sources[0]; /* not reached */
}

/* A read.lua reply as the store walks it: meta, totals, views and likes
 * as counted + reported, the counted ones under names of their own, fresh
 * uniques and online (which replace the cached ones). */
static void test_read_fields(void **state)
{
    (void)state;
    struct lt_totals t;
    lt_store_decode_begin(&t, "ganzhou-2022-07-16", counters, 2);
    assert_string_equal(t.stream, "ganzhou-2022-07-16");
    assert_int_equal(t.status, LT_STATUS_LIVE);
    assert_int_equal(t.n_counters, 2);
    static const char *const pairs[][2] = {
        {"created_at", "1657939200000"},
        {"status", "ended"},
        {"title", "开幕式 \"quoted\""},
        {"series", "tour-2022"},
        {"starts_at", "2022-07-16T02:00:00Z"},
        {"auto_created", "1"},
        {"a:3f2a9c", "41"},
        {"views", "150000"},
        {"likes", "80000"},
        {"seq", "77"},
        {"updated_at", "1657939200250"},
        {"uniques", "1"},
        {"online", "2"},
        {"peak_online", "8123"},
        {"peak_at", "1657938725000"},
        {"c:gifts", "-4"},
        {"c:retired", "9"},
        {"s:direct:views", "150000"},
        {"s:direct:likes", "80000"},
        {"s:wutongcun:likes", "20873"},
        {"s:wutongcun:shares", "1"},
        {"views", "203411"},
        {"likes", "100873"},
        {"counted_views", "150000"},
        {"counted_likes", "80000"},
        {"uniques", "151020"},
        {"online", "5234"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        assert_int_equal(field(&t, pairs[i][0], pairs[i][1]), 0);
    assert_int_equal(t.created_ms, 1657939200000);
    assert_int_equal(t.status, LT_STATUS_ENDED);
    assert_string_equal(t.title, "开幕式 \"quoted\"");
    assert_string_equal(t.series, "tour-2022");
    assert_true(t.has_starts);
    assert_int_equal(t.starts_ms, 1657936800000);
    assert_int_equal(t.views, 203411); /* the summed ones came last */
    assert_int_equal(t.likes, 100873);
    assert_true(t.has_counted);
    assert_int_equal(t.counted_views, 150000);
    assert_int_equal(t.counted_likes, 80000);
    assert_int_equal(t.seq, 77);
    assert_int_equal(t.updated_ms, 1657939200250);
    assert_int_equal(t.uniques, 151020); /* the last value of a name wins */
    assert_int_equal(t.online, 5234);
    assert_int_equal(t.peak_online, 8123);
    assert_int_equal(t.peak_at_ms, 1657938725000);
    assert_int_equal(t.n_counters, 2); /* c:retired is not configured */
    assert_string_equal(t.counters[0].name, "shares");
    assert_int_equal(t.counters[0].value, 0);
    assert_string_equal(t.counters[1].name, "gifts");
    assert_int_equal(t.counters[1].value, -4);
    assert_int_equal(t.n_sources, 2);
    assert_string_equal(t.sources[0].name, "direct"); /* in the order met */
    assert_int_equal(source(&t, "direct")->views, 150000);
    assert_int_equal(source(&t, "direct")->likes, 80000);
    assert_int_equal(source(&t, "wutongcun")->views, 0);
    assert_int_equal(source(&t, "wutongcun")->likes, 20873);
    assert_false(source(&t, "wutongcun")->has_reported);
    /* A partner's report (read.lua: r:<source>:<field>) fills reported
     * and leaves the counted views and likes alone. */
    static const char *const rep[][2] = {
        {"r:wutongcun:views", "53411"},      {"r:wutongcun:likes", "20873"},
        {"r:wutongcun:at", "1657939000123"}, {"r:wutongcun:lower", "1"},
        {"r:partner-b:views", "7"},
    };
    for (size_t i = 0; i < sizeof rep / sizeof rep[0]; i++)
        assert_int_equal(
            lt_store_decode_field(&t, rep[i][0], strlen(rep[i][0]), rep[i][1], strlen(rep[i][1])),
            0);
    assert_true(source(&t, "wutongcun")->has_reported);
    assert_int_equal(source(&t, "wutongcun")->reported.views, 53411);
    assert_int_equal(source(&t, "wutongcun")->reported.likes, 20873);
    assert_int_equal(source(&t, "wutongcun")->reported.at_ms, 1657939000123);
    assert_true(source(&t, "wutongcun")->reported.lower);
    assert_int_equal(source(&t, "wutongcun")->likes, 20873); /* counted, unchanged */
    assert_true(source(&t, "partner-b")->has_reported);
    assert_false(source(&t, "partner-b")->reported.lower);
    assert_int_equal(source(&t, "partner-b")->views, 0);
    static const char *const bad_rep = "r:Bad Id:views";
    assert_int_equal(lt_store_decode_field(&t, bad_rep, strlen(bad_rep), "1", 1), LT_EPROTO);
    assert_int_equal(lt_store_decode_field(&t, "r:x:views", 9, "1.5", 3), LT_EPROTO);
    lt_totals_free(&t);
    assert_null(t.title);
    assert_int_equal(t.n_sources, 0);
    assert_string_equal(t.stream, "ganzhou-2022-07-16"); /* kept */
}

static void test_bad_values_refused(void **state)
{
    (void)state;
    struct lt_totals t;
    lt_store_decode_begin(&t, "s", counters, 2);
    static const char *const bad[][2] = {
        {"views", ""},
        {"views", "12a"},
        {"views", " 12"},
        {"views", "1.5"},
        {"views", "1e3"},
        {"views", "+1"},
        {"views", "-"},
        {"seq", "9223372036854775808"},  /* INT64_MAX + 1 */
        {"seq", "99999999999999999999"}, /* 20 digits */
        {"likes", "-9223372036854775809"},
        {"status", "paused"},
        {"status", ""},
        {"starts_at", "yesterday"},
        {"c:shares", "x"},
        {"s:direct:views", "many"},
        {"s:Not-A-Source:views", "1"}, /* only valid ids are ever written */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (field(&t, bad[i][0], bad[i][1]) != LT_EPROTO)
            fail_msg("%s = \"%s\" was taken", bad[i][0], bad[i][1]);
    /* The extremes that fit. */
    assert_int_equal(field(&t, "seq", "9223372036854775807"), 0);
    assert_true(t.seq == INT64_MAX);
    assert_int_equal(field(&t, "likes", "-9223372036854775808"), 0);
    assert_true(t.likes == INT64_MIN);
    assert_int_equal(field(&t, "views", "0"), 0);
    /* Unknown names and shapes are skipped, not refused. */
    assert_int_equal(field(&t, "segments", "whatever"), 0);
    assert_int_equal(field(&t, "s:direct", "1"), 0);
    assert_int_equal(field(&t, "c:", "1"), 0);
    assert_int_equal(field(&t, "", "1"), 0);
    assert_int_equal(t.n_sources, 0);
    lt_totals_free(&t);
}

static int push(struct lt_totals *t, const char *payload)
{
    lt_store_decode_begin(t, "s", NULL, 0);
    return lt_store_decode_push(t, payload, strlen(payload));
}

/* What apply.lua and drop_share.lua publish. */
static void test_push_message(void **state)
{
    (void)state;
    struct lt_totals t;
    assert_int_equal(push(&t, "seq 12\nviews 100\nuniques 40\nlikes 9\nonline 3\n"
                              "peak_online 5\nts 1700000000000"),
                     0);
    assert_int_equal(t.seq, 12);
    assert_int_equal(t.views, 100);
    assert_int_equal(t.uniques, 40);
    assert_int_equal(t.likes, 9);
    assert_int_equal(t.online, 3);
    assert_int_equal(t.peak_online, 5);
    assert_int_equal(t.ts_ms, 1700000000000);
    assert_int_equal(t.n_counters, 0);
    assert_false(t.has_counted); /* an earlier version's message */
    lt_totals_free(&t);
    /* Today's scripts add what was counted here, without partner reports. */
    assert_int_equal(push(&t, "seq 13\nviews 50100\nuniques 40\nlikes 9\nonline 3\n"
                              "peak_online 5\nts 1700000000001\ncounted_views 100\n"
                              "counted_likes 8"),
                     0);
    assert_int_equal(t.views, 50100);
    assert_int_equal(t.likes, 9);
    assert_true(t.has_counted);
    assert_int_equal(t.counted_views, 100);
    assert_int_equal(t.counted_likes, 8);
    lt_totals_free(&t);
    /* Only seq is required; a later version's extra fields are skipped. */
    assert_int_equal(push(&t, "seq 1"), 0);
    lt_totals_free(&t);
    assert_int_equal(push(&t, "future_field some text\nseq 2"), 0);
    assert_int_equal(t.seq, 2);
    lt_totals_free(&t);
    static const char *const bad[] = {
        "",                                /* nothing */
        "views 1",                         /* no seq */
        "seq 1\n",                         /* an empty last line */
        "seq 1\n\nviews 2",                /* an empty line */
        "seq",                             /* no value */
        " seq 1",                          /* no name */
        "seq 1\nviews",                    /* a line without a value */
        "seq 1\nviews x",                  /* a bad value */
        "seq 1\ncounted_views 1x",         /* a bad value */
        "seq 1\ncounted_likes ",           /* an empty value */
        "seq  1",                          /* the value is " 1" */
        "seq 1 2",                         /* the value is "1 2" */
        "{\"type\":\"totals\",\"seq\":1}", /* the old JSON text */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (push(&t, bad[i]) != LT_EPROTO)
            fail_msg("\"%s\" was taken", bad[i]);
        lt_totals_free(&t);
    }
}

static void test_totals_copy_is_deep(void **state)
{
    (void)state;
    struct lt_totals a, b;
    lt_totals_init(&a, "s");
    lt_totals_set_title(&a, "title", 5);
    lt_totals_set_series(&a, "tour", 4);
    lt_totals_add_counter(&a, "shares", 3);
    struct lt_totals_source *src = lt_totals_source(&a, "direct", 6);
    assert_non_null(src);
    src->likes = 4;
    for (int i = 0; i < 10; i++) { /* grow past the first capacity */
        char name[8];
        snprintf(name, sizeof name, "src%d", i);
        assert_non_null(lt_totals_source(&a, name, strlen(name)));
    }
    assert_ptr_equal(lt_totals_source(&a, "direct", 6), &a.sources[0]);
    assert_null(lt_totals_source(&a, "BAD", 3));
    a.seq = 9;
    lt_totals_copy(&b, &a);
    lt_totals_free(&a);
    assert_string_equal(b.title, "title");
    assert_string_equal(b.series, "tour");
    assert_int_equal(b.n_counters, 1);
    assert_string_equal(b.counters[0].name, "shares");
    assert_int_equal(b.counters[0].value, 3);
    assert_int_equal(b.n_sources, 11);
    assert_int_equal(b.sources[0].likes, 4);
    assert_int_equal(b.seq, 9);
    assert_non_null(lt_totals_source(&b, "new", 3)); /* the copy can grow */
    lt_totals_free(&b);
}

/* read.lua's segment fields, in hash order (any): each segment's own
 * counts, and its end where the next one starts. */
static void test_segment_fields(void **state)
{
    (void)state;
    struct lt_totals t;
    lt_store_decode_begin(&t, "s", NULL, 0);
    static const char *const pairs[][2] = {
        {"g2:views", "7"},         {"g1:started_at", "1000"}, {"g3:title", "<b>圆桌会议</b>"},
        {"g3:started_at", "3000"}, {"g1:title", "开幕式"},    {"g2:started_at", "2000"},
        {"g1:likes", "11"},        {"g2:uniques", "6"},       {"g3:likes", "5"},
        {"g2:future", "x"},        {"gs", "1000,2000,3000"},  {"g1:title", "开幕式!"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        assert_int_equal(field(&t, pairs[i][0], pairs[i][1]), 0);
    assert_int_equal(t.n_segments, 3);
    assert_int_equal(t.segments[0].id, 1);
    assert_string_equal(t.segments[0].title, "开幕式!"); /* the later value wins */
    assert_int_equal(t.segments[0].started_ms, 1000);
    assert_int_equal(t.segments[0].ended_ms, 2000);
    assert_int_equal(t.segments[0].likes, 11);
    assert_int_equal(t.segments[1].ended_ms, 3000);
    assert_int_equal(t.segments[1].views, 7);
    assert_int_equal(t.segments[1].uniques, 6);
    assert_null(t.segments[1].title);
    assert_int_equal(t.segments[2].id, 3);
    assert_int_equal(t.segments[2].ended_ms, 0); /* the last one runs on */
    assert_string_equal(t.segments[2].title, "<b>圆桌会议</b>");
    /* Refused: ids out of range, bad numbers. Nothing grows. */
    assert_int_equal(field(&t, "g0:views", "1"), LT_EPROTO);
    assert_int_equal(field(&t, "g201:views", "1"), LT_EPROTO);
    assert_int_equal(field(&t, "g99999999999999999999:views", "1"), LT_EPROTO);
    assert_int_equal(field(&t, "g1x:views", "1"), LT_EPROTO);
    assert_int_equal(field(&t, "g1", "1"), LT_EPROTO);
    assert_int_equal(field(&t, "g1:views", "1.5"), LT_EPROTO);
    assert_int_equal(t.n_segments, 3);
    assert_int_equal(field(&t, "g200:likes", "1"), 0);
    assert_int_equal(t.n_segments, 200);
    assert_int_equal(t.segments[199].id, 200);
    /* A deep copy. */
    struct lt_totals c;
    lt_totals_copy(&c, &t);
    lt_totals_free(&t);
    assert_int_equal(c.n_segments, 200);
    assert_string_equal(c.segments[2].title, "<b>圆桌会议</b>");
    assert_null(c.segments[3].title);
    lt_totals_free(&c);
    assert_int_equal(c.n_segments, 0);
}

static void test_status_names(void **state)
{
    (void)state;
    const enum lt_stream_status all[] = {LT_STATUS_SCHEDULED, LT_STATUS_LIVE, LT_STATUS_ENDED};
    for (size_t i = 0; i < 3; i++) {
        const char *name = lt_status_name(all[i]);
        assert_int_equal(lt_status_parse(name, strlen(name)), all[i]);
    }
    assert_int_equal(lt_status_parse("none", 4), LT_STATUS_NONE);
    assert_int_equal(lt_status_parse("live ", 5), LT_STATUS_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_fields),  cmocka_unit_test(test_bad_values_refused),
        cmocka_unit_test(test_push_message), cmocka_unit_test(test_totals_copy_is_deep),
        cmocka_unit_test(test_status_names), cmocka_unit_test(test_segment_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
