/* The Redis Cluster slot map: which master owns each of the 16384 hash
 * slots, the CRC16 slot of a key, and the cluster's redirection errors.
 * Pure functions over hiredis reply trees and strings: no sockets, no
 * event loop, so they are unit tested (tests/unit/store/test_cluster_slots.c),
 * checked against a real redis-server (tests/redis/test_cluster_keyslot.c)
 * and fuzzed (tests/fuzz/fuzz_cluster_slots.c).
 *
 * How the cluster store uses it (issue 11, point 1):
 *  - At start and on every refresh it asks a seed node (or any known
 *    master) CLUSTER SHARDS, or CLUSTER SLOTS where SHARDS is unknown
 *    (Redis before 7), and builds a map with lt_cluster_map_from_shards or
 *    lt_cluster_map_from_slots. A map that does not cover every slot is
 *    refused (an error naming the first unowned slots): the store keeps the
 *    map it had and asks again later.
 *  - It keeps one data connection per distinct master (lt_cluster_map_master,
 *    lt_cluster_map_n_masters); a command on stream <id> goes to the master
 *    of lt_cluster_keyslot of its keys, which all carry the "{<id>}" tag and
 *    so share one slot.
 *  - On an error reply it calls lt_cluster_redirect_parse:
 *      MOVED  the slot has a new owner: send the command there once, and
 *             refresh the whole map (one refresh in flight at a time);
 *      ASK    the slot is being migrated: send ASKING then the command to
 *             the named node, once, without changing the map;
 *      TRYAGAIN, CLUSTERDOWN, LOADING (lt_cluster_error_retryable): the
 *             cluster is busy or failing over: retry the batch after a
 *             back-off, keeping it in the spool until it is applied.
 *    A resent batch still counts once: the batch script applies a seq
 *    only when it is above the worker's a:<incarnation> mark, kept in the
 *    stream's own slot (docs/redis.md, "How counting stays exact").
 *
 * Ownership: a map is built whole and owned by the caller, who frees it with
 * lt_cluster_map_free; the nodes and strings it hands out live as long as
 * the map. The reply trees are only read, never kept or freed. */
#ifndef LIVETALLY_STORE_CLUSTER_SLOTS_H
#define LIVETALLY_STORE_CLUSTER_SLOTS_H

#include "livetally/base/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LT_CLUSTER_SLOTS 16384
/* The longest host a map or a redirection holds: a DNS name (253) or an
 * IPv6 address with a zone, NUL excluded. */
#define LT_CLUSTER_HOST_MAX 255

struct redisReply; /* hiredis */

/* The slot of key[0..len): CRC16 (XMODEM: polynomial 0x1021, initial 0,
 * not reflected) modulo 16384, of the hash tag when the key has one. The
 * tag is what lies between the first '{' and the first '}' after it, when
 * that is not empty; otherwise the whole key counts ("{}x", "x{" and
 * "{{a}}" -> "{a" are Redis' rules, kept as they are). */
unsigned lt_cluster_keyslot(const char *key, size_t len);

/* The CRC16 above of bytes[0..len) ("123456789" -> 0x31C3). */
uint16_t lt_cluster_crc16(const void *bytes, size_t len);

struct lt_cluster_node {
    char *host;  /* "" when Redis left it out: the host the map was asked of */
    int port;    /* 1..65535 */
    char *id;    /* the 40-hex node id; "" where CLUSTER SLOTS gave none */
    bool failed; /* CLUSTER SHARDS said health "fail" (SLOTS cannot say) */
};

struct lt_cluster_shard {
    struct lt_cluster_node master;
    struct lt_cluster_node *replicas;
    size_t n_replicas;
};

struct lt_cluster_map; /* opaque */

