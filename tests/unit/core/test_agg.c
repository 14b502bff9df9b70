/* Unit tests of agg.c: deltas per stream, sealing into batches, and the
 * exactly-once flush (one batch in flight per stream, unknown outcomes resent
 * unchanged, acknowledged ones replaced by the next seq), the backlog bound,
 * dropping streams with a batch in flight, the stream index written until
 * the store confirms it.
 *
 * agg.c calls only lt_store_apply_batch and lt_store_index_stream; this file
 * defines both (a fake store that records every call), so the linker takes
 * them from here and never pulls store.o out of ltcore. The test plays Redis
 * by calling the recorded callbacks. The tick timer is armed on a real
 * event_base that runs only in test_tick_flushes: the other tests call
 * lt_agg_flush themselves. */
#include "livetally/base/error.h"
#include "livetally/base/log.h"
#include "livetally/base/metrics.h"
#include "livetally/conf/config.h"
#include "livetally/store/store.h"
#include "livetally/core/agg.h"

#include <event2/event.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

/* ---- the fake store ---- */

#define MAX_SENT 64
#define MAX_INDEXED 16

/* One lt_store_apply_batch call that the store took (returned 0). */
struct sent {
    const struct lt_batch *batch; /* agg's, valid until the callback */
    struct lt_batch copy;         /* deep copy taken at send time */
    lt_store_batch_cb *cb;
    void *arg;
    bool answered;
};

/* One lt_store_index_stream call that the store took. */
struct indexed {
    char stream[65];
    int64_t created_ms;
    lt_store_done_cb *cb;
    void *arg;
    bool answered;
};

static struct {
    int dummy;
} store_tag;
#define FAKE_STORE ((struct lt_store *)(void *)&store_tag)

static struct sent sent[MAX_SENT];
static size_t n_sent;
static size_t n_refused; /* calls answered LT_EAGAIN */
static bool redis_down;  /* lt_store_apply_batch and index answer LT_EAGAIN */
static struct indexed indexed[MAX_INDEXED];
static size_t n_indexed;

/* malloc + memcpy of n elements, also for n == 0 (src may then be NULL). */
static void *dup_array(const void *src, size_t n, size_t size)
{
    void *p = malloc(n ? n * size : 1);
    if (n)
        memcpy(p, src, n * size);
    return p;
}

static struct lt_batch deep_copy(const struct lt_batch *b)
{
    struct lt_batch c = *b;
    c.sources = dup_array(b->sources, b->n_sources, sizeof *c.sources);
    c.counters = dup_array(b->counters, b->n_counters, sizeof *c.counters);
    c.views = dup_array(b->views, b->n_views, sizeof *c.views);
    return c;
}

int lt_store_apply_batch(struct lt_store *store, const struct lt_batch *b, lt_store_batch_cb *cb,
                         void *arg)
{
    assert_ptr_equal(store, FAKE_STORE);
    if (redis_down) {
        n_refused++;
        return LT_EAGAIN;
    }
    assert_true(n_sent < MAX_SENT);
    struct sent *s = &sent[n_sent++];
    s->batch = b;
    s->copy = deep_copy(b);
    s->cb = cb;
    s->arg = arg;
    s->answered = false;
    return 0;
}

int lt_store_index_stream(struct lt_store *store, const char *stream, int64_t created_ms,
                          lt_store_done_cb *cb, void *arg)
{
    assert_ptr_equal(store, FAKE_STORE);
    if (redis_down)
        return LT_EAGAIN;
    assert_true(n_indexed < MAX_INDEXED);
    struct indexed *x = &indexed[n_indexed++];
    snprintf(x->stream, sizeof x->stream, "%s", stream);
    x->created_ms = created_ms;
    x->cb = cb;
    x->arg = arg;
    x->answered = false;
    return 0;
}

/* Redis answers index write i (0: written). */
static void answer_index(size_t i, int err)
{
    assert_true(i < n_indexed);
    assert_false(indexed[i].answered);
    indexed[i].answered = true;
    indexed[i].cb(indexed[i].arg, err);
}

/* Redis answers batch i: applied now (or, applied=false, a seq seen before). */
static void ack_full(size_t i, bool was_applied, int64_t stream_seq, int64_t created_ms)
{
    assert_true(i < n_sent);
    assert_false(sent[i].answered);
    sent[i].answered = true;
    struct lt_batch_result res = {was_applied, (int64_t)sent[i].copy.n_views, stream_seq,
                                  created_ms};
    sent[i].cb(sent[i].arg, 0, &res);
}

