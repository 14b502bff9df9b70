/* Unit tests of timeseries_out.c: ?metrics=, zone names, and the JSON and
 * CSV forms byte for byte (RFC 4180 with CRLF, the local-time column). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "livetally/base/error.h"
#include "livetally/base/strbuf.h"
#include "livetally/conf/config.h"
#include "livetally/api/timeseries_out.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char shares[] = "shares";
static char *items[] = {shares};
static const struct lt_strlist counters = {items, 1};

static int metrics(const char *s, struct lt_ts_columns *c, char *why)
{
    return lt_ts_metrics_parse(s, s ? strlen(s) : 0, &counters, c, why, 256);
}

static void test_metrics(void **state)
{
    (void)state;
    struct lt_ts_columns c;
    char why[256];
    assert_int_equal(metrics(NULL, &c, why), 0);
    assert_int_equal(c.n, 5);
    assert_int_equal(c.col[4], LT_TS_FIXED);
    assert_int_equal(metrics("online,shares,views", &c, why), 0);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.col[0], LT_TS_ONLINE);
    assert_int_equal(c.col[1], LT_TS_FIXED);
    assert_int_equal(c.col[2], LT_TS_VIEWS);
    assert_int_equal(metrics("views,gifts", &c, why), LT_EINVAL);
    assert_non_null(strstr(why, "metrics: unknown metric 'gifts'"));
    assert_int_equal(metrics("views,,likes", &c, why), LT_EINVAL);
    assert_int_equal(metrics("", &c, why), LT_EINVAL);
    assert_int_equal(metrics("likes,likes", &c, why), LT_EINVAL);
    assert_memory_equal(why, "metrics", 7);
    /* A hostile name is quoted printable and short. */
    assert_int_equal(metrics("\x01\"<x>0123456789012345678901234567890123456789", &c, why),
                     LT_EINVAL);
    assert_null(strchr(why, '\x01'));
}

static void test_zones(void **state)
{
    (void)state;
    assert_true(lt_tz_valid("Asia/Shanghai", 13));
    assert_true(lt_tz_valid("UTC", 3));
    assert_false(lt_tz_valid("Mars/Olympus", 12));
    assert_false(lt_tz_valid("../../etc/passwd", 16));
    assert_false(lt_tz_valid("/etc/localtime", 14));
    assert_false(lt_tz_valid("Asia", 4)); /* a directory */
    assert_false(lt_tz_valid("Asia/Shang hai", 14));
    assert_false(lt_tz_valid("", 0));
}

static void sample(struct lt_timeseries *ts, int64_t *t, int64_t *v)
{
    /* 2022-07-16T02:00:00Z and the hour after. */
    t[0] = 1657936800;
    t[1] = 1657940400;
    int64_t vals[] = {10, 20, 7, 3, 1, 0, 5, 0, 9, 0};
    memcpy(v, vals, sizeof vals);
    ts->step_s = 3600;
    ts->n_points = 2;
    ts->n_cols = 5;
    ts->t = t;
    ts->values = v;
}

