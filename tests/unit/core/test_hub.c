/* The fan-out hub against a fake store and agg (the linker takes these
 * definitions instead of store.o and agg.o): snapshots, pacing, seq order,
 * one encoding per kind per push, online counts, leaving inside a delivery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/base/shared_buf.h"
#include "livetally/conf/config.h"
#include "livetally/store/store.h"
#include "livetally/core/agg.h"
#include "livetally/core/hub.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

/* ---- fakes ------------------------------------------------------------ */

static lt_store_push_cb *push_cb;
static lt_store_resync_cb *resync_cb;
static void *push_arg;
static int subscribed, unsubscribed, snapshots;
static lt_store_totals_cb *snapshot_cb;
static void *snapshot_arg;
static int64_t online_reported = -1;

void lt_store_on_push(struct lt_store *store, lt_store_push_cb *on_push,
                      lt_store_resync_cb *on_resync, void *arg)
{
    (void)store;
    push_cb = on_push;
    resync_cb = on_resync;
    push_arg = arg;
}

int lt_store_subscribe_stream(struct lt_store *store, const char *stream)
{
    (void)store;
    (void)stream;
    subscribed++;
    return 0;
}

int lt_store_unsubscribe_stream(struct lt_store *store, const char *stream)
{
    (void)store;
    (void)stream;
    unsubscribed++;
    return 0;
}

int lt_store_get_totals(struct lt_store *store, const char *stream, lt_store_totals_cb *cb,
                        void *arg)
{
    (void)store;
    (void)stream;
    snapshots++;
    snapshot_cb = cb;
    snapshot_arg = arg;
    return 0;
}

void lt_agg_set_online(struct lt_agg *agg, const char *stream, int64_t count)
{
    (void)agg;
    (void)stream;
    online_reported = count;
}

/* ---- a subscriber kind that records what it gets ---------------------- */

static int encodes;

struct rec {
    int got;
    int64_t last_seq;
    int64_t last_likes;
    bool leave_on_next; /* unsubscribe from inside the next delivery */
    struct lt_hub *hub;
    struct lt_hub_sub *sub;
};

/* The push as the kind sees it: a copy of the fields it was handed. */
struct pushed {
    char stream[LT_STREAM_ID_MAX + 1];
    int64_t seq, likes, views, ts;
};

static struct lt_shared *encode(const struct lt_totals *t)
{
    encodes++;
    struct lt_shared *b = lt_shared_new(sizeof(struct pushed));
    struct pushed p = {{0}, t->seq, t->likes, t->views, t->ts_ms};
    memcpy(p.stream, t->stream, sizeof p.stream);
    memcpy(b->data, &p, sizeof p);
    return b;
}

static void deliver(void *owner, struct lt_shared *msg)
{
    struct rec *r = owner;
    struct pushed p;
    memcpy(&p, msg->data, sizeof p);
    assert_string_equal(p.stream, "s");
    assert_true(p.seq > r->last_seq); /* never falls, never repeats */
    r->last_seq = p.seq;
    r->last_likes = p.likes;
    r->got++;
    if (r->leave_on_next) {
        r->leave_on_next = false;
        lt_hub_unsubscribe(r->hub, r->sub);
        r->sub = NULL;
    }
}

static const struct lt_push_kind kind_a = {.name = "a", .encode = encode, .deliver = deliver};

/* A kind that is told status notices: 'N' and the status, or 'T' for a
 * push; ended leaves as hub.h asks. */
struct nrec {
    int pushes, notices, ended;
    int last_status;
    char order[8]; /* the first messages' letters, 'T' or 'N' */
    struct lt_hub *hub;
    struct lt_hub_sub *sub;
};
static int notice_encodes;

static struct lt_shared *encode_n(const struct lt_totals *t)
{
    (void)t;
    struct lt_shared *b = lt_shared_new(1);
    b->data[0] = 'T';
    return b;
}

static struct lt_shared *encode_notice_n(const char *stream, enum lt_stream_status status)
{
    assert_string_equal(stream, "s");
    notice_encodes++;
    struct lt_shared *b = lt_shared_new(2);
    b->data[0] = 'N';
    b->data[1] = (char)status;
    return b;
}

static void deliver_n(void *owner, struct lt_shared *msg)
{
    struct nrec *r = owner;
    size_t n = (size_t)(r->pushes + r->notices);
    if (n + 1 < sizeof r->order)
        r->order[n] = msg->data[0];
    if (msg->data[0] == 'N') {
        r->notices++;
        r->last_status = msg->data[1];
    } else {
        r->pushes++;
    }
}

static void ended_n(void *owner, struct lt_hub_sub *sub)
{
    struct nrec *r = owner;
    assert_ptr_equal(sub, r->sub);
    r->ended++;
    lt_hub_unsubscribe(r->hub, sub);
    r->sub = NULL;
}