static void ack(size_t i)
{
    ack_full(i, true, (int64_t)sent[i].copy.seq, 1000);
}

/* The outcome of batch i is unknown (timeout, lost connection). */
static void fail_batch(size_t i, int err)
{
    assert_true(i < n_sent);
    assert_false(sent[i].answered);
    sent[i].answered = true;
    sent[i].cb(sent[i].arg, err, NULL);
}

/* ---- fixture ---- */

static char shares[] = "shares", gifts[] = "gifts";
static char *counter_names[] = {shares, gifts};
static struct lt_config cfg;
static struct lt_strlist default_counters;
static struct event_base *base;
static struct lt_agg *agg;

static int setup(void **state)
{
    (void)state;
    lt_log_set_level(LT_LOG_ERROR); /* failures log warnings on purpose */
    memset(lt_metrics, 0, sizeof *lt_metrics);
    memset(sent, 0, sizeof sent);
    n_sent = n_refused = n_indexed = 0;
    redis_down = false;
    lt_config_defaults(&cfg);
    default_counters = cfg.counters;
    cfg.counters.items = counter_names;
    cfg.counters.n = 2;
    cfg.redis_max_backlog = 100000;
    cfg.flush_interval_ms = 50;
    cfg.views_dedup_seconds = 1800;
    base = event_base_new();
    agg = lt_agg_new(base, &cfg, FAKE_STORE, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lt_agg_free(agg);
    /* The store still owes these callbacks; agg frees what it left behind. */
    for (size_t i = 0; i < n_sent; i++)
        if (!sent[i].answered)
            fail_batch(i, LT_EDISCONNECTED);
    for (size_t i = 0; i < n_indexed; i++)
        if (!indexed[i].answered)
            answer_index(i, LT_EDISCONNECTED);
    for (size_t i = 0; i < n_sent; i++) {
        free(sent[i].copy.sources);
        free(sent[i].copy.counters);
        free(sent[i].copy.views);
    }
    event_base_free(base);
    cfg.counters = default_counters;
    lt_config_free(&cfg);
    return 0;
}

/* ---- helpers on batches ---- */

static const struct lt_batch *batch(size_t i)
{
    assert_true(i < n_sent);
    return &sent[i].copy;
}

static int64_t likes_of(const struct lt_batch *b, const char *source)
{
    int64_t sum = 0, found = 0;
    for (size_t i = 0; i < b->n_sources; i++) {
        if (strcmp(b->sources[i].name, source) == 0) {
            sum += b->sources[i].likes;
            found++;
        }
    }
    assert_true(found <= 1); /* a source appears once */
    return sum;
}

static int64_t total_likes(const struct lt_batch *b)
{
    int64_t sum = 0;
    for (size_t i = 0; i < b->n_sources; i++)
        sum += b->sources[i].likes;
    return sum;
}

static const char *view_source(const struct lt_batch *b, size_t v)
{
    assert_true(v < b->n_views);
    assert_true(b->views[v].source < b->n_sources);
    return b->sources[b->views[v].source].name;
}

static void assert_batches_equal(const struct lt_batch *a, const struct lt_batch *b)
{
    assert_string_equal(a->stream, b->stream);
    assert_true(a->seq == b->seq);
    assert_true(a->at_ms == b->at_ms);
    assert_int_equal(a->n_sources, b->n_sources);
    assert_memory_equal(a->sources, b->sources, a->n_sources * sizeof *a->sources);
    assert_int_equal(a->n_counters, b->n_counters);
    assert_memory_equal(a->counters, b->counters, a->n_counters * sizeof *a->counters);
    assert_int_equal(a->n_views, b->n_views);
    if (a->n_views)
        assert_memory_equal(a->views, b->views, a->n_views * sizeof *a->views);
}

static void add_view(const char *stream, const char *viewer, const char *source)
{
    assert_int_equal(lt_agg_add_view(agg, stream, viewer, source), 0);
}

static void add_likes(const char *stream, const char *source, int64_t n)
{
    assert_int_equal(lt_agg_add_likes(agg, stream, source, n), 0);
}

/* Index of the batch for stream among sent[from..n_sent); fails if none or two. */
static size_t find_batch(size_t from, const char *stream)
{
    size_t found = SIZE_MAX;
    for (size_t i = from; i < n_sent; i++) {
        if (strcmp(sent[i].copy.stream, stream) == 0) {
            assert_true(found == SIZE_MAX);
            found = i;
        }
    }
    if (found == SIZE_MAX)
        fail_msg("no batch for %s", stream);
    return found;
}

/* ---- what one batch holds ---- */

static void test_likes_sum_per_source(void **state)
{
    (void)state;
    add_likes("s1", "direct", 3);
    add_likes("s1", NULL, 2); /* NULL = direct */
    add_likes("s1", "wutongcun", 5);
    add_likes("s1", "direct", 1);
    add_likes("s1", "bili", 7);
    add_likes("s1", "wutongcun", 10);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 1);
    const struct lt_batch *b = batch(0);
    assert_string_equal(b->stream, "s1");
    assert_true(b->seq >= 1);
    assert_int_equal(b->n_sources, 3);
    assert_int_equal(likes_of(b, "direct"), 6);
    assert_int_equal(likes_of(b, "wutongcun"), 15);
    assert_int_equal(likes_of(b, "bili"), 7);
    assert_int_equal(b->n_views, 0);
    assert_int_equal(b->n_counters, 2);
    assert_int_equal(b->counters[0], 0);
    assert_int_equal(b->counters[1], 0);
}

