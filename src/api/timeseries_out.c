/* The time series' metrics, zones and wire forms (timeseries_out.h). */
#include "livetally/api/timeseries_out.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/mem.h"
#include "livetally/base/strbuf.h"
#include "livetally/conf/config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LT_ZONEINFO "/usr/share/zoneinfo/"

static const char *const fixed_names[LT_TS_FIXED] = {"views", "likes", "uniques", "online"};

const char *lt_ts_column_name(int col, const struct lt_strlist *counters)
{
    if (col >= 0 && col < LT_TS_FIXED)
        return fixed_names[col];
    if (col >= LT_TS_FIXED && (size_t)(col - LT_TS_FIXED) < counters->n)
        return counters->items[col - LT_TS_FIXED];
    return "";
}

static int column_of(const char *s, size_t len, const struct lt_strlist *counters)
{
    for (int i = 0; i < LT_TS_FIXED; i++)
        if (strlen(fixed_names[i]) == len && memcmp(fixed_names[i], s, len) == 0)
            return i;
    for (size_t i = 0; i < counters->n; i++)
        if (strlen(counters->items[i]) == len && memcmp(counters->items[i], s, len) == 0)
            return LT_TS_FIXED + (int)i;
    return -1;
}

int lt_ts_metrics_parse(const char *s, size_t len, const struct lt_strlist *counters,
                        struct lt_ts_columns *out, char *why, size_t whylen)
{
    out->n = 0;
    if (!s) {
        for (int i = 0; i < LT_TS_FIXED + (int)counters->n && i < LT_TS_MAX_METRICS; i++)
            out->col[out->n++] = i;
        return 0;
    }
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < len && s[j] != ',')
            j++;
        int col = column_of(s + i, j - i, counters);
        if (col < 0) {
            /* Quote at most 32 bytes of the name, printable ASCII only. */
            char name[33];
            size_t k, n = 0;
            for (k = i; k < j && n < 32; k++)
                name[n++] = s[k] > 32 && s[k] < 127 ? s[k] : '?';
            name[n] = '\0';
            snprintf(why, whylen,
                     "metrics: unknown metric '%s' (views, likes, uniques, online or a "
                     "configured counter)",
                     name);
            return LT_EINVAL;
        }
        for (size_t k = 0; k < out->n; k++) {
            if (out->col[k] == col) {
                snprintf(why, whylen, "metrics: %s is named twice",
                         lt_ts_column_name(col, counters));
                return LT_EINVAL;
            }
        }
        if (out->n == LT_TS_MAX_METRICS) {
            snprintf(why, whylen, "metrics: more than %d names", LT_TS_MAX_METRICS);
            return LT_EINVAL;
        }
        out->col[out->n++] = col;
        if (j >= len)
            break;
        i = j + 1;
    }
    return 0;
}

