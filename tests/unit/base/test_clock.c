/* Unit tests of clock.c: RFC 3339 formatting, parsing of RFC 3339 and epoch
 * seconds (offsets, fractions, case), rejection of malformed times, and the
 * format -> parse round trip. */
#include "livetally/base/clock.h"
#include "livetally/base/error.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

/* 2022-07-16T02:40:00Z */
#define T0_MS INT64_C(1657939200000)

static void check_format(int64_t ms, int with_ms, const char *expected)
{
    char buf[32];
    size_t n = lt_format_rfc3339(ms, with_ms, buf, sizeof buf);
    assert_string_equal(buf, expected);
    assert_int_equal(n, strlen(expected));
}

static int parse(const char *s, int64_t *ms)
{
    return lt_parse_time(s, strlen(s), ms);
}

static void check_parse(const char *s, int64_t expected)
{
    int64_t ms = -12345;
    if (parse(s, &ms) != 0)
        fail_msg("\"%s\" rejected", s);
    if (ms != expected)
        fail_msg("\"%s\": %lld, expected %lld", s, (long long)ms, (long long)expected);
}

static void check_rejected(const char *s)
{
    int64_t ms = -12345;
    int rc = parse(s, &ms);
    if (rc != LT_EINVAL)
        fail_msg("\"%s\" gave %d (%lld), expected LT_EINVAL", s, rc, (long long)ms);
}

static void test_format_epoch_zero(void **state)
{
    (void)state;
    check_format(0, 0, "1970-01-01T00:00:00Z");
    check_format(0, 1, "1970-01-01T00:00:00.000Z");
}

static void test_format_examples(void **state)
{
    (void)state;
    check_format(T0_MS, 0, "2022-07-16T02:40:00Z");
    check_format(T0_MS + 250, 1, "2022-07-16T02:40:00.250Z");
    check_format(T0_MS + 999, 0, "2022-07-16T02:40:00Z"); /* truncated, not rounded */
    check_format(T0_MS + 7, 1, "2022-07-16T02:40:00.007Z");
    check_format(INT64_C(1709251199999), 1, "2024-02-29T23:59:59.999Z");
    check_format(INT64_C(951868800000), 0, "2000-03-01T00:00:00Z");
    check_format(INT64_C(946684799000), 0, "1999-12-31T23:59:59Z");
    check_format(INT64_C(4107542400000), 0, "2100-03-01T00:00:00Z");
    check_format(-1, 1, "1969-12-31T23:59:59.999Z");
}

static void test_parse_utc(void **state)
{
    (void)state;
    check_parse("2022-07-16T02:40:00Z", T0_MS);
    check_parse("1970-01-01T00:00:00Z", 0);
    check_parse("2024-02-29T23:59:59Z", INT64_C(1709251199000));
    check_parse("2000-03-01T00:00:00Z", INT64_C(951868800000));
    check_parse("2100-03-01T00:00:00Z", INT64_C(4107542400000));
    check_parse("1969-12-31T23:59:59Z", -1000);
}

static void test_parse_lowercase(void **state)
{
    (void)state;
    check_parse("2022-07-16t02:40:00z", T0_MS);
    check_parse("2022-07-16T02:40:00z", T0_MS);
    check_parse("2022-07-16t02:40:00Z", T0_MS);
}

static void test_parse_fraction(void **state)
{
    (void)state;
    check_parse("2022-07-16T02:40:00.250Z", T0_MS + 250);
    check_parse("2022-07-16T02:40:00.5Z", T0_MS + 500);
    check_parse("2022-07-16T02:40:00.05Z", T0_MS + 50);
    check_parse("2022-07-16T02:40:00.007Z", T0_MS + 7);
    check_parse("2022-07-16T02:40:00.999999999Z", T0_MS + 999); /* below ms: dropped */
    check_parse("2022-07-16T02:40:00.000Z", T0_MS);
    check_parse("2022-07-16T02:40:00.123+08:00", T0_MS + 123 - 8 * 3600 * 1000);
}

static void test_parse_offsets(void **state)
{
    (void)state;
    check_parse("2022-07-16T10:40:00+08:00", T0_MS);
    check_parse("2022-07-15T21:10:00-05:30", T0_MS);
    check_parse("2022-07-16T02:40:00+00:00", T0_MS);
    check_parse("2022-07-16T02:40:00-00:00", T0_MS);
    check_parse("2022-07-16T00:10:00-02:30", T0_MS);
    /* Across a day and a year boundary. */
    check_parse("2023-01-01T07:59:59+08:00", INT64_C(1672531199000));
    check_parse("2022-12-31T23:59:59Z", INT64_C(1672531199000));
}

static void test_parse_epoch_seconds(void **state)
{
    (void)state;
    check_parse("1657939200", T0_MS);
    check_parse("0", 0);
    check_parse("1", 1000);
    check_parse("4107542400", INT64_C(4107542400000));
}

