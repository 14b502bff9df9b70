/* Unit tests for the WebSocket frame reader and encoders.
 *
 * Frames are built by a small encoder of this file (not lt_ws_frame_header,
 * which is tested on its own) and fed to the reader as scripted input, the way
 * wslay's tests do: whole, and again one byte at a time with the unread bytes
 * kept in a buffer of exactly their size (as an evbuffer would hold them, and
 * so that ASan sees any read past them). Both must give the same events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "livetally/base/mem.h"
#include "livetally/net/ws_frame.h"

#define FIN 0x80
#define RSV1 0x40
#define RSV2 0x20
#define RSV3 0x10

/* The masking key of RFC 6455 5.7's examples. */
static const uint8_t test_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* ---- Building frames ------------------------------------------------------ */

/* Length forms: the minimal one, or a forced 7-, 16- or 64-bit field. */
enum len_form { LEN_MINIMAL, LEN_16, LEN_64 };

static size_t frame_form(uint8_t *out, uint8_t b0, const void *payload, size_t len,
                         bool masked, enum len_form form)
{
    size_t n = 0;
    uint8_t mbit = masked ? 0x80 : 0;
    out[n++] = b0;
    if (form == LEN_MINIMAL && len < 126) {
        out[n++] = (uint8_t)(mbit | len);
    } else if (form != LEN_64 && len <= 0xFFFF) {
        out[n++] = mbit | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = mbit | 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    if (masked) {
        memcpy(out + n, test_key, 4);
        n += 4;
    }
    for (size_t i = 0; i < len; i++)
        out[n + i] = (uint8_t)(((const uint8_t *)payload)[i] ^ (masked ? test_key[i % 4] : 0));
    return n + len;
}

/* A masked client frame with the minimal length form. */
static size_t cframe(uint8_t *out, uint8_t b0, const void *payload, size_t len)
{
    return frame_form(out, b0, payload, len, true, LEN_MINIMAL);
}

static size_t cframe_str(uint8_t *out, uint8_t b0, const char *s)
{
    return cframe(out, b0, s, strlen(s));
}

/* ---- Feeding them --------------------------------------------------------- */

struct settings {
    size_t max_message;
    bool require_masked;
    bool allow_binary;
};

static const struct settings server = {4096, true, false};

struct rec {
    enum lt_ws_event_type type;
    uint16_t close_code;
    const char *reason;
    size_t len;
    uint8_t *data; /* a copy */
};

#define MAX_EVENTS 32

/* The events of a run (NEED_MORE left out) and the input left unread. */
struct run {
    struct rec ev[MAX_EVENTS];
    size_t n;
    size_t unread;
};

static void record(struct run *run, const struct lt_ws_event *ev)
{
    assert_true(run->n < MAX_EVENTS);
    struct rec *rec = &run->ev[run->n++];
    rec->type = ev->type;
    rec->close_code = ev->close_code;
    rec->reason = ev->reason;
    rec->len = ev->len;
    rec->data = malloc(ev->len ? ev->len : 1);
    assert_non_null(rec->data);
    if (ev->len)
        memcpy(rec->data, ev->data, ev->len);
}

static void run_free(struct run *run)
{
    for (size_t i = 0; i < run->n; i++)
        free(run->ev[i].data);
    run->n = 0;
}

static bool ends_reading(enum lt_ws_event_type t)
{
    return t == LT_WS_ERROR || t == LT_WS_CLOSE;
}

static void feed_whole(const struct settings *s, const uint8_t *in, size_t len, struct run *run)
{
    struct lt_ws_reader r;
    lt_ws_reader_init(&r, s->max_message, s->require_masked, s->allow_binary);
    uint8_t *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    memcpy(buf, in, len);
    size_t pos = 0;
    memset(run, 0, sizeof *run);
    for (;;) {
        struct lt_ws_event ev;
        size_t consumed = 99;
        enum lt_ws_event_type t = lt_ws_read(&r, buf + pos, len - pos, &consumed, &ev);
        assert_int_equal(t, ev.type);
        assert_true(consumed <= len - pos);
        if (t == LT_WS_NEED_MORE) {
            assert_int_equal(consumed, 0);
            break;
        }
        record(run, &ev);
        if (ends_reading(t))
            break;
        pos += consumed;
    }
    run->unread = len - pos;
    lt_ws_reader_free(&r);
    free(buf);
}

/* Replaces *buf by a buffer of exactly the bytes [from, from + n) of it, then
 * appends extra (if any): what is unread lives in an exact-size allocation. */
static void reshape(uint8_t **buf, size_t from, size_t n, const uint8_t *extra, size_t extra_len)
{
    uint8_t *p = malloc(n + extra_len ? n + extra_len : 1);
    assert_non_null(p);
    if (n)
        memcpy(p, *buf + from, n);
    if (extra_len)
        memcpy(p + n, extra, extra_len);
    free(*buf);
    *buf = p;
}

static void feed_bytes(const struct settings *s, const uint8_t *in, size_t len, struct run *run)
{
    struct lt_ws_reader r;
    lt_ws_reader_init(&r, s->max_message, s->require_masked, s->allow_binary);
    uint8_t *buf = NULL;
    size_t have = 0;
    bool done = false;
    memset(run, 0, sizeof *run);
    for (size_t i = 0; i < len && !done; i++) {
        reshape(&buf, 0, have, in + i, 1);
        have++;
        for (;;) {
            struct lt_ws_event ev;
            size_t consumed = 99;
            enum lt_ws_event_type t = lt_ws_read(&r, buf, have, &consumed, &ev);
            assert_true(consumed <= have);
            if (t == LT_WS_NEED_MORE) {
                assert_int_equal(consumed, 0);
                break;
            }
            record(run, &ev);
            if (ends_reading(t)) {
                done = true;
                have += len - i - 1; /* the rest was never given */
                break;
            }
            reshape(&buf, consumed, have - consumed, NULL, 0);
            have -= consumed;
        }
    }
    run->unread = have;
    lt_ws_reader_free(&r);
    free(buf);
}

static void same_runs(const struct run *a, const struct run *b)
{
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->unread, b->unread);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->ev[i].type, b->ev[i].type);
        assert_int_equal(a->ev[i].close_code, b->ev[i].close_code);
        assert_int_equal(a->ev[i].len, b->ev[i].len);
        assert_memory_equal(a->ev[i].data, b->ev[i].data, a->ev[i].len);
    }
}

/* Feeds the input whole and byte by byte; returns the whole run. */
static void feed(const struct settings *s, const uint8_t *in, size_t len, struct run *run)
{
    struct run bytes;
    feed_whole(s, in, len, run);
    feed_bytes(s, in, len, &bytes);
    same_runs(run, &bytes);
    run_free(&bytes);
}

