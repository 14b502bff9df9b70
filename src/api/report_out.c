/* The report's three wire forms (report_out.h). */
#include "livetally/api/report_out.h"

#include "livetally/api/report_words.h"
#include "livetally/api/static_files.h"
#include "livetally/api/totals_json.h"
#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/mem.h"
#include "livetally/base/strbuf.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LT_ZONEINFO "/usr/share/zoneinfo/"

/* What a refused event is, as the JSON states it (what a view is comes from
 * report_words.c, in English here: JSON is a machine format). */
static const char rejected_rule[] =
    "events of this stream refused: invalid, over the like budgets, or over the source limit; "
    "an event for a stream that does not exist while streams.auto_create is off has no stream "
    "to be counted in, and an ended stream's refused events are not counted";

int lt_report_format_parse(const char *s, size_t len, enum lt_report_format *out)
{
    static const char *const names[] = {"json", "csv", "html"};
    for (int i = 0; i < 3; i++) {
        if (strlen(names[i]) == len && memcmp(s, names[i], len) == 0) {
            *out = (enum lt_report_format)i;
            return 0;
        }
    }
    return -1;
}

const char *lt_report_format_name(enum lt_report_format f)
{
    return f == LT_REPORT_CSV ? "csv" : f == LT_REPORT_HTML ? "html" : "json";
}

/* ---- digests ------------------------------------------------------------ */

