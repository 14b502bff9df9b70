/* String-keyed chained hash table (see map.h). */
#include "livetally/base/map.h"

#include "livetally/base/mem.h"

#include <string.h>

/* FNV-1a 64: keys are short ids; good enough spread, no seed needed because
 * chains are bounded by resizing and an attacker's ids only hurt their own
 * requests' latency marginally. */
uint64_t lt_hash_bytes(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void lt_map_init(struct lt_map *map)
{
    map->n_buckets = 16;
    map->count = 0;
    map->buckets = lt_calloc(map->n_buckets, sizeof *map->buckets);
}

void lt_map_clear(struct lt_map *map)
{
    for (size_t i = 0; i < map->n_buckets; i++) {
        struct lt_map_entry *e = map->buckets[i];
        while (e) {
            struct lt_map_entry *next = e->next;
            lt_free(e);
            e = next;
        }
    }
    lt_free(map->buckets);
    map->buckets = NULL;
    map->n_buckets = 0;
    map->count = 0;
}

static struct lt_map_entry **find_slot(const struct lt_map *map, const char *key, size_t len,
                                       uint64_t hash)
{
    struct lt_map_entry **slot = &map->buckets[hash & (map->n_buckets - 1)];
    while (*slot) {
        struct lt_map_entry *e = *slot;
        if (e->hash == hash && e->key_len == len && memcmp(e->key, key, len) == 0)
            return slot;
        slot = &e->next;
    }
    return slot;
}

void *lt_map_get(const struct lt_map *map, const char *key, size_t len)
{
    if (!map->buckets)
        return NULL;
    struct lt_map_entry *e = *find_slot(map, key, len, lt_hash_bytes(key, len));
    return e ? e->value : NULL;
}

static void grow(struct lt_map *map)
{
    size_t n = map->n_buckets * 2;
    struct lt_map_entry **b = lt_calloc(n, sizeof *b);
    for (size_t i = 0; i < map->n_buckets; i++) {
        struct lt_map_entry *e = map->buckets[i];
        while (e) {
            struct lt_map_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    lt_free(map->buckets);
    map->buckets = b;
    map->n_buckets = n;
}

struct lt_map_entry *lt_map_put(struct lt_map *map, const char *key, size_t len, void *value)
{
    if (!map->buckets)
        lt_map_init(map);
    uint64_t hash = lt_hash_bytes(key, len);
    struct lt_map_entry **slot = find_slot(map, key, len, hash);
    if (*slot) {
        (*slot)->value = value;
        return *slot;
    }
    struct lt_map_entry *e = lt_malloc(sizeof *e + len + 1);
    e->next = NULL;
    e->hash = hash;
    e->value = value;
    e->key_len = len;
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    *slot = e;
    if (++map->count > map->n_buckets)
        grow(map);
    return e;
}

void *lt_map_remove(struct lt_map *map, const char *key, size_t len)
{
    if (!map->buckets)
        return NULL;
    struct lt_map_entry **slot = find_slot(map, key, len, lt_hash_bytes(key, len));
    struct lt_map_entry *e = *slot;
    if (!e)
        return NULL;
    *slot = e->next;
    void *value = e->value;
    lt_free(e);
    map->count--;
    return value;
}

struct lt_map_entry *lt_map_next(const struct lt_map *map, struct lt_map_entry *prev, size_t *bucket)
{
    if (prev && prev->next)
        return prev->next;
    size_t i = prev ? *bucket + 1 : 0;
    for (; i < map->n_buckets; i++) {
        if (map->buckets[i]) {
            *bucket = i;
            return map->buckets[i];
        }
    }
    return NULL;
}
