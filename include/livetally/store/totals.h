/* The domain model that store, hub and API exchange: a stream's totals
 * (struct lt_totals) and one worker's counts for a stream (struct
 * lt_batch). Nothing here knows Redis or JSON: the store fills totals from
 * what its scripts return and publish (store_decode.h), the API writes the
 * wire forms from them (api/totals_json.h).
 *
 * Ownership: a struct lt_totals owns every pointer in it. lt_totals_init
 * makes an empty one, lt_totals_free releases what it holds (not the struct
 * itself, which is usually on the stack or inside another struct), and
 * lt_totals_copy makes an independent deep copy. A totals handed to a
 * callback is borrowed for the callback's duration: copy it to keep it. */
#ifndef LIVETALLY_TOTALS_H
#define LIVETALLY_TOTALS_H

#include "livetally/base/ids.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lt_stream_status {
    LT_STATUS_NONE = 0, /* the stream does not exist */
    LT_STATUS_SCHEDULED,
    LT_STATUS_LIVE,
    LT_STATUS_ENDED,
};
const char *lt_status_name(enum lt_stream_status status);
/* "scheduled" | "live" | "ended" -> the status, else LT_STATUS_NONE. */
enum lt_stream_status lt_status_parse(const char *name, size_t len);

/* ---- totals ------------------------------------------------------------ */

/* A partner's latest report of a source (API.md: sources.X.reported),
 * from lt:{id}:reported (put_reported.lua). lower: it was below the
 * source's report before it (views or likes). */
struct lt_totals_reported {
    int64_t views;
    int64_t likes;
    int64_t at_ms;
    bool lower;
};

struct lt_totals_source {
    char name[LT_SOURCE_ID_MAX + 1];
    int64_t views; /* counted here */
    int64_t likes;
    bool has_reported;
    struct lt_totals_reported reported;
};

/* name is owned by the totals (a copy of the configured counter's name). */
struct lt_totals_counter {
    char *name;
    int64_t value;
};

/* A segment of the stream (an operator started it: POST
 * /v1/streams/{id}/segments). Segment id k runs from started_ms until
 * segment k+1's start (ended_ms); the last one runs until the stream ends
 * (ended_ms 0). views and likes are exact (each applied batch is counted in
 * exactly one segment, by its at_ms); uniques is an estimate (HyperLogLog).
 * title is owned by the totals (NULL: not read). */
#define LT_SEGMENTS_MAX 200      /* segments one stream may have */
#define LT_SEGMENT_TITLE_MAX 256 /* bytes of UTF-8 */
struct lt_totals_segment {
    int64_t id; /* 1, 2, ... in start order */
    char *title;
    int64_t started_ms, ended_ms; /* epoch ms; ended_ms 0: still running */
    int64_t views, likes, uniques;
};

struct lt_totals {
    char stream[LT_STREAM_ID_MAX + 1];
    char *title;  /* NULL: none */
    char *series; /* NULL: none */
    enum lt_stream_status status;
    /* The pushed fields (the WebSocket/SSE totals message). views and likes
     * are what the contract calls them: counted here plus reported. */
    int64_t views;
    int64_t uniques;
    int64_t likes;
    int64_t online;
    int64_t peak_online;
    int64_t seq;   /* the stream's change counter (API.md) */
    int64_t ts_ms; /* when these totals were true: publish or read time */
    /* What was counted here alone: views and likes without the partners'
     * reports (the totals hash's own views and likes), pushed beside them
     * so that a per-minute chart never takes a report for a minute's
     * views. has_counted: they are known (every script publishes and reads
     * them; a message from an earlier version's script has neither). */
    bool has_counted;
    int64_t counted_views;
    int64_t counted_likes;
    /* Times in epoch ms, 0 when unknown (never set). */
    int64_t peak_at_ms;
    int64_t created_ms;
    int64_t updated_ms;
    /* Refusals counted for this stream (not in the public totals object;
     * the report's counting method shows them): like taps dropped by the
     * like budgets, and events rejected (invalid, over budget, or refused
     * by the aggregator). */
    int64_t dropped_taps;
    int64_t rejected;
    bool has_starts; /* starts_ms is set (any time, 1970 included) */
    int64_t starts_ms;
    /* Configured counters, in config order (a stream that never counted
     * one has it at 0). */
    struct lt_totals_counter *counters;
    size_t n_counters;
    /* Sources in the order the store met them. */
    struct lt_totals_source *sources;
    size_t n_sources, cap_sources;
    /* Segments by id: segments[k - 1] is segment k. */
    struct lt_totals_segment *segments;
    size_t n_segments;
};