bool lt_tz_valid(const char *name, size_t len)
{
    if (len == 0 || len > LT_TZ_NAME_MAX || name[0] == '/' || name[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '/' || c == '_' || c == '+' || c == '-' || c == '.';
        if (!ok)
            return false;
        if (c == '.' && i + 1 < len && name[i + 1] == '.')
            return false;
        if (c == '.' && name[i - 1] == '/')
            return false;
    }
    char path[sizeof LT_ZONEINFO + LT_TZ_NAME_MAX]; /* len <= LT_TZ_NAME_MAX */
    memcpy(path, LT_ZONEINFO, sizeof LT_ZONEINFO - 1);
    memcpy(path + sizeof LT_ZONEINFO - 1, name, len);
    path[sizeof LT_ZONEINFO - 1 + len] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char magic[4];
    bool ok = fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
    fclose(f);
    return ok;
}

/* ,"segments":[{"id","title","started_at","t"}...]: the segments that
 * start in the range of ts or run through it; t is the point holding the
 * start (the first point for one that started before the range). */
static void add_segment_markers(struct lt_strbuf *sb, const struct lt_timeseries *ts,
                                const struct lt_totals_segment *segs, size_t n_segs)
{
    lt_strbuf_add_str(sb, ",\"segments\":[");
    bool first = true;
    int64_t step = ts->step_s > 0 ? ts->step_s : 1;
    int64_t lo = ts->n_points ? ts->t[0] : 0;
    int64_t hi = ts->n_points ? ts->t[ts->n_points - 1] + step : 0; /* exclusive */
    for (size_t i = 0; ts->n_points && i < n_segs; i++) {
        const struct lt_totals_segment *g = &segs[i];
        int64_t start_s = g->started_ms / 1000;
        if (g->started_ms <= 0 || start_s >= hi || (g->ended_ms > 0 && g->ended_ms <= lo * 1000))
            continue;
        int64_t t = start_s < lo ? lo : lo + (start_s - lo) / step * step;
        json_t *title = json_string(g->title ? g->title : "");
        char *enc = title ? json_dumps(title, JSON_ENCODE_ANY) : NULL;
        json_decref(title);
        char when[40];
        lt_format_rfc3339(g->started_ms, 1, when, sizeof when);
        lt_strbuf_addf(sb, "%s{\"id\":%lld,\"title\":%s,\"started_at\":\"%s\",\"t\":%lld}",
                       first ? "" : ",", (long long)g->id, enc ? enc : "null", when, (long long)t);
        free(enc);
        first = false;
    }
    lt_strbuf_add_char(sb, ']');
}

int lt_ts_encode_json(struct lt_strbuf *sb, const char *stream, const struct lt_timeseries *ts,
                      const struct lt_ts_columns *cols, const struct lt_strlist *counters,
                      const char *tz, const struct lt_totals_segment *segs, size_t n_segs)
{
    /* Every string written here is a validated id, a counter name or a zone
     * name (lt_tz_valid): none needs JSON escaping; segment titles are
     * escaped by jansson (add_segment_markers). */
    lt_strbuf_addf(sb, "{\"stream\":\"%s\",\"step\":%d,", stream, ts->step_s);
    if (tz)
        lt_strbuf_addf(sb, "\"tz\":\"%s\",", tz);
    lt_strbuf_add_str(sb, "\"metrics\":[");
    for (size_t c = 0; c < cols->n; c++)
        lt_strbuf_addf(sb, "%s\"%s\"", c ? "," : "", lt_ts_column_name(cols->col[c], counters));
    lt_strbuf_add_str(sb, "],\"points\":[");
    for (size_t i = 0; i < ts->n_points; i++) {
        lt_strbuf_add_str(sb, i ? ",[" : "[");
        lt_strbuf_add_int(sb, ts->t[i]);
        const int64_t *row = ts->values + i * ts->n_cols;
        for (size_t c = 0; c < cols->n; c++) {
            lt_strbuf_add_char(sb, ',');
            lt_strbuf_add_int(sb, (size_t)cols->col[c] < ts->n_cols ? row[cols->col[c]] : 0);
        }
        lt_strbuf_add_char(sb, ']');
    }
    lt_strbuf_add_char(sb, ']');
    add_segment_markers(sb, ts, segs, n_segs);
    lt_strbuf_add_char(sb, '}');
    return lt_strbuf_failed(sb) ? LT_ETOOLARGE : 0;
}

/* "2022-07-16T10:32:05+08:00": the local time of t in the current TZ. */
static void add_local_time(struct lt_strbuf *sb, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!localtime_r(&tt, &tm)) {
        lt_strbuf_add_str(sb, "");
        return;
    }
    long off = tm.tm_gmtoff;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    lt_strbuf_addf(sb, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 3600,
                   (off % 3600) / 60);
}

int lt_ts_encode_csv(struct lt_strbuf *sb, const struct lt_timeseries *ts,
                     const struct lt_ts_columns *cols, const struct lt_strlist *counters,
                     const char *tz)
{
    char *saved = NULL;
    if (tz) {
        const char *old = getenv("TZ");
        saved = old ? lt_strdup(old) : NULL;
        char spec[1 + sizeof LT_ZONEINFO + LT_TZ_NAME_MAX]; /* ':' path: tz <= 64 bytes */
        snprintf(spec, sizeof spec, ":%s%s", LT_ZONEINFO, tz);
        setenv("TZ", spec, 1);
        tzset();
    }
    /* Names are ids (a-z 0-9 _ -) and fixed words: no field needs quoting. */
    lt_strbuf_add_str(sb, tz ? "t,local_time" : "t");
    for (size_t c = 0; c < cols->n; c++) {
        lt_strbuf_add_char(sb, ',');
        lt_strbuf_add_str(sb, lt_ts_column_name(cols->col[c], counters));
    }
    lt_strbuf_add_str(sb, "\r\n");
    for (size_t i = 0; i < ts->n_points; i++) {
        lt_strbuf_add_int(sb, ts->t[i]);
        if (tz) {
            lt_strbuf_add_char(sb, ',');
            add_local_time(sb, ts->t[i]);
        }
        const int64_t *row = ts->values + i * ts->n_cols;
        for (size_t c = 0; c < cols->n; c++) {
            lt_strbuf_add_char(sb, ',');
            lt_strbuf_add_int(sb, (size_t)cols->col[c] < ts->n_cols ? row[cols->col[c]] : 0);
        }
        lt_strbuf_add_str(sb, "\r\n");
    }
    if (tz) {
        if (saved)
            setenv("TZ", saved, 1);
        else
            unsetenv("TZ");
        tzset();
        lt_free(saved);
    }
    return lt_strbuf_failed(sb) ? LT_ETOOLARGE : 0;
}
