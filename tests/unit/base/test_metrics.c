/* Unit tests of metrics.c: the Prometheus text has HELP, TYPE and a sample for
 * every metric of LT_METRICS, shows the values written through lt_metrics,
 * renders histograms (cumulative buckets, +Inf, _sum in the rendered unit,
 * _count) and the rejections by reason, and sums the shared slots of all
 * workers.
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

/* The value text of the sample line "<series> <value>" (series with its
 * labels, e.g. livetally_x_bucket{le="0.5"}), copied into buf; fails when
 * there is not exactly one such line. */
static const char *value_of(const char *text, const char *series, char *buf, size_t cap)
{
    char prefix[256];
    snprintf(prefix, sizeof prefix, "\n%s ", series);
    const char *p = strstr(text, prefix);
    if (!p)
        fail_msg("no sample %s", series);
    if (strstr(p + 1, prefix))
        fail_msg("two samples %s", series);
    p += strlen(prefix);
    size_t n = strcspn(p, "\n");
    assert_true(n < cap);
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
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
        /* gauge_max is a gauge to Prometheus (only the summing differs). */
        const char *ptype = strcmp(metrics[i].type, "gauge_max") == 0 ? "gauge" : metrics[i].type;
        snprintf(line, sizeof line, "# TYPE livetally_%s %s", metrics[i].name, ptype);
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
    /* A histogram's samples are <name>_bucket{le="..."}, <name>_sum and
     * <name>_count; a labelled counter's <name>{reason="..."}. */
    char declared[128] = "", type[16] = "";
    size_t samples = 0, histograms = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "# HELP livetally_", 17) == 0)
            continue;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%127s %15s", declared, type), 2);
            assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                        strcmp(type, "histogram") == 0);
            histograms += strcmp(type, "histogram") == 0;
            continue;
        }
        char series[256], value[64], rest;
        if (sscanf(line, "%255s %63s%c", series, value, &rest) != 2)
            fail_msg("bad sample line \"%s\"", line);
        char *labels = strchr(series, '{');
        if (labels) {
            size_t n = strlen(labels);
            assert_true(n > 2 && labels[n - 1] == '}');
            *labels = '\0';
        }
        const char *name = series;
        for (const char *c = name; *c; c++)
            assert_true((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_');
        size_t dl = strlen(declared);
        if (strcmp(type, "histogram") == 0) {
            assert_memory_equal(name, declared, dl);
            const char *suffix = name + dl;
            assert_true(strcmp(suffix, "_sum") == 0 || strcmp(suffix, "_count") == 0 ||
                        (strcmp(suffix, "_bucket") == 0 && labels));
            char *end;
            double v = strtod(value, &end);
            assert_true(*end == '\0' && v >= 0);
        } else {
            assert_string_equal(name, declared);
            char *end;
            strtoull(value, &end, 10);
            assert_true(*end == '\0' && value[0] >= '0' && value[0] <= '9');
        }
        samples++;
    }
    assert_true(samples >= N_METRICS);
    assert_int_equal(histograms, LT_HIST_COUNT);
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

static void reset_histograms(void)
{
    memset(lt_metrics->histograms, 0, sizeof lt_metrics->histograms);
}

/* The rendering of one histogram, from a struct the test fills. */
static char *render_one(enum lt_histogram_id h, const struct lt_histogram *hist)
{
    struct evbuffer *out = evbuffer_new();
    lt_metrics_render_histogram(out, h, hist);
    size_t len = evbuffer_get_length(out);
    char *text = malloc(len + 1);
    evbuffer_remove(out, text, len);
    text[len] = '\0';
    evbuffer_free(out);
    return text;
}

static void test_histogram_rendering_counts(void **state)
{
    (void)state;
    /* redis_batch_events: bounds 1, 2, 5, 10, ... 100000 (a count: no
     * scaling). Buckets hold per-bucket counts; the text is cumulative. */
    struct lt_histogram hist;
    memset(&hist, 0, sizeof hist);
    hist.buckets[0] = 3;  /* <= 1 */
    hist.buckets[2] = 4;  /* (2, 5] */
    hist.buckets[15] = 2; /* +Inf */
    hist.sum = 3 * 1 + 4 * 5 + 2 * 200000;
    hist.count = 9;
    char *text = render_one(LT_HIST_REDIS_BATCH_EVENTS, &hist);
    const char *expect =
        "# HELP livetally_redis_batch_events events carried by each batch Redis applied\n"
        "# TYPE livetally_redis_batch_events histogram\n"
        "livetally_redis_batch_events_bucket{le=\"1\"} 3\n"
        "livetally_redis_batch_events_bucket{le=\"2\"} 3\n"
        "livetally_redis_batch_events_bucket{le=\"5\"} 7\n"
        "livetally_redis_batch_events_bucket{le=\"10\"} 7\n"
        "livetally_redis_batch_events_bucket{le=\"25\"} 7\n"
        "livetally_redis_batch_events_bucket{le=\"50\"} 7\n"
        "livetally_redis_batch_events_bucket{le=\"100\"} 7\n"
        "livetally_redis_batch_events_bucket{le=\"250\"} 7\n"
        "livetally_redis_batch_events_bucket{le=\"500\"} 7\n"
        "livetally_redis_batch_events_bucket{le=\"1000\"} 7\n"
        "livetally_redis_batch_events_bucket{le=\"2500\"} 7\n"
        "livetally_redis_batch_events_bucket{le=\"5000\"} 7\n"
        "livetally_redis_batch_events_bucket{le=\"10000\"} 7\n"
        "livetally_redis_batch_events_bucket{le=\"25000\"} 7\n"
        "livetally_redis_batch_events_bucket{le=\"100000\"} 7\n"
        "livetally_redis_batch_events_bucket{le=\"+Inf\"} 9\n"
        "livetally_redis_batch_events_sum 400023\n"
        "livetally_redis_batch_events_count 9\n";
    assert_string_equal(text, expect);
    free(text);
}

static void test_histogram_rendering_seconds(void **state)
{
    (void)state;
    /* Seconds are kept in microseconds and printed as exact decimals: the
     * bounds as Prometheus' usual le values, the sum without float noise. */
    struct lt_histogram hist;
    memset(&hist, 0, sizeof hist);
    hist.buckets[0] = 1; /* <= 250 us */
    hist.buckets[1] = 1; /* (250, 500] us */
    hist.buckets[11] = 5;
    hist.sum = 2500001; /* 2.500001 s */
    hist.count = 7;
    char *text = render_one(LT_HIST_REDIS_FLUSH_RTT, &hist);
    char v[64];
    assert_true(has_line(text, "# TYPE livetally_redis_flush_rtt_seconds histogram"));
    assert_string_equal(
        value_of(text, "livetally_redis_flush_rtt_seconds_bucket{le=\"0.00025\"}", v, sizeof v),
        "1");
    assert_string_equal(
        value_of(text, "livetally_redis_flush_rtt_seconds_bucket{le=\"0.0005\"}", v, sizeof v),
        "2");
    assert_string_equal(
        value_of(text, "livetally_redis_flush_rtt_seconds_bucket{le=\"0.5\"}", v, sizeof v), "2");
    assert_string_equal(
        value_of(text, "livetally_redis_flush_rtt_seconds_bucket{le=\"1\"}", v, sizeof v), "7");
    assert_string_equal(
        value_of(text, "livetally_redis_flush_rtt_seconds_bucket{le=\"10\"}", v, sizeof v), "7");
    assert_string_equal(
        value_of(text, "livetally_redis_flush_rtt_seconds_bucket{le=\"+Inf\"}", v, sizeof v), "7");
    assert_string_equal(value_of(text, "livetally_redis_flush_rtt_seconds_sum", v, sizeof v),
                        "2.500001");
    assert_string_equal(value_of(text, "livetally_redis_flush_rtt_seconds_count", v, sizeof v),
                        "7");
    /* Buckets ascend, +Inf last, then _sum, then _count. */
    const char *inf = strstr(text, "le=\"+Inf\"");
    assert_non_null(inf);
    assert_true(inf < strstr(text, "_sum ") && strstr(text, "_sum ") < strstr(text, "_count "));
    assert_true(strstr(text, "le=\"0.001\"") < strstr(text, "le=\"0.0025\""));
    free(text);
    /* A whole number of seconds has no point; zero is "0". */
    memset(&hist, 0, sizeof hist);
    hist.sum = 3000000;
    text = render_one(LT_HIST_PUSH_DELAY, &hist);
    assert_string_equal(value_of(text, "livetally_push_delay_seconds_sum", v, sizeof v), "3");
    assert_string_equal(value_of(text, "livetally_push_delay_seconds_count", v, sizeof v), "0");
    free(text);
}

static void test_observe_picks_buckets(void **state)
{
    (void)state;
    reset_histograms();
    /* le is inclusive: a value equal to a bound is in that bound's bucket. */
    lt_metrics_observe(LT_HIST_REDIS_BATCH_EVENTS, 0);
    lt_metrics_observe(LT_HIST_REDIS_BATCH_EVENTS, 1);
    lt_metrics_observe(LT_HIST_REDIS_BATCH_EVENTS, 2);
    lt_metrics_observe(LT_HIST_REDIS_BATCH_EVENTS, 3);
    lt_metrics_observe(LT_HIST_REDIS_BATCH_EVENTS, 100000);
    lt_metrics_observe(LT_HIST_REDIS_BATCH_EVENTS, 100001);
    lt_metrics_observe(LT_HIST_PUSH_DELAY, 1000); /* 1 ms: the first bound */
    lt_metrics_observe(LT_HIST_PUSH_DELAY, 60000000);
    lt_metrics_observe((enum lt_histogram_id)LT_HIST_COUNT, 5); /* out of range: ignored */
    char *text = render();
    char v[64];
    const char *b = "livetally_redis_batch_events_bucket";
    char series[128];
    snprintf(series, sizeof series, "%s{le=\"1\"}", b);
    assert_string_equal(value_of(text, series, v, sizeof v), "2");
    snprintf(series, sizeof series, "%s{le=\"2\"}", b);
    assert_string_equal(value_of(text, series, v, sizeof v), "3");
    snprintf(series, sizeof series, "%s{le=\"5\"}", b);
    assert_string_equal(value_of(text, series, v, sizeof v), "4");
    snprintf(series, sizeof series, "%s{le=\"100000\"}", b);
    assert_string_equal(value_of(text, series, v, sizeof v), "5");
    snprintf(series, sizeof series, "%s{le=\"+Inf\"}", b);
    assert_string_equal(value_of(text, series, v, sizeof v), "6");
    assert_string_equal(value_of(text, "livetally_redis_batch_events_sum", v, sizeof v), "200007");
    assert_string_equal(value_of(text, "livetally_redis_batch_events_count", v, sizeof v), "6");
    assert_string_equal(
        value_of(text, "livetally_push_delay_seconds_bucket{le=\"0.001\"}", v, sizeof v), "1");
    assert_string_equal(
        value_of(text, "livetally_push_delay_seconds_bucket{le=\"10\"}", v, sizeof v), "1");
    assert_string_equal(
        value_of(text, "livetally_push_delay_seconds_bucket{le=\"+Inf\"}", v, sizeof v), "2");
    assert_string_equal(value_of(text, "livetally_push_delay_seconds_sum", v, sizeof v), "60.001");
    assert_string_equal(value_of(text, "livetally_redis_flush_rtt_seconds_count", v, sizeof v),
                        "0");
    free(text);
    reset_histograms();
}

static void test_rejections_by_reason(void **state)
{
    (void)state;
    reset_slot();
    lt_metrics_reject(LT_REJECT_BAD_EVENT);
    lt_metrics_reject(LT_REJECT_BAD_EVENT);
    lt_metrics_reject_n(LT_REJECT_UNKNOWN_STREAM, 5);
    lt_metrics_reject(LT_REJECT_SPOOL_UNAVAILABLE);
    lt_metrics_reject((enum lt_reject_reason)LT_REJECT_COUNT); /* out of range: ignored */
    char *text = render();
    char v[64];
    assert_true(has_line(text, "# TYPE livetally_events_rejected_by_reason_total counter"));
    /* Every reason is there, zero or not, with its label. */
    static const char *const labels[] = {"bad_event",        "rate_limited",     "unknown_stream",
                                         "stream_ended",     "overloaded",       "not_ready",
                                         "too_many_sources", "spool_unavailable"};
    assert_int_equal(sizeof labels / sizeof labels[0], LT_REJECT_COUNT);
    static const char *const expect[] = {"2", "0", "5", "0", "0", "0", "0", "1"};
    for (size_t i = 0; i < LT_REJECT_COUNT; i++) {
        char series[128];
        snprintf(series, sizeof series, "livetally_events_rejected_by_reason_total{reason=\"%s\"}",
                 labels[i]);
        assert_string_equal(value_of(text, series, v, sizeof v), expect[i]);
        assert_string_equal(lt_metrics_reject_label((enum lt_reject_reason)i), labels[i]);
    }
    /* events_rejected_total is their sum. */
    assert_int_equal(sample(text, "events_rejected_total"), 8);
    assert_string_equal(lt_metrics_reject_label((enum lt_reject_reason)LT_REJECT_COUNT), "?");
    free(text);
    reset_slot();
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
    lt_metrics->spool_oldest_unapplied_seconds = 7;
    lt_metrics_observe(LT_HIST_REDIS_FLUSH_RTT, 200);
    lt_metrics_reject(LT_REJECT_OVERLOADED);
    lt_metrics_bind(1);
    lt_metrics->events_accepted_total = 4;
    lt_metrics->http_connections_open = 5;
    lt_metrics->likes_accepted_total = 9;
    lt_metrics->spool_oldest_unapplied_seconds = 3;
    lt_metrics_observe(LT_HIST_REDIS_FLUSH_RTT, 1000000);
    lt_metrics_reject(LT_REJECT_OVERLOADED);
    char *text = render();
    char v[64];
    assert_string_equal(
        value_of(text, "livetally_redis_flush_rtt_seconds_bucket{le=\"0.00025\"}", v, sizeof v),
        "1");
    assert_string_equal(
        value_of(text, "livetally_redis_flush_rtt_seconds_bucket{le=\"1\"}", v, sizeof v), "2");
    assert_string_equal(value_of(text, "livetally_redis_flush_rtt_seconds_sum", v, sizeof v),
                        "1.0002");
    assert_string_equal(value_of(text, "livetally_redis_flush_rtt_seconds_count", v, sizeof v),
                        "2");
    assert_string_equal(value_of(text,
                                 "livetally_events_rejected_by_reason_total{reason=\"overloaded\"}",
                                 v, sizeof v),
                        "2");
    assert_int_equal(sample(text, "events_accepted_total"), 7);
    assert_int_equal(sample(text, "http_connections_open"), 15);
    assert_int_equal(sample(text, "likes_accepted_total"), 9);
    /* An age: the oldest of any worker, not the sum. */
    assert_int_equal(sample(text, "spool_oldest_unapplied_seconds"), 7);
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
        cmocka_unit_test(test_histogram_rendering_counts),
        cmocka_unit_test(test_histogram_rendering_seconds),
        cmocka_unit_test(test_observe_picks_buckets),
        cmocka_unit_test(test_rejections_by_reason),
        /* Order matters from here: these switch to shared slots. */
        cmocka_unit_test(test_shared_slots_summed),
        cmocka_unit_test(test_bind_zeroes_slot),
        cmocka_unit_test(test_child_process_writes_are_seen),
        cmocka_unit_test(test_slots_read_one_by_one_with_pids),
        cmocka_unit_test(test_bind_out_of_range_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
