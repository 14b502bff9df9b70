/* Unit tests of likes_budget.c: a bucket per viewer that starts full (burst),
 * refills at the rate, the HTTP rule (all or nothing) and the WebSocket rule
 * (what fits), wait_ms for Retry-After, and sweep forgetting only full
 * buckets. Times are explicit now_ms values; nothing sleeps. */
#include "livetally/base/mem.h"
#include "livetally/core/likes_budget.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#define HTTP false
#define WS true

/* 10 taps per second (one per 100 ms), burst 5. */
#define RATE 10.0
#define BURST 5.0

static struct lt_likes_budget *budget;

static int setup(void **state)
{
    (void)state;
    budget = lt_likes_budget_new(RATE, BURST);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lt_likes_budget_free(budget);
    budget = NULL;
    return 0;
}

static int64_t take(const char *viewer, int64_t n, int64_t now_ms, bool partial)
{
    return lt_likes_budget_take(budget, viewer, n, now_ms, partial);
}

/* How many taps the viewer has at now_ms, found by taking them all (WS rule). */
static int64_t drain(const char *viewer, int64_t now_ms)
{
    return take(viewer, 1000000, now_ms, WS);
}

static void test_starts_full(void **state)
{
    (void)state;
    assert_int_equal(take("viewer-a", 5, 1000, HTTP), 5);
    assert_int_equal(take("viewer-a", 1, 1000, HTTP), 0);
    assert_int_equal(take("viewer-b", 1, 1000, HTTP), 1); /* another viewer: own bucket */
    assert_int_equal(drain("viewer-b", 1000), 4);
}

static void test_http_rule_all_or_nothing(void **state)
{
    (void)state;
    assert_int_equal(take("viewer-a", 3, 0, HTTP), 3);
    assert_int_equal(take("viewer-a", 3, 0, HTTP), 0); /* 2 left: rejected whole */
    assert_int_equal(take("viewer-a", 2, 0, HTTP), 2); /* nothing was spent */
    assert_int_equal(take("viewer-a", 1, 0, HTTP), 0);
}

static void test_http_rule_over_burst(void **state)
{
    (void)state;
    assert_int_equal(take("viewer-a", 6, 0, HTTP), 0);
    assert_int_equal(drain("viewer-a", 0), 5); /* still full */
}

static void test_ws_rule_takes_what_fits(void **state)
{
    (void)state;
    assert_int_equal(take("viewer-a", 3, 0, WS), 3);
    assert_int_equal(take("viewer-a", 3, 0, WS), 2);
    assert_int_equal(take("viewer-a", 3, 0, WS), 0);
    assert_int_equal(take("viewer-b", 50, 0, WS), 5);
}

static void test_refill_at_rate(void **state)
{
    (void)state;
    assert_int_equal(drain("viewer-a", 1000), 5);
    assert_int_equal(take("viewer-a", 1, 1050, HTTP), 0); /* half a tap */
    assert_int_equal(take("viewer-a", 1, 1100, HTTP), 1);
    assert_int_equal(take("viewer-a", 1, 1100, HTTP), 0);
    /* 250 ms later: 2.5 taps, of which 2 whole ones. */
    assert_int_equal(take("viewer-a", 3, 1350, HTTP), 0);
    assert_int_equal(take("viewer-a", 3, 1350, WS), 2);
    /* The half tap left over is kept: 50 ms more make one. */
    assert_int_equal(take("viewer-a", 1, 1400, HTTP), 1);
}

static void test_refill_capped_at_burst(void **state)
{
    (void)state;
    assert_int_equal(drain("viewer-a", 0), 5);
    assert_int_equal(drain("viewer-a", 3600 * 1000), 5);
}

static void test_zero_and_negative_take_nothing(void **state)
{
    (void)state;
    assert_int_equal(take("viewer-a", 0, 0, HTTP), 0);
    assert_int_equal(take("viewer-a", -3, 0, WS), 0);
    assert_int_equal(drain("viewer-a", 0), 5);
}

static void test_wait_ms(void **state)
{
    (void)state;
    assert_int_equal(lt_likes_budget_wait_ms(budget, "viewer-a", 5, 0), 0); /* fits now */
    assert_int_equal(drain("viewer-a", 0), 5);
    int64_t w1 = lt_likes_budget_wait_ms(budget, "viewer-a", 1, 0);
    int64_t w3 = lt_likes_budget_wait_ms(budget, "viewer-a", 3, 0);
    assert_int_equal(w1, 100);
    assert_int_equal(w3, 300);
    /* Waiting that long is enough, and half of it is not. */
    assert_int_equal(take("viewer-a", 3, w3 / 2, HTTP), 0);
    assert_int_equal(take("viewer-a", 3, w3, HTTP), 3);
}

/* Regression: 2 taps at 2 per second from an empty bucket asked for 1001 ms
 * (a Retry-After of 2 s) when the quotient came out a hair over 1000. */
