/* Prometheus counters, labelled rejection counters and histograms shared
 * across workers (see metrics.h). */
#include "livetally/base/metrics.h"

#include "livetally/base/error.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Each histogram's upper bounds in its unit, ascending; the +Inf bucket
 * follows them. Seconds are observed in microseconds: a round trip inside
 * one host is well under a millisecond, a stalled Redis several seconds. */
struct hist_def {
    uint64_t unit; /* observed units per rendered unit: 1000000 for seconds, 1 for counts */
    uint64_t bounds[LT_HIST_MAX_BUCKETS - 1];
    size_t n_bounds;
};

#define LT_HIST_BOUNDS(...) {__VA_ARGS__}, sizeof((uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t)

static const struct hist_def hist_defs[LT_HIST_COUNT] = {
    [LT_HIST_REDIS_FLUSH_RTT] = {1000000, LT_HIST_BOUNDS(250, 500, 1000, 2500, 5000, 10000, 25000,
                                                         50000, 100000, 250000, 500000, 1000000,
                                                         2500000, 5000000, 10000000)},
    [LT_HIST_REDIS_BATCH_EVENTS] = {1, LT_HIST_BOUNDS(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000,
                                                      2500, 5000, 10000, 25000, 100000)},
    [LT_HIST_PUSH_DELAY] = {1000000,
                            LT_HIST_BOUNDS(1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
                                           500000, 1000000, 2500000, 5000000, 10000000)},
};

#define LT_HIST_HELP(id, name, help) [LT_HIST_##id] = help,
static const char *const hist_help[LT_HIST_COUNT] = {LT_HISTOGRAMS(LT_HIST_HELP)};
#undef LT_HIST_HELP
#define LT_HIST_NAME(id, name, help) [LT_HIST_##id] = #name,
static const char *const hist_names[LT_HIST_COUNT] = {LT_HISTOGRAMS(LT_HIST_NAME)};
#undef LT_HIST_NAME

#define LT_REJECT_LABEL(name, label) [LT_REJECT_##name] = #label,
static const char *const reject_labels[LT_REJECT_COUNT] = {LT_REJECT_REASONS(LT_REJECT_LABEL)};
#undef LT_REJECT_LABEL

static struct lt_metrics private_slot;
struct lt_metrics *lt_metrics = &private_slot;

static struct lt_metrics *slots;
static int64_t *slot_pids; /* beside the slots, in the same mapping */
static int n_slots;

int lt_metrics_init_shared(int n)
{
    size_t size = (sizeof(struct lt_metrics) + sizeof(int64_t)) * (size_t)n;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return LT_EIO;
    slots = p;
    /* struct lt_metrics is all uint64_t: the pids after it stay aligned. */
    slot_pids = (int64_t *)(void *)(slots + n);
    n_slots = n;
    return 0;
}

void lt_metrics_bind(int slot)
{
    if (!slots || slot < 0 || slot >= n_slots)
        return;
    lt_metrics = &slots[slot];
    memset(lt_metrics, 0, sizeof *lt_metrics);
    slot_pids[slot] = (int64_t)getpid();
}

int lt_metrics_slot_count(void)
{
    return slots ? n_slots : 1;
}

const struct lt_metrics *lt_metrics_slot(int i, int64_t *pid)
{
    if (!slots) {
        *pid = i == 0 ? (int64_t)getpid() : 0;
        return i == 0 ? &private_slot : NULL;
    }
    if (i < 0 || i >= n_slots)
        return NULL;
    *pid = slot_pids[i];
    return &slots[i];
}

void lt_metrics_reject_n(enum lt_reject_reason why, uint64_t n)
{
    if ((unsigned)why >= LT_REJECT_COUNT)
        return;
    lt_metrics->rejected_by_reason[why] += n;
    lt_metrics->events_rejected_total += n;
}

void lt_metrics_reject(enum lt_reject_reason why)
{
    lt_metrics_reject_n(why, 1);
}

const char *lt_metrics_reject_label(enum lt_reject_reason why)
{
    return (unsigned)why < LT_REJECT_COUNT ? reject_labels[why] : "?";
}

void lt_metrics_observe(enum lt_histogram_id h, uint64_t value)
{
    if ((unsigned)h >= LT_HIST_COUNT)
        return;
    const struct hist_def *d = &hist_defs[h];
    size_t b = 0;
    while (b < d->n_bounds && value > d->bounds[b])
        b++; /* b == n_bounds: the +Inf bucket */
    struct lt_histogram *hist = &lt_metrics->histograms[h];
    hist->buckets[b]++;
    hist->sum += value;
    hist->count++;
}

/* A value in the histogram's unit as the rendered decimal ("0.0025", "3"):
 * exact, no floating point (a bound printed as 0.0025000000000000001 would
 * be a different bucket to Prometheus' parser). */
