/* RFC 6455 framing without sockets (see ws_frame.h for the contract).
 *
 * The reader is a function of (its small state, the unread input): every call
 * starts again at the first byte of a frame, so there is no "header half
 * read" state to keep between calls. A frame is parsed only once it is
 * complete; until then NEED_MORE consumes nothing and leaves the input
 * untouched (nothing is unmasked). The one exception is the header checks:
 * each rule is applied as soon as the bytes it needs are there, so an
 * oversized frame is refused from its length field, before its payload
 * arrives, and input that cannot be WebSocket is refused at its first byte.
 *
 * Choices beyond the header's contract:
 *  - Non-minimal payload length encodings (e.g. 5 in the 16-bit form) are
 *    accepted: RFC 6455 5.2's "minimal number of bytes MUST be used" binds
 *    the sender, and no receiver rule asks to fail the connection for it.
 *  - After an LT_WS_ERROR the reader stays failed: every later call returns
 *    the same error without looking at the input (the payload of the failing
 *    frame may already be unmasked, so parsing it again would be wrong).
 *  - After LT_WS_CLOSE the reader would parse further frames; RFC 6455 5.5.1
 *    says nothing follows a close, and the caller stops reading.
 *  - A non-final fragment is reported as LT_WS_FRAGMENT (added to the
 *    header), since it consumes bytes without completing a message.
 *  - A fragmented message whose non-final fragments are all empty is
 *    delivered zero-copy from its last frame, like an unfragmented one.
 *  - lt_ws_close_frame turns code 1005 (NO_STATUS, which RFC 6455 7.4.1 says
 *    must never be sent) into a close frame without a body, which is how a
 *    code-less close is echoed. */
#include "livetally/net/ws_frame.h"

#include "livetally/base/mem.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First size of a fragment buffer; it then doubles, capped at max_message. */
#define WS_MSG_MIN_CAP 256

/* msg_opcode of a reader that returned LT_WS_ERROR: no opcode is 0xFF. The
 * error (an index into ws_errors) is then kept in utf8.state, which has no
 * other use once the reader has failed. */
#define WS_FAILED 0xFF

/* The largest payload of a control frame (RFC 6455 5.5). */
#define WS_CONTROL_MAX 125

/* Why a frame is refused, with the code and text of the close frame. */
enum ws_error {
    E_RSV,
    E_OPCODE,
    E_CONTROL_FRAGMENTED,
    E_CONT_WITHOUT_MESSAGE,
    E_MESSAGE_IN_MESSAGE,
    E_BINARY,
    E_UNMASKED,
    E_MASKED,
    E_CONTROL_TOO_LONG,
    E_LENGTH_MSB,
    E_TOO_BIG,
    E_TEXT_UTF8,
    E_TEXT_TRUNCATED,
    E_CLOSE_ONE_BYTE,
    E_CLOSE_CODE,
    E_CLOSE_UTF8,
};

