/* lt-spoolbench: what the spool costs in bytes and what replay costs in
 * time. Writes one spool segment the way a worker would under a mixed load
 * (EVENT records of likes and views over 100 streams, a SEAL per stream
 * every 1,000 events and the ACK of the batch before it), then replays it
 * with spool_replay.c as a successor does, and prints:
 *   bytes per event (records of every kind, over the events),
 *   replay time per million events (read, parse, checksum, state).
 *
 * Usage: lt-spoolbench [events (default 1000000)] [dir (default /tmp)] */
#include "livetally/base/clock.h"
#include "livetally/spool/spool_record.h"
#include "livetally/spool/spool_replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STREAMS 100
#define SEAL_EVERY 1000

int main(int argc, char **argv)
{
    long events = argc > 1 ? atol(argv[1]) : 1000000;
    const char *base = argc > 2 ? argv[2] : "/tmp";
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/lt-spoolbench-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    const char *owner = "bench-w0-g1";
    struct lt_spool_buf b = {0};
    lt_spool_put_header(&b, owner, "w0-0123456789abcdef01234567", lt_wall_ms());
    lt_spool_put_checkpoint_end(&b, NULL, 0);
    uint64_t seq = 0, likes = 0, views = 0;
    char stream[32], viewer[32];
    long since_seal[STREAMS] = {0}, views_pending[STREAMS] = {0};
    uint64_t last_seq[STREAMS] = {0};
    for (long i = 0; i < events; i++) {
        int s = (int)(i % STREAMS);
        snprintf(stream, sizeof stream, "stream-%03d", s);
        struct lt_spool_event e = {.stream = stream};
        if (i % 4 == 0) { /* a quarter views, the rest likes (the widget's mix) */
            snprintf(viewer, sizeof viewer, "viewer-%08ld", i);
            e.kind = LT_SPOOL_VIEW;
            e.viewer = viewer;
            views++;
            views_pending[s]++;
        } else {
            e.kind = LT_SPOOL_LIKES;
            e.n = 1 + i % 3;
            likes += (uint64_t)e.n;
        }
        lt_spool_put_event(&b, &e);
        if (++since_seal[s] == SEAL_EVERY) {
            if (last_seq[s])
                lt_spool_put_ack(&b, stream, "w0-0123456789abcdef01234567", last_seq[s]);
            last_seq[s] = ++seq;
            lt_spool_put_seal(&b, stream, "w0-0123456789abcdef01234567", seq, lt_wall_ms(),
                              (uint32_t)views_pending[s]);
            since_seal[s] = views_pending[s] = 0;
        }
    }
    char path[4200];
    lt_spool_file_name(path, sizeof path, dir, owner, 1);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0) {
        perror(path);
        return 1;
    }
    /* The file is in the page cache, as a successor started at once finds
     * it; a cold read adds the disk's read time (about bytes / bandwidth). */
    struct lt_spool_replay r;
    lt_spool_replay_init(&r);
    int64_t t0 = lt_mono_ms();
    int rc = lt_spool_replay_owner(&r, dir, owner);
    int64_t ms = lt_mono_ms() - t0;
    uint64_t pending_views = 0;
    for (size_t i = 0; i < r.n_pending; i++)
        if (r.pending[i])
            pending_views += r.pending[i]->b.n_views;
    printf("events:               %ld (%llu views, %llu like taps), %llu records\n", events,
           (unsigned long long)views, (unsigned long long)likes, (unsigned long long)r.records);
    printf("spool bytes:          %zu (%.1f bytes per event, every record included)\n", b.len,
           (double)b.len / (double)events);
    printf("replay:               %lld ms (%.0f ms per million events), %s\n", (long long)ms,
           (double)ms * 1e6 / (double)events, rc == 0 && r.complete ? "complete" : "NOT COMPLETE");
    printf("state rebuilt:        %zu unacknowledged batches, %zu streams with %llu pending views\n",
           r.n_batches, r.n_pending, (unsigned long long)pending_views);
    lt_spool_replay_free(&r);
    lt_spool_remove_owner(dir, owner);
    rmdir(dir);
    lt_spool_buf_free(&b);
    return rc == 0 ? 0 : 1;
}
