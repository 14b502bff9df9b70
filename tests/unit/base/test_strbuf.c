/* Unit tests of strbuf.c at its edges: exact fit and one byte over (raw
 * bytes, formatted text, integers), growth onto the heap up to max and not
 * past it, appends so large that a careless size computation would wrap,
 * sticky failure, canary bytes after the caller's storage that must
 * never change, and JSON strings (escapes, UTF-8 kept or replaced, refused
 * whole). */
#include "livetally/base/strbuf.h"

#include "livetally/base/error.h"
#include "livetally/base/mem.h"

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

/* Storage of cap bytes followed by canary bytes that must stay as they are. */
#define CANARY 32
struct guarded {
    char bytes[256 + CANARY];
};

static char *guarded_init(struct guarded *g, size_t cap)
{
    assert_true(cap <= 256);
    memset(g->bytes, '#', sizeof g->bytes);
    return g->bytes;
}

static void assert_canary(const struct guarded *g, size_t cap)
{
    for (size_t i = cap; i < cap + CANARY; i++)
        assert_int_equal(g->bytes[i], '#');
}

static void test_fixed_exact_fit_and_one_over(void **state)
{
    (void)state;
    struct guarded g;
    struct lt_strbuf sb;
    /* Exact fit: 7 bytes of text and the NUL in 8. */
    lt_strbuf_init_fixed(&sb, guarded_init(&g, 8), 8);
    assert_int_equal(lt_strbuf_add(&sb, "abcdefg", 7), 0);
    assert_string_equal(lt_strbuf_text(&sb), "abcdefg");
    assert_int_equal(sb.len, 7);
    assert_false(lt_strbuf_failed(&sb));
    assert_canary(&g, 8);
    /* One more byte does not fit: refused whole, text unchanged. */
    assert_int_equal(lt_strbuf_add_char(&sb, 'h'), LT_ETOOLARGE);
    assert_true(lt_strbuf_failed(&sb));
    assert_string_equal(lt_strbuf_text(&sb), "abcdefg");
    assert_canary(&g, 8);
    /* Sticky: even an empty append is refused now. */
    assert_int_equal(lt_strbuf_add(&sb, "", 0), LT_ETOOLARGE);
    lt_strbuf_free(&sb);

    /* One over from empty: nothing is written at all. */
    lt_strbuf_init_fixed(&sb, guarded_init(&g, 8), 8);
    assert_int_equal(lt_strbuf_add_str(&sb, "abcdefgh"), LT_ETOOLARGE);
    assert_string_equal(lt_strbuf_text(&sb), "");
    assert_int_equal(sb.len, 0);
    assert_canary(&g, 8);
    assert_false(sb.heap);

    /* Pieces that add up to an exact fit, then one over. */
    lt_strbuf_init_fixed(&sb, guarded_init(&g, 10), 10);
    assert_int_equal(lt_strbuf_add_str(&sb, "abc"), 0);
    assert_int_equal(lt_strbuf_add_str(&sb, "defgh"), 0);
    assert_int_equal(lt_strbuf_add_str(&sb, "i"), 0);
    assert_string_equal(lt_strbuf_text(&sb), "abcdefghi");
    assert_int_equal(lt_strbuf_add_str(&sb, "j"), LT_ETOOLARGE);
    assert_string_equal(lt_strbuf_text(&sb), "abcdefghi");
    assert_canary(&g, 10);
}