static void test_streams_kept_apart(void **state)
{
    (void)state;
    add_likes("s1", NULL, 1);
    add_likes("s2", NULL, 20);
    add_view("s2", "viewer-0001", NULL);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 2);
    const struct lt_batch *b1 = batch(find_batch(0, "s1"));
    const struct lt_batch *b2 = batch(find_batch(0, "s2"));
    assert_int_equal(total_likes(b1), 1);
    assert_int_equal(b1->n_views, 0);
    assert_int_equal(total_likes(b2), 20);
    assert_int_equal(b2->n_views, 1);
}

static void test_counters_by_index(void **state)
{
    (void)state;
    assert_int_equal(lt_agg_add_counter(agg, "s1", 0, 2), 0);
    assert_int_equal(lt_agg_add_counter(agg, "s1", 1, 7), 0);
    assert_int_equal(lt_agg_add_counter(agg, "s1", 0, 3), 0);
    assert_int_equal(lt_agg_add_counter(agg, "s1", 2, 1), LT_EINVAL);
    assert_int_equal(lt_agg_add_counter(agg, "s9", 5, 1), LT_EINVAL);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 1); /* the rejected counter made no stream s9 */
    const struct lt_batch *b = batch(0);
    assert_int_equal(b->n_counters, 2);
    assert_int_equal(b->counters[0], 5);
    assert_int_equal(b->counters[1], 7);
    assert_int_equal(total_likes(b), 0);
}

static void test_views_carry_viewer_and_source(void **state)
{
    (void)state;
    add_view("s1", "viewer-aaaa1", NULL);
    add_view("s1", "viewer-bbbb2", "wutongcun");
    add_view("s1", "viewer-cccc3", "direct");
    add_view("s1", "viewer-aaaa1", "wutongcun"); /* dedup is Redis' job, not agg's */
    add_likes("s1", "bili", 4);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 1);
    const struct lt_batch *b = batch(0);
    assert_int_equal(b->n_views, 4);
    assert_string_equal(b->views[0].viewer, "viewer-aaaa1");
    assert_string_equal(view_source(b, 0), "direct");
    assert_string_equal(b->views[1].viewer, "viewer-bbbb2");
    assert_string_equal(view_source(b, 1), "wutongcun");
    assert_string_equal(b->views[2].viewer, "viewer-cccc3");
    assert_string_equal(view_source(b, 2), "direct");
    assert_string_equal(b->views[3].viewer, "viewer-aaaa1");
    assert_string_equal(view_source(b, 3), "wutongcun");
    assert_int_equal(likes_of(b, "direct"), 0);
    assert_int_equal(likes_of(b, "wutongcun"), 0);
    assert_int_equal(likes_of(b, "bili"), 4);
}

