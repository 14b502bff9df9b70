/* Unit tests of redis_shard_sub.c's reply handling (no socket): bytes as a
 * node sends them go through lt_redis_ssub_feed, as the socket's would.
 * Checked: confirmations and messages reach the callbacks with their
 * channel and payload, replies split at every byte still parse, and what
 * the protocol does not have drops the link: an array header past the
 * bound (hiredis 0.14 would allocate for every announced element first;
 * a fuzz input announcing 666,666,663 ran it out of memory), a bulk string
 * longer than a megabyte, a reply of the wrong shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "livetally/base/log.h"
#include "livetally/store/redis_shard_sub.h"
#include "../../../src/store/redis_shard_sub_internal.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct seen {
    int messages, confirmations, lost;
    char channel[64];
    char payload[64];
};

static void on_message(struct lt_redis_ssub *s, const char *channel, size_t channel_len,
                       const char *payload, size_t payload_len, void *arg)
{
    (void)s;
    struct seen *seen = arg;
    snprintf(seen->channel, sizeof seen->channel, "%.*s", (int)channel_len, channel);
    if (!payload) {
        seen->confirmations++;
        return;
    }
    seen->messages++;
    snprintf(seen->payload, sizeof seen->payload, "%.*s", (int)payload_len, payload);
}

static void on_lost(struct lt_redis_ssub *s, const char *channel, size_t channel_len,
                    const char *why, void *arg)
{
    (void)s;
    (void)why;
    struct seen *seen = arg;
    snprintf(seen->channel, sizeof seen->channel, "%.*s", (int)channel_len, channel);
    seen->lost++;
}

struct fixture {
    struct event_base *base;
    struct lt_redis_ssub *s;
    struct seen seen;
};

/* A subscriber with lt:{a}:totals recorded and its SSUBSCRIBE as if sent. */
static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    lt_log_set_level(LT_LOG_ERROR);
    f->base = event_base_new();
    struct lt_redis_ssub_opts o = {
        .host = "127.0.0.1",
        .port = 1,
        .on_message = on_message,
        .on_lost = on_lost,
        .arg = &f->seen,
    };
    f->s = lt_redis_ssub_new(f->base, &o);
    assert_int_equal(lt_redis_ssub_subscribe(f->s, "lt:{a}:totals"), 0);
    lt_redis_ssub_expect(f->s, 1, "lt:{a}:totals");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    lt_redis_ssub_free(f->s);
    event_base_loop(f->base, EVLOOP_NONBLOCK); /* runs the deferred free */
    event_base_free(f->base);
    free(f);
    return 0;
}

static int feed(struct fixture *f, const char *text)
{
    return lt_redis_ssub_feed(f->s, text, strlen(text));
}

static const char confirm_a[] = "*3\r\n$10\r\nssubscribe\r\n$13\r\nlt:{a}:totals\r\n:1\r\n";
static const char message_a[] =
    "*3\r\n$8\r\nsmessage\r\n$13\r\nlt:{a}:totals\r\n$11\r\n{\"views\":7}\r\n";

static void test_confirm_then_message(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(feed(f, confirm_a), 0);
    assert_int_equal(f->seen.confirmations, 1);
    assert_string_equal(f->seen.channel, "lt:{a}:totals");
    assert_int_equal(feed(f, message_a), 0);
    assert_int_equal(f->seen.messages, 1);
    assert_string_equal(f->seen.payload, "{\"views\":7}");
}

/* The same bytes one at a time: a reply parses whole however TCP cuts it. */
static void test_split_at_every_byte(void **state)
{
    struct fixture *f = *state;
    char both[256];
    snprintf(both, sizeof both, "%s%s", confirm_a, message_a);
    for (size_t i = 0; both[i]; i++)
        assert_int_equal(lt_redis_ssub_feed(f->s, both + i, 1), 0);
    assert_int_equal(f->seen.confirmations, 1);
    assert_int_equal(f->seen.messages, 1);
    assert_string_equal(f->seen.payload, "{\"views\":7}");
}

/* The fuzz input that ran hiredis' reader out of memory: an array header
 * announcing 666,666,663 elements. The link is dropped at once. */
static void test_huge_array_header_drops(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(feed(f, "*666666663\r\n"), 1);
    assert_int_equal(lt_redis_ssub_state(f->s), LT_REDIS_DOWN);
    assert_int_equal(f->seen.messages + f->seen.confirmations, 0);
}

/* An array of 16 is read (and refused as not this protocol's shape); one of
 * 17 is refused by the reader itself. Both drop the link. */
static void test_array_bound(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(feed(f, "*17\r\n"), 1);
    assert_int_equal(lt_redis_ssub_state(f->s), LT_REDIS_DOWN);

    char sixteen[128] = "*16\r\n";
    for (int i = 0; i < 16; i++)
        strcat(sixteen, ":1\r\n");
    assert_int_equal(lt_redis_ssub_feed(f->s, "", 0), 0); /* a fresh reader */
    lt_redis_ssub_expect(f->s, 1, "lt:{a}:totals");
    assert_int_equal(feed(f, sixteen), 1); /* parsed, then not a known reply */
    assert_int_equal(f->seen.messages + f->seen.confirmations, 0);
}

/* A message whose payload announces 2,000,000 bytes: past a megabyte
 * buffered without a whole reply, the link is dropped, before the rest. */
static void test_long_bulk_drops(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(feed(f, confirm_a), 0);
    assert_int_equal(feed(f, "*3\r\n$8\r\nsmessage\r\n$13\r\nlt:{a}:totals\r\n$2000000\r\n"), 0);
    char *chunk = malloc(65536);
    memset(chunk, 'x', 65536);
    int rc = 0;
    size_t fed = 0;
    while (rc == 0 && fed < 2000000) {
        rc = lt_redis_ssub_feed(f->s, chunk, 65536);
        fed += 65536;
    }
    free(chunk);
    assert_int_equal(rc, 1);
    assert_true(fed >= (1u << 20) && fed <= (1u << 20) + 65536);
    assert_int_equal(lt_redis_ssub_state(f->s), LT_REDIS_DOWN);
    assert_int_equal(f->seen.messages, 0);
}

/* A reply of a shape the protocol does not have drops the link. */
static void test_unknown_shape_drops(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(feed(f, "*3\r\n$7\r\nmessage\r\n$13\r\nlt:{a}:totals\r\n$1\r\nx\r\n"), 1);
    assert_int_equal(lt_redis_ssub_state(f->s), LT_REDIS_DOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_confirm_then_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_at_every_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_array_header_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_array_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_bulk_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_shape_drops, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
