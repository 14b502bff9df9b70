/* A loaded config in use (config.h): snapshots shared by reference between
 * the parts of a process, and the lookups the request path makes in them. */
#include "livetally/conf/config.h"

#include "livetally/base/mem.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- snapshots ---- */

const struct lt_config *lt_config_snapshot(struct lt_config *loaded)
{
    struct lt_config *snap = lt_malloc(sizeof *snap);
    *snap = *loaded;
    snap->refs = 1;
    memset(loaded, 0, sizeof *loaded);
    return snap;
}

const struct lt_config *lt_config_ref(const struct lt_config *snap)
{
    /* The count is the one mutable part of a snapshot; snapshots are only
     * ever made by lt_config_snapshot, on the heap, so casting const away
     * writes to an object that is not const. One loop per process: no
     * atomics needed. */
    struct lt_config *s = (struct lt_config *)snap;
    if (s->refs <= 0)
        abort(); /* not a snapshot, or already freed */
    s->refs++;
    return snap;
}

void lt_config_unref(const struct lt_config *snap)
{
    struct lt_config *s = (struct lt_config *)snap;
    if (!s)
        return;
    if (s->refs <= 0)
        abort();
    if (--s->refs > 0)
        return;
    lt_config_free(s);
    lt_free(s);
}

/* ---- lookups ---- */

static bool prefix_matches(const unsigned char *a, const unsigned char *b, int bits)
{
    int full = bits / 8, rest = bits % 8;
    unsigned char mask;
    if (memcmp(a, b, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

bool lt_config_is_trusted_proxy(const struct lt_config *cfg, const struct sockaddr *addr)
{
    /* The peer in both spellings: a dual-stack socket reports an IPv4 client
     * as ::ffff:a.b.c.d, and either form may be written in the config. */
    unsigned char v4[4] = {0}, v6[16] = {0};
    bool has_v4 = false;

    if (!addr)
        return false;
    if (addr->sa_family == AF_INET) {
        struct sockaddr_in sin;
        memcpy(&sin, addr, sizeof sin);
        memcpy(v4, &sin.sin_addr, 4);
        v6[10] = v6[11] = 0xff;
        memcpy(v6 + 12, v4, 4);
        has_v4 = true;
    } else if (addr->sa_family == AF_INET6) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, addr, sizeof sin6);
        memcpy(v6, &sin6.sin6_addr, 16);
        if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) {
            memcpy(v4, v6 + 12, 4);
            has_v4 = true;
        }
    } else {
        return false;
    }
    for (size_t i = 0; i < cfg->n_trusted_proxies; i++) {
        const struct lt_cidr *c = &cfg->trusted_proxies[i];
        if (c->family == AF_INET && has_v4 && prefix_matches(c->addr, v4, c->prefix_len))
            return true;
        if (c->family == AF_INET6 && prefix_matches(c->addr, v6, c->prefix_len))
            return true;
    }
    return false;
}

const struct lt_source_key *lt_config_find_source(const struct lt_config *cfg, const char *name,
                                                  size_t len)
{
    for (size_t i = 0; i < cfg->n_sources; i++)
        if (strlen(cfg->sources[i].name) == len && memcmp(cfg->sources[i].name, name, len) == 0)
            return &cfg->sources[i];
    return NULL;
}

bool lt_config_has_counter(const struct lt_config *cfg, const char *name, size_t len)
{
    for (size_t i = 0; i < cfg->counters.n; i++) {
        const char *c = cfg->counters.items[i];
        if (strlen(c) == len && memcmp(c, name, len) == 0)
            return true;
    }
    return false;
}
