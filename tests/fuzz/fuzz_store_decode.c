/* Fuzzes store_decode.c, the reader of what the Lua scripts publish and
 * return. The input is read twice:
 *  - whole, as a published message ("name value" lines): on success it
 *    must have a seq, and writing the decoded pushed fields back in the
 *    same format must decode to the same values;
 *  - split at NUL bytes into name, value, name, value...: each pair is a
 *    field of read.lua's reply.
 * Sanitizers catch any read past a value or leak of a replaced field. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "livetally/store/store_decode.h"
#include "livetally/store/totals.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char shares[] = "shares", gifts[] = "gifts";
static char *const counters[] = {shares, gifts};

static void check_push(const char *in, size_t size)
{
    struct lt_totals t;
    lt_store_decode_begin(&t, "s", counters, 2);
    t.seq = INT64_MIN;
    /* A copy of exactly size bytes: a read past the end is an ASan error. */
    char *copy = malloc(size ? size : 1);
    memcpy(copy, in, size);
    int rc = lt_store_decode_push(&t, copy, size);
    free(copy);
    if (rc == 0) {
        CHECK(size > 0 && in[size - 1] != '\n');
        char again[640];
        int n = snprintf(again, sizeof again,
                         "seq %" PRId64 "\nviews %" PRId64 "\nuniques %" PRId64 "\nlikes %" PRId64
                         "\nonline %" PRId64 "\npeak_online %" PRId64 "\nts %" PRId64
                         "\ncounted_views %" PRId64 "\ncounted_likes %" PRId64,
                         t.seq, t.views, t.uniques, t.likes, t.online, t.peak_online, t.ts_ms,
                         t.counted_views, t.counted_likes);
        CHECK(n > 0 && (size_t)n < sizeof again);
        struct lt_totals u;
        lt_store_decode_begin(&u, "s", NULL, 0);
        CHECK(lt_store_decode_push(&u, again, (size_t)n) == 0);
        CHECK(u.seq == t.seq && u.views == t.views && u.uniques == t.uniques &&
              u.likes == t.likes && u.online == t.online && u.peak_online == t.peak_online &&
              u.ts_ms == t.ts_ms);
        /* The counted fields are their own: never views or likes. */
        CHECK(u.has_counted && u.counted_views == t.counted_views &&
              u.counted_likes == t.counted_likes);
        CHECK(t.has_counted || (t.counted_views == 0 && t.counted_likes == 0));
        lt_totals_free(&u);
    }
    CHECK(t.n_counters == 2);
    for (size_t i = 0; i < t.n_sources; i++)
        CHECK(strlen(t.sources[i].name) >= 1 && strlen(t.sources[i].name) <= 32);
    lt_totals_free(&t);
}

static void check_fields(const char *in, size_t size)
{
    struct lt_totals t;
    lt_store_decode_begin(&t, "s", counters, 2);
    size_t at = 0;
    while (at < size) {
        const char *name = in + at;
        const char *end = memchr(name, '\0', size - at);
        size_t name_len = end ? (size_t)(end - name) : size - at;
        at += name_len + (end ? 1 : 0);
        const char *value = in + at;
        end = at < size ? memchr(value, '\0', size - at) : NULL;
        size_t value_len = end ? (size_t)(end - value) : size - at;
        at += value_len + (end ? 1 : 0);
        int rc = lt_store_decode_field(&t, name, name_len, value, value_len);
        CHECK(rc == 0 || rc == -9 /* LT_EPROTO */);
    }
    CHECK(t.n_counters == 2);
    CHECK(t.status != LT_STATUS_NONE);
    CHECK(t.n_sources <= t.cap_sources);
    CHECK(t.n_segments <= LT_SEGMENTS_MAX);
    for (size_t i = 0; i < t.n_segments; i++)
        CHECK(t.segments[i].id == (int64_t)i + 1);
    lt_totals_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_push((const char *)data, size);
    check_fields((const char *)data, size);
    return 0;
}