static void test_formatted_fit_and_overflow(void **state)
{
    (void)state;
    struct guarded g;
    struct lt_strbuf sb;
    lt_strbuf_init_fixed(&sb, guarded_init(&g, 16), 16);
    assert_int_equal(lt_strbuf_addf(&sb, "%s-%d", "abc", 42), 0);
    /* 6 + 9 = 15 bytes: an exact fit. */
    assert_int_equal(lt_strbuf_addf(&sb, "%09d", 7), 0);
    assert_string_equal(lt_strbuf_text(&sb), "abc-42000000007");
    assert_int_equal(sb.len, 15);
    assert_canary(&g, 16);

    /* One over: vsnprintf's truncated attempt is undone. */
    lt_strbuf_init_fixed(&sb, guarded_init(&g, 16), 16);
    assert_int_equal(lt_strbuf_addf(&sb, "%s", "0123"), 0);
    assert_int_equal(lt_strbuf_addf(&sb, "%.*s", 12, "abcdefghijklmnop"), LT_ETOOLARGE);
    assert_string_equal(lt_strbuf_text(&sb), "0123");
    assert_int_equal(sb.len, 4);
    assert_true(lt_strbuf_failed(&sb));
    assert_canary(&g, 16);
    /* Sticky for formatted text too. */
    assert_int_equal(lt_strbuf_addf(&sb, "x"), LT_ETOOLARGE);
    assert_string_equal(lt_strbuf_text(&sb), "0123");

    /* max below the storage's size: the storage has room, max refuses. */
    lt_strbuf_init(&sb, guarded_init(&g, 64), 64, 5);
    assert_int_equal(lt_strbuf_addf(&sb, "%s", "12345"), 0);
    assert_int_equal(lt_strbuf_addf(&sb, "%d", 6), LT_ETOOLARGE);
    assert_string_equal(lt_strbuf_text(&sb), "12345");
    lt_strbuf_init(&sb, guarded_init(&g, 64), 64, 5);
    assert_int_equal(lt_strbuf_addf(&sb, "%s", "123456"), LT_ETOOLARGE);
    assert_string_equal(lt_strbuf_text(&sb), "");
    assert_int_equal(lt_strbuf_add_str(&sb, "1"), LT_ETOOLARGE);
}

static void test_growth_to_max(void **state)
{
    (void)state;
    int64_t live = lt_mem_live_bytes();
    char stack[16];
    char big[1001];
    memset(big, 'x', 1000);
    big[1000] = '\0';
    struct lt_strbuf sb;
    lt_strbuf_init(&sb, stack, sizeof stack, 1000);
    assert_int_equal(lt_strbuf_add_str(&sb, "0123456789abcde"), 0); /* fills the stack */
    assert_false(sb.heap);
    assert_ptr_equal(sb.data, stack);
    assert_int_equal(lt_strbuf_add_char(&sb, 'f'), 0); /* moves to the heap */
    assert_true(sb.heap);
    assert_string_equal(lt_strbuf_text(&sb), "0123456789abcdef");
    /* Formatted growth: up to exactly max. */
    assert_int_equal(lt_strbuf_addf(&sb, "%.*s", 1000 - 16, big), 0);
    assert_int_equal(sb.len, 1000);
    assert_int_equal(strlen(lt_strbuf_text(&sb)), 1000);
    assert_memory_equal(lt_strbuf_text(&sb), "0123456789abcdef", 16);
    assert_memory_equal(lt_strbuf_text(&sb) + 16, big, 1000 - 16);
    assert_true(sb.cap <= 1001);
    /* One over max. */
    assert_int_equal(lt_strbuf_add_char(&sb, 'y'), LT_ETOOLARGE);
    assert_int_equal(sb.len, 1000);
    lt_strbuf_free(&sb);
    assert_int_equal(lt_mem_live_bytes(), live);

    /* Formatted text one over max while growing. */
    lt_strbuf_init(&sb, stack, sizeof stack, 1000);
    assert_int_equal(lt_strbuf_addf(&sb, "ab%s", big), LT_ETOOLARGE);
    assert_string_equal(lt_strbuf_text(&sb), "");
    assert_int_equal(sb.len, 0);
    lt_strbuf_free(&sb);
    assert_int_equal(lt_mem_live_bytes(), live);

    /* No storage at all: the first append allocates. */
    lt_strbuf_init(&sb, NULL, 0, 100);
    assert_string_equal(lt_strbuf_text(&sb), "");
    assert_int_equal(lt_strbuf_add(&sb, "", 0), 0);
    assert_int_equal(lt_strbuf_addf(&sb, "%s=%d", "n", 5), 0);
    assert_string_equal(lt_strbuf_text(&sb), "n=5");
    lt_strbuf_free(&sb);
    assert_int_equal(lt_mem_live_bytes(), live);

    /* No storage and max 0: everything but nothing is refused. */
    lt_strbuf_init(&sb, NULL, 0, 0);
    assert_int_equal(lt_strbuf_add(&sb, "", 0), 0);
    assert_int_equal(lt_strbuf_addf(&sb, "%s", ""), 0);
    assert_int_equal(lt_strbuf_add_char(&sb, 'a'), LT_ETOOLARGE);
    assert_string_equal(lt_strbuf_text(&sb), "");
    lt_strbuf_free(&sb);
}

