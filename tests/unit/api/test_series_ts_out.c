/* Unit tests of series_ts_out.c: the plan of a series' table (default step
 * and length, limits), each stream's aligned read, filling columns, the
 * JSON and CSV forms byte for byte, and ?metric=. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "livetally/base/error.h"
#include "livetally/base/strbuf.h"
#include "livetally/conf/config.h"
#include "livetally/api/series_ts_out.h"

#include <stdint.h>
#include <string.h>

static char shares[] = "shares";
static char *items[] = {shares};
static const struct lt_strlist counters = {items, 1};

/* now: 2022-07-16T04:00:00Z; retentions 48 h, 90 days, 3 years. */
#define NOW INT64_C(1657944000)

static struct lt_sts_query query(int step, int64_t duration)
{
    struct lt_sts_query q = {step, duration, NOW, {48 * 3600, 90 * 86400, 1095 * 86400}};
    return q;
}

static void test_plan(void **state)
{
    (void)state;
    /* a started 2 h ago (at :03:25 past), b 30 min ago; both live. */
    struct lt_sts_stream s[2] = {{"a", NOW - 7200 + 205, false, NOW + 1},
                                 {"b", NOW - 1800, true, NOW + 1}};
    struct lt_sts_plan p;
    char why[256];
    struct lt_sts_query q = query(0, 0);
    /* a's life from its 10 s bucket to now's second: 7,001 s -> 701 rows
     * of 10 s (the last holds now). */
    assert_int_equal(lt_sts_plan(&q, s, 2, &p, why, sizeof why), 0);
    assert_int_equal(p.step_s, 10);
    assert_int_equal(p.n_rows, 701);
    /* Over ~1,500 rows of 10 s: the minute. */
    s[0].start_s = NOW - 6 * 3600;
    assert_int_equal(lt_sts_plan(&q, s, 2, &p, why, sizeof why), 0);
    assert_int_equal(p.step_s, 60);
    assert_int_equal(p.n_rows, 361);
    /* A start older than the 10 s retention rules 10 s out, whatever the
     * row count: a 3-day-old start with a 10-minute duration. */
    s[0].start_s = NOW - 3 * 86400;
    q = query(0, 600);
    assert_int_equal(lt_sts_plan(&q, s, 2, &p, why, sizeof why), 0);
    assert_int_equal(p.step_s, 60);
    assert_int_equal(p.n_rows, 10);
    /* A duration names the row count at a given step; a partial step is a
     * row. */
    q = query(3600, 5401);
    assert_int_equal(lt_sts_plan(&q, s, 2, &p, why, sizeof why), 0);
    assert_int_equal(p.step_s, 3600);
    assert_int_equal(p.n_rows, 2);
    /* An ended stream ends at its end_s: b alone, 5 min long. */
    s[1].end_s = s[1].start_s + 300;
    q = query(10, 0);
    assert_int_equal(lt_sts_plan(&q, &s[1], 1, &p, why, sizeof why), 0);
    assert_int_equal(p.n_rows, 30);
    /* A stream that starts in the future still has one row. */
    s[1].start_s = NOW + 3600;
    s[1].end_s = s[1].start_s;
    assert_int_equal(lt_sts_plan(&q, &s[1], 1, &p, why, sizeof why), 0);
    assert_int_equal(p.n_rows, 1);
    /* Limits name duration. */
    q = query(10, 1000010); /* 100,001 rows */
    assert_int_equal(lt_sts_plan(&q, s, 2, &p, why, sizeof why), LT_EINVAL);
    assert_memory_equal(why, "duration:", 9);
    q = query(60, 400000 * 60); /* 400,000 rows */
    assert_int_equal(lt_sts_plan(&q, s, 2, &p, why, sizeof why), LT_EINVAL);
    assert_memory_equal(why, "duration:", 9);
    q = query(60, 90000 * 60); /* 90,000 rows x 100 streams > 1,000,000 values */
    struct lt_sts_stream many[LT_STS_MAX_STREAMS];
    for (size_t i = 0; i < LT_STS_MAX_STREAMS; i++)
        many[i] = s[0];
    assert_int_equal(lt_sts_plan(&q, many, LT_STS_MAX_STREAMS, &p, why, sizeof why), LT_EINVAL);
    assert_int_equal(lt_sts_plan(&q, many, 2, &p, why, sizeof why), 0);
    q = query(60, -1);
    assert_int_equal(lt_sts_plan(&q, s, 2, &p, why, sizeof why), LT_EINVAL);
}

static void test_stream_query(void **state)
{
    (void)state;
    struct lt_sts_query q = query(0, 0);
    struct lt_sts_plan p = {60, 100};
    struct lt_ts_query tq;
    /* Aligned down to the step; the read stops at now's bucket. */
    struct lt_sts_stream s = {"a", NOW - 3000 + 25, false, NOW + 1};
    assert_true(lt_sts_stream_query(&q, &p, &s, &tq));
    assert_int_equal(tq.from_s, NOW - 3000);
    assert_int_equal(tq.to_s, NOW + 1);
    assert_int_equal(tq.step_s, 60);
    assert_int_equal(tq.now_s, NOW);
    assert_int_equal(tq.retention_s[1], 90 * 86400);
    /* An older stream: the table's end comes first. */
    s.start_s = NOW - 86400 - 59;
    assert_true(lt_sts_stream_query(&q, &p, &s, &tq));
    assert_int_equal(tq.from_s, NOW - 86400 - 60);
    assert_int_equal(tq.to_s, NOW - 86400 - 60 + 6000);
    /* A negative start rounds down too. */
    s.start_s = -61;
    assert_true(lt_sts_stream_query(&q, &p, &s, &tq));
    assert_int_equal(tq.from_s, -120);
    /* Nothing of a future stream is past: no read. One starting within
     * now's bucket is read (its bucket has begun). */
    s.start_s = NOW + 59;
    assert_true(lt_sts_stream_query(&q, &p, &s, &tq));
    assert_int_equal(tq.to_s, NOW + 1);
    s.start_s = NOW + 60;
    assert_false(lt_sts_stream_query(&q, &p, &s, &tq));
}