static void test_source_limit(void **state)
{
    (void)state;
    char source[16];
    for (int i = 0; i < 64; i++) {
        snprintf(source, sizeof source, "src-%d", i);
        add_likes("s1", source, 1);
    }
    assert_int_equal(lt_agg_add_likes(agg, "s1", "one-too-many", 1), LT_ETOOLARGE);
    assert_int_equal(lt_agg_add_view(agg, "s1", "viewer-0001", "one-too-many"), LT_ETOOLARGE);
    add_likes("s1", "src-3", 1); /* known sources still count */
    lt_agg_flush(agg);
    const struct lt_batch *b = batch(0);
    assert_int_equal(b->n_sources, 64);
    assert_int_equal(total_likes(b), 65);
    assert_int_equal(likes_of(b, "one-too-many"), 0);
    assert_int_equal(b->n_views, 0);
    /* Once the batch is acknowledged, the table starts over. */
    ack(0);
    add_likes("s1", "one-too-many", 1);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 2);
    assert_int_equal(likes_of(batch(1), "one-too-many"), 1);
}

/* ---- the exactly-once flush ---- */

static void test_one_batch_in_flight_per_stream(void **state)
{
    (void)state;
    add_likes("s1", NULL, 1);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 1);
    /* Unacknowledged: more events wait, the next flushes send nothing. */
    add_likes("s1", NULL, 2);
    add_view("s1", "viewer-0001", "bili");
    lt_agg_flush(agg);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 1);
    add_likes("s1", NULL, 3);
    ack(0);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 2);
    const struct lt_batch *b = batch(1);
    assert_true(b->seq > batch(0)->seq);
    assert_int_equal(likes_of(b, "direct"), 5);
    assert_int_equal(b->n_views, 1);
    assert_string_equal(b->views[0].viewer, "viewer-0001");
    assert_string_equal(view_source(b, 0), "bili");
}

static void test_other_streams_not_blocked(void **state)
{
    (void)state;
    add_likes("s1", NULL, 1);
    lt_agg_flush(agg);
    add_likes("s1", NULL, 1);
    add_likes("s2", NULL, 1);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 2);
    assert_string_equal(batch(1)->stream, "s2");
}

static void check_failed_batch_resent_unchanged(int err)
{
    add_likes("s1", "direct", 4);
    add_view("s1", "viewer-0001", "wutongcun");
    assert_int_equal(lt_agg_add_counter(agg, "s1", 1, 9), 0);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 1);
    /* Events that arrive meanwhile must not change the batch in flight. */
    add_likes("s1", "direct", 100);
    add_likes("s1", "newsrc", 1);
    add_view("s1", "viewer-0002", "direct");
    assert_int_equal(lt_agg_add_counter(agg, "s1", 1, 1), 0);
    fail_batch(0, err);
    assert_int_equal(n_indexed, 0); /* not known to exist yet */
    assert_false(lt_agg_idle(agg));
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 2);
    assert_ptr_equal(sent[1].batch, sent[0].batch);
    assert_batches_equal(batch(1), batch(0));
    /* Fails again: still the same. */
    fail_batch(1, err);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 3);
    assert_batches_equal(batch(2), batch(0));
    /* Acknowledged: the next batch holds exactly what came meanwhile. */
    ack(2);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 4);
    const struct lt_batch *b = batch(3);
    assert_true(b->seq > batch(0)->seq);
    assert_int_equal(total_likes(b), 101);
    assert_int_equal(likes_of(b, "direct"), 100);
    assert_int_equal(likes_of(b, "newsrc"), 1);
    assert_int_equal(b->counters[0], 0);
    assert_int_equal(b->counters[1], 1);
    assert_int_equal(b->n_views, 1);
    assert_string_equal(b->views[0].viewer, "viewer-0002");
    assert_string_equal(view_source(b, 0), "direct");
    assert_int_equal(lt_metrics->redis_batch_failures_total, 2);
    assert_int_equal(lt_metrics->redis_batches_sent_total, 4);
}

static void test_timed_out_batch_resent_unchanged(void **state)
{
    (void)state;
    check_failed_batch_resent_unchanged(LT_ETIMEDOUT);
}

static void test_disconnected_batch_resent_unchanged(void **state)
{
    (void)state;
    check_failed_batch_resent_unchanged(LT_EDISCONNECTED);
}