static void test_huge_appends(void **state)
{
    (void)state;
    struct guarded g;
    struct lt_strbuf sb;
    /* Lengths that would wrap len + n: refused before the bytes are read
     * (the pointer here has only a few bytes behind it). */
    static const size_t huge[] = {SIZE_MAX,         SIZE_MAX - 1,     SIZE_MAX - 3,
                                  SIZE_MAX / 2 + 1, SIZE_MAX / 4 + 1, (size_t)INT_MAX + 1};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        lt_strbuf_init_fixed(&sb, guarded_init(&g, 8), 8);
        assert_int_equal(lt_strbuf_add_str(&sb, "abc"), 0);
        assert_int_equal(lt_strbuf_add(&sb, "xyz", huge[i]), LT_ETOOLARGE);
        assert_string_equal(lt_strbuf_text(&sb), "abc");
        assert_canary(&g, 8);
        /* Growing buffers with the largest max clamp it, and refuse what
         * passes it (2 GiB, under the clamp, would really be appended). */
        if (huge[i] <= SIZE_MAX / 4 - 3)
            continue;
        lt_strbuf_init(&sb, guarded_init(&g, 8), 8, SIZE_MAX);
        assert_true(sb.max <= SIZE_MAX / 4);
        assert_int_equal(lt_strbuf_add_str(&sb, "abc"), 0);
        assert_int_equal(lt_strbuf_add(&sb, "xyz", huge[i]), LT_ETOOLARGE);
        assert_false(sb.heap);
        assert_string_equal(lt_strbuf_text(&sb), "abc");
        lt_strbuf_free(&sb);
    }
    /* Formatted text larger than max (a 100,000-byte width against max 1,000). */
    lt_strbuf_init(&sb, guarded_init(&g, 8), 8, 1000);
    assert_int_equal(lt_strbuf_addf(&sb, "%*d", 100000, 1), LT_ETOOLARGE);
    assert_false(sb.heap);
    assert_string_equal(lt_strbuf_text(&sb), "");
    assert_canary(&g, 8);
}

static void test_integers(void **state)
{
    (void)state;
    char buf[64];
    struct lt_strbuf sb;
    lt_strbuf_init_fixed(&sb, buf, sizeof buf);
    assert_int_equal(lt_strbuf_add_int(&sb, 0), 0);
    assert_int_equal(lt_strbuf_add_char(&sb, ' '), 0);
    assert_int_equal(lt_strbuf_add_int(&sb, -1), 0);
    assert_int_equal(lt_strbuf_add_char(&sb, ' '), 0);
    assert_int_equal(lt_strbuf_add_int(&sb, INT64_MAX), 0);
    assert_int_equal(lt_strbuf_add_char(&sb, ' '), 0);
    assert_int_equal(lt_strbuf_add_uint(&sb, UINT64_MAX), 0);
    assert_string_equal(lt_strbuf_text(&sb), "0 -1 9223372036854775807 18446744073709551615");

    /* INT64_MIN is 20 bytes: an exact fit in 21, one over in 20. */
    struct guarded g;
    lt_strbuf_init_fixed(&sb, guarded_init(&g, 21), 21);
    assert_int_equal(lt_strbuf_add_int(&sb, INT64_MIN), 0);
    assert_string_equal(lt_strbuf_text(&sb), "-9223372036854775808");
    assert_canary(&g, 21);
    lt_strbuf_init_fixed(&sb, guarded_init(&g, 20), 20);
    assert_int_equal(lt_strbuf_add_int(&sb, INT64_MIN), LT_ETOOLARGE);
    assert_string_equal(lt_strbuf_text(&sb), "");
    assert_canary(&g, 20);
    lt_strbuf_init_fixed(&sb, guarded_init(&g, 20), 20);
    assert_int_equal(lt_strbuf_add_uint(&sb, UINT64_MAX), LT_ETOOLARGE);
    assert_canary(&g, 20);

    /* Against snprintf for a spread of values. */
    int64_t vals[] = {1, 9, 10, 99, 100, -9, -10, 123456789, -987654321, INT64_MIN + 1};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)vals[i]);
        lt_strbuf_init_fixed(&sb, buf, sizeof buf);
        assert_int_equal(lt_strbuf_add_int(&sb, vals[i]), 0);
        assert_string_equal(lt_strbuf_text(&sb), want);
    }
}