static int sha256(const void *bytes, size_t len, unsigned char md[32])
{
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(ctx, bytes, len) && EVP_DigestFinal_ex(ctx, md, &n) && n == 32;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

int lt_report_sha256_hex(const void *bytes, size_t len, char hex[65])
{
    unsigned char md[32];
    if (sha256(bytes, len, md) != 0)
        return -1;
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
    return 0;
}

int lt_report_repr_digest(const void *bytes, size_t len, char *digest)
{
    unsigned char md[32];
    if (sha256(bytes, len, md) != 0)
        return -1;
    /* "sha-256=:" 9 + base64 of 32 bytes 44 + ":" 1 + NUL: 55 bytes. */
    memcpy(digest, "sha-256=:", 9);
    int n = EVP_EncodeBlock((unsigned char *)digest + 9, md, 32);
    digest[9 + n] = ':';
    digest[10 + n] = '\0';
    return 0;
}

/* ---- times -------------------------------------------------------------- */

struct tz_saved {
    char *old;
    bool set;
};

static void tz_enter(const char *tz, struct tz_saved *s)
{
    const char *old = getenv("TZ");
    s->old = old ? lt_strdup(old) : NULL;
    s->set = true;
    struct lt_strbuf sb;
    char spec[128];
    lt_strbuf_init_fixed(&sb, spec, sizeof spec);
    lt_strbuf_addf(&sb, ":%s%s", LT_ZONEINFO, tz && *tz ? tz : "UTC");
    setenv("TZ", lt_strbuf_text(&sb), 1);
    tzset();
}

static void tz_leave(struct tz_saved *s)
{
    if (!s->set)
        return;
    if (s->old)
        setenv("TZ", s->old, 1);
    else
        unsetenv("TZ");
    tzset();
    lt_free(s->old);
    s->set = false;
}

/* "2022-07-16T10:32:05+08:00" (full) or "10:32" (short): t in the current TZ. */
static void add_local(struct lt_strbuf *sb, int64_t t_s, bool full)
{
    time_t tt = (time_t)t_s;
    struct tm tm;
    if (!localtime_r(&tt, &tm))
        return;
    if (!full) {
        lt_strbuf_addf(sb, "%02d:%02d", tm.tm_hour, tm.tm_min);
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

static json_t *utc_json(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char buf[40];
    lt_format_rfc3339(ms, 1, buf, sizeof buf);
    return json_string(buf);
}

/* The per-minute columns a report shows, in the store's column order. */
static const char *const minute_names[LT_TS_FIXED] = {"views", "likes", "uniques", "online"};

static int64_t minute_value(const struct lt_timeseries *ts, size_t i, int col)
{
    return (size_t)col < ts->n_cols ? ts->values[i * ts->n_cols + (size_t)col] : 0;
}

/* ---- JSON --------------------------------------------------------------- */

/* One source's partner reports over time, oldest first:
 * [{"at","views","likes","lower_than_previous"}, ...]. */
static json_t *reports_json(const struct lt_report *r, const char *source)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_reports; i++) {
        const struct lt_partner_report *p = &r->reports[i];
        if (strcmp(p->source, source) != 0)
            continue;
        json_t *o = json_object();
        json_object_set_new(o, "at", utc_json(p->at_ms));
        json_object_set_new(o, "views", json_integer(p->views));
        json_object_set_new(o, "likes", json_integer(p->likes));
        json_object_set_new(o, "lower_than_previous", json_boolean(p->lower));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *report_object(const struct lt_report *r)
{
    const struct lt_totals *t = r->totals;
    json_t *o = json_object();
    json_object_set_new(o, "report", json_string("end-of-event"));
    json_object_set_new(o, "stream", json_string(t->stream));
    json_object_set_new(o, "generated_at", utc_json(r->generated_ms));
    json_object_set_new(o, "tz", json_string(r->tz));
    json_object_set_new(o, "locale", json_string(lt_display_locale_name(r->locale)));
    struct lt_totals_display d = {true, r->locale, LT_STYLE_FLOOR};
    json_object_set_new(o, "totals", lt_totals_json(t, &d));
    json_t *peak = json_object();
    json_object_set_new(peak, "online", json_integer(t->peak_online));
    json_object_set_new(peak, "at", utc_json(t->peak_at_ms));
    json_object_set_new(o, "peak", peak);
    json_t *segments = json_array();
    for (size_t i = 0; i < t->n_segments; i++)
        json_array_append_new(segments, lt_segment_json(&t->segments[i]));
    json_object_set_new(o, "segments", segments);
    json_t *history = json_array(); /* the status changes, a reopen included */
    for (size_t i = 0; i < r->n_history; i++)
        json_array_append_new(history, json_pack("{s:s, s:o}", "status",
                                                 lt_status_name(r->history[i].status), "at",
                                                 utc_json(r->history[i].at_ms)));
    json_object_set_new(o, "history", history);
    json_t *sources = json_array();
    for (size_t i = 0; i < t->n_sources; i++) {
        const struct lt_totals_source *s = &t->sources[i];
        json_t *so = json_object();
        json_object_set_new(so, "source", json_string(s->name));
        json_object_set_new(
            so, "counted_here",
            json_pack("{sIsI}", "views", (json_int_t)s->views, "likes", (json_int_t)s->likes));
        if (s->has_reported) {
            json_t *rep = json_pack("{sIsI}", "views", (json_int_t)s->reported.views, "likes",
                                    (json_int_t)s->reported.likes);
            json_object_set_new(rep, "at", utc_json(s->reported.at_ms));
            json_object_set_new(rep, "lower_than_previous", json_boolean(s->reported.lower));
            json_object_set_new(rep, "reports", reports_json(r, s->name));
            json_object_set_new(so, "partner_reported", rep);
        } else {
            json_object_set_new(so, "partner_reported", json_null());
        }
        json_array_append_new(sources, so);
    }
    json_object_set_new(o, "sources", sources);
    json_t *pm = json_object();
    json_object_set_new(pm, "step", json_integer(60));
    json_t *metrics = json_array();
    json_array_append_new(metrics, json_string("t"));
    for (int c = 0; c < LT_TS_FIXED; c++)
        json_array_append_new(metrics, json_string(minute_names[c]));
    json_object_set_new(pm, "columns", metrics);
    json_t *points = json_array();
    for (size_t i = 0; r->minutes && i < r->minutes->n_points; i++) {
        json_t *p = json_array();
        json_array_append_new(p, json_integer(r->minutes->t[i]));
        for (int c = 0; c < LT_TS_FIXED; c++)
            json_array_append_new(p, json_integer(minute_value(r->minutes, i, c)));
        json_array_append_new(points, p);
    }
    json_object_set_new(pm, "points", points);
    json_object_set_new(o, "per_minute", pm);
    const struct lt_report_method *m = &r->method;
    json_t *method = json_object();
    json_object_set_new(method, "view", json_string(lt_report_word(LT_LOCALE_EN, LT_RW_VIEW_RULE)));
    json_object_set_new(method, "dedup_seconds", json_integer(m->dedup_seconds));
    json_object_set_new(method, "like_budgets",
                        json_pack("{s{sisi}s{sisi}}", "per_viewer", "rate_per_second",
                                  m->likes_per_viewer_rate, "burst", m->likes_per_viewer_burst,
                                  "per_client", "rate_per_second", m->likes_per_client_rate,
                                  "burst", m->likes_per_client_burst));
    json_object_set_new(method, "dropped_taps", json_integer(t->dropped_taps));
    json_object_set_new(method, "rejected_events", json_integer(t->rejected));
    json_object_set_new(method, "rejected_rule", json_string(rejected_rule));
    json_object_set_new(o, "method", method);
    return o;
}

int lt_report_json(struct lt_strbuf *sb, const struct lt_report *r)
{
    json_t *o = report_object(r);
    char *doc = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!doc)
        return LT_ENOMEM;
    size_t len = strlen(doc); /* ends with '}' */
    char hex[65];
    int rc = lt_report_sha256_hex(doc, len, hex);
    if (rc == 0) {
        lt_strbuf_add(sb, doc, len - 1);
        lt_strbuf_addf(sb, ",\"sha256\":\"%s\"}", hex);
    }
    free(doc);
    if (rc != 0)
        return LT_EPROTO;
    return lt_strbuf_failed(sb) ? LT_ETOOLARGE : 0;
}

/* ---- CSV ---------------------------------------------------------------- */

/* One RFC 4180 field: quoted when it holds a comma, quote, CR or LF. */
static void csv_field(struct lt_strbuf *sb, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        lt_strbuf_add_str(sb, s);
        return;
    }
    lt_strbuf_add_char(sb, '"');
    for (; *s; s++) {
        if (*s == '"')
            lt_strbuf_add_char(sb, '"');
        lt_strbuf_add_char(sb, *s);
    }
    lt_strbuf_add_char(sb, '"');
}

/* section,key,time,value (value as text). */
static void csv_text(struct lt_strbuf *sb, const char *section, const char *key, const char *value)
{
    lt_strbuf_addf(sb, "%s,", section);
    csv_field(sb, key);
    lt_strbuf_add_str(sb, ",,");
    csv_field(sb, value);
    lt_strbuf_add_str(sb, ",,,,\r\n");
}

static void csv_int(struct lt_strbuf *sb, const char *section, const char *key, int64_t v)
{
    lt_strbuf_addf(sb, "%s,", section);
    csv_field(sb, key);
    lt_strbuf_addf(sb, ",,%lld,,,,\r\n", (long long)v);
}

int lt_report_csv(struct lt_strbuf *sb, const struct lt_report *r)
{
    const struct lt_totals *t = r->totals;
    struct tz_saved saved = {0};
    tz_enter(r->tz, &saved);
    lt_strbuf_add_str(sb, "section,key,time,value,views,likes,uniques,online\r\n");
    char when[40];
    lt_format_rfc3339(r->generated_ms, 1, when, sizeof when);
    csv_text(sb, "report", "stream", t->stream);
    csv_text(sb, "report", "title", t->title ? t->title : "");
    csv_text(sb, "report", "series", t->series ? t->series : "");
    csv_text(sb, "report", "status", lt_status_name(t->status));
    csv_text(sb, "report", "tz", r->tz);
    lt_strbuf_add_str(sb, "report,generated_at,");
    add_local(sb, r->generated_ms / 1000, true);
    lt_strbuf_addf(sb, ",%s,,,,\r\n", when);
    csv_int(sb, "totals", "views", t->views);
    csv_int(sb, "totals", "likes", t->likes);
    csv_int(sb, "totals", "uniques", t->uniques);
    for (size_t i = 0; i < t->n_counters; i++)
        csv_int(sb, "counter", t->counters[i].name, t->counters[i].value);
    lt_strbuf_add_str(sb, "peak,online,");
    if (t->peak_at_ms > 0)
        add_local(sb, t->peak_at_ms / 1000, true);
    lt_strbuf_addf(sb, ",%lld,,,,\r\n", (long long)t->peak_online);
    /* segment,<id>,<local start>,<title>,views,likes,uniques, */
    for (size_t i = 0; i < t->n_segments; i++) {
        const struct lt_totals_segment *g = &t->segments[i];
        lt_strbuf_addf(sb, "segment,%lld,", (long long)g->id);
        if (g->started_ms > 0)
            add_local(sb, g->started_ms / 1000, true);
        lt_strbuf_add_char(sb, ',');
        csv_field(sb, g->title ? g->title : "");
        lt_strbuf_addf(sb, ",%lld,%lld,%lld,\r\n", (long long)g->views, (long long)g->likes,
                       (long long)g->uniques);
    }
    for (size_t i = 0; i < t->n_sources; i++) {
        const struct lt_totals_source *s = &t->sources[i];
        lt_strbuf_addf(sb, "source_counted_here,%s,,,%lld,%lld,,\r\n", s->name, (long long)s->views,
                       (long long)s->likes);
        if (s->has_reported) {
            lt_strbuf_addf(sb, "source_partner_reported,%s,", s->name);
            add_local(sb, s->reported.at_ms / 1000, true);
            lt_strbuf_addf(sb, ",,%lld,%lld,,\r\n", (long long)s->reported.views,
                           (long long)s->reported.likes);
        }
        /* Each report over time; value = 1 when it was lower than the one
         * before. */
        for (size_t k = 0; k < r->n_reports; k++) {
            const struct lt_partner_report *p = &r->reports[k];
            if (strcmp(p->source, s->name) != 0)
                continue;
            lt_strbuf_addf(sb, "source_partner_report,%s,", s->name);
            add_local(sb, p->at_ms / 1000, true);
            lt_strbuf_addf(sb, ",%d,%lld,%lld,,\r\n", p->lower ? 1 : 0, (long long)p->views,
                           (long long)p->likes);
        }
    }
    const struct lt_report_method *m = &r->method;
    csv_int(sb, "method", "dedup_seconds", m->dedup_seconds);
    csv_int(sb, "method", "likes_per_viewer_rate_per_second", m->likes_per_viewer_rate);
    csv_int(sb, "method", "likes_per_viewer_burst", m->likes_per_viewer_burst);
    csv_int(sb, "method", "likes_per_client_rate_per_second", m->likes_per_client_rate);
    csv_int(sb, "method", "likes_per_client_burst", m->likes_per_client_burst);
    csv_int(sb, "method", "dropped_taps", t->dropped_taps);
    csv_int(sb, "method", "rejected_events", t->rejected);
    for (size_t i = 0; r->minutes && i < r->minutes->n_points; i++) {
        lt_strbuf_addf(sb, "minute,%lld,", (long long)r->minutes->t[i]);
        add_local(sb, r->minutes->t[i], true);
        lt_strbuf_add_char(sb, ',');
        for (int c = 0; c < LT_TS_FIXED; c++)
            lt_strbuf_addf(sb, ",%lld", (long long)minute_value(r->minutes, i, c));
        lt_strbuf_add_str(sb, "\r\n");
    }
    tz_leave(&saved);
    return lt_strbuf_failed(sb) ? LT_ETOOLARGE : 0;
}

/* ---- HTML --------------------------------------------------------------- */

/* "203,411": the exact count with thousands separators. */
static void add_grouped(struct lt_strbuf *sb, int64_t n)
{
    char digits[24];
    int len = snprintf(digits, sizeof digits, "%lld", (long long)n);
    int start = digits[0] == '-' ? 1 : 0;
    if (start)
        lt_strbuf_add_char(sb, '-');
    for (int i = start; i < len; i++) {
        if (i > start && (len - i) % 3 == 0)
            lt_strbuf_add_char(sb, ',');
        lt_strbuf_add_char(sb, digits[i]);
    }
}

/* "203,411 (20万+)": exact, then the display form when it differs. */
static void add_figure(struct lt_strbuf *sb, int64_t n, enum lt_display_locale locale)
{
    add_grouped(sb, n);
    char shown[LT_DISPLAY_MAX], exact[24];
    lt_display_format(n, locale, LT_STYLE_FLOOR, shown);
    snprintf(exact, sizeof exact, "%lld", (long long)n);
    if (strcmp(shown, exact) != 0) {
        lt_strbuf_add_str(sb, " (");
        lt_html_escape_append(sb, shown);
        lt_strbuf_add_char(sb, ')');
    }
}

/* A figure as add_figure writes it, into fig (LT_FIGURE_MAX bytes), for a
 * message's place: 26 bytes of grouped digits, " ()" and the display form. */
#define LT_FIGURE_MAX (32 + LT_DISPLAY_MAX * 6)
static const char *figure_text(char *fig, int64_t n, enum lt_display_locale locale)
{
    struct lt_strbuf fb;
    lt_strbuf_init_fixed(&fb, fig, LT_FIGURE_MAX);
    add_figure(&fb, n, locale);
    return lt_strbuf_text(&fb);
}

static void row_figure(struct lt_strbuf *sb, const char *label, int64_t n,
                       enum lt_display_locale locale)
{
    lt_strbuf_add_str(sb, "<tr><th>");
    lt_html_escape_append(sb, label);
    lt_strbuf_add_str(sb, "</th><td>");
    add_figure(sb, n, locale);
    lt_strbuf_add_str(sb, "</td></tr>\n");
}

#define CHART_W 720
#define CHART_H 200
#define CHART_L 80 /* left margin: the y labels */
#define CHART_B 24 /* bottom margin: the time labels */
#define CHART_T 24 /* top margin: the title */

/* The y label: the display form (short), exact below 1,000. */
static void add_axis_label(struct lt_strbuf *sb, int64_t n, enum lt_display_locale locale)
{
    char shown[LT_DISPLAY_MAX];
    lt_display_format(n, locale, LT_STYLE_FLOOR, shown);
    lt_html_escape_append(sb, shown);
}

/* One metric per minute as bars on its own y axis (0, half, the highest),
 * with up to five local time labels. */
static void html_chart(struct lt_strbuf *sb, const struct lt_timeseries *ts, int col,
                       enum lt_report_word title, const char *colour, enum lt_display_locale locale)
{
    size_t n = ts ? ts->n_points : 0;
    int64_t max = 0;
    for (size_t i = 0; i < n; i++)
        if (minute_value(ts, i, col) > max)
            max = minute_value(ts, i, col);
    int64_t top = max > 0 ? max : 1;
    const int pw = CHART_W - CHART_L - 8, ph = CHART_H - CHART_T - CHART_B;
    lt_strbuf_addf(sb,
                   "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                   "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
                   "aria-label=\"%s\">\n",
                   CHART_W, CHART_H, CHART_W, CHART_H, lt_report_word(locale, title));
    lt_strbuf_addf(sb,
                   "<text x=\"%d\" y=\"14\" font-size=\"13\" font-weight=\"bold\" "
                   "fill=\"%s\">%s",
                   CHART_L, colour, lt_report_word(locale, title));
    char fig[LT_FIGURE_MAX];
    lt_report_words_add(sb, locale, LT_RW_CHART_HIGHEST, figure_text(fig, max, locale), NULL);
    lt_strbuf_add_str(sb, "</text>\n");
    for (int k = 0; k <= 2; k++) {
        /* The line stands where its (whole) label's value is. */
        int y = CHART_T + ph - (int)((int64_t)ph * (top * k / 2) / top);
        lt_strbuf_addf(sb,
                       "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ccc\"/>"
                       "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">",
                       CHART_L, y, CHART_L + pw, y, CHART_L - 6, y + 4);
        add_axis_label(sb, top * k / 2, locale);
        lt_strbuf_add_str(sb, "</text>\n");
    }
    /* Bars: each minute a slot of pw / n, the bar 80 % of it (at least a
     * hair, so that thousands of minutes still show). */
    double slot = n ? (double)pw / (double)n : 0;
    double bw = slot * 0.8 < 0.5 ? (slot < 0.5 ? slot : 0.5) : slot * 0.8;
    lt_strbuf_addf(sb, "<g fill=\"%s\">", colour);
    for (size_t i = 0; i < n; i++) {
        int64_t v = minute_value(ts, i, col);
        if (v <= 0)
            continue;
        double h = (double)ph * (double)v / (double)top;
        lt_strbuf_addf(sb, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/>",
                       CHART_L + slot * (double)i + (slot - bw) / 2, CHART_T + ph - h, bw, h);
    }
    lt_strbuf_add_str(sb, "</g>\n");
    for (size_t k = 0; n > 0 && k < 5; k++) {
        size_t i = n == 1 ? 0 : k * (n - 1) / 4;
        if (k > 0 && (n == 1 || i == (k - 1) * (n - 1) / 4))
            continue;
        double x = CHART_L + slot * ((double)i + 0.5);
        lt_strbuf_addf(sb, "<text x=\"%.2f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">", x,
                       CHART_H - 6);
        add_local(sb, ts->t[i], false);
        lt_strbuf_add_str(sb, "</text>\n");
    }
    lt_strbuf_addf(sb, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#555\"/></svg>\n",
                   CHART_L, CHART_T + ph, CHART_L + pw, CHART_T + ph);
}

/* One word of the locale. */
static void add_word(struct lt_strbuf *sb, enum lt_display_locale loc, enum lt_report_word id)
{
    lt_strbuf_add_str(sb, lt_report_word(loc, id));
}

/* "<th>w1</th><th>w2</th>..." for a table's header row. */
static void add_header_cells(struct lt_strbuf *sb, enum lt_display_locale loc,
                             const enum lt_report_word *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        lt_strbuf_add_str(sb, "<th>");
        add_word(sb, loc, ids[i]);
        lt_strbuf_add_str(sb, "</th>");
    }
}