static void test_duplicate_ack_counts_as_done(void **state)
{
    (void)state;
    add_likes("s1", NULL, 4);
    lt_agg_flush(agg);
    fail_batch(0, LT_ETIMEDOUT); /* it was applied, but the reply was lost */
    add_likes("s1", NULL, 1);
    lt_agg_flush(agg);
    assert_batches_equal(batch(1), batch(0));
    ack_full(1, false, 17, 1000); /* Redis: seen that seq before */
    /* It was applied (by the first send): the stream exists, so it is indexed. */
    assert_int_equal(n_indexed, 1);
    answer_index(0, 0);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 3);
    assert_true(batch(2)->seq > batch(0)->seq);
    assert_int_equal(total_likes(batch(2)), 1);
    assert_int_equal(lt_metrics->redis_batches_duplicate_total, 1);
    assert_int_equal(lt_metrics->redis_batches_applied_total, 0);
    ack(2);
    assert_true(lt_agg_idle(agg));
}

static void test_store_not_ready_keeps_sealed_batch(void **state)
{
    (void)state;
    add_likes("s1", NULL, 4);
    add_view("s1", "viewer-0001", NULL);
    redis_down = true;
    lt_agg_flush(agg);
    assert_int_equal(n_refused, 1);
    assert_int_equal(n_sent, 0);
    add_likes("s1", NULL, 50);
    lt_agg_flush(agg);
    assert_int_equal(n_refused, 2);
    assert_false(lt_agg_idle(agg));
    assert_int_equal(lt_metrics->redis_batches_sent_total, 0);
    redis_down = false;
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 1);
    const struct lt_batch *b = batch(0);
    assert_int_equal(total_likes(b), 4); /* sealed at the first attempt */
    assert_int_equal(b->n_views, 1);
    ack(0);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 2);
    assert_true(batch(1)->seq > b->seq);
    assert_int_equal(total_likes(batch(1)), 50);
    assert_int_equal(batch(1)->n_views, 0);
}

static void test_seqs_increase_across_streams(void **state)
{
    (void)state;
    add_likes("a", NULL, 1);
    add_likes("b", NULL, 1);
    add_likes("c", NULL, 1);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 3);
    uint64_t max_first = 0;
    for (size_t i = 0; i < 3; i++) {
        for (size_t j = 0; j < i; j++)
            assert_true(batch(i)->seq != batch(j)->seq);
        if (batch(i)->seq > max_first)
            max_first = batch(i)->seq;
    }
    for (size_t i = 0; i < 3; i++)
        ack(i);
    add_likes("c", NULL, 1);
    add_likes("a", NULL, 1);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 5);
    assert_true(batch(3)->seq > max_first);
    assert_true(batch(4)->seq > max_first);
    assert_true(batch(3)->seq != batch(4)->seq);
    /* Seqs are given in the order batches are sealed. */
    for (size_t i = 1; i < n_sent; i++)
        assert_true(batch(i)->seq > batch(i - 1)->seq);
}

static void test_many_views_split_into_batches(void **state)
{
    (void)state;
    enum { N = 9001 };
    static int seen[N];
    memset(seen, 0, sizeof seen);
    char viewer[32];
    for (int i = 0; i < N; i++) {
        snprintf(viewer, sizeof viewer, "viewer-%05d", i);
        add_view("big", viewer, i % 3 == 0 ? "wutongcun" : NULL);
    }
    add_likes("big", "bili", 4);
    assert_int_equal(lt_agg_backlog(agg), N + 1);
    size_t views = 0;
    int64_t likes = 0;
    uint64_t last_seq = 0;
    for (int round = 0; round < 10 && !lt_agg_idle(agg); round++) {
        size_t before = n_sent;
        lt_agg_flush(agg);
        assert_int_equal(n_sent, before + 1); /* one at a time */
        const struct lt_batch *b = batch(before);
        assert_true(b->n_views > 0 && b->n_views <= 4000);
        assert_true(b->seq > last_seq);
        last_seq = b->seq;
        for (size_t v = 0; v < b->n_views; v++) {
            int i = atoi(b->views[v].viewer + 7);
            assert_true(i >= 0 && i < N);
            seen[i]++;
            assert_string_equal(view_source(b, v), i % 3 == 0 ? "wutongcun" : "direct");
        }
        views += b->n_views;
        likes += total_likes(b);
        if (round == 1) { /* a failure in the middle changes nothing */
            fail_batch(before, LT_ETIMEDOUT);
            lt_agg_flush(agg);
            assert_int_equal(n_sent, before + 2);
            assert_batches_equal(batch(before + 1), b);
            before++;
        }
        lt_agg_flush(agg); /* in flight: nothing more */
        assert_int_equal(n_sent, before + 1);
        ack(before);
        assert_int_equal(lt_agg_backlog(agg), lt_agg_idle(agg) ? 0 : N - views + 1);
    }
    assert_true(lt_agg_idle(agg));
    assert_int_equal(views, N);
    for (int i = 0; i < N; i++)
        if (seen[i] != 1)
            fail_msg("viewer %d sent %d times", i, seen[i]);
    assert_int_equal(likes, 4);
    assert_int_equal(n_indexed, 1); /* once for the active period */
}

