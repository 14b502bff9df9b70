/* Replay: an owner's spool files (spool.h) back into the state they
 * describe, the batches sealed and not acknowledged by Redis and the deltas
 * not sealed yet, so that a successor can send the first and count the
 * second.
 *
 * The rules, record by record (spool_record.h):
 *   HEADER          starts the image over (a segment's records after its
 *                   header are a complete image once its CHECKPOINT_END
 *                   is there)
 *   EVENT           adds to its stream's pending deltas
 *   SEAL            makes a batch (incarnation, seq, at_ms) of every pending
 *                   like, counter and refusal of the stream and its first
 *                   n_views pending views; the other views stay pending
 *   ACK             forgets the batch (stream, incarnation, seq)
 *   BATCH           a batch as it stands (checkpoints, inherited batches)
 *   CHECKPOINT_END  nothing: marks the image complete
 *
 * Of an owner's files, replay reads the newest segment whose checkpoint is
 * complete (a later one was cut short while its checkpoint was written, so
 * the one before it still holds everything: it is deleted only once the new
 * checkpoint is on disk). A torn record stops the reading there, with a
 * warning naming the file and offset. */
#ifndef LIVETALLY_SPOOL_REPLAY_H
#define LIVETALLY_SPOOL_REPLAY_H

#include "livetally/base/map.h"
#include "livetally/spool/spool_record.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The rebuilt state. Pending deltas are one lt_spool_batch per stream (seq
 * 0, incarnation ""), in the order the streams first appeared. Owns all. */
struct lt_spool_replay {
    struct lt_spool_batch **batches; /* sealed, unacknowledged, in seal order */
    size_t n_batches, cap_batches;
    struct lt_spool_batch **pending; /* per stream; NULL after its stream sealed all */
    size_t n_pending, cap_pending;
    struct lt_map by_stream; /* stream -> its index in pending, plus one */
    uint64_t events;         /* EVENT records read */
    uint64_t records;        /* records read */
    bool complete;           /* the image since the last HEADER has its CHECKPOINT_END */
    char **absorbed;         /* owners its CHECKPOINT_END took over (to delete, not replay) */
    size_t n_absorbed;
};

void lt_spool_replay_init(struct lt_spool_replay *r);
void lt_spool_replay_free(struct lt_spool_replay *r);
/* Applies one record. LT_EPROTO: a BATCH whose payload does not parse. */
int lt_spool_replay_record(struct lt_spool_replay *r, const struct lt_spool_record *rec);
/* Applies every record of one file's bytes. Returns 0 when they all read
 * cleanly (to the end, or to zero bytes reserved and not written), else
 * LT_EPROTO with *stop_at the offset of the torn record. */
int lt_spool_replay_bytes(struct lt_spool_replay *r, const uint8_t *data, size_t len,
                          size_t *stop_at);

/* Names of spool files: "<dir>/<owner>.<segment: 8 digits>.spool". */
int lt_spool_file_name(char *out, size_t cap, const char *dir, const char *owner,
                       unsigned segment);
/* Whether name (a directory entry) is a segment of some owner: fills owner
 * (LT_SPOOL_OWNER_MAX + 1 bytes) and segment. */
bool lt_spool_parse_name(const char *name, char *owner, unsigned *segment);
/* The segments of owner in dir, ascending (lt_free the array). Returns how
 * many, or LT_EIO when dir cannot be read. */
int lt_spool_segments(const char *dir, const char *owner, unsigned **segments);

/* Reads owner's files in dir into r (initialised by the caller) as the
 * header comment says. Returns 0, or LT_EIO when the files cannot be read
 * (logged). A torn record is a warning, not an error. */
int lt_spool_replay_owner(struct lt_spool_replay *r, const char *dir, const char *owner);
/* Deletes owner's files in dir. Returns how many were deleted. */
int lt_spool_remove_owner(const char *dir, const char *owner);

#endif
