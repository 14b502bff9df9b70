/* Stream status cache (see stream_cache.h). */
#include "livetally/core/stream_cache.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/map.h"
#include "livetally/base/mem.h"
#include "livetally/base/ptr_list.h"

#include <event2/event.h>
#include <string.h>

/* While Redis is (re)connecting, a first lookup waits this often for it. */
#define LT_STREAMS_RETRY_MS 20

/* Bound on cached entries: unknown ids from clients must not grow memory
 * without limit; past it the cache starts over (one HGET per stream again). */
#define LT_STREAMS_CACHE_MAX 100000

struct waiter {
    struct waiter *next;
    lt_stream_cache_cb *cb;
    void *arg;
};

struct entry {
    enum lt_stream_status status;
    bool known; /* status holds an answer (else: first lookup under way) */
    bool looking_up;
    struct waiter *waiters;
    struct lt_stream_cache *owner; /* NULL once the cache is freed */
    uint64_t epoch;           /* control epoch the status was learnt in */
    int64_t parked_at;        /* > 0: waiting for Redis to take the lookup */
    char id[];
};

struct lt_stream_cache {
    struct lt_store *store;
    struct lt_map map;
    uint64_t epoch;
    struct event *retry;
    int max_wait_ms;
    size_t parked;
};

static void on_retry(evutil_socket_t fd, short what, void *arg);

struct lt_stream_cache *lt_stream_cache_new(struct event_base *base, struct lt_store *store,
                                  int max_wait_ms)
{
    struct lt_stream_cache *s = lt_calloc(1, sizeof *s);
    s->store = store;
    s->max_wait_ms = max_wait_ms;
    s->retry = evtimer_new(base, on_retry, s);
    lt_map_init(&s->map);
    return s;
}

static void entry_free(struct entry *e)
{
    lt_free(e);
}

/* Drops every entry not waiting for a lookup. */
static void reset(struct lt_stream_cache *s)
{
    struct lt_map keep;
    lt_map_init(&keep);
    size_t i;
    for (struct lt_map_entry *me = lt_map_next(&s->map, NULL, &i); me;
         me = lt_map_next(&s->map, me, &i)) {
        struct entry *e = me->value;
        if (e->looking_up || e->waiters)
            lt_map_put(&keep, e->id, strlen(e->id), e);
        else
            entry_free(e);
    }
    lt_map_clear(&s->map);
    s->map = keep;
}

void lt_stream_cache_free(struct lt_stream_cache *s)
{
    size_t i;
    for (struct lt_map_entry *me = lt_map_next(&s->map, NULL, &i); me;
         me = lt_map_next(&s->map, me, &i)) {
        struct entry *e = me->value;
        if (e->looking_up)
            e->owner = NULL; /* the lookup's callback frees it */
        else
            entry_free(e);
    }
    lt_map_clear(&s->map);
    event_free(s->retry);
    lt_free(s);
}

static void deliver(struct waiter *w, int err, enum lt_stream_status status)
{
    while (w) {
        struct waiter *next = w->next;
        w->cb(w->arg, err, status);
        lt_free(w);
        w = next;
    }
}

static void on_lookup(void *arg, int err, enum lt_stream_status status)
{
    struct entry *e = arg;
    struct waiter *w = e->waiters;
    e->waiters = NULL;
    e->looking_up = false;
    struct lt_stream_cache *s = e->owner;
    if (!s) {
        entry_free(e);
    } else if (err) {
        if (e->known) {
            e->epoch = 0; /* a background refresh failed: try again next time */
        } else {
            /* Never known: not cached; the next request tries again. */
            lt_map_remove(&s->map, e->id, strlen(e->id));
            entry_free(e);
        }
    } else {
        e->status = status;
        e->known = true;
    }
    deliver(w, err, status);
}

/* Starts a lookup for e; returns 0 or the store's error. */
static int start_lookup(struct lt_stream_cache *s, struct entry *e)
{
    int rc = lt_store_get_status(s->store, e->id, on_lookup, e);
    if (rc == 0) {
        e->looking_up = true;
        e->epoch = s->epoch;
    }
    return rc;
}

