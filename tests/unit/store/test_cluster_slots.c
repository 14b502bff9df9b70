/* Unit tests of cluster_slots.c: key slots against values a real
 * redis-server gave (CLUSTER KEYSLOT, Redis 7.0), the slot map from replies
 * captured from a real 3-master cluster (tests/fuzz/corpus/cluster_slots/)
 * and from malformed ones, and the redirection errors. Reply trees are made
 * by hiredis' own reader from RESP text, as they are in the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "livetally/base/error.h"
#include "livetally/store/cluster_slots.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static redisReply *resp(const char *text, size_t len)
{
    redisReader *r = redisReaderCreate();
    assert_non_null(r);
    assert_int_equal(redisReaderFeed(r, text, len), REDIS_OK);
    void *reply = NULL;
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(r);
    return reply;
}

static redisReply *resp_str(const char *text)
{
    return resp(text, strlen(text));
}

static redisReply *resp_file(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/cluster_slots/%s", LT_SOURCE_DIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return resp(buf, n);
}

/* ---- key slots ---- */

static void test_crc16(void **state)
{
    (void)state;
    /* The Redis Cluster specification's check value. */
    assert_int_equal(lt_cluster_crc16("123456789", 9), 0x31C3);
    assert_int_equal(lt_cluster_crc16("", 0), 0);
}

/* Each answered by CLUSTER KEYSLOT of redis-server 7.0.15. */
static const struct {
    const char *key;
    unsigned slot;
} slot_vectors[] = {
    {"123456789", 12739},
    {"foo", 12182},
    {"bar", 5061},
    {"hello", 866},
    {"", 0},
    {"a", 15495},
    {"{user1000}.following", 3443},
    {"{user1000}.followers", 3443},
    {"foo{}{bar}", 8363},    /* the first tag is empty: the whole key */
    {"foo{{bar}}zap", 4015}, /* tag "{bar" */
    {"foo{bar}{zap}", 5061}, /* tag "bar", as "bar" */
    {"{}", 15257},
    {"{", 4092},
    {"}", 12090},
    {"{a", 10276}, /* no '}' : the whole key */
    {"a{b}", 3300},
    {"{b}c", 3300},
    {"x{}y", 16116},
    {"{{}}", 4092}, /* tag "{", as "{" */
    {"lt:{ganzhou-2022-07-16}:totals", 7074},
    {"ganzhou-2022-07-16", 7074},
    {"{ganzhou-2022-07-16}", 7074},
    {"\xc3\xa9", 10180},
    {"{\\}", 7033},
};

static void test_keyslot_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof slot_vectors / sizeof slot_vectors[0]; i++) {
        unsigned got = lt_cluster_keyslot(slot_vectors[i].key, strlen(slot_vectors[i].key));
        if (got != slot_vectors[i].slot)
            fail_msg("keyslot(\"%s\") = %u, Redis says %u", slot_vectors[i].key, got,
                     slot_vectors[i].slot);
    }
}

/* Every key of a stream shares the stream id's slot; bytes past len and
 * NULs inside a key count as Redis counts them (binary-safe). */
static void test_keyslot_tags(void **state)
{
    (void)state;
    char key[64], id[24];
    srand(11);
    for (int i = 0; i < 2000; i++) {
        int n = 1 + rand() % 20;
        for (int j = 0; j < n; j++)
            id[j] = "abcdefghijklmnopqrstuvwxyz0123456789-_"[rand() % 38];
        id[n] = '\0';
        int k = snprintf(key, sizeof key, "lt:{%s}:totals", id);
        assert_int_equal(lt_cluster_keyslot(key, (size_t)k), lt_cluster_keyslot(id, (size_t)n));
        assert_true(lt_cluster_keyslot(id, (size_t)n) < LT_CLUSTER_SLOTS);
    }
    assert_int_equal(lt_cluster_keyslot("{a}zzz", 3), lt_cluster_keyslot("{a}", 3));
    assert_int_not_equal(lt_cluster_keyslot("{a}", 2), lt_cluster_keyslot("a", 1));
    assert_int_equal(lt_cluster_keyslot("x{\0}y", 5), lt_cluster_keyslot("\0", 1));
}

