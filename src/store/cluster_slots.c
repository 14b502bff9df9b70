/* The Redis Cluster slot map, key slots and redirections (cluster_slots.h).
 *
 * Every reply is walked with its types checked before each read: a reply
 * tree comes from the network, and a node of a later (or broken) Redis may
 * send anything. Nothing here trusts an element count, a type or a number
 * it has not looked at; a bad one ends the build with a message. */
#include "livetally/store/cluster_slots.h"

#include "livetally/base/error.h"
#include "livetally/base/mem.h"

#include <hiredis/hiredis.h>
#include <string.h>

/* CRC16-CCITT as XMODEM (poly 0x1021, init 0, no reflection), as in
 * Redis' crc16.c. Bitwise rather than Redis' 512-byte table: keys are short,
 * and the unit test checks the spec's vector and a table of Redis' slots. */
uint16_t lt_cluster_crc16(const void *bytes, size_t len)
{
    const unsigned char *p = bytes;
    unsigned crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned)p[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) : (crc << 1);
        crc &= 0xFFFF;
    }
    return (uint16_t)crc;
}

/* Redis' keyHashSlot(): the first '{', then the first '}' after it; an
 * empty tag ("{}") hashes the whole key. */
unsigned lt_cluster_keyslot(const char *key, size_t len)
{
    const char *open = len ? memchr(key, '{', len) : NULL;
    if (open) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = from < len ? memchr(key + from, '}', len - from) : NULL;
        if (close && close > key + from)
            return lt_cluster_crc16(key + from, (size_t)(close - (key + from))) &
                   (LT_CLUSTER_SLOTS - 1);
    }
    return lt_cluster_crc16(key, len) & (LT_CLUSTER_SLOTS - 1);
}

/* ---- the map ---- */

struct lt_cluster_map {
    struct lt_cluster_shard *masters;
    size_t n_masters, cap_masters;
    /* index + 1 into masters of each slot's owner; 0 = no owner yet */
    uint32_t owner[LT_CLUSTER_SLOTS];
};

static void node_clear(struct lt_cluster_node *n)
{
    lt_free(n->host);
    lt_free(n->id);
    n->host = n->id = NULL;
}

static void shard_clear(struct lt_cluster_shard *s)
{
    node_clear(&s->master);
    for (size_t i = 0; i < s->n_replicas; i++)
        node_clear(&s->replicas[i]);
    lt_free(s->replicas);
    s->replicas = NULL;
    s->n_replicas = 0;
}

void lt_cluster_map_free(struct lt_cluster_map *map)
{
    if (!map)
        return;
    for (size_t i = 0; i < map->n_masters; i++)
        shard_clear(&map->masters[i]);
    lt_free(map->masters);
    lt_free(map);
}

const struct lt_cluster_shard *lt_cluster_map_shard(const struct lt_cluster_map *map, unsigned slot)
{
    return &map->masters[lt_cluster_map_master_index(map, slot)];
}

size_t lt_cluster_map_n_masters(const struct lt_cluster_map *map)
{
    return map->n_masters;
}

const struct lt_cluster_shard *lt_cluster_map_master(const struct lt_cluster_map *map, size_t i)
{
    return i < map->n_masters ? &map->masters[i] : NULL;
}

/* A finished map has an owner for every slot (map_finish), so this index is
 * always valid for slot < 16384; a larger slot is folded, as Redis would. */
size_t lt_cluster_map_master_index(const struct lt_cluster_map *map, unsigned slot)
{
    return map->owner[slot & (LT_CLUSTER_SLOTS - 1)] - 1;
}

