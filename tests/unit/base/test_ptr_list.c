/* Unit tests of ptr_list.c: every pointer pushed is kept, in order, across
 * the move from the inline array to the heap and several growths, and the
 * heap block is freed. */
#include "livetally/base/ptr_list.h"

#include "livetally/base/mem.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <setjmp.h>

#include <cmocka.h>

static void check_n(size_t n)
{
    int64_t live = lt_mem_live_bytes();
    static char things[5000];
    struct lt_ptr_list l;
    lt_ptr_list_init(&l);
    for (size_t i = 0; i < n; i++)
        lt_ptr_list_push(&l, &things[i]);
    assert_int_equal(l.n, n);
    for (size_t i = 0; i < n; i++)
        assert_ptr_equal(l.items[i], &things[i]);
    if (n <= LT_PTR_LIST_INLINE)
        assert_ptr_equal(l.items, l.inline_items);
    else
        assert_true(lt_mem_live_bytes() > live);
    lt_ptr_list_free(&l);
    assert_int_equal(l.n, 0);
    assert_int_equal(lt_mem_live_bytes(), live);
}

static void test_sizes(void **state)
{
    (void)state;
    size_t sizes[] = {0,
                      1,
                      LT_PTR_LIST_INLINE - 1,
                      LT_PTR_LIST_INLINE,
                      LT_PTR_LIST_INLINE + 1,
                      2 * LT_PTR_LIST_INLINE + 1,
                      5000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        check_n(sizes[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
