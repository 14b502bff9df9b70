/* RFC 6455 framing with no sockets: a reader that turns the bytes of a
 * connection's input buffer into messages and control frames, checking every
 * rule of the protocol, and encoders for what a server sends.
 *
 * Why our own: wslay's event context costs about 8.8 KB per connection (two
 * fixed 4 KB buffers) and copies every queued message; this reader keeps a
 * few dozen bytes of state per connection, parses in place (unmasking the
 * caller's buffer), and copies only fragmented messages.
 *
 * Use (ws.c): call lt_ws_read on the unread input until it returns
 * LT_WS_NEED_MORE; each call consumes *consumed bytes (drop them from the
 * input once done with the event's data, which may point into the input).
 * After an LT_WS_ERROR, close the connection with ev.close_code. */
#ifndef LIVETALLY_WS_FRAME_H
#define LIVETALLY_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lt_ws_opcode {
    LT_WS_OP_CONT = 0x0,
    LT_WS_OP_TEXT = 0x1,
    LT_WS_OP_BINARY = 0x2,
    LT_WS_OP_CLOSE = 0x8,
    LT_WS_OP_PING = 0x9,
    LT_WS_OP_PONG = 0xA,
};

/* Close codes (RFC 6455 7.4.1) that livetally sends. */
enum {
    LT_WS_CLOSE_NORMAL = 1000,
    LT_WS_CLOSE_GOING_AWAY = 1001,
    LT_WS_CLOSE_PROTOCOL = 1002,
    LT_WS_CLOSE_UNSUPPORTED = 1003, /* binary frames */
    LT_WS_CLOSE_NO_STATUS = 1005,   /* never sent: a close frame without a code */
    LT_WS_CLOSE_INVALID_UTF8 = 1007,
    LT_WS_CLOSE_POLICY = 1008,
    LT_WS_CLOSE_TOO_BIG = 1009,
    LT_WS_CLOSE_INTERNAL = 1011,
    LT_WS_CLOSE_TRY_AGAIN = 1013,
};

/* Incremental UTF-8 validation (rejects overlong forms, surrogates, > U+10FFFF). */
struct lt_utf8 {
    uint32_t state; /* 0 = at a character boundary */
};
/* Returns false as soon as the bytes cannot be UTF-8. */
bool lt_utf8_feed(struct lt_utf8 *u, const uint8_t *s, size_t len);
/* True at a character boundary (a complete text). */
bool lt_utf8_complete(const struct lt_utf8 *u);
bool lt_utf8_valid(const uint8_t *s, size_t len);

struct lt_ws_reader {
    /* Settings, set before the first read: */
    size_t max_message;  /* data message limit (all fragments); over it: 1009 */
    bool require_masked; /* server side: client frames must be masked (1002) */
    bool allow_binary;   /* false: a binary message is refused with 1003 */

    /* Private state: */
    uint8_t msg_opcode; /* TEXT/BINARY while a fragmented message is open, else 0 */
    struct lt_utf8 utf8;
    uint8_t *msg; /* fragments so far (lt_malloc'd; freed when the message ends) */
    size_t msg_len, msg_cap;
};

enum lt_ws_event_type {
    LT_WS_NEED_MORE, /* no complete frame yet; nothing consumed */
    LT_WS_TEXT,      /* a complete text message (valid UTF-8) */
    LT_WS_BINARY,    /* a complete binary message (only with allow_binary) */
    LT_WS_PING,      /* data: the ping payload, to echo in a pong */
    LT_WS_PONG,
    LT_WS_CLOSE,     /* close_code (LT_WS_CLOSE_NO_STATUS when absent), data: reason */
    LT_WS_ERROR,     /* close_code and reason say why; stop reading */
    /* Added with ws_frame.c: a non-final fragment of a data message was
     * consumed (copied into the reader; data/len show it, for information
     * only). Nothing to do but drop *consumed bytes and read on. Without it a
     * fragment followed by an incomplete frame could not be reported: it is
     * neither "nothing consumed" nor a complete message. */
    LT_WS_FRAGMENT,
};

struct lt_ws_event {
    enum lt_ws_event_type type;
    const uint8_t *data; /* into the caller's buffer, or the reader's message buffer */
    size_t len;
    uint16_t close_code;
    const char *reason; /* LT_WS_ERROR: a short constant text for the close frame */
};

/* Initialises a reader with its settings. */
void lt_ws_reader_init(struct lt_ws_reader *r, size_t max_message, bool require_masked,
                       bool allow_binary);
/* Frees the fragment buffer. */
void lt_ws_reader_free(struct lt_ws_reader *r);

/* Reads at most one frame from buf[0..len), unmasking its payload in place.
 * Sets *consumed to the bytes used (0 with LT_WS_NEED_MORE). A frame whose
 * header announces a payload over the limits is refused (1009, or 1002 for a
 * control frame over 125 bytes) as soon as its header is read, before its
 * payload arrives. Event data stays valid until the next call. */
enum lt_ws_event_type lt_ws_read(struct lt_ws_reader *r, uint8_t *buf, size_t len,
                                 size_t *consumed, struct lt_ws_event *ev);

/* Writes a frame header (FIN set, unmasked when mask is NULL) for a payload
 * of len bytes into out (at least 14 bytes). Returns the header length. */
size_t lt_ws_frame_header(uint8_t *out, enum lt_ws_opcode opcode, uint64_t len,
                          const uint8_t *mask);

/* A whole close frame (server side, unmasked) with code and a reason cut to
 * fit 123 bytes on a UTF-8 boundary. out needs 127 bytes. Returns its length. */
size_t lt_ws_close_frame(uint8_t *out, uint16_t code, const char *reason);

/* Is this a close code a peer may send (RFC 6455 7.4)? */
bool lt_ws_close_code_valid(uint16_t code);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)).
 * out gets 28 characters and a NUL. */
void lt_ws_accept_key(const char *key, size_t key_len, char out[29]);

/* Added with ws_frame.c: XORs data[0..len) with the masking key (RFC 6455
 * 5.3), as if data began at byte offset of the payload (so a payload can be
 * masked in pieces). Masking twice unmasks. For clients (the load generator,
 * tests), which must mask what they send; lt_ws_read unmasks by itself. */
void lt_ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset);

#endif
