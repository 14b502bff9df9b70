/* Fuzzes cluster_slots.c. The input is raw RESP, turned into reply trees
 * by hiredis' own reader (as the store gets them), each decoded as a
 * CLUSTER SHARDS and as a CLUSTER SLOTS reply; an error reply's text is
 * parsed as a redirection. The whole input is also a key for the slot
 * functions. Checked: a map that is built owns every slot with a usable
 * master; a failure leaves no map and says why; a parsed redirection is in
 * range. The seeds are replies captured from a real 3-master cluster
 * (steady, mid-migration, after a failover) and its MOVED and ASK errors. */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "livetally/base/error.h"
#include "livetally/store/cluster_slots.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* hiredis 0.14 allocates an array's element pointers as soon as it reads
 * the count (it has no maxelements): "*999999999" would be an 8 GB calloc,
 * a limit of the reader, not of our decoder. Inputs naming a large count
 * anywhere are skipped. */
static bool has_large_count(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (data[i] != '*')
            continue;
        size_t j = i + 1;
        if (j < size && data[j] == '-')
            j++;
        unsigned long v = 0;
        for (; j < size && data[j] >= '0' && data[j] <= '9' && v < 1000000; j++)
            v = v * 10 + (data[j] - '0');
        if (v > 4096)
            return true;
    }
    return false;
}

static void check_map(int rc, struct lt_cluster_map *m, struct lt_strbuf *why)
{
    if (rc != 0) {
        CHECK(rc == LT_EPROTO && m == NULL && why->len > 0);
        return;
    }
    CHECK(m != NULL && why->len == 0);
    size_t n = lt_cluster_map_n_masters(m);
    CHECK(n >= 1 && n <= LT_CLUSTER_SLOTS);
    for (unsigned s = 0; s < LT_CLUSTER_SLOTS; s++) {
        size_t i = lt_cluster_map_master_index(m, s);
        CHECK(i < n);
        const struct lt_cluster_shard *sh = lt_cluster_map_shard(m, s);
        CHECK(sh == lt_cluster_map_master(m, i));
        CHECK(sh->master.port >= 1 && sh->master.port <= 65535);
        CHECK(sh->master.host && sh->master.id && strlen(sh->master.host) <= LT_CLUSTER_HOST_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        const struct lt_cluster_shard *sh = lt_cluster_map_master(m, i);
        for (size_t r = 0; r < sh->n_replicas; r++)
            CHECK(sh->replicas[r].host && sh->replicas[r].port >= 1 &&
                  sh->replicas[r].port <= 65535);
    }
    CHECK(lt_cluster_map_master(m, n) == NULL);
    lt_cluster_map_free(m);
}

static void check_reply(const redisReply *r)
{
    char text[512];
    struct lt_strbuf why;
    struct lt_cluster_map *m = (void *)1; /* must be overwritten */
    lt_strbuf_init_fixed(&why, text, sizeof text);
    int rc = lt_cluster_map_from_shards(r, &m, &why);
    check_map(rc, m, &why);
    m = (void *)1;
    lt_strbuf_init_fixed(&why, text, sizeof text);
    rc = lt_cluster_map_from_slots(r, &m, &why);
    check_map(rc, m, &why);
    if (r->type == REDIS_REPLY_ERROR) {
        struct lt_cluster_redirect rd;
        rc = lt_cluster_redirect_parse(r->str, r->len, &rd);
        enum lt_cluster_error k = lt_cluster_error_kind(r->str, r->len);
        if (rc == 0) {
            CHECK(k == LT_CLUSTER_ERR_MOVED || k == LT_CLUSTER_ERR_ASK);
            CHECK(rd.kind == k && rd.slot < LT_CLUSTER_SLOTS && rd.port >= 1 && rd.port <= 65535 &&
                  strlen(rd.host) <= LT_CLUSTER_HOST_MAX);
        } else {
            CHECK(rc ==
                  (k == LT_CLUSTER_ERR_MOVED || k == LT_CLUSTER_ERR_ASK ? LT_EPROTO : LT_EINVAL));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *key = (const char *)data;
    unsigned slot = lt_cluster_keyslot(key, size);
    CHECK(slot < LT_CLUSTER_SLOTS);
    /* a tagged key hashes as its tag */
    const char *open = size ? memchr(key, '{', size) : NULL;
    if (open) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(key + from, '}', size - from);
        if (close && close > key + from)
            CHECK(slot == lt_cluster_keyslot(key + from, (size_t)(close - key) - from));
    }
    {
        struct lt_cluster_redirect rd;
        int rc = lt_cluster_redirect_parse(key, size, &rd);
        CHECK(rc == 0 || rc == LT_EPROTO || rc == LT_EINVAL);
    }

    if (has_large_count(data, size))
        return 0;
    redisReader *reader = redisReaderCreate();
    CHECK(reader != NULL);
    if (redisReaderFeed(reader, (const char *)data, size) == REDIS_OK) {
        /* every complete reply of the input, a bounded number of them */
        for (int i = 0; i < 64; i++) {
            void *reply = NULL;
            if (redisReaderGetReply(reader, &reply) != REDIS_OK || reply == NULL)
                break;
            check_reply(reply);
            freeReplyObject(reply);
        }
    }
    redisReaderFree(reader);
    return 0;
}
