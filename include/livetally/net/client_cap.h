/* Open connections per client address (limits.max_connections_per_client),
 * one table per worker. A key is the address as text (inet_ntop, or the
 * X-Forwarded-For element a trusted proxy named); an entry exists only while
 * its count is above 0, so the table holds at most one entry per open
 * connection. Loop thread only; nothing to free but the table itself. */
#ifndef LIVETALLY_NET_CLIENT_CAP_H
#define LIVETALLY_NET_CLIENT_CAP_H

#include "livetally/base/map.h"

#include <stdbool.h>
#include <stddef.h>

struct lt_client_cap {
    struct lt_map counts; /* address -> count, stored in the value pointer */
};

void lt_client_cap_init(struct lt_client_cap *cap);
/* Frees the table, whatever the counts. */
void lt_client_cap_free(struct lt_client_cap *cap);

/* Counts one more connection for addr and returns the new count. Every
 * connection is counted, also one that will be refused, so that the count
 * is simply what is open; the caller compares it with the limit. */
size_t lt_client_cap_add(struct lt_client_cap *cap, const char *addr);
/* Counts one connection less; the entry goes at 0. A call for an address
 * with no count is ignored (and is a bug in the caller). */
void lt_client_cap_drop(struct lt_client_cap *cap, const char *addr);
/* Connections counted for addr now. */
size_t lt_client_cap_count(const struct lt_client_cap *cap, const char *addr);
/* Is count over limit? limit 0 means no cap. */
bool lt_client_cap_over(size_t count, int limit);

#endif