static void test_cut(void **state)
{
    (void)state;
    char buf[16];
    struct lt_strbuf sb;
    lt_strbuf_init_fixed(&sb, buf, sizeof buf);
    assert_int_equal(lt_strbuf_add_str(&sb, "Name: "), 0);
    size_t mark = sb.len;
    assert_int_equal(lt_strbuf_add_str(&sb, "value"), 0);
    lt_strbuf_cut(&sb, mark);
    assert_string_equal(lt_strbuf_text(&sb), "Name: ");
    lt_strbuf_cut(&sb, 100); /* longer than the text: nothing */
    assert_string_equal(lt_strbuf_text(&sb), "Name: ");
    assert_int_equal(lt_strbuf_add_str(&sb, "0123456789"), LT_ETOOLARGE);
    lt_strbuf_cut(&sb, 0);
    assert_string_equal(lt_strbuf_text(&sb), "");
    assert_true(lt_strbuf_failed(&sb)); /* the failure stays */
}

/* lt_strbuf_add_json_string of n bytes into a fresh buffer. */
static void expect_json(const char *in, size_t n, const char *out)
{
    char storage[512];
    struct lt_strbuf sb;
    lt_strbuf_init_fixed(&sb, storage, sizeof storage);
    assert_int_equal(lt_strbuf_add_json_string(&sb, in, n), 0);
    assert_string_equal(lt_strbuf_text(&sb), out);
}

static void test_json_string(void **state)
{
    (void)state;
    expect_json("", 0, "\"\"");
    expect_json("plain text", 10, "\"plain text\"");
    expect_json("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    expect_json("\n\r\t", 3, "\"\\n\\r\\t\"");
    expect_json("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"");
    expect_json("a\0b", 3, "\"a\\u0000b\"");
    /* Well-formed UTF-8 as it is: 2, 3 and 4 bytes, U+10FFFF. */
    expect_json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf", 19,
                "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"");
    /* Each byte of no well-formed sequence: U+FFFD. A lone continuation,
     * a cut sequence at the end, an overlong '/', a surrogate, past
     * U+10FFFF, 0xff. */
    expect_json("\x80", 1, "\"\\ufffd\"");
    expect_json("ab\xc3", 3, "\"ab\\ufffd\"");
    expect_json("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");
    expect_json("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"");
    expect_json("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
    expect_json("\xff!", 2, "\"\\ufffd!\"");
    expect_json("\xe2\x82x", 3, "\"\\ufffd\\ufffdx\"");

    /* Refused whole: the text stays as it was, the failure is sticky. */
    char storage[15]; /* 14 bytes of text */
    struct lt_strbuf sb;
    lt_strbuf_init_fixed(&sb, storage, sizeof storage);
    assert_int_equal(lt_strbuf_add_str(&sb, "ab"), 0);
    assert_int_equal(lt_strbuf_add_json_string(&sb, "0123456789\n", 11), LT_ETOOLARGE);
    assert_string_equal(lt_strbuf_text(&sb), "ab");
    assert_true(lt_strbuf_failed(&sb));
    /* Exactly fitting: 14 bytes of text. */
    lt_strbuf_init_fixed(&sb, storage, sizeof storage);
    assert_int_equal(lt_strbuf_add_json_string(&sb, "0123456789\n", 11), 0);
    assert_string_equal(lt_strbuf_text(&sb), "\"0123456789\\n\"");
    assert_int_equal(sb.len, 14);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_exact_fit_and_one_over),
        cmocka_unit_test(test_formatted_fit_and_overflow),
        cmocka_unit_test(test_growth_to_max),
        cmocka_unit_test(test_huge_appends),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_json_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