/* Partner reports over time, one row per report, oldest first; nothing
 * when there are none. */
static void html_reports(struct lt_strbuf *sb, const struct lt_report *r,
                         enum lt_display_locale loc)
{
    if (!r->n_reports)
        return;
    static const enum lt_report_word cols[] = {LT_RW_COL_SOURCE, LT_RW_COL_TIME,
                                               LT_RW_COL_VIEWS_REPORTED, LT_RW_COL_LIKES_REPORTED};
    lt_strbuf_add_str(sb, "<h2>");
    add_word(sb, loc, LT_RW_H_PARTNER_REPORTS);
    lt_strbuf_add_str(sb, "</h2>\n<table><tr>");
    add_header_cells(sb, loc, cols, sizeof cols / sizeof *cols);
    lt_strbuf_add_str(sb, "<th></th></tr>\n");
    for (size_t i = 0; i < r->n_reports; i++) {
        const struct lt_partner_report *p = &r->reports[i];
        lt_strbuf_add_str(sb, "<tr><th>");
        lt_html_escape_append(sb, p->source);
        lt_strbuf_add_str(sb, "</th><td>");
        add_local(sb, p->at_ms / 1000, true);
        lt_strbuf_add_str(sb, "</td><td>");
        add_figure(sb, p->views, loc);
        lt_strbuf_add_str(sb, "</td><td>");
        add_figure(sb, p->likes, loc);
        lt_strbuf_add_str(sb, "</td><td>");
        if (p->lower)
            add_word(sb, loc, LT_RW_LOWER_THAN_BEFORE);
        lt_strbuf_add_str(sb, "</td></tr>\n");
    }
    lt_strbuf_add_str(sb, "</table>\n");
}