/* ---- the map ---- */

static const struct lt_cluster_node *master_of(const struct lt_cluster_map *m, unsigned slot)
{
    return &lt_cluster_map_shard(m, slot)->master;
}

static void check_3m(const struct lt_cluster_map *m, size_t replicas)
{
    assert_int_equal(lt_cluster_map_n_masters(m), 3);
    assert_int_equal(master_of(m, 0)->port, 21121);
    assert_int_equal(master_of(m, 5460)->port, 21121);
    assert_int_equal(master_of(m, 5461)->port, 21122);
    assert_int_equal(master_of(m, 10922)->port, 21122);
    assert_int_equal(master_of(m, 10923)->port, 21123);
    assert_int_equal(master_of(m, 16383)->port, 21123);
    assert_string_equal(master_of(m, 0)->host, "127.0.0.1");
    assert_string_equal(master_of(m, 0)->id, "a1ee53f419cb7414cd630bfddfd54d4b536cfd7e");
    assert_false(master_of(m, 0)->failed);
    for (size_t i = 0; i < 3; i++) {
        const struct lt_cluster_shard *s = lt_cluster_map_master(m, i);
        assert_int_equal(s->n_replicas, replicas);
        for (size_t r = 0; r < s->n_replicas; r++)
            assert_int_equal(strlen(s->replicas[r].id), 40);
    }
    assert_null(lt_cluster_map_master(m, 3));
    for (unsigned slot = 0; slot < LT_CLUSTER_SLOTS; slot++)
        assert_ptr_equal(lt_cluster_map_shard(m, slot),
                         lt_cluster_map_master(m, lt_cluster_map_master_index(m, slot)));
}

static void test_shards_real(void **state)
{
    (void)state;
    redisReply *r = resp_file("shards_3m3r");
    struct lt_cluster_map *m = NULL;
    char text[256];
    struct lt_strbuf why;
    lt_strbuf_init_fixed(&why, text, sizeof text);
    assert_int_equal(lt_cluster_map_from_shards(r, &m, &why), 0);
    assert_string_equal(lt_strbuf_text(&why), "");
    check_3m(m, 1);
    /* the replica of 0-5460 is 21125 (health "loading" then) */
    assert_int_equal(lt_cluster_map_shard(m, 42)->replicas[0].port, 21125);
    lt_cluster_map_free(m);
    /* the same reply is not a CLUSTER SLOTS reply */
    assert_int_equal(lt_cluster_map_from_slots(r, &m, &why), LT_EPROTO);
    assert_null(m);
    freeReplyObject(r);
}

static void test_slots_real(void **state)
{
    (void)state;
    redisReply *r = resp_file("slots_3m3r");
    struct lt_cluster_map *m = NULL;
    struct lt_strbuf why;
    char text[256];
    lt_strbuf_init_fixed(&why, text, sizeof text);
    assert_int_equal(lt_cluster_map_from_slots(r, &m, &why), 0);
    check_3m(m, 0); /* captured before the replicas had synced */
    lt_cluster_map_free(m);
    assert_int_equal(lt_cluster_map_from_shards(r, &m, &why), LT_EPROTO);
    assert_null(m);
    freeReplyObject(r);
}

/* After the master of 0-5460 (21121) was killed while slot 100 was being
 * migrated: its replica 21125 took 0-99 and 101-5460, slot 100 stayed
 * with the failed master. SHARDS says it failed; SLOTS cannot. */