static void assert_event(const struct run *run, size_t i, enum lt_ws_event_type type,
                         const char *data)
{
    assert_true(i < run->n);
    assert_int_equal(run->ev[i].type, type);
    if (data) {
        assert_int_equal(run->ev[i].len, strlen(data));
        assert_memory_equal(run->ev[i].data, data, run->ev[i].len);
    }
}

/* The input ends in an error with this close code, as its last event. */
static void assert_error(const struct run *run, uint16_t code)
{
    assert_true(run->n > 0);
    const struct rec *last = &run->ev[run->n - 1];
    assert_int_equal(last->type, LT_WS_ERROR);
    assert_int_equal(last->close_code, code);
    assert_non_null(last->reason);
    assert_true(strlen(last->reason) > 0 && strlen(last->reason) <= 123);
}

/* Feeds one frame (whole and by bytes) and expects an error with code. */
static void expect_error(const struct settings *s, const uint8_t *in, size_t len, uint16_t code)
{
    struct run run;
    feed(s, in, len, &run);
    assert_int_equal(run.n, 1);
    assert_error(&run, code);
    run_free(&run);
}

/* ---- Messages ------------------------------------------------------------- */

static void test_text_zero_copy(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = cframe_str(buf, FIN | LT_WS_OP_TEXT, "Hello");
    struct lt_ws_reader r;
    lt_ws_reader_init(&r, 4096, true, false);
    struct lt_ws_event ev;
    size_t consumed;
    assert_int_equal(lt_ws_read(&r, buf, n, &consumed, &ev), LT_WS_TEXT);
    assert_int_equal(consumed, n);
    assert_ptr_equal(ev.data, buf + 6); /* unmasked where it lies */
    assert_int_equal(ev.len, 5);
    assert_memory_equal(ev.data, "Hello", 5);
    assert_null(r.msg);
    assert_int_equal(lt_ws_read(&r, buf + n, 0, &consumed, &ev), LT_WS_NEED_MORE);
    assert_int_equal(consumed, 0);
    lt_ws_reader_free(&r);
}

static void test_rfc_example_frames(void **state)
{
    (void)state;
    /* RFC 6455 5.7: a masked "Hello" and an unmasked one (server side). */
    const uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    const uint8_t unmasked[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    struct run run;
    feed(&server, masked, sizeof masked, &run);
    assert_int_equal(run.n, 1);
    assert_event(&run, 0, LT_WS_TEXT, "Hello");
    run_free(&run);

    const struct settings client = {4096, false, false};
    feed(&client, unmasked, sizeof unmasked, &run);
    assert_int_equal(run.n, 1);
    assert_event(&run, 0, LT_WS_TEXT, "Hello");
    run_free(&run);
}

static void test_several_frames_in_one_buffer(void **state)
{
    (void)state;
    uint8_t in[256];
    size_t n = 0;
    n += cframe_str(in + n, FIN | LT_WS_OP_TEXT, "one");
    n += cframe_str(in + n, FIN | LT_WS_OP_PING, "p");
    n += cframe_str(in + n, FIN | LT_WS_OP_PONG, "");
    n += cframe_str(in + n, FIN | LT_WS_OP_TEXT, "");
    n += cframe_str(in + n, FIN | LT_WS_OP_TEXT, "two");
    in[n++] = FIN | LT_WS_OP_TEXT; /* a frame begun */
    struct run run;
    feed(&server, in, n, &run);
    assert_int_equal(run.n, 5);
    assert_event(&run, 0, LT_WS_TEXT, "one");
    assert_event(&run, 1, LT_WS_PING, "p");
    assert_event(&run, 2, LT_WS_PONG, "");
    assert_event(&run, 3, LT_WS_TEXT, "");
    assert_event(&run, 4, LT_WS_TEXT, "two");
    assert_int_equal(run.unread, 1);
    run_free(&run);
}

static void test_need_more_consumes_nothing(void **state)
{
    (void)state;
    char payload[300];
    memset(payload, 'x', sizeof payload);
    size_t sizes[] = {0, 5, 125, 126, 300};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint8_t frame[400], copy[400];
        size_t n = cframe(frame, FIN | LT_WS_OP_TEXT, payload, sizes[k]);
        for (size_t len = 0; len < n; len++) {
            struct lt_ws_reader r;
            lt_ws_reader_init(&r, 4096, true, false);
            memcpy(copy, frame, n);
            struct lt_ws_event ev;
            size_t consumed = 99;
            assert_int_equal(lt_ws_read(&r, copy, len, &consumed, &ev), LT_WS_NEED_MORE);
            assert_int_equal(consumed, 0);
            assert_memory_equal(copy, frame, n); /* nothing unmasked yet */
            lt_ws_reader_free(&r);
        }
    }
}

static void test_fragmented_two_with_ping(void **state)
{
    (void)state;
    uint8_t in[256];
    size_t n = 0;
    n += cframe_str(in + n, LT_WS_OP_TEXT, "Hel");
    n += cframe_str(in + n, FIN | LT_WS_OP_PING, "are you there");
    n += cframe_str(in + n, FIN | LT_WS_OP_CONT, "lo");
    struct run run;
    feed(&server, in, n, &run);
    assert_int_equal(run.n, 3);
    assert_event(&run, 0, LT_WS_FRAGMENT, "Hel");
    assert_event(&run, 1, LT_WS_PING, "are you there");
    assert_event(&run, 2, LT_WS_TEXT, "Hello");
    assert_int_equal(run.unread, 0);
    run_free(&run);
}

static void test_fragmented_three_with_ping(void **state)
{
    (void)state;
    uint8_t in[256];
    size_t n = 0;
    n += cframe_str(in + n, LT_WS_OP_TEXT, "{\"like\":");
    n += cframe_str(in + n, LT_WS_OP_CONT, "1,\"who\":");
    n += cframe_str(in + n, FIN | LT_WS_OP_PING, "");
    n += cframe_str(in + n, FIN | LT_WS_OP_PONG, "x");
    n += cframe_str(in + n, FIN | LT_WS_OP_CONT, "\"caf\xc3\xa9\"}");
    n += cframe_str(in + n, FIN | LT_WS_OP_TEXT, "next");
    struct run run;
    feed(&server, in, n, &run);
    assert_int_equal(run.n, 6);
    assert_event(&run, 0, LT_WS_FRAGMENT, "{\"like\":");
    assert_event(&run, 1, LT_WS_FRAGMENT, "1,\"who\":");
    assert_event(&run, 2, LT_WS_PING, "");
    assert_event(&run, 3, LT_WS_PONG, "x");
    assert_event(&run, 4, LT_WS_TEXT, "{\"like\":1,\"who\":\"caf\xc3\xa9\"}");
    assert_event(&run, 5, LT_WS_TEXT, "next");
    run_free(&run);
}

