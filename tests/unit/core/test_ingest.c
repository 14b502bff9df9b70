/* Unit tests of ingest.c, the counting rules of both transports, against a
 * fake stream cache and a fake agg (this file defines the lt_stream_cache_*
 * and lt_agg_* functions ingest.c calls, so the linker never pulls
 * stream_cache.o or agg.o out of lt_core). The like budgets are the real
 * likes_budget.c on the real monotonic clock: the rates here are 1 tap per
 * second, so nothing refills within a test unless it sleeps. No sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/ids.h"
#include "livetally/base/metrics.h"
#include "livetally/conf/config.h"
#include "livetally/store/store.h"
#include "livetally/core/agg.h"
#include "livetally/core/ingest.h"
#include "livetally/core/stream_cache.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- the fake stream cache ------------------------------------------- */

#define MAX_STREAMS 8

static struct {
    char id[LT_STREAM_ID_MAX + 1];
    int status; /* >= 0 known; LT_EAGAIN: a lookup is needed */
} streams[MAX_STREAMS];
static size_t n_streams;
static int lookups_started;
static lt_stream_cache_cb *lookup_cb;
static void *lookup_arg;
static int cache_sets;

static int *status_slot(const char *id)
{
    for (size_t i = 0; i < n_streams; i++)
        if (strcmp(streams[i].id, id) == 0)
            return &streams[i].status;
    assert_true(n_streams < MAX_STREAMS);
    snprintf(streams[n_streams].id, sizeof streams[n_streams].id, "%s", id);
    streams[n_streams].status = LT_EAGAIN;
    return &streams[n_streams++].status;
}

int lt_stream_cache_peek(struct lt_stream_cache *cache, const char *id)
{
    (void)cache;
    return *status_slot(id);
}

int lt_stream_cache_get(struct lt_stream_cache *cache, const char *id, lt_stream_cache_cb *cb,
                        void *arg)
{
    (void)cache;
    int st = *status_slot(id);
    if (st >= 0)
        return st;
    assert_null(lookup_cb); /* one lookup at a time in these tests */
    lookups_started++;
    lookup_cb = cb;
    lookup_arg = arg;
    return LT_EAGAIN;
}

void lt_stream_cache_set(struct lt_stream_cache *cache, const char *id,
                         enum lt_stream_status status)
{
    (void)cache;
    cache_sets++;
    *status_slot(id) = (int)status;
}

/* Redis answers the lookup under way. */
static void answer_lookup(int err, enum lt_stream_status status)
{
    assert_non_null(lookup_cb);
    lt_stream_cache_cb *cb = lookup_cb;
    lookup_cb = NULL;
    cb(lookup_arg, err, status);
}

static void set_status(const char *id, enum lt_stream_status status)
{
    *status_slot(id) = (int)status;
}

/* ---- the fake agg ------------------------------------------------------ */

#define MAX_CALLS 64

struct agg_call {
    char kind; /* 'v' view, 'l' likes, 'c' counter */
    char stream[LT_STREAM_ID_MAX + 1];
    char viewer[LT_VIEWER_ID_MAX + 1];
    char source[LT_SOURCE_ID_MAX + 1]; /* "" for NULL */
    size_t counter;
    int64_t n;
};

static struct agg_call calls[MAX_CALLS];
static size_t n_calls;
static bool backlog_full;
static size_t last_can_accept_views;
static bool too_many_sources;

bool lt_agg_can_accept(const struct lt_agg *agg, size_t n_views)
{
    (void)agg;
    last_can_accept_views = n_views;
    return !backlog_full;
}

bool lt_agg_can_add(struct lt_agg *agg, const char *stream, const char *source)
{
    (void)agg;
    (void)stream;
    (void)source;
    return !too_many_sources;
}

static int record(char kind, const char *stream, const char *viewer, const char *source,
                  size_t counter, int64_t n)
{
    if (too_many_sources)
        return LT_ETOOLARGE;
    assert_true(n_calls < MAX_CALLS);
    struct agg_call *c = &calls[n_calls++];
    c->kind = kind;
    snprintf(c->stream, sizeof c->stream, "%s", stream);
    snprintf(c->viewer, sizeof c->viewer, "%s", viewer ? viewer : "");
    snprintf(c->source, sizeof c->source, "%s", source ? source : "");
    c->counter = counter;
    c->n = n;
    return 0;
}

