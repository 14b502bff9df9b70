/* Unit tests of spool.c on a real event loop and a temporary directory:
 * waits run once their records are written (or synced), one write per loop
 * pass, group commit under spool.fsync=always, rotation with a checkpoint
 * and the older segments deleted, a file size limit making the spool
 * unavailable until it is raised. */
#include "livetally/base/error.h"
#include "livetally/base/metrics.h"
#include "livetally/spool/spool.h"
#include "livetally/spool/spool_replay.h"

#include <event2/event.h>

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

static char dir[64];
static struct event_base *base;
static int64_t likes_total; /* what the test's "agg" holds: the checkpoint writes it */

static void checkpoint(void *arg, struct lt_spool_buf *buf)
{
    (void)arg;
    struct lt_spool_event e = {.kind = LT_SPOOL_LIKES, .stream = "s", .n = likes_total};
    if (likes_total)
        lt_spool_put_event(buf, &e);
}

static struct lt_spool *open_spool(enum lt_spool_fsync mode, int64_t segment_bytes)
{
    struct lt_spool_settings s = {dir, "t-w0-g1", "inc", mode, segment_bytes};
    char err[256];
    struct lt_spool *sp = lt_spool_open(base, &s, err, sizeof err);
    assert_non_null(sp);
    lt_spool_set_checkpoint(sp, checkpoint, NULL);
    assert_int_equal(lt_spool_start(sp, NULL, 0, err, sizeof err), 0);
    return sp;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/lt-spool-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    base = event_base_new();
    likes_total = 0;
    memset(lt_metrics, 0, sizeof *lt_metrics);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lt_spool_remove_owner(dir, "t-w0-g1");
    rmdir(dir);
    event_base_free(base);
    return 0;
}

static void like(struct lt_spool *sp, int64_t n)
{
    struct lt_spool_event e = {.kind = LT_SPOOL_LIKES, .stream = "s", .n = n};
    assert_true(lt_spool_reserve(sp, LT_SPOOL_EVENT_MAX));
    assert_int_equal(lt_spool_append_event(sp, &e), 0);
    likes_total += n;
}

static void on_done(void *arg)
{
    (*(int *)arg)++;
}

static int64_t replayed_likes(void)
{
    struct lt_spool_replay r;
    lt_spool_replay_init(&r);
    assert_int_equal(lt_spool_replay_owner(&r, dir, "t-w0-g1"), 0);
    int64_t n = 0;
    for (size_t i = 0; i < r.n_pending; i++)
        if (r.pending[i])
            n += r.pending[i]->b.sources[0].likes;
    lt_spool_replay_free(&r);
    return n;
}

static void test_waits_after_one_write(void **state)
{
    (void)state;
    struct lt_spool *sp = open_spool(LT_SPOOL_FSYNC_EVERYSEC, 8 << 20);
    int done = 0;
    for (int i = 0; i < 50; i++) {
        like(sp, 1);
        lt_spool_wait(sp, LT_SPOOL_ANSWER, on_done, &done);
    }
    assert_int_equal(done, 0); /* never inside the call */
    uint64_t before = lt_metrics->spool_bytes_written_total;
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(done, 50);
    assert_int_equal(lt_metrics->spool_records_written_total, 50);
    assert_true(lt_metrics->spool_bytes_written_total > before);
    assert_int_equal(replayed_likes(), 50);
    lt_spool_free(sp);
}

/* Waits on the fsync thread: at most a few loop passes with a short sleep. */
static void run_until(int *done, int want)
{
    for (int i = 0; i < 2000 && *done < want; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (*done < want)
            usleep(1000);
    }
}

static void test_group_commit(void **state)
{
    (void)state;
    struct lt_spool *sp = open_spool(LT_SPOOL_FSYNC_ALWAYS, 8 << 20);
    uint64_t fsyncs = lt_metrics->spool_fsyncs_total;
    int done = 0, want = 0;
    for (int pass = 0; pass < 20; pass++) {
        for (int i = 0; i < 50; i++) {
            like(sp, 1);
            lt_spool_wait(sp, LT_SPOOL_ANSWER, on_done, &done);
            want++;
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    run_until(&done, want);
    assert_int_equal(done, want);
    uint64_t used = lt_metrics->spool_fsyncs_total - fsyncs;
    assert_true(used >= 1);
    assert_true(used <= 20); /* at most one per pass, however many answers */
    lt_spool_free(sp);
}

static void test_rotation_trims(void **state)
{
    (void)state;
    struct lt_spool *sp = open_spool(LT_SPOOL_FSYNC_EVERYSEC, 64 << 10);
    int done = 0;
    for (int pass = 0; pass < 400; pass++) {
        for (int i = 0; i < 20; i++)
            like(sp, 2);
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    lt_spool_wait(sp, LT_SPOOL_DURABLE, on_done, &done);
    run_until(&done, 1);
    assert_int_equal(done, 1);
    unsigned *segs;
    int n = lt_spool_segments(dir, "t-w0-g1", &segs);
    assert_int_equal(n, 1); /* the older ones deleted once the checkpoint was durable */
    assert_true(segs[0] >= 2);
    free(segs);
    assert_int_equal(replayed_likes(), 400 * 20 * 2);
    assert_true(lt_metrics->spool_bytes < (uint64_t)(64 << 10) * 2);
    lt_spool_free(sp);
}

static void test_file_size_limit(void **state)
{
    (void)state;
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    struct lt_spool *sp = open_spool(LT_SPOOL_FSYNC_NO, 8 << 20);
    struct rlimit small = {3 << 20, old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    int refused = 0;
    for (int i = 0; i < 100000 && !refused; i++) {
        if (lt_spool_reserve(sp, 1000 * LT_SPOOL_EVENT_MAX)) {
            struct lt_spool_event e = {.kind = LT_SPOOL_LIKES, .stream = "s", .n = 1};
            for (int k = 0; k < 1000; k++)
                assert_int_equal(lt_spool_append_event(sp, &e), 0);
            likes_total += 1000;
            event_base_loop(base, EVLOOP_NONBLOCK);
        } else {
            refused = 1;
        }
    }
    assert_true(refused);
    assert_false(lt_spool_available(sp));
    assert_string_equal(lt_spool_problem(sp), strerror(EFBIG));
    assert_true(lt_metrics->spool_write_failures_total >= 1);
    assert_int_equal(lt_metrics->spool_available, 0);
    setrlimit(RLIMIT_FSIZE, &old);
    assert_true(lt_spool_reserve(sp, LT_SPOOL_EVENT_MAX));
    assert_true(lt_spool_available(sp));
    assert_int_equal(replayed_likes(), likes_total);
    lt_spool_free(sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_waits_after_one_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_trims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_size_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