/* The message is copied into the reader's buffer, which is freed by the next
 * call: an idle reader holds no memory. */
static void test_fragment_buffer_lifetime(void **state)
{
    (void)state;
    int64_t base = lt_mem_live_bytes();
    uint8_t in[64];
    size_t a = cframe_str(in, LT_WS_OP_TEXT, "ab");
    size_t b = cframe_str(in + a, FIN | LT_WS_OP_CONT, "cd");
    struct lt_ws_reader r;
    lt_ws_reader_init(&r, 4096, true, false);
    struct lt_ws_event ev;
    size_t consumed;
    assert_int_equal(lt_ws_read(&r, in, a + b, &consumed, &ev), LT_WS_FRAGMENT);
    assert_int_equal(consumed, a);
    assert_non_null(r.msg);
    assert_int_equal(lt_ws_read(&r, in + a, b, &consumed, &ev), LT_WS_TEXT);
    assert_int_equal(consumed, b);
    assert_ptr_equal(ev.data, r.msg);
    assert_int_equal(ev.len, 4);
    assert_memory_equal(ev.data, "abcd", 4);
    assert_int_equal(lt_ws_read(&r, in + a + b, 0, &consumed, &ev), LT_WS_NEED_MORE);
    assert_null(r.msg);
    assert_int_equal(r.msg_cap, 0);
    assert_int_equal(lt_mem_live_bytes(), base);
    lt_ws_reader_free(&r);
}

static void test_fragments_empty_then_zero_copy(void **state)
{
    (void)state;
    uint8_t in[64];
    size_t a = cframe_str(in, LT_WS_OP_TEXT, "");
    size_t b = cframe_str(in + a, LT_WS_OP_CONT, "");
    size_t c = cframe_str(in + a + b, FIN | LT_WS_OP_CONT, "xyz");
    struct lt_ws_reader r;
    lt_ws_reader_init(&r, 4096, true, false);
    struct lt_ws_event ev;
    size_t consumed;
    assert_int_equal(lt_ws_read(&r, in, a + b + c, &consumed, &ev), LT_WS_FRAGMENT);
    assert_int_equal(lt_ws_read(&r, in + a, b + c, &consumed, &ev), LT_WS_FRAGMENT);
    assert_int_equal(lt_ws_read(&r, in + a + b, c, &consumed, &ev), LT_WS_TEXT);
    assert_ptr_equal(ev.data, in + a + b + 6);
    assert_memory_equal(ev.data, "xyz", 3);
    assert_null(r.msg);
    lt_ws_reader_free(&r);
}

static void test_large_fragmented_message(void **state)
{
    (void)state;
    enum { FRAGS = 10, PART = 1000 };
    size_t cap = FRAGS * (PART + 14);
    uint8_t *in = malloc(cap);
    uint8_t payload[PART];
    assert_non_null(in);
    for (size_t max = FRAGS * PART - 1; max <= FRAGS * PART; max++) {
        size_t n = 0;
        for (int i = 0; i < FRAGS; i++) {
            memset(payload, 'a' + i, PART);
            uint8_t b0 = (uint8_t)((i == FRAGS - 1 ? FIN : 0) | (i ? LT_WS_OP_CONT : LT_WS_OP_TEXT));
            n += cframe(in + n, b0, payload, PART);
        }
        struct lt_ws_reader r;
        lt_ws_reader_init(&r, max, true, false);
        struct lt_ws_event ev;
        size_t consumed, pos = 0;
        for (int i = 0; i < FRAGS - 1; i++) {
            assert_int_equal(lt_ws_read(&r, in + pos, n - pos, &consumed, &ev), LT_WS_FRAGMENT);
            assert_true(r.msg_cap <= max); /* grown geometrically, never past the limit */
            pos += consumed;
        }
        enum lt_ws_event_type t = lt_ws_read(&r, in + pos, n - pos, &consumed, &ev);
        if (max < FRAGS * PART) {
            assert_int_equal(t, LT_WS_ERROR);
            assert_int_equal(ev.close_code, LT_WS_CLOSE_TOO_BIG);
            assert_null(r.msg);
        } else {
            assert_int_equal(t, LT_WS_TEXT);
            assert_int_equal(ev.len, FRAGS * PART);
            for (int i = 0; i < FRAGS; i++)
                assert_int_equal(ev.data[i * PART + PART - 1], 'a' + i);
            assert_true(r.msg_cap <= max);
        }
        lt_ws_reader_free(&r);
    }
    free(in);
}

static void test_length_forms(void **state)
{
    (void)state;
    /* 16- and 64-bit forms at their boundaries, and non-minimal encodings,
     * which are accepted (see ws_frame.c). */
    size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
    enum len_form forms[] = {LEN_MINIMAL, LEN_16, LEN_64};
    const struct settings big = {100000, true, true};
    uint8_t *payload = malloc(70000), *in = malloc(70000 + 14);
    assert_non_null(payload);
    assert_non_null(in);
    for (size_t i = 0; i < 70000; i++)
        payload[i] = (uint8_t)(i * 7);
    for (size_t f = 0; f < 3; f++) {
        for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
            if (forms[f] == LEN_16 && lens[k] > 0xFFFF)
                continue;
            size_t n = frame_form(in, FIN | LT_WS_OP_BINARY, payload, lens[k], true, forms[f]);
            struct run run;
            feed_whole(&big, in, n, &run);
            assert_int_equal(run.n, 1);
            assert_int_equal(run.ev[0].type, LT_WS_BINARY);
            assert_int_equal(run.ev[0].len, lens[k]);
            assert_memory_equal(run.ev[0].data, payload, lens[k]);
            run_free(&run);
        }
    }
    free(payload);
    free(in);
}