static const struct {
    uint16_t code;
    const char *reason;
} ws_errors[] = {
    [E_RSV] = {LT_WS_CLOSE_PROTOCOL, "reserved bits set"},
    [E_OPCODE] = {LT_WS_CLOSE_PROTOCOL, "unknown opcode"},
    [E_CONTROL_FRAGMENTED] = {LT_WS_CLOSE_PROTOCOL, "fragmented control frame"},
    [E_CONT_WITHOUT_MESSAGE] = {LT_WS_CLOSE_PROTOCOL, "continuation without a message"},
    [E_MESSAGE_IN_MESSAGE] = {LT_WS_CLOSE_PROTOCOL, "new message inside a fragmented one"},
    [E_BINARY] = {LT_WS_CLOSE_UNSUPPORTED, "binary messages not accepted"},
    [E_UNMASKED] = {LT_WS_CLOSE_PROTOCOL, "unmasked client frame"},
    [E_MASKED] = {LT_WS_CLOSE_PROTOCOL, "masked server frame"},
    [E_CONTROL_TOO_LONG] = {LT_WS_CLOSE_PROTOCOL, "control frame too long"},
    [E_LENGTH_MSB] = {LT_WS_CLOSE_PROTOCOL, "payload length has its top bit set"},
    [E_TOO_BIG] = {LT_WS_CLOSE_TOO_BIG, "message too big"},
    [E_TEXT_UTF8] = {LT_WS_CLOSE_INVALID_UTF8, "text is not UTF-8"},
    [E_TEXT_TRUNCATED] = {LT_WS_CLOSE_INVALID_UTF8, "text ends inside a character"},
    [E_CLOSE_ONE_BYTE] = {LT_WS_CLOSE_PROTOCOL, "close frame of one byte"},
    [E_CLOSE_CODE] = {LT_WS_CLOSE_PROTOCOL, "invalid close code"},
    [E_CLOSE_UTF8] = {LT_WS_CLOSE_INVALID_UTF8, "close reason is not UTF-8"},
};

/* ---- UTF-8 ---------------------------------------------------------------
 *
 * A DFA after Bjoern Hoehrmann's: each byte is mapped to one of 12 classes,
 * and (state, class) gives the next state. The classes split the
 * continuation bytes 80..BF into 80..8F, 90..9F and A0..BF because the second
 * byte after E0, ED, F0 and F4 is restricted to one or two of these ranges
 * (RFC 3629 4): that is what refuses overlong forms (E0 80..9F, F0 80..8F),
 * surrogates (ED A0..BF) and code points over U+10FFFF (F4 90..BF). C0, C1
 * and F5..FF can never appear and share the class of an invalid byte. */

enum {
    U_ACCEPT = 0, /* at a character boundary */
    U_REJECT,     /* not UTF-8; stays so */
    U_TAIL1,      /* one more continuation byte 80..BF */
    U_TAIL2,      /* two more */
    U_TAIL3,      /* three more */
    U_E0,         /* after E0: A0..BF, then one more */
    U_ED,         /* after ED: 80..9F, then one more */
    U_F0,         /* after F0: 90..BF, then two more */
    U_F4,         /* after F4: 80..8F, then two more */
};

static const uint8_t utf8_class[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x00 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x10 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x20 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x30 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x40 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x50 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x60 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x70 */
    1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  /* 0x80 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* 0x90 */
    3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  /* 0xA0 */
    3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  /* 0xB0 */
    4,  4,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  /* 0xC0 */
    5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  /* 0xD0 */
    6,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  8,  7,  7,  /* 0xE0 */
    9,  10, 10, 10, 11, 4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  /* 0xF0 */
};

#define R U_REJECT
/* Columns: ASCII, 80..8F, 90..9F, A0..BF, invalid, C2..DF, E0, E1..EC/EE..EF,
 * ED, F0, F1..F3, F4. */
static const uint8_t utf8_next[9][12] = {
    [U_ACCEPT] = {U_ACCEPT, R, R, R, R, U_TAIL1, U_E0, U_TAIL2, U_ED, U_F0, U_TAIL3, U_F4},
    [U_REJECT] = {R, R, R, R, R, R, R, R, R, R, R, R},
    [U_TAIL1] = {R, U_ACCEPT, U_ACCEPT, U_ACCEPT, R, R, R, R, R, R, R, R},
    [U_TAIL2] = {R, U_TAIL1, U_TAIL1, U_TAIL1, R, R, R, R, R, R, R, R},
    [U_TAIL3] = {R, U_TAIL2, U_TAIL2, U_TAIL2, R, R, R, R, R, R, R, R},
    [U_E0] = {R, R, R, U_TAIL1, R, R, R, R, R, R, R, R},
    [U_ED] = {R, U_TAIL1, U_TAIL1, R, R, R, R, R, R, R, R, R},
    [U_F0] = {R, R, U_TAIL2, U_TAIL2, R, R, R, R, R, R, R, R},
    [U_F4] = {R, U_TAIL2, R, R, R, R, R, R, R, R, R, R},
};
#undef R

