/* The fan-out hub (see hub.h). */
#include "livetally/core/hub.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/ids.h"
#include "livetally/base/list.h"
#include "livetally/base/log.h"
#include "livetally/base/map.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/base/shared_buf.h"
#include "livetally/conf/config.h"
#include "livetally/store/store.h"
#include "livetally/core/agg.h"

#include <event2/event.h>
#include <string.h>

/* Kinds of subscribers one push is encoded for (WebSocket, SSE, tests). */
#define LT_HUB_MAX_KINDS 4
/* A snapshot read that failed (Redis away) is tried again after this. */
#define LT_SNAPSHOT_RETRY_MS 500

struct lt_hub_sub {
    struct lt_hub_sub *prev, *next;
    struct hub_stream *st;
    const struct lt_push_kind *kind;
    void *owner;
    bool counts_online;
    /* Highest seq handed to this subscriber: -1 until its first totals
     * (a resumed one starts at its after_seq). A status notice heard
     * before them is held, the newest only, and follows them: the totals
     * come first, as the contract says. */
    int64_t sent_seq;
    bool notice_held;
    enum lt_stream_status held_status;
};

struct hub_stream {
    struct lt_hub *hub;
    char id[LT_STREAM_ID_MAX + 1]; /* a validated stream id, copied whole */
    struct lt_hub_sub *subs;
    size_t n_subs, n_online;
    bool has_latest;
    bool latest_published;   /* latest came from a Redis publish (its ts_ms: when) */
    struct lt_totals latest; /* the newest totals, when has_latest */
    int64_t latest_seq;      /* latest.seq, -1 before any */
    int64_t pushed_seq;
    int64_t last_push_ms;
    struct event *timer;    /* the next paced push, or a snapshot retry */
    struct event *catch_up; /* newcomers get the known totals on the next pass */
    bool snapshot_pending;
    bool snapshot_wanted; /* another snapshot after the one under way */
    bool dead;            /* no subscribers left: freed once no read is out */
    bool delivering;      /* inside push(): subscribers may leave */
};

struct lt_hub {
    const struct lt_config *cfg;
    struct event_base *base;
    struct lt_store *store;
    struct lt_agg *agg;
    struct lt_map streams; /* id -> struct hub_stream */
    size_t n_subs;
};

static void push(struct hub_stream *st, bool paced);
static void request_snapshot(struct hub_stream *st);

/* ---- latest totals ---------------------------------------------------- */

/* Takes totals (copied) if they are newer than what the stream has. */
static bool offer_latest(struct hub_stream *st, const struct lt_totals *t)
{
    if (st->has_latest && t->seq <= st->latest_seq)
        return false;
    if (st->has_latest)
        lt_totals_free(&st->latest);
    lt_totals_copy(&st->latest, t);
    memcpy(st->latest.stream, st->id, sizeof st->latest.stream);
    st->has_latest = true;
    st->latest_seq = t->seq;
    return true;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct hub_stream *st = arg;
    if (st->snapshot_wanted && !st->snapshot_pending)
        request_snapshot(st);
    push(st, true);
}

static void on_catch_up(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    push(arg, false);
}

/* Pushes now when the last push is older than push_interval_ms, else
 * arms the timer for the moment it will be. */
static void schedule_push(struct hub_stream *st)
{
    int64_t now = lt_mono_ms();
    int64_t due = st->last_push_ms + st->hub->cfg->push_interval_ms;
    if (now >= due) {
        push(st, true);
        return;
    }
    if (!evtimer_pending(st->timer, NULL)) {
        int64_t wait = due - now;
        struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)((wait % 1000) * 1000)};
        evtimer_add(st->timer, &tv);
    }
}

static void stream_free(struct hub_stream *st)
{
    event_free(st->timer);
    event_free(st->catch_up);
    if (st->has_latest)
        lt_totals_free(&st->latest);
    lt_free(st);
}

static void stream_release(struct hub_stream *st);

