/* Request ids: the X-Request-Id every HTTP answer carries and every log line
 * about a request names (req=<id>, see log.h).
 *
 * A request from a trusted proxy (trusted_proxies) keeps the id it brings
 * when lt_request_id_valid accepts it; every other request gets one from
 * lt_request_id_generate. Generated ids are 16 lowercase hex digits: a
 * random per-process prefix (32 bits, drawn at lt_request_id_init) and a
 * per-process counter (32 bits), so they are unique within a worker's life
 * and cost no system call. Not secret and not meant to be: an id names a
 * request in the logs, nothing more.
 *
 * Loop rules: one generator per process, no locking (a worker is one
 * thread). */
#ifndef LIVETALLY_REQUEST_ID_H
#define LIVETALLY_REQUEST_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LT_REQUEST_ID_MAX 64
/* Length of a generated id. */
#define LT_REQUEST_ID_GENERATED 16

/* 1..64 bytes of A-Z a-z 0-9 - _ . (safe in a header, a log line and a
 * JSON string without escaping). */
bool lt_request_id_valid(const char *s, size_t len);

/* Draws the per-process prefix from the kernel's random source (a worker
 * calls it once after fork). seed != 0 uses that instead (tests). Without a
 * call, the first lt_request_id_generate makes it. */
void lt_request_id_init(uint64_t seed);

/* Writes a new id and its NUL into out; returns its length (16). */
size_t lt_request_id_generate(char out[LT_REQUEST_ID_MAX + 1]);

/* The id of a request: the one it brought (value, value_len; NULL when it
 * has none) if trusted and valid, else a generated one. Writes it with its
 * NUL into out and returns its length. */
size_t lt_request_id_choose(bool trusted, const char *value, size_t value_len,
                            char out[LT_REQUEST_ID_MAX + 1]);

#endif