static void test_binary_allowed_and_refused(void **state)
{
    (void)state;
    const uint8_t bytes[] = {0x00, 0xff, 0xc0, 0x80};
    uint8_t in[64];
    size_t n = cframe(in, FIN | LT_WS_OP_BINARY, bytes, sizeof bytes);
    const struct settings binary = {4096, true, true};
    struct run run;
    feed(&binary, in, n, &run);
    assert_int_equal(run.n, 1);
    assert_int_equal(run.ev[0].type, LT_WS_BINARY);
    assert_int_equal(run.ev[0].len, sizeof bytes);
    assert_memory_equal(run.ev[0].data, bytes, sizeof bytes);
    run_free(&run);

    /* Fragmented binary, allowed. */
    n = cframe(in, LT_WS_OP_BINARY, bytes, 2);
    n += cframe(in + n, FIN | LT_WS_OP_CONT, bytes + 2, 2);
    feed(&binary, in, n, &run);
    assert_int_equal(run.n, 2);
    assert_int_equal(run.ev[1].type, LT_WS_BINARY);
    assert_memory_equal(run.ev[1].data, bytes, sizeof bytes);
    run_free(&run);

    /* Refused: 1003 from the first header byte. */
    n = cframe(in, FIN | LT_WS_OP_BINARY, bytes, sizeof bytes);
    expect_error(&server, in, n, LT_WS_CLOSE_UNSUPPORTED);
    expect_error(&server, in, 1, LT_WS_CLOSE_UNSUPPORTED);
    n = cframe(in, LT_WS_OP_BINARY, bytes, sizeof bytes);
    expect_error(&server, in, n, LT_WS_CLOSE_UNSUPPORTED);
}

/* ---- Protocol errors, one assertion each ---------------------------------- */

static void test_error_rsv_bits(void **state)
{
    (void)state;
    uint8_t in[32];
    size_t n = cframe_str(in, FIN | RSV1 | LT_WS_OP_TEXT, "a");
    expect_error(&server, in, n, LT_WS_CLOSE_PROTOCOL);
    n = cframe_str(in, FIN | RSV2 | LT_WS_OP_TEXT, "a");
    expect_error(&server, in, n, LT_WS_CLOSE_PROTOCOL);
    n = cframe_str(in, FIN | RSV3 | LT_WS_OP_TEXT, "a");
    expect_error(&server, in, n, LT_WS_CLOSE_PROTOCOL);
    n = cframe_str(in, FIN | RSV1 | LT_WS_OP_PING, "a");
    expect_error(&server, in, n, LT_WS_CLOSE_PROTOCOL);
    /* Known from the first byte alone. */
    expect_error(&server, in, 1, LT_WS_CLOSE_PROTOCOL);
}

static void test_error_unknown_opcodes(void **state)
{
    (void)state;
    const uint8_t bad[] = {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF};
    for (size_t i = 0; i < sizeof bad; i++) {
        uint8_t in[32];
        size_t n = cframe_str(in, (uint8_t)(FIN | bad[i]), "a");
        expect_error(&server, in, n, LT_WS_CLOSE_PROTOCOL);
        expect_error(&server, in, 1, LT_WS_CLOSE_PROTOCOL);
    }
}

static void test_error_unmasked_client_frame(void **state)
{
    (void)state;
    uint8_t in[32];
    size_t n = frame_form(in, FIN | LT_WS_OP_TEXT, "a", 1, false, LEN_MINIMAL);
    expect_error(&server, in, n, LT_WS_CLOSE_PROTOCOL);
    expect_error(&server, in, 2, LT_WS_CLOSE_PROTOCOL);
    n = frame_form(in, FIN | LT_WS_OP_PING, "", 0, false, LEN_MINIMAL);
    expect_error(&server, in, n, LT_WS_CLOSE_PROTOCOL);
}

static void test_error_masked_server_frame(void **state)
{
    (void)state;
    const struct settings client = {4096, false, false};
    uint8_t in[32];
    size_t n = cframe_str(in, FIN | LT_WS_OP_TEXT, "a");
    expect_error(&client, in, n, LT_WS_CLOSE_PROTOCOL);
    expect_error(&client, in, 2, LT_WS_CLOSE_PROTOCOL);
}

static void test_error_fragmented_control(void **state)
{
    (void)state;
    uint8_t in[32];
    size_t n = cframe_str(in, LT_WS_OP_PING, "a");
    expect_error(&server, in, n, LT_WS_CLOSE_PROTOCOL);
    n = cframe_str(in, LT_WS_OP_PONG, "a");
    expect_error(&server, in, n, LT_WS_CLOSE_PROTOCOL);
    n = cframe_str(in, LT_WS_OP_CLOSE, "");
    expect_error(&server, in, n, LT_WS_CLOSE_PROTOCOL);
}

static void test_error_control_too_long(void **state)
{
    (void)state;
    char payload[126];
    memset(payload, 'p', sizeof payload);
    uint8_t in[160];
    /* 125 is the most a control frame may carry. */
    size_t n = cframe(in, FIN | LT_WS_OP_PING, payload, 125);
    struct run run;
    feed(&server, in, n, &run);
    assert_int_equal(run.n, 1);
    assert_int_equal(run.ev[0].type, LT_WS_PING);
    assert_int_equal(run.ev[0].len, 125);
    run_free(&run);

    n = cframe(in, FIN | LT_WS_OP_PING, payload, 126);
    expect_error(&server, in, n, LT_WS_CLOSE_PROTOCOL);
    expect_error(&server, in, 2, LT_WS_CLOSE_PROTOCOL); /* from the header alone */
    /* A small length in a long form is still too long a form: 126 and 127 in
     * the 7-bit field are over 125 whatever follows. */
    n = frame_form(in, FIN | LT_WS_OP_PONG, payload, 3, true, LEN_16);
    expect_error(&server, in, n, LT_WS_CLOSE_PROTOCOL);
    n = frame_form(in, FIN | LT_WS_OP_CLOSE, "\x03\xe8", 2, true, LEN_64);
    expect_error(&server, in, n, LT_WS_CLOSE_PROTOCOL);
}

static void test_error_length_msb(void **state)
{
    (void)state;
    const struct settings huge = {SIZE_MAX, true, true};
    uint8_t in[16] = {FIN | LT_WS_OP_TEXT, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1};
    expect_error(&huge, in, 10, LT_WS_CLOSE_PROTOCOL);
    expect_error(&server, in, 10, LT_WS_CLOSE_PROTOCOL);
}

static void test_error_cont_without_message(void **state)
{
    (void)state;
    uint8_t in[32];
    size_t n = cframe_str(in, FIN | LT_WS_OP_CONT, "a");
    expect_error(&server, in, n, LT_WS_CLOSE_PROTOCOL);
    n = cframe_str(in, LT_WS_OP_CONT, "a");
    expect_error(&server, in, n, LT_WS_CLOSE_PROTOCOL);
    expect_error(&server, in, 1, LT_WS_CLOSE_PROTOCOL);
}

static void test_error_cont_after_finished_message(void **state)
{
    (void)state;
    uint8_t in[64];
    size_t n = cframe_str(in, LT_WS_OP_TEXT, "a");
    n += cframe_str(in + n, FIN | LT_WS_OP_CONT, "b");
    n += cframe_str(in + n, FIN | LT_WS_OP_CONT, "c");
    struct run run;
    feed(&server, in, n, &run);
    assert_int_equal(run.n, 3);
    assert_event(&run, 1, LT_WS_TEXT, "ab");
    assert_error(&run, LT_WS_CLOSE_PROTOCOL);
    run_free(&run);
}

