/* Unit tests of spool_record.c: every record type encoded and decoded back,
 * a torn tail found at every cut, a flipped byte caught by the checksum,
 * zero bytes (space reserved, never written) read as the end. */
#include "livetally/base/error.h"
#include "livetally/spool/spool_record.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

static void put_one_of_each(struct lt_spool_buf *b)
{
    lt_spool_put_header(b, "abc-w0-g1", "w0-0123", 1700000000000);
    struct lt_spool_event v = {.kind = LT_SPOOL_VIEW, .stream = "s1", .viewer = "v1",
                               .source = "partner"};
    lt_spool_put_event(b, &v);
    struct lt_spool_event l = {.kind = LT_SPOOL_LIKES, .stream = "s1", .source = NULL, .n = 7};
    lt_spool_put_event(b, &l);
    struct lt_spool_event c = {.kind = LT_SPOOL_COUNTER, .stream = "s1", .counter = "shares",
                               .n = 3};
    lt_spool_put_event(b, &c);
    struct lt_spool_event r = {.kind = LT_SPOOL_REFUSED, .stream = "s1", .n = 4, .rejected = 2};
    lt_spool_put_event(b, &r);
    lt_spool_put_seal(b, "s1", "w0-0123", 5, 1700000000123, 1);
    lt_spool_put_ack(b, "s1", "w0-0123", 5);
    char *absorbed[] = {(char *)"old-w1-g2"};
    lt_spool_put_checkpoint_end(b, absorbed, 1);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct lt_spool_buf b = {0};
    put_one_of_each(&b);
    struct lt_spool_record rec;
    size_t off = 0;
    assert_int_equal(lt_spool_next(b.data, b.len, &off, &rec), 1);
    assert_int_equal(rec.type, LT_SPOOL_HEADER);
    assert_string_equal(rec.owner, "abc-w0-g1");
    assert_string_equal(rec.incarnation, "w0-0123");
    assert_int_equal(rec.created_ms, 1700000000000);
    assert_int_equal(lt_spool_next(b.data, b.len, &off, &rec), 1);
    assert_int_equal(rec.type, LT_SPOOL_EVENT);
    assert_int_equal(rec.kind, LT_SPOOL_VIEW);
    assert_string_equal(rec.stream, "s1");
    assert_string_equal(rec.viewer, "v1");
    assert_string_equal(rec.source, "partner");
    assert_int_equal(lt_spool_next(b.data, b.len, &off, &rec), 1);
    assert_int_equal(rec.kind, LT_SPOOL_LIKES);
    assert_string_equal(rec.source, "");
    assert_int_equal(rec.n, 7);
    assert_int_equal(lt_spool_next(b.data, b.len, &off, &rec), 1);
    assert_int_equal(rec.kind, LT_SPOOL_COUNTER);
    assert_string_equal(rec.counter, "shares");
    assert_int_equal(rec.n, 3);
    assert_int_equal(lt_spool_next(b.data, b.len, &off, &rec), 1);
    assert_int_equal(rec.kind, LT_SPOOL_REFUSED);
    assert_int_equal(rec.n, 4);
    assert_int_equal(rec.rejected, 2);
    assert_int_equal(lt_spool_next(b.data, b.len, &off, &rec), 1);
    assert_int_equal(rec.type, LT_SPOOL_SEAL);
    assert_int_equal(rec.seq, 5);
    assert_int_equal(rec.at_ms, 1700000000123);
    assert_int_equal(rec.n_views, 1);
    assert_int_equal(lt_spool_next(b.data, b.len, &off, &rec), 1);
    assert_int_equal(rec.type, LT_SPOOL_ACK);
    assert_string_equal(rec.incarnation, "w0-0123");
    assert_int_equal(lt_spool_next(b.data, b.len, &off, &rec), 1);
    assert_int_equal(rec.type, LT_SPOOL_CHECKPOINT_END);
    assert_int_equal(lt_spool_next(b.data, b.len, &off, &rec), 0);
    assert_int_equal(off, b.len);
    lt_spool_buf_free(&b);
}