/* sub's first totals were just delivered: a notice held until then follows. */
static void deliver_held_notice(struct hub_stream *st, struct lt_hub_sub *sub)
{
    sub->notice_held = false;
    struct lt_shared *msg = sub->kind->encode_notice(st->id, sub->held_status);
    sub->kind->deliver(sub->owner, msg);
    lt_shared_unref(msg);
}

/* Encodes the newest totals once per kind and hands them to every
 * subscriber that has not seen that seq. A paced push is a new seq (it
 * sets the pace); an unpaced one only catches newcomers up. */
static void push(struct hub_stream *st, bool paced)
{
    if (!st->has_latest || !st->subs || (paced && st->latest_seq <= st->pushed_seq))
        return;
    /* WebSocket and SSE: 2; a fifth kind is logged as an error and not served */
    const struct lt_push_kind *kinds[LT_HUB_MAX_KINDS];
    struct lt_shared *msgs[LT_HUB_MAX_KINDS];
    size_t n_kinds = 0;
    st->delivering = true;
    struct lt_hub_sub *sub = st->subs;
    while (sub) {
        struct lt_hub_sub *next = sub->next; /* deliver may unsubscribe sub */
        if (sub->sent_seq < st->latest_seq) {
            size_t k = 0;
            while (k < n_kinds && kinds[k] != sub->kind)
                k++;
            if (k == n_kinds) {
                if (n_kinds == LT_HUB_MAX_KINDS) {
                    lt_error("hub", "more than %d kinds of subscribers", LT_HUB_MAX_KINDS);
                    sub = next;
                    continue;
                }
                kinds[k] = sub->kind;
                msgs[k] = sub->kind->encode(&st->latest);
                n_kinds++;
            }
            sub->sent_seq = st->latest_seq;
            /* deliver may drop a slow subscriber (sub is freed): the count
             * says so. Only sub itself can go. */
            size_t before = st->n_subs;
            sub->kind->deliver(sub->owner, msgs[k]);
            if (st->n_subs == before && sub->notice_held)
                deliver_held_notice(st, sub);
        }
        sub = next;
    }
    st->delivering = false;
    for (size_t k = 0; k < n_kinds; k++)
        lt_shared_unref(msgs[k]);
    /* Publish-to-push delay, once per published seq handed to anyone: the
     * pacing (push_interval_ms) is part of it, a snapshot or a catch-up
     * is not a publish. ts is when the batch was sealed, on the sending
     * worker's wall clock (apply.lua): its flush round trip is in it too,
     * and hosts out of step skew it (below 0 counts as 0). */
    if (paced && n_kinds > 0 && st->latest_published) {
        int64_t delay_ms = lt_wall_ms() - st->latest.ts_ms;
        lt_metrics_observe(LT_HIST_PUSH_DELAY, delay_ms > 0 ? (uint64_t)delay_ms * 1000 : 0);
    }
    if (paced) {
        st->pushed_seq = st->latest_seq;
        st->last_push_ms = lt_mono_ms();
    }
    if (!st->subs)
        stream_release(st);
}

/* ---- snapshots -------------------------------------------------------- */

static void on_snapshot(void *arg, int err, const struct lt_totals *totals)
{
    struct hub_stream *st = arg;
    st->snapshot_pending = false;
    if (st->dead) {
        stream_free(st);
        return;
    }
    if (err) {
        /* Redis away: try again shortly; subscribers wait for their first push. */
        st->snapshot_wanted = true;
        struct timeval tv = {0, LT_SNAPSHOT_RETRY_MS * 1000};
        evtimer_add(st->timer, &tv);
        return;
    }
    if (totals) {
        if (offer_latest(st, totals))
            st->latest_published = false;
    } else {
        /* A stream that does not exist yet shows zeros with seq 0. */
        struct lt_totals zero;
        lt_totals_init(&zero, st->id);
        zero.ts_ms = lt_wall_ms();
        zero.has_counted = true; /* nothing counted: known to be 0 */
        if (offer_latest(st, &zero))
            st->latest_published = false;
        lt_totals_free(&zero);
    }
    if (st->snapshot_wanted) {
        request_snapshot(st);
        return;
    }
    /* Subscribers waiting for their first totals get them at once, whatever
     * the pace; a newer seq than pushed goes out as a paced push. */
    if (st->latest_seq > st->pushed_seq)
        schedule_push(st);
    else
        push(st, false);
}

