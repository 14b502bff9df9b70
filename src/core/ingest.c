/* The counting rules of both transports (see ingest.h). */
#include "livetally/core/ingest.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/ids.h"
#include "livetally/base/list.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/conf/config.h"
#include "livetally/core/agg.h"
#include "livetally/core/likes_budget.h"
#include "livetally/core/stream_cache.h"
#include "livetally/spool/spool.h"

#include <string.h>

/* A lookup under way for lt_ingest_open. */
struct pending {
    struct pending *prev, *next;
    struct lt_ingest *owner; /* NULL once the ingest is freed */
    lt_ingest_open_cb *cb;
    void *arg;
    size_t n_views, n_events;
    char stream[LT_STREAM_ID_MAX + 1];
};

struct lt_ingest {
    const struct lt_config *cfg;
    struct lt_agg *agg;
    struct lt_stream_cache *cache;
    struct lt_spool *spool; /* NULL: nothing spooled (tests) */
    struct lt_likes_budget *per_viewer;
    struct lt_likes_budget *per_client;
    struct pending *pending;
};

const char *lt_ingest_reason(enum lt_ingest_code code)
{
    switch (code) {
    case LT_INGEST_OK:
        return "accepted";
    case LT_INGEST_NOT_READY:
        return "the store (Redis) is not reachable right now";
    case LT_INGEST_UNKNOWN_STREAM:
        return "no such stream (streams.auto_create is off: an operator creates it)";
    case LT_INGEST_STREAM_ENDED:
        return "the stream has ended";
    case LT_INGEST_OVERLOADED:
        return "events are waiting for the store (Redis); retry shortly";
    case LT_INGEST_RATE_LIMITED:
        return "over the like budget of the viewer or client address";
    case LT_INGEST_TOO_MANY_SOURCES:
        return "too many sources for this stream right now";
    case LT_INGEST_SPOOL_UNAVAILABLE:
        return "the spool cannot keep events right now (disk full or not writable); retry shortly";
    }
    return "?";
}

struct lt_ingest *lt_ingest_new(const struct lt_config *cfg, struct lt_agg *agg,
                                struct lt_stream_cache *cache, struct lt_spool *spool)
{
    struct lt_ingest *ing = lt_calloc(1, sizeof *ing);
    ing->cfg = cfg;
    ing->agg = agg;
    ing->cache = cache;
    ing->spool = spool;
    ing->per_viewer = lt_likes_budget_new(cfg->likes_rate_per_second, cfg->likes_burst);
    ing->per_client =
        lt_likes_budget_new(cfg->likes_per_client_rate_per_second, cfg->likes_per_client_burst);
    return ing;
}

void lt_ingest_free(struct lt_ingest *ing)
{
    if (!ing)
        return;
    /* The stream cache still holds these as callback arguments: they answer
     * LT_INGEST_NOT_READY and free themselves when it calls back. */
    for (struct pending *p = ing->pending; p; p = p->next)
        p->owner = NULL;
    lt_likes_budget_free(ing->per_viewer);
    lt_likes_budget_free(ing->per_client);
    lt_free(ing);
}

void lt_ingest_set_config(struct lt_ingest *ing, const struct lt_config *cfg)
{
    ing->cfg = cfg;
    lt_likes_budget_set_limits(ing->per_viewer, cfg->likes_rate_per_second, cfg->likes_burst);
    lt_likes_budget_set_limits(ing->per_client, cfg->likes_per_client_rate_per_second,
                               cfg->likes_per_client_burst);
}

void lt_ingest_sweep(struct lt_ingest *ing, int64_t now_ms)
{
    lt_likes_budget_sweep(ing->per_viewer, now_ms);
    lt_likes_budget_sweep(ing->per_client, now_ms);
}

/* Rules 1 and 2 once the status is known. */
static enum lt_ingest_code decide(struct lt_ingest *ing, const char *stream, size_t n_views,
                                  size_t n_events, enum lt_stream_status status)
{
    if (status == LT_STATUS_NONE && !ing->cfg->streams_auto_create)
        return LT_INGEST_UNKNOWN_STREAM;
    if (status == LT_STATUS_ENDED)
        return LT_INGEST_STREAM_ENDED;
    if (!lt_agg_can_accept(ing->agg, n_views)) {
        lt_metrics->ingest_overloaded_total++;
        return LT_INGEST_OVERLOADED;
    }
    /* Room in the spool for every event of the request and a refusal
     * each: then none of them can find the spool full half-way. */
    if (ing->spool && !lt_spool_reserve(ing->spool, 2 * n_events * LT_SPOOL_EVENT_MAX)) {
        lt_metrics->ingest_spool_unavailable_total += n_events;
        return LT_INGEST_SPOOL_UNAVAILABLE;
    }
    /* Created, live, by its first batch. Recorded only once events may be
     * counted, so a refused request does not make the cache claim a stream
     * that Redis never saw. */
    if (status == LT_STATUS_NONE)
        lt_stream_cache_set(ing->cache, stream, LT_STATUS_LIVE);
    return LT_INGEST_OK;
}