static void test_error_text_inside_message(void **state)
{
    (void)state;
    uint8_t in[64];
    size_t n = cframe_str(in, LT_WS_OP_TEXT, "a");
    n += cframe_str(in + n, FIN | LT_WS_OP_TEXT, "b");
    struct run run;
    feed(&server, in, n, &run);
    assert_int_equal(run.n, 2);
    assert_event(&run, 0, LT_WS_FRAGMENT, "a");
    assert_error(&run, LT_WS_CLOSE_PROTOCOL);
    run_free(&run);
}

static void test_error_binary_inside_message(void **state)
{
    (void)state;
    const struct settings binary = {4096, true, true};
    uint8_t in[64];
    size_t n = cframe_str(in, LT_WS_OP_TEXT, "a");
    n += cframe_str(in + n, LT_WS_OP_BINARY, "b");
    struct run run;
    feed(&binary, in, n, &run);
    assert_int_equal(run.n, 2);
    assert_error(&run, LT_WS_CLOSE_PROTOCOL);
    run_free(&run);
}

static void test_error_too_big_single_frame(void **state)
{
    (void)state;
    const struct settings small = {100, true, true};
    char payload[101];
    memset(payload, 'z', sizeof payload);
    uint8_t in[128];
    size_t n = cframe(in, FIN | LT_WS_OP_TEXT, payload, 100);
    struct run run;
    feed(&small, in, n, &run);
    assert_int_equal(run.n, 1);
    assert_int_equal(run.ev[0].type, LT_WS_TEXT);
    run_free(&run);

    n = cframe(in, FIN | LT_WS_OP_TEXT, payload, 101);
    expect_error(&small, in, n, LT_WS_CLOSE_TOO_BIG);
    n = cframe(in, LT_WS_OP_BINARY, payload, 101);
    expect_error(&small, in, n, LT_WS_CLOSE_TOO_BIG);
}

/* Only the header is fed: the payload never comes, the refusal must not wait
 * for it. */
static void test_error_too_big_from_header_alone(void **state)
{
    (void)state;
    const struct settings s = {4096, true, true};
    uint8_t hdr16[] = {FIN | LT_WS_OP_TEXT, 0x80 | 126, 0x10, 0x01}; /* 4097 */
    expect_error(&s, hdr16, sizeof hdr16, LT_WS_CLOSE_TOO_BIG);
    uint8_t hdr64[] = {FIN | LT_WS_OP_BINARY, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0};
    expect_error(&s, hdr64, sizeof hdr64, LT_WS_CLOSE_TOO_BIG);
    uint8_t hdr64max[] = {LT_WS_OP_TEXT, 0x80 | 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    expect_error(&s, hdr64max, sizeof hdr64max, LT_WS_CLOSE_TOO_BIG);
    /* One byte short of the length field: not known yet. */
    struct run run;
    feed(&s, hdr16, 3, &run);
    assert_int_equal(run.n, 0);
    assert_int_equal(run.unread, 3);
    run_free(&run);
}

static void test_error_too_big_across_fragments(void **state)
{
    (void)state;
    const struct settings s = {4096, true, false};
    char *payload = malloc(3000);
    uint8_t *in = malloc(5000);
    assert_non_null(payload);
    assert_non_null(in);
    memset(payload, 'q', 3000);
    size_t n = cframe(in, LT_WS_OP_TEXT, payload, 3000);
    /* Then a continuation announcing 1097 bytes: 4097 in all. Only its
     * header is given. */
    in[n++] = FIN | LT_WS_OP_CONT;
    in[n++] = 0x80 | 126;
    in[n++] = 0x04;
    in[n++] = 0x49;
    struct run run;
    feed(&s, in, n, &run);
    assert_int_equal(run.n, 2);
    assert_int_equal(run.ev[0].type, LT_WS_FRAGMENT);
    assert_error(&run, LT_WS_CLOSE_TOO_BIG);
    run_free(&run);

    /* 1096 fits exactly. */
    n = cframe(in, LT_WS_OP_TEXT, payload, 3000);
    n += cframe(in + n, FIN | LT_WS_OP_CONT, payload, 1096);
    feed_whole(&s, in, n, &run);
    assert_int_equal(run.n, 2);
    assert_int_equal(run.ev[1].type, LT_WS_TEXT);
    assert_int_equal(run.ev[1].len, 4096);
    run_free(&run);
    free(payload);
    free(in);
}

static void test_error_is_sticky(void **state)
{
    (void)state;
    uint8_t in[32];
    size_t n = cframe_str(in, FIN | LT_WS_OP_TEXT, "\xff");
    size_t m = cframe_str(in + n, FIN | LT_WS_OP_TEXT, "ok");
    struct lt_ws_reader r;
    lt_ws_reader_init(&r, 4096, true, false);
    struct lt_ws_event ev;
    size_t consumed;
    assert_int_equal(lt_ws_read(&r, in, n + m, &consumed, &ev), LT_WS_ERROR);
    assert_int_equal(ev.close_code, LT_WS_CLOSE_INVALID_UTF8);
    const char *reason = ev.reason;
    assert_int_equal(lt_ws_read(&r, in + n, m, &consumed, &ev), LT_WS_ERROR);
    assert_int_equal(ev.close_code, LT_WS_CLOSE_INVALID_UTF8);
    assert_string_equal(ev.reason, reason);
    assert_int_equal(consumed, 0);
    lt_ws_reader_free(&r);
}

/* ---- Text validity -------------------------------------------------------- */

static void test_text_invalid_utf8(void **state)
{
    (void)state;
    uint8_t in[32];
    size_t n = cframe_str(in, FIN | LT_WS_OP_TEXT, "ab\xc0\xafz");
    expect_error(&server, in, n, LT_WS_CLOSE_INVALID_UTF8);
    n = cframe_str(in, FIN | LT_WS_OP_TEXT, "ab\xc3"); /* ends inside a character */
    expect_error(&server, in, n, LT_WS_CLOSE_INVALID_UTF8);
}

/* A bad first fragment fails at once, with no later frame given. */
static void test_text_invalid_fragment_fails_fast(void **state)
{
    (void)state;
    uint8_t in[32];
    size_t n = cframe_str(in, LT_WS_OP_TEXT, "ok\xed\xa0\x80");
    expect_error(&server, in, n, LT_WS_CLOSE_INVALID_UTF8);

    n = cframe_str(in, LT_WS_OP_TEXT, "ok\xe0");
    n += cframe_str(in + n, LT_WS_OP_CONT, "\x80"); /* E0 80: overlong */
    struct run run;
    feed(&server, in, n, &run);
    assert_int_equal(run.n, 2);
    assert_event(&run, 0, LT_WS_FRAGMENT, "ok\xe0");
    assert_error(&run, LT_WS_CLOSE_INVALID_UTF8);
    run_free(&run);
}

static void test_text_character_split_across_fragments(void **state)
{
    (void)state;
    /* U+1F600 (F0 9F 98 80) over three fragments, then U+00E9. */
    uint8_t in[64];
    size_t n = cframe_str(in, LT_WS_OP_TEXT, "a\xf0");
    n += cframe_str(in + n, LT_WS_OP_CONT, "\x9f\x98");
    n += cframe_str(in + n, LT_WS_OP_CONT, "\x80\xc3");
    n += cframe_str(in + n, FIN | LT_WS_OP_CONT, "\xa9");
    struct run run;
    feed(&server, in, n, &run);
    assert_int_equal(run.n, 4);
    assert_event(&run, 3, LT_WS_TEXT, "a\xf0\x9f\x98\x80\xc3\xa9");
    run_free(&run);
}

static void test_text_final_fragment_inside_character(void **state)
{
    (void)state;
    uint8_t in[64];
    size_t n = cframe_str(in, LT_WS_OP_TEXT, "a\xe2\x82");
    n += cframe_str(in + n, FIN | LT_WS_OP_CONT, "");
    struct run run;
    feed(&server, in, n, &run);
    assert_int_equal(run.n, 2);
    assert_error(&run, LT_WS_CLOSE_INVALID_UTF8);
    run_free(&run);
}

/* ---- Close frames --------------------------------------------------------- */

static void feed_close(const void *payload, size_t len, struct run *run)
{
    uint8_t in[160];
    size_t n = cframe(in, FIN | LT_WS_OP_CLOSE, payload, len);
    feed(&server, in, n, run);
    assert_int_equal(run->n, 1);
}

static void test_close_empty(void **state)
{
    (void)state;
    struct run run;
    feed_close("", 0, &run);
    assert_int_equal(run.ev[0].type, LT_WS_CLOSE);
    assert_int_equal(run.ev[0].close_code, LT_WS_CLOSE_NO_STATUS);
    assert_int_equal(run.ev[0].len, 0);
    run_free(&run);
}

static void test_close_code_only(void **state)
{
    (void)state;
    struct run run;
    feed_close("\x03\xe8", 2, &run);
    assert_event(&run, 0, LT_WS_CLOSE, "");
    assert_int_equal(run.ev[0].close_code, 1000);
    run_free(&run);
}

static void test_close_code_and_reason(void **state)
{
    (void)state;
    struct run run;
    feed_close("\x0f\xa0gone to caf\xc3\xa9", 15, &run);
    assert_event(&run, 0, LT_WS_CLOSE, "gone to caf\xc3\xa9");
    assert_int_equal(run.ev[0].close_code, 4000);
    run_free(&run);
}

static void test_close_one_byte(void **state)
{
    (void)state;
    struct run run;
    feed_close("\x03", 1, &run);
    assert_error(&run, LT_WS_CLOSE_PROTOCOL);
    run_free(&run);
}

static void test_close_bad_codes(void **state)
{
    (void)state;
    const uint16_t bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t code[2] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
        struct run run;
        feed_close(code, 2, &run);
        assert_error(&run, LT_WS_CLOSE_PROTOCOL);
        run_free(&run);
    }
}

