/* Per-stream deltas and the exactly-once flush to Redis (see agg.h). */
#include "livetally/core/agg.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/ids.h"
#include "livetally/base/log.h"
#include "livetally/base/map.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/base/ptr_list.h"
#include "livetally/conf/config.h"
#include "livetally/spool/spool.h"
#include "livetally/spool/spool_replay.h"
#include "livetally/store/store.h"

#include <event2/event.h>
#include <string.h>

/* Distinct sources one stream may have in one worker between flushes. */
#define LT_MAX_SOURCES 64
/* Views per script call: bounds the script's run time (Redis is blocked
 * while it runs) and the argv size. */
#define LT_MAX_VIEWS_PER_BATCH 4000
/* A worker reports its subscribers of a stream when the number changes and
 * at least this often, well inside LT_ONLINE_TTL_MS (store.h). */
#define LT_ONLINE_REFRESH_MS 3000

struct agg_stream {
    char id[LT_STREAM_ID_MAX + 1]; /* a validated stream id, copied whole */
    /* Deltas since the last seal. Views point into sources[] by index. */
    struct lt_batch_source sources[LT_MAX_SOURCES]; /* source_index refuses more (LT_ETOOLARGE) */
    size_t n_sources;
    int64_t *counters;
    struct lt_batch_view *views;
    size_t n_views, cap_views;
    bool pending;

    struct lt_batch *inflight; /* sealed, not yet acknowledged */
    bool sealing;              /* inflight waits for its SEAL record to be durable */
    bool sent;                 /* inflight is with Redis now */
    /* Batches taken over from a predecessor's spool, sent one by one before
     * any of this worker's own (lt_agg_adopt_replay). */
    struct lt_batch **queued;
    size_t n_queued;
    int64_t pending_since_ms; /* wall clock: the oldest delta not sealed yet */
    bool dropped;              /* deleted while in flight: free on reply */
    bool indexed;              /* the index write was confirmed this active period */
    bool indexing;             /* an index write is out: free on its reply */
    int64_t created_ms;        /* from a batch reply: the stream exists; 0 unknown */
    bool online_due;           /* the next batch reports online_count */
    int64_t last_sent_ms;      /* when a batch of it last went to Redis */
    int64_t online_count;
    int64_t dropped_taps; /* refusals since the last seal (lt_agg_add_refused) */
    int64_t rejected;
    struct lt_agg *agg;
};

/* This worker's subscribers of a stream, as the hub reports them. */
struct online_entry {
    int64_t count;
    int64_t reported;    /* the count in the last sealed report; -1 none */
    int64_t reported_ms; /* when it was sealed */
};

struct lt_agg {
    const struct lt_config *cfg;
    struct lt_store *store;
    struct lt_spool *spool; /* NULL: nothing is spooled (tests) */
    struct event *tick; /* a quarter of flush_interval_ms: streams are paced one by one */
    struct event *kick; /* a stream that waited long enough goes on the next loop pass */
    struct lt_map streams; /* id -> struct agg_stream, only while active */
    struct lt_map online;  /* id -> struct online_entry, while reported */
    uint64_t next_seq;     /* one sequence for all streams of this incarnation */
    size_t backlog;        /* view entries + active streams */
    size_t n_counters;
    uint64_t failures;
    uint64_t index_failures;
};

static void agg_tick(evutil_socket_t fd, short what, void *arg);

static void checkpoint(void *arg, struct lt_spool_buf *buf);

struct lt_agg *lt_agg_new(struct event_base *base, const struct lt_config *cfg,
                          struct lt_store *store, struct lt_spool *spool)
{
    struct lt_agg *agg = lt_calloc(1, sizeof *agg);
    agg->cfg = cfg;
    agg->store = store;
    agg->spool = spool;
    if (spool)
        lt_spool_set_checkpoint(spool, checkpoint, agg);
    agg->n_counters = cfg->counters.n;
    agg->next_seq = 1;
    lt_map_init(&agg->streams);
    lt_map_init(&agg->online);
    agg->tick = event_new(base, -1, EV_PERSIST, agg_tick, agg);
    agg->kick = event_new(base, -1, 0, agg_tick, agg);
    int ms = cfg->flush_interval_ms / 4 > 0 ? cfg->flush_interval_ms / 4 : 1;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(agg->tick, &tv);
    return agg;
}

