/* The spool's records (spool.h): how one is laid out on disk, encoding into
 * a growable buffer and decoding from bytes. No I/O here.
 *
 * A record is
 *     u32 length (little-endian, of type + payload)
 *     u32 crc32  (zlib's, of type + payload)
 *     u8  type
 *     payload
 * Integers in payloads are little-endian (u16, u32, u64, i64); a string is a
 * u16 length and that many bytes (no NUL). A length of 0 or past
 * LT_SPOOL_RECORD_MAX, a record running past the end of the bytes or a
 * failed checksum make the record torn: nothing after it is read.
 *
 * The payload of each type:
 *   HEADER          str magic "LTSPOOL1", str owner, str incarnation, i64 created_ms
 *   EVENT           str stream, u8 kind, then by kind:
 *                     VIEW    str viewer, str source
 *                     LIKES   str source, i64 n
 *                     COUNTER str counter name, i64 n
 *                     REFUSED i64 dropped_taps, i64 rejected
 *   SEAL            str stream, str incarnation, u64 seq, i64 at_ms, u32 n_views
 *   ACK             str stream, str incarnation, u64 seq
 *   BATCH           str stream, str incarnation, u64 seq, i64 at_ms,
 *                   i64 dropped_taps, i64 rejected,
 *                   u16 n_sources {str name, i64 likes},
 *                   u16 n_counters {str name, i64 value},
 *                   u32 n_views {str viewer, u16 source index}
 *   CHECKPOINT_END  u16 n, n x str owner: the owners whose state this image
 *                   took over (a successor's first checkpoint); their files
 *                   are to be deleted, never replayed again
 * A source name "" is the direct source (LT_DEFAULT_SOURCE). */
#ifndef LIVETALLY_SPOOL_RECORD_H
#define LIVETALLY_SPOOL_RECORD_H

#include "livetally/base/ids.h"
#include "livetally/store/totals.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LT_SPOOL_MAGIC "LTSPOOL1"
#define LT_SPOOL_RECORD_HEAD 9              /* length, crc, type */
#define LT_SPOOL_RECORD_MAX (16u << 20)     /* type + payload */
#define LT_SPOOL_OWNER_MAX 95               /* "<instance>-w<slot>-g<generation>" */
#define LT_SPOOL_INCARNATION_MAX 63
#define LT_SPOOL_COUNTER_MAX 32             /* a counter name (config.c: ID_RULE) */
/* The largest EVENT record: every string at its longest. */
#define LT_SPOOL_EVENT_MAX                                                                         \
    (LT_SPOOL_RECORD_HEAD + 2 + LT_STREAM_ID_MAX + 1 + 2 + LT_VIEWER_ID_MAX + 2 +                 \
     LT_SOURCE_ID_MAX + 16)

enum lt_spool_type {
    LT_SPOOL_HEADER = 1,
    LT_SPOOL_EVENT = 2,
    LT_SPOOL_SEAL = 3,
    LT_SPOOL_ACK = 4,
    LT_SPOOL_BATCH = 5,
    LT_SPOOL_CHECKPOINT_END = 6,
};

enum lt_spool_kind {
    LT_SPOOL_VIEW = 1,
    LT_SPOOL_LIKES = 2,
    LT_SPOOL_COUNTER = 3,
    LT_SPOOL_REFUSED = 4,
};

/* A growable byte buffer (lt_realloc; aborts on out-of-memory). */
struct lt_spool_buf {
    uint8_t *data;
    size_t len, cap;
};
void lt_spool_buf_free(struct lt_spool_buf *b);
/* Drops the bytes from len on (a record taken back). */
void lt_spool_buf_cut(struct lt_spool_buf *b, size_t len);

/* One accepted event, as ingest hands it to the spool. Strings are valid ids
 * (ids.h) or NULL: NULL source is direct; counter is the counter's name. */
struct lt_spool_event {
    enum lt_spool_kind kind;
    const char *stream;
    const char *viewer;  /* VIEW */
    const char *source;  /* VIEW, LIKES */
    const char *counter; /* COUNTER */
    int64_t n;           /* LIKES, COUNTER; REFUSED: dropped taps */
    int64_t rejected;    /* REFUSED */
};

/* Encoders append one whole record to b. Strings longer than their bound
 * are cut to it (callers hand valid ids, never longer). */
void lt_spool_put_header(struct lt_spool_buf *b, const char *owner, const char *incarnation,
                         int64_t created_ms);
void lt_spool_put_event(struct lt_spool_buf *b, const struct lt_spool_event *e);
void lt_spool_put_seal(struct lt_spool_buf *b, const char *stream, const char *incarnation,
                       uint64_t seq, int64_t at_ms, uint32_t n_views);
void lt_spool_put_ack(struct lt_spool_buf *b, const char *stream, const char *incarnation,
                      uint64_t seq);
/* counter_names[i] names batch->counters[i]; zero counters are left out. */
void lt_spool_put_batch(struct lt_spool_buf *b, const struct lt_batch *batch,
                        const char *incarnation, char *const *counter_names);
void lt_spool_put_checkpoint_end(struct lt_spool_buf *b, char *const *absorbed, size_t n);

/* A decoded record. Strings are copied and NUL-terminated. */
struct lt_spool_record {
    enum lt_spool_type type;
    char stream[LT_STREAM_ID_MAX + 1];
    char incarnation[LT_SPOOL_INCARNATION_MAX + 1]; /* HEADER, SEAL, ACK, BATCH */
    char owner[LT_SPOOL_OWNER_MAX + 1];             /* HEADER */
    int64_t created_ms;                             /* HEADER */
    enum lt_spool_kind kind;                        /* EVENT */
    char viewer[LT_VIEWER_ID_MAX + 1];
    char source[LT_SOURCE_ID_MAX + 1];
    char counter[LT_SPOOL_COUNTER_MAX + 1];
    int64_t n, rejected;    /* EVENT */
    uint64_t seq;           /* SEAL, ACK, BATCH */
    int64_t at_ms;          /* SEAL, BATCH */
    uint32_t n_views;       /* SEAL */
    const uint8_t *payload; /* BATCH, CHECKPOINT_END: the payload (lt_spool_decode_*) */
    size_t payload_len;
};

/* Reads the record at data + *off (len bytes in all).
 * Returns 1: rec filled, *off moved past it; 0: the end (no bytes left, or
 * only zero bytes: space reserved and never written); LT_EPROTO: torn or not
 * a record of ours (*off stays at its start). */
int lt_spool_next(const uint8_t *data, size_t len, size_t *off, struct lt_spool_record *rec);

/* A BATCH record's batch. Counters are by name as written: the caller maps
 * them to its config. Owns everything it points to (lt_spool_batch_free). */
struct lt_spool_named_counter {
    char name[LT_SPOOL_COUNTER_MAX + 1];
    int64_t value;
};
struct lt_spool_batch {
    char incarnation[LT_SPOOL_INCARNATION_MAX + 1];
    struct lt_batch b; /* counters NULL, n_counters 0; online -1 */
    struct lt_spool_named_counter *counters;
    size_t n_counters;
};
/* LT_EPROTO when the payload does not parse (out is then left empty). */
int lt_spool_decode_batch(const struct lt_spool_record *rec, struct lt_spool_batch *out);
void lt_spool_batch_free(struct lt_spool_batch *sb);
/* A CHECKPOINT_END's owners: calls fn for each. LT_EPROTO: does not parse. */
int lt_spool_decode_absorbed(const struct lt_spool_record *rec,
                             void (*fn)(void *arg, const char *owner), void *arg);

#endif
