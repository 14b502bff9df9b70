/* Fuzzes the spool's reader (spool_record.c, spool_replay.c): the input is
 * one spool file's bytes. Each record is decoded (a BATCH whole, a
 * CHECKPOINT_END's owners), then the whole input is replayed into a state.
 * Checked: the reader never reads past the input (the copy is exactly
 * size bytes: ASan), stops at a torn record at a record boundary it had
 * reached, every record it accepted re-encodes to the same bytes (a
 * decoder that accepts what no encoder writes would replay made-up
 * counts), and the state rebuilt is freed whole (LeakSanitizer). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "livetally/spool/spool_record.h"
#include "livetally/spool/spool_replay.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void collect(void *arg, const char *owner)
{
    char ***list = arg;
    size_t n = 0;
    while (*list && (*list)[n])
        n++;
    *list = realloc(*list, (n + 2) * sizeof **list);
    (*list)[n] = strdup(owner);
    (*list)[n + 1] = NULL;
}

/* The record re-encoded from what was decoded. */
static void reencode(const struct lt_spool_record *rec, struct lt_spool_buf *out)
{
    struct lt_spool_event e = {
        rec->kind,    rec->stream, rec->viewer,  rec->source[0] ? rec->source : NULL,
        rec->counter, rec->n,      rec->rejected};
    switch (rec->type) {
    case LT_SPOOL_HEADER:
        lt_spool_put_header(out, rec->owner, rec->incarnation, rec->created_ms);
        break;
    case LT_SPOOL_EVENT:
        lt_spool_put_event(out, &e);
        break;
    case LT_SPOOL_SEAL:
        lt_spool_put_seal(out, rec->stream, rec->incarnation, rec->seq, rec->at_ms, rec->n_views);
        break;
    case LT_SPOOL_ACK:
        lt_spool_put_ack(out, rec->stream, rec->incarnation, rec->seq);
        break;
    case LT_SPOOL_BATCH: {
        struct lt_spool_batch sb;
        if (lt_spool_decode_batch(rec, &sb) != 0)
            return;
        /* Counters go back by name, in their order. */
        char **names = calloc(sb.n_counters + 1, sizeof *names);
        int64_t *values = calloc(sb.n_counters + 1, sizeof *values);
        for (size_t i = 0; i < sb.n_counters; i++) {
            names[i] = sb.counters[i].name;
            values[i] = sb.counters[i].value;
        }
        sb.b.counters = values;
        sb.b.n_counters = sb.n_counters;
        bool zero = false;
        for (size_t i = 0; i < sb.n_counters; i++)
            zero |= values[i] == 0;
        if (!zero) /* a zero counter is left out when written: not comparable */
            lt_spool_put_batch(out, &sb.b, sb.incarnation, names);
        free(names);
        sb.b.counters = NULL;
        free(values);
        lt_spool_batch_free(&sb);
        break;
    }
    case LT_SPOOL_CHECKPOINT_END: {
        char **owners = NULL;
        CHECK(lt_spool_decode_absorbed(rec, collect, &owners) == 0);
        size_t n = 0;
        while (owners && owners[n])
            n++;
        lt_spool_put_checkpoint_end(out, owners, n);
        for (size_t i = 0; i < n; i++)
            free(owners[i]);
        free(owners);
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    size_t off = 0;
    struct lt_spool_record rec;
    int rc;
    while ((rc = lt_spool_next(copy, size, &off, &rec)) == 1) {
        struct lt_spool_buf out = {0};
        reencode(&rec, &out);
        size_t len = 8 + 1 + rec.payload_len;
        if (out.len)
            CHECK(out.len == len && memcmp(out.data, rec.payload - 9, len) == 0);
        lt_spool_buf_free(&out);
    }
    CHECK(rc == 0 || rc < 0);
    CHECK(off <= size);

    struct lt_spool_replay r;
    lt_spool_replay_init(&r);
    size_t stop = 0;
    if (lt_spool_replay_bytes(&r, copy, size, &stop) != 0)
        CHECK(stop <= size);
    for (size_t i = 0; i < r.n_batches; i++)
        for (size_t k = 0; k < r.batches[i]->b.n_views; k++)
            CHECK(r.batches[i]->b.views[k].source < r.batches[i]->b.n_sources);
    lt_spool_replay_free(&r);
    free(copy);
    return 0;
}
