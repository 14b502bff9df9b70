/* Fuzzes the WebSocket frame reader.
 *
 * The first byte picks the settings (small or large max_message, binary
 * allowed or not, server or client side); the rest is the connection's input.
 * It is read three ways: whole; in two chunks split at a point derived from
 * the input, each chunk in a heap buffer of exactly the unread bytes (so ASan
 * sees any read past them); and growing one byte at a time. All three must
 * give the same events and leave the same bytes unread: a reader that looked
 * past the frame, kept state across NEED_MORE, or consumed a partial frame
 * shows up as a difference. Each event is checked against the contract on
 * the way (data inside the input or the reader's buffer, text valid UTF-8,
 * control payloads within 125 bytes, limits kept). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "livetally/net/ws_frame.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct settings {
    size_t max_message;
    bool require_masked;
    bool allow_binary;
};

struct rec {
    enum lt_ws_event_type type;
    uint16_t close_code;
    size_t len;
    uint64_t hash;
};

/* The events of one reading (NEED_MORE left out) and the bytes left unread. */
struct run {
    struct rec *ev;
    size_t n, cap;
    size_t unread;
};

static uint64_t fnv1a(const uint8_t *p, size_t len)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * UINT64_C(1099511628211);
    return h;
}

static bool inside(const uint8_t *p, size_t len, const uint8_t *base, size_t base_len)
{
    return base && p >= base && len <= base_len && (size_t)(p - base) <= base_len - len;
}

/* Checks one event of lt_ws_read(r, buf, len, ...) and records it. */
static void check_event(const struct settings *s, const struct lt_ws_reader *r, const uint8_t *buf,
                        size_t len, enum lt_ws_event_type t, size_t consumed,
                        const struct lt_ws_event *ev, struct run *run)
{
    CHECK(t == ev->type);
    CHECK(consumed <= len);
    CHECK(r->msg_cap <= s->max_message);
    CHECK(r->msg_len <= r->msg_cap);
    switch (t) {
    case LT_WS_NEED_MORE:
        CHECK(consumed == 0);
        return;
    case LT_WS_ERROR:
        CHECK(consumed == 0);
        CHECK(ev->close_code == LT_WS_CLOSE_PROTOCOL || ev->close_code == LT_WS_CLOSE_UNSUPPORTED ||
              ev->close_code == LT_WS_CLOSE_INVALID_UTF8 || ev->close_code == LT_WS_CLOSE_TOO_BIG);
        CHECK(ev->reason && strlen(ev->reason) <= 123);
        CHECK(r->msg == NULL);
        break;
    case LT_WS_TEXT:
    case LT_WS_BINARY:
    case LT_WS_FRAGMENT:
    case LT_WS_PING:
    case LT_WS_PONG:
    case LT_WS_CLOSE:
        CHECK(consumed >= 2);
        if (ev->len > 0)
            CHECK(inside(ev->data, ev->len, buf, consumed) ||
                  inside(ev->data, ev->len, r->msg, r->msg_cap));
        break;
    }
    if (t == LT_WS_TEXT)
        CHECK(lt_utf8_valid(ev->data, ev->len));
    if (t == LT_WS_TEXT || t == LT_WS_BINARY || t == LT_WS_FRAGMENT)
        CHECK(ev->len <= s->max_message);
    if (t == LT_WS_BINARY)
        CHECK(s->allow_binary);
    if (t == LT_WS_PING || t == LT_WS_PONG)
        CHECK(ev->len <= 125);
    if (t == LT_WS_CLOSE) {
        CHECK(ev->len <= 123);
        CHECK(ev->close_code == LT_WS_CLOSE_NO_STATUS || lt_ws_close_code_valid(ev->close_code));
        CHECK(ev->close_code != LT_WS_CLOSE_NO_STATUS || ev->len == 0);
        CHECK(lt_utf8_valid(ev->data, ev->len));
    }

    CHECK(run->n < run->cap);
    struct rec *rec = &run->ev[run->n++];
    rec->type = t;
    rec->close_code = ev->close_code;
    rec->len = ev->len;
    rec->hash = ev->len ? fnv1a(ev->data, ev->len) : 0;
}

static bool ends_reading(enum lt_ws_event_type t)
{
    return t == LT_WS_NEED_MORE || t == LT_WS_ERROR || t == LT_WS_CLOSE;
}

/* After an error, the reader repeats it without reading. */
static void check_sticky(struct lt_ws_reader *r, uint8_t *buf, size_t len, uint16_t code)
{
    struct lt_ws_event ev;
    size_t consumed = 1;
    CHECK(lt_ws_read(r, buf, len, &consumed, &ev) == LT_WS_ERROR);
    CHECK(consumed == 0 && ev.close_code == code);
}

static void run_init(struct run *run, size_t size)
{
    /* Every event but the last consumes at least 2 bytes. */
    run->cap = size / 2 + 2;
    run->ev = malloc(run->cap * sizeof *run->ev);
    CHECK(run->ev != NULL);
    run->n = 0;
    run->unread = 0;
}

