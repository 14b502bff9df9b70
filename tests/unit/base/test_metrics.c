/* Unit tests of metrics.c: the Prometheus text has HELP, TYPE and a sample for
 * every metric of LT_METRICS, shows the values written through lt_metrics,
 * and sums the shared slots of all workers.
 *
 * The module's state is process-wide and lt_metrics_init_shared cannot be
 * undone, so the tests on the private slot run first and the shared-slot
 * tests last (cmocka runs them in order). */
#include "livetally/base/metrics.h"

#include <event2/buffer.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

struct metric {
    const char *name;
    const char *type;
    const char *help;
};

#define LT_METRIC_ROW(name, type, help) {#name, #type, help},
static const struct metric metrics[] = {LT_METRICS(LT_METRIC_ROW)};
#undef LT_METRIC_ROW
#define N_METRICS (sizeof metrics / sizeof metrics[0])

/* The rendered text, NUL-terminated; free with free(). */
static char *render(void)
{
    struct evbuffer *out = evbuffer_new();
    lt_metrics_render(out);
    size_t len = evbuffer_get_length(out);
    char *text = malloc(len + 1);
    evbuffer_remove(out, text, len);
    text[len] = '\0';
    evbuffer_free(out);
    return text;
}

/* The value of the sample line "livetally_<name> <value>"; fails when there
 * is not exactly one such line. */
static unsigned long long sample(const char *text, const char *name)
{
    char prefix[128];
    snprintf(prefix, sizeof prefix, "\nlivetally_%s ", name);
    const char *p = strstr(text, prefix);
    if (!p)
        fail_msg("no sample for %s", name);
    if (strstr(p + 1, prefix))
        fail_msg("two samples for %s", name);
    char *end;
    unsigned long long v = strtoull(p + strlen(prefix), &end, 10);
    assert_true(*end == '\n');
    return v;
}

static bool has_line(const char *text, const char *line)
{
    size_t len = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[len] == '\n')
            return true;
    return false;
}

static void reset_slot(void)
{
    memset(lt_metrics, 0, sizeof *lt_metrics);
}

static void test_every_metric_has_help_type_and_sample(void **state)
{
    (void)state;
    reset_slot();
    char *text = render();
    char line[256];
    for (size_t i = 0; i < N_METRICS; i++) {
        snprintf(line, sizeof line, "# HELP livetally_%s %s", metrics[i].name, metrics[i].help);
        if (!has_line(text, line))
            fail_msg("missing \"%s\"", line);
        snprintf(line, sizeof line, "# TYPE livetally_%s %s", metrics[i].name, metrics[i].type);
        if (!has_line(text, line))
            fail_msg("missing \"%s\"", line);
        /* HELP, then TYPE, then the sample, in that order. */
        snprintf(line, sizeof line, "# HELP livetally_%s ", metrics[i].name);
        const char *help = strstr(text, line);
        snprintf(line, sizeof line, "# TYPE livetally_%s ", metrics[i].name);
        const char *type = strstr(text, line);
        snprintf(line, sizeof line, "\nlivetally_%s ", metrics[i].name);
        const char *value = strstr(text, line);
        assert_non_null(value);
        assert_true(help < type && type < value);
        assert_int_equal(sample(text, metrics[i].name), 0);
    }
    free(text);
}

static void test_known_names_and_types(void **state)
{
    (void)state;
    /* A few names dashboards rely on, spelled out rather than generated. */
    char *text = render();
    assert_true(has_line(text, "# TYPE livetally_events_accepted_total counter"));
    assert_true(has_line(text, "# TYPE livetally_likes_accepted_total counter"));
    assert_true(has_line(text, "# TYPE livetally_redis_batches_sent_total counter"));
    assert_true(has_line(text, "# TYPE livetally_http_connections_open gauge"));
    assert_true(has_line(text, "# TYPE livetally_backlog_entries gauge"));
    assert_true(has_line(text, "# TYPE livetally_redis_connected gauge"));
    free(text);
}

static void test_text_format(void **state)
{
    (void)state;
    /* Every line is a HELP, a TYPE or "name value"; every sample's name was
     * declared by the TYPE line just before it. */
    char *text = render();
    size_t len = strlen(text);
    assert_true(len > 0 && text[len - 1] == '\n');
    char declared[128] = "";
    size_t samples = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "# HELP livetally_", 17) == 0)
            continue;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char type[16];
            assert_int_equal(sscanf(line + 7, "%127s %15s", declared, type), 2);
            assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0);
            continue;
        }
        char name[128];
        unsigned long long v;
        char rest;
        if (sscanf(line, "%127s %llu%c", name, &v, &rest) != 2)
            fail_msg("bad sample line \"%s\"", line);
        assert_string_equal(name, declared);
        for (const char *c = name; *c; c++)
            assert_true((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_');
        samples++;
    }
    assert_true(samples >= N_METRICS);
    free(text);
}