static void batch_free(struct lt_batch *b)
{
    if (!b)
        return;
    lt_free((char *)b->incarnation);
    lt_free(b->sources);
    lt_free(b->counters);
    lt_free(b->views);
    lt_free(b);
}

static void stream_free(struct agg_stream *s)
{
    batch_free(s->inflight);
    for (size_t i = 0; i < s->n_queued; i++)
        batch_free(s->queued[i]);
    lt_free(s->queued);
    lt_free(s->counters);
    lt_free(s->views);
    lt_free(s);
}

void lt_agg_free(struct lt_agg *agg)
{
    if (!agg)
        return;
    size_t i;
    for (struct lt_map_entry *e = lt_map_next(&agg->streams, NULL, &i); e;
         e = lt_map_next(&agg->streams, e, &i)) {
        struct agg_stream *s = e->value;
        if (s->sent || s->indexing || s->sealing)
            s->dropped = true; /* the store's (or spool's) last callback frees it */
        else
            stream_free(s);
    }
    lt_map_clear(&agg->streams);
    for (struct lt_map_entry *e = lt_map_next(&agg->online, NULL, &i); e;
         e = lt_map_next(&agg->online, e, &i))
        lt_free(e->value);
    lt_map_clear(&agg->online);
    event_free(agg->tick);
    event_free(agg->kick);
    lt_free(agg);
}

void lt_agg_set_config(struct lt_agg *agg, const struct lt_config *cfg)
{
    /* Counters are fixed for the process: batches index them by position
     * (a reload keeps them, config.h). The tick follows flush_interval_ms. */
    agg->cfg = cfg;
    int ms = cfg->flush_interval_ms / 4 > 0 ? cfg->flush_interval_ms / 4 : 1;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(agg->tick, &tv);
}

bool lt_agg_can_accept(const struct lt_agg *agg, size_t n_views)
{
    return agg->backlog + n_views + 1 <= (size_t)agg->cfg->redis_max_backlog;
}

size_t lt_agg_backlog(const struct lt_agg *agg)
{
    return agg->backlog;
}

static void update_gauges(const struct lt_agg *agg)
{
    lt_metrics->backlog_entries = agg->backlog;
    lt_metrics->streams_dirty = agg->streams.count;
}

static struct agg_stream *stream_get(struct lt_agg *agg, const char *id)
{
    size_t len = strlen(id);
    struct agg_stream *s = lt_map_get(&agg->streams, id, len);
    if (s)
        return s;
    s = lt_calloc(1, sizeof *s);
    memcpy(s->id, id, len + 1);
    s->agg = agg;
    s->counters = lt_calloc(agg->n_counters ? agg->n_counters : 1, sizeof *s->counters);
    lt_map_put(&agg->streams, id, len, s);
    return s;
}

/* Deltas arrived. A stream whose last batch is at least flush_interval_ms
 * old goes at once (on the next loop pass) rather than at the next tick:
 * the leading edge of a burst costs no wait, and a busy stream still sends
 * one batch per interval. */
static void mark_pending(struct lt_agg *agg, struct agg_stream *s)
{
    if (s->pending)
        return;
    s->pending = true;
    s->pending_since_ms = lt_wall_ms();
    if (s->inflight || s->n_queued)
        return;
    agg->backlog++; /* the stream counts in the backlog while it has deltas */
    if (lt_mono_ms() - s->last_sent_ms >= agg->cfg->flush_interval_ms)
        event_active(agg->kick, EV_TIMEOUT, 1);
}

