/* Unit tests of spool_replay.c: the state rebuilt from records (SEAL takes
 * every like, counter and refusal and the first n_views views; ACK forgets
 * a batch; BATCH adds one; HEADER starts over; CHECKPOINT_END completes),
 * a torn tail stopping the reading, and file names. */
#include "livetally/base/error.h"
#include "livetally/spool/spool_replay.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

static void event(struct lt_spool_buf *b, enum lt_spool_kind kind, const char *stream,
                  const char *viewer, const char *source, const char *counter, int64_t n,
                  int64_t rejected)
{
    struct lt_spool_event e = {kind, stream, viewer, source, counter, n, rejected};
    lt_spool_put_event(b, &e);
}

static const struct lt_spool_batch *find_batch(const struct lt_spool_replay *r, const char *stream,
                                               uint64_t seq)
{
    for (size_t i = 0; i < r->n_batches; i++)
        if (r->batches[i]->b.seq == seq && strcmp(r->batches[i]->b.stream, stream) == 0)
            return r->batches[i];
    return NULL;
}

static const struct lt_spool_batch *find_pending(const struct lt_spool_replay *r,
                                                 const char *stream)
{
    for (size_t i = 0; i < r->n_pending; i++)
        if (r->pending[i] && strcmp(r->pending[i]->b.stream, stream) == 0)
            return r->pending[i];
    return NULL;
}

static int64_t likes_of(const struct lt_spool_batch *sb, const char *source)
{
    for (size_t i = 0; i < sb->b.n_sources; i++)
        if (strcmp(sb->b.sources[i].name, source) == 0)
            return sb->b.sources[i].likes;
    return 0;
}

/* The scenario of the header comment, in one segment. */
static void scenario(struct lt_spool_buf *b)
{
    lt_spool_put_header(b, "o-w0-g1", "A", 1);
    lt_spool_put_checkpoint_end(b, NULL, 0);
    event(b, LT_SPOOL_VIEW, "s1", "v1", NULL, NULL, 0, 0);
    event(b, LT_SPOOL_VIEW, "s1", "v2", "p", NULL, 0, 0);
    event(b, LT_SPOOL_VIEW, "s1", "v3", "p", NULL, 0, 0);
    event(b, LT_SPOOL_LIKES, "s1", NULL, NULL, NULL, 5, 0);
    event(b, LT_SPOOL_LIKES, "s1", NULL, "p", NULL, 2, 0);
    event(b, LT_SPOOL_COUNTER, "s1", NULL, NULL, "shares", 4, 0);
    event(b, LT_SPOOL_REFUSED, "s1", NULL, NULL, NULL, 3, 1);
    lt_spool_put_seal(b, "s1", "A", 1, 1000, 2);
    event(b, LT_SPOOL_LIKES, "s2", NULL, NULL, NULL, 3, 0);
    lt_spool_put_seal(b, "s2", "A", 2, 1001, 0);
    lt_spool_put_ack(b, "s2", "A", 2);
    struct lt_batch_source src = {"direct", 11};
    struct lt_batch inherited = {.stream = "s3", .seq = 9, .at_ms = 5, .sources = &src,
                                 .n_sources = 1};
    lt_spool_put_batch(b, &inherited, "B", NULL);
    event(b, LT_SPOOL_LIKES, "s1", NULL, NULL, NULL, 1, 0);
}

static void test_rebuilds_state(void **state)
{
    (void)state;
    struct lt_spool_buf b = {0};
    scenario(&b);
    struct lt_spool_replay r;
    lt_spool_replay_init(&r);
    size_t stop = 0;
    assert_int_equal(lt_spool_replay_bytes(&r, b.data, b.len, &stop), 0);
    assert_true(r.complete);
    assert_int_equal(r.events, 9);
    assert_int_equal(r.n_batches, 2); /* s2's was acknowledged */
    const struct lt_spool_batch *b1 = find_batch(&r, "s1", 1);
    assert_non_null(b1);
    assert_string_equal(b1->incarnation, "A");
    assert_int_equal(b1->b.at_ms, 1000);
    assert_int_equal(b1->b.n_views, 2);
    assert_string_equal(b1->b.views[0].viewer, "v1");
    assert_string_equal(b1->b.sources[b1->b.views[0].source].name, "direct");
    assert_string_equal(b1->b.views[1].viewer, "v2");
    assert_string_equal(b1->b.sources[b1->b.views[1].source].name, "p");
    assert_int_equal(likes_of(b1, "direct"), 5);
    assert_int_equal(likes_of(b1, "p"), 2);
    assert_int_equal(b1->n_counters, 1);
    assert_string_equal(b1->counters[0].name, "shares");
    assert_int_equal(b1->counters[0].value, 4);
    assert_int_equal(b1->b.dropped_taps, 3);
    assert_int_equal(b1->b.rejected, 1);
    assert_null(find_batch(&r, "s2", 2));
    const struct lt_spool_batch *b3 = find_batch(&r, "s3", 9);
    assert_non_null(b3);
    assert_string_equal(b3->incarnation, "B");
    assert_int_equal(likes_of(b3, "direct"), 11);
    /* s1 still has v3 (not taken by the seal) and the like after it. */
    const struct lt_spool_batch *p1 = find_pending(&r, "s1");
    assert_non_null(p1);
    assert_int_equal(p1->b.n_views, 1);
    assert_string_equal(p1->b.views[0].viewer, "v3");
    assert_string_equal(p1->b.sources[p1->b.views[0].source].name, "p");
    assert_int_equal(likes_of(p1, "direct"), 1);
    assert_int_equal(likes_of(p1, "p"), 0);
    assert_int_equal(p1->n_counters, 0);
    assert_null(find_pending(&r, "s2"));
    lt_spool_replay_free(&r);
    lt_spool_buf_free(&b);
}

