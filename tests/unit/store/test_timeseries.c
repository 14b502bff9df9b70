/* Unit tests of timeseries.c: planning a read (steps, defaults, which
 * resolution, every refusal naming its parameter) and the strict decoder
 * of the read script's reply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "livetally/base/error.h"
#include "livetally/store/timeseries.h"

#include <stdint.h>
#include <string.h>

#define NOW 1800000000 /* a multiple of 3600 */
#define H 3600
#define D 86400

static struct lt_ts_query query(int64_t from, int64_t to, int step)
{
    struct lt_ts_query q = {.from_s = from, .to_s = to, .step_s = step, .now_s = NOW,
                            .retention_s = {48 * H, 90 * D, 1095 * D}};
    return q;
}

static int plan(struct lt_ts_query q, struct lt_ts_plan *p, char *why)
{
    return lt_ts_plan(&q, p, why, 256);
}

static void test_steps(void **state)
{
    (void)state;
    assert_int_equal(lt_ts_step_parse("10s", 3), 10);
    assert_int_equal(lt_ts_step_parse("1m", 2), 60);
    assert_int_equal(lt_ts_step_parse("1h", 2), 3600);
    assert_int_equal(lt_ts_step_parse("1h ", 3), 0);
    assert_int_equal(lt_ts_step_parse("60", 2), 0);
    assert_int_equal(lt_ts_step_parse("", 0), 0);
    assert_string_equal(lt_ts_step_name(60), "1m");
    assert_string_equal(lt_ts_step_name(7), "");
}

static void test_default_step_and_resolution(void **state)
{
    (void)state;
    struct lt_ts_plan p;
    char why[256];
    /* An hour: 360 points of 10 s. */
    assert_int_equal(plan(query(NOW - H, NOW, 0), &p, why), 0);
    assert_int_equal(p.step_s, 10);
    assert_int_equal(p.res_s, 10);
    assert_int_equal(p.n_points, 360);
    assert_int_equal(p.first_t, NOW - H);
    /* A day: 8,640 points of 10 s is too many; 1,440 of a minute. */
    assert_int_equal(plan(query(NOW - D, NOW, 0), &p, why), 0);
    assert_int_equal(p.step_s, 60);
    assert_int_equal(p.res_s, 60);
    assert_int_equal(p.n_points, 1440);
    /* A minute-sized range three days ago: 10 s buckets have expired. */
    assert_int_equal(plan(query(NOW - 3 * D, NOW - 3 * D + 600, 0), &p, why), 0);
    assert_int_equal(p.step_s, 60);
    /* A year: hours. */
    assert_int_equal(plan(query(NOW - 365 * D, NOW, 0), &p, why), 0);
    assert_int_equal(p.step_s, 3600);
    assert_int_equal(p.n_points, 365 * 24);
}

static void test_coarsest_covering_resolution(void **state)
{
    (void)state;
    struct lt_ts_plan p;
    char why[256];
    /* 1 h steps over the last day read 1 h buckets, not 360 of 10 s each. */
    assert_int_equal(plan(query(NOW - D, NOW, 3600), &p, why), 0);
    assert_int_equal(p.res_s, 3600);
    /* 1 m steps three days back: the minute buckets. */
    assert_int_equal(plan(query(NOW - 3 * D, NOW, 60), &p, why), 0);
    assert_int_equal(p.res_s, 60);
    /* With a 10 s retention longer than the minute's, a minute step is
     * rolled up from 10 s buckets. */
    struct lt_ts_query q = query(NOW - 3 * D, NOW - 3 * D + 600, 60);
    q.retention_s[0] = 10 * D;
    q.retention_s[1] = 1 * D;
    assert_int_equal(plan(q, &p, why), 0);
    assert_int_equal(p.res_s, 10);
    assert_int_equal(p.n_points, 10);
    /* Rounding: from is rounded down to the step, to is exclusive. */
    assert_int_equal(plan(query(NOW - 125, NOW - 59, 60), &p, why), 0);
    assert_int_equal(p.first_t, NOW - 180);
    assert_int_equal(p.n_points, 3);
}

static void test_refusals_name_the_parameter(void **state)
{
    (void)state;
    struct lt_ts_plan p;
    char why[256];
    assert_int_equal(plan(query(NOW, NOW - 10, 0), &p, why), LT_EINVAL);
    assert_memory_equal(why, "from", 4);
    assert_int_equal(plan(query(NOW, NOW, 60), &p, why), LT_EINVAL);
    assert_memory_equal(why, "from", 4);
    /* 10 s steps since 1970: far more than 100,000 points. */
    assert_int_equal(plan(query(0, NOW, 10), &p, why), LT_EINVAL);
    assert_memory_equal(why, "step", 4);
    /* Exactly 100,000 points pass; one more does not. */
    assert_int_equal(plan(query(NOW - 1000010, NOW, 10), &p, why), LT_EINVAL);
    assert_int_equal(plan(query(NOW - 100000 * 60, NOW, 60), &p, why), 0);
    assert_int_equal(p.n_points, 100000);
    assert_int_equal(plan(query(NOW - 100000 * 60 - 60, NOW, 60), &p, why), LT_EINVAL);
    assert_memory_equal(why, "step", 4);
    /* Older than every retention. */
    assert_int_equal(plan(query(1000, 2000, 0), &p, why), LT_EINVAL);
    assert_memory_equal(why, "from/to", 7);
    /* 10 s steps of a range that ended before the 10 s retention. */
    assert_int_equal(plan(query(NOW - 3 * D, NOW - 3 * D + 60, 10), &p, why), LT_EINVAL);
    assert_memory_equal(why, "from/to", 7);
}

static void test_decode(void **state)
{
    (void)state;
    struct lt_ts_plan p = {.step_s = 60, .res_s = 60, .first_t = 600, .n_points = 2};
    int64_t ok[] = {2, 5, 600, 1, 2, 3, 4, 5, 660, 0, 0, 0, 0, 9};
    struct lt_timeseries ts;
    assert_int_equal(lt_ts_decode(ok, 14, &p, 1, &ts), 0);
    assert_int_equal(ts.n_points, 2);
    assert_int_equal(ts.n_cols, 5);
    assert_int_equal(ts.t[1], 660);
    assert_int_equal(ts.values[4], 5);
    assert_int_equal(ts.values[9], 9);
    lt_timeseries_free(&ts);
    /* Each way to be wrong. */
    int64_t v[14];
    memcpy(v, ok, sizeof v);
    assert_int_equal(lt_ts_decode(v, 13, &p, 1, &ts), LT_EPROTO); /* short */
    assert_int_equal(lt_ts_decode(v, 14, &p, 2, &ts), LT_EPROTO); /* columns */
    v[0] = 3;
    assert_int_equal(lt_ts_decode(v, 14, &p, 1, &ts), LT_EPROTO); /* points */
    memcpy(v, ok, sizeof v);
    v[8] = 661;
    assert_int_equal(lt_ts_decode(v, 14, &p, 1, &ts), LT_EPROTO); /* t not one step on */
    memcpy(v, ok, sizeof v);
    v[3] = -1;
    assert_int_equal(lt_ts_decode(v, 14, &p, 1, &ts), LT_EPROTO); /* negative */
    assert_null(ts.t);
    assert_int_equal(lt_ts_decode(v, 1, &p, 1, &ts), LT_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steps),
        cmocka_unit_test(test_default_step_and_resolution),
        cmocka_unit_test(test_coarsest_covering_resolution),
        cmocka_unit_test(test_refusals_name_the_parameter),
        cmocka_unit_test(test_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