bool lt_utf8_feed(struct lt_utf8 *u, const uint8_t *s, size_t len)
{
    uint32_t st = u->state;
    size_t i = 0;
    if (st >= sizeof utf8_next / sizeof utf8_next[0])
        st = U_REJECT; /* a state we never produce: refuse rather than index past */
    while (i < len && st != U_REJECT) {
        /* Messages here are mostly ASCII (JSON): at a character boundary,
         * skip 8 bytes at a time while none has its top bit set. */
        if (st == U_ACCEPT) {
            while (len - i >= 8) {
                uint64_t w;
                memcpy(&w, s + i, sizeof w);
                if (w & UINT64_C(0x8080808080808080))
                    break;
                i += 8;
            }
            if (i == len)
                break;
        }
        st = utf8_next[st][utf8_class[s[i++]]];
    }
    u->state = st;
    return st != U_REJECT;
}

bool lt_utf8_complete(const struct lt_utf8 *u)
{
    return u->state == U_ACCEPT;
}

bool lt_utf8_valid(const uint8_t *s, size_t len)
{
    struct lt_utf8 u = {U_ACCEPT};
    return lt_utf8_feed(&u, s, len) && lt_utf8_complete(&u);
}

/* ---- Masking ------------------------------------------------------------- */

/* RFC 6455 5.3: byte i of the payload is XORed with key[i % 4]. Eight bytes
 * at a time: as 8 is a multiple of 4, the key repeated from the current
 * phase is the same 8-byte word for every aligned block. Loads and stores go
 * through memcpy, which the compiler turns into plain word moves without the
 * alignment and aliasing trouble of casting the byte pointer. */
void lt_ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset)
{
    uint8_t key[4];
    memcpy(key, mask, sizeof key); /* a local copy cannot alias data */
    size_t i = 0, k = offset & 3;
    while (i < len && ((uintptr_t)(data + i) & 7) != 0) {
        data[i++] ^= key[k];
        k = (k + 1) & 3;
    }
    if (len - i >= 8) {
        uint8_t bytes[8];
        for (size_t j = 0; j < 8; j++)
            bytes[j] = key[(k + j) & 3];
        uint64_t word;
        memcpy(&word, bytes, sizeof word);
        for (; len - i >= 8; i += 8) {
            uint64_t w;
            memcpy(&w, data + i, sizeof w);
            w ^= word;
            memcpy(data + i, &w, sizeof w);
        }
    }
    while (i < len) {
        data[i++] ^= key[k];
        k = (k + 1) & 3;
    }
}

/* ---- Reader -------------------------------------------------------------- */

void lt_ws_reader_init(struct lt_ws_reader *r, size_t max_message, bool require_masked,
                       bool allow_binary)
{
    memset(r, 0, sizeof *r);
    r->max_message = max_message;
    r->require_masked = require_masked;
    r->allow_binary = allow_binary;
}

static void release_message(struct lt_ws_reader *r)
{
    lt_free(r->msg);
    r->msg = NULL;
    r->msg_len = r->msg_cap = 0;
}

void lt_ws_reader_free(struct lt_ws_reader *r)
{
    release_message(r);
    if (r->msg_opcode != WS_FAILED) {
        r->msg_opcode = 0;
        r->utf8.state = U_ACCEPT;
    }
}

static enum lt_ws_event_type fail(struct lt_ws_reader *r, struct lt_ws_event *ev,
                                  size_t *consumed, enum ws_error e)
{
    release_message(r);
    r->msg_opcode = WS_FAILED;
    r->utf8.state = (uint32_t)e;
    *consumed = 0;
    ev->type = LT_WS_ERROR;
    ev->data = NULL;
    ev->len = 0;
    ev->close_code = ws_errors[e].code;
    ev->reason = ws_errors[e].reason;
    return LT_WS_ERROR;
}