static void request_snapshot(struct hub_stream *st)
{
    if (st->snapshot_pending) {
        st->snapshot_wanted = true;
        return;
    }
    st->snapshot_wanted = false;
    if (lt_store_get_totals(st->hub->store, st->id, on_snapshot, st) == 0) {
        st->snapshot_pending = true;
    } else {
        st->snapshot_wanted = true;
        struct timeval tv = {0, LT_SNAPSHOT_RETRY_MS * 1000};
        evtimer_add(st->timer, &tv);
    }
}

/* ---- from Redis --------------------------------------------------------- */

static void on_push_message(void *arg, const char *stream, const struct lt_totals *totals)
{
    struct lt_hub *hub = arg;
    struct hub_stream *st = lt_map_get(&hub->streams, stream, strlen(stream));
    if (!st || st->dead)
        return;
    if (!totals) {
        /* Subscribed only now: a change published between the first
         * snapshot and this point was missed. Read again. */
        request_snapshot(st);
        return;
    }
    if (offer_latest(st, totals)) {
        st->latest_published = true;
        schedule_push(st);
    }
}

/* The subscriber connection came back: every stream may have missed
 * messages, so each takes a fresh snapshot. */
static void on_resync(void *arg)
{
    struct lt_hub *hub = arg;
    size_t i;
    for (struct lt_map_entry *e = lt_map_next(&hub->streams, NULL, &i); e;
         e = lt_map_next(&hub->streams, e, &i))
        request_snapshot(e->value);
}

/* ---- subscribers ------------------------------------------------------ */

struct lt_hub *lt_hub_new(struct event_base *base, const struct lt_config *cfg,
                          struct lt_store *store, struct lt_agg *agg)
{
    struct lt_hub *hub = lt_calloc(1, sizeof *hub);
    hub->base = base;
    hub->cfg = cfg;
    hub->store = store;
    hub->agg = agg;
    lt_map_init(&hub->streams);
    lt_store_on_push(store, on_push_message, on_resync, hub);
    return hub;
}

void lt_hub_free(struct lt_hub *hub)
{
    size_t i;
    for (struct lt_map_entry *e = lt_map_next(&hub->streams, NULL, &i); e;
         e = lt_map_next(&hub->streams, e, &i)) {
        struct hub_stream *st = e->value;
        struct lt_hub_sub *sub = st->subs;
        while (sub) {
            struct lt_hub_sub *next = sub->next;
            lt_free(sub);
            sub = next;
        }
        st->subs = NULL;
        if (st->snapshot_pending)
            st->dead = true; /* on_snapshot frees it */
        else
            stream_free(st);
    }
    lt_map_clear(&hub->streams);
    lt_store_on_push(hub->store, NULL, NULL, NULL);
    lt_free(hub);
}

void lt_hub_set_config(struct lt_hub *hub, const struct lt_config *cfg)
{
    hub->cfg = cfg;
}

static void report_online(struct hub_stream *st)
{
    lt_agg_set_online(st->hub->agg, st->id, (int64_t)st->n_online);
}

struct lt_hub_sub *lt_hub_subscribe(struct lt_hub *hub, const char *stream,
                                    const struct lt_push_kind *kind, void *owner,
                                    bool counts_online, int64_t after_seq)
{
    size_t len = strlen(stream);
    struct hub_stream *st = lt_map_get(&hub->streams, stream, len);
    if (!st) {
        st = lt_calloc(1, sizeof *st);
        st->hub = hub;
        memcpy(st->id, stream, len + 1);
        st->timer = evtimer_new(hub->base, on_timer, st);
        st->catch_up = evtimer_new(hub->base, on_catch_up, st);
        st->latest_seq = -1;
        st->pushed_seq = -1;
        lt_map_put(&hub->streams, st->id, len, st);
        lt_store_subscribe_stream(hub->store, st->id);
        request_snapshot(st);
    }
    struct lt_hub_sub *sub = lt_calloc(1, sizeof *sub);
    sub->st = st;
    sub->kind = kind;
    sub->owner = owner;
    sub->counts_online = counts_online;
    sub->sent_seq = after_seq;
    LT_LIST_PUSH(st->subs, sub);
    st->n_subs++;
    hub->n_subs++;
    if (counts_online) {
        st->n_online++;
        report_online(st);
    }
    /* Known totals go to the newcomer on the next loop pass, not from
     * inside this call (the caller is still setting the subscriber up). */
    if (st->has_latest && st->latest_seq > sub->sent_seq)
        event_active(st->catch_up, EV_TIMEOUT, 1);
    return sub;
}

