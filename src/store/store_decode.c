/* Script replies and published messages into struct lt_totals (see
 * store_decode.h). */
#include "livetally/store/store_decode.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/mem.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

void lt_store_decode_begin(struct lt_totals *t, const char *stream, char *const *counters,
                           size_t n_counters)
{
    lt_totals_init(t, stream);
    for (size_t i = 0; i < n_counters; i++)
        lt_totals_add_counter(t, counters[i], 0);
}

/* A whole decimal that fits int64: optional '-', then digits only. */
static int parse_int(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (len > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == len || len - i > 19)
        return LT_EPROTO;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return LT_EPROTO;
        v = v * 10 + (uint64_t)(s[i] - '0'); /* 19 digits cannot wrap a uint64 */
    }
    if (v > (uint64_t)INT64_MAX + (neg ? 1 : 0))
        return LT_EPROTO;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static bool name_is(const char *name, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(name, lit, len) == 0;
}

/* The int64 field of t that a name stands for, or NULL. */
static int64_t *int_field(struct lt_totals *t, const char *name, size_t len)
{
    static const struct {
        const char *name;
        size_t offset;
    } fields[] = {
        {"views", offsetof(struct lt_totals, views)},
        {"likes", offsetof(struct lt_totals, likes)},
        {"uniques", offsetof(struct lt_totals, uniques)},
        {"online", offsetof(struct lt_totals, online)},
        {"peak_online", offsetof(struct lt_totals, peak_online)},
        {"seq", offsetof(struct lt_totals, seq)},
        {"ts", offsetof(struct lt_totals, ts_ms)},
        {"peak_at", offsetof(struct lt_totals, peak_at_ms)},
        {"created_at", offsetof(struct lt_totals, created_ms)},
        {"updated_at", offsetof(struct lt_totals, updated_ms)},
        {"dropped_taps", offsetof(struct lt_totals, dropped_taps)},
        {"rejected", offsetof(struct lt_totals, rejected)},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (name_is(name, len, fields[i].name))
            return (int64_t *)(void *)((char *)t + fields[i].offset);
    return NULL;
}

/* s:<source>:views | s:<source>:likes (a source id has no ':'). */
static int decode_source(struct lt_totals *t, const char *name, size_t len, const char *value,
                         size_t value_len)
{
    const char *id = name + 2;
    const char *colon = memchr(id, ':', len - 2);
    if (!colon)
        return 0;
    size_t id_len = (size_t)(colon - id), rest = len - 2 - id_len - 1;
    bool views = name_is(colon + 1, rest, "views");
    if (!views && !name_is(colon + 1, rest, "likes"))
        return 0;
    int64_t v;
    if (parse_int(value, value_len, &v) != 0)
        return LT_EPROTO;
    struct lt_totals_source *src = lt_totals_source(t, id, id_len);
    if (!src)
        return LT_EPROTO; /* only valid ids are ever written */
    if (views)
        src->views = v;
    else
        src->likes = v;
    return 0;
}

/* r:<source>:<views|likes|at|lower>: a partner's latest report (read.lua). */
static int decode_reported(struct lt_totals *t, const char *name, size_t len, const char *value,
                           size_t value_len)
{
    const char *id = name + 2;
    const char *colon = memchr(id, ':', len - 2);
    if (!colon)
        return 0;
    size_t id_len = (size_t)(colon - id), rest = len - 2 - id_len - 1;
    int64_t v;
    if (parse_int(value, value_len, &v) != 0)
        return LT_EPROTO;
    struct lt_totals_source *src = lt_totals_source(t, id, id_len);
    if (!src)
        return LT_EPROTO; /* only valid ids are ever written */
    src->has_reported = true;
    if (name_is(colon + 1, rest, "views"))
        src->reported.views = v;
    else if (name_is(colon + 1, rest, "likes"))
        src->reported.likes = v;
    else if (name_is(colon + 1, rest, "at"))
        src->reported.at_ms = v;
    else if (name_is(colon + 1, rest, "lower"))
        src->reported.lower = v != 0;
    return 0;
}

/* g<k>:title | g<k>:started_at | g<k>:views | g<k>:likes | g<k>:uniques.
 * Segment k ends where k+1 starts, set here whichever of the two comes
 * first (read.lua's fields come in hash order). */
static int decode_segment(struct lt_totals *t, const char *name, size_t len, const char *value,
                          size_t value_len)
{
    const char *colon = memchr(name, ':', len);
    int64_t id;
    if (!colon || parse_int(name + 1, (size_t)(colon - name - 1), &id) != 0 || name[1] == '-')
        return LT_EPROTO;
    size_t rest = len - (size_t)(colon + 1 - name);
    const char *field = colon + 1;
    if (name_is(field, rest, "title")) {
        struct lt_totals_segment *g = lt_totals_segment(t, id);
        if (!g)
            return LT_EPROTO;
        lt_free(g->title);
        g->title = lt_strndup(value, value_len);
        return 0;
    }
    int64_t *slot = NULL, v;
    bool started = name_is(field, rest, "started_at");
    if (!started && !name_is(field, rest, "views") && !name_is(field, rest, "likes") &&
        !name_is(field, rest, "uniques"))
        return 0; /* a field of a later version */
    if (parse_int(value, value_len, &v) != 0)
        return LT_EPROTO;
    struct lt_totals_segment *g = lt_totals_segment(t, id);
    if (!g)
        return LT_EPROTO;
    if (started) {
        g->started_ms = v;
        if (id > 1)
            t->segments[id - 2].ended_ms = v;
        if ((size_t)id < t->n_segments)
            g->ended_ms = t->segments[id].started_ms;
        return 0;
    }
    slot = field[0] == 'v' ? &g->views : field[0] == 'l' ? &g->likes : &g->uniques;
    *slot = v;
    return 0;
}

int lt_store_decode_field(struct lt_totals *t, const char *name, size_t name_len, const char *value,
                          size_t value_len)
{
    int64_t *field = int_field(t, name, name_len);
    if (field)
        return parse_int(value, value_len, field);
    /* Not in int_field's table: they also say that they are known. */
    bool counted_views = name_is(name, name_len, "counted_views");
    if (counted_views || name_is(name, name_len, "counted_likes")) {
        int rc = parse_int(value, value_len, counted_views ? &t->counted_views : &t->counted_likes);
        if (rc == 0)
            t->has_counted = true;
        return rc;
    }
    if (name_is(name, name_len, "title")) {
        lt_totals_set_title(t, value, value_len);
        return 0;
    }
    if (name_is(name, name_len, "series")) {
        lt_totals_set_series(t, value, value_len);
        return 0;
    }
    if (name_is(name, name_len, "status")) {
        enum lt_stream_status st = lt_status_parse(value, value_len);
        if (st == LT_STATUS_NONE)
            return LT_EPROTO;
        t->status = st;
        return 0;
    }
    if (name_is(name, name_len, "starts_at")) {
        if (lt_parse_time(value, value_len, &t->starts_ms) != 0)
            return LT_EPROTO;
        t->has_starts = true;
        return 0;
    }
    if (name_len > 1 && name[0] == 'g' && name[1] >= '0' && name[1] <= '9')
        return decode_segment(t, name, name_len, value, value_len);
    if (name_len > 2 && memcmp(name, "c:", 2) == 0) {
        for (size_t i = 0; i < t->n_counters; i++) {
            if (name_is(name + 2, name_len - 2, t->counters[i].name))
                return parse_int(value, value_len, &t->counters[i].value);
        }
        return 0;
    }
    if (name_len > 2 && memcmp(name, "s:", 2) == 0)
        return decode_source(t, name, name_len, value, value_len);
    if (name_len > 2 && memcmp(name, "r:", 2) == 0)
        return decode_reported(t, name, name_len, value, value_len);
    return 0;
}

int lt_store_decode_push(struct lt_totals *t, const char *payload, size_t len)
{
    bool has_seq = false;
    size_t at = 0;
    if (len == 0)
        return LT_EPROTO;
    while (at < len) {
        const char *line = payload + at;
        const char *nl = memchr(line, '\n', len - at);
        size_t line_len = nl ? (size_t)(nl - line) : len - at;
        const char *sp = memchr(line, ' ', line_len);
        if (!sp || sp == line)
            return LT_EPROTO;
        size_t name_len = (size_t)(sp - line);
        int rc = lt_store_decode_field(t, line, name_len, sp + 1, line_len - name_len - 1);
        if (rc != 0)
            return rc;
        has_seq = has_seq || name_is(line, name_len, "seq");
        at += line_len;
        if (nl) {
            at++;
            if (at == len)
                return LT_EPROTO; /* a trailing '\n': an empty last line */
        }
    }
    return has_seq ? 0 : LT_EPROTO;
}
