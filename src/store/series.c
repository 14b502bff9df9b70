/* The series model's helpers (see series.h). */
#include "livetally/store/series.h"

#include "livetally/base/mem.h"

#include <stdlib.h>
#include <string.h>

void lt_series_init(struct lt_series_totals *s, const char *series, char *const *counters,
                    size_t n_counters)
{
    memset(s, 0, sizeof *s);
    if (series) {
        size_t len = strlen(series);
        if (len > LT_SERIES_ID_MAX)
            len = LT_SERIES_ID_MAX;
        memcpy(s->series, series, len);
    }
    if (n_counters) {
        s->counters = lt_calloc(n_counters, sizeof *s->counters);
        for (size_t i = 0; i < n_counters; i++)
            s->counters[i].name = lt_strdup(counters[i]);
        s->n_counters = n_counters;
    }
}

void lt_series_free(struct lt_series_totals *s)
{
    for (size_t i = 0; i < s->n_counters; i++)
        lt_free(s->counters[i].name);
    lt_free(s->counters);
    for (size_t i = 0; i < s->n_streams; i++)
        lt_totals_free(&s->streams[i]);
    lt_free(s->streams);
    char series[LT_SERIES_ID_MAX + 1];
    memcpy(series, s->series, sizeof series);
    lt_series_init(s, series, NULL, 0);
}

void lt_series_add_stream(struct lt_series_totals *s, struct lt_totals *t)
{
    s->views += t->views;
    s->likes += t->likes;
    for (size_t i = 0; i < t->n_counters; i++)
        for (size_t j = 0; j < s->n_counters; j++)
            if (strcmp(t->counters[i].name, s->counters[j].name) == 0)
                s->counters[j].value += t->counters[i].value;
    if (s->n_streams == s->cap_streams) {
        s->cap_streams = s->cap_streams ? s->cap_streams * 2 : 8;
        s->streams = lt_realloc(s->streams, s->cap_streams * sizeof *s->streams);
    }
    /* A move: the struct is copied as is and t forgets its pointers. */
    s->streams[s->n_streams++] = *t;
    char stream[LT_STREAM_ID_MAX + 1];
    memcpy(stream, t->stream, sizeof stream);
    lt_totals_init(t, stream);
}

static int64_t start_of(const struct lt_totals *t)
{
    return t->has_starts ? t->starts_ms : t->created_ms;
}

static int by_start(const void *a, const void *b)
{
    const struct lt_totals *x = a, *y = b;
    int64_t sx = start_of(x), sy = start_of(y);
    if (sx != sy)
        return sx < sy ? -1 : 1;
    return strcmp(x->stream, y->stream);
}

void lt_series_sort(struct lt_series_totals *s)
{
    if (s->n_streams > 1)
        qsort(s->streams, s->n_streams, sizeof *s->streams, by_start);
}