int lt_agg_add_view(struct lt_agg *agg, const char *stream, const char *viewer, const char *source)
{
    (void)agg;
    assert_non_null(viewer);
    assert_true(lt_valid_viewer_id(viewer, strlen(viewer)));
    return record('v', stream, viewer, source, 0, 1);
}

int lt_agg_add_likes(struct lt_agg *agg, const char *stream, const char *source, int64_t n)
{
    (void)agg;
    assert_true(n > 0);
    return record('l', stream, NULL, source, 0, n);
}

int lt_agg_add_counter(struct lt_agg *agg, const char *stream, size_t counter_index, int64_t n)
{
    (void)agg;
    return record('c', stream, NULL, NULL, counter_index, n);
}

static int64_t refused_taps, refused_events; /* lt_agg_add_refused, all streams */

int lt_agg_add_refused(struct lt_agg *agg, const char *stream, int64_t dropped_taps,
                       int64_t rejected)
{
    (void)agg;
    assert_non_null(stream);
    refused_taps += dropped_taps;
    refused_events += rejected;
    return 0;
}

/* Likes the fake agg was given for a stream. */
static int64_t likes_of(const char *stream)
{
    int64_t sum = 0;
    for (size_t i = 0; i < n_calls; i++)
        if (calls[i].kind == 'l' && strcmp(calls[i].stream, stream) == 0)
            sum += calls[i].n;
    return sum;
}

/* ---- fixture ------------------------------------------------------------ */

#define FAKE_AGG ((struct lt_agg *)(void *)&calls)
#define FAKE_CACHE ((struct lt_stream_cache *)(void *)&streams)

static struct lt_config cfg;
static struct lt_ingest *ing;
static struct lt_metrics before;