static void test_close_bad_utf8_reason(void **state)
{
    (void)state;
    struct run run;
    feed_close("\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80", 16, &run);
    assert_error(&run, LT_WS_CLOSE_INVALID_UTF8);
    run_free(&run);
}

static void test_close_between_fragments(void **state)
{
    (void)state;
    uint8_t in[64];
    size_t n = cframe_str(in, LT_WS_OP_TEXT, "half");
    n += cframe(in + n, FIN | LT_WS_OP_CLOSE, "\x03\xe9", 2);
    struct run run;
    feed(&server, in, n, &run);
    assert_int_equal(run.n, 2);
    assert_int_equal(run.ev[1].type, LT_WS_CLOSE);
    assert_int_equal(run.ev[1].close_code, 1001);
    run_free(&run);
}

static void test_close_code_valid(void **state)
{
    (void)state;
    for (unsigned c = 0; c <= 65535; c++) {
        bool want = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
                    (c >= 3000 && c <= 4999);
        assert_int_equal(lt_ws_close_code_valid((uint16_t)c), want);
    }
}

/* ---- Reader lifetime ------------------------------------------------------ */

static void test_free_after_half_message(void **state)
{
    (void)state;
    int64_t base = lt_mem_live_bytes();
    char payload[1000];
    memset(payload, 'h', sizeof payload);
    uint8_t in[1100];
    size_t n = cframe(in, LT_WS_OP_TEXT, payload, sizeof payload);
    struct lt_ws_reader r;
    lt_ws_reader_init(&r, 4096, true, false);
    struct lt_ws_event ev;
    size_t consumed;
    assert_int_equal(lt_ws_read(&r, in, n, &consumed, &ev), LT_WS_FRAGMENT);
    assert_non_null(r.msg);
    assert_true(lt_mem_live_bytes() > base);
    lt_ws_reader_free(&r);
    assert_null(r.msg);
    assert_int_equal(lt_mem_live_bytes(), base);
    lt_ws_reader_free(&r); /* twice is harmless */
}

/* ---- UTF-8 ---------------------------------------------------------------- */

struct utf8_case {
    const char *s;
    size_t len;
    bool valid;
};

#define U(lit, ok) {lit, sizeof lit - 1, ok}