static void on_status(void *arg, int err, enum lt_stream_status status)
{
    struct pending *p = arg;
    struct lt_ingest *ing = p->owner;
    enum lt_ingest_code code = LT_INGEST_NOT_READY;
    if (ing) {
        LT_LIST_REMOVE(ing->pending, p);
        if (!err)
            code = decide(ing, p->stream, p->n_views, p->n_events, status);
    }
    p->cb(p->arg, code);
    lt_free(p);
}

int lt_ingest_open(struct lt_ingest *ing, const char *stream, size_t n_views, size_t n_events,
                   lt_ingest_open_cb *cb, void *arg)
{
    int st = lt_stream_cache_peek(ing->cache, stream);
    if (st >= 0)
        return (int)decide(ing, stream, n_views, n_events, (enum lt_stream_status)st);
    if (!cb)
        return LT_EAGAIN;
    size_t len = strlen(stream);
    if (len > LT_STREAM_ID_MAX)
        return LT_INGEST_UNKNOWN_STREAM; /* not a valid id: never reached from the API */
    struct pending *p = lt_calloc(1, sizeof *p);
    p->owner = ing;
    p->cb = cb;
    p->arg = arg;
    p->n_views = n_views;
    p->n_events = n_events;
    memcpy(p->stream, stream, len + 1);
    LT_LIST_PUSH(ing->pending, p);
    st = lt_stream_cache_get(ing->cache, stream, on_status, p);
    if (st == LT_EAGAIN)
        return LT_EAGAIN; /* on_status follows */
    LT_LIST_REMOVE(ing->pending, p);
    lt_free(p);
    if (st < 0)
        return LT_INGEST_NOT_READY;
    return (int)decide(ing, stream, n_views, n_events, (enum lt_stream_status)st);
}

const char *lt_ingest_validate(struct lt_ingest *ing, json_t *event, struct lt_event *out)
{
    const char *why = lt_event_parse(ing->cfg, event, out);
    if (why)
        lt_metrics->events_rejected_total++;
    return why;
}

/* Spools one event; false when the spool cannot take it (then it must not
 * be counted either). Room was reserved by lt_ingest_open; a refusal
 * counted outside a request (a WebSocket message that is not valid) may
 * need its own. */
static bool spool_event(struct lt_ingest *ing, const struct lt_spool_event *e)
{
    if (!ing->spool || lt_spool_append_event(ing->spool, e) == 0)
        return true;
    if (lt_spool_reserve(ing->spool, LT_SPOOL_EVENT_MAX) && lt_spool_append_event(ing->spool, e) == 0)
        return true;
    lt_metrics->ingest_spool_unavailable_total++;
    return false;
}

/* Refusals travel with the stream's batches: spooled like events. */
static void add_refused(struct lt_ingest *ing, const char *stream, int64_t dropped_taps,
                        int64_t rejected)
{
    struct lt_spool_event e = {.kind = LT_SPOOL_REFUSED, .stream = stream, .n = dropped_taps,
                               .rejected = rejected};
    if (spool_event(ing, &e))
        lt_agg_add_refused(ing->agg, stream, dropped_taps, rejected);
}

void lt_ingest_rejected(struct lt_ingest *ing, const char *stream)
{
    add_refused(ing, stream, 0, 1);
}

void lt_ingest_when_kept(struct lt_ingest *ing, lt_ingest_kept_cb *cb, void *arg)
{
    if (ing->spool)
        lt_spool_wait(ing->spool, LT_SPOOL_ANSWER, cb, arg);
    else
        cb(arg);
}

/* The viewer whose budget an event spends and whose view it is. */
static const char *viewer_of(const struct lt_event *e, struct lt_ingest_client *client)
{
    if (e->viewer)
        return e->viewer;
    if (client->viewer)
        return client->viewer;
    if (!client->derived[0])
        lt_derive_viewer(client->addr, client->user_agent, client->user_agent_len, client->derived);
    return client->derived;
}

/* Rule 3: spends up to n taps of both budgets; returns the taps that may be
 * counted (n, or with drop_excess_likes what fits, or 0) and fills the
 * refusal part of out. */