static const struct lt_push_kind kind_n = {"n", encode_n, deliver_n, encode_notice_n, ended_n};

static struct event_base *base;
static struct lt_config cfg;
static struct lt_hub *hub;

static int setup(void **state)
{
    (void)state;
    lt_config_defaults(&cfg);
    cfg.push_interval_ms = 100;
    base = event_base_new();
    hub = lt_hub_new(base, &cfg, NULL, NULL);
    subscribed = unsubscribed = snapshots = encodes = 0;
    online_reported = -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lt_hub_free(hub);
    event_base_free(base);
    lt_config_free(&cfg);
    return 0;
}

/* What the store hands over for a published change: only the pushed
 * fields are set (store.h). */
static void publish_at(int64_t seq, int64_t likes, int64_t ts_ms)
{
    struct lt_totals t;
    lt_totals_init(&t, "s");
    t.seq = seq;
    t.likes = likes;
    t.ts_ms = ts_ms;
    push_cb(push_arg, "s", &t);
    lt_totals_free(&t);
}

static void publish(int64_t seq, int64_t likes)
{
    publish_at(seq, likes, 1);
}

static void answer_snapshot(int64_t seq)
{
    struct lt_totals t;
    lt_totals_init(&t, "s");
    lt_totals_set_title(&t, "a title", 7);
    lt_totals_add_counter(&t, "shares", 3);
    t.seq = seq;
    t.likes = 7;
    t.views = 1;
    snapshot_cb(snapshot_arg, 0, &t);
    lt_totals_free(&t); /* borrowed: the hub keeps its own copy */
}