static void test_failover_real(void **state)
{
    (void)state;
    static const char *const files[] = {"shards_failover", "slots_failover"};
    for (int f = 0; f < 2; f++) {
        redisReply *r = resp_file(files[f]);
        struct lt_cluster_map *m = NULL;
        struct lt_strbuf why;
        char text[256];
        lt_strbuf_init_fixed(&why, text, sizeof text);
        int rc = f == 0 ? lt_cluster_map_from_shards(r, &m, &why)
                        : lt_cluster_map_from_slots(r, &m, &why);
        assert_int_equal(rc, 0);
        assert_int_equal(lt_cluster_map_n_masters(m), 4);
        assert_int_equal(master_of(m, 99)->port, 21125);
        assert_int_equal(master_of(m, 100)->port, 21121);
        assert_int_equal(master_of(m, 101)->port, 21125);
        assert_int_equal(master_of(m, 0)->port, 21125);
        assert_int_equal(master_of(m, 6000)->port, 21122);
        assert_int_equal(master_of(m, 100)->failed, f == 0);
        assert_false(master_of(m, 0)->failed);
        /* 0-99 and 101-5460 are one master, listed once */
        assert_int_equal(lt_cluster_map_master_index(m, 0), lt_cluster_map_master_index(m, 5000));
        assert_int_equal(lt_cluster_map_shard(m, 16000)->n_replicas, 1);
        assert_int_equal(lt_cluster_map_shard(m, 16000)->replicas[0].port, 21124);
        lt_cluster_map_free(m);
        freeReplyObject(r);
    }
}

/* A node of CLUSTER SHARDS as RESP, and a shard of one master. */
#define NODE(id, port, ip, role, health)                                                           \
    "*12\r\n$2\r\nid\r\n$" id "\r\n$4\r\nport\r\n" port "\r\n$2\r\nip\r\n" ip                      \
    "\r\n$8\r\nendpoint\r\n" ip "\r\n$4\r\nrole\r\n" role "\r\n$6\r\nhealth\r\n" health "\r\n"
#define ID_A "40\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "40\r\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define LOCAL "$9\r\n127.0.0.1"
#define MASTER "$6\r\nmaster"
#define ONLINE "$6\r\nonline"

static int shards(const char *text, struct lt_cluster_map **m, char *why_text, size_t cap)
{
    redisReply *r = resp_str(text);
    struct lt_strbuf why;
    lt_strbuf_init_fixed(&why, why_text, cap);
    int rc = lt_cluster_map_from_shards(r, m, &why);
    freeReplyObject(r);
    if (rc == 0)
        assert_string_equal(why_text, "");
    else
        assert_null(*m);
    return rc;
}

static int slots(const char *text, struct lt_cluster_map **m, char *why_text, size_t cap)
{
    redisReply *r = resp_str(text);
    struct lt_strbuf why;
    lt_strbuf_init_fixed(&why, why_text, cap);
    int rc = lt_cluster_map_from_slots(r, m, &why);
    freeReplyObject(r);
    if (rc != 0)
        assert_null(*m);
    return rc;
}

