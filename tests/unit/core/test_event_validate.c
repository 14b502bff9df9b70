/* Event validation: the contract's rules for one event (event.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "livetally/conf/config.h"
#include "livetally/core/event_validate.h"

#include <string.h>

static struct lt_config cfg;

static int setup(void **state)
{
    (void)state;
    static const char json[] = "{\"counters\": [\"shares\"]}";
    char err[256];
    if (lt_config_load_string(&cfg, "test", json, sizeof json - 1, err, sizeof err) != 0)
        fail_msg("%s", err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lt_config_free(&cfg);
    return 0;
}

static const char *parse(const char *text, struct lt_event *ev)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    const char *why = lt_event_parse(&cfg, j, ev);
    json_decref(j);
    return why;
}

static void test_valid_events(void **state)
{
    (void)state;
    struct lt_event ev;
    assert_null(parse("{\"type\":\"like\"}", &ev));
    assert_int_equal(ev.type, LT_EVENT_LIKE);
    assert_int_equal(ev.n, 1);
    assert_null(ev.viewer);
    assert_null(ev.source);
    assert_null(parse("{\"type\":\"like\",\"n\":50}", &ev));
    assert_int_equal(ev.n, 50);
    assert_null(parse("{\"type\":\"view\",\"n\":1,\"source\":\"wutongcun\"}", &ev));
    assert_int_equal(ev.type, LT_EVENT_VIEW);
    assert_null(parse("{\"type\":\"shares\",\"n\":2}", &ev));
    assert_int_equal(ev.type, LT_EVENT_COUNTER);
    assert_int_equal(ev.counter, 0);
    assert_int_equal(ev.n, 2);
    assert_null(parse("{\"type\":\"like\",\"viewer\":null,\"source\":null,\"extra\":1}", &ev));
}

static void test_rejected_events(void **state)
{
    (void)state;
    struct lt_event ev;
    const char *bad[] = {
        "[]",
        "{}",
        "{\"type\":\"nope\"}",
        "{\"type\":1}",
        "{\"type\":\"like\",\"n\":0}",
        "{\"type\":\"like\",\"n\":-1}",
        "{\"type\":\"like\",\"n\":51}",
        "{\"type\":\"like\",\"n\":1.5}",
        "{\"type\":\"like\",\"n\":\"3\"}",
        "{\"type\":\"view\",\"n\":2}",
        "{\"type\":\"like\",\"viewer\":\"short\"}",
        "{\"type\":\"like\",\"viewer\":\"has space in it\"}",
        "{\"type\":\"like\",\"viewer\":12345678}",
        "{\"type\":\"like\",\"source\":\"Direct\"}",
        "{\"type\":\"like\",\"source\":\"\"}",
        "{\"type\":\"like\",\"source\":\"a23456789012345678901234567890123\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!parse(bad[i], &ev))
            fail_msg("accepted: %s", bad[i]);
    }
}

static void test_load_body(void **state)
{
    (void)state;
    int status = 0;
    char msg[200];
    assert_null(lt_events_load("nope", 4, 1000, &status, msg, sizeof msg));
    assert_int_equal(status, 400);
    assert_non_null(strstr(msg, "not JSON"));
    assert_null(lt_events_load("42", 2, 1000, &status, msg, sizeof msg));
    assert_int_equal(status, 400);
    assert_null(lt_events_load("[1,2,3]", 7, 2, &status, msg, sizeof msg));
    assert_int_equal(status, 413);
    json_t *j = lt_events_load("[1,2]", 5, 2, &status, msg, sizeof msg);
    assert_non_null(j);
    json_decref(j);
    j = lt_events_load("{\"type\":\"like\"}", 15, 2, &status, msg, sizeof msg);
    assert_true(json_is_object(j));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_events),
        cmocka_unit_test(test_rejected_events),
        cmocka_unit_test(test_load_body),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
