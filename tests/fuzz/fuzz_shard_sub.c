/* Fuzzes redis_shard_sub.c's reply handling: the input is what a node
 * sends on a sharded subscriber connection, fed through hiredis' reader
 * and the connection's dispatch exactly as the socket's bytes are
 * (lt_redis_ssub_feed), in pieces whose sizes the input's first byte
 * picks. Before it the connection has two channels recorded and, as if
 * sent, SSUBSCRIBE of both, a PING and a SUNSUBSCRIBE of a third.
 * Checked: never a crash or a leak (ASan), a callback's channel is always
 * one of the recorded ones and its bytes in bounds, and once the link is
 * dropped nothing more is dispatched. The seeds are replies of a real
 * Redis 7.0.15: confirmations, messages, pong, MOVED, a node's own
 * sunsubscribe. */
#include <event2/event.h>
#include <stdint.h>
#include <string.h>

#include "livetally/base/log.h"
#include "livetally/store/redis_shard_sub.h"
#include "../../src/store/redis_shard_sub_internal.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const chans[] = {"lt:{a}:totals", "lt:{b}:totals"};
static int calls;

static bool known(const char *channel, size_t len)
{
    for (size_t i = 0; i < 2; i++)
        if (strlen(chans[i]) == len && memcmp(chans[i], channel, len) == 0)
            return true;
    return false;
}

static void on_message(struct lt_redis_ssub *s, const char *channel, size_t channel_len,
                       const char *payload, size_t payload_len, void *arg)
{
    (void)s;
    (void)arg;
    CHECK(known(channel, channel_len));
    if (payload) {
        volatile char sum = 0;
        for (size_t i = 0; i < payload_len; i++)
            sum ^= payload[i];
    }
    calls++;
}

static void on_lost(struct lt_redis_ssub *s, const char *channel, size_t channel_len,
                    const char *why, void *arg)
{
    (void)s;
    (void)arg;
    CHECK(known(channel, channel_len) && why != NULL);
    calls++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct event_base *base;
    if (!base) {
        base = event_base_new();
        lt_log_set_level(LT_LOG_ERROR);
    }
    struct lt_redis_ssub_opts o = {
        .host = "127.0.0.1",
        .port = 1,
        .on_message = on_message,
        .on_lost = on_lost,
    };
    struct lt_redis_ssub *s = lt_redis_ssub_new(base, &o);
    for (size_t i = 0; i < 2; i++)
        CHECK(lt_redis_ssub_subscribe(s, chans[i]) == 0);
    lt_redis_ssub_expect(s, 1, chans[0]);
    lt_redis_ssub_expect(s, 1, chans[1]);
    lt_redis_ssub_expect(s, 3, NULL);
    lt_redis_ssub_expect(s, 2, "lt:{c}:totals");
    size_t piece = size ? 1 + data[0] % 64 : 1;
    size_t at = size ? 1 : 0;
    while (at < size) {
        size_t n = size - at < piece ? size - at : piece;
        if (lt_redis_ssub_feed(s, (const char *)data + at, n) != 0) {
            /* dropped: the state is DOWN and the reader fresh */
            CHECK(lt_redis_ssub_state(s) == LT_REDIS_DOWN);
            break;
        }
        at += n;
    }
    CHECK(lt_redis_ssub_count(s) <= 2);
    lt_redis_ssub_free(s);
    event_base_loop(base, EVLOOP_NONBLOCK); /* runs the deferred free */
    return 0;
}