static bool same_node(const struct lt_cluster_node *a, const struct lt_cluster_node *b)
{
    if (a->id[0] && b->id[0])
        return strcmp(a->id, b->id) == 0;
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* Takes s (its strings move into the map, s is zeroed) unless its master
 * is already there, in which case s is left to the caller to clear (the
 * first listing's replicas stay). Returns the master's index. */
static size_t map_add_master(struct lt_cluster_map *map, struct lt_cluster_shard *s)
{
    for (size_t i = 0; i < map->n_masters; i++)
        if (same_node(&map->masters[i].master, &s->master))
            return i;
    if (map->n_masters == map->cap_masters) {
        map->cap_masters = map->cap_masters ? map->cap_masters * 2 : 4;
        map->masters = lt_realloc(map->masters, map->cap_masters * sizeof *map->masters);
    }
    map->masters[map->n_masters] = *s;
    memset(s, 0, sizeof *s);
    return map->n_masters++;
}

static int map_claim(struct lt_cluster_map *map, const char *cmd, size_t idx, long long start,
                     long long end, struct lt_strbuf *why)
{
    if (start < 0 || end >= LT_CLUSTER_SLOTS || start > end) {
        lt_strbuf_addf(why, "%s: slot range %lld-%lld is not within 0-16383", cmd, start, end);
        return LT_EPROTO;
    }
    for (long long s = start; s <= end; s++) {
        uint32_t had = map->owner[s];
        if (had && had != idx + 1) {
            const struct lt_cluster_node *a = &map->masters[had - 1].master;
            const struct lt_cluster_node *b = &map->masters[idx].master;
            lt_strbuf_addf(why, "%s: slot %lld is claimed by two masters, %s:%d and %s:%d", cmd, s,
                           a->host, a->port, b->host, b->port);
            return LT_EPROTO;
        }
        map->owner[s] = (uint32_t)idx + 1;
    }
    return 0;
}

/* Every slot must have a master: a command for an unowned slot could go
 * nowhere, so such a map is refused whole, naming the gaps. */
static int map_finish(struct lt_cluster_map *map, const char *cmd, struct lt_strbuf *why)
{
    unsigned ranges = 0;
    for (unsigned s = 0; s < LT_CLUSTER_SLOTS;) {
        if (map->owner[s]) {
            s++;
            continue;
        }
        unsigned e = s;
        while (e + 1 < LT_CLUSTER_SLOTS && !map->owner[e + 1])
            e++;
        if (ranges == 0)
            lt_strbuf_addf(why, "%s: slots ", cmd);
        if (ranges < 3) {
            if (ranges)
                lt_strbuf_add_str(why, ", ");
            if (s == e)
                lt_strbuf_addf(why, "%u", s);
            else
                lt_strbuf_addf(why, "%u-%u", s, e);
        }
        ranges++;
        s = e + 1;
    }
    if (ranges == 0)
        return 0;
    if (ranges > 3)
        lt_strbuf_addf(why, " and %u other range%s", ranges - 3, ranges - 3 == 1 ? "" : "s");
    lt_strbuf_add_str(why, " have no master");
    return LT_EPROTO;
}

/* ---- reading replies ---- */

static bool is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

static bool str_is(const redisReply *r, const char *s)
{
    size_t n = strlen(s);
    return is_str(r) && r->len == n && memcmp(r->str, s, n) == 0;
}

/* An integer reply, or a string of decimal digits (some replies of Redis
 * 7.0's release candidates gave slots as strings). */
static bool get_int(const redisReply *r, long long *v)
{
    if (!r)
        return false;
    if (r->type == REDIS_REPLY_INTEGER) {
        *v = r->integer;
        return true;
    }
    if (!is_str(r) || r->len == 0 || r->len > 9)
        return false;
    long long x = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (r->str[i] < '0' || r->str[i] > '9')
            return false;
        x = x * 10 + (r->str[i] - '0');
    }
    *v = x;
    return true;
}

static bool is_array(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY && (r->elements == 0 || r->element);
}

static bool bad_text(const char *s, size_t n)
{
    if (n > LT_CLUSTER_HOST_MAX)
        return true;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
            return true;
    return false;
}

/* Where to reach a node: the endpoint, else the ip; nil or "" = the host
 * the map was asked of. Returns 1 with *host set (lt_strndup'd), 0 when the
 * address is "?" (unknown: unusable), LT_EPROTO when malformed. */
static int pick_host(const redisReply *endpoint, const redisReply *ip, char **host)
{
    const redisReply *use = NULL;
    if (is_str(endpoint) && endpoint->len > 0 && !str_is(endpoint, "?"))
        use = endpoint;
    else if (is_str(ip) && ip->len > 0 && !str_is(ip, "?"))
        use = ip;
    if (use) {
        if (bad_text(use->str, use->len))
            return LT_EPROTO;
        *host = lt_strndup(use->str, use->len);
        return 1;
    }
    if ((endpoint && !(endpoint->type == REDIS_REPLY_NIL || is_str(endpoint))) ||
        (ip && !(ip->type == REDIS_REPLY_NIL || is_str(ip))))
        return LT_EPROTO;
    if (str_is(endpoint, "?") || (!endpoint && str_is(ip, "?")))
        return 0;
    *host = lt_strdup("");
    return 1;
}

/* ---- CLUSTER SHARDS ---- */

enum shard_role { ROLE_OTHER, ROLE_MASTER, ROLE_REPLICA };

/* One node of a shard: a flat array of name, value. */
static int shards_node(const redisReply *r, struct lt_cluster_node *out, enum shard_role *role,
                       size_t si, size_t ni, struct lt_strbuf *why)
{
    if (!is_array(r) || r->elements % 2) {
        lt_strbuf_addf(why, "CLUSTER SHARDS: shard %zu, node %zu: not a list of names and values",
                       si, ni);
        return LT_EPROTO;
    }
    const redisReply *id = NULL, *ip = NULL, *endpoint = NULL, *health = NULL;
    const redisReply *port = NULL, *role_r = NULL;
    for (size_t i = 0; i < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (!is_str(k)) {
            lt_strbuf_addf(why, "CLUSTER SHARDS: shard %zu, node %zu: a name is not a string", si,
                           ni);
            return LT_EPROTO;
        }
        if (str_is(k, "id"))
            id = v;
        else if (str_is(k, "port"))
            port = v;
        else if (str_is(k, "ip"))
            ip = v;
        else if (str_is(k, "endpoint"))
            endpoint = v;
        else if (str_is(k, "role"))
            role_r = v;
        else if (str_is(k, "health"))
            health = v;
    }
    long long p = 0;
    if (!is_str(id) || bad_text(id->str, id->len) || !get_int(port, &p) || !is_str(role_r)) {
        lt_strbuf_addf(why,
                       "CLUSTER SHARDS: shard %zu, node %zu: id, port or role missing or "
                       "of the wrong type",
                       si, ni);
        return LT_EPROTO;
    }
    *role = str_is(role_r, "master")    ? ROLE_MASTER
            : str_is(role_r, "replica") ? ROLE_REPLICA
                                        : ROLE_OTHER;
    if (*role == ROLE_OTHER)
        return 0;
    if (p < 1 || p > 65535) {
        lt_strbuf_addf(why,
                       "CLUSTER SHARDS: shard %zu, node %zu: port %lld is not within "
                       "1-65535",
                       si, ni, p);
        return LT_EPROTO;
    }
    char *host = NULL;
    int rc = pick_host(endpoint, ip, &host);
    if (rc < 0) {
        lt_strbuf_addf(why, "CLUSTER SHARDS: shard %zu, node %zu: a malformed ip or endpoint", si,
                       ni);
        return LT_EPROTO;
    }
    if (rc == 0) {
        /* An address we cannot use: fine for a replica (skipped), not for a
         * master (its caller reports it). */
        *role = *role == ROLE_MASTER ? ROLE_MASTER : ROLE_OTHER;
        out->host = NULL;
        return 0;
    }
    out->host = host;
    out->port = (int)p;
    out->id = lt_strndup(id->str, id->len);
    out->failed = str_is(health, "fail");
    return 0;
}

static int shards_one(struct lt_cluster_map *map, const redisReply *r, size_t si,
                      struct lt_strbuf *why)
{
    if (!is_array(r) || r->elements % 2) {
        lt_strbuf_addf(why, "CLUSTER SHARDS: shard %zu: not a list of names and values", si);
        return LT_EPROTO;
    }
    const redisReply *slots = NULL, *nodes = NULL;
    for (size_t i = 0; i < r->elements; i += 2) {
        if (str_is(r->element[i], "slots"))
            slots = r->element[i + 1];
        else if (str_is(r->element[i], "nodes"))
            nodes = r->element[i + 1];
    }
    if (!is_array(slots) || slots->elements % 2 || !is_array(nodes)) {
        lt_strbuf_addf(why, "CLUSTER SHARDS: shard %zu: slots or nodes missing or malformed", si);
        return LT_EPROTO;
    }
    struct lt_cluster_shard shard = {0};
    bool have_master = false;
    int rc = 0;
    for (size_t ni = 0; ni < nodes->elements && rc == 0; ni++) {
        struct lt_cluster_node n = {0};
        enum shard_role role = ROLE_OTHER;
        rc = shards_node(nodes->element[ni], &n, &role, si, ni, why);
        if (rc < 0)
            break;
        if (role == ROLE_MASTER && !n.host) {
            lt_strbuf_addf(why,
                           "CLUSTER SHARDS: shard %zu, node %zu: a master with no known "
                           "address (\"?\")",
                           si, ni);
            rc = LT_EPROTO;
        } else if (role == ROLE_MASTER && (!have_master || (shard.master.failed && !n.failed))) {
            /* During a failover a shard can list the failed master and the
             * promoted replica both as masters: the healthy one leads. */
            if (have_master)
                node_clear(&shard.master);
            shard.master = n;
            have_master = true;
            continue;
        } else if (role == ROLE_REPLICA) {
            shard.replicas =
                lt_realloc(shard.replicas, (shard.n_replicas + 1) * sizeof *shard.replicas);
            shard.replicas[shard.n_replicas++] = n;
            continue;
        }
        node_clear(&n);
    }
    if (rc == 0 && have_master && slots->elements > 0) {
        size_t idx = map_add_master(map, &shard);
        for (size_t i = 0; i < slots->elements && rc == 0; i += 2) {
            long long a, b;
            if (!get_int(slots->element[i], &a) || !get_int(slots->element[i + 1], &b)) {
                lt_strbuf_addf(why, "CLUSTER SHARDS: shard %zu: a slot is not an integer", si);
                rc = LT_EPROTO;
            } else {
                rc = map_claim(map, "CLUSTER SHARDS", idx, a, b, why);
            }
        }
    }
    /* Whatever the map did not take (a shard without slots or master, or
     * one whose decoding failed) is freed here. */
    shard_clear(&shard);
    node_clear(&shard.master);
    return rc;
}

int lt_cluster_map_from_shards(const struct redisReply *reply, struct lt_cluster_map **out,
                               struct lt_strbuf *why)
{
    *out = NULL;
    if (!is_array(reply)) {
        lt_strbuf_add_str(why, reply && reply->type == REDIS_REPLY_ERROR
                                   ? "CLUSTER SHARDS: the node answered an error"
                                   : "CLUSTER SHARDS: the reply is not an array");
        return LT_EPROTO;
    }
    struct lt_cluster_map *map = lt_calloc(1, sizeof *map);
    int rc = 0;
    for (size_t i = 0; i < reply->elements && rc == 0; i++)
        rc = shards_one(map, reply->element[i], i, why);
    if (rc == 0)
        rc = map_finish(map, "CLUSTER SHARDS", why);
    if (rc < 0) {
        lt_cluster_map_free(map);
        return rc;
    }
    *out = map;
    return 0;
}

/* ---- CLUSTER SLOTS ---- */

/* One node: endpoint, port, id (Redis 4+), then what later versions add. */
static int slots_node(const redisReply *r, struct lt_cluster_node *out, size_t ri, size_t ni,
                      struct lt_strbuf *why)
{
    long long p = 0;
    if (!is_array(r) || r->elements < 2 || !get_int(r->element[1], &p) ||
        (r->elements >= 3 &&
         (!is_str(r->element[2]) || bad_text(r->element[2]->str, r->element[2]->len)))) {
        lt_strbuf_addf(why, "CLUSTER SLOTS: range %zu, node %zu: not endpoint, port, id", ri, ni);
        return LT_EPROTO;
    }
    if (p < 1 || p > 65535) {
        lt_strbuf_addf(why, "CLUSTER SLOTS: range %zu, node %zu: port %lld is not within 1-65535",
                       ri, ni, p);
        return LT_EPROTO;
    }
    char *host = NULL;
    int rc = pick_host(r->element[0], NULL, &host);
    if (rc < 0) {
        lt_strbuf_addf(why, "CLUSTER SLOTS: range %zu, node %zu: a malformed endpoint", ri, ni);
        return LT_EPROTO;
    }
    if (rc == 0)
        return 0; /* "?": out->host stays NULL */
    out->host = host;
    out->port = (int)p;
    out->id = r->elements >= 3 ? lt_strndup(r->element[2]->str, r->element[2]->len) : lt_strdup("");
    return 0;
}

static int slots_one(struct lt_cluster_map *map, const redisReply *r, size_t ri,
                     struct lt_strbuf *why)
{
    long long a, b;
    if (!is_array(r) || r->elements < 3 || !get_int(r->element[0], &a) ||
        !get_int(r->element[1], &b)) {
        lt_strbuf_addf(why, "CLUSTER SLOTS: range %zu: not start, end, master, replicas", ri);
        return LT_EPROTO;
    }
    struct lt_cluster_shard shard = {0};
    int rc = slots_node(r->element[2], &shard.master, ri, 0, why);
    if (rc == 0 && !shard.master.host) {
        lt_strbuf_addf(why, "CLUSTER SLOTS: range %zu: a master with no known address (\"?\")", ri);
        rc = LT_EPROTO;
    }
    for (size_t ni = 3; ni < r->elements && rc == 0; ni++) {
        struct lt_cluster_node n = {0};
        rc = slots_node(r->element[ni], &n, ri, ni - 2, why);
        if (rc == 0 && n.host) {
            shard.replicas =
                lt_realloc(shard.replicas, (shard.n_replicas + 1) * sizeof *shard.replicas);
            shard.replicas[shard.n_replicas++] = n;
        }
    }
    if (rc == 0)
        rc = map_claim(map, "CLUSTER SLOTS", map_add_master(map, &shard), a, b, why);
    shard_clear(&shard);
    node_clear(&shard.master);
    return rc;
}

int lt_cluster_map_from_slots(const struct redisReply *reply, struct lt_cluster_map **out,
                              struct lt_strbuf *why)
{
    *out = NULL;
    if (!is_array(reply)) {
        lt_strbuf_add_str(why, reply && reply->type == REDIS_REPLY_ERROR
                                   ? "CLUSTER SLOTS: the node answered an error"
                                   : "CLUSTER SLOTS: the reply is not an array");
        return LT_EPROTO;
    }
    struct lt_cluster_map *map = lt_calloc(1, sizeof *map);
    int rc = 0;
    for (size_t i = 0; i < reply->elements && rc == 0; i++)
        rc = slots_one(map, reply->element[i], i, why);
    if (rc == 0)
        rc = map_finish(map, "CLUSTER SLOTS", why);
    if (rc < 0) {
        lt_cluster_map_free(map);
        return rc;
    }
    *out = map;
    return 0;
}

/* ---- error replies ---- */

static bool first_word_is(const char *msg, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len >= n && memcmp(msg, word, n) == 0 && (len == n || msg[n] == ' ');
}

enum lt_cluster_error lt_cluster_error_kind(const char *msg, size_t len)
{
    if (!msg)
        return LT_CLUSTER_ERR_OTHER;
    if (first_word_is(msg, len, "MOVED"))
        return LT_CLUSTER_ERR_MOVED;
    if (first_word_is(msg, len, "ASK"))
        return LT_CLUSTER_ERR_ASK;
    if (first_word_is(msg, len, "TRYAGAIN"))
        return LT_CLUSTER_ERR_TRYAGAIN;
    if (first_word_is(msg, len, "CLUSTERDOWN"))
        return LT_CLUSTER_ERR_CLUSTERDOWN;
    if (first_word_is(msg, len, "LOADING"))
        return LT_CLUSTER_ERR_LOADING;
    return LT_CLUSTER_ERR_OTHER;
}

bool lt_cluster_error_retryable(enum lt_cluster_error kind)
{
    return kind == LT_CLUSTER_ERR_TRYAGAIN || kind == LT_CLUSTER_ERR_CLUSTERDOWN ||
           kind == LT_CLUSTER_ERR_LOADING;
}

/* digits[0..n) as a number no larger than max; false when empty, not all
 * digits, or too large (at most 5 digits are read: every bound is < 10^5). */
static bool parse_bounded(const char *digits, size_t n, long max, long *v)
{
    if (n == 0 || n > 5)
        return false;
    long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (digits[i] < '0' || digits[i] > '9')
            return false;
        x = x * 10 + (digits[i] - '0');
    }
    *v = x;
    return x <= max;
}