/* The segments: each one's title (escaped: operators type them), its
 * times, and its own views and likes (exact) and uniques (an estimate). */
static void html_segments(struct lt_strbuf *sb, const struct lt_totals *t,
                          enum lt_display_locale loc)
{
    lt_strbuf_add_str(sb, "<h2>");
    add_word(sb, loc, LT_RW_H_SEGMENTS);
    lt_strbuf_add_str(sb, "</h2>\n");
    if (!t->n_segments) {
        lt_strbuf_add_str(sb, "<p>");
        add_word(sb, loc, LT_RW_NONE_SENTENCE);
        lt_strbuf_add_str(sb, "</p>\n");
        return;
    }
    static const enum lt_report_word cols[] = {
        LT_RW_COL_NUMBER, LT_RW_COL_SEGMENT, LT_RW_COL_STARTED,         LT_RW_COL_ENDED,
        LT_RW_COL_VIEWS,  LT_RW_COL_LIKES,   LT_RW_COL_UNIQUES_ESTIMATE};
    lt_strbuf_add_str(sb, "<table><tr>");
    add_header_cells(sb, loc, cols, sizeof cols / sizeof *cols);
    lt_strbuf_add_str(sb, "</tr>\n");
    for (size_t i = 0; i < t->n_segments; i++) {
        const struct lt_totals_segment *g = &t->segments[i];
        lt_strbuf_addf(sb, "<tr><td>%lld</td><th>", (long long)g->id);
        lt_html_escape_append(sb, g->title ? g->title : "");
        lt_strbuf_add_str(sb, "</th><td>");
        if (g->started_ms > 0)
            add_local(sb, g->started_ms / 1000, true);
        lt_strbuf_add_str(sb, "</td><td>");
        if (g->ended_ms > 0)
            add_local(sb, g->ended_ms / 1000, true);
        else
            add_word(sb, loc,
                     t->status == LT_STATUS_ENDED ? LT_RW_SEGMENT_TO_END : LT_RW_SEGMENT_RUNNING);
        lt_strbuf_add_str(sb, "</td><td>");
        add_figure(sb, g->views, loc);
        lt_strbuf_add_str(sb, "</td><td>");
        add_figure(sb, g->likes, loc);
        lt_strbuf_add_str(sb, "</td><td>");
        add_figure(sb, g->uniques, loc);
        lt_strbuf_add_str(sb, "</td></tr>\n");
    }
    lt_strbuf_add_str(sb, "</table>\n");
}