static void test_tick_flushes(void **state)
{
    (void)state;
    /* The timer armed by lt_agg_new flushes without a call. */
    add_likes("s1", NULL, 3);
    assert_int_equal(event_base_loop(base, EVLOOP_ONCE), 0);
    assert_int_equal(n_sent, 1);
    assert_int_equal(total_likes(batch(0)), 3);
}

/* ---- acknowledgements ---- */

static void test_index_stream_once_per_active_period(void **state)
{
    (void)state;
    add_likes("s1", NULL, 1);
    lt_agg_flush(agg);
    add_likes("s1", NULL, 1); /* keeps s1 active past the ack */
    ack_full(0, true, 1, 1657939200000);
    assert_int_equal(n_indexed, 1);
    assert_string_equal(indexed[0].stream, "s1");
    assert_int_equal(indexed[0].created_ms, 1657939200000);
    answer_index(0, 0);
    lt_agg_flush(agg);
    ack_full(1, true, 2, 1657939200000);
    assert_int_equal(n_indexed, 1); /* same active period */
    assert_true(lt_agg_idle(agg));
    /* s1 went quiet for a flush (which forgets it) and comes back: a new
     * active period. */
    lt_agg_flush(agg);
    add_likes("s1", NULL, 1);
    lt_agg_flush(agg);
    ack_full(2, true, 3, 1657939200000);
    assert_int_equal(n_indexed, 2);
    assert_string_equal(indexed[1].stream, "s1");
    answer_index(1, 0);
}

/* A stream counts as indexed only once the store confirms the write: a
 * failed write (or one the store could not take) is tried again on the
 * next tick, and the stream is not forgotten before. */
static void test_index_retried_until_confirmed(void **state)
{
    (void)state;
    add_likes("s1", NULL, 1);
    lt_agg_flush(agg);
    ack_full(0, true, 1, 5000);
    assert_int_equal(n_indexed, 1);
    answer_index(0, LT_ETIMEDOUT);
    assert_true(lt_agg_idle(agg));
    /* Idle, but not indexed: kept, and the write goes again. */
    lt_agg_flush(agg);
    assert_int_equal(n_indexed, 2);
    assert_string_equal(indexed[1].stream, "s1");
    assert_int_equal(indexed[1].created_ms, 5000);
    lt_agg_flush(agg); /* one write out at a time */
    assert_int_equal(n_indexed, 2);
    answer_index(1, LT_EPROTO);
    redis_down = true; /* the store cannot take it now */
    lt_agg_flush(agg);
    assert_int_equal(n_indexed, 2);
    redis_down = false;
    lt_agg_flush(agg);
    assert_int_equal(n_indexed, 3);
    answer_index(2, 0);
    /* Confirmed: no more writes, and the idle stream is forgotten. */
    lt_agg_flush(agg);
    lt_agg_flush(agg);
    assert_int_equal(n_indexed, 3);
    assert_int_equal(lt_metrics->streams_dirty, 0);
    /* A new active period indexes again. */
    add_likes("s1", NULL, 1);
    lt_agg_flush(agg);
    ack_full(1, true, 2, 5000);
    assert_int_equal(n_indexed, 4);
    answer_index(3, 0);
}

static void test_drop_stream_while_indexing(void **state)
{
    (void)state;
    add_likes("s1", NULL, 1);
    lt_agg_flush(agg);
    ack(0);
    assert_int_equal(n_indexed, 1);
    lt_agg_drop_stream(agg, "s1");
    answer_index(0, 0); /* after the drop: must not touch freed memory */
    add_likes("s1", NULL, 1);
    lt_agg_flush(agg);
    ack(1);
    assert_int_equal(n_indexed, 2); /* the new s1 is indexed on its own */
    answer_index(1, 0);
    assert_true(lt_agg_idle(agg));
}

