/* The spool's writer: segments, the pass buffer, reservations, waits and
 * the fsync thread (see spool.h). */
#include "livetally/spool/spool.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/spool/spool_replay.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* Space is reserved this much at a time: one posix_fallocate per MiB of
 * records rather than a chance of ENOSPC in every write. */
#define LT_SPOOL_CHUNK (1 << 20)
/* Kept free in the reservation for SEAL and ACK records, which are not
 * refused like events: an event's reservation must leave this much. */
#define LT_SPOOL_SLACK (64 << 10)
#define LT_SPOOL_TICK_MS 1000

struct segment {
    unsigned number;
    int fd;
    int64_t bytes; /* written so far (the file may be longer: reserved zeros) */
};

struct waiter {
    struct waiter *next;
    uint64_t ticket; /* the position it waits for */
    lt_spool_done_cb *cb;
    void *arg;
};

struct queue {
    struct waiter *head, *tail;
};

struct lt_spool {
    struct event_base *base;
    char *dir, *owner, *incarnation;
    enum lt_spool_fsync mode;
    int64_t segment_bytes;
    int dir_fd;
    struct segment *segs; /* oldest first; the last is the one written */
    size_t n_segs;
    int64_t alloc_end; /* bytes reserved in the newest file */

    struct lt_spool_buf buf; /* this pass' records */
    uint64_t buf_records;
    /* Positions, in bytes over every segment of this owner's life: what was
     * appended, written and made durable. A checkpoint counts as written
     * (and then synced) for every byte before it: it holds their state. */
    uint64_t appended, written, synced;
    uint64_t trim_at; /* > 0: delete the older segments once durable up to it */
    int64_t rotate_retry_ms;
    struct queue on_written, on_synced;
    struct waiter *spare; /* run waiters, kept for the next waits (queue_run) */
    struct event *flush_ev;
    bool flush_active;
    struct event *tick;

    bool available;
    char problem[160];

    lt_spool_checkpoint_fn *cp_fn;
    void *cp_arg;

    /* The fsync thread: a request under mu (req_*), its answer in
     * done_err and one byte on done_pipe. */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool req, stop;
    int req_fd;
    bool req_dir;
    int done_err;
    int done_pipe[2];
    struct event *done_ev;
    bool syncing;
    uint64_t sync_target;
    bool dir_dirty; /* a segment was created since the last directory fsync */
};

enum lt_spool_fsync lt_spool_fsync_parse(const char *name)
{
    if (strcmp(name, "always") == 0)
        return LT_SPOOL_FSYNC_ALWAYS;
    if (strcmp(name, "no") == 0)
        return LT_SPOOL_FSYNC_NO;
    return LT_SPOOL_FSYNC_EVERYSEC;
}

static _Noreturn void fatal(struct lt_spool *sp, const char *what, int err)
{
    lt_error("spool", "%s in %s: %s; exiting so that a successor replays what is on disk", what,
             sp->dir, strerror(err));
    _exit(1);
}

static struct segment *current(struct lt_spool *sp)
{
    return &sp->segs[sp->n_segs - 1];
}

static void update_bytes_gauge(struct lt_spool *sp)
{
    int64_t total = 0;
    for (size_t i = 0; i < sp->n_segs; i++)
        total += sp->segs[i].bytes;
    lt_metrics->spool_bytes = (uint64_t)total;
}

static void set_available(struct lt_spool *sp, bool ok, const char *why)
{
    if (ok && !sp->available)
        lt_info("spool", "%s takes records again", sp->dir);
    else if (!ok && sp->available)
        lt_error("spool", "%s cannot take records: %s; ingest answers 503 until it can", sp->dir,
                 why);
    sp->available = ok;
    snprintf(sp->problem, sizeof sp->problem, "%s", ok ? "" : why);
    lt_metrics->spool_available = ok;
}

/* Reserves up to at least need bytes of the newest file. */
static int reserve_to(struct lt_spool *sp, int64_t need)
{
    if (need <= sp->alloc_end)
        return 0;
    struct segment *seg = current(sp);
    int64_t chunked = (need + LT_SPOOL_CHUNK - 1) / LT_SPOOL_CHUNK * LT_SPOOL_CHUNK;
    int rc = posix_fallocate(seg->fd, sp->alloc_end, chunked - sp->alloc_end);
    if (rc != 0 && chunked > need) /* the chunk may not fit where need does */
        rc = posix_fallocate(seg->fd, sp->alloc_end, need - sp->alloc_end);
    else
        need = chunked;
    if (rc != 0)
        return rc;
    sp->alloc_end = need;
    return 0;
}

