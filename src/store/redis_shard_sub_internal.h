/* redis_shard_sub.c's reply handling, open to its fuzz target
 * (tests/fuzz/fuzz_shard_sub.c) and unit test: bytes as they come from the
 * socket go through hiredis' reader and the dispatch of the connection.
 * Private to src/store/ and those tests. */
#ifndef LIVETALLY_STORE_REDIS_SHARD_SUB_INTERNAL_H
#define LIVETALLY_STORE_REDIS_SHARD_SUB_INTERNAL_H

#include "livetally/store/redis_shard_sub.h"

struct redisReply;

/* Feeds bytes read from the link. 0: go on; 1: the link was dropped (or
 * the owner freed the subscriber in a callback). */
int lt_redis_ssub_feed(struct lt_redis_ssub *s, const char *bytes, size_t len);
/* One parsed reply. 0: go on; 1: the link was dropped; -1: a reply this
 * protocol does not have (the caller drops the link). */
int lt_redis_ssub_dispatch(struct lt_redis_ssub *s, const struct redisReply *r);

/* Records a command as sent without writing it (the fuzz target and unit
 * test stand where the socket would be): kind 0 AUTH, 1 SSUBSCRIBE,
 * 2 SUNSUBSCRIBE, 3 PING; channel for 1 and 2. */
void lt_redis_ssub_expect(struct lt_redis_ssub *s, int kind, const char *channel);

#endif
