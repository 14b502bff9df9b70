/* Unit tests of client_cap.c: counts per address go up and down
 * independently, an entry disappears at 0 (the table does not grow with
 * addresses that came and went), a drop with no count is ignored, and the
 * cap comparison (0 = no cap). */
#include "livetally/net/client_cap.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <setjmp.h>

#include <cmocka.h>

static void test_counts_per_address(void **state)
{
    (void)state;
    struct lt_client_cap cap;
    lt_client_cap_init(&cap);
    for (size_t i = 1; i <= 5; i++)
        assert_int_equal(lt_client_cap_add(&cap, "127.0.0.1"), i);
    assert_int_equal(lt_client_cap_add(&cap, "127.0.0.2"), 1);
    assert_int_equal(lt_client_cap_add(&cap, "::1"), 1);
    assert_int_equal(lt_client_cap_count(&cap, "127.0.0.1"), 5);
    assert_int_equal(lt_client_cap_count(&cap, "127.0.0.2"), 1);
    assert_int_equal(lt_client_cap_count(&cap, "10.0.0.1"), 0);
    lt_client_cap_drop(&cap, "127.0.0.1");
    assert_int_equal(lt_client_cap_count(&cap, "127.0.0.1"), 4);
    assert_int_equal(lt_client_cap_count(&cap, "127.0.0.2"), 1);
    assert_int_equal(lt_client_cap_add(&cap, "127.0.0.1"), 5);
    lt_client_cap_free(&cap);
}

static void test_entry_goes_at_zero(void **state)
{
    (void)state;
    struct lt_client_cap cap;
    lt_client_cap_init(&cap);
    char addr[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(addr, sizeof addr, "10.0.%d.%d", i / 256, i % 256);
        lt_client_cap_add(&cap, addr);
        lt_client_cap_add(&cap, addr);
    }
    assert_int_equal(cap.counts.count, 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(addr, sizeof addr, "10.0.%d.%d", i / 256, i % 256);
        lt_client_cap_drop(&cap, addr);
        assert_int_equal(lt_client_cap_count(&cap, addr), 1);
        lt_client_cap_drop(&cap, addr);
        assert_int_equal(lt_client_cap_count(&cap, addr), 0);
    }
    assert_int_equal(cap.counts.count, 0);
    lt_client_cap_free(&cap);
}

static void test_drop_without_count_ignored(void **state)
{
    (void)state;
    struct lt_client_cap cap;
    lt_client_cap_init(&cap);
    lt_client_cap_drop(&cap, "192.0.2.1");
    assert_int_equal(lt_client_cap_count(&cap, "192.0.2.1"), 0);
    assert_int_equal(cap.counts.count, 0);
    assert_int_equal(lt_client_cap_add(&cap, "192.0.2.1"), 1);
    lt_client_cap_free(&cap);
}

static void test_over(void **state)
{
    (void)state;
    assert_false(lt_client_cap_over(5, 5));
    assert_true(lt_client_cap_over(6, 5));
    assert_false(lt_client_cap_over(1000000, 0));
    assert_false(lt_client_cap_over(1, 1));
    assert_true(lt_client_cap_over(2, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_per_address),
        cmocka_unit_test(test_entry_goes_at_zero),
        cmocka_unit_test(test_drop_without_count_ignored),
        cmocka_unit_test(test_over),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