static void test_rejects_garbage(void **state)
{
    (void)state;
    check_rejected("");
    check_rejected("garbage");
    check_rejected("now");
    check_rejected("2022-07-16");
    check_rejected("2022-07-16T02:40Z");
    check_rejected("2022/07/16T02:40:00Z");
    check_rejected("2022-07-16X02:40:00Z");
    check_rejected("22-07-16T02:40:00Z");
    check_rejected("2022-7-16T02:40:00Z");
    check_rejected("2022-07-16T2:40:00Z");
    check_rejected("2022-07-16T02:40:0aZ");
    check_rejected("-1657939200");
    check_rejected("+1657939200");
    check_rejected("1657939200.5");
    check_rejected(" 1657939200");
}

static void test_rejects_out_of_range_fields(void **state)
{
    (void)state;
    check_rejected("2022-00-16T02:40:00Z");
    check_rejected("2022-13-16T02:40:00Z");
    check_rejected("2022-07-00T02:40:00Z");
    check_rejected("2022-07-32T02:40:00Z");
    check_rejected("2022-07-16T24:00:00Z");
    check_rejected("2022-07-16T02:60:00Z");
    check_rejected("2022-07-16T02:40:61Z");
}

static void test_rejects_day_not_in_month(void **state)
{
    (void)state;
    /* RFC 3339 5.7: date-mday is 01-28/29/30/31 by month and year. A day that
     * does not exist must not silently become a day of the next month. */
    check_parse("2024-02-29T00:00:00Z", INT64_C(1709164800000));
    check_rejected("2022-02-29T00:00:00Z");
    check_rejected("2022-02-30T00:00:00Z");
    check_rejected("2022-04-31T00:00:00Z");
    check_rejected("2100-02-29T00:00:00Z");
}

static void test_rejects_missing_zone(void **state)
{
    (void)state;
    check_rejected("2022-07-16T02:40:00");
    check_rejected("2022-07-16T02:40:00.250");
}

static void test_rejects_bad_offsets(void **state)
{
    (void)state;
    check_rejected("2022-07-16T10:40:00+08");
    check_rejected("2022-07-16T10:40:00+0800");
    check_rejected("2022-07-16T10:40:00+8:00");
    check_rejected("2022-07-16T10:40:00+08:0");
    check_rejected("2022-07-16T10:40:00+24:00");
    check_rejected("2022-07-16T10:40:00+08:60");
    check_rejected("2022-07-16T10:40:00+");
    check_rejected("2022-07-16T10:40:00Z+08:00");
}

static void test_rejects_trailing_junk(void **state)
{
    (void)state;
    check_rejected("2022-07-16T02:40:00Zjunk");
    check_rejected("2022-07-16T02:40:00Z ");
    check_rejected("2022-07-16T02:40:00ZZ");
    check_rejected("2022-07-16T10:40:00+08:00:00");
    check_rejected("2022-07-16T02:40:00.Z");
    check_rejected("2022-07-16T02:40:00.25.0Z");
    check_rejected("1657939200x");
    check_rejected("1657939200 ");
}

static void test_parse_uses_len_only(void **state)
{
    (void)state;
    const char *s = "2022-07-16T02:40:00Zjunk";
    int64_t ms = 0;
    assert_int_equal(lt_parse_time(s, 20, &ms), 0);
    assert_int_equal(ms, T0_MS);
    assert_int_equal(lt_parse_time("1657939200999", 10, &ms), 0);
    assert_int_equal(ms, T0_MS);
}

static void test_round_trip(void **state)
{
    (void)state;
    /* From 1970 to about 2100, in steps that hit every month, day and hour
     * and many leap days. */
    char buf[32];
    for (int64_t ms = 0; ms < INT64_C(4102444800000); ms += INT64_C(86400000) * 3 + 3601001) {
        int64_t back = -1;
        size_t n = lt_format_rfc3339(ms, 1, buf, sizeof buf);
        if (lt_parse_time(buf, n, &back) != 0 || back != ms)
            fail_msg("%lld -> %s -> %lld", (long long)ms, buf, (long long)back);
        n = lt_format_rfc3339(ms, 0, buf, sizeof buf);
        if (lt_parse_time(buf, n, &back) != 0 || back != ms - ms % 1000)
            fail_msg("%lld -> %s -> %lld", (long long)ms, buf, (long long)back);
    }
}

static void test_clocks(void **state)
{
    (void)state;
    int64_t wall = lt_wall_ms();
    assert_true(wall > T0_MS); /* after this code was written */
    int64_t a = lt_mono_ms();
    int64_t b = lt_mono_ms();
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_epoch_zero),
        cmocka_unit_test(test_format_examples),
        cmocka_unit_test(test_parse_utc),
        cmocka_unit_test(test_parse_lowercase),
        cmocka_unit_test(test_parse_fraction),
        cmocka_unit_test(test_parse_offsets),
        cmocka_unit_test(test_parse_epoch_seconds),
        cmocka_unit_test(test_rejects_garbage),
        cmocka_unit_test(test_rejects_out_of_range_fields),
        cmocka_unit_test(test_rejects_day_not_in_month),
        cmocka_unit_test(test_rejects_missing_zone),
        cmocka_unit_test(test_rejects_bad_offsets),
        cmocka_unit_test(test_rejects_trailing_junk),
        cmocka_unit_test(test_parse_uses_len_only),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