static void add_scaled(struct evbuffer *out, uint64_t v, uint64_t unit)
{
    if (unit == 1) {
        evbuffer_add_printf(out, "%llu", (unsigned long long)v);
        return;
    }
    uint64_t whole = v / unit, frac = v % unit;
    evbuffer_add_printf(out, "%llu", (unsigned long long)whole);
    if (!frac)
        return;
    char digits[24];
    int width = 0;
    for (uint64_t u = unit; u > 1; u /= 10)
        width++;
    int n = snprintf(digits, sizeof digits, "%0*llu", width, (unsigned long long)frac);
    while (n > 0 && digits[n - 1] == '0')
        n--;
    evbuffer_add_printf(out, ".%.*s", n, digits);
}

void lt_metrics_render_histogram(struct evbuffer *out, enum lt_histogram_id h,
                                 const struct lt_histogram *hist)
{
    if ((unsigned)h >= LT_HIST_COUNT)
        return;
    const struct hist_def *d = &hist_defs[h];
    const char *name = hist_names[h];
    evbuffer_add_printf(out, "# HELP livetally_%s %s\n# TYPE livetally_%s histogram\n", name,
                        hist_help[h], name);
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= d->n_bounds; b++) {
        cumulative += hist->buckets[b];
        evbuffer_add_printf(out, "livetally_%s_bucket{le=\"", name);
        if (b < d->n_bounds)
            add_scaled(out, d->bounds[b], d->unit);
        else
            evbuffer_add_printf(out, "+Inf");
        evbuffer_add_printf(out, "\"} %llu\n", (unsigned long long)cumulative);
    }
    evbuffer_add_printf(out, "livetally_%s_sum ", name);
    add_scaled(out, hist->sum, d->unit);
    evbuffer_add_printf(out, "\nlivetally_%s_count %llu\n", name, (unsigned long long)hist->count);
}

static void render_rejections(struct evbuffer *out, const uint64_t *by_reason)
{
    evbuffer_add_printf(out, "# HELP livetally_events_rejected_by_reason_total events rejected, "
                             "by reason\n# TYPE livetally_events_rejected_by_reason_total "
                             "counter\n");
    for (int r = 0; r < LT_REJECT_COUNT; r++)
        evbuffer_add_printf(out, "livetally_events_rejected_by_reason_total{reason=\"%s\"} %llu\n",
                            reject_labels[r], (unsigned long long)by_reason[r]);
}

/* How the workers' slots combine, and the Prometheus type, per kind of
 * metric (metrics.h): counters and gauges add up, gauge_max takes the
 * highest (an age: the oldest of any worker, not their sum). */
#define LT_AGG_counter(acc, v) ((acc) += (v))
#define LT_AGG_gauge(acc, v) ((acc) += (v))
#define LT_AGG_gauge_max(acc, v) ((acc) = (v) > (acc) ? (v) : (acc))
#define LT_TYPE_counter "counter"
#define LT_TYPE_gauge "gauge"
#define LT_TYPE_gauge_max "gauge"

void lt_metrics_render(struct evbuffer *out)
{
    struct lt_metrics sum;
    memset(&sum, 0, sizeof sum);
    const struct lt_metrics *from = slots ? slots : &private_slot;
    int count = slots ? n_slots : 1;
    for (int i = 0; i < count; i++) {
#define LT_METRIC_SUM(name, type, help) LT_AGG_##type(sum.name, from[i].name);
        LT_METRICS(LT_METRIC_SUM)
#undef LT_METRIC_SUM
        for (int r = 0; r < LT_REJECT_COUNT; r++)
            sum.rejected_by_reason[r] += from[i].rejected_by_reason[r];
        for (int h = 0; h < LT_HIST_COUNT; h++) {
            const struct lt_histogram *src = &from[i].histograms[h];
            struct lt_histogram *dst = &sum.histograms[h];
            for (size_t b = 0; b < LT_HIST_MAX_BUCKETS; b++)
                dst->buckets[b] += src->buckets[b];
            dst->sum += src->sum;
            dst->count += src->count;
        }
    }
#define LT_METRIC_TEXT(name, type, help)                                                           \
    evbuffer_add_printf(out,                                                                       \
                        "# HELP livetally_%s %s\n# TYPE livetally_%s %s\nlivetally_%s %llu\n",     \
                        #name, help, #name, LT_TYPE_##type, #name, (unsigned long long)sum.name);
    LT_METRICS(LT_METRIC_TEXT)
#undef LT_METRIC_TEXT
    render_rejections(out, sum.rejected_by_reason);
    for (int h = 0; h < LT_HIST_COUNT; h++)
        lt_metrics_render_histogram(out, (enum lt_histogram_id)h, &sum.histograms[h]);
    evbuffer_add_printf(out,
                        "# HELP livetally_workers worker slots\n# TYPE livetally_workers "
                        "gauge\nlivetally_workers %d\n",
                        count);
}