/* The sources: counted here and partner-reported side by side, never
 * added together. */
static void html_sources(struct lt_strbuf *sb, const struct lt_totals *t,
                         enum lt_display_locale loc)
{
    static const enum lt_report_word cols[] = {LT_RW_COL_SOURCE, LT_RW_COL_VIEWS_HERE,
                                               LT_RW_COL_LIKES_HERE, LT_RW_COL_PARTNER_REPORTED};
    lt_strbuf_add_str(sb, "<h2>");
    add_word(sb, loc, LT_RW_H_SOURCES);
    lt_strbuf_add_str(sb, "</h2>\n<table><tr>");
    add_header_cells(sb, loc, cols, sizeof cols / sizeof *cols);
    lt_strbuf_add_str(sb, "</tr>\n");
    for (size_t i = 0; i < t->n_sources; i++) {
        const struct lt_totals_source *s = &t->sources[i];
        lt_strbuf_add_str(sb, "<tr><th>");
        lt_html_escape_append(sb, s->name);
        lt_strbuf_add_str(sb, "</th><td>");
        add_figure(sb, s->views, loc);
        lt_strbuf_add_str(sb, "</td><td>");
        add_figure(sb, s->likes, loc);
        lt_strbuf_add_str(sb, "</td><td>");
        if (s->has_reported) {
            char views[LT_FIGURE_MAX], likes[LT_FIGURE_MAX];
            lt_report_words_add(sb, loc, LT_RW_REPORTED_FIGURES,
                                figure_text(views, s->reported.views, loc),
                                figure_text(likes, s->reported.likes, loc));
            if (s->reported.lower)
                add_word(sb, loc, LT_RW_LOWER_NOTE);
        } else {
            add_word(sb, loc, LT_RW_NONE);
        }
        lt_strbuf_add_str(sb, "</td></tr>\n");
    }
    lt_strbuf_add_str(sb, "</table>\n");
}