static void write_all(struct lt_spool *sp, struct segment *seg, const uint8_t *data, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(seg->fd, data + done, len - done, (off_t)(seg->bytes + (int64_t)done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fatal(sp, "write", n < 0 ? errno : EIO);
        done += (size_t)n;
    }
    seg->bytes += (int64_t)len;
    lt_metrics->spool_bytes_written_total += len;
}

static void queue_push(struct queue *q, struct waiter *w)
{
    w->next = NULL;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
}

/* Runs the waits of q up to position upto. A callback may append and wait
 * again: its new waits come after upto, so they stay queued. */
/* Runs the waits up to upto; their waiters go to the spare list, so that
 * a wait (one per answered request) costs no allocation once the spool has
 * met as many at once as it will. */
static void queue_run(struct queue *q, uint64_t upto, struct waiter **spare)
{
    while (q->head && q->head->ticket <= upto) {
        struct waiter *w = q->head;
        q->head = w->next;
        if (!q->head)
            q->tail = NULL;
        lt_spool_done_cb *cb = w->cb;
        void *arg = w->arg;
        w->next = *spare;
        *spare = w;
        cb(arg);
    }
}

static void queue_drop(struct queue *q)
{
    while (q->head) {
        struct waiter *w = q->head;
        q->head = w->next;
        lt_free(w);
    }
    q->tail = NULL;
}

static void trim_if_due(struct lt_spool *sp)
{
    if (!sp->trim_at || sp->synced < sp->trim_at)
        return;
    sp->trim_at = 0;
    for (size_t i = 0; i + 1 < sp->n_segs; i++) {
        char path[4096];
        close(sp->segs[i].fd);
        if (lt_spool_file_name(path, sizeof path, sp->dir, sp->owner, sp->segs[i].number) == 0 &&
            unlink(path) != 0)
            lt_warn("spool", "deleting %s: %s", path, strerror(errno));
    }
    sp->segs[0] = *current(sp);
    sp->n_segs = 1;
    update_bytes_gauge(sp);
}

/* ---- the fsync thread -------------------------------------------------- */

static void *sync_thread(void *arg)
{
    struct lt_spool *sp = arg;
    pthread_mutex_lock(&sp->mu);
    for (;;) {
        while (!sp->req && !sp->stop)
            pthread_cond_wait(&sp->cv, &sp->mu);
        if (!sp->req)
            break;
        int fd = sp->req_fd;
        bool dir = sp->req_dir;
        sp->req = false;
        pthread_mutex_unlock(&sp->mu);
        int err = fdatasync(fd) == 0 ? 0 : errno;
        if (!err && dir && fsync(sp->dir_fd) != 0)
            err = errno;
        pthread_mutex_lock(&sp->mu);
        sp->done_err = err;
        char one = 1;
        while (write(sp->done_pipe[1], &one, 1) < 0 && errno == EINTR) {
        }
    }
    pthread_mutex_unlock(&sp->mu);
    return NULL;
}

static bool sync_wanted(const struct lt_spool *sp)
{
    if (sp->written <= sp->synced && !sp->dir_dirty)
        return false;
    return (sp->on_synced.head && sp->on_synced.head->ticket > sp->synced) ||
           (sp->trim_at && sp->trim_at > sp->synced);
}

static void start_sync(struct lt_spool *sp)
{
    if (sp->syncing || sp->mode == LT_SPOOL_FSYNC_NO || !sp->thread_started)
        return;
    sp->syncing = true;
    sp->sync_target = sp->written;
    pthread_mutex_lock(&sp->mu);
    sp->req = true;
    sp->req_fd = current(sp)->fd;
    sp->req_dir = sp->dir_dirty;
    pthread_cond_signal(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
    sp->dir_dirty = false;
}

static void on_sync_done(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct lt_spool *sp = arg;
    char b[16];
    while (read(fd, b, sizeof b) < 0 && errno == EINTR) {
    }
    pthread_mutex_lock(&sp->mu);
    int err = sp->done_err;
    pthread_mutex_unlock(&sp->mu);
    if (err)
        fatal(sp, "fsync", err);
    sp->syncing = false;
    lt_metrics->spool_fsyncs_total++;
    if (sp->sync_target > sp->synced)
        sp->synced = sp->sync_target;
    trim_if_due(sp);
    queue_run(&sp->on_synced, sp->synced, &sp->spare);
    if (sync_wanted(sp))
        start_sync(sp);
}

/* ---- writing ----------------------------------------------------------- */

/* Past segment_bytes: a new segment with header and checkpoint, written at
 * once; the old ones go once it is durable. Where the new file cannot get
 * its space, the current one goes on (its own space was reserved) and the
 * rotation is tried again in a second. */
static void rotate(struct lt_spool *sp)
{
    struct segment *cur = current(sp);
    if (cur->bytes < sp->segment_bytes || !sp->cp_fn || sp->trim_at ||
        lt_mono_ms() < sp->rotate_retry_ms)
        return;
    unsigned number = cur->number + 1;
    char path[4096];
    if (lt_spool_file_name(path, sizeof path, sp->dir, sp->owner, number) != 0)
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        lt_warn("spool", "cannot create %s: %s; going on with segment %u", path, strerror(errno),
                cur->number);
        sp->rotate_retry_ms = lt_mono_ms() + LT_SPOOL_TICK_MS;
        return;
    }
    struct lt_spool_buf cp = {0};
    lt_spool_put_header(&cp, sp->owner, sp->incarnation, lt_wall_ms());
    sp->cp_fn(sp->cp_arg, &cp);
    lt_spool_put_checkpoint_end(&cp, NULL, 0);
    int64_t want = (int64_t)cp.len + LT_SPOOL_CHUNK;
    int rc = posix_fallocate(fd, 0, want);
    if (rc != 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
        lt_warn("spool", "cannot reserve %s: %s; going on with segment %u", path,
                strerror(rc ? rc : errno), cur->number);
        close(fd);
        unlink(path);
        lt_spool_buf_free(&cp);
        sp->rotate_retry_ms = lt_mono_ms() + LT_SPOOL_TICK_MS;
        return;
    }
    sp->segs = lt_realloc(sp->segs, (sp->n_segs + 1) * sizeof *sp->segs);
    sp->segs[sp->n_segs++] = (struct segment){number, fd, 0};
    sp->alloc_end = want;
    write_all(sp, current(sp), cp.data, cp.len);
    sp->appended += cp.len;
    sp->written += cp.len;
    sp->trim_at = sp->written;
    sp->dir_dirty = true;
    lt_spool_buf_free(&cp);
    update_bytes_gauge(sp);
}

static void flush_now(struct lt_spool *sp)
{
    sp->flush_active = false;
    if (sp->buf.len) {
        write_all(sp, current(sp), sp->buf.data, sp->buf.len);
        sp->written += sp->buf.len;
        lt_metrics->spool_records_written_total += sp->buf_records;
        sp->buf.len = 0;
        sp->buf_records = 0;
        rotate(sp);
        update_bytes_gauge(sp);
    }
    if (sp->mode == LT_SPOOL_FSYNC_NO)
        sp->synced = sp->written;
    trim_if_due(sp);
    queue_run(&sp->on_written, sp->written, &sp->spare);
    queue_run(&sp->on_synced, sp->synced, &sp->spare);
    if (sync_wanted(sp))
        start_sync(sp);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush_now(arg);
}

static void activate(struct lt_spool *sp)
{
    if (sp->flush_active)
        return;
    sp->flush_active = true;
    event_active(sp->flush_ev, EV_TIMEOUT, 1);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lt_spool *sp = arg;
    if (sp->mode == LT_SPOOL_FSYNC_EVERYSEC && (sp->written > sp->synced || sp->dir_dirty))
        start_sync(sp);
    if (!sp->available) {
        int rc = reserve_to(sp, current(sp)->bytes + (int64_t)sp->buf.len + LT_SPOOL_SLACK +
                                    LT_SPOOL_CHUNK);
        if (rc == 0)
            set_available(sp, true, NULL);
    }
}

/* ---- the API ----------------------------------------------------------- */

struct lt_spool *lt_spool_open(struct event_base *base, const struct lt_spool_settings *s,
                               char *err, size_t errlen)
{
    char path[4096];
    if (lt_spool_file_name(path, sizeof path, s->dir, s->owner, 1) != 0) {
        snprintf(err, errlen, "spool.dir %s: the path is too long", s->dir);
        return NULL;
    }
    int dir_fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = dir_fd < 0 ? -1 : open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "spool: cannot create %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        if (dir_fd >= 0)
            close(dir_fd);
        return NULL;
    }
    struct lt_spool *sp = lt_calloc(1, sizeof *sp);
    sp->base = base;
    sp->dir = lt_strdup(s->dir);
    sp->owner = lt_strdup(s->owner);
    sp->incarnation = lt_strdup(s->incarnation);
    sp->mode = s->fsync;
    sp->segment_bytes = s->segment_bytes;
    sp->dir_fd = dir_fd;
    sp->segs = lt_malloc(sizeof *sp->segs);
    sp->segs[0] = (struct segment){1, fd, 0};
    sp->n_segs = 1;
    sp->available = true;
    lt_metrics->spool_available = 1;
    sp->flush_ev = event_new(base, -1, 0, on_flush, sp);
    sp->tick = event_new(base, -1, EV_PERSIST, on_tick, sp);
    struct timeval tv = {LT_SPOOL_TICK_MS / 1000, 0};
    event_add(sp->tick, &tv);
    pthread_mutex_init(&sp->mu, NULL);
    pthread_cond_init(&sp->cv, NULL);
    sp->done_pipe[0] = sp->done_pipe[1] = -1;
    if (sp->mode != LT_SPOOL_FSYNC_NO) {
        if (pipe2(sp->done_pipe, O_CLOEXEC | O_NONBLOCK) != 0 ||
            pthread_create(&sp->thread, NULL, sync_thread, sp) != 0) {
            snprintf(err, errlen, "spool: cannot start the fsync thread: %s", strerror(errno));
            lt_spool_free(sp);
            unlink(path);
            return NULL;
        }
        sp->thread_started = true;
        sp->done_ev = event_new(base, sp->done_pipe[0], EV_READ | EV_PERSIST, on_sync_done, sp);
        event_add(sp->done_ev, NULL);
    }
    return sp;
}

