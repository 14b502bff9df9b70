/* Display formats against the shared vectors in tests/display_vectors.json
 * (the widget's JavaScript is tested against the same file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "livetally/base/display.h"

#include <jansson.h>
#include <string.h>

static json_t *vectors;

static int load(void **state)
{
    (void)state;
    json_error_t err;
    vectors = json_load_file(LT_SOURCE_DIR "/tests/display_vectors.json", 0, &err);
    if (!vectors)
        fail_msg("display_vectors.json: %s (line %d)", err.text, err.line);
    return 0;
}

static int unload(void **state)
{
    (void)state;
    json_decref(vectors);
    return 0;
}

static void test_cases(void **state)
{
    (void)state;
    json_t *cases = json_object_get(vectors, "cases");
    assert_true(json_array_size(cases) > 50);
    size_t i;
    json_t *c;
    int failures = 0;
    json_array_foreach(cases, i, c)
    {
        const char *locale = json_string_value(json_array_get(c, 0));
        const char *style = json_string_value(json_array_get(c, 1));
        json_int_t n = json_integer_value(json_array_get(c, 2));
        const char *want = json_string_value(json_array_get(c, 3));
        int st = lt_display_style_parse(style, strlen(style));
        assert_true(st >= 0);
        char out[LT_DISPLAY_MAX];
        size_t len = lt_display_format(n, lt_display_locale_parse(locale, strlen(locale)),
                                       (enum lt_display_style)st, out);
        assert_int_equal(len, strlen(out));
        if (strcmp(out, want) != 0) {
            print_error("%s %s %lld: got \"%s\", want \"%s\"\n", locale, style, (long long)n,
                        out, want);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_locales(void **state)
{
    (void)state;
    json_t *locales = json_object_get(vectors, "locales");
    size_t i;
    json_t *c;
    json_array_foreach(locales, i, c)
    {
        const char *tag = json_string_value(json_array_get(c, 0));
        const char *want = json_string_value(json_array_get(c, 1));
        const char *got = lt_display_locale_name(lt_display_locale_parse(tag, strlen(tag)));
        if (strcmp(got, want) != 0)
            fail_msg("locale \"%s\": got %s, want %s", tag, got, want);
    }
}

static void test_never_overstates(void **state)
{
    (void)state;
    /* Exhaustive around unit edges: the shown number is never above n. */
    const int64_t edges[] = {1000, 10000, 1000000, 100000000, 1000000000};
    for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++) {
        for (int64_t n = edges[e] - 300; n < edges[e] + 300; n++) {
            char out[LT_DISPLAY_MAX];
            lt_display_format(n, LT_LOCALE_EN, LT_STYLE_COMPACT, out);
            double v = 0;
            char suffix = 0;
            if (sscanf(out, "%lf%c", &v, &suffix) >= 1) {
                double scale = suffix == 'K' ? 1e3 : suffix == 'M' ? 1e6 : suffix == 'B' ? 1e9 : 1;
                assert_true(v * scale <= (double)n + 1e-6);
            }
        }
    }
}

static void test_style_parse(void **state)
{
    (void)state;
    assert_int_equal(lt_display_style_parse("floor", 5), LT_STYLE_FLOOR);
    assert_int_equal(lt_display_style_parse("compact", 7), LT_STYLE_COMPACT);
    assert_int_equal(lt_display_style_parse("Floor", 5), -1);
    assert_int_equal(lt_display_style_parse("", 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_locales),
        cmocka_unit_test(test_never_overstates),
        cmocka_unit_test(test_style_parse),
    };
    return cmocka_run_group_tests(tests, load, unload);
}