/* Appends a fragment. The caller has checked msg_len + n <= max_message from
 * the frame header, so the buffer never grows past max_message. */
static void append_fragment(struct lt_ws_reader *r, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    size_t need = r->msg_len + n;
    if (need > r->msg_cap) {
        size_t cap = r->msg_cap ? r->msg_cap : WS_MSG_MIN_CAP;
        while (cap < need)
            cap = cap <= SIZE_MAX / 2 ? cap * 2 : need;
        if (cap > r->max_message)
            cap = r->max_message;
        r->msg = lt_realloc(r->msg, cap);
        r->msg_cap = cap;
    }
    memcpy(r->msg + r->msg_len, p, n);
    r->msg_len = need;
}

/* RFC 6455 5.5.1: an empty body, or a 2-byte code and a UTF-8 reason. */
static enum lt_ws_event_type read_close(struct lt_ws_reader *r, uint8_t *payload, size_t n,
                                        size_t *consumed, struct lt_ws_event *ev)
{
    if (n == 0) {
        ev->close_code = LT_WS_CLOSE_NO_STATUS;
    } else if (n == 1) {
        return fail(r, ev, consumed, E_CLOSE_ONE_BYTE);
    } else {
        uint16_t code = (uint16_t)(payload[0] << 8 | payload[1]);
        if (!lt_ws_close_code_valid(code))
            return fail(r, ev, consumed, E_CLOSE_CODE);
        if (!lt_utf8_valid(payload + 2, n - 2))
            return fail(r, ev, consumed, E_CLOSE_UTF8);
        ev->close_code = code;
        payload += 2;
        n -= 2;
    }
    ev->type = LT_WS_CLOSE;
    ev->data = payload;
    ev->len = n;
    return LT_WS_CLOSE;
}

/* A frame of a data message (TEXT, BINARY or CONT), complete and unmasked. */
static enum lt_ws_event_type read_data(struct lt_ws_reader *r, unsigned opcode, bool fin,
                                       uint8_t *payload, size_t n, size_t *consumed,
                                       struct lt_ws_event *ev)
{
    if (opcode != LT_WS_OP_CONT && fin) {
        /* Unfragmented: delivered where it lies, no copy. */
        if (opcode == LT_WS_OP_TEXT && !lt_utf8_valid(payload, n))
            return fail(r, ev, consumed, E_TEXT_UTF8);
        ev->type = opcode == LT_WS_OP_TEXT ? LT_WS_TEXT : LT_WS_BINARY;
        ev->data = payload;
        ev->len = n;
        return ev->type;
    }
    if (opcode != LT_WS_OP_CONT) {
        r->msg_opcode = (uint8_t)opcode;
        r->utf8.state = U_ACCEPT;
    }
    /* RFC 6455 8.1 lets an endpoint fail as soon as the bytes seen cannot
     * be UTF-8, fragment by fragment, rather than at the end of the message. */
    if (r->msg_opcode == LT_WS_OP_TEXT) {
        if (!lt_utf8_feed(&r->utf8, payload, n))
            return fail(r, ev, consumed, E_TEXT_UTF8);
        if (fin && !lt_utf8_complete(&r->utf8))
            return fail(r, ev, consumed, E_TEXT_TRUNCATED);
    }
    if (!fin) {
        append_fragment(r, payload, n);
        ev->type = LT_WS_FRAGMENT;
        ev->data = payload;
        ev->len = n;
        return LT_WS_FRAGMENT;
    }
    ev->type = r->msg_opcode == LT_WS_OP_TEXT ? LT_WS_TEXT : LT_WS_BINARY;
    if (r->msg_len == 0) {
        ev->data = payload;
        ev->len = n;
    } else {
        append_fragment(r, payload, n);
        ev->data = r->msg;
        ev->len = r->msg_len;
    }
    /* The message is closed; its buffer lives until the next call, which
     * frees it, so that an idle connection holds no buffer. */
    r->msg_opcode = 0;
    r->msg_len = 0;
    return ev->type;
}