static void test_index_not_called_without_created(void **state)
{
    (void)state;
    add_likes("s1", NULL, 1);
    lt_agg_flush(agg);
    fail_batch(0, LT_ETIMEDOUT);
    assert_int_equal(n_indexed, 0);
    lt_agg_flush(agg);
    ack_full(1, true, 1, 0);
    assert_int_equal(n_indexed, 0);
}

/* ---- backlog and idleness ---- */

static void test_backlog_bound(void **state)
{
    (void)state;
    cfg.redis_max_backlog = 10;
    /* Empty: room for 9 views and their stream. */
    assert_true(lt_agg_can_accept(agg, 9));
    assert_false(lt_agg_can_accept(agg, 10));
    for (int i = 0; i < 5; i++) {
        char viewer[16];
        snprintf(viewer, sizeof viewer, "viewer-%02d", i);
        add_view("s1", viewer, NULL);
    }
    assert_int_equal(lt_agg_backlog(agg), 6); /* 5 views + 1 stream */
    assert_true(lt_agg_can_accept(agg, 3));
    assert_false(lt_agg_can_accept(agg, 4));
    /* Likes take no backlog beyond their stream. */
    add_likes("s1", NULL, 1000);
    assert_int_equal(lt_agg_backlog(agg), 6);
    add_likes("s2", NULL, 1000);
    assert_int_equal(lt_agg_backlog(agg), 7);
    assert_false(lt_agg_can_accept(agg, 3));
    assert_true(lt_agg_can_accept(agg, 2));
    /* In flight is still backlog: Redis has not acknowledged it. */
    lt_agg_flush(agg);
    assert_int_equal(lt_agg_backlog(agg), 7);
    assert_false(lt_agg_can_accept(agg, 3));
    fail_batch(find_batch(0, "s1"), LT_ETIMEDOUT);
    assert_int_equal(lt_agg_backlog(agg), 7);
    ack(find_batch(0, "s2"));
    assert_int_equal(lt_agg_backlog(agg), 6);
    lt_agg_flush(agg);
    ack(n_sent - 1);
    assert_int_equal(lt_agg_backlog(agg), 0);
    assert_true(lt_agg_can_accept(agg, 9));
}

static void test_idle(void **state)
{
    (void)state;
    assert_true(lt_agg_idle(agg));
    lt_agg_flush(agg); /* nothing to send */
    assert_int_equal(n_sent, 0);
    add_likes("s1", NULL, 1);
    assert_false(lt_agg_idle(agg));
    lt_agg_flush(agg);
    assert_false(lt_agg_idle(agg)); /* in flight */
    fail_batch(0, LT_ETIMEDOUT);
    assert_false(lt_agg_idle(agg)); /* to be resent */
    lt_agg_flush(agg);
    add_view("s1", "viewer-0001", NULL);
    ack(1);
    assert_false(lt_agg_idle(agg)); /* the view is pending */
    lt_agg_flush(agg);
    ack(2);
    assert_true(lt_agg_idle(agg));
    assert_int_equal(lt_agg_backlog(agg), 0);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 3);
}

/* ---- dropping streams ---- */

static void test_drop_stream_not_in_flight(void **state)
{
    (void)state;
    add_likes("s1", NULL, 1);
    add_view("s1", "viewer-0001", NULL);
    add_likes("s2", NULL, 1);
    lt_agg_drop_stream(agg, "s1");
    lt_agg_drop_stream(agg, "no-such-stream");
    assert_int_equal(lt_agg_backlog(agg), 1);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 1);
    assert_string_equal(batch(0)->stream, "s2");
}

static void test_drop_stream_in_flight_then_ack(void **state)
{
    (void)state;
    add_likes("s1", NULL, 1);
    add_view("s1", "viewer-0001", NULL);
    lt_agg_flush(agg);
    add_view("s1", "viewer-0002", NULL); /* pending behind the batch */
    lt_agg_drop_stream(agg, "s1");
    assert_int_equal(lt_agg_backlog(agg), 0);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 1);
    ack_full(0, true, 5, 1000); /* arrives after the drop: must not touch freed memory */
    assert_int_equal(n_indexed, 0);
    assert_int_equal(lt_agg_backlog(agg), 0);
    /* The stream can come back. */
    add_likes("s1", NULL, 2);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 2);
    assert_int_equal(total_likes(batch(1)), 2);
    assert_int_equal(batch(1)->n_views, 0);
    ack(1);
    assert_true(lt_agg_idle(agg));
    answer_index(0, 0);
}

