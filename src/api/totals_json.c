/* The totals object and the totals message (see totals_json.h). */
#include "livetally/api/totals_json.h"

#include "livetally/base/clock.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* RFC 3339 text of an epoch-ms time, or null when unknown (0). */
static json_t *time_or_null(int64_t ms, int with_ms)
{
    if (ms <= 0)
        return json_null();
    char buf[40];
    lt_format_rfc3339(ms, with_ms, buf, sizeof buf);
    return json_string(buf);
}

/* A stored string as JSON: null when absent or not valid UTF-8. */
static json_t *string_or_null(const char *s)
{
    json_t *v = s ? json_string(s) : NULL;
    return v ? v : json_null();
}

struct display_field {
    const char *name;
    int64_t value;
};

/* "display": each field's display string and the locale. */
static void add_display_fields(json_t *o, const struct display_field *fields, size_t n,
                               const struct lt_totals_display *d)
{
    json_t *display = json_object();
    for (size_t i = 0; i < n; i++) {
        char text[LT_DISPLAY_MAX];
        lt_display_format(fields[i].value, d->locale, d->style, text);
        json_object_set_new(display, fields[i].name, json_string(text));
    }
    json_object_set_new(display, "locale", json_string(lt_display_locale_name(d->locale)));
    json_object_set_new(o, "display", display);
}

static void add_display(json_t *o, const struct lt_totals *t, const struct lt_totals_display *d)
{
    const struct display_field fields[] = {
        {"views", t->views},
        {"likes", t->likes},
        {"uniques", t->uniques},
        {"online", t->online},
        {"peak_online", t->peak_online},
    };
    add_display_fields(o, fields, sizeof fields / sizeof fields[0], d);
}

json_t *lt_segment_json(const struct lt_totals_segment *g)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(g->id));
    json_object_set_new(o, "title", string_or_null(g->title));
    json_object_set_new(o, "started_at", time_or_null(g->started_ms, 1));
    json_object_set_new(o, "ended_at", time_or_null(g->ended_ms, 1));
    json_object_set_new(o, "views", json_integer(g->views));
    json_object_set_new(o, "likes", json_integer(g->likes));
    json_object_set_new(o, "uniques", json_integer(g->uniques));
    return o;
}

json_t *lt_totals_json(const struct lt_totals *t, const struct lt_totals_display *display)
{
    json_t *o = json_object();
    json_object_set_new(o, "stream", json_string(t->stream));
    json_object_set_new(o, "title", string_or_null(t->title));
    json_object_set_new(o, "series", string_or_null(t->series));
    json_object_set_new(o, "status", json_string(lt_status_name(t->status)));
    json_object_set_new(o, "views", json_integer(t->views));
    json_object_set_new(o, "uniques", json_integer(t->uniques));
    json_object_set_new(o, "likes", json_integer(t->likes));
    json_object_set_new(o, "online", json_integer(t->online));
    json_object_set_new(o, "peak_online", json_integer(t->peak_online));
    json_object_set_new(o, "peak_at", time_or_null(t->peak_at_ms, 0));
    json_t *counters = json_object();
    for (size_t i = 0; i < t->n_counters; i++)
        json_object_set_new(counters, t->counters[i].name, json_integer(t->counters[i].value));
    json_object_set_new(o, "counters", counters);
    json_t *sources = json_object();
    for (size_t i = 0; i < t->n_sources; i++) {
        const struct lt_totals_source *s = &t->sources[i];
        json_t *e =
            json_pack("{s:I, s:I}", "views", (json_int_t)s->views, "likes", (json_int_t)s->likes);
        if (s->has_reported)
            json_object_set_new(
                e, "reported",
                json_pack("{s:I, s:I, s:o, s:b}", "views", (json_int_t)s->reported.views, "likes",
                          (json_int_t)s->reported.likes, "at", time_or_null(s->reported.at_ms, 1),
                          "lower_than_previous", (int)s->reported.lower));
        json_object_set_new(sources, s->name, e);
    }
    json_object_set_new(o, "sources", sources);
    json_t *segments = json_array();
    for (size_t i = 0; i < t->n_segments; i++)
        json_array_append_new(segments, lt_segment_json(&t->segments[i]));
    json_object_set_new(o, "segments", segments);
    json_object_set_new(o, "seq", json_integer(t->seq));
    json_object_set_new(o, "created_at", time_or_null(t->created_ms, 0));
    if (t->has_starts) {
        char buf[40];
        lt_format_rfc3339(t->starts_ms, 0, buf, sizeof buf);
        json_object_set_new(o, "starts_at", json_string(buf));
    } else {
        json_object_set_new(o, "starts_at", json_null());
    }
    json_object_set_new(o, "updated_at", time_or_null(t->updated_ms, 1));
    if (display && display->wanted)
        add_display(o, t, display);
    return o;
}