static int64_t spend_likes(struct lt_ingest *ing, const char *viewer,
                           const struct lt_ingest_client *client, int64_t n,
                           struct lt_ingest_outcome *out)
{
    int64_t now = lt_mono_ms();
    int64_t by_viewer = lt_likes_budget_available(ing->per_viewer, viewer, now);
    int64_t by_client = lt_likes_budget_available(ing->per_client, client->addr, now);
    int64_t fits = by_viewer < by_client ? by_viewer : by_client;
    int64_t take = n;
    if (n > fits)
        take = client->drop_excess_likes ? fits : 0;
    /* Both buckets hold take taps now: these cannot fall short. */
    if (take > 0) {
        lt_likes_budget_take(ing->per_viewer, viewer, take, now, false);
        lt_likes_budget_take(ing->per_client, client->addr, take, now, false);
    }
    if (take < n) {
        /* What the viewer's budget alone would have let through: the rest of
         * the refusal is the client address' doing (for tuning the
         * per-client budget where many viewers share an address). */
        int64_t viewer_only = n <= by_viewer ? n : (client->drop_excess_likes ? by_viewer : 0);
        lt_metrics->likes_rate_limited_total += (uint64_t)(n - take);
        if (viewer_only > take)
            lt_metrics->likes_client_limited_total += (uint64_t)(viewer_only - take);
        out->dropped = n - take;
        /* Counted per stream below (lt_ingest_event knows it). */
        if (take == 0) {
            int64_t w1 = lt_likes_budget_wait_ms(ing->per_viewer, viewer, n, now);
            int64_t w2 = lt_likes_budget_wait_ms(ing->per_client, client->addr, n, now);
            out->retry_after_ms = w1 < 0 || w2 < 0 ? -1 : (w1 > w2 ? w1 : w2);
        }
    }
    return take;
}

void lt_ingest_event(struct lt_ingest *ing, const char *stream, const struct lt_event *e,
                     struct lt_ingest_client *client, struct lt_ingest_outcome *out)
{
    memset(out, 0, sizeof *out);
    struct lt_spool_event rec = {.stream = stream, .source = e->source};
    int64_t n = e->n;
    switch (e->type) {
    case LT_EVENT_VIEW:
        rec.kind = LT_SPOOL_VIEW;
        rec.viewer = viewer_of(e, client);
        n = 1;
        break;
    case LT_EVENT_LIKE: {
        n = spend_likes(ing, viewer_of(e, client), client, e->n, out);
        if (n == 0) {
            out->code = LT_INGEST_RATE_LIMITED;
            lt_metrics->events_rejected_total++;
            add_refused(ing, stream, out->dropped, 1);
            return;
        }
        if (out->dropped > 0)
            add_refused(ing, stream, out->dropped, 0);
        /* Spent even when refused below (too many sources for the stream
         * in this worker right now, or the spool full): rare, and a refused
         * request costs its budget like any other (README's API notes). */
        rec.kind = LT_SPOOL_LIKES;
        rec.n = n;
        break;
    }
    case LT_EVENT_COUNTER:
        rec.kind = LT_SPOOL_COUNTER;
        rec.counter = ing->cfg->counters.items[e->counter];
        rec.source = NULL;
        rec.n = n;
        break;
    }
    /* agg says first whether it takes the event, so that nothing is spooled
     * that it then refuses; once spooled, it cannot refuse. */
    if (rec.kind != LT_SPOOL_COUNTER && !lt_agg_can_add(ing->agg, stream, e->source)) {
        out->code = LT_INGEST_TOO_MANY_SOURCES;
        lt_metrics->events_rejected_total++;
        add_refused(ing, stream, 0, 1);
        return;
    }
    if (!spool_event(ing, &rec)) {
        out->code = LT_INGEST_SPOOL_UNAVAILABLE;
        lt_metrics->events_rejected_total++;
        return;
    }
    int rc = 0;
    switch (e->type) {
    case LT_EVENT_VIEW:
        rc = lt_agg_add_view(ing->agg, stream, rec.viewer, e->source);
        break;
    case LT_EVENT_LIKE:
        rc = lt_agg_add_likes(ing->agg, stream, e->source, n);
        if (rc == 0)
            lt_metrics->likes_accepted_total += (uint64_t)n;
        break;
    case LT_EVENT_COUNTER:
        rc = lt_agg_add_counter(ing->agg, stream, e->counter, n);
        break;
    }
    if (rc != 0) /* lt_agg_can_add said yes: only a bug gets here */
        lt_error("ingest", "agg refused a spooled event of stream %s: %s", stream, lt_strerror(rc));
    out->counted = rc == 0 ? n : 0;
    out->code = LT_INGEST_OK;
    lt_metrics->events_accepted_total++;
}