enum lt_ws_event_type lt_ws_read(struct lt_ws_reader *r, uint8_t *buf, size_t len,
                                 size_t *consumed, struct lt_ws_event *ev)
{
    *consumed = 0;
    memset(ev, 0, sizeof *ev);
    ev->type = LT_WS_NEED_MORE;
    if (r->msg_opcode == WS_FAILED) {
        uint32_t e = r->utf8.state;
        return fail(r, ev, consumed,
                    e < sizeof ws_errors / sizeof ws_errors[0] ? (enum ws_error)e : E_RSV);
    }
    if (r->msg_opcode == 0 && r->msg)
        release_message(r); /* delivered by the previous call */
    if (len < 1)
        return LT_WS_NEED_MORE;

    /* Byte 0: FIN, RSV1-3, opcode (RFC 6455 5.2). */
    bool fin = buf[0] & 0x80;
    unsigned opcode = buf[0] & 0x0F;
    if (buf[0] & 0x70) /* no extension negotiated gives them a meaning */
        return fail(r, ev, consumed, E_RSV);
    switch (opcode) {
    case LT_WS_OP_CONT:
        if (r->msg_opcode == 0)
            return fail(r, ev, consumed, E_CONT_WITHOUT_MESSAGE);
        break;
    case LT_WS_OP_TEXT:
    case LT_WS_OP_BINARY:
        /* 5.4: fragments of two messages may not interleave. */
        if (r->msg_opcode != 0)
            return fail(r, ev, consumed, E_MESSAGE_IN_MESSAGE);
        if (opcode == LT_WS_OP_BINARY && !r->allow_binary)
            return fail(r, ev, consumed, E_BINARY);
        break;
    case LT_WS_OP_CLOSE:
    case LT_WS_OP_PING:
    case LT_WS_OP_PONG:
        /* 5.5: control frames are never fragmented (but may come between
         * the fragments of a data message, 5.4). */
        if (!fin)
            return fail(r, ev, consumed, E_CONTROL_FRAGMENTED);
        break;
    default:
        return fail(r, ev, consumed, E_OPCODE);
    }
    bool control = opcode & 0x8;
    if (len < 2)
        return LT_WS_NEED_MORE;

    /* Byte 1: MASK and the 7-bit length. 5.1: a client masks every frame,
     * a server none. */
    bool masked = buf[1] & 0x80;
    if (masked != r->require_masked)
        return fail(r, ev, consumed, masked ? E_MASKED : E_UNMASKED);
    uint64_t plen = buf[1] & 0x7F;
    size_t hdr = 2;
    if (control && plen > WS_CONTROL_MAX)
        return fail(r, ev, consumed, E_CONTROL_TOO_LONG);
    if (plen == 126) {
        if (len < 4)
            return LT_WS_NEED_MORE;
        plen = (uint64_t)buf[2] << 8 | buf[3];
        hdr = 4;
    } else if (plen == 127) {
        if (len < 10)
            return LT_WS_NEED_MORE;
        plen = 0;
        for (size_t i = 2; i < 10; i++)
            plen = plen << 8 | buf[i];
        if (plen >> 63) /* 5.2: "the most significant bit MUST be 0" */
            return fail(r, ev, consumed, E_LENGTH_MSB);
        hdr = 10;
    }
    /* The limit covers the whole message, so a continuation counts what the
     * earlier fragments hold. */
    if (!control) {
        size_t used = opcode == LT_WS_OP_CONT ? r->msg_len : 0;
        size_t room = used < r->max_message ? r->max_message - used : 0;
        if (plen > room)
            return fail(r, ev, consumed, E_TOO_BIG);
    }
    const uint8_t *key = NULL;
    if (masked) {
        if (len - hdr < 4)
            return LT_WS_NEED_MORE;
        key = buf + hdr;
        hdr += 4;
    }
    if (plen > len - hdr)
        return LT_WS_NEED_MORE;

    /* The frame is complete: from here on it is consumed (or refused). */
    size_t n = (size_t)plen;
    uint8_t *payload = buf + hdr;
    if (key)
        lt_ws_mask(payload, n, key, 0);
    *consumed = hdr + n;
    switch (opcode) {
    case LT_WS_OP_PING:
    case LT_WS_OP_PONG:
        ev->type = opcode == LT_WS_OP_PING ? LT_WS_PING : LT_WS_PONG;
        ev->data = payload;
        ev->len = n;
        return ev->type;
    case LT_WS_OP_CLOSE:
        return read_close(r, payload, n, consumed, ev);
    default:
        return read_data(r, opcode, fin, payload, n, consumed, ev);
    }
}