static void test_fill(void **state)
{
    (void)state;
    struct lt_sts_plan p = {60, 3};
    int64_t v[6];
    for (size_t i = 0; i < 6; i++)
        v[i] = LT_STS_NULL;
    /* Two points of 5 columns; likes (column 1) go into stream 1. */
    int64_t t[2] = {120, 180}, vals[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    struct lt_timeseries ts = {60, 2, 5, t, vals};
    lt_sts_fill(v, &p, 2, 1, &ts, LT_TS_LIKES);
    int64_t want[6] = {LT_STS_NULL, 2, LT_STS_NULL, 7, LT_STS_NULL, LT_STS_NULL};
    assert_memory_equal(v, want, sizeof want);
    /* A read of another step or a column it lacks changes nothing. */
    lt_sts_fill(v, &p, 2, 0, &ts, 5);
    ts.step_s = 10;
    lt_sts_fill(v, &p, 2, 0, &ts, LT_TS_VIEWS);
    assert_memory_equal(v, want, sizeof want);
}

static const struct lt_sts_stream two[2] = {{"ganzhou-2022-07-16", 1657936805, false, 0},
                                            {"nanchang.2022_07_09", 1657332007, true, 0}};
static const struct lt_sts_plan plan = {10, 3};
static const int64_t table[6] = {0, 4, 2, 0, 5, LT_STS_NULL};

static void test_json(void **state)
{
    (void)state;
    char stack[64];
    struct lt_strbuf sb;
    lt_strbuf_init(&sb, stack, sizeof stack, 1 << 20);
    assert_int_equal(lt_sts_encode_json(&sb, "tour-2022", "likes", &plan, two, 2, table, false), 0);
    assert_string_equal(lt_strbuf_text(&sb),
                        "{\"series\":\"tour-2022\",\"step\":10,\"metric\":\"likes\","
                        "\"truncated\":false,\"streams\":["
                        "{\"stream\":\"ganzhou-2022-07-16\",\"start\":1657936805,"
                        "\"start_from\":\"created_at\",\"t0\":1657936800},"
                        "{\"stream\":\"nanchang.2022_07_09\",\"start\":1657332007,"
                        "\"start_from\":\"starts_at\",\"t0\":1657332000}],"
                        "\"points\":[[0,0,4],[10,2,0],[20,5,null]]}");
    lt_strbuf_free(&sb);
    /* No streams at all is still a table; too large is refused, never cut. */
    lt_strbuf_init(&sb, stack, sizeof stack, 1 << 20);
    assert_int_equal(lt_sts_encode_json(&sb, "t", "views", &plan, two, 0, table, true), 0);
    assert_string_equal(lt_strbuf_text(&sb),
                        "{\"series\":\"t\",\"step\":10,\"metric\":\"views\",\"truncated\":true,"
                        "\"streams\":[],\"points\":[[0],[10],[20]]}");
    lt_strbuf_free(&sb);
    lt_strbuf_init(&sb, stack, sizeof stack, 100);
    assert_int_equal(lt_sts_encode_json(&sb, "tour-2022", "likes", &plan, two, 2, table, false),
                     LT_ETOOLARGE);
    lt_strbuf_free(&sb);
}

static void test_csv(void **state)
{
    (void)state;
    char stack[64];
    struct lt_strbuf sb;
    lt_strbuf_init(&sb, stack, sizeof stack, 1 << 20);
    assert_int_equal(lt_sts_encode_csv(&sb, &plan, two, 2, table), 0);
    assert_string_equal(lt_strbuf_text(&sb), "offset,ganzhou-2022-07-16,nanchang.2022_07_09\r\n"
                                             "0,0,4\r\n"
                                             "10,2,0\r\n"
                                             "20,5,\r\n");
    lt_strbuf_free(&sb);
    lt_strbuf_init(&sb, stack, sizeof stack, 40);
    assert_int_equal(lt_sts_encode_csv(&sb, &plan, two, 2, table), LT_ETOOLARGE);
    lt_strbuf_free(&sb);
}

static void test_metric(void **state)
{
    (void)state;
    assert_int_equal(lt_sts_metric_parse("views", 5, &counters), LT_TS_VIEWS);
    assert_int_equal(lt_sts_metric_parse("online", 6, &counters), LT_TS_ONLINE);
    assert_int_equal(lt_sts_metric_parse("uniques", 7, &counters), LT_TS_UNIQUES);
    assert_int_equal(lt_sts_metric_parse("shares", 6, &counters), LT_TS_FIXED);
    assert_int_equal(lt_sts_metric_parse("views,likes", 11, &counters), -1);
    assert_int_equal(lt_sts_metric_parse("view", 4, &counters), -1);
    assert_int_equal(lt_sts_metric_parse("", 0, &counters), -1);
    assert_int_equal(lt_sts_metric_parse("gifts", 5, &counters), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan), cmocka_unit_test(test_stream_query),
        cmocka_unit_test(test_fill), cmocka_unit_test(test_json),
        cmocka_unit_test(test_csv),  cmocka_unit_test(test_metric),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