json_t *lt_series_json(const struct lt_series_totals *s, const struct lt_totals_display *display)
{
    json_t *totals = json_object();
    json_object_set_new(totals, "views", json_integer(s->views));
    json_object_set_new(totals, "likes", json_integer(s->likes));
    json_object_set_new(totals, "uniques", json_integer(s->uniques));
    json_t *counters = json_object();
    for (size_t i = 0; i < s->n_counters; i++)
        json_object_set_new(counters, s->counters[i].name, json_integer(s->counters[i].value));
    json_object_set_new(totals, "counters", counters);
    if (display && display->wanted) {
        const struct display_field fields[] = {
            {"views", s->views},
            {"likes", s->likes},
            {"uniques", s->uniques},
        };
        add_display_fields(totals, fields, sizeof fields / sizeof fields[0], display);
    }
    json_t *streams = json_array();
    for (size_t i = 0; i < s->n_streams; i++)
        json_array_append_new(streams, lt_totals_json(&s->streams[i], display));
    return json_pack("{s:s, s:o, s:o, s:b}", "series", s->series, "totals", totals, "streams",
                     streams, "truncated", (int)s->truncated);
}

size_t lt_totals_message(const struct lt_totals *t, char *buf)
{
    /* The bound: 130 bytes of names and punctuation, a stream id of at most
     * 64 bytes, and 9 integers of at most 20 characters each: 374 bytes,
     * under LT_TOTALS_MESSAGE_MAX. One snprintf, nothing chained: the
     * counted fields are in one format or absent from the other (a push of
     * an earlier version's script, which has none). */
    int n = t->has_counted
                ? snprintf(buf, LT_TOTALS_MESSAGE_MAX,
                           "{\"type\":\"totals\",\"stream\":\"%s\",\"views\":%" PRId64
                           ",\"uniques\":%" PRId64 ",\"likes\":%" PRId64 ",\"online\":%" PRId64
                           ",\"peak_online\":%" PRId64 ",\"counted_views\":%" PRId64
                           ",\"counted_likes\":%" PRId64 ",\"seq\":%" PRId64 ",\"ts\":%" PRId64 "}",
                           t->stream, t->views, t->uniques, t->likes, t->online, t->peak_online,
                           t->counted_views, t->counted_likes, t->seq, t->ts_ms)
                : snprintf(buf, LT_TOTALS_MESSAGE_MAX,
                           "{\"type\":\"totals\",\"stream\":\"%s\",\"views\":%" PRId64
                           ",\"uniques\":%" PRId64 ",\"likes\":%" PRId64 ",\"online\":%" PRId64
                           ",\"peak_online\":%" PRId64 ",\"seq\":%" PRId64 ",\"ts\":%" PRId64 "}",
                           t->stream, t->views, t->uniques, t->likes, t->online, t->peak_online,
                           t->seq, t->ts_ms);
    return n > 0 && n < LT_TOTALS_MESSAGE_MAX ? (size_t)n : 0;
}

size_t lt_notice_message(const char *stream, enum lt_stream_status status, char *buf)
{
    /* At most 60 bytes of names and punctuation, a stream id of at most 64
     * and a status name of at most 9: under LT_NOTICE_MESSAGE_MAX. */
    int n = status == LT_STATUS_NONE
                ? snprintf(buf, LT_NOTICE_MESSAGE_MAX, "{\"type\":\"deleted\",\"stream\":\"%s\"}",
                           stream)
                : snprintf(buf, LT_NOTICE_MESSAGE_MAX,
                           "{\"type\":\"status\",\"stream\":\"%s\",\"status\":\"%s\"}", stream,
                           lt_status_name(status));
    return n > 0 && n < LT_NOTICE_MESSAGE_MAX ? (size_t)n : 0;
}