/* ---- Encoders ------------------------------------------------------------ */

size_t lt_ws_frame_header(uint8_t *out, enum lt_ws_opcode opcode, uint64_t len,
                          const uint8_t *mask)
{
    uint8_t mask_bit = mask ? 0x80 : 0;
    size_t n;
    out[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        out[1] = (uint8_t)(mask_bit | len);
        n = 2;
    } else if (len <= 0xFFFF) {
        out[1] = mask_bit | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        n = 4;
    } else {
        out[1] = mask_bit | 127;
        for (size_t i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

size_t lt_ws_close_frame(uint8_t *out, uint16_t code, const char *reason)
{
    out[0] = 0x80 | LT_WS_OP_CLOSE;
    if (code == LT_WS_CLOSE_NO_STATUS) {
        out[1] = 0;
        return 2;
    }
    /* 125 bytes of control payload (5.5) less the 2 of the code. */
    size_t rlen = reason ? strnlen(reason, 124) : 0;
    if (rlen > 123) {
        /* Back up to the first byte of the character that crosses the limit
         * (a byte 10xxxxxx continues a character, RFC 3629 3). */
        rlen = 123;
        while (rlen > 0 && ((unsigned char)reason[rlen] & 0xC0) == 0x80)
            rlen--;
    }
    out[1] = (uint8_t)(2 + rlen);
    out[2] = (uint8_t)(code >> 8);
    out[3] = (uint8_t)code;
    if (rlen)
        memcpy(out + 4, reason, rlen);
    return 4 + rlen;
}

/* RFC 6455 7.4.1 and the IANA "WebSocket Close Code Number Registry": 1004 is
 * reserved, 1005, 1006 and 1015 are for reporting only and never sent, the
 * rest of 1000-2999 is unassigned or for future extensions; 3000-3999 is for
 * libraries and frameworks, 4000-4999 private. */
bool lt_ws_close_code_valid(uint16_t code)
{
    if (code >= 3000 && code <= 4999)
        return true;
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

/* RFC 6455 4.2.2 step 5.4, with the GUID of 1.3. */
void lt_ws_accept_key(const char *key, size_t key_len, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char md[EVP_MAX_MD_SIZE]; /* the digest's most */
    unsigned int md_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    /* Fails only without memory or without SHA-1 in libcrypto: like an
     * allocation failure (mem.h), not something a caller can handle. */
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) ||
        !EVP_DigestUpdate(ctx, key, key_len) || !EVP_DigestUpdate(ctx, guid, sizeof guid - 1) ||
        !EVP_DigestFinal_ex(ctx, md, &md_len) || md_len != 20) {
        fprintf(stderr, "livetally: SHA-1 from libcrypto failed\n");
        abort();
    }
    EVP_MD_CTX_free(ctx);
    /* 20 bytes give 28 base64 characters; EVP_EncodeBlock adds the NUL. */
    EVP_EncodeBlock((unsigned char *)out, md, 20);
}