static void stop_thread(struct lt_spool *sp)
{
    if (!sp->thread_started)
        return;
    pthread_mutex_lock(&sp->mu);
    sp->stop = true;
    pthread_cond_signal(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
    pthread_join(sp->thread, NULL);
    sp->thread_started = false;
    if (sp->syncing) { /* it finished: take its answer */
        sp->syncing = false;
        if (sp->done_err)
            fatal(sp, "fsync", sp->done_err);
        if (sp->sync_target > sp->synced)
            sp->synced = sp->sync_target;
    }
}

void lt_spool_free(struct lt_spool *sp)
{
    if (!sp)
        return;
    stop_thread(sp);
    if (sp->done_ev)
        event_free(sp->done_ev);
    for (int i = 0; i < 2; i++)
        if (sp->done_pipe[i] >= 0)
            close(sp->done_pipe[i]);
    pthread_mutex_destroy(&sp->mu);
    pthread_cond_destroy(&sp->cv);
    event_free(sp->flush_ev);
    event_free(sp->tick);
    queue_drop(&sp->on_written);
    queue_drop(&sp->on_synced);
    while (sp->spare) {
        struct waiter *w = sp->spare;
        sp->spare = w->next;
        lt_free(w);
    }
    for (size_t i = 0; i < sp->n_segs; i++)
        close(sp->segs[i].fd);
    close(sp->dir_fd);
    lt_free(sp->segs);
    lt_spool_buf_free(&sp->buf);
    lt_free(sp->dir);
    lt_free(sp->owner);
    lt_free(sp->incarnation);
    lt_free(sp);
}

void lt_spool_set_checkpoint(struct lt_spool *sp, lt_spool_checkpoint_fn *fn, void *arg)
{
    sp->cp_fn = fn;
    sp->cp_arg = arg;
}

int lt_spool_start(struct lt_spool *sp, char *const *absorbed, size_t n_absorbed, char *err,
                   size_t errlen)
{
    struct lt_spool_buf cp = {0};
    lt_spool_put_header(&cp, sp->owner, sp->incarnation, lt_wall_ms());
    if (sp->cp_fn)
        sp->cp_fn(sp->cp_arg, &cp);
    lt_spool_put_checkpoint_end(&cp, absorbed, n_absorbed);
    struct segment *seg = current(sp);
    int rc = reserve_to(sp, (int64_t)cp.len + LT_SPOOL_SLACK);
    if (rc != 0) {
        snprintf(err, errlen, "spool: cannot reserve %zu bytes in %s: %s", cp.len, sp->dir,
                 strerror(rc));
        lt_spool_buf_free(&cp);
        return LT_EIO;
    }
    write_all(sp, seg, cp.data, cp.len);
    sp->appended = sp->written = cp.len;
    lt_spool_buf_free(&cp);
    if (fdatasync(seg->fd) != 0 || fsync(sp->dir_fd) != 0) {
        snprintf(err, errlen, "spool: fsync in %s: %s", sp->dir, strerror(errno));
        return LT_EIO;
    }
    lt_metrics->spool_fsyncs_total++;
    sp->synced = sp->written;
    update_bytes_gauge(sp);
    return 0;
}

bool lt_spool_reserve(struct lt_spool *sp, size_t bytes)
{
    int64_t need = current(sp)->bytes + (int64_t)sp->buf.len + (int64_t)bytes + LT_SPOOL_SLACK;
    int rc = reserve_to(sp, need);
    if (rc != 0) {
        lt_metrics->spool_write_failures_total++;
        set_available(sp, false, strerror(rc));
        return false;
    }
    if (!sp->available)
        set_available(sp, true, NULL);
    return true;
}

bool lt_spool_available(const struct lt_spool *sp)
{
    return sp->available;
}

const char *lt_spool_problem(const struct lt_spool *sp)
{
    return sp->problem;
}

const char *lt_spool_dir(const struct lt_spool *sp)
{
    return sp->dir;
}

const char *lt_spool_incarnation(const struct lt_spool *sp)
{
    return sp->incarnation;
}

enum lt_spool_fsync lt_spool_mode(const struct lt_spool *sp)
{
    return sp->mode;
}

static void appended(struct lt_spool *sp, size_t before)
{
    sp->appended += sp->buf.len - before;
    sp->buf_records++;
    activate(sp);
}

int lt_spool_append_event(struct lt_spool *sp, const struct lt_spool_event *e)
{
    int64_t end = current(sp)->bytes + (int64_t)sp->buf.len;
    if (end + LT_SPOOL_EVENT_MAX + LT_SPOOL_SLACK > sp->alloc_end)
        return LT_EAGAIN;
    size_t before = sp->buf.len;
    lt_spool_put_event(&sp->buf, e);
    appended(sp, before);
    return 0;
}

/* The largest SEAL or ACK record: two strings at their bounds and 20 bytes. */
#define LT_SPOOL_SEAL_MAX                                                                          \
    (LT_SPOOL_RECORD_HEAD + 4 + LT_STREAM_ID_MAX + LT_SPOOL_INCARNATION_MAX + 20)

bool lt_spool_room_for_seal(struct lt_spool *sp)
{
    int64_t need = current(sp)->bytes + (int64_t)sp->buf.len + LT_SPOOL_SEAL_MAX;
    return reserve_to(sp, need) == 0;
}

void lt_spool_append_seal(struct lt_spool *sp, const char *stream, const char *incarnation,
                          uint64_t seq, int64_t at_ms, uint32_t n_views)
{
    size_t before = sp->buf.len;
    lt_spool_put_seal(&sp->buf, stream, incarnation ? incarnation : sp->incarnation, seq, at_ms,
                      n_views);
    appended(sp, before);
}

void lt_spool_append_ack(struct lt_spool *sp, const char *stream, const char *incarnation,
                         uint64_t seq)
{
    /* An ACK that finds no room is left out: replay then resends the batch,
     * which Redis answers as a duplicate. Space for it is never taken from
     * what events need. */
    if (current(sp)->bytes + (int64_t)sp->buf.len + LT_SPOOL_SEAL_MAX > sp->alloc_end)
        return;
    size_t before = sp->buf.len;
    lt_spool_put_ack(&sp->buf, stream, incarnation ? incarnation : sp->incarnation, seq);
    appended(sp, before);
}

void lt_spool_wait(struct lt_spool *sp, enum lt_spool_wait wait, lt_spool_done_cb *cb, void *arg)
{
    struct waiter *w = sp->spare;
    if (w)
        sp->spare = w->next;
    else
        w = lt_malloc(sizeof *w);
    w->ticket = sp->appended;
    w->cb = cb;
    w->arg = arg;
    bool synced = wait == LT_SPOOL_DURABLE
                      ? sp->mode != LT_SPOOL_FSYNC_NO
                      : wait == LT_SPOOL_ANSWER && sp->mode == LT_SPOOL_FSYNC_ALWAYS;
    queue_push(synced ? &sp->on_synced : &sp->on_written, w);
    activate(sp);
}

void lt_spool_drain(struct lt_spool *sp)
{
    if (sp->buf.len) {
        write_all(sp, current(sp), sp->buf.data, sp->buf.len);
        sp->written += sp->buf.len;
        sp->buf.len = 0;
    }
    stop_thread(sp);
    if (sp->mode != LT_SPOOL_FSYNC_NO && sp->synced < sp->written) {
        if (fdatasync(current(sp)->fd) != 0)
            fatal(sp, "fsync", errno);
        lt_metrics->spool_fsyncs_total++;
    }
    sp->synced = sp->written;
    queue_run(&sp->on_written, sp->written, &sp->spare);
    queue_run(&sp->on_synced, sp->synced, &sp->spare);
}

void lt_spool_remove_files(struct lt_spool *sp)
{
    lt_spool_remove_owner(sp->dir, sp->owner);
    for (size_t i = 0; i < sp->n_segs; i++)
        sp->segs[i].bytes = 0;
    update_bytes_gauge(sp);
}