/* An empty totals of stream (NULL: no id yet): zeros, status live. */
void lt_totals_init(struct lt_totals *t, const char *stream);
/* Releases what t holds and leaves it empty (as lt_totals_init(t, NULL)
 * would, stream id kept); t itself is the caller's. */
void lt_totals_free(struct lt_totals *t);
/* dst (uninitialised, or freed) becomes a deep copy of src. */
void lt_totals_copy(struct lt_totals *dst, const struct lt_totals *src);
/* Replaces the title or series (NULL, or len bytes that are copied). */
void lt_totals_set_title(struct lt_totals *t, const char *title, size_t len);
void lt_totals_set_series(struct lt_totals *t, const char *series, size_t len);
/* Appends a counter (its name copied). */
void lt_totals_add_counter(struct lt_totals *t, const char *name, int64_t value);
/* The source named name[0..len), added with zeros when absent. NULL when
 * the name is not a valid source id. The pointer lasts until the next
 * source is added. */
struct lt_totals_source *lt_totals_source(struct lt_totals *t, const char *name, size_t len);

/* Segment id (1..LT_SEGMENTS_MAX), added with zeros (and the ones before
 * it) when absent; NULL when id is out of range. The pointer lasts until a
 * segment of a higher id is added. */
struct lt_totals_segment *lt_totals_segment(struct lt_totals *t, int64_t id);

/* ---- batches ----------------------------------------------------------- */

/* One stream's counts from one worker, applied as one unit. The store does
 * not copy a batch: it must stay unchanged until the apply callback has run
 * (agg.c resends the same batch until it is acknowledged). The batch and
 * every array in it belong to whoever built it (agg.c). */
struct lt_batch_view {
    char viewer[LT_VIEWER_ID_MAX + 1];
    uint16_t source; /* index into sources[] */
};
struct lt_batch_source {
    char name[LT_SOURCE_ID_MAX + 1];
    int64_t likes;
};

/* Room for the dimensions to come without changing this struct's callers:
 * each is a list of deltas keyed along its dimension (a time bucket, a
 * segment, a reported source). None is produced yet: a store refuses a
 * batch that carries a kind it does not apply (LT_EINVAL), so a delta is
 * never accepted and ignored. */
enum lt_batch_dim_kind {
    LT_DIM_TIME_BUCKET = 1, /* key: the bucket's start, epoch ms in decimal */
    LT_DIM_SEGMENT,         /* key: the segment id (unused: the store finds a
                             * batch's segment from at_ms, in Redis) */
    LT_DIM_REPORTED_SOURCE, /* key: the source; views/likes are absolute */
};
struct lt_batch_dim {
    enum lt_batch_dim_kind kind;
    char key[LT_STREAM_ID_MAX + 1];
    int64_t views;
    int64_t likes;
};

struct lt_batch {
    char stream[LT_STREAM_ID_MAX + 1];
    /* The incarnation whose high-water mark the batch is applied under;
     * NULL: the store's own. A successor resends a predecessor's batch
     * under the predecessor's incarnation (spool.h), so that a batch Redis
     * applied already is a duplicate. Owned by whoever owns the batch. */
    const char *incarnation;
    uint64_t seq;  /* per (incarnation, stream), from 1 */
    /* When the batch was sealed: the time of its views, and the time bucket
     * all its counts go to (timeseries.h). At most flush_interval_ms after
     * its events were accepted; a resend keeps it, so it lands in the same
     * bucket. Bucketing by it needs no LT_DIM_TIME_BUCKET dimension. */
    int64_t at_ms;
    struct lt_batch_source *sources;
    size_t n_sources;
    int64_t *counters; /* one per configured counter, in config order */
    size_t n_counters;
    struct lt_batch_view *views;
    size_t n_views;
    int64_t online;            /* this worker's subscribers of the stream; -1: no report */
    int64_t dropped_taps;      /* like taps dropped by the budgets since the last batch */
    int64_t rejected;          /* events rejected since the last batch */
    struct lt_batch_dim *dims; /* further dimensions (see above); none yet */
    size_t n_dims;
};

struct lt_batch_result {
    bool applied; /* false: the store had applied this seq before (a resend) */
    int64_t views_counted;
    int64_t stream_seq; /* the stream's change counter after the batch */
    int64_t created_ms; /* the stream's created_at; 0: the stream does not exist */
};

#endif