static int source_index(struct agg_stream *s, const char *source)
{
    if (!source)
        source = LT_DEFAULT_SOURCE;
    for (size_t i = 0; i < s->n_sources; i++)
        if (strcmp(s->sources[i].name, source) == 0)
            return (int)i;
    if (s->n_sources == LT_MAX_SOURCES)
        return LT_ETOOLARGE;
    struct lt_batch_source *src = &s->sources[s->n_sources];
    snprintf(src->name, sizeof src->name, "%s", source);
    src->likes = 0;
    return (int)s->n_sources++;
}

bool lt_agg_can_add(struct lt_agg *agg, const char *stream, const char *source)
{
    const struct agg_stream *s = lt_map_get(&agg->streams, stream, strlen(stream));
    if (!s || s->n_sources < LT_MAX_SOURCES)
        return true;
    if (!source)
        source = LT_DEFAULT_SOURCE;
    for (size_t i = 0; i < s->n_sources; i++)
        if (strcmp(s->sources[i].name, source) == 0)
            return true;
    return false;
}

int lt_agg_add_view(struct lt_agg *agg, const char *stream, const char *viewer,
                    const char *source)
{
    struct agg_stream *s = stream_get(agg, stream);
    int src = source_index(s, source);
    if (src < 0)
        return src;
    if (s->n_views == s->cap_views) {
        s->cap_views = s->cap_views ? s->cap_views * 2 : 16;
        s->views = lt_realloc(s->views, s->cap_views * sizeof *s->views);
    }
    struct lt_batch_view *v = &s->views[s->n_views++];
    snprintf(v->viewer, sizeof v->viewer, "%s", viewer);
    v->source = (uint16_t)src;
    mark_pending(agg, s);
    agg->backlog++;
    return 0;
}

int lt_agg_add_likes(struct lt_agg *agg, const char *stream, const char *source, int64_t n)
{
    struct agg_stream *s = stream_get(agg, stream);
    int src = source_index(s, source);
    if (src < 0)
        return src;
    s->sources[src].likes += n;
    mark_pending(agg, s);
    return 0;
}

int lt_agg_add_counter(struct lt_agg *agg, const char *stream, size_t counter_index, int64_t n)
{
    if (counter_index >= agg->n_counters)
        return LT_EINVAL;
    struct agg_stream *s = stream_get(agg, stream);
    s->counters[counter_index] += n;
    mark_pending(agg, s);
    return 0;
}

int lt_agg_add_refused(struct lt_agg *agg, const char *stream, int64_t dropped_taps,
                       int64_t rejected)
{
    struct agg_stream *s = stream_get(agg, stream);
    s->dropped_taps += dropped_taps;
    s->rejected += rejected;
    mark_pending(agg, s);
    return 0;
}

/* Moves the deltas into a new batch; views beyond the per-batch bound stay
 * pending for the next one. */
static struct lt_batch *seal(struct lt_agg *agg, struct agg_stream *s)
{
    struct lt_batch *b = lt_calloc(1, sizeof *b);
    memcpy(b->stream, s->id, sizeof b->stream);
    b->seq = agg->next_seq++;
    b->at_ms = lt_wall_ms();
    b->n_sources = s->n_sources;
    b->sources = lt_malloc((s->n_sources ? s->n_sources : 1) * sizeof *b->sources);
    memcpy(b->sources, s->sources, s->n_sources * sizeof *b->sources);
    b->n_counters = agg->n_counters;
    b->counters = s->counters;
    s->counters = lt_calloc(agg->n_counters ? agg->n_counters : 1, sizeof *s->counters);
    size_t take = s->n_views < LT_MAX_VIEWS_PER_BATCH ? s->n_views : LT_MAX_VIEWS_PER_BATCH;
    if (take == s->n_views) {
        b->views = s->views;
        b->n_views = take;
        s->views = NULL;
        s->n_views = s->cap_views = 0;
        s->n_sources = 0; /* no view refers to the table any more */
    } else {
        b->views = lt_malloc(take * sizeof *b->views);
        memcpy(b->views, s->views, take * sizeof *b->views);
        b->n_views = take;
        memmove(s->views, s->views + take, (s->n_views - take) * sizeof *s->views);
        s->n_views -= take;
        for (size_t i = 0; i < s->n_sources; i++)
            s->sources[i].likes = 0;
    }
    b->online = s->online_due ? s->online_count : -1;
    b->dropped_taps = s->dropped_taps;
    b->rejected = s->rejected;
    s->dropped_taps = s->rejected = 0;
    s->online_due = false;
    s->pending = s->n_views > 0;
    if (s->pending)
        s->pending_since_ms = b->at_ms;
    return b;
}