static void test_drop_stream_in_flight_then_failure(void **state)
{
    (void)state;
    add_likes("s1", NULL, 1);
    lt_agg_flush(agg);
    lt_agg_drop_stream(agg, "s1");
    fail_batch(0, LT_ETIMEDOUT);
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 1); /* a dropped stream's batch is not resent */
    assert_true(lt_agg_idle(agg));
}

static void test_drop_stream_then_recreate_before_late_reply(void **state)
{
    (void)state;
    add_likes("s1", NULL, 1);
    lt_agg_flush(agg);
    lt_agg_drop_stream(agg, "s1");
    add_likes("s1", NULL, 2); /* the stream is created again */
    lt_agg_flush(agg);
    assert_int_equal(n_sent, 2);
    assert_true(batch(1)->seq > batch(0)->seq);
    assert_int_equal(total_likes(batch(1)), 2);
    /* The old batch's reply comes late; it concerns the dropped stream only. */
    ack(0);
    assert_int_equal(n_indexed, 0); /* the dropped stream's reply does nothing */
    assert_false(lt_agg_idle(agg));
    assert_int_equal(lt_agg_backlog(agg), 1);
    ack(1);
    assert_int_equal(n_indexed, 1);
    assert_true(lt_agg_idle(agg));
}

static void test_free_with_batch_in_flight(void **state)
{
    (void)state;
    /* teardown frees agg first and then answers the open callback. */
    add_likes("s1", NULL, 1);
    add_likes("s2", NULL, 1);
    lt_agg_flush(agg);
    add_likes("s1", NULL, 1);
    redis_down = true;
    add_likes("s3", NULL, 1);
    lt_agg_flush(agg); /* s3 sealed but not taken by the store */
    assert_int_equal(n_sent, 2);
}

static void loop_once(void)
{
    event_base_loop(base, EVLOOP_NONBLOCK);
}

/* The first deltas after a quiet interval go at once (the leading edge);
 * then the stream sends at most one batch per flush_interval_ms. */
static void test_leading_edge_then_paced(void **state)
{
    (void)state;
    add_likes("s1", NULL, 1);
    loop_once();
    assert_int_equal(n_sent, 1); /* no wait for the tick */
    ack(0);
    add_likes("s1", NULL, 1);
    loop_once();
    assert_int_equal(n_sent, 1); /* 50 ms have not passed since the last batch */
    struct timeval tv = {0, 70 * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    assert_int_equal(n_sent, 2); /* the tick took it once the interval was over */
    assert_int_equal(total_likes(batch(1)), 1);
    ack(1);
    /* Many deltas within one interval: still one batch. */
    for (int i = 0; i < 100; i++)
        add_likes("s1", NULL, 1);
    loop_once();
    assert_int_equal(n_sent, 2);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_likes_sum_per_source),
        T(test_streams_kept_apart),
        T(test_counters_by_index),
        T(test_views_carry_viewer_and_source),
        T(test_source_limit),
        T(test_one_batch_in_flight_per_stream),
        T(test_other_streams_not_blocked),
        T(test_timed_out_batch_resent_unchanged),
        T(test_disconnected_batch_resent_unchanged),
        T(test_duplicate_ack_counts_as_done),
        T(test_store_not_ready_keeps_sealed_batch),
        T(test_seqs_increase_across_streams),
        T(test_many_views_split_into_batches),
        T(test_tick_flushes),
        T(test_leading_edge_then_paced),
        T(test_index_stream_once_per_active_period),
        T(test_index_not_called_without_created),
        T(test_index_retried_until_confirmed),
        T(test_drop_stream_while_indexing),
        T(test_backlog_bound),
        T(test_idle),
        T(test_drop_stream_not_in_flight),
        T(test_drop_stream_in_flight_then_ack),
        T(test_drop_stream_in_flight_then_failure),
        T(test_drop_stream_then_recreate_before_late_reply),
        T(test_free_with_batch_in_flight),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