static void test_header_starts_over(void **state)
{
    (void)state;
    struct lt_spool_buf b = {0};
    scenario(&b);
    lt_spool_put_header(&b, "o-w0-g1", "A", 2);
    event(&b, LT_SPOOL_LIKES, "s9", NULL, NULL, NULL, 8, 0);
    struct lt_spool_replay r;
    lt_spool_replay_init(&r);
    size_t stop;
    assert_int_equal(lt_spool_replay_bytes(&r, b.data, b.len, &stop), 0);
    assert_false(r.complete); /* a checkpoint without its end */
    assert_int_equal(r.n_batches, 0);
    assert_null(find_pending(&r, "s1"));
    assert_int_equal(likes_of(find_pending(&r, "s9"), "direct"), 8);
    lt_spool_replay_free(&r);
    lt_spool_buf_free(&b);
}

static void test_torn_tail_stops(void **state)
{
    (void)state;
    struct lt_spool_buf b = {0};
    scenario(&b);
    size_t whole = b.len;
    event(&b, LT_SPOOL_LIKES, "s1", NULL, NULL, NULL, 1000, 0);
    /* Cut inside the last record: the like of 1000 is not counted. */
    struct lt_spool_replay r;
    lt_spool_replay_init(&r);
    size_t stop = 0;
    assert_int_equal(lt_spool_replay_bytes(&r, b.data, b.len - 3, &stop), LT_EPROTO);
    assert_int_equal(stop, whole);
    assert_int_equal(likes_of(find_pending(&r, "s1"), "direct"), 1);
    lt_spool_replay_free(&r);
    lt_spool_buf_free(&b);
}

static void test_absorbed_owners(void **state)
{
    (void)state;
    struct lt_spool_buf b = {0};
    lt_spool_put_header(&b, "n-w0-g1", "C", 1);
    char *gone[] = {(char *)"o-w0-g1", (char *)"o-w1-g1"};
    lt_spool_put_checkpoint_end(&b, gone, 2);
    struct lt_spool_replay r;
    lt_spool_replay_init(&r);
    size_t stop;
    assert_int_equal(lt_spool_replay_bytes(&r, b.data, b.len, &stop), 0);
    assert_true(r.complete);
    assert_int_equal(r.n_absorbed, 2);
    assert_string_equal(r.absorbed[1], "o-w1-g1");
    lt_spool_replay_free(&r);
    lt_spool_buf_free(&b);
}

static void test_file_names(void **state)
{
    (void)state;
    char path[128], owner[LT_SPOOL_OWNER_MAX + 1];
    unsigned seg;
    assert_int_equal(lt_spool_file_name(path, sizeof path, "var/spool", "ab12-w0-g3", 7), 0);
    assert_string_equal(path, "var/spool/ab12-w0-g3.00000007.spool");
    assert_true(lt_spool_parse_name("ab12-w0-g3.00000007.spool", owner, &seg));
    assert_string_equal(owner, "ab12-w0-g3");
    assert_int_equal(seg, 7);
    assert_false(lt_spool_parse_name("LOCK", owner, &seg));
    assert_false(lt_spool_parse_name("x.0000007.spool", owner, &seg));
    assert_false(lt_spool_parse_name(".00000001.spool", owner, &seg));
    assert_false(lt_spool_parse_name("x.00000000.spool", owner, &seg));
    assert_false(lt_spool_parse_name("x.0000000a.spool", owner, &seg));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rebuilds_state),
        cmocka_unit_test(test_header_starts_over),
        cmocka_unit_test(test_torn_tail_stops),
        cmocka_unit_test(test_absorbed_owners),
        cmocka_unit_test(test_file_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