static void on_batch_done(void *arg, int err, const struct lt_batch_result *res);

static void on_indexed(void *arg, int err)
{
    struct agg_stream *s = arg;
    struct lt_agg *agg = s->agg;
    s->indexing = false;
    if (s->dropped) {
        if (!s->sent && !s->sealing)
            stream_free(s);
        return;
    }
    if (err) {
        /* Not in the index yet: the next tick tries again. */
        if (agg->index_failures++ % 100 == 0)
            lt_warn("agg", "adding stream %s to the stream index failed (%s); will retry", s->id,
                    lt_strerror(err));
        return;
    }
    agg->index_failures = 0;
    s->indexed = true;
}

/* The index spans streams, so it is written apart from the stream's
 * batch, idempotently, once the stream's own keys exist. */
static void index_if_due(struct lt_agg *agg, struct agg_stream *s)
{
    if (s->indexed || s->indexing || s->created_ms <= 0)
        return;
    if (lt_store_index_stream(agg->store, s->id, s->created_ms, on_indexed, s) == 0)
        s->indexing = true;
}

static void send_inflight(struct lt_agg *agg, struct agg_stream *s)
{
    s->last_sent_ms = lt_mono_ms();
    if (s->sealing)
        return; /* on_sealed sends it */
    if (lt_store_apply_batch(agg->store, s->inflight, on_batch_done, s) == 0) {
        s->sent = true;
        lt_metrics->redis_batches_sent_total++;
    }
}

/* The SEAL is durable (synced, unless spool.fsync is no): now the batch
 * may reach Redis, since replay will never count its events again as
 * pending, whatever dies. */
static void on_sealed(void *arg)
{
    struct agg_stream *s = arg;
    s->sealing = false;
    if (s->dropped) {
        if (!s->sent && !s->indexing)
            stream_free(s);
        return;
    }
    send_inflight(s->agg, s);
}

static void seal_record(struct lt_agg *agg, struct agg_stream *s)
{
    if (!agg->spool)
        return;
    const struct lt_batch *b = s->inflight;
    lt_spool_append_seal(agg->spool, s->id, NULL, b->seq, b->at_ms, (uint32_t)b->n_views);
    s->sealing = true;
    lt_spool_wait(agg->spool, LT_SPOOL_DURABLE, on_sealed, s);
}

static void stream_retire(struct lt_agg *agg, struct agg_stream *s)
{
    lt_map_remove(&agg->streams, s->id, strlen(s->id));
    stream_free(s);
    update_gauges(agg);
}

static void on_batch_done(void *arg, int err, const struct lt_batch_result *res)
{
    struct agg_stream *s = arg;
    struct lt_agg *agg = s->agg;
    s->sent = false;
    if (s->dropped) {
        if (!s->indexing)
            stream_free(s);
        return;
    }
    if (err) {
        /* Unknown outcome: keep the batch as it is and resend it. */
        lt_metrics->redis_batch_failures_total++;
        if (agg->failures++ % 100 == 0)
            lt_warn("agg", "batch for stream %s not acknowledged (%s); will resend", s->id,
                    lt_strerror(err));
        return;
    }
    if (agg->failures) {
        lt_info("agg", "batches acknowledged again after %llu failures",
                (unsigned long long)agg->failures);
        agg->failures = 0;
    }
    if (res->applied)
        lt_metrics->redis_batches_applied_total++;
    else
        lt_metrics->redis_batches_duplicate_total++;
    agg->backlog -= s->inflight->n_views + (s->pending || s->n_queued ? 0 : 1);
    /* Redis has it: replay need not send it again. */
    if (agg->spool)
        lt_spool_append_ack(agg->spool, s->id, s->inflight->incarnation, s->inflight->seq);
    batch_free(s->inflight);
    s->inflight = NULL;
    /* Once per active period of the stream in this worker keeps the index
     * write off the per-batch path. */
    if (res->created_ms > 0)
        s->created_ms = res->created_ms;
    index_if_due(agg, s);
    update_gauges(agg);
}