/* Build a map from a CLUSTER SHARDS reply (RESP2: an array of shards, each
 * a flat array of name, value: "slots" an array of start, end integers,
 * "nodes" an array of nodes, each a flat array of "id", "port", "ip",
 * "endpoint", "role", "health", ...) or a CLUSTER SLOTS reply (an array of
 * start, end, master, replicas..., each node an array of endpoint, port,
 * id, ...). The endpoint is preferred to the ip; a nil or empty one means
 * the host asked (Redis' "unknown endpoint"); "?" is an unusable address.
 * A shard whose nodes include no master, or that owns no slot, adds no
 * master; masters named twice (by id, or by host and port without one) are
 * one. Names of later Redis versions are skipped.
 *
 * Returns 0 with *out set, or LT_EPROTO (wrong types, a missing field, a
 * slot outside 0..16383 or a range backwards, a port outside 1..65535, one
 * slot claimed by two masters, slots with no master) with *out NULL and a
 * message appended to why ("CLUSTER SHARDS: slots 5461-10922 and 2 other
 * ranges have no master"). */
int lt_cluster_map_from_shards(const struct redisReply *reply, struct lt_cluster_map **out,
                               struct lt_strbuf *why);
int lt_cluster_map_from_slots(const struct redisReply *reply, struct lt_cluster_map **out,
                              struct lt_strbuf *why);
void lt_cluster_map_free(struct lt_cluster_map *map);

/* The shard (its master and replicas) that owns slot (< 16384). */
const struct lt_cluster_shard *lt_cluster_map_shard(const struct lt_cluster_map *map,
                                                    unsigned slot);
/* The distinct masters, in the order first seen, i from 0 to n - 1; and
 * the index of the master owning slot among them. */
size_t lt_cluster_map_n_masters(const struct lt_cluster_map *map);
const struct lt_cluster_shard *lt_cluster_map_master(const struct lt_cluster_map *map, size_t i);
size_t lt_cluster_map_master_index(const struct lt_cluster_map *map, unsigned slot);

/* Error replies of a cluster node, by their first word. */
enum lt_cluster_error {
    LT_CLUSTER_ERR_OTHER = 0, /* not a cluster condition: the command's own error */
    LT_CLUSTER_ERR_MOVED,
    LT_CLUSTER_ERR_ASK,
    LT_CLUSTER_ERR_TRYAGAIN,    /* a multi-key command during a slot's migration */
    LT_CLUSTER_ERR_CLUSTERDOWN, /* the cluster (or this slot) is failing over */
    LT_CLUSTER_ERR_LOADING,     /* the node is loading its data set */
};

/* The kind of an error reply's text (hiredis' reply->str, no leading '-'). */
enum lt_cluster_error lt_cluster_error_kind(const char *msg, size_t len);
/* TRYAGAIN, CLUSTERDOWN and LOADING: retry the same node after a back-off. */
bool lt_cluster_error_retryable(enum lt_cluster_error kind);

struct lt_cluster_redirect {
    enum lt_cluster_error kind; /* MOVED or ASK */
    unsigned slot;
    char host[LT_CLUSTER_HOST_MAX + 1]; /* "" : the host of the node that answered */
    int port;
};

/* Parses "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>" (the
 * port follows the last ':', so "::1:7000" is host ::1; "[::1]:7000" is
 * accepted too; ":7000" has an empty host). Returns 0, or LT_EINVAL when msg
 * is another error, LT_EPROTO when it is MOVED or ASK but malformed (slot
 * outside 0..16383, port outside 1..65535, host too long or with spaces,
 * anything after the port). */
int lt_cluster_redirect_parse(const char *msg, size_t len, struct lt_cluster_redirect *out);

/* Parses "<host>:<port>" (addr_len bytes, not NUL-terminated; "[::1]:7000"
 * and "::1:7000" are host ::1; ":7000" has an empty host) into host_out (at
 * least LT_CLUSTER_HOST_MAX + 1 bytes) and *port_out: a redirection's
 * address, or a seed node of redis.cluster. Returns 0 or LT_EPROTO (no
 * port, a port outside 1..65535, a host too long or with spaces). */
int lt_cluster_parse_address(const char *addr, size_t addr_len, char *host_out, int *port_out);

#endif
