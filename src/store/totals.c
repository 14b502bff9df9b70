/* The totals model's helpers (see totals.h). */
#include "livetally/store/totals.h"

#include "livetally/base/mem.h"

#include <string.h>

const char *lt_status_name(enum lt_stream_status status)
{
    switch (status) {
    case LT_STATUS_SCHEDULED:
        return "scheduled";
    case LT_STATUS_LIVE:
        return "live";
    case LT_STATUS_ENDED:
        return "ended";
    case LT_STATUS_NONE:
        break;
    }
    return "none";
}

enum lt_stream_status lt_status_parse(const char *name, size_t len)
{
    if (len == 9 && memcmp(name, "scheduled", 9) == 0)
        return LT_STATUS_SCHEDULED;
    if (len == 4 && memcmp(name, "live", 4) == 0)
        return LT_STATUS_LIVE;
    if (len == 5 && memcmp(name, "ended", 5) == 0)
        return LT_STATUS_ENDED;
    return LT_STATUS_NONE;
}

void lt_totals_init(struct lt_totals *t, const char *stream)
{
    memset(t, 0, sizeof *t);
    t->status = LT_STATUS_LIVE;
    if (stream) {
        size_t len = strlen(stream);
        if (len > LT_STREAM_ID_MAX)
            len = LT_STREAM_ID_MAX;
        memcpy(t->stream, stream, len);
    }
}

void lt_totals_free(struct lt_totals *t)
{
    lt_free(t->title);
    lt_free(t->series);
    for (size_t i = 0; i < t->n_counters; i++)
        lt_free(t->counters[i].name);
    lt_free(t->counters);
    lt_free(t->sources);
    for (size_t i = 0; i < t->n_segments; i++)
        lt_free(t->segments[i].title);
    lt_free(t->segments);
    char stream[LT_STREAM_ID_MAX + 1];
    memcpy(stream, t->stream, sizeof stream);
    lt_totals_init(t, stream);
}

void lt_totals_copy(struct lt_totals *dst, const struct lt_totals *src)
{
    *dst = *src;
    dst->title = src->title ? lt_strdup(src->title) : NULL;
    dst->series = src->series ? lt_strdup(src->series) : NULL;
    dst->counters = NULL;
    dst->n_counters = 0;
    if (src->n_counters) {
        dst->counters = lt_malloc(src->n_counters * sizeof *dst->counters);
        for (size_t i = 0; i < src->n_counters; i++) {
            dst->counters[i].name = lt_strdup(src->counters[i].name);
            dst->counters[i].value = src->counters[i].value;
        }
        dst->n_counters = src->n_counters;
    }
    dst->sources = NULL;
    dst->cap_sources = 0;
    if (src->n_sources) {
        dst->sources = lt_malloc(src->n_sources * sizeof *dst->sources);
        memcpy(dst->sources, src->sources, src->n_sources * sizeof *dst->sources);
        dst->cap_sources = src->n_sources;
    }
    dst->segments = NULL;
    if (src->n_segments) {
        dst->segments = lt_malloc(src->n_segments * sizeof *dst->segments);
        memcpy(dst->segments, src->segments, src->n_segments * sizeof *dst->segments);
        for (size_t i = 0; i < src->n_segments; i++)
            if (src->segments[i].title)
                dst->segments[i].title = lt_strdup(src->segments[i].title);
    }
}

void lt_totals_set_title(struct lt_totals *t, const char *title, size_t len)
{
    lt_free(t->title);
    t->title = title ? lt_strndup(title, len) : NULL;
}

void lt_totals_set_series(struct lt_totals *t, const char *series, size_t len)
{
    lt_free(t->series);
    t->series = series ? lt_strndup(series, len) : NULL;
}

void lt_totals_add_counter(struct lt_totals *t, const char *name, int64_t value)
{
    t->counters = lt_realloc(t->counters, (t->n_counters + 1) * sizeof *t->counters);
    t->counters[t->n_counters].name = lt_strdup(name);
    t->counters[t->n_counters].value = value;
    t->n_counters++;
}

struct lt_totals_source *lt_totals_source(struct lt_totals *t, const char *name, size_t len)
{
    if (!lt_valid_source_id(name, len))
        return NULL;
    for (size_t i = 0; i < t->n_sources; i++)
        if (strlen(t->sources[i].name) == len && memcmp(t->sources[i].name, name, len) == 0)
            return &t->sources[i];
    if (t->n_sources == t->cap_sources) {
        t->cap_sources = t->cap_sources ? t->cap_sources * 2 : 4;
        t->sources = lt_realloc(t->sources, t->cap_sources * sizeof *t->sources);
    }
    struct lt_totals_source *s = &t->sources[t->n_sources++];
    memset(s, 0, sizeof *s);
    memcpy(s->name, name, len); /* len <= LT_SOURCE_ID_MAX: a valid id */
    return s;
}

struct lt_totals_segment *lt_totals_segment(struct lt_totals *t, int64_t id)
{
    if (id < 1 || id > LT_SEGMENTS_MAX)
        return NULL;
    if ((size_t)id > t->n_segments) {
        t->segments = lt_realloc(t->segments, (size_t)id * sizeof *t->segments);
        for (size_t i = t->n_segments; i < (size_t)id; i++) {
            memset(&t->segments[i], 0, sizeof t->segments[i]);
            t->segments[i].id = (int64_t)i + 1;
        }
        t->n_segments = (size_t)id;
    }
    return &t->segments[id - 1];
}