void lt_agg_set_online(struct lt_agg *agg, const char *stream, int64_t count)
{
    size_t len = strlen(stream);
    struct online_entry *o = lt_map_get(&agg->online, stream, len);
    if (!o) {
        if (count == 0)
            return;
        o = lt_malloc(sizeof *o);
        o->reported = -1;
        o->reported_ms = 0;
        lt_map_put(&agg->online, stream, len, o);
    }
    o->count = count;
}

/* Marks the online reports that are due on their streams' next batch, and
 * forgets streams whose zero was reported. */
static void schedule_online(struct lt_agg *agg, int64_t now)
{
    /* Removed after the walk (the map may not change under lt_map_next);
     * every one of them, however many (ptr_list.h). */
    struct lt_ptr_list gone;
    lt_ptr_list_init(&gone);
    size_t i;
    for (struct lt_map_entry *e = lt_map_next(&agg->online, NULL, &i); e;
         e = lt_map_next(&agg->online, e, &i)) {
        struct online_entry *o = e->value;
        if (o->count == 0 && o->reported == 0) {
            lt_ptr_list_push(&gone, e->key);
            continue;
        }
        if (o->count == o->reported && now - o->reported_ms < LT_ONLINE_REFRESH_MS)
            continue;
        struct agg_stream *s = stream_get(agg, e->key);
        if (s->inflight || s->n_queued)
            continue; /* the next tick */
        s->online_due = true;
        s->online_count = o->count;
        mark_pending(agg, s);
        o->reported = o->count;
        o->reported_ms = now;
    }
    for (size_t k = 0; k < gone.n; k++) {
        const char *key = gone.items[k];
        lt_free(lt_map_remove(&agg->online, key, strlen(key)));
    }
    lt_ptr_list_free(&gone);
}

/* Seals and sends what is due: every stream when forced (shutdown), else
 * those whose last batch is at least flush_interval_ms old. A stream idle
 * for a whole interval is forgotten (its pacing is over). */
static void flush(struct lt_agg *agg, bool force)
{
    int64_t now = lt_mono_ms();
    schedule_online(agg, now);
    /* Retired after the walk (it removes them from the map); all of them,
     * however many (ptr_list.h). */
    struct lt_ptr_list idle;
    lt_ptr_list_init(&idle);
    int64_t oldest = 0; /* wall ms of the oldest delta or batch not acknowledged */
    size_t i;
    for (struct lt_map_entry *e = lt_map_next(&agg->streams, NULL, &i); e;
         e = lt_map_next(&agg->streams, e, &i)) {
        struct agg_stream *s = e->value;
        int64_t since = s->inflight ? s->inflight->at_ms
                        : s->n_queued ? s->queued[0]->at_ms
                        : s->pending  ? s->pending_since_ms
                                      : 0;
        if (since > 0 && (oldest == 0 || since < oldest))
            oldest = since;
        if (s->sent || s->sealing)
            continue;
        index_if_due(agg, s); /* a failed index write is tried again */
        /* Forced (shutdown) or due, or idle: then forgotten, its pacing over. */
        bool due = force || now - s->last_sent_ms >= agg->cfg->flush_interval_ms;
        if (!due)
            continue;
        if (!s->inflight && s->n_queued) {
            /* A predecessor's batches first, in their order: already
             * durable in this worker's own spool (its checkpoint). */
            s->inflight = s->queued[0];
            memmove(s->queued, s->queued + 1, --s->n_queued * sizeof *s->queued);
        } else if (!s->inflight && s->pending) {
            /* A spool too full for the SEAL: the deltas wait (the spool is
             * unavailable meanwhile, so no more come). */
            if (agg->spool && !lt_spool_room_for_seal(agg->spool))
                continue;
            s->inflight = seal(agg, s);
            seal_record(agg, s);
        }
        if (s->inflight)
            send_inflight(agg, s);
        else if (!s->indexing && (s->indexed || s->created_ms <= 0))
            lt_ptr_list_push(&idle, s); /* kept while its index write is not confirmed */
    }
    for (size_t k = 0; k < idle.n; k++)
        stream_retire(agg, idle.items[k]);
    lt_ptr_list_free(&idle);
    int64_t age = oldest > 0 ? lt_wall_ms() - oldest : 0;
    lt_metrics->spool_oldest_unapplied_seconds = agg->spool && age > 0 ? (uint64_t)age / 1000 : 0;
    update_gauges(agg);
}

