/* The crash-safe spool: every accepted event is appended to this worker's
 * own append-only files before it is answered, and what happens to it
 * afterwards (sealed into a batch, acknowledged by Redis) is appended too,
 * so that a successor can rebuild what Redis has not applied yet
 * (spool_replay.h) and send it under the same high-water marks.
 *
 * Files: "<dir>/<owner>.<segment>.spool" (spool_record.h for the records).
 * Only this worker appends to its files; it holds flock on the newest.
 * Each segment starts with a HEADER and a checkpoint (the whole unapplied
 * state, through the callback set with lt_spool_set_checkpoint) ended by
 * CHECKPOINT_END. Past spool.segment_bytes the next segment is started
 * that way, and once its checkpoint is on disk (synced, or written with
 * fsync=no) the older segments are deleted.
 *
 * Writing: appends go to a buffer; one write(2) per loop pass writes it
 * (an event made active by the first append of the pass). Space is reserved
 * ahead (posix_fallocate, a chunk at a time), so a full disk or a file size
 * limit shows at lt_spool_reserve, before anything is counted, and a
 * write(2) into reserved space does not fail for want of room. A write or
 * fsync that fails anyway (EIO) is fatal: the worker logs and exits 1 and
 * its successor replays what reached the disk (after a failed fsync the
 * page cache may have dropped dirty pages: nothing written since can be
 * trusted, so nothing is retried).
 *
 * fsync: one background thread (pthread) runs fdatasync, told what to do
 * and telling back through pipes; each fsync covers every byte written
 * before it started (group commit). fsync=everysec also syncs once a second
 * when something was written.
 *
 * Waits: lt_spool_wait calls back once what was appended so far is
 * written (LT_SPOOL_WRITTEN), or durable: synced, or written with fsync=no
 * (LT_SPOOL_DURABLE); LT_SPOOL_ANSWER is what an answer to a client waits
 * for: synced with fsync=always, else written. Callbacks run on the loop,
 * in the order they were asked for within each kind.
 *
 * Everything but the fsync thread runs on the worker's loop. */
#ifndef LIVETALLY_SPOOL_H
#define LIVETALLY_SPOOL_H

#include "livetally/spool/spool_record.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct lt_spool;

enum lt_spool_fsync { LT_SPOOL_FSYNC_ALWAYS, LT_SPOOL_FSYNC_EVERYSEC, LT_SPOOL_FSYNC_NO };
/* "always" | "everysec" | "no" (config.c checks it) */
enum lt_spool_fsync lt_spool_fsync_parse(const char *name);

struct lt_spool_settings {
    const char *dir;         /* exists (the master made it) */
    const char *owner;       /* "<instance>-w<slot>-g<generation>" */
    const char *incarnation; /* the store's incarnation for this process */
    enum lt_spool_fsync fsync;
    int64_t segment_bytes;
};

/* Creates segment 1 (O_EXCL: an owner's files are new) and takes its lock.
 * NULL with a message in err on failure. Nothing is written until
 * lt_spool_start. */
struct lt_spool *lt_spool_open(struct event_base *base, const struct lt_spool_settings *s,
                               char *err, size_t errlen);
/* Frees everything; pending waits are dropped without their callbacks
 * (call lt_spool_drain first). */
void lt_spool_free(struct lt_spool *sp);

/* Appends the checkpoint of the owner's whole state: every stream's pending
 * deltas as EVENT records, every unacknowledged batch as BATCH records
 * (lt_spool_put_event / lt_spool_put_batch into buf). */
typedef void lt_spool_checkpoint_fn(void *arg, struct lt_spool_buf *buf);
void lt_spool_set_checkpoint(struct lt_spool *sp, lt_spool_checkpoint_fn *fn, void *arg);

/* Writes segment 1's header and checkpoint (with absorbed: the owners whose
 * state it took over, spool_record.h) and makes them durable before
 * returning (blocking: start-up only). Returns 0, or LT_EIO with err. */
int lt_spool_start(struct lt_spool *sp, char *const *absorbed, size_t n_absorbed, char *err,
                   size_t errlen);

/* Room for bytes more in the current pass. false: the spool cannot take them
 * (the disk is full, a file size limit, an I/O error): it is unavailable
 * until a reservation succeeds again (tried on the next call and once a
 * second). */
bool lt_spool_reserve(struct lt_spool *sp, size_t bytes);
bool lt_spool_available(const struct lt_spool *sp);
/* Why it is unavailable ("No space left on device"), else "". */
const char *lt_spool_problem(const struct lt_spool *sp);
const char *lt_spool_dir(const struct lt_spool *sp);
const char *lt_spool_incarnation(const struct lt_spool *sp);
enum lt_spool_fsync lt_spool_mode(const struct lt_spool *sp);

/* Room for a SEAL (or an ACK) now, reserving more when needed: false when
 * the spool is full. A batch is not sealed then (its deltas wait): a
 * record written past the space reserved could fail, which is fatal. */
bool lt_spool_room_for_seal(struct lt_spool *sp);

/* Appends one record to this pass' buffer. EVENT needs room reserved
 * (lt_spool_reserve) and returns LT_EAGAIN without it; SEAL needs
 * lt_spool_room_for_seal first; an ACK without room is left out (replay
 * then resends its batch, which Redis answers as a duplicate). */
int lt_spool_append_event(struct lt_spool *sp, const struct lt_spool_event *e);
void lt_spool_append_seal(struct lt_spool *sp, const char *stream, const char *incarnation,
                          uint64_t seq, int64_t at_ms, uint32_t n_views);
void lt_spool_append_ack(struct lt_spool *sp, const char *stream, const char *incarnation,
                         uint64_t seq);

enum lt_spool_wait { LT_SPOOL_WRITTEN, LT_SPOOL_DURABLE, LT_SPOOL_ANSWER };
typedef void lt_spool_done_cb(void *arg);
/* cb(arg) once everything appended so far is as wait says; always later, on
 * the loop. */
void lt_spool_wait(struct lt_spool *sp, enum lt_spool_wait wait, lt_spool_done_cb *cb, void *arg);

/* Writes and syncs what is buffered and runs every wait (blocking: at
 * exit, after the loop stopped). */
void lt_spool_drain(struct lt_spool *sp);
/* Deletes every file of this owner (a clean exit: nothing is unapplied). */
void lt_spool_remove_files(struct lt_spool *sp);

#endif
