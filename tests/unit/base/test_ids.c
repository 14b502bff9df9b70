/* Unit tests of ids.c against the identifier rules of API.md "Words":
 * length boundaries, every byte value in every position class, the leading
 * '.', case in source ids, and the derived viewer id. */
#include "livetally/base/ids.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

typedef bool validator(const char *s, size_t len);

/* The rules, written independently of ids.c. */
static bool rule_lower_digit_dash(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool rule_viewer(int c)
{
    return rule_lower_digit_dash(c) || (c >= 'A' && c <= 'Z');
}

static bool rule_stream(int c)
{
    return rule_viewer(c) || c == '.';
}

static bool valid_str(validator *fn, const char *s)
{
    return fn(s, strlen(s));
}

/* A string of len copies of c (buf must hold len + 1). */
static const char *repeat(char *buf, char c, size_t len)
{
    memset(buf, c, len);
    buf[len] = '\0';
    return buf;
}

/* Every byte value 0..255 at the start, the middle and the end of an
 * otherwise valid id of length len (3..15) must follow the rule; a '.' is
 * never allowed first. */
static void check_every_byte(validator *fn, bool (*rule)(int), size_t len)
{
    char buf[16];
    const size_t positions[] = {0, len / 2, len - 1};
    for (int c = 0; c < 256; c++) {
        for (size_t p = 0; p < 3; p++) {
            memset(buf, 'a', len);
            buf[positions[p]] = (char)c;
            bool expected = rule(c) && !(positions[p] == 0 && c == '.');
            if (fn(buf, len) != expected)
                fail_msg("byte 0x%02x at %zu: expected %s", (unsigned)c, positions[p],
                         expected ? "valid" : "invalid");
        }
    }
}

/* ---- stream ids: 1-64 of A-Z a-z 0-9 _ - ., not starting with '.' ---- */

static void test_stream_id_lengths(void **state)
{
    (void)state;
    char buf[LT_STREAM_ID_MAX + 2];
    assert_false(lt_valid_stream_id("", 0));
    assert_true(lt_valid_stream_id("a", 1));
    assert_true(lt_valid_stream_id(repeat(buf, 'a', LT_STREAM_ID_MAX), LT_STREAM_ID_MAX));
    assert_false(lt_valid_stream_id(repeat(buf, 'a', LT_STREAM_ID_MAX + 1), LT_STREAM_ID_MAX + 1));
    assert_int_equal(LT_STREAM_ID_MAX, 64);
}

static void test_stream_id_characters(void **state)
{
    (void)state;
    assert_true(valid_str(lt_valid_stream_id, "ganzhou-2022-07-16"));
    assert_true(valid_str(lt_valid_stream_id, "ABCXYZ_abcxyz-0189.x"));
    assert_true(valid_str(lt_valid_stream_id, "a.b.c"));
    assert_true(valid_str(lt_valid_stream_id, "trailing."));
    assert_true(valid_str(lt_valid_stream_id, "_lead"));
    assert_true(valid_str(lt_valid_stream_id, "-lead"));
    assert_true(valid_str(lt_valid_stream_id, "9"));
    assert_false(valid_str(lt_valid_stream_id, ".hidden"));
    assert_false(valid_str(lt_valid_stream_id, "."));
    assert_false(valid_str(lt_valid_stream_id, ".."));
    assert_false(valid_str(lt_valid_stream_id, "a/b"));
    assert_false(valid_str(lt_valid_stream_id, "a b"));
    assert_false(valid_str(lt_valid_stream_id, "a:b"));
    assert_false(valid_str(lt_valid_stream_id, "a%2Fb"));
    assert_false(valid_str(lt_valid_stream_id, "开幕式"));
    assert_false(lt_valid_stream_id("a\0b", 3));
    check_every_byte(lt_valid_stream_id, rule_stream, 5);
}

static void test_stream_id_uses_len_only(void **state)
{
    (void)state;
    /* Only len bytes are looked at: a router hands slices of the path. */
    assert_true(lt_valid_stream_id("abc/def", 3));
    assert_false(lt_valid_stream_id("abc/def", 4));
}

static void test_series_id_follows_stream_rule(void **state)
{
    (void)state;
    char buf[LT_SERIES_ID_MAX + 2];
    assert_true(valid_str(lt_valid_series_id, "tour-2022"));
    assert_false(lt_valid_series_id("", 0));
    assert_true(lt_valid_series_id(repeat(buf, 'Z', LT_SERIES_ID_MAX), LT_SERIES_ID_MAX));
    assert_false(lt_valid_series_id(repeat(buf, 'Z', LT_SERIES_ID_MAX + 1), LT_SERIES_ID_MAX + 1));
    assert_false(valid_str(lt_valid_series_id, ".tour"));
    check_every_byte(lt_valid_series_id, rule_stream, 5);
}

/* ---- source ids: 1-32 of a-z 0-9 _ - ---- */

static void test_source_id_lengths(void **state)
{
    (void)state;
    char buf[LT_SOURCE_ID_MAX + 2];
    assert_false(lt_valid_source_id("", 0));
    assert_true(lt_valid_source_id("a", 1));
    assert_true(lt_valid_source_id(repeat(buf, 'z', LT_SOURCE_ID_MAX), LT_SOURCE_ID_MAX));
    assert_false(lt_valid_source_id(repeat(buf, 'z', LT_SOURCE_ID_MAX + 1), LT_SOURCE_ID_MAX + 1));
    assert_int_equal(LT_SOURCE_ID_MAX, 32);
}

static void test_source_id_characters(void **state)
{
    (void)state;
    assert_true(valid_str(lt_valid_source_id, LT_DEFAULT_SOURCE));
    assert_true(valid_str(lt_valid_source_id, "wutongcun"));
    assert_true(valid_str(lt_valid_source_id, "bili_2-0"));
    assert_true(valid_str(lt_valid_source_id, "-"));
    assert_false(valid_str(lt_valid_source_id, "Direct"));
    assert_false(valid_str(lt_valid_source_id, "WUTONGCUN"));
    assert_false(valid_str(lt_valid_source_id, "direcT"));
    assert_false(valid_str(lt_valid_source_id, "a.b"));
    assert_false(valid_str(lt_valid_source_id, ".a"));
    assert_false(valid_str(lt_valid_source_id, "a b"));
    check_every_byte(lt_valid_source_id, rule_lower_digit_dash, 5);
}

/* ---- viewer ids: 8-64 of A-Z a-z 0-9 _ - ---- */

static void test_viewer_id_lengths(void **state)
{
    (void)state;
    char buf[LT_VIEWER_ID_MAX + 2];
    assert_false(lt_valid_viewer_id("", 0));
    assert_false(lt_valid_viewer_id("a", 1));
    assert_false(lt_valid_viewer_id(repeat(buf, 'V', 7), 7));
    assert_true(lt_valid_viewer_id(repeat(buf, 'V', 8), 8));
    assert_true(lt_valid_viewer_id(repeat(buf, 'V', LT_VIEWER_ID_MAX), LT_VIEWER_ID_MAX));
    assert_false(lt_valid_viewer_id(repeat(buf, 'V', LT_VIEWER_ID_MAX + 1), LT_VIEWER_ID_MAX + 1));
    assert_int_equal(LT_VIEWER_ID_MAX, 64);
}

static void test_viewer_id_characters(void **state)
{
    (void)state;
    assert_true(valid_str(lt_valid_viewer_id, "Ab3_-xyZ09"));
    assert_true(valid_str(lt_valid_viewer_id, "--------"));
    assert_false(valid_str(lt_valid_viewer_id, "viewer.12345"));
    assert_false(valid_str(lt_valid_viewer_id, "viewer 12345"));
    assert_false(valid_str(lt_valid_viewer_id, "viewer+12345"));
    assert_false(valid_str(lt_valid_viewer_id, "viewer=="));
    check_every_byte(lt_valid_viewer_id, rule_viewer, 9);
}

/* ---- derived viewer ids ---- */

static void derive(const char *addr, const char *ua, char out[35])
{
    memset(out, '#', 35);
    lt_derive_viewer(addr, ua, ua ? strlen(ua) : 0, out);
}

static void test_derive_viewer_format(void **state)
{
    (void)state;
    char id[35];
    derive("203.0.113.7", "Mozilla/5.0 (X11; Linux x86_64)", id);
    assert_int_equal(strlen(id), 34);
    assert_memory_equal(id, "a-", 2);
    for (int i = 2; i < 34; i++)
        assert_true((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'));
    assert_true(lt_valid_viewer_id(id, strlen(id)));
}

static void test_derive_viewer_deterministic(void **state)
{
    (void)state;
    char a[35], b[35];
    derive("2001:db8::1", "curl/7.88", a);
    derive("2001:db8::1", "curl/7.88", b);
    assert_string_equal(a, b);
    /* Without a User-Agent too. */
    derive("2001:db8::1", NULL, a);
    derive("2001:db8::1", NULL, b);
    assert_string_equal(a, b);
    assert_true(lt_valid_viewer_id(a, strlen(a)));
}

static void test_derive_viewer_differs(void **state)
{
    (void)state;
    char base[35], other[35];
    derive("203.0.113.7", "Mozilla/5.0", base);
    derive("203.0.113.8", "Mozilla/5.0", other);
    assert_string_not_equal(base, other);
    derive("203.0.113.7", "Mozilla/5.1", other);
    assert_string_not_equal(base, other);
    derive("203.0.113.7", NULL, other);
    assert_string_not_equal(base, other);
    /* The boundary between address and User-Agent is not ambiguous. */
    derive("203.0.113.7", "5x", base);
    derive("203.0.113.75", "x", other);
    assert_string_not_equal(base, other);
}

static void test_derive_viewer_ua_len(void **state)
{
    (void)state;
    char whole[35], prefix[35];
    derive("198.51.100.1", "Mozilla/5.0", whole);
    lt_derive_viewer("198.51.100.1", "Mozilla/5.0 trailing bytes", 11, prefix);
    assert_string_equal(whole, prefix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_id_lengths),
        cmocka_unit_test(test_stream_id_characters),
        cmocka_unit_test(test_stream_id_uses_len_only),
        cmocka_unit_test(test_series_id_follows_stream_rule),
        cmocka_unit_test(test_source_id_lengths),
        cmocka_unit_test(test_source_id_characters),
        cmocka_unit_test(test_viewer_id_lengths),
        cmocka_unit_test(test_viewer_id_characters),
        cmocka_unit_test(test_derive_viewer_format),
        cmocka_unit_test(test_derive_viewer_deterministic),
        cmocka_unit_test(test_derive_viewer_differs),
        cmocka_unit_test(test_derive_viewer_ua_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