static void test_wait_ms_whole_quotient(void **state)
{
    (void)state;
    struct lt_likes_budget *b = lt_likes_budget_new(2, 5);
    assert_int_equal(lt_likes_budget_take(b, "client", 5, 0, false), 5);
    assert_int_equal(lt_likes_budget_wait_ms(b, "client", 2, 0), 1000);
    assert_int_equal(lt_likes_budget_take(b, "client", 2, 999, false), 0);
    assert_int_equal(lt_likes_budget_take(b, "client", 2, 1000, false), 2);
    lt_likes_budget_free(b);
}

static void test_wait_ms_never_fits(void **state)
{
    (void)state;
    /* More than the burst never fits: the caller must not promise a time. */
    assert_true(lt_likes_budget_wait_ms(budget, "viewer-a", 6, 0) < 0);
}

static void test_set_limits(void **state)
{
    (void)state;
    assert_int_equal(drain("viewer-a", 0), 5);
    lt_likes_budget_set_limits(budget, 100.0, 20.0); /* one per 10 ms */
    assert_int_equal(take("viewer-a", 2, 20, HTTP), 2);
    assert_int_equal(drain("viewer-b", 20), 20); /* new buckets start at the new burst */
    lt_likes_budget_set_limits(budget, 100.0, 3.0);
    assert_int_equal(drain("viewer-b", 100000), 3); /* capped at the new burst */
}

static void test_sweep_forgets_only_full_buckets(void **state)
{
    (void)state;
    /* a: drained at 0, 1.5 taps at 150. b: took 1 at 0, full again at 100. */
    assert_int_equal(take("viewer-a", 5, 0, HTTP), 5);
    assert_int_equal(take("viewer-b", 1, 0, HTTP), 1);
    int64_t before = lt_mem_live_bytes();
    lt_likes_budget_sweep(budget, 150);
    assert_true(lt_mem_live_bytes() < before);           /* b's bucket was freed */
    assert_int_equal(take("viewer-a", 2, 150, HTTP), 0); /* a's was kept */
    assert_int_equal(drain("viewer-a", 150), 1);
    assert_int_equal(drain("viewer-b", 150), 5);
    /* Both drained now: a sweep frees nothing. */
    before = lt_mem_live_bytes();
    lt_likes_budget_sweep(budget, 150);
    assert_int_equal(lt_mem_live_bytes(), before);
    assert_int_equal(drain("viewer-b", 150), 0);
}

static void test_sweep_keeps_drained_state(void **state)
{
    (void)state;
    assert_int_equal(drain("viewer-a", 0), 5);
    lt_likes_budget_sweep(budget, 10);
    lt_likes_budget_sweep(budget, 20);
    /* Had the sweep forgotten it, a would start full again. */
    assert_int_equal(drain("viewer-a", 20), 0);
    assert_int_equal(drain("viewer-a", 120), 1);
}

static void test_sweep_many(void **state)
{
    (void)state;
    /* More buckets than the sweep's first scratch array (256). Even viewers
     * take 1 (full again after 100 ms), odd viewers drain theirs. */
    char viewer[32];
    const int n = 1000;
    for (int i = 0; i < n; i++) {
        snprintf(viewer, sizeof viewer, "viewer-%04d", i);
        assert_int_equal(take(viewer, i % 2 ? 5 : 1, 0, HTTP), i % 2 ? 5 : 1);
    }
    int64_t before = lt_mem_live_bytes();
    lt_likes_budget_sweep(budget, 200);
    int64_t freed = before - lt_mem_live_bytes();
    assert_true(freed >= (int64_t)(n / 2 * 16)); /* at least a bucket per even viewer */
    for (int i = 0; i < n; i++) {
        snprintf(viewer, sizeof viewer, "viewer-%04d", i);
        assert_int_equal(drain(viewer, 200), i % 2 ? 2 : 5);
    }
    /* Everything refilled: a sweep frees every bucket left. */
    before = lt_mem_live_bytes();
    lt_likes_budget_sweep(budget, 100000);
    assert_true(before - lt_mem_live_bytes() >= (int64_t)(n * 16));
}

static void test_free_releases_everything(void **state)
{
    (void)state;
    lt_likes_budget_free(budget);
    int64_t before = lt_mem_live_bytes();
    budget = lt_likes_budget_new(RATE, BURST);
    char viewer[32];
    for (int i = 0; i < 300; i++) {
        snprintf(viewer, sizeof viewer, "viewer-%04d", i);
        take(viewer, 1, 0, HTTP);
    }
    lt_likes_budget_free(budget);
    assert_int_equal(lt_mem_live_bytes(), before);
    budget = lt_likes_budget_new(RATE, BURST);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_starts_full),
        T(test_http_rule_all_or_nothing),
        T(test_http_rule_over_burst),
        T(test_ws_rule_takes_what_fits),
        T(test_refill_at_rate),
        T(test_refill_capped_at_burst),
        T(test_zero_and_negative_take_nothing),
        T(test_wait_ms),
        T(test_wait_ms_whole_quotient),
        T(test_wait_ms_never_fits),
        T(test_set_limits),
        T(test_sweep_forgets_only_full_buckets),
        T(test_sweep_keeps_drained_state),
        T(test_sweep_many),
        T(test_free_releases_everything),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
