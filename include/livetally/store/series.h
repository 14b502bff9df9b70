/* The model of a series' totals (API.md: GET /v1/series/{id}): the sums of
 * its streams and the streams' own totals. Like totals.h, nothing here knows
 * Redis or JSON: the store fills it (lt_store_get_series), the API writes it
 * (api/totals_json.h).
 *
 * What is summed: views, likes and each configured counter exactly (each
 * stream's figure as its totals object gives it: counted here plus
 * partner-reported). uniques is not a sum: the store sets it to its
 * estimate of the distinct viewers across the streams (a HyperLogLog union),
 * so a viewer who watched two sessions counts once.
 *
 * Ownership: a struct lt_series_totals owns everything in it, its streams
 * included; lt_series_free releases that (not the struct itself). A series
 * handed to a callback is borrowed for the callback's duration. */
#ifndef LIVETALLY_SERIES_H
#define LIVETALLY_SERIES_H

#include "livetally/base/ids.h"
#include "livetally/store/totals.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most streams one series read covers. A series with more is read as
 * its LT_SERIES_MAX_STREAMS earliest-created streams (their sums and their
 * list) with truncated set, never a sum that silently covers fewer streams
 * than it lists or the other way round. */
#define LT_SERIES_MAX_STREAMS 500

struct lt_series_totals {
    char series[LT_SERIES_ID_MAX + 1];
    int64_t views;
    int64_t likes;
    int64_t uniques;
    /* Configured counters, in config order (names owned). */
    struct lt_totals_counter *counters;
    size_t n_counters;
    /* The streams, in the order lt_series_sort gives. */
    struct lt_totals *streams;
    size_t n_streams, cap_streams;
    bool truncated; /* the series has more than LT_SERIES_MAX_STREAMS streams */
};

/* An empty series named series with the configured counters (n of them)
 * at 0. */
void lt_series_init(struct lt_series_totals *s, const char *series, char *const *counters,
                    size_t n_counters);
/* Releases what s holds (its streams too) and leaves it empty. */
void lt_series_free(struct lt_series_totals *s);
/* Moves *t into s (t is left empty, as lt_totals_init leaves it) and adds
 * its views, likes and counters to the sums. A counter of t that s does
 * not have is not summed (it is not configured). */
void lt_series_add_stream(struct lt_series_totals *s, struct lt_totals *t);
/* Orders the streams by their start: starts_at when set, else created_at,
 * earliest first; the same start by stream id. */
void lt_series_sort(struct lt_series_totals *s);

#endif