static const struct utf8_case utf8_cases[] = {
    U("", true),
    U("plain ASCII, long enough for the 8-byte path", true),
    U("\x00\x7f", true),
    U("\xc2\x80", true),                 /* U+0080 */
    U("\xdf\xbf", true),                 /* U+07FF */
    U("\xe0\xa0\x80", true),             /* U+0800 */
    U("\xed\x9f\xbf", true),             /* U+D7FF */
    U("\xee\x80\x80", true),             /* U+E000 */
    U("\xef\xbf\xbf", true),             /* U+FFFF */
    U("\xf0\x90\x80\x80", true),         /* U+10000 */
    U("\xf4\x8f\xbf\xbf", true),         /* U+10FFFF */
    U("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true),
    U("\x80", false),                    /* lone continuation */
    U("\xbf", false),
    U("\xc0\x80", false),                /* overlong NUL */
    U("\xc1\xbf", false),                /* overlong */
    U("\xe0\x80\x80", false),            /* overlong, 3 bytes */
    U("\xe0\x9f\xbf", false),
    U("\xf0\x80\x80\x80", false),        /* overlong, 4 bytes */
    U("\xf0\x8f\xbf\xbf", false),
    U("\xed\xa0\x80", false),            /* U+D800 */
    U("\xed\xbf\xbf", false),            /* U+DFFF */
    U("\xf4\x90\x80\x80", false),        /* U+110000 */
    U("\xf5\x80\x80\x80", false),
    U("\xf8\x88\x80\x80\x80", false),
    U("\xfe", false),
    U("\xff", false),
    U("\xc2", false),                    /* truncated */
    U("\xe2\x82", false),
    U("\xf0\x9f\x98", false),
    U("\xc2\x41", false),                /* continuation missing */
    U("\xe2\x28\xa1", false),
    U("abcdefgh\xc3\xa9ijklmnop\xff", false),
};

static void test_utf8_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
        const struct utf8_case *c = &utf8_cases[i];
        const uint8_t *s = (const uint8_t *)c->s;
        assert_int_equal(lt_utf8_valid(s, c->len), c->valid);
        /* Fed in two pieces, split anywhere: the same answer. */
        for (size_t cut = 0; cut <= c->len; cut++) {
            struct lt_utf8 u = {0};
            bool ok = lt_utf8_feed(&u, s, cut) && lt_utf8_feed(&u, s + cut, c->len - cut);
            assert_int_equal(ok && lt_utf8_complete(&u), c->valid);
        }
    }
}

static void test_utf8_state_after_failure(void **state)
{
    (void)state;
    struct lt_utf8 u = {0};
    assert_false(lt_utf8_feed(&u, (const uint8_t *)"\xff", 1));
    assert_false(lt_utf8_feed(&u, (const uint8_t *)"a", 1));
    assert_false(lt_utf8_feed(&u, NULL, 0));
    assert_false(lt_utf8_complete(&u));
    struct lt_utf8 v = {0};
    assert_true(lt_utf8_feed(&v, (const uint8_t *)"\xe2", 1));
    assert_false(lt_utf8_complete(&v));
    assert_true(lt_utf8_feed(&v, (const uint8_t *)"\x82\xac", 2));
    assert_true(lt_utf8_complete(&v));
}

/* RFC 3629 read literally, to check the DFA against. */
static bool reference_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        size_t more;
        uint32_t cp, min;
        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            more = 1, cp = b & 0x1Fu, min = 0x80;
        } else if ((b & 0xF0) == 0xE0) {
            more = 2, cp = b & 0x0Fu, min = 0x800;
        } else if ((b & 0xF8) == 0xF0) {
            more = 3, cp = b & 0x07u, min = 0x10000;
        } else {
            return false;
        }
        if (n - i - 1 < more)
            return false;
        for (size_t j = 1; j <= more; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += more + 1;
    }
    return true;
}

/* Every string of 1 to 4 bytes drawn from the bytes at the edges of the
 * DFA's classes. */
static void test_utf8_against_reference(void **state)
{
    (void)state;
    static const uint8_t edge[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
                                   0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee,
                                   0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff};
    enum { E = sizeof edge };
    uint8_t s[4];
    for (size_t len = 1; len <= 4; len++) {
        size_t total = 1;
        for (size_t k = 0; k < len; k++)
            total *= E;
        for (size_t idx = 0; idx < total; idx++) {
            size_t x = idx;
            for (size_t k = 0; k < len; k++, x /= E)
                s[k] = edge[x % E];
            assert_int_equal(lt_utf8_valid(s, len), reference_utf8(s, len));
        }
    }
}

/* ---- Masking -------------------------------------------------------------- */

static void test_mask_matches_bytewise(void **state)
{
    (void)state;
    uint8_t orig[80], buf[96], want[80];
    for (size_t i = 0; i < sizeof orig; i++)
        orig[i] = (uint8_t)(i * 31 + 7);
    for (size_t align = 0; align < 8; align++) {
        for (size_t offset = 0; offset < 6; offset++) {
            for (size_t len = 0; len <= 70; len++) {
                memcpy(buf + align, orig, len);
                for (size_t i = 0; i < len; i++)
                    want[i] = orig[i] ^ test_key[(offset + i) % 4];
                lt_ws_mask(buf + align, len, test_key, offset);
                assert_memory_equal(buf + align, want, len);
                /* In two pieces, the second at its offset. */
                memcpy(buf + align, orig, len);
                size_t cut = len / 3;
                lt_ws_mask(buf + align, cut, test_key, offset);
                lt_ws_mask(buf + align + cut, len - cut, test_key, offset + cut);
                assert_memory_equal(buf + align, want, len);
            }
        }
    }
}

/* ---- Encoders ------------------------------------------------------------- */