static void test_coverage(void **state)
{
    (void)state;
    struct lt_cluster_map *m = NULL;
    char why[256];
    /* one master, all slots, as two ranges; slots given as strings */
    assert_int_equal(shards("*1\r\n*4\r\n$5\r\nslots\r\n*4\r\n:0\r\n:99\r\n$3\r\n100\r\n$5\r\n16383"
                            "\r\n$5\r\nnodes\r\n*1\r\n" NODE(ID_A, ":7000", LOCAL, MASTER, ONLINE),
                            &m, why, sizeof why),
                     0);
    assert_int_equal(lt_cluster_map_n_masters(m), 1);
    assert_int_equal(master_of(m, 16383)->port, 7000);
    lt_cluster_map_free(m);

    /* gaps: named, the first three, then a count */
    assert_int_equal(
        slots("*1\r\n*3\r\n:0\r\n:5460\r\n*3\r\n$1\r\nh\r\n:1\r\n$1\r\nx\r\n", &m, why, sizeof why),
        LT_EPROTO);
    assert_string_equal(why, "CLUSTER SLOTS: slots 5461-16383 have no master");
    assert_int_equal(slots("*5\r\n"
                           "*3\r\n:1\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n"
                           "*3\r\n:3\r\n:3\r\n*2\r\n$1\r\nh\r\n:1\r\n"
                           "*3\r\n:5\r\n:5\r\n*2\r\n$1\r\nh\r\n:1\r\n"
                           "*3\r\n:7\r\n:7\r\n*2\r\n$1\r\nh\r\n:1\r\n"
                           "*3\r\n:9\r\n:16382\r\n*2\r\n$1\r\nh\r\n:1\r\n",
                           &m, why, sizeof why),
                     LT_EPROTO);
    assert_string_equal(why, "CLUSTER SLOTS: slots 0, 2, 4 and 3 other ranges have no master");
    /* an empty cluster (no slots assigned yet) */
    assert_int_equal(shards("*0\r\n", &m, why, sizeof why), LT_EPROTO);
    assert_string_equal(why, "CLUSTER SHARDS: slots 0-16383 have no master");
    /* a shard with slots but no master: its slots have no owner */
    assert_int_equal(
        shards("*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n" NODE(
                   ID_A, ":7000", LOCAL, "$7\r\nreplica", ONLINE),
               &m, why, sizeof why),
        LT_EPROTO);
    assert_string_equal(why, "CLUSTER SHARDS: slots 0-16383 have no master");
}

