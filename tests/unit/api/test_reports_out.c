/* Unit tests of reports_out.c: the "reported" member of the time series,
 * sources in the order first met, each source's reports oldest first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "livetally/api/reports_out.h"
#include "livetally/base/strbuf.h"

#include <stdint.h>
#include <string.h>

static void test_reported_json(void **state)
{
    (void)state;
    static const struct lt_partner_report reps[] = {
        {"wutong", 1657936800123, 53411, 20873, false},
        {"kuai", 1657936805000, 7, 1, false},
        {"wutong", 1657936860999, 53000, 21000, true},
    };
    struct lt_strbuf sb;
    lt_strbuf_init(&sb, NULL, 0, 1 << 16);
    assert_int_equal(lt_reports_ts_json(&sb, reps, 3), 0);
    assert_string_equal(lt_strbuf_text(&sb),
                        "\"reported\":{\"wutong\":[[1657936800,53411,20873],"
                        "[1657936860,53000,21000]],\"kuai\":[[1657936805,7,1]]}");
    lt_strbuf_free(&sb);
    lt_strbuf_init(&sb, NULL, 0, 1 << 16);
    assert_int_equal(lt_reports_ts_json(&sb, NULL, 0), 0);
    assert_string_equal(lt_strbuf_text(&sb), "\"reported\":{}");
    lt_strbuf_free(&sb);
    /* Too large for the buffer: the error, not half a member. */
    char small[16];
    lt_strbuf_init_fixed(&sb, small, sizeof small);
    assert_int_not_equal(lt_reports_ts_json(&sb, reps, 3), 0);
    size_t first[3];
    assert_int_equal(lt_reports_sources(reps, 3, first), 2);
    assert_int_equal(first[0], 0);
    assert_int_equal(first[1], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reported_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
