/* Templates and escaping for the pages livetally serves (static_files.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "livetally/base/mem.h"
#include "livetally/api/static_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_render(void **state)
{
    (void)state;
    static const char tpl[] = "<p data-stream=\"{{STREAM}}\" x=\"{{LOCALE}}\">{{nope}} {{STREAM}}";
    const char *keys[] = {"STREAM", "LOCALE"};
    const char *values[] = {"demo", ""};
    size_t len;
    char *out = lt_template_render(tpl, sizeof tpl - 1, keys, values, 2, &len);
    assert_string_equal(out, "<p data-stream=\"demo\" x=\"\">{{nope}} demo");
    assert_int_equal(len, strlen(out));
    lt_free(out);
    out = lt_template_render("{{", 2, keys, values, 2, &len);
    assert_string_equal(out, "{{");
    lt_free(out);
}

static void test_escape(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(lt_html_escape("a<b>&\"'", out, sizeof out), 26);
    assert_string_equal(out, "a&lt;b&gt;&amp;&quot;&#39;");
    assert_int_equal(lt_html_escape("<<<<<", out, 8), -1);
}

static void test_load(void **state)
{
    (void)state;
    char dir[] = "/tmp/lt-static-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/widget.js", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("console.log('livetally widget');\n", f);
    fclose(f);
    struct lt_static *s = lt_static_load(dir);
    const struct lt_static_file *w = lt_static_get(s, "widget.js");
    assert_non_null(w);
    assert_int_equal(w->len, 200 * 33);
    assert_non_null(w->gz); /* repetitive text compresses */
    assert_true(w->gz_len < w->len / 10);
    assert_int_equal(strlen(w->etag), 18);
    assert_null(lt_static_get(s, "embed.html")); /* absent: 404 later */
    lt_static_free(s);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