void lt_hub_unsubscribe(struct lt_hub *hub, struct lt_hub_sub *sub)
{
    struct hub_stream *st = sub->st;
    LT_LIST_REMOVE(st->subs, sub);
    st->n_subs--;
    hub->n_subs--;
    if (sub->counts_online) {
        st->n_online--;
        report_online(st);
    }
    lt_free(sub);
    if (st->n_subs == 0 && !st->delivering)
        stream_release(st);
}

/* Last local subscriber gone: leave the channel, forget the stream. */
static void stream_release(struct hub_stream *st)
{
    struct lt_hub *hub = st->hub;
    lt_map_remove(&hub->streams, st->id, strlen(st->id));
    lt_store_unsubscribe_stream(hub->store, st->id);
    evtimer_del(st->timer);
    event_del(st->catch_up);
    if (st->snapshot_pending)
        st->dead = true; /* on_snapshot frees it */
    else
        stream_free(st);
}

void lt_hub_set_counts_online(struct lt_hub *hub, struct lt_hub_sub *sub, bool counts)
{
    (void)hub;
    if (sub->counts_online == counts)
        return;
    sub->counts_online = counts;
    if (counts)
        sub->st->n_online++;
    else
        sub->st->n_online--;
    report_online(sub->st);
}

const char *lt_hub_sub_stream(const struct lt_hub_sub *sub)
{
    return sub->st->id;
}

void lt_hub_stream_status(struct lt_hub *hub, const char *stream, enum lt_stream_status status)
{
    struct hub_stream *st = lt_map_get(&hub->streams, stream, strlen(stream));
    if (!st || st->dead || !st->subs)
        return;
    const struct lt_push_kind *kinds[LT_HUB_MAX_KINDS];
    struct lt_shared *msgs[LT_HUB_MAX_KINDS];
    size_t n_kinds = 0;
    /* Subscribers leave from inside (ended): the stream is released after
     * the walk, as push() does. */
    st->delivering = true;
    struct lt_hub_sub *sub = st->subs;
    while (sub) {
        struct lt_hub_sub *next = sub->next;
        const struct lt_push_kind *kind = sub->kind;
        if (!kind->encode_notice) {
            sub = next;
            continue;
        }
        if (sub->sent_seq < 0 && status != LT_STATUS_NONE) { /* no totals yet */
            sub->notice_held = true;
            sub->held_status = status;
            sub = next;
            continue;
        }
        size_t k = 0;
        while (k < n_kinds && kinds[k] != kind)
            k++;
        if (k == n_kinds) {
            if (n_kinds == LT_HUB_MAX_KINDS) {
                sub = next;
                continue;
            }
            kinds[k] = kind;
            msgs[k] = kind->encode_notice(st->id, status);
            n_kinds++;
        }
        /* deliver may drop a slow subscriber (it unsubscribes, and sub is
         * freed): the count says so. Only sub itself can go: an owner has
         * at most one subscription of a stream. */
        void *owner = sub->owner;
        size_t before = st->n_subs;
        kind->deliver(owner, msgs[k]);
        if (status == LT_STATUS_NONE && kind->ended && st->n_subs == before)
            kind->ended(owner, sub);
        sub = next;
    }
    st->delivering = false;
    for (size_t k = 0; k < n_kinds; k++)
        lt_shared_unref(msgs[k]);
    if (!st->subs)
        stream_release(st);
}

size_t lt_hub_subscribers(const struct lt_hub *hub)
{
    return hub->n_subs;
}