static void test_malformed(void **state)
{
    (void)state;
    struct lt_cluster_map *m = NULL;
    char why[256];
    static const struct {
        bool shards;
        const char *resp;
        const char *why;
    } cases[] = {
        {true, "-ERR unknown subcommand 'SHARDS'\r\n",
         "CLUSTER SHARDS: the node answered an error"},
        {true, ":1\r\n", "CLUSTER SHARDS: the reply is not an array"},
        {false, "$-1\r\n", "CLUSTER SLOTS: the reply is not an array"},
        {true, "*1\r\n:1\r\n", "CLUSTER SHARDS: shard 0: not a list of names and values"},
        {true, "*1\r\n*3\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*0\r\n",
         "CLUSTER SHARDS: shard 0: not a list of names and values"},
        {true, "*1\r\n*2\r\n$5\r\nslots\r\n*0\r\n",
         "CLUSTER SHARDS: shard 0: slots or nodes missing or malformed"},
        {true, "*1\r\n*4\r\n$5\r\nslots\r\n*1\r\n:0\r\n$5\r\nnodes\r\n*0\r\n",
         "CLUSTER SHARDS: shard 0: slots or nodes missing or malformed"},
        {true,
         "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16384\r\n$5\r\nnodes\r\n*1\r\n" NODE(
             ID_A, ":7000", LOCAL, MASTER, ONLINE),
         "CLUSTER SHARDS: slot range 0-16384 is not within 0-16383"},
        {true,
         "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:9\r\n:8\r\n$5\r\nnodes\r\n*1\r\n" NODE(
             ID_A, ":7000", LOCAL, MASTER, ONLINE),
         "CLUSTER SHARDS: slot range 9-8 is not within 0-16383"},
        {true,
         "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:-1\r\n:8\r\n$5\r\nnodes\r\n*1\r\n" NODE(
             ID_A, ":7000", LOCAL, MASTER, ONLINE),
         "CLUSTER SHARDS: slot range -1-8 is not within 0-16383"},
        {true,
         "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n$1\r\nx\r\n$5\r\nnodes\r\n*1\r\n" NODE(
             ID_A, ":7000", LOCAL, MASTER, ONLINE),
         "CLUSTER SHARDS: shard 0: a slot is not an integer"},
        {true,
         "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:1\r\n$5\r\nnodes\r\n*1\r\n" NODE(
             ID_A, ":0", LOCAL, MASTER, ONLINE),
         "CLUSTER SHARDS: shard 0, node 0: port 0 is not within 1-65535"},
        {true,
         "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:1\r\n$5\r\nnodes\r\n*1\r\n" NODE(
             ID_A, ":65536", LOCAL, MASTER, ONLINE),
         "CLUSTER SHARDS: shard 0, node 0: port 65536 is not within 1-65535"},
        {true,
         "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:1\r\n$5\r\nnodes\r\n*1\r\n" NODE(
             ID_A, "$4\r\n7000", LOCAL, MASTER, ONLINE),
         NULL /* a port as a string is read as one: the map then lacks slots */},
        {true,
         "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:1\r\n$5\r\nnodes\r\n*1\r\n" NODE(
             ID_A, "$-1", LOCAL, MASTER, ONLINE),
         "CLUSTER SHARDS: shard 0, node 0: id, port or role missing or of the wrong type"},
        {true,
         "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:1\r\n$5\r\nnodes\r\n*1\r\n" NODE(
             ID_A, ":1", "$1\r\n?", MASTER, ONLINE),
         "CLUSTER SHARDS: shard 0, node 0: a master with no known address (\"?\")"},
        {true,
         "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:1\r\n$5\r\nnodes\r\n*1\r\n" NODE(
             ID_A, ":1", "$3\r\na b", MASTER, ONLINE),
         "CLUSTER SHARDS: shard 0, node 0: a malformed ip or endpoint"},
        {true,
         "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:1\r\n$5\r\nnodes\r\n*1\r\n"
         "*10\r\n$2\r\nid\r\n$1\r\nA\r\n$4\r\nport\r\n:1\r\n$2\r\nip\r\n:1\r\n"
         "$8\r\nendpoint\r\n$-1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n",
         "CLUSTER SHARDS: shard 0, node 0: a malformed ip or endpoint"},
        {true, "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:1\r\n$5\r\nnodes\r\n*1\r\n*1\r\n:1\r\n",
         "CLUSTER SHARDS: shard 0, node 0: not a list of names and values"},
        {true,
         "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:1\r\n$5\r\nnodes\r\n*1\r\n*2\r\n:1\r\n:1\r\n",
         "CLUSTER SHARDS: shard 0, node 0: a name is not a string"},
        /* two masters claiming one slot */
        {true,
         "*2\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:9\r\n$5\r\nnodes\r\n*1\r\n" NODE(
             ID_A, ":7000", LOCAL, MASTER,
             ONLINE) "*4\r\n$5\r\nslots\r\n*2\r\n:9\r\n:16383\r\n"
                     "$5\r\nnodes\r\n*1\r\n" NODE(ID_B, ":7001", LOCAL, MASTER, ONLINE),
         "CLUSTER SHARDS: slot 9 is claimed by two masters, 127.0.0.1:7000 and 127.0.0.1:7001"},
        {false, "*1\r\n*2\r\n:0\r\n:16383\r\n",
         "CLUSTER SLOTS: range 0: not start, end, master, replicas"},
        {false, "*1\r\n*3\r\n:0\r\n$1\r\nz\r\n*2\r\n$1\r\nh\r\n:1\r\n",
         "CLUSTER SLOTS: range 0: not start, end, master, replicas"},
        {false, "*1\r\n*3\r\n:0\r\n:16383\r\n*1\r\n$1\r\nh\r\n",
         "CLUSTER SLOTS: range 0, node 0: not endpoint, port, id"},
        {false, "*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$1\r\nh\r\n:1\r\n:5\r\n",
         "CLUSTER SLOTS: range 0, node 0: not endpoint, port, id"},
        {false, "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$1\r\nh\r\n:-5\r\n",
         "CLUSTER SLOTS: range 0, node 0: port -5 is not within 1-65535"},
        {false, "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n:1\r\n:1\r\n",
         "CLUSTER SLOTS: range 0, node 0: a malformed endpoint"},
        {false, "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$1\r\n?\r\n:1\r\n",
         "CLUSTER SLOTS: range 0: a master with no known address (\"?\")"},
        {false, "*1\r\n*4\r\n:0\r\n:16383\r\n*2\r\n$1\r\nh\r\n:1\r\n*1\r\n:1\r\n",
         "CLUSTER SLOTS: range 0, node 1: not endpoint, port, id"},
        {false, "*1\r\n*3\r\n:0\r\n:99999999999\r\n*2\r\n$1\r\nh\r\n:1\r\n",
         "CLUSTER SLOTS: slot range 0-99999999999 is not within 0-16383"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = cases[i].shards ? shards(cases[i].resp, &m, why, sizeof why)
                                 : slots(cases[i].resp, &m, why, sizeof why);
        if (rc != LT_EPROTO)
            fail_msg("case %zu: rc %d", i, rc);
        if (cases[i].why && strcmp(why, cases[i].why) != 0)
            fail_msg("case %zu: \"%s\", not \"%s\"", i, why, cases[i].why);
    }
}

/* Endpoints: nil or "" = the host asked; "?" replicas are left out; a
 * master listed in several ranges is one master; names of later versions
 * (hostname, tls-port, a metadata map) are skipped. */
static void test_endpoints(void **state)
{
    (void)state;
    struct lt_cluster_map *m = NULL;
    char why[256];
    assert_int_equal(
        slots("*2\r\n"
              "*5\r\n:0\r\n:100\r\n*4\r\n$-1\r\n:7000\r\n$1\r\nA\r\n*2\r\n$8\r\nhostname\r\n$"
              "1\r\nx\r\n"
              "*3\r\n$1\r\n?\r\n:7001\r\n$1\r\nB\r\n*3\r\n$3\r\n::1\r\n:7002\r\n$1\r\nC\r\n"
              "*3\r\n:101\r\n:16383\r\n*3\r\n$0\r\n\r\n:7000\r\n$1\r\nA\r\n",
              &m, why, sizeof why),
        0);
    assert_int_equal(lt_cluster_map_n_masters(m), 1);
    const struct lt_cluster_shard *s = lt_cluster_map_shard(m, 16383);
    assert_string_equal(s->master.host, "");
    assert_string_equal(s->master.id, "A");
    assert_int_equal(s->n_replicas, 1);
    assert_string_equal(s->replicas[0].host, "::1");
    assert_ptr_equal(s, lt_cluster_map_shard(m, 0));
    lt_cluster_map_free(m);

    /* Redis 3: no ids; the same host and port is the same master */
    assert_int_equal(slots("*2\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n"
                           "*3\r\n:2\r\n:16383\r\n*2\r\n$1\r\nh\r\n:1\r\n",
                           &m, why, sizeof why),
                     0);
    assert_int_equal(lt_cluster_map_n_masters(m), 1);
    assert_string_equal(lt_cluster_map_master(m, 0)->master.id, "");
    lt_cluster_map_free(m);

    /* SHARDS: two masters in a shard mid-failover, the failed one first;
     * an unknown role and an unknown name are skipped */
    assert_int_equal(
        shards("*1\r\n*6\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$8\r\nfuture-x\r\n:1\r\n$"
               "5\r\nnodes\r\n*3\r\n" NODE(ID_A, ":7000", LOCAL, MASTER, "$4\r\nfail")
                   NODE(ID_B, ":7001", LOCAL, "$7\r\nwatcher", ONLINE)
                       NODE(ID_B, ":7002", "$0\r\n", MASTER, ONLINE),
               &m, why, sizeof why),
        0);
    assert_int_equal(lt_cluster_map_n_masters(m), 1);
    assert_int_equal(master_of(m, 7)->port, 7002);
    assert_string_equal(master_of(m, 7)->host, "");
    assert_false(master_of(m, 7)->failed);
    assert_int_equal(lt_cluster_map_shard(m, 7)->n_replicas, 0);
    lt_cluster_map_free(m);

    /* a shard without slots (an empty master) adds no master */
    assert_int_equal(
        shards("*2\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n" NODE(
                   ID_B, ":7001", LOCAL, MASTER,
                   ONLINE) "*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*"
                           "1\r\n" NODE(ID_A, ":7000", LOCAL, MASTER, ONLINE),
               &m, why, sizeof why),
        0);
    assert_int_equal(lt_cluster_map_n_masters(m), 1);
    assert_int_equal(master_of(m, 0)->port, 7000);
    lt_cluster_map_free(m);
}

/* ---- redirections ---- */

static void test_error_kinds(void **state)
{
    (void)state;
    static const struct {
        const char *msg;
        enum lt_cluster_error kind;
        bool retry;
    } cases[] = {
        {"MOVED 3999 127.0.0.1:6381", LT_CLUSTER_ERR_MOVED, false},
        {"ASK 3999 127.0.0.1:6381", LT_CLUSTER_ERR_ASK, false},
        {"TRYAGAIN Multiple keys request during rehashing of slot", LT_CLUSTER_ERR_TRYAGAIN, true},
        {"CLUSTERDOWN The cluster is down", LT_CLUSTER_ERR_CLUSTERDOWN, true},
        {"CLUSTERDOWN Hash slot not served", LT_CLUSTER_ERR_CLUSTERDOWN, true},
        {"LOADING Redis is loading the dataset in memory", LT_CLUSTER_ERR_LOADING, true},
        {"LOADING", LT_CLUSTER_ERR_LOADING, true},
        {"MOVEDX 1 h:1", LT_CLUSTER_ERR_OTHER, false},
        {"moved 1 h:1", LT_CLUSTER_ERR_OTHER, false},
        {"ERR wrong number of arguments", LT_CLUSTER_ERR_OTHER, false},
        {"NOSCRIPT No matching script", LT_CLUSTER_ERR_OTHER, false},
        {"CROSSSLOT Keys in request don't hash to the same slot", LT_CLUSTER_ERR_OTHER, false},
        {"", LT_CLUSTER_ERR_OTHER, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum lt_cluster_error k = lt_cluster_error_kind(cases[i].msg, strlen(cases[i].msg));
        if (k != cases[i].kind || lt_cluster_error_retryable(k) != cases[i].retry)
            fail_msg("\"%s\": kind %d", cases[i].msg, (int)k);
    }
    assert_int_equal(lt_cluster_error_kind("ASKING", 3), LT_CLUSTER_ERR_ASK);
    assert_int_equal(lt_cluster_error_kind(NULL, 0), LT_CLUSTER_ERR_OTHER);
}

static void test_redirects(void **state)
{
    (void)state;
    static const struct {
        const char *msg;
        int rc;
        enum lt_cluster_error kind;
        unsigned slot;
        const char *host;
        int port;
    } cases[] = {
        {"MOVED 3999 127.0.0.1:6381", 0, LT_CLUSTER_ERR_MOVED, 3999, "127.0.0.1", 6381},
        {"ASK 100 127.0.0.1:21122", 0, LT_CLUSTER_ERR_ASK, 100, "127.0.0.1", 21122},
        {"MOVED 0 ::1:7000", 0, LT_CLUSTER_ERR_MOVED, 0, "::1", 7000},
        {"ASK 16383 [::1]:7000", 0, LT_CLUSTER_ERR_ASK, 16383, "::1", 7000},
        {"MOVED 12 fe80::1%eth0:65535", 0, LT_CLUSTER_ERR_MOVED, 12, "fe80::1%eth0", 65535},
        {"MOVED 12 :7000", 0, LT_CLUSTER_ERR_MOVED, 12, "", 7000},
        {"MOVED 12 redis-3.example.net:1", 0, LT_CLUSTER_ERR_MOVED, 12, "redis-3.example.net", 1},
        {"MOVED 16384 h:1", LT_EPROTO, 0, 0, NULL, 0},
        {"MOVED -1 h:1", LT_EPROTO, 0, 0, NULL, 0},
        {"MOVED 99999999999 h:1", LT_EPROTO, 0, 0, NULL, 0},
        {"MOVED 1 h:0", LT_EPROTO, 0, 0, NULL, 0},
        {"MOVED 1 h:65536", LT_EPROTO, 0, 0, NULL, 0},
        {"MOVED 1 h:", LT_EPROTO, 0, 0, NULL, 0},
        {"MOVED 1 h", LT_EPROTO, 0, 0, NULL, 0},
        {"MOVED 1 h:1 ", LT_EPROTO, 0, 0, NULL, 0},
        {"MOVED 1 h :1", LT_EPROTO, 0, 0, NULL, 0},
        {"MOVED 1  h:1", LT_EPROTO, 0, 0, NULL, 0},
        {"MOVED  1 h:1", LT_EPROTO, 0, 0, NULL, 0},
        {"MOVED 1", LT_EPROTO, 0, 0, NULL, 0},
        {"MOVED", LT_EPROTO, 0, 0, NULL, 0},
        {"ASK x h:1", LT_EPROTO, 0, 0, NULL, 0},
        {"MOVED 1 [::1:7000", LT_EPROTO, 0, 0, NULL, 0},
        {"CLUSTERDOWN The cluster is down", LT_EINVAL, 0, 0, NULL, 0},
        {"ERR MOVED 1 h:1", LT_EINVAL, 0, 0, NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct lt_cluster_redirect r;
        memset(&r, 0x5a, sizeof r);
        int rc = lt_cluster_redirect_parse(cases[i].msg, strlen(cases[i].msg), &r);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d, not %d", cases[i].msg, rc, cases[i].rc);
        if (rc == 0 && (r.kind != cases[i].kind || r.slot != cases[i].slot ||
                        strcmp(r.host, cases[i].host) != 0 || r.port != cases[i].port))
            fail_msg("\"%s\": %d %u \"%s\" %d", cases[i].msg, (int)r.kind, r.slot, r.host, r.port);
    }
    /* the longest host fits; one more byte does not */
    char msg[400];
    struct lt_cluster_redirect r;
    memcpy(msg, "MOVED 5 ", 8);
    memset(msg + 8, 'h', LT_CLUSTER_HOST_MAX);
    memcpy(msg + 8 + LT_CLUSTER_HOST_MAX, ":6379", 5);
    assert_int_equal(lt_cluster_redirect_parse(msg, 8 + LT_CLUSTER_HOST_MAX + 5, &r), 0);
    assert_int_equal(strlen(r.host), LT_CLUSTER_HOST_MAX);
    memset(msg + 8, 'h', LT_CLUSTER_HOST_MAX + 1);
    memcpy(msg + 9 + LT_CLUSTER_HOST_MAX, ":6379", 5);
    assert_int_equal(lt_cluster_redirect_parse(msg, 9 + LT_CLUSTER_HOST_MAX + 5, &r), LT_EPROTO);
    /* the real reply from a cluster, as hiredis hands it over */
    redisReply *moved = resp_file("moved");
    assert_int_equal(moved->type, REDIS_REPLY_ERROR);
    assert_int_equal(lt_cluster_redirect_parse(moved->str, moved->len, &r), 0);
    assert_int_equal(r.kind, LT_CLUSTER_ERR_MOVED);
    assert_int_equal(r.slot, lt_cluster_keyslot("{stream-1}:totals", 17));
    freeReplyObject(moved);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16),        cmocka_unit_test(test_keyslot_vectors),
        cmocka_unit_test(test_keyslot_tags), cmocka_unit_test(test_shards_real),
        cmocka_unit_test(test_slots_real),   cmocka_unit_test(test_failover_real),
        cmocka_unit_test(test_coverage),     cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_endpoints),    cmocka_unit_test(test_error_kinds),
        cmocka_unit_test(test_redirects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