static void test_values_after_increment(void **state)
{
    (void)state;
    reset_slot();
    lt_metrics->events_accepted_total++;
    lt_metrics->events_accepted_total += 6;
    lt_metrics->http_connections_open = 12;
    lt_metrics->redis_batch_failures_total = 1ULL << 40;
    lt_metrics->memory_live_bytes = 123456;
    char *text = render();
    assert_int_equal(sample(text, "events_accepted_total"), 7);
    assert_int_equal(sample(text, "http_connections_open"), 12);
    assert_true(sample(text, "redis_batch_failures_total") == 1ULL << 40);
    assert_int_equal(sample(text, "memory_live_bytes"), 123456);
    assert_int_equal(sample(text, "events_rejected_total"), 0);
    free(text);
    /* Rendering again shows the same values: render does not reset. */
    text = render();
    assert_int_equal(sample(text, "events_accepted_total"), 7);
    free(text);
}

static void test_render_appends(void **state)
{
    (void)state;
    struct evbuffer *out = evbuffer_new();
    evbuffer_add_printf(out, "before\n");
    lt_metrics_render(out);
    size_t len = evbuffer_get_length(out);
    char *text = malloc(len + 1);
    evbuffer_remove(out, text, len);
    text[len] = '\0';
    assert_memory_equal(text, "before\n# HELP ", 14);
    free(text);
    evbuffer_free(out);
}

static void test_private_slot_read_alone(void **state)
{
    (void)state;
    reset_slot();
    lt_metrics->ws_connections_open = 4;
    int64_t pid = -1;
    assert_int_equal(lt_metrics_slot_count(), 1);
    const struct lt_metrics *m = lt_metrics_slot(0, &pid);
    assert_ptr_equal(m, lt_metrics);
    assert_int_equal(m->ws_connections_open, 4);
    assert_int_equal(pid, getpid());
    assert_null(lt_metrics_slot(1, &pid));
}

/* ---- shared slots: from here on the process uses them ---- */

static void test_shared_slots_summed(void **state)
{
    (void)state;
    lt_metrics->events_accepted_total = 1000; /* the private slot: not summed any more */
    assert_int_equal(lt_metrics_init_shared(2), 0);
    lt_metrics_bind(0);
    lt_metrics->events_accepted_total = 3;
    lt_metrics->http_connections_open = 10;
    lt_metrics_bind(1);
    lt_metrics->events_accepted_total = 4;
    lt_metrics->http_connections_open = 5;
    lt_metrics->likes_accepted_total = 9;
    char *text = render();
    assert_int_equal(sample(text, "events_accepted_total"), 7);
    assert_int_equal(sample(text, "http_connections_open"), 15);
    assert_int_equal(sample(text, "likes_accepted_total"), 9);
    assert_int_equal(sample(text, "workers"), 2);
    free(text);
}

static void test_bind_zeroes_slot(void **state)
{
    (void)state;
    /* A restarted worker binds its slot again and starts over. */
    lt_metrics_bind(0);
    char *text = render();
    assert_int_equal(sample(text, "events_accepted_total"), 4);
    assert_int_equal(sample(text, "http_connections_open"), 5);
    free(text);
}

static void test_child_process_writes_are_seen(void **state)
{
    (void)state;
    /* The point of the shared mapping: a forked worker writes its slot, the
     * parent (or any other worker) renders the sum. */
    lt_metrics_bind(0);
    lt_metrics->events_rejected_total = 1;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        lt_metrics_bind(1);
        lt_metrics->events_rejected_total = 2;
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *text = render();
    assert_int_equal(sample(text, "events_rejected_total"), 3);
    free(text);
}

static void test_slots_read_one_by_one_with_pids(void **state)
{
    (void)state;
    /* GET /v1/operator/status: each worker's own figures and pid, as the
     * forked worker wrote them. */
    assert_int_equal(lt_metrics_slot_count(), 2);
    lt_metrics_bind(0);
    lt_metrics->ws_connections_open = 6;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        lt_metrics_bind(1);
        lt_metrics->ws_connections_open = 8;
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    int64_t p0 = 0, p1 = 0;
    const struct lt_metrics *s0 = lt_metrics_slot(0, &p0), *s1 = lt_metrics_slot(1, &p1);
    assert_non_null(s0);
    assert_non_null(s1);
    assert_int_equal(s0->ws_connections_open, 6);
    assert_int_equal(s1->ws_connections_open, 8);
    assert_int_equal(p0, getpid());
    assert_int_equal(p1, pid);
    assert_null(lt_metrics_slot(2, &p0));
    assert_null(lt_metrics_slot(-1, &p0));
}

static void test_bind_out_of_range_ignored(void **state)
{
    (void)state;
    lt_metrics_bind(0);
    struct lt_metrics *slot0 = lt_metrics;
    lt_metrics_bind(2);
    assert_ptr_equal(lt_metrics, slot0);
    lt_metrics_bind(-1);
    assert_ptr_equal(lt_metrics, slot0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_metric_has_help_type_and_sample),
        cmocka_unit_test(test_known_names_and_types),
        cmocka_unit_test(test_text_format),
        cmocka_unit_test(test_values_after_increment),
        cmocka_unit_test(test_render_appends),
        cmocka_unit_test(test_private_slot_read_alone),
        /* Order matters from here: these switch to shared slots. */
        cmocka_unit_test(test_shared_slots_summed),
        cmocka_unit_test(test_bind_zeroes_slot),
        cmocka_unit_test(test_child_process_writes_are_seen),
        cmocka_unit_test(test_slots_read_one_by_one_with_pids),
        cmocka_unit_test(test_bind_out_of_range_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