void lt_agg_flush(struct lt_agg *agg)
{
    flush(agg, true);
}

static void agg_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush(arg, false);
}

void lt_agg_drop_stream(struct lt_agg *agg, const char *stream)
{
    struct agg_stream *s = lt_map_remove(&agg->streams, stream, strlen(stream));
    if (!s)
        return;
    size_t queued_views = 0;
    for (size_t k = 0; k < s->n_queued; k++)
        queued_views += s->queued[k]->n_views;
    agg->backlog -= (s->pending || s->inflight || s->n_queued ? 1 : 0) + s->n_views +
                    (s->inflight ? s->inflight->n_views : 0) + queued_views;
    if (s->sent || s->indexing || s->sealing)
        s->dropped = true;
    else
        stream_free(s);
    update_gauges(agg);
}

bool lt_agg_idle(const struct lt_agg *agg)
{
    size_t i;
    for (struct lt_map_entry *e = lt_map_next(&agg->streams, NULL, &i); e;
         e = lt_map_next(&agg->streams, e, &i)) {
        const struct agg_stream *s = e->value;
        if (s->pending || s->inflight || s->n_queued)
            return false;
    }
    return true;
}

/* ---- the spool: checkpoints and a predecessor's state ------------------ */

/* The whole unapplied state as records (spool.h): what replay rebuilds. */
static void checkpoint(void *arg, struct lt_spool_buf *buf)
{
    struct lt_agg *agg = arg;
    char *const *names = agg->cfg->counters.items;
    const char *own = lt_spool_incarnation(agg->spool);
    size_t i;
    for (struct lt_map_entry *e = lt_map_next(&agg->streams, NULL, &i); e;
         e = lt_map_next(&agg->streams, e, &i)) {
        const struct agg_stream *s = e->value;
        if (s->inflight)
            lt_spool_put_batch(buf, s->inflight, s->inflight->incarnation ? s->inflight->incarnation : own,
                               names);
        for (size_t k = 0; k < s->n_queued; k++)
            lt_spool_put_batch(buf, s->queued[k],
                               s->queued[k]->incarnation ? s->queued[k]->incarnation : own, names);
        struct lt_spool_event ev = {.stream = s->id};
        ev.kind = LT_SPOOL_VIEW;
        for (size_t k = 0; k < s->n_views; k++) {
            ev.viewer = s->views[k].viewer;
            ev.source = s->sources[s->views[k].source].name;
            lt_spool_put_event(buf, &ev);
        }
        ev.kind = LT_SPOOL_LIKES;
        for (size_t k = 0; k < s->n_sources; k++) {
            if (!s->sources[k].likes)
                continue;
            ev.source = s->sources[k].name;
            ev.n = s->sources[k].likes;
            lt_spool_put_event(buf, &ev);
        }
        ev.kind = LT_SPOOL_COUNTER;
        for (size_t k = 0; k < agg->n_counters; k++) {
            if (!s->counters[k])
                continue;
            ev.counter = names[k];
            ev.n = s->counters[k];
            lt_spool_put_event(buf, &ev);
        }
        if (s->dropped_taps || s->rejected) {
            ev.kind = LT_SPOOL_REFUSED;
            ev.n = s->dropped_taps;
            ev.rejected = s->rejected;
            lt_spool_put_event(buf, &ev);
        }
    }
}

