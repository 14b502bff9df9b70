/* Identifier rules of the contract (API.md "Words"). */
#ifndef LIVETALLY_IDS_H
#define LIVETALLY_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define LT_STREAM_ID_MAX 64
#define LT_SOURCE_ID_MAX 32
#define LT_VIEWER_ID_MAX 64
#define LT_SERIES_ID_MAX 64
#define LT_DEFAULT_SOURCE "direct"

/* 1-64 chars of A-Z a-z 0-9 _ - ., not starting with '.' */
bool lt_valid_stream_id(const char *s, size_t len);
/* Series ids follow the stream id rule. */
bool lt_valid_series_id(const char *s, size_t len);
/* 1-32 chars of a-z 0-9 _ - */
bool lt_valid_source_id(const char *s, size_t len);
/* 8-64 chars of A-Z a-z 0-9 _ - */
bool lt_valid_viewer_id(const char *s, size_t len);

/* The viewer id derived from a client address and User-Agent when a view
 * names none: "a-" and 32 hex digits of a SHA-256 of both, so it passes
 * lt_valid_viewer_id and never collides with the widget's ids in practice.
 * out needs 35 bytes. */
void lt_derive_viewer(const char *addr, const char *user_agent, size_t ua_len, char out[35]);

#endif