int lt_cluster_parse_address(const char *addr, size_t addr_len, char *host_out, int *port_out)
{
    /* The port follows the last ':', so an IPv6 host keeps its colons. */
    const char *colon = NULL;
    for (size_t i = 0; i < addr_len; i++)
        if (addr[i] == ':')
            colon = addr + i;
    if (!colon)
        return LT_EPROTO;
    size_t host_len = (size_t)(colon - addr);
    size_t port_len = addr_len - host_len - 1;
    long port;
    if (!parse_bounded(colon + 1, port_len, 65535, &port) || port < 1)
        return LT_EPROTO;
    const char *host = addr;
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    }
    if (bad_text(host, host_len) || memchr(host, '[', host_len) || memchr(host, ']', host_len))
        return LT_EPROTO;
    memcpy(host_out, host, host_len);
    host_out[host_len] = '\0';
    *port_out = (int)port;
    return 0;
}

int lt_cluster_redirect_parse(const char *msg, size_t len, struct lt_cluster_redirect *out)
{
    enum lt_cluster_error kind = lt_cluster_error_kind(msg, len);
    if (kind != LT_CLUSTER_ERR_MOVED && kind != LT_CLUSTER_ERR_ASK)
        return LT_EINVAL;
    size_t at = kind == LT_CLUSTER_ERR_MOVED ? 6 : 4; /* past "MOVED " / "ASK " */
    if (at > len)
        return LT_EPROTO;
    const char *sp = memchr(msg + at, ' ', len - at);
    long slot;
    if (!sp || !parse_bounded(msg + at, (size_t)(sp - (msg + at)), LT_CLUSTER_SLOTS - 1, &slot))
        return LT_EPROTO;
    const char *addr = sp + 1;
    struct lt_cluster_redirect r = {.kind = kind, .slot = (unsigned)slot};
    int rc = lt_cluster_parse_address(addr, len - (size_t)(addr - msg), r.host, &r.port);
    if (rc == 0)
        *out = r;
    return rc;
}