static void test_batch_round_trip(void **state)
{
    (void)state;
    struct lt_batch_source sources[2] = {{"direct", 10}, {"p2", 0}};
    int64_t counters[3] = {0, 9, -2};
    char *names[3] = {(char *)"a", (char *)"b", (char *)"c"};
    struct lt_batch_view views[2] = {{"viewer-1", 1}, {"viewer-2", 0}};
    struct lt_batch batch = {.stream = "st", .seq = 42, .at_ms = 99, .sources = sources,
                             .n_sources = 2, .counters = counters, .n_counters = 3,
                             .views = views, .n_views = 2, .online = 5, .dropped_taps = 6,
                             .rejected = 7};
    struct lt_spool_buf b = {0};
    lt_spool_put_batch(&b, &batch, "inc-1", names);
    struct lt_spool_record rec;
    size_t off = 0;
    assert_int_equal(lt_spool_next(b.data, b.len, &off, &rec), 1);
    assert_int_equal(rec.type, LT_SPOOL_BATCH);
    struct lt_spool_batch sb;
    assert_int_equal(lt_spool_decode_batch(&rec, &sb), 0);
    assert_string_equal(sb.incarnation, "inc-1");
    assert_string_equal(sb.b.stream, "st");
    assert_int_equal(sb.b.seq, 42);
    assert_int_equal(sb.b.at_ms, 99);
    assert_int_equal(sb.b.online, -1); /* not carried: a resend reports none */
    assert_int_equal(sb.b.dropped_taps, 6);
    assert_int_equal(sb.b.rejected, 7);
    assert_int_equal(sb.b.n_sources, 2);
    assert_string_equal(sb.b.sources[0].name, "direct");
    assert_int_equal(sb.b.sources[0].likes, 10);
    assert_int_equal(sb.n_counters, 2); /* zero counters left out */
    assert_string_equal(sb.counters[0].name, "b");
    assert_int_equal(sb.counters[0].value, 9);
    assert_string_equal(sb.counters[1].name, "c");
    assert_int_equal(sb.counters[1].value, -2);
    assert_int_equal(sb.b.n_views, 2);
    assert_string_equal(sb.b.views[0].viewer, "viewer-1");
    assert_int_equal(sb.b.views[0].source, 1);
    lt_spool_batch_free(&sb);
    lt_spool_buf_free(&b);
}

/* Cut anywhere: every whole record before the cut reads back, the cut one
 * is torn (or the end, at a record boundary), never a crash or a record
 * made up. */
static void test_torn_at_every_cut(void **state)
{
    (void)state;
    struct lt_spool_buf b = {0};
    put_one_of_each(&b);
    size_t bounds[16], n_bounds = 0, off = 0;
    struct lt_spool_record rec;
    bounds[n_bounds++] = 0;
    while (lt_spool_next(b.data, b.len, &off, &rec) == 1)
        bounds[n_bounds++] = off;
    for (size_t cut = 0; cut <= b.len; cut++) {
        size_t at = 0, whole = 0;
        int rc;
        while ((rc = lt_spool_next(b.data, cut, &at, &rec)) == 1)
            whole++;
        size_t expect_whole = 0;
        bool boundary = false;
        for (size_t k = 0; k < n_bounds; k++) {
            if (bounds[k] <= cut && k > 0)
                expect_whole = k;
            boundary |= bounds[k] == cut;
        }
        assert_int_equal(whole, expect_whole);
        assert_int_equal(at, bounds[expect_whole]);
        assert_int_equal(rc, boundary ? 0 : LT_EPROTO);
    }
    lt_spool_buf_free(&b);
}

static void test_flipped_byte_is_torn(void **state)
{
    (void)state;
    struct lt_spool_buf b = {0};
    put_one_of_each(&b);
    for (size_t i = 0; i < b.len; i++) {
        b.data[i] ^= 0x40;
        size_t off = 0, n = 0;
        struct lt_spool_record rec;
        int rc;
        while ((rc = lt_spool_next(b.data, b.len, &off, &rec)) == 1)
            n++;
        assert_int_equal(rc, LT_EPROTO); /* every byte is covered by a length or the crc */
        assert_true(n < 8);
        b.data[i] ^= 0x40;
    }
    lt_spool_buf_free(&b);
}

static void test_zero_tail_is_the_end(void **state)
{
    (void)state;
    struct lt_spool_buf b = {0};
    put_one_of_each(&b);
    size_t len = b.len;
    uint8_t *data = calloc(1, len + 4096);
    memcpy(data, b.data, len);
    size_t off = 0, n = 0;
    struct lt_spool_record rec;
    int rc;
    while ((rc = lt_spool_next(data, len + 4096, &off, &rec)) == 1)
        n++;
    assert_int_equal(rc, 0);
    assert_int_equal(n, 8);
    assert_int_equal(off, len);
    /* A byte after zeros is not reserved space: torn. */
    data[len + 100] = 1;
    off = len;
    assert_int_equal(lt_spool_next(data, len + 4096, &off, &rec), LT_EPROTO);
    free(data);
    lt_spool_buf_free(&b);
}

static void test_bad_batch_payload(void **state)
{
    (void)state;
    /* A BATCH whose view names a source it does not have. */
    struct lt_batch_source src = {"direct", 1};
    struct lt_batch_view view = {"v", 3};
    struct lt_batch batch = {.stream = "st", .seq = 1, .sources = &src, .n_sources = 1,
                             .views = &view, .n_views = 1};
    struct lt_spool_buf b = {0};
    lt_spool_put_batch(&b, &batch, "i", NULL);
    struct lt_spool_record rec;
    size_t off = 0;
    assert_int_equal(lt_spool_next(b.data, b.len, &off, &rec), 1);
    struct lt_spool_batch sb;
    assert_int_equal(lt_spool_decode_batch(&rec, &sb), LT_EPROTO);
    lt_spool_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_batch_round_trip),
        cmocka_unit_test(test_torn_at_every_cut),
        cmocka_unit_test(test_flipped_byte_is_torn),
        cmocka_unit_test(test_zero_tail_is_the_end),
        cmocka_unit_test(test_bad_batch_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