static void read_whole(const struct settings *s, const uint8_t *in, size_t size, struct run *run)
{
    struct lt_ws_reader r;
    lt_ws_reader_init(&r, s->max_message, s->require_masked, s->allow_binary);
    uint8_t *buf = malloc(size ? size : 1);
    CHECK(buf != NULL);
    if (size)
        memcpy(buf, in, size);
    size_t pos = 0;
    for (;;) {
        struct lt_ws_event ev;
        size_t consumed;
        enum lt_ws_event_type t = lt_ws_read(&r, buf + pos, size - pos, &consumed, &ev);
        check_event(s, &r, buf + pos, size - pos, t, consumed, &ev, run);
        if (t == LT_WS_ERROR)
            check_sticky(&r, buf + pos, size - pos, ev.close_code);
        if (ends_reading(t))
            break;
        pos += consumed;
    }
    run->unread = size - pos;
    lt_ws_reader_free(&r);
    free(buf);
}

/* The unread bytes of buf[from, from + n) and then extra, in a new buffer of
 * exactly that size; buf is freed. */
static uint8_t *reshape(uint8_t *buf, size_t from, size_t n, const uint8_t *extra, size_t extra_len)
{
    uint8_t *p = malloc(n + extra_len ? n + extra_len : 1);
    CHECK(p != NULL);
    if (n)
        memcpy(p, buf + from, n);
    if (extra_len)
        memcpy(p + n, extra, extra_len);
    free(buf);
    return p;
}

static void read_split(const struct settings *s, const uint8_t *in, size_t size, size_t cut,
                       struct run *run)
{
    struct lt_ws_reader r;
    lt_ws_reader_init(&r, s->max_message, s->require_masked, s->allow_binary);
    uint8_t *buf = reshape(NULL, 0, 0, in, cut);
    size_t have = cut;
    bool second = false;
    for (;;) {
        struct lt_ws_event ev;
        size_t consumed;
        enum lt_ws_event_type t = lt_ws_read(&r, buf, have, &consumed, &ev);
        check_event(s, &r, buf, have, t, consumed, &ev, run);
        if (t == LT_WS_NEED_MORE && !second) {
            buf = reshape(buf, 0, have, in + cut, size - cut);
            have += size - cut;
            second = true;
            continue;
        }
        if (t == LT_WS_ERROR)
            check_sticky(&r, buf, have, ev.close_code);
        if (ends_reading(t))
            break;
        buf = reshape(buf, consumed, have - consumed, NULL, 0);
        have -= consumed;
    }
    run->unread = have + (second ? 0 : size - cut);
    lt_ws_reader_free(&r);
    free(buf);
}

/* One byte more per step, in a single buffer (cheap, so inputs stay fast). */
static void read_bytes(const struct settings *s, const uint8_t *in, size_t size, struct run *run)
{
    struct lt_ws_reader r;
    lt_ws_reader_init(&r, s->max_message, s->require_masked, s->allow_binary);
    uint8_t *buf = malloc(size ? size : 1);
    CHECK(buf != NULL);
    if (size)
        memcpy(buf, in, size);
    size_t pos = 0, end = 0;
    bool done = false;
    while (!done && end < size) {
        end++;
        for (;;) {
            struct lt_ws_event ev;
            size_t consumed;
            enum lt_ws_event_type t = lt_ws_read(&r, buf + pos, end - pos, &consumed, &ev);
            check_event(s, &r, buf + pos, end - pos, t, consumed, &ev, run);
            if (t == LT_WS_NEED_MORE)
                break;
            if (ends_reading(t)) {
                done = true;
                break;
            }
            pos += consumed;
        }
    }
    run->unread = size - pos;
    lt_ws_reader_free(&r);
    free(buf);
}

static void same(const struct run *a, const struct run *b)
{
    CHECK(a->n == b->n);
    CHECK(a->unread == b->unread);
    for (size_t i = 0; i < a->n; i++) {
        CHECK(a->ev[i].type == b->ev[i].type);
        CHECK(a->ev[i].close_code == b->ev[i].close_code);
        CHECK(a->ev[i].len == b->ev[i].len);
        CHECK(a->ev[i].hash == b->ev[i].hash);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t cfg = data[0];
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    /* Small: below one control frame, so the limit and the 125-byte rule
     * are both hit; large: room for the 16-bit length form. */
    struct settings s = {
        .max_message = (cfg & 1) ? 70000 : 100,
        .allow_binary = (cfg & 2) != 0,
        .require_masked = (cfg & 4) == 0,
    };
    size_t cut = n ? ((size_t)(cfg >> 3) * 251 + (size_t)in[n - 1] * 7) % (n + 1) : 0;

    struct run whole, split, bytes;
    run_init(&whole, n);
    run_init(&split, n);
    run_init(&bytes, n);
    read_whole(&s, in, n, &whole);
    read_split(&s, in, n, cut, &split);
    read_bytes(&s, in, n, &bytes);
    same(&whole, &split);
    same(&whole, &bytes);
    free(whole.ev);
    free(split.ev);
    free(bytes.ev);
    return 0;
}
