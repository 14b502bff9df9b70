/* Unit tests of request_id.c: the validator against an independent rule for
 * every byte value and the length bounds, generated ids (format, a seed's
 * prefix, no repeats, distinct prefixes for distinct seeds), and the choice
 * between a proxy's id and a generated one. */
#include "livetally/net/request_id.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

/* The rule, written independently of request_id.c. */
static bool rule(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

static bool is_generated(const char *s)
{
    if (strlen(s) != LT_REQUEST_ID_GENERATED)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

static void test_valid_lengths(void **state)
{
    (void)state;
    char buf[LT_REQUEST_ID_MAX + 200];
    memset(buf, 'a', sizeof buf);
    assert_int_equal(LT_REQUEST_ID_MAX, 64);
    assert_false(lt_request_id_valid(buf, 0));
    assert_true(lt_request_id_valid(buf, 1));
    assert_true(lt_request_id_valid(buf, LT_REQUEST_ID_MAX));
    assert_false(lt_request_id_valid(buf, LT_REQUEST_ID_MAX + 1));
    assert_false(lt_request_id_valid(buf, 200));
    assert_true(lt_request_id_valid("req-0123_ABC.z", 14));
}

static void test_valid_every_byte(void **state)
{
    (void)state;
    char buf[9];
    const size_t positions[] = {0, 4, 7};
    for (int c = 0; c < 256; c++) {
        for (size_t p = 0; p < 3; p++) {
            memset(buf, 'a', 8);
            buf[positions[p]] = (char)c;
            if (lt_request_id_valid(buf, 8) != rule(c))
                fail_msg("byte 0x%02x at %zu: expected %s", (unsigned)c, positions[p],
                         rule(c) ? "valid" : "invalid");
        }
    }
}

static void test_generated_format_and_seed(void **state)
{
    (void)state;
    char a[LT_REQUEST_ID_MAX + 1], b[LT_REQUEST_ID_MAX + 1];
    lt_request_id_init(0x1234567800000000ull);
    assert_int_equal(lt_request_id_generate(a), LT_REQUEST_ID_GENERATED);
    assert_true(is_generated(a));
    assert_true(lt_request_id_valid(a, strlen(a)));
    /* The same seed gives the same ids: the prefix comes from the seed. */
    lt_request_id_init(0x1234567800000000ull);
    lt_request_id_generate(b);
    assert_string_equal(a, b);
    assert_string_equal(a, "1234567800000001");
    /* Another seed, another prefix. */
    lt_request_id_init(0x0000000100000000ull);
    lt_request_id_generate(b);
    assert_string_not_equal(a, b);
    assert_memory_not_equal(a, b, 8);
}

static int cmp_ids(const void *x, const void *y)
{
    return memcmp(x, y, LT_REQUEST_ID_MAX + 1);
}

static void test_generated_never_repeat(void **state)
{
    (void)state;
    enum { N = 100000 };
    char(*ids)[LT_REQUEST_ID_MAX + 1] = calloc(N, sizeof *ids);
    assert_non_null(ids);
    lt_request_id_init(0); /* from the kernel's random source */
    for (int i = 0; i < N; i++) {
        lt_request_id_generate(ids[i]);
        assert_true(is_generated(ids[i]));
        assert_memory_equal(ids[i], ids[0], 8); /* one process, one prefix */
    }
    qsort(ids, N, sizeof *ids, cmp_ids);
    for (int i = 1; i < N; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0)
            fail_msg("id %s generated twice", ids[i]);
    free(ids);
}

static void test_choose(void **state)
{
    (void)state;
    char out[LT_REQUEST_ID_MAX + 1];
    char long_id[LT_REQUEST_ID_MAX + 1];
    memset(long_id, 'q', sizeof long_id);
    lt_request_id_init(0x00000abc00000000ull);
    /* A trusted proxy's valid id is kept, up to 64 bytes. */
    assert_int_equal(lt_request_id_choose(true, "proxy-1", 7, out), 7);
    assert_string_equal(out, "proxy-1");
    assert_int_equal(lt_request_id_choose(true, long_id, LT_REQUEST_ID_MAX, out),
                     LT_REQUEST_ID_MAX);
    assert_memory_equal(out, long_id, LT_REQUEST_ID_MAX);
    assert_int_equal(out[LT_REQUEST_ID_MAX], '\0');
    /* Only the given length is read. */
    assert_int_equal(lt_request_id_choose(true, "abc\"def", 3, out), 3);
    assert_string_equal(out, "abc");
    /* Everything else gets a generated one. */
    const struct {
        bool trusted;
        const char *value;
        size_t len;
    } replaced[] = {
        {false, "proxy-1", 7},  {true, NULL, 0},          {true, "", 0},
        {true, long_id, 65},    {true, "a b", 3},         {true, "\"q\"", 3},
        {true, "a\r\nX: y", 7}, {true, "caf\xc3\xa9", 5}, {false, NULL, 0},
    };
    for (size_t i = 0; i < sizeof replaced / sizeof replaced[0]; i++) {
        size_t n =
            lt_request_id_choose(replaced[i].trusted, replaced[i].value, replaced[i].len, out);
        assert_int_equal(n, LT_REQUEST_ID_GENERATED);
        if (!is_generated(out))
            fail_msg("case %zu: %s is not a generated id", i, out);
        assert_memory_equal(out, "00000abc", 8);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_lengths),
        cmocka_unit_test(test_valid_every_byte),
        cmocka_unit_test(test_generated_format_and_seed),
        cmocka_unit_test(test_generated_never_repeat),
        cmocka_unit_test(test_choose),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
