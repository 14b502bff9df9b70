/* What the Lua scripts return and publish, decoded into struct lt_totals.
 * Pure functions: no I/O, no Redis types, so they are unit tested and
 * fuzzed (tests/fuzz/fuzz_store_decode.c) on their own. store.c is their
 * only caller.
 *
 * Both forms are raw name/value fields (docs/redis.md):
 *  - read.lua returns one flat array of name, value: the meta and totals
 *    hashes' fields, views and likes as counted + reported (after the
 *    totals hash's counted ones: the last value of a name counts),
 *    counted_views, counted_likes, and a fresh "uniques" and "online";
 *  - apply.lua, put_reported.lua and drop_share.lua publish one "name
 *    value" line per field ("seq 12\nviews 100\n...\nts 1700000000000\n
 *    counted_views 90\ncounted_likes 9").
 * Names: title, series, status, created_at, starts_at, views, likes,
 * counted_views and counted_likes (either sets has_counted), uniques,
 * online, peak_online, peak_at, seq, updated_at, ts, c:<counter>,
 * s:<source>:views, s:<source>:likes, and a segment's g<k>:title,
 * g<k>:started_at, g<k>:views, g<k>:likes, g<k>:uniques (k from 1 to
 * LT_SEGMENTS_MAX, else an error; totals.h). Any other name (a:<incarnation>,
 * auto_created, fields of later versions) is skipped. A known name with a
 * malformed value is an error: nothing is guessed. */
#ifndef LIVETALLY_STORE_DECODE_H
#define LIVETALLY_STORE_DECODE_H

#include "livetally/store/totals.h"

#include <stddef.h>

/* Makes t the empty totals of stream with the configured counters (names
 * in config order, n of them) at 0; the decode functions fill it. The
 * caller frees t with lt_totals_free. */
void lt_store_decode_begin(struct lt_totals *t, const char *stream, char *const *counters,
                           size_t n_counters);

/* Sets the field name[0..name_len) of t from value[0..value_len). A later
 * value of a name replaces an earlier one. A c:<counter> not among t's
 * counters is skipped (a counter no longer configured). Returns 0, or
 * LT_EPROTO when the value does not fit the name (an integer field that
 * is not a whole decimal in int64, a time that is not RFC 3339). */
int lt_store_decode_field(struct lt_totals *t, const char *name, size_t name_len, const char *value,
                          size_t value_len);

/* Decodes a published message (lines "name value", '\n' between them, no
 * empty line) into t, which lt_store_decode_begin prepared. Returns 0, or
 * LT_EPROTO when a line is malformed, a value is bad, or there is no seq. */
int lt_store_decode_push(struct lt_totals *t, const char *payload, size_t len);

#endif
