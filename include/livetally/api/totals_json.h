/* The wire forms of a stream's totals, written in one place from struct
 * lt_totals (store/totals.h):
 *  - the contract's totals object (GET /v1/streams/{id}, each entry of
 *    GET /v1/streams, the answer of PUT), with `display` when asked for;
 *  - the WebSocket/SSE `totals` message (API.md "WebSocket messages");
 *  - a series' object (GET /v1/series/{id}), from struct lt_series_totals
 *    (store/series.h), its streams written as totals objects. */
#ifndef LIVETALLY_TOTALS_JSON_H
#define LIVETALLY_TOTALS_JSON_H

#include "livetally/base/display.h"
#include "livetally/store/series.h"
#include "livetally/store/totals.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* What ?locale= and ?style= ask for: display strings beside the counts. */
struct lt_totals_display {
    bool wanted;
    enum lt_display_locale locale;
    enum lt_display_style style;
};

/* The totals object: stream, title, series, status, views, uniques, likes,
 * online, peak_online, peak_at, counters, sources, segments, seq,
 * created_at, starts_at, updated_at, and display when display->wanted
 * (display NULL: none). A new reference, the caller's. */
json_t *lt_totals_json(const struct lt_totals *t, const struct lt_totals_display *display);

/* One segment: {"id":1,"title":"开幕式","started_at":"RFC 3339 with ms",
 * "ended_at":RFC 3339 | null (the last one: it runs until the stream
 * ends),"views":N,"likes":N,"uniques":N}, as in the totals object's
 * "segments" list, the segments endpoints and the report. A new reference. */
json_t *lt_segment_json(const struct lt_totals_segment *g);

/* The series object {"series":id, "totals":{"views","likes","uniques",
 * "counters"{...}[, "display"{views, likes, uniques, locale}]},
 * "streams":[<totals object>...], "truncated":bool}; display (NULL: none)
 * applies to the sums and to every stream. A new reference, the caller's. */
json_t *lt_series_json(const struct lt_series_totals *s, const struct lt_totals_display *display);

/* The totals message {"type":"totals","stream":..,"views":..,"uniques":..,
 * "likes":..,"online":..,"peak_online":..,"counted_views":..,
 * "counted_likes":..,"seq":N,"ts":ms} into buf (the counted fields only
 * when t->has_counted), which
 * has LT_TOTALS_MESSAGE_MAX bytes; returns its length (no NUL counted).
 * t->stream must be a valid stream id (ids.h): it is written unescaped. */
#define LT_TOTALS_MESSAGE_MAX 384
size_t lt_totals_message(const struct lt_totals *t, char *buf);

/* A stream's status notice for its subscribers: {"type":"status",
 * "stream":..,"status":"ended"}, or {"type":"deleted","stream":..} for
 * LT_STATUS_NONE (the stream was deleted), into buf of
 * LT_NOTICE_MESSAGE_MAX bytes; returns its length. stream: a valid id. */
#define LT_NOTICE_MESSAGE_MAX 160
size_t lt_notice_message(const char *stream, enum lt_stream_status status, char *buf);

#endif