static void test_frame_header_lengths(void **state)
{
    (void)state;
    uint8_t out[14];
    assert_int_equal(lt_ws_frame_header(out, LT_WS_OP_TEXT, 0, NULL), 2);
    assert_memory_equal(out, "\x81\x00", 2);
    assert_int_equal(lt_ws_frame_header(out, LT_WS_OP_TEXT, 125, NULL), 2);
    assert_memory_equal(out, "\x81\x7d", 2);
    assert_int_equal(lt_ws_frame_header(out, LT_WS_OP_BINARY, 126, NULL), 4);
    assert_memory_equal(out, "\x82\x7e\x00\x7e", 4);
    assert_int_equal(lt_ws_frame_header(out, LT_WS_OP_TEXT, 65535, NULL), 4);
    assert_memory_equal(out, "\x81\x7e\xff\xff", 4);
    assert_int_equal(lt_ws_frame_header(out, LT_WS_OP_TEXT, 65536, NULL), 10);
    assert_memory_equal(out, "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    assert_int_equal(lt_ws_frame_header(out, LT_WS_OP_PONG, 3, NULL), 2);
    assert_memory_equal(out, "\x8a\x03", 2);
}

static void test_frame_header_masked(void **state)
{
    (void)state;
    uint8_t out[14];
    assert_int_equal(lt_ws_frame_header(out, LT_WS_OP_TEXT, 5, test_key), 6);
    assert_memory_equal(out, "\x81\x85\x37\xfa\x21\x3d", 6);
    assert_int_equal(lt_ws_frame_header(out, LT_WS_OP_TEXT, 65535, test_key), 8);
    assert_memory_equal(out, "\x81\xfe\xff\xff\x37\xfa\x21\x3d", 8);
    assert_int_equal(lt_ws_frame_header(out, LT_WS_OP_BINARY, 65536, test_key), 14);
    assert_memory_equal(out, "\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00\x37\xfa\x21\x3d", 14);

    /* A client frame made with the encoder and lt_ws_mask reads back. */
    uint8_t frame[32];
    size_t n = lt_ws_frame_header(frame, LT_WS_OP_TEXT, 5, test_key);
    memcpy(frame + n, "Hello", 5);
    lt_ws_mask(frame + n, 5, test_key, 0);
    assert_memory_equal(frame, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
}

static void test_accept_key(void **state)
{
    (void)state;
    char out[29];
    /* RFC 6455 1.3's example (also checked with Python's hashlib). */
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    lt_ws_accept_key(key, strlen(key), out);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /* Only key_len bytes count. */
    lt_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==trailing", 24, out);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

/* Reads a server close frame back with a client-side reader. */
static void read_back_close(const uint8_t *frame, size_t n, uint16_t code, const char *reason,
                            size_t reason_len)
{
    const struct settings client = {4096, false, false};
    struct run run;
    feed(&client, frame, n, &run);
    assert_int_equal(run.n, 1);
    assert_int_equal(run.ev[0].type, LT_WS_CLOSE);
    assert_int_equal(run.ev[0].close_code, code);
    assert_int_equal(run.ev[0].len, reason_len);
    assert_memory_equal(run.ev[0].data, reason, reason_len);
    run_free(&run);
}

static void test_close_frame(void **state)
{
    (void)state;
    uint8_t out[127];
    size_t n = lt_ws_close_frame(out, LT_WS_CLOSE_TOO_BIG, "message too big");
    assert_int_equal(n, 4 + 15);
    assert_memory_equal(out, "\x88\x11\x03\xf1message too big", n);
    read_back_close(out, n, 1009, "message too big", 15);

    n = lt_ws_close_frame(out, LT_WS_CLOSE_NORMAL, NULL);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "\x88\x02\x03\xe8", 4);
    n = lt_ws_close_frame(out, LT_WS_CLOSE_NORMAL, "");
    assert_int_equal(n, 4);

    /* 1005 is never sent (RFC 6455 7.4.1): an empty close frame instead. */
    n = lt_ws_close_frame(out, LT_WS_CLOSE_NO_STATUS, "ignored");
    assert_int_equal(n, 2);
    assert_memory_equal(out, "\x88\x00", 2);
}

static void test_close_frame_truncation(void **state)
{
    (void)state;
    char reason[200];
    uint8_t out[127];

    /* 123 ASCII bytes fit exactly; 124 lose one. */
    memset(reason, 'r', 124);
    reason[123] = '\0';
    assert_int_equal(lt_ws_close_frame(out, 1000, reason), 127);
    reason[123] = 's';
    reason[124] = '\0';
    assert_int_equal(lt_ws_close_frame(out, 1000, reason), 127);
    assert_int_equal(out[126], 'r');

    /* A character of 2, 3 or 4 bytes across the limit goes whole. */
    static const char *chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    for (size_t c = 0; c < 3; c++) {
        size_t clen = strlen(chars[c]);
        for (size_t start = 123 - clen + 1; start <= 122; start++) {
            memset(reason, 'r', start);
            memcpy(reason + start, chars[c], clen);
            strcpy(reason + start + clen, "tail");
            size_t n = lt_ws_close_frame(out, 1000, reason);
            assert_int_equal(n, 4 + start);
            assert_int_equal(out[1], 2 + start);
            assert_true(lt_utf8_valid(out + 4, n - 4));
            read_back_close(out, n, 1000, reason, start);
        }
        /* Ending exactly at 123: kept. */
        size_t start = 123 - clen;
        memset(reason, 'r', start);
        memcpy(reason + start, chars[c], clen);
        strcpy(reason + start + clen, "tail");
        assert_int_equal(lt_ws_close_frame(out, 1000, reason), 127);
        read_back_close(out, 127, 1000, reason, 123);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_zero_copy),
        cmocka_unit_test(test_rfc_example_frames),
        cmocka_unit_test(test_several_frames_in_one_buffer),
        cmocka_unit_test(test_need_more_consumes_nothing),
        cmocka_unit_test(test_fragmented_two_with_ping),
        cmocka_unit_test(test_fragmented_three_with_ping),
        cmocka_unit_test(test_fragment_buffer_lifetime),
        cmocka_unit_test(test_fragments_empty_then_zero_copy),
        cmocka_unit_test(test_large_fragmented_message),
        cmocka_unit_test(test_length_forms),
        cmocka_unit_test(test_binary_allowed_and_refused),
        cmocka_unit_test(test_error_rsv_bits),
        cmocka_unit_test(test_error_unknown_opcodes),
        cmocka_unit_test(test_error_unmasked_client_frame),
        cmocka_unit_test(test_error_masked_server_frame),
        cmocka_unit_test(test_error_fragmented_control),
        cmocka_unit_test(test_error_control_too_long),
        cmocka_unit_test(test_error_length_msb),
        cmocka_unit_test(test_error_cont_without_message),
        cmocka_unit_test(test_error_cont_after_finished_message),
        cmocka_unit_test(test_error_text_inside_message),
        cmocka_unit_test(test_error_binary_inside_message),
        cmocka_unit_test(test_error_too_big_single_frame),
        cmocka_unit_test(test_error_too_big_from_header_alone),
        cmocka_unit_test(test_error_too_big_across_fragments),
        cmocka_unit_test(test_error_is_sticky),
        cmocka_unit_test(test_text_invalid_utf8),
        cmocka_unit_test(test_text_invalid_fragment_fails_fast),
        cmocka_unit_test(test_text_character_split_across_fragments),
        cmocka_unit_test(test_text_final_fragment_inside_character),
        cmocka_unit_test(test_close_empty),
        cmocka_unit_test(test_close_code_only),
        cmocka_unit_test(test_close_code_and_reason),
        cmocka_unit_test(test_close_one_byte),
        cmocka_unit_test(test_close_bad_codes),
        cmocka_unit_test(test_close_bad_utf8_reason),
        cmocka_unit_test(test_close_between_fragments),
        cmocka_unit_test(test_close_code_valid),
        cmocka_unit_test(test_free_after_half_message),
        cmocka_unit_test(test_utf8_vectors),
        cmocka_unit_test(test_utf8_state_after_failure),
        cmocka_unit_test(test_utf8_against_reference),
        cmocka_unit_test(test_mask_matches_bytewise),
        cmocka_unit_test(test_frame_header_lengths),
        cmocka_unit_test(test_frame_header_masked),
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_close_frame),
        cmocka_unit_test(test_close_frame_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