static void run_for(int ms)
{
    struct timeval tv = {0, ms * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static void test_snapshot_then_paced_pushes(void **state)
{
    (void)state;
    struct rec r1 = {0}, r2 = {0};
    r1.last_seq = r2.last_seq = -1;
    r1.sub = lt_hub_subscribe(hub, "s", &kind_a, &r1, true, -1);
    r2.sub = lt_hub_subscribe(hub, "s", &kind_a, &r2, true, -1);
    assert_int_equal(subscribed, 1); /* one channel per stream, not per subscriber */
    assert_int_equal(snapshots, 1);
    assert_int_equal(online_reported, 2);
    answer_snapshot(5);
    assert_int_equal(r1.got, 1);
    assert_int_equal(r2.got, 1);
    assert_int_equal(r1.last_likes, 7);
    assert_int_equal(encodes, 1); /* encoded once for both */
    /* A burst right after a push waits for the pace, then goes as one. */
    publish(6, 8);
    publish(7, 9);
    publish(6, 8); /* late and older: ignored */
    assert_int_equal(r1.got, 1);
    run_for(150);
    assert_int_equal(r1.got, 2);
    assert_int_equal(r1.last_seq, 7);
    assert_int_equal(r1.last_likes, 9);
    assert_int_equal(r2.last_seq, 7);
    assert_int_equal(encodes, 2);
    /* Nothing new: nothing pushed. */
    run_for(150);
    assert_int_equal(r1.got, 2);
    /* Older than the pace: at once. */
    publish(8, 10);
    assert_int_equal(r1.got, 3);
    lt_hub_unsubscribe(hub, r1.sub);
    assert_int_equal(online_reported, 1);
    lt_hub_unsubscribe(hub, r2.sub);
    assert_int_equal(online_reported, 0);
    assert_int_equal(unsubscribed, 1);
}

static void test_newcomer_gets_known_totals(void **state)
{
    (void)state;
    struct rec r1 = {0}, r2 = {0};
    r1.last_seq = r2.last_seq = -1;
    r1.sub = lt_hub_subscribe(hub, "s", &kind_a, &r1, true, -1);
    answer_snapshot(3);
    r2.sub = lt_hub_subscribe(hub, "s", &kind_a, &r2, false, -1);
    assert_int_equal(snapshots, 1); /* known: no second read */
    assert_int_equal(online_reported, 1);   /* r2 does not count */
    assert_int_equal(r2.got, 0);            /* not from inside subscribe... */
    run_for(20);
    assert_int_equal(r2.got, 1); /* ...but on the next loop pass */
    assert_int_equal(r2.last_seq, 3);
    assert_int_equal(r1.got, 1); /* not sent twice */
    lt_hub_unsubscribe(hub, r1.sub);
    lt_hub_unsubscribe(hub, r2.sub);
}

static void test_after_seq_and_leaving_inside_delivery(void **state)
{
    (void)state;
    struct rec r1 = {0}, r2 = {0};
    r1.last_seq = 4; /* Last-Event-ID 4 */
    r2.last_seq = -1;
    r1.hub = r2.hub = hub;
    r1.sub = lt_hub_subscribe(hub, "s", &kind_a, &r1, true, 4);
    r2.sub = lt_hub_subscribe(hub, "s", &kind_a, &r2, true, -1);
    answer_snapshot(4);
    assert_int_equal(r1.got, 0); /* it had seq 4 already */
    assert_int_equal(r2.got, 1);
    r1.leave_on_next = true;
    r2.leave_on_next = true;
    run_for(120);
    publish(5, 1);
    run_for(10);
    assert_int_equal(r1.got, 1);
    assert_int_equal(r2.got, 2);
    assert_null(r1.sub);
    assert_null(r2.sub);
    assert_int_equal(unsubscribed, 1); /* the last one left: stream released */
    assert_int_equal(online_reported, 0);
}

static void test_resync_takes_a_fresh_snapshot(void **state)
{
    (void)state;
    struct rec r = {0};
    r.last_seq = -1;
    r.sub = lt_hub_subscribe(hub, "s", &kind_a, &r, true, -1);
    answer_snapshot(10);
    assert_int_equal(r.got, 1);
    /* The channel subscription confirmed after the first read: read again
     * (a change published in between would otherwise be missed). */
    push_cb(push_arg, "s", NULL);
    assert_int_equal(snapshots, 2);
    answer_snapshot(11);
    run_for(150);
    assert_int_equal(r.last_seq, 11);
    resync_cb(push_arg);
    assert_int_equal(snapshots, 3);
    answer_snapshot(12); /* messages were missed while away */
    run_for(150);
    assert_int_equal(r.last_seq, 12);
    lt_hub_unsubscribe(hub, r.sub);
}

/* A stream that does not exist yet is pushed as zeros with seq 0; a failed
 * snapshot is tried again. */
static void test_unknown_stream_and_failed_snapshot(void **state)
{
    (void)state;
    struct rec r = {0};
    r.last_seq = -1;
    r.sub = lt_hub_subscribe(hub, "s", &kind_a, &r, true, -1);
    snapshot_cb(snapshot_arg, LT_ETIMEDOUT, NULL);
    assert_int_equal(r.got, 0);
    run_for(600); /* LT_SNAPSHOT_RETRY_MS */
    assert_int_equal(snapshots, 2);
    snapshot_cb(snapshot_arg, 0, NULL);
    assert_int_equal(r.got, 1);
    assert_int_equal(r.last_seq, 0);
    assert_int_equal(r.last_likes, 0);
    publish(1, 3);
    run_for(150);
    assert_int_equal(r.last_seq, 1);
    assert_int_equal(r.last_likes, 3);
    lt_hub_unsubscribe(hub, r.sub);
}

static void test_status_and_deleted_notices(void **state)
{
    (void)state;
    struct nrec n1 = {0}, n2 = {0};
    struct rec plain = {0};
    plain.last_seq = -1;
    n1.hub = n2.hub = hub;
    n1.sub = lt_hub_subscribe(hub, "s", &kind_n, &n1, true, -1);
    n2.sub = lt_hub_subscribe(hub, "s", &kind_n, &n2, true, -1);
    plain.sub = lt_hub_subscribe(hub, "s", &kind_a, &plain, true, -1);
    answer_snapshot(1);
    assert_int_equal(n1.pushes, 1);
    notice_encodes = 0;
    lt_hub_stream_status(hub, "other", LT_STATUS_ENDED); /* no subscriber: nothing */
    lt_hub_stream_status(hub, "s", LT_STATUS_ENDED);
    assert_int_equal(notice_encodes, 1); /* once per kind */
    assert_int_equal(n1.notices, 1);
    assert_int_equal(n2.notices, 1);
    assert_int_equal(n1.last_status, LT_STATUS_ENDED);
    assert_int_equal(n1.ended, 0);  /* a status change ends nothing */
    assert_int_equal(plain.got, 1); /* a kind without notices is not told */
    /* Deleted: the notice, then every subscription of a notified kind ends. */
    lt_hub_stream_status(hub, "s", LT_STATUS_NONE);
    assert_int_equal(n1.notices, 2);
    assert_int_equal(n1.last_status, LT_STATUS_NONE);
    assert_int_equal(n1.ended, 1);
    assert_int_equal(n2.ended, 1);
    assert_null(n1.sub);
    assert_int_equal(lt_hub_subscribers(hub), 1);
    assert_int_equal(online_reported, 1);
    assert_int_equal(unsubscribed, 0); /* plain still holds the stream */
    lt_hub_unsubscribe(hub, plain.sub);
    assert_int_equal(unsubscribed, 1);
    /* All of a stream's subscribers ending: the stream goes with them. */
    n1.sub = lt_hub_subscribe(hub, "s", &kind_n, &n1, false, -1);
    lt_hub_stream_status(hub, "s", LT_STATUS_NONE);
    assert_int_equal(n1.ended, 2);
    assert_int_equal(lt_hub_subscribers(hub), 0);
    assert_int_equal(unsubscribed, 2);
    snapshot_cb(snapshot_arg, 0, NULL); /* the released stream's read returns: freed */
}

/* A status notice heard before a subscriber's first totals (the stream's
 * snapshot still out, or its catch-up not yet run) waits for them: totals
 * come first. The newest held status is the one told; a resumed subscriber
 * (after_seq) had totals before and is told at once. */
static void test_notice_before_first_totals_waits_for_them(void **state)
{
    (void)state;
    struct nrec n1 = {0}, n2 = {0}, resumed = {0};
    n1.hub = n2.hub = resumed.hub = hub;
    n1.sub = lt_hub_subscribe(hub, "s", &kind_n, &n1, true, -1);
    resumed.sub = lt_hub_subscribe(hub, "s", &kind_n, &resumed, true, 9);
    lt_hub_stream_status(hub, "s", LT_STATUS_LIVE);
    lt_hub_stream_status(hub, "s", LT_STATUS_ENDED);
    assert_int_equal(n1.notices, 0);
    assert_int_equal(resumed.notices, 2);
    answer_snapshot(1);
    assert_string_equal(n1.order, "TN");
    assert_int_equal(n1.last_status, LT_STATUS_ENDED);
    /* A newcomer to a known stream: its catch-up is on the next pass. */
    n2.sub = lt_hub_subscribe(hub, "s", &kind_n, &n2, true, -1);
    lt_hub_stream_status(hub, "s", LT_STATUS_LIVE);
    assert_int_equal(n1.notices, 2); /* greeted: at once */
    assert_int_equal(n2.notices, 0);
    run_for(20);
    assert_string_equal(n2.order, "TN");
    assert_int_equal(n2.last_status, LT_STATUS_LIVE);
    /* A deletion ends the subscription whatever came before. */
    struct nrec n3 = {0};
    n3.hub = hub;
    n3.sub = lt_hub_subscribe(hub, "s", &kind_n, &n3, true, -1);
    lt_hub_stream_status(hub, "s", LT_STATUS_NONE);
    assert_string_equal(n3.order, "N");
    assert_int_equal(n3.ended, 1);
    assert_int_equal(lt_hub_subscribers(hub), 0);
}

/* push_delay_seconds: one observation per published seq handed out, from
 * the message's ts; none for a snapshot or a newcomer's catch-up. */
static void test_push_delay_observed(void **state)
{
    (void)state;
    const struct lt_histogram *d = &lt_metrics->histograms[LT_HIST_PUSH_DELAY];
    memset(lt_metrics->histograms, 0, sizeof lt_metrics->histograms);
    struct rec r1 = {0}, r2 = {0};
    r1.last_seq = r2.last_seq = -1;
    r1.sub = lt_hub_subscribe(hub, "s", &kind_a, &r1, true, -1);
    answer_snapshot(5);
    assert_int_equal(r1.got, 1);
    assert_int_equal(d->count, 0); /* a read, not a publish */
    /* Published 300 ms ago: at least that much delay (the pace adds). */
    publish_at(6, 8, lt_wall_ms() - 300);
    run_for(150);
    assert_int_equal(r1.got, 2);
    assert_int_equal(d->count, 1);
    assert_true(d->sum >= 300000);
    /* A newcomer's catch-up to the same seq is no new push. */
    r2.sub = lt_hub_subscribe(hub, "s", &kind_a, &r2, true, -1);
    run_for(20);
    assert_int_equal(r2.got, 1);
    assert_int_equal(d->count, 1);
    /* A late, older seq: nothing pushed, nothing observed. */
    publish_at(6, 8, lt_wall_ms());
    run_for(150);
    assert_int_equal(d->count, 1);
    /* A ts ahead of this clock (hosts out of step) counts as 0. */
    uint64_t sum = d->sum;
    publish_at(7, 9, lt_wall_ms() + 60000);
    run_for(150);
    assert_int_equal(r1.got, 3);
    assert_int_equal(d->count, 2);
    assert_int_equal(d->sum, sum);
    assert_int_equal(d->buckets[0], 1);
    lt_hub_unsubscribe(hub, r1.sub);
    lt_hub_unsubscribe(hub, r2.sub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_snapshot_then_paced_pushes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newcomer_gets_known_totals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_after_seq_and_leaving_inside_delivery, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resync_takes_a_fresh_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_stream_and_failed_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_and_deleted_notices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notice_before_first_totals_waits_for_them, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_push_delay_observed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