/* A like budget's row: "20 taps/s, burst 100" in the locale's order. */
static void html_budget(struct lt_strbuf *sb, enum lt_display_locale loc, enum lt_report_word label,
                        int rate, int burst)
{
    char a[16], b[16];
    snprintf(a, sizeof a, "%d", rate);
    snprintf(b, sizeof b, "%d", burst);
    lt_strbuf_add_str(sb, "<tr><th>");
    add_word(sb, loc, label);
    lt_strbuf_add_str(sb, "</th><td>");
    lt_report_words_add(sb, loc, LT_RW_BUDGET_FIGURES, a, b);
    lt_strbuf_add_str(sb, "</td></tr>\n");
}

/* Every word below comes from report_words.c in the report's locale; the
 * figures follow the locale's display form and the times r->tz. */
int lt_report_html(struct lt_strbuf *sb, const struct lt_report *r)
{
    const struct lt_totals *t = r->totals;
    enum lt_display_locale loc = r->locale;
    struct tz_saved saved = {0};
    tz_enter(r->tz, &saved);
    const char *name = t->title && *t->title ? t->title : t->stream;
    lt_strbuf_add_str(sb, "<!DOCTYPE html>\n<html lang=\"");
    add_word(sb, loc, LT_RW_LANG);
    lt_strbuf_add_str(sb, "\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\">"
                          "<title>");
    add_word(sb, loc, LT_RW_TITLE_PREFIX);
    lt_html_escape_append(sb, name);
    lt_strbuf_add_str(sb, "</title>\n<style>body{font-family:sans-serif;margin:2em;color:#222}"
                          "table{border-collapse:collapse;margin:.5em 0 1.5em}"
                          "th,td{border:1px solid #ccc;padding:.2em .6em;text-align:right}"
                          "th{text-align:left;background:#f4f4f4}"
                          "@media print{body{margin:0}.chart{max-width:100%}}</style>\n"
                          "</head><body>\n<h1>");
    lt_html_escape_append(sb, name);
    lt_strbuf_add_str(sb, "</h1>\n<p>");
    add_word(sb, loc, LT_RW_INTRO_STREAM);
    lt_strbuf_add_str(sb, "<code>");
    lt_html_escape_append(sb, t->stream);
    lt_strbuf_add_str(sb, "</code>");
    if (t->series) {
        add_word(sb, loc, LT_RW_INTRO_SERIES);
        lt_strbuf_add_str(sb, "<code>");
        lt_html_escape_append(sb, t->series);
        lt_strbuf_add_str(sb, "</code>");
    }
    add_word(sb, loc, LT_RW_INTRO_STATUS);
    lt_strbuf_add_str(sb, lt_report_status_word(loc, t->status));
    add_word(sb, loc, LT_RW_INTRO_GENERATED);
    lt_strbuf_add_str(sb, "<time>");
    add_local(sb, r->generated_ms / 1000, true);
    lt_strbuf_add_str(sb, "</time>");
    add_word(sb, loc, LT_RW_INTRO_TZ);
    lt_html_escape_append(sb, r->tz);
    add_word(sb, loc, LT_RW_INTRO_END);
    lt_strbuf_add_str(sb, "</p>\n<h2>");
    add_word(sb, loc, LT_RW_H_TOTALS);
    lt_strbuf_add_str(sb, "</h2>\n<table>\n");
    row_figure(sb, lt_report_word(loc, LT_RW_VIEWS), t->views, loc);
    row_figure(sb, lt_report_word(loc, LT_RW_LIKES), t->likes, loc);
    row_figure(sb, lt_report_word(loc, LT_RW_UNIQUES_ESTIMATE), t->uniques, loc);
    for (size_t i = 0; i < t->n_counters; i++)
        row_figure(sb, t->counters[i].name, t->counters[i].value, loc);
    lt_strbuf_add_str(sb, "<tr><th>");
    add_word(sb, loc, LT_RW_PEAK_ONLINE);
    lt_strbuf_add_str(sb, "</th><td>");
    add_figure(sb, t->peak_online, loc);
    if (t->peak_at_ms > 0) {
        add_word(sb, loc, LT_RW_PEAK_AT);
        add_local(sb, t->peak_at_ms / 1000, true);
    }
    lt_strbuf_add_str(sb, "</td></tr>\n</table>\n<h2>");
    add_word(sb, loc, LT_RW_H_PER_MINUTE);
    lt_strbuf_add_str(sb, "</h2>\n");
    if (!r->minutes || !r->minutes->n_points) {
        lt_strbuf_add_str(sb, "<p>");
        add_word(sb, loc, LT_RW_NO_MINUTES);
        lt_strbuf_add_str(sb, "</p>\n");
    }
    html_chart(sb, r->minutes, LT_TS_VIEWS, LT_RW_CHART_VIEWS, "#1f6fb2", loc);
    html_chart(sb, r->minutes, LT_TS_LIKES, LT_RW_CHART_LIKES, "#c2364a", loc);
    html_segments(sb, t, loc);
    html_sources(sb, t, loc);
    html_reports(sb, r, loc);
    const struct lt_report_method *m = &r->method;
    lt_strbuf_add_str(sb, "<h2>");
    add_word(sb, loc, LT_RW_H_METHOD);
    lt_strbuf_add_str(sb, "</h2>\n<table>\n<tr><th>");
    add_word(sb, loc, LT_RW_A_VIEW);
    lt_strbuf_add_str(sb, "</th><td style=\"text-align:left\">");
    add_word(sb, loc, LT_RW_VIEW_RULE);
    lt_strbuf_add_str(sb, "</td></tr>\n<tr><th>");
    add_word(sb, loc, LT_RW_DEDUP_WINDOW);
    lt_strbuf_add_str(sb, "</th><td>");
    add_grouped(sb, m->dedup_seconds);
    lt_strbuf_add_str(sb, "</td></tr>\n");
    html_budget(sb, loc, LT_RW_BUDGET_VIEWER, m->likes_per_viewer_rate, m->likes_per_viewer_burst);
    html_budget(sb, loc, LT_RW_BUDGET_CLIENT, m->likes_per_client_rate, m->likes_per_client_burst);
    row_figure(sb, lt_report_word(loc, LT_RW_TAPS_DROPPED), t->dropped_taps, loc);
    row_figure(sb, lt_report_word(loc, LT_RW_EVENTS_REJECTED), t->rejected, loc);
    static const enum lt_report_word minute_cols[] = {
        LT_RW_COL_TIME, LT_RW_COL_VIEWS, LT_RW_COL_LIKES, LT_RW_COL_UNIQUES, LT_RW_COL_ONLINE};
    lt_strbuf_add_str(sb, "</table>\n<h2>");
    add_word(sb, loc, LT_RW_H_MINUTE_TABLE);
    lt_strbuf_add_str(sb, "</h2>\n<table><tr>");
    add_header_cells(sb, loc, minute_cols, sizeof minute_cols / sizeof *minute_cols);
    lt_strbuf_add_str(sb, "</tr>\n");
    for (size_t i = 0; r->minutes && i < r->minutes->n_points; i++) {
        lt_strbuf_add_str(sb, "<tr><th>");
        add_local(sb, r->minutes->t[i], true);
        lt_strbuf_add_str(sb, "</th>");
        for (int c = 0; c < LT_TS_FIXED; c++) {
            lt_strbuf_add_str(sb, "<td>");
            add_grouped(sb, minute_value(r->minutes, i, c));
            lt_strbuf_add_str(sb, "</td>");
        }
        lt_strbuf_add_str(sb, "</tr>\n");
    }
    lt_strbuf_add_str(sb, "</table>\n</body></html>\n");
    tz_leave(&saved);
    return lt_strbuf_failed(sb) ? LT_ETOOLARGE : 0;
}

int lt_report_encode(struct lt_strbuf *sb, const struct lt_report *r, enum lt_report_format f)
{
    switch (f) {
    case LT_REPORT_CSV:
        return lt_report_csv(sb, r);
    case LT_REPORT_HTML:
        return lt_report_html(sb, r);
    default:
        return lt_report_json(sb, r);
    }
}
