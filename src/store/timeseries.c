/* Planning a time-series read and decoding its reply (timeseries.h): pure,
 * no I/O, so unit tests and the fuzz target drive them directly. */
#include "livetally/store/timeseries.h"

#include "livetally/base/error.h"
#include "livetally/base/mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const int lt_ts_sizes[LT_TS_RESOLUTIONS] = {10, 60, 3600};

int lt_ts_step_parse(const char *s, size_t len)
{
    static const char *const names[] = {"10s", "1m", "1h"};
    for (int i = 0; i < LT_TS_RESOLUTIONS; i++)
        if (len == strlen(names[i]) && memcmp(s, names[i], len) == 0)
            return lt_ts_sizes[i];
    return 0;
}

const char *lt_ts_step_name(int step_s)
{
    switch (step_s) {
    case 10: return "10s";
    case 60: return "1m";
    case 3600: return "1h";
    default: return "";
    }
}

static int64_t floor_to(int64_t t, int64_t step)
{
    int64_t q = t / step;
    if (t % step < 0)
        q--;
    return q * step;
}

static size_t points_of(int64_t from, int64_t to, int step)
{
    int64_t first = floor_to(from, step);
    return (size_t)((to - first + step - 1) / step);
}

/* The coarsest resolution no coarser than step whose retention covers the
 * time at (its buckets from there on still exist); -1 when none does. */
static int covering(const struct lt_ts_query *q, int step, int64_t at)
{
    int best = -1;
    for (int r = 0; r < LT_TS_RESOLUTIONS && lt_ts_sizes[r] <= step; r++)
        if (at >= q->now_s - q->retention_s[r])
            best = r;
    return best;
}

int lt_ts_plan(const struct lt_ts_query *q, struct lt_ts_plan *plan, char *why, size_t whylen)
{
    memset(plan, 0, sizeof *plan);
    if (q->from_s >= q->to_s) {
        snprintf(why, whylen, "from must be before to");
        return LT_EINVAL;
    }
    int step = q->step_s;
    if (step == 0) {
        /* The finest step of at most about LT_TS_DEFAULT_POINTS points that
         * a retained resolution serves; else the coarsest. */
        step = lt_ts_sizes[LT_TS_RESOLUTIONS - 1];
        for (int s = 0; s < LT_TS_RESOLUTIONS; s++) {
            if (points_of(q->from_s, q->to_s, lt_ts_sizes[s]) <= LT_TS_DEFAULT_POINTS &&
                covering(q, lt_ts_sizes[s], q->from_s) >= 0) {
                step = lt_ts_sizes[s];
                break;
            }
        }
    }
    /* from is covered; else a resolution that still holds the end of the
     * range (the older part reads as zeros); else nothing is left. */
    int r = covering(q, step, q->from_s);
    if (r < 0)
        r = covering(q, step, q->to_s - 1);
    if (r < 0) {
        snprintf(why, whylen,
                 "from/to: the range ends before the oldest bucket kept at step %s or finer",
                 lt_ts_step_name(step));
        return LT_EINVAL;
    }
    size_t n = points_of(q->from_s, q->to_s, step);
    if (n > LT_TS_MAX_POINTS) {
        snprintf(why, whylen, "step: from/to at step %s give %zu points, more than %d",
                 lt_ts_step_name(step), n, LT_TS_MAX_POINTS);
        return LT_EINVAL;
    }
    int res = lt_ts_sizes[r];
    if (n * (size_t)(step / res) > LT_TS_MAX_BUCKETS) {
        snprintf(why, whylen,
                 "from/to: step %s would read %zu buckets of %d s, more than %d; shorten the "
                 "range",
                 lt_ts_step_name(step), n * (size_t)(step / res), res, LT_TS_MAX_BUCKETS);
        return LT_EINVAL;
    }
    plan->step_s = step;
    plan->res_s = res;
    plan->first_t = floor_to(q->from_s, step);
    plan->n_points = n;
    return 0;
}

void lt_timeseries_free(struct lt_timeseries *ts)
{
    lt_free(ts->t);
    lt_free(ts->values);
    memset(ts, 0, sizeof *ts);
}

int lt_ts_decode(const int64_t *v, size_t n, const struct lt_ts_plan *plan, size_t n_counters,
                 struct lt_timeseries *out)
{
    memset(out, 0, sizeof *out);
    size_t cols = LT_TS_FIXED + n_counters;
    if (n < 2 || v[0] < 0 || (uint64_t)v[0] != plan->n_points || v[1] < 0 ||
        (uint64_t)v[1] != cols || plan->n_points > LT_TS_MAX_POINTS)
        return LT_EPROTO;
    size_t np = plan->n_points;
    /* np <= LT_TS_MAX_POINTS and cols <= LT_TS_FIXED + a counter count:
     * the product cannot wrap. */
    if (n_counters > 1024 || n != 2 + np * (cols + 1))
        return LT_EPROTO;
    out->step_s = plan->step_s;
    out->n_points = np;
    out->n_cols = cols;
    out->t = lt_malloc((np ? np : 1) * sizeof *out->t);
    out->values = lt_malloc((np ? np * cols : 1) * sizeof *out->values);
    const int64_t *p = v + 2;
    for (size_t i = 0; i < np; i++) {
        if (p[0] != plan->first_t + (int64_t)i * plan->step_s)
            goto bad;
        out->t[i] = p[0];
        for (size_t c = 0; c < cols; c++) {
            if (p[1 + c] < 0)
                goto bad;
            out->values[i * cols + c] = p[1 + c];
        }
        p += cols + 1;
    }
    return 0;
bad:
    lt_timeseries_free(out);
    return LT_EPROTO;
}