/* A new entry for id (len bytes), with no status yet. The cache is bounded:
 * when full, it starts over (every status is looked up again when asked). */
static struct entry *entry_add(struct lt_stream_cache *s, const char *id, size_t len)
{
    if (s->map.count >= LT_STREAMS_CACHE_MAX)
        reset(s);
    struct entry *e = lt_calloc(1, sizeof *e + len + 1);
    memcpy(e->id, id, len + 1);
    e->owner = s;
    lt_map_put(&s->map, id, len, e);
    return e;
}

int lt_stream_cache_peek(struct lt_stream_cache *s, const char *id)
{
    s->epoch = lt_store_control_epoch(s->store);
    struct entry *e = lt_map_get(&s->map, id, strlen(id));
    if (!e || !e->known)
        return LT_EAGAIN;
    if (!e->looking_up && e->epoch != s->epoch)
        start_lookup(s, e); /* stale: answer now, refresh behind */
    return (int)e->status;
}

int lt_stream_cache_get(struct lt_stream_cache *s, const char *id, lt_stream_cache_cb *cb, void *arg)
{
    s->epoch = lt_store_control_epoch(s->store);
    size_t len = strlen(id);
    struct entry *e = lt_map_get(&s->map, id, len);
    if (e && e->known) {
        /* Learnt before the control subscription was last lost: a status
         * change may have been missed. Answer with it (events keep flowing
         * through a Redis restart) and refresh it in the background. */
        if (!e->looking_up && e->epoch != s->epoch)
            start_lookup(s, e);
        return (int)e->status;
    }
    if (!e) {
        e = entry_add(s, id, len);
        if (start_lookup(s, e) != 0) {
            /* Redis is (re)connecting: wait a little for it rather than
             * fail at once (a worker that just started, a Redis restart). */
            e->parked_at = lt_mono_ms();
            s->parked++;
            if (!evtimer_pending(s->retry, NULL)) {
                struct timeval tv = {0, LT_STREAMS_RETRY_MS * 1000};
                evtimer_add(s->retry, &tv);
            }
        }
    }
    struct waiter *w = lt_malloc(sizeof *w);
    w->cb = cb;
    w->arg = arg;
    w->next = e->waiters;
    e->waiters = w;
    return LT_EAGAIN;
}

/* Starts parked lookups once Redis takes them; fails those that waited too
 * long. */
static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_stream_cache *s = arg;
    int64_t now = lt_mono_ms();
    /* Failed after the walk (their waiters' callbacks may change the map);
     * every one due, however many (ptr_list.h). */
    struct lt_ptr_list expired;
    lt_ptr_list_init(&expired);
    size_t i;
    for (struct lt_map_entry *me = lt_map_next(&s->map, NULL, &i); me;
         me = lt_map_next(&s->map, me, &i)) {
        struct entry *e = me->value;
        if (!e->parked_at)
            continue;
        if (start_lookup(s, e) == 0) {
            e->parked_at = 0;
            s->parked--;
        } else if (now - e->parked_at >= s->max_wait_ms) {
            lt_ptr_list_push(&expired, e);
        }
    }
    for (size_t k = 0; k < expired.n; k++) {
        struct entry *e = expired.items[k];
        lt_map_remove(&s->map, e->id, strlen(e->id));
        s->parked--;
        struct waiter *w = e->waiters;
        entry_free(e);
        deliver(w, LT_EDISCONNECTED, LT_STATUS_NONE);
    }
    if (s->parked > 0) {
        struct timeval tv = {0, LT_STREAMS_RETRY_MS * 1000};
        evtimer_add(s->retry, &tv);
    }
}

void lt_stream_cache_set(struct lt_stream_cache *s, const char *id, enum lt_stream_status status)
{
    size_t len = strlen(id);
    struct entry *e = lt_map_get(&s->map, id, len);
    if (e && e->looking_up) {
        e->status = status; /* the lookup's answer will overwrite; both are fresh */
        e->known = true;
        return;
    }
    if (!e) {
        e = entry_add(s, id, len);
    }
    e->status = status;
    e->known = true;
    e->epoch = lt_store_control_epoch(s->store);
}