/* Queues a batch to be sent before the stream's own deltas; it holds the
 * stream's place in the backlog like a sealed batch. */
static void enqueue(struct lt_agg *agg, struct lt_batch *b)
{
    struct agg_stream *s = stream_get(agg, b->stream);
    if (!s->inflight && !s->n_queued && !s->pending)
        agg->backlog++;
    agg->backlog += b->n_views;
    s->queued = lt_realloc(s->queued, (s->n_queued + 1) * sizeof *s->queued);
    s->queued[s->n_queued++] = b;
    event_active(agg->kick, EV_TIMEOUT, 1);
}

/* The configured counters of a replayed batch, by position; a name this
 * config does not know is dropped with a warning. */
static int64_t *map_counters(struct lt_agg *agg, const struct lt_spool_batch *sb)
{
    int64_t *out = lt_calloc(agg->n_counters ? agg->n_counters : 1, sizeof *out);
    for (size_t i = 0; i < sb->n_counters; i++) {
        size_t k = 0;
        while (k < agg->n_counters && strcmp(agg->cfg->counters.items[k], sb->counters[i].name))
            k++;
        if (k < agg->n_counters)
            out[k] += sb->counters[i].value;
        else
            lt_warn("agg", "replay: counter %s of stream %s is not configured; its %lld dropped",
                    sb->counters[i].name, sb->b.stream, (long long)sb->counters[i].value);
    }
    return out;
}

void lt_agg_adopt_replay(struct lt_agg *agg, struct lt_spool_replay *r)
{
    for (size_t i = 0; i < r->n_batches; i++) {
        struct lt_spool_batch *sb = r->batches[i];
        struct lt_batch *b = lt_malloc(sizeof *b);
        *b = sb->b;
        b->incarnation = lt_strdup(sb->incarnation);
        b->counters = map_counters(agg, sb);
        b->n_counters = agg->n_counters;
        b->online = -1;
        sb->b.sources = NULL; /* moved to b */
        sb->b.views = NULL;
        enqueue(agg, b);
    }
    /* Deltas the predecessor had not sealed: sealed now, as this worker's
     * own batches, at most LT_MAX_VIEWS_PER_BATCH views each. */
    for (size_t i = 0; i < r->n_pending; i++) {
        const struct lt_spool_batch *p = r->pending[i];
        if (!p)
            continue;
        size_t done = 0;
        bool first = true;
        while (first || done < p->b.n_views) {
            size_t take = p->b.n_views - done;
            if (take > LT_MAX_VIEWS_PER_BATCH)
                take = LT_MAX_VIEWS_PER_BATCH;
            struct lt_batch *b = lt_calloc(1, sizeof *b);
            memcpy(b->stream, p->b.stream, sizeof b->stream);
            b->seq = agg->next_seq++;
            b->at_ms = lt_wall_ms();
            b->online = -1;
            b->n_sources = p->b.n_sources;
            b->sources = lt_malloc((p->b.n_sources ? p->b.n_sources : 1) * sizeof *b->sources);
            if (p->b.n_sources) /* NULL when none: memcpy may not take it */
                memcpy(b->sources, p->b.sources, p->b.n_sources * sizeof *b->sources);
            b->n_counters = agg->n_counters;
            if (first) {
                b->counters = map_counters(agg, p);
                b->dropped_taps = p->b.dropped_taps;
                b->rejected = p->b.rejected;
            } else {
                b->counters = lt_calloc(agg->n_counters ? agg->n_counters : 1, sizeof *b->counters);
                for (size_t k = 0; k < b->n_sources; k++)
                    b->sources[k].likes = 0;
            }
            b->views = lt_malloc((take ? take : 1) * sizeof *b->views);
            if (take)
                memcpy(b->views, p->b.views + done, take * sizeof *b->views);
            b->n_views = take;
            done += take;
            first = false;
            enqueue(agg, b);
        }
    }
    update_gauges(agg);
}