static int setup(void **state)
{
    (void)state;
    lt_config_defaults(&cfg);
    cfg.likes_rate_per_second = 1;
    cfg.likes_burst = 10;
    cfg.likes_per_client_rate_per_second = 1;
    cfg.likes_per_client_burst = 1000;
    cfg.likes_max_per_message = 1000;
    memset(streams, 0, sizeof streams);
    n_streams = 0;
    lookups_started = 0;
    lookup_cb = NULL;
    cache_sets = 0;
    n_calls = 0;
    refused_taps = refused_events = 0;
    backlog_full = false;
    too_many_sources = false;
    before = *lt_metrics;
    ing = lt_ingest_new(&cfg, FAKE_AGG, FAKE_CACHE, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lt_ingest_free(ing);
    lt_config_free(&cfg);
    return 0;
}

#define METRIC_DELTA(name) ((int64_t)(lt_metrics->name - before.name))

static struct lt_ingest_client http_client(const char *addr, const char *ua)
{
    struct lt_ingest_client c;
    memset(&c, 0, sizeof c);
    c.addr = addr;
    c.user_agent = ua;
    c.user_agent_len = ua ? strlen(ua) : 0;
    return c;
}

static struct lt_ingest_client ws_client(const char *addr, const char *viewer)
{
    struct lt_ingest_client c;
    memset(&c, 0, sizeof c);
    c.addr = addr;
    c.viewer = viewer;
    c.drop_excess_likes = true;
    return c;
}

static struct lt_event like(int64_t n, const char *viewer)
{
    struct lt_event e;
    memset(&e, 0, sizeof e);
    e.type = LT_EVENT_LIKE;
    e.n = n;
    e.viewer = viewer;
    return e;
}

static struct lt_event view(const char *viewer, const char *source)
{
    struct lt_event e;
    memset(&e, 0, sizeof e);
    e.type = LT_EVENT_VIEW;
    e.n = 1;
    e.viewer = viewer;
    e.source = source;
    return e;
}

/* Counts one event on a live stream "s" and returns its outcome. */
static struct lt_ingest_outcome count(struct lt_event e, struct lt_ingest_client *client)
{
    set_status("s", LT_STATUS_LIVE);
    assert_int_equal(lt_ingest_open(ing, "s", e.type == LT_EVENT_VIEW, 1, NULL, NULL), LT_INGEST_OK);
    struct lt_ingest_outcome out;
    memset(&out, 0x5a, sizeof out);
    lt_ingest_event(ing, "s", &e, client, &out);
    return out;
}

/* ---- rules 1 and 2: the stream and the backlog ------------------------- */

static void test_open_by_status(void **state)
{
    (void)state;
    set_status("live", LT_STATUS_LIVE);
    set_status("sched", LT_STATUS_SCHEDULED);
    set_status("ended", LT_STATUS_ENDED);
    assert_int_equal(lt_ingest_open(ing, "live", 1, 1, NULL, NULL), LT_INGEST_OK);
    assert_int_equal(last_can_accept_views, 1);
    assert_int_equal(lt_ingest_open(ing, "sched", 0, 1, NULL, NULL), LT_INGEST_OK);
    assert_int_equal(lt_ingest_open(ing, "ended", 0, 1, NULL, NULL), LT_INGEST_STREAM_ENDED);
    assert_int_equal(cache_sets, 0);
    assert_int_equal(lookups_started, 0);
}

static void test_auto_create(void **state)
{
    (void)state;
    set_status("new", LT_STATUS_NONE);
    assert_int_equal(lt_ingest_open(ing, "new", 3, 1, NULL, NULL), LT_INGEST_OK);
    /* Recorded as live: the next request needs no decision on it. */
    assert_int_equal(lt_stream_cache_peek(FAKE_CACHE, "new"), LT_STATUS_LIVE);
    cfg.streams_auto_create = false;
    set_status("new2", LT_STATUS_NONE);
    assert_int_equal(lt_ingest_open(ing, "new2", 0, 1, NULL, NULL), LT_INGEST_UNKNOWN_STREAM);
    assert_int_equal(lt_stream_cache_peek(FAKE_CACHE, "new2"), LT_STATUS_NONE);
    /* A stream an operator created is fine without auto_create. */
    assert_int_equal(lt_ingest_open(ing, "new", 0, 1, NULL, NULL), LT_INGEST_OK);
}

static void test_overloaded(void **state)
{
    (void)state;
    backlog_full = true;
    set_status("live", LT_STATUS_LIVE);
    set_status("new", LT_STATUS_NONE);
    assert_int_equal(lt_ingest_open(ing, "live", 5, 1, NULL, NULL), LT_INGEST_OVERLOADED);
    assert_int_equal(last_can_accept_views, 5);
    /* Refused before it is recorded as auto-created. */
    assert_int_equal(lt_ingest_open(ing, "new", 0, 1, NULL, NULL), LT_INGEST_OVERLOADED);
    assert_int_equal(lt_stream_cache_peek(FAKE_CACHE, "new"), LT_STATUS_NONE);
    assert_int_equal(METRIC_DELTA(ingest_overloaded_total), 2);
    /* Ended wins over overloaded: 409 is the lasting answer. */
    set_status("ended", LT_STATUS_ENDED);
    assert_int_equal(lt_ingest_open(ing, "ended", 0, 1, NULL, NULL), LT_INGEST_STREAM_ENDED);
}

static enum lt_ingest_code cb_code;
static int cb_calls;
static void *cb_arg_seen;

static void on_open(void *arg, enum lt_ingest_code code)
{
    cb_calls++;
    cb_code = code;
    cb_arg_seen = arg;
}

static void test_first_lookup_waits(void **state)
{
    (void)state;
    int token;
    cb_calls = 0;
    /* Without a callback nothing starts. */
    assert_int_equal(lt_ingest_open(ing, "fresh", 1, 1, NULL, NULL), LT_EAGAIN);
    assert_int_equal(lookups_started, 0);
    assert_int_equal(lt_ingest_open(ing, "fresh", 1, 1, on_open, &token), LT_EAGAIN);
    assert_int_equal(lookups_started, 1);
    assert_int_equal(cb_calls, 0);
    answer_lookup(0, LT_STATUS_NONE); /* unknown: auto-created */
    assert_int_equal(cb_calls, 1);
    assert_int_equal(cb_code, LT_INGEST_OK);
    assert_ptr_equal(cb_arg_seen, &token);
    assert_int_equal(lt_stream_cache_peek(FAKE_CACHE, "fresh"), LT_STATUS_LIVE);

    /* An ended stream learnt by the lookup. */
    assert_int_equal(lt_ingest_open(ing, "gone", 0, 1, on_open, &token), LT_EAGAIN);
    answer_lookup(0, LT_STATUS_ENDED);
    assert_int_equal(cb_calls, 2);
    assert_int_equal(cb_code, LT_INGEST_STREAM_ENDED);

    /* Redis unreachable: not ready. */
    assert_int_equal(lt_ingest_open(ing, "dark", 0, 1, on_open, &token), LT_EAGAIN);
    answer_lookup(LT_EDISCONNECTED, LT_STATUS_NONE);
    assert_int_equal(cb_calls, 3);
    assert_int_equal(cb_code, LT_INGEST_NOT_READY);
}

static void test_free_while_waiting(void **state)
{
    (void)state;
    int token;
    cb_calls = 0;
    assert_int_equal(lt_ingest_open(ing, "slow", 0, 1, on_open, &token), LT_EAGAIN);
    lt_ingest_free(ing);
    ing = lt_ingest_new(&cfg, FAKE_AGG, FAKE_CACHE, NULL);
    /* The old ingest is gone: the answer must not touch it (ASan checks). */
    answer_lookup(0, LT_STATUS_LIVE);
    assert_int_equal(cb_calls, 1);
    assert_int_equal(cb_code, LT_INGEST_NOT_READY);
}

/* ---- rule 3: like budgets ------------------------------------------------ */

static void test_like_without_viewer_spends_derived_viewer(void **state)
{
    (void)state;
    struct lt_ingest_client c = http_client("198.51.100.1", "agent-one");
    struct lt_ingest_outcome out = count(like(10, NULL), &c);
    assert_int_equal(out.code, LT_INGEST_OK);
    assert_int_equal(out.counted, 10);
    assert_int_equal(out.dropped, 0);
    /* The derived viewer's bucket (burst 10) is empty now. */
    out = count(like(1, NULL), &c);
    assert_int_equal(out.code, LT_INGEST_RATE_LIMITED);
    assert_int_equal(out.counted, 0);
    assert_int_equal(out.dropped, 1);
    assert_true(out.retry_after_ms > 0 && out.retry_after_ms <= 1001);
    /* It is the derived one: that id, named, is empty too. */
    char derived[35];
    lt_derive_viewer("198.51.100.1", "agent-one", strlen("agent-one"), derived);
    struct lt_ingest_client named = http_client("198.51.100.1", NULL);
    assert_int_equal(count(like(1, derived), &named).code, LT_INGEST_RATE_LIMITED);
    /* Another User-Agent behind the same address is another viewer. */
    struct lt_ingest_client other = http_client("198.51.100.1", "agent-two");
    assert_int_equal(count(like(10, NULL), &other).code, LT_INGEST_OK);
    assert_int_equal(likes_of("s"), 20);
    assert_int_equal(METRIC_DELTA(likes_accepted_total), 20);
    assert_int_equal(METRIC_DELTA(likes_rate_limited_total), 2);
    assert_int_equal(METRIC_DELTA(likes_client_limited_total), 0);
    assert_int_equal(METRIC_DELTA(events_accepted_total), 2);
    assert_int_equal(METRIC_DELTA(events_rejected_total), 2);
}

static void test_rotating_viewers_hit_the_client_budget(void **state)
{
    (void)state;
    cfg.likes_per_client_burst = 25;
    lt_ingest_set_config(ing, &cfg);
    struct lt_ingest_client c = http_client("203.0.113.9", "ua");
    assert_int_equal(count(like(10, "rotate-0001"), &c).code, LT_INGEST_OK);
    assert_int_equal(count(like(10, "rotate-0002"), &c).code, LT_INGEST_OK);
    /* 5 left for the address: a fresh viewer's 10 is refused whole. */
    struct lt_ingest_outcome out = count(like(10, "rotate-0003"), &c);
    assert_int_equal(out.code, LT_INGEST_RATE_LIMITED);
    assert_int_equal(out.dropped, 10);
    assert_true(out.retry_after_ms >= 4000 && out.retry_after_ms <= 5001);
    assert_int_equal(METRIC_DELTA(likes_client_limited_total), 10);
    /* Refused whole: that viewer's own bucket was not spent. */
    struct lt_ingest_client elsewhere = http_client("203.0.113.10", "ua");
    assert_int_equal(count(like(10, "rotate-0003"), &elsewhere).code, LT_INGEST_OK);
    /* The 5 left still fit. */
    assert_int_equal(count(like(5, "rotate-0004"), &c).code, LT_INGEST_OK);
    assert_int_equal(count(like(1, "rotate-0005"), &c).code, LT_INGEST_RATE_LIMITED);
    assert_int_equal(likes_of("s"), 35);
    assert_int_equal(METRIC_DELTA(likes_accepted_total), 35);
    assert_int_equal(METRIC_DELTA(likes_rate_limited_total), 11);
}

static void test_client_budgets_are_per_address(void **state)
{
    (void)state;
    cfg.likes_per_client_burst = 10;
    lt_ingest_set_config(ing, &cfg);
    struct lt_ingest_client a = http_client("192.0.2.1", "ua");
    struct lt_ingest_client b = http_client("192.0.2.2", "ua");
    assert_int_equal(count(like(10, "viewer-aaaa"), &a).code, LT_INGEST_OK);
    assert_int_equal(count(like(1, "viewer-bbbb"), &a).code, LT_INGEST_RATE_LIMITED);
    assert_int_equal(count(like(10, "viewer-bbbb"), &b).code, LT_INGEST_OK);
    assert_int_equal(likes_of("s"), 20);
}

static void test_websocket_drops_excess_taps(void **state)
{
    (void)state;
    struct lt_ingest_client c = ws_client("192.0.2.7", "socket-viewer-1");
    struct lt_ingest_outcome out = count(like(8, NULL), &c);
    assert_int_equal(out.code, LT_INGEST_OK);
    assert_int_equal(out.counted, 8);
    out = count(like(8, NULL), &c); /* 2 fit */
    assert_int_equal(out.code, LT_INGEST_OK);
    assert_int_equal(out.counted, 2);
    assert_int_equal(out.dropped, 6);
    out = count(like(5, NULL), &c); /* none fit */
    assert_int_equal(out.code, LT_INGEST_RATE_LIMITED);
    assert_int_equal(out.counted, 0);
    assert_int_equal(out.dropped, 5);
    /* A viewer named in the message has its own bucket. */
    out = count(like(4, "named-viewer-1"), &c);
    assert_int_equal(out.code, LT_INGEST_OK);
    assert_int_equal(out.counted, 4);
    assert_int_equal(likes_of("s"), 14);
    assert_int_equal(METRIC_DELTA(likes_rate_limited_total), 11);
    assert_int_equal(METRIC_DELTA(events_accepted_total), 3);
    assert_int_equal(METRIC_DELTA(events_rejected_total), 1);
    /* The stream's own refusals: every dropped tap, the one refused event. */
    assert_int_equal(refused_taps, 11);
    assert_int_equal(refused_events, 1);
}

static void test_websocket_client_budget_drops(void **state)
{
    (void)state;
    cfg.likes_per_client_burst = 12;
    lt_ingest_set_config(ing, &cfg);
    struct lt_ingest_client c1 = ws_client("192.0.2.8", "socket-viewer-1");
    struct lt_ingest_client c2 = ws_client("192.0.2.8", "socket-viewer-2");
    assert_int_equal(count(like(10, NULL), &c1).counted, 10);
    struct lt_ingest_outcome out = count(like(10, NULL), &c2);
    assert_int_equal(out.code, LT_INGEST_OK);
    assert_int_equal(out.counted, 2);
    assert_int_equal(out.dropped, 8);
    assert_int_equal(METRIC_DELTA(likes_client_limited_total), 8);
    assert_int_equal(likes_of("s"), 12);
}

static void test_never_fits(void **state)
{
    (void)state;
    struct lt_ingest_client c = http_client("192.0.2.3", "ua");
    struct lt_ingest_outcome out = count(like(11, "viewer-big-1"), &c); /* above burst 10 */
    assert_int_equal(out.code, LT_INGEST_RATE_LIMITED);
    assert_int_equal(out.retry_after_ms, -1);
    assert_int_equal(n_calls, 0);
}

static void test_budget_refills(void **state)
{
    (void)state;
    cfg.likes_rate_per_second = 1000; /* one tap per ms */
    cfg.likes_per_client_rate_per_second = 1000;
    lt_ingest_set_config(ing, &cfg);
    struct lt_ingest_client c = http_client("192.0.2.4", "ua");
    assert_int_equal(count(like(10, "viewer-refill"), &c).code, LT_INGEST_OK);
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(count(like(10, "viewer-refill"), &c).code, LT_INGEST_OK);
}

static void test_sweep_keeps_spent_buckets(void **state)
{
    (void)state;
    struct lt_ingest_client c = http_client("192.0.2.5", "ua");
    assert_int_equal(count(like(10, "viewer-sweep"), &c).code, LT_INGEST_OK);
    /* Buckets that are not full survive a sweep (forgetting them would
     * hand out a fresh budget). */
    lt_ingest_sweep(ing, lt_mono_ms());
    assert_int_equal(count(like(1, "viewer-sweep"), &c).code, LT_INGEST_RATE_LIMITED);
}

/* ---- rules 4 and 5: agg and metrics ------------------------------------ */

static void test_views_and_their_viewer(void **state)
{
    (void)state;
    struct lt_ingest_client anon = http_client("198.51.100.2", "agent");
    struct lt_ingest_client sock = ws_client("198.51.100.2", "socket-viewer-9");
    assert_int_equal(count(view(NULL, NULL), &anon).code, LT_INGEST_OK);
    assert_int_equal(count(view("named-viewer-9", "partner"), &anon).code, LT_INGEST_OK);
    assert_int_equal(count(view(NULL, NULL), &sock).code, LT_INGEST_OK);
    assert_int_equal(n_calls, 3);
    char derived[35];
    lt_derive_viewer("198.51.100.2", "agent", 5, derived);
    assert_string_equal(calls[0].viewer, derived);
    assert_string_equal(calls[0].source, "");
    assert_string_equal(calls[1].viewer, "named-viewer-9");
    assert_string_equal(calls[1].source, "partner");
    assert_string_equal(calls[2].viewer, "socket-viewer-9");
    /* Views spend no like budget. */
    assert_int_equal(count(like(10, NULL), &anon).code, LT_INGEST_OK);
    assert_int_equal(METRIC_DELTA(events_accepted_total), 4);
}

static void test_counters_spend_no_budget(void **state)
{
    (void)state;
    struct lt_ingest_client c = http_client("198.51.100.3", "ua");
    struct lt_event e;
    memset(&e, 0, sizeof e);
    e.type = LT_EVENT_COUNTER;
    e.counter = 0;
    e.n = 50;
    assert_int_equal(count(e, &c).code, LT_INGEST_OK);
    assert_int_equal(calls[0].kind, 'c');
    assert_int_equal(calls[0].n, 50);
    assert_int_equal(count(like(10, NULL), &c).code, LT_INGEST_OK);
}

static void test_too_many_sources(void **state)
{
    (void)state;
    too_many_sources = true;
    struct lt_ingest_client c = http_client("198.51.100.4", "ua");
    struct lt_ingest_outcome out = count(view(NULL, "src-x"), &c);
    assert_int_equal(out.code, LT_INGEST_TOO_MANY_SOURCES);
    assert_int_equal(out.counted, 0);
    out = count(like(3, NULL), &c);
    assert_int_equal(out.code, LT_INGEST_TOO_MANY_SOURCES);
    assert_int_equal(METRIC_DELTA(likes_accepted_total), 0);
    assert_int_equal(METRIC_DELTA(events_rejected_total), 2);
    assert_int_equal(METRIC_DELTA(events_accepted_total), 0);
}

static void test_validate_counts_rejected(void **state)
{
    (void)state;
    struct lt_event e;
    json_t *good = json_pack("{s:s, s:i}", "type", "like", "n", 3);
    json_t *bad = json_pack("{s:s, s:i}", "type", "like", "n", 0);
    assert_null(lt_ingest_validate(ing, good, &e));
    assert_int_equal(e.n, 3);
    assert_non_null(lt_ingest_validate(ing, bad, &e));
    assert_int_equal(METRIC_DELTA(events_rejected_total), 1);
    json_decref(good);
    json_decref(bad);
}

static void test_reasons(void **state)
{
    (void)state;
    for (int c = LT_INGEST_OK; c <= LT_INGEST_SPOOL_UNAVAILABLE; c++) {
        const char *r = lt_ingest_reason((enum lt_ingest_code)c);
        assert_non_null(r);
        assert_true(strlen(r) > 3 && strcmp(r, "?") != 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_by_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overloaded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_lookup_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_while_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_like_without_viewer_spends_derived_viewer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rotating_viewers_hit_the_client_budget, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_budgets_are_per_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_websocket_drops_excess_taps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_websocket_client_budget_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_fits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_refills, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_keeps_spent_buckets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views_and_their_viewer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters_spend_no_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_counts_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reasons, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