static void test_json(void **state)
{
    (void)state;
    struct lt_timeseries ts;
    int64_t t[2], v[10];
    sample(&ts, t, v);
    struct lt_ts_columns c;
    char why[256], stack[64];
    assert_int_equal(metrics("views,shares,online", &c, why), 0);
    struct lt_strbuf sb;
    lt_strbuf_init(&sb, stack, sizeof stack, 1 << 20);
    assert_int_equal(lt_ts_encode_json(&sb, "s-1", &ts, &c, &counters, "Asia/Shanghai", NULL, 0),
                     0);
    assert_string_equal(lt_strbuf_text(&sb),
                        "{\"stream\":\"s-1\",\"step\":3600,\"tz\":\"Asia/Shanghai\","
                        "\"metrics\":[\"views\",\"shares\",\"online\"],"
                        "\"points\":[[1657936800,10,1,3],[1657940400,0,0,9]],"
                        "\"segments\":[]}");
    lt_strbuf_free(&sb);
    /* Segment markers: one that ended before the range (left out), one
     * running through it from before (at the first point), one starting in
     * the second hour (at that point; its title JSON-escaped), one starting
     * after the range (left out). */
    char t1[] = "before", t2[] = "through", t3[] = "<b>\"圆桌\"</b>", t4[] = "after";
    struct lt_totals_segment segs[] = {
        {1, t1, 1657930000000, 1657933000000, 0, 0, 0},
        {2, t2, 1657933000000, 1657941000123, 0, 0, 0},
        {3, t3, 1657941000123, 1657944000000, 0, 0, 0},
        {4, t4, 1657944000000, 0, 0, 0, 0},
    };
    lt_strbuf_init(&sb, stack, sizeof stack, 1 << 20);
    assert_int_equal(lt_ts_encode_json(&sb, "s-1", &ts, &c, &counters, NULL, segs, 4), 0);
    assert_string_equal(lt_strbuf_text(&sb),
                        "{\"stream\":\"s-1\",\"step\":3600,"
                        "\"metrics\":[\"views\",\"shares\",\"online\"],"
                        "\"points\":[[1657936800,10,1,3],[1657940400,0,0,9]],"
                        "\"segments\":[{\"id\":2,\"title\":\"through\","
                        "\"started_at\":\"2022-07-16T00:56:40.000Z\",\"t\":1657936800},"
                        "{\"id\":3,\"title\":\"<b>\\\"圆桌\\\"</b>\","
                        "\"started_at\":\"2022-07-16T03:10:00.123Z\",\"t\":1657940400}]}");
    lt_strbuf_free(&sb);
    /* A body that does not fit is refused, never cut. */
    lt_strbuf_init(&sb, stack, sizeof stack, 80);
    assert_int_equal(lt_ts_encode_json(&sb, "s-1", &ts, &c, &counters, NULL, NULL, 0),
                     LT_ETOOLARGE);
    lt_strbuf_free(&sb);
}

static void test_csv(void **state)
{
    (void)state;
    struct lt_timeseries ts;
    int64_t t[2], v[10];
    sample(&ts, t, v);
    struct lt_ts_columns c;
    char why[256], stack[64];
    assert_int_equal(metrics(NULL, &c, why), 0);
    struct lt_strbuf sb;
    lt_strbuf_init(&sb, stack, sizeof stack, 1 << 20);
    assert_int_equal(lt_ts_encode_csv(&sb, &ts, &c, &counters, NULL), 0);
    assert_string_equal(lt_strbuf_text(&sb), "t,views,likes,uniques,online,shares\r\n"
                                             "1657936800,10,20,7,3,1\r\n"
                                             "1657940400,0,5,0,9,0\r\n");
    lt_strbuf_free(&sb);
    /* The local-time column; TZ is put back afterwards. */
    setenv("TZ", "UTC", 1);
    lt_strbuf_init(&sb, stack, sizeof stack, 1 << 20);
    assert_int_equal(metrics("likes", &c, why), 0);
    assert_int_equal(lt_ts_encode_csv(&sb, &ts, &c, &counters, "Asia/Shanghai"), 0);
    assert_string_equal(lt_strbuf_text(&sb), "t,local_time,likes\r\n"
                                             "1657936800,2022-07-16T10:00:00+08:00,20\r\n"
                                             "1657940400,2022-07-16T11:00:00+08:00,5\r\n");
    lt_strbuf_free(&sb);
    assert_string_equal(getenv("TZ"), "UTC");
    /* A zone west of UTC, with half an hour: St. John's in July is -02:30. */
    lt_strbuf_init(&sb, stack, sizeof stack, 1 << 20);
    assert_int_equal(lt_ts_encode_csv(&sb, &ts, &c, &counters, "America/St_Johns"), 0);
    assert_non_null(strstr(lt_strbuf_text(&sb), "1657936800,2022-07-15T23:30:00-02:30,20\r\n"));
    lt_strbuf_free(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics), cmocka_unit_test(test_zones),
        cmocka_unit_test(test_json),    cmocka_unit_test(test_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
