/* Unit tests of series.c: the series model's sums, moves and order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "livetally/base/mem.h"
#include "livetally/store/series.h"
#include "livetally/store/totals.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static char shares[] = "shares", gifts[] = "gifts";
static char *const counters[] = {shares, gifts};

static void stream(struct lt_totals *t, const char *id, int64_t views, int64_t likes,
                   int64_t n_shares, int64_t created_ms)
{
    lt_totals_init(t, id);
    t->views = views;
    t->likes = likes;
    t->uniques = views; /* not summed: the store sets the series' uniques */
    t->created_ms = created_ms;
    lt_totals_add_counter(t, "shares", n_shares);
    lt_totals_add_counter(t, "gifts", 1);
    lt_totals_set_title(t, id, strlen(id));
}

static void test_sums_exact(void **state)
{
    (void)state;
    int64_t before = lt_mem_live_bytes();
    struct lt_series_totals s;
    lt_series_init(&s, "tour-2022", counters, 2);
    assert_string_equal(s.series, "tour-2022");
    assert_int_equal(s.n_counters, 2);
    struct lt_totals t;
    /* Large figures: the sums are exact int64 arithmetic, no float. */
    stream(&t, "ganzhou", 9007199254740993LL, 100873, 120, 3000);
    lt_series_add_stream(&s, &t);
    /* t was moved: empty, its id kept, nothing of its own left to free. */
    assert_null(t.title);
    assert_null(t.counters);
    assert_string_equal(t.stream, "ganzhou");
    assert_int_equal(t.views, 0);
    stream(&t, "nanchang", 7, 3, 5, 1000);
    lt_totals_add_counter(&t, "retired", 99); /* not configured: not summed */
    lt_series_add_stream(&s, &t);
    lt_totals_free(&t);
    assert_int_equal(s.n_streams, 2);
    assert_true(s.views == 9007199254741000LL);
    assert_int_equal(s.likes, 100876);
    assert_int_equal(s.uniques, 0);
    assert_string_equal(s.counters[0].name, "shares");
    assert_int_equal(s.counters[0].value, 125);
    assert_string_equal(s.counters[1].name, "gifts");
    assert_int_equal(s.counters[1].value, 2);
    assert_string_equal(s.streams[0].title, "ganzhou");
    lt_series_free(&s);
    assert_int_equal(s.n_streams, 0);
    assert_string_equal(s.series, "tour-2022");
    assert_int_equal(lt_mem_live_bytes(), before);
}

static void test_many_streams_grow(void **state)
{
    (void)state;
    struct lt_series_totals s;
    lt_series_init(&s, "big", NULL, 0);
    for (int i = 0; i < LT_SERIES_MAX_STREAMS; i++) {
        struct lt_totals t;
        char id[16];
        snprintf(id, sizeof id, "s-%03d", i);
        stream(&t, id, i, 1, 0, 1000 - i);
        lt_series_add_stream(&s, &t);
    }
    assert_int_equal(s.n_streams, LT_SERIES_MAX_STREAMS);
    assert_int_equal(s.views, (int64_t)LT_SERIES_MAX_STREAMS * (LT_SERIES_MAX_STREAMS - 1) / 2);
    assert_int_equal(s.likes, LT_SERIES_MAX_STREAMS);
    lt_series_sort(&s);
    assert_string_equal(s.streams[0].stream, "s-499");
    assert_string_equal(s.streams[LT_SERIES_MAX_STREAMS - 1].stream, "s-000");
    lt_series_free(&s);
}

/* By starts_at when set, else created_at; ties by id. */
static void test_order_by_start(void **state)
{
    (void)state;
    struct lt_series_totals s;
    lt_series_init(&s, "tour", counters, 2);
    struct lt_totals t;
    stream(&t, "c-late-start", 0, 0, 0, 100); /* created first, starts last */
    t.has_starts = true;
    t.starts_ms = 9000;
    lt_series_add_stream(&s, &t);
    stream(&t, "b-created", 0, 0, 0, 5000);
    lt_series_add_stream(&s, &t);
    stream(&t, "a-same", 0, 0, 0, 5000); /* same start as b: by id */
    lt_series_add_stream(&s, &t);
    stream(&t, "d-epoch", 0, 0, 0, 7000); /* starts_at 1970 is a start too */
    t.has_starts = true;
    t.starts_ms = 0;
    lt_series_add_stream(&s, &t);
    lt_series_sort(&s);
    const char *want[] = {"d-epoch", "a-same", "b-created", "c-late-start"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(s.streams[i].stream, want[i]);
    lt_series_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sums_exact),
        cmocka_unit_test(test_many_streams_grow),
        cmocka_unit_test(test_order_by_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
