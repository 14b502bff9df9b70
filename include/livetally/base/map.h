/* A string-keyed hash table with chaining. Keys are copied into the entry;
 * values are the caller's pointers (the map never frees them). Not for
 * sharing across processes or threads. */
#ifndef LIVETALLY_MAP_H
#define LIVETALLY_MAP_H

#include <stddef.h>
#include <stdint.h>

struct lt_map_entry {
    struct lt_map_entry *next;
    uint64_t hash;
    void *value;
    size_t key_len;
    char key[]; /* NUL-terminated copy */
};

struct lt_map {
    struct lt_map_entry **buckets;
    size_t n_buckets; /* power of two */
    size_t count;
};

void lt_map_init(struct lt_map *map);
/* Frees the entries; values are the caller's to free first (use lt_map_next). */
void lt_map_clear(struct lt_map *map);

void *lt_map_get(const struct lt_map *map, const char *key, size_t len);
/* Inserts or replaces; returns the entry (its key stays valid until removed). */
struct lt_map_entry *lt_map_put(struct lt_map *map, const char *key, size_t len, void *value);
/* Removes and returns the value, or NULL. */
void *lt_map_remove(struct lt_map *map, const char *key, size_t len);

/* Iteration: for (e = lt_map_next(m, NULL, &i); e; e = lt_map_next(m, e, &i)).
 * Removing the current entry during iteration is not allowed. */
struct lt_map_entry *lt_map_next(const struct lt_map *map, struct lt_map_entry *prev, size_t *bucket);

uint64_t lt_hash_bytes(const void *data, size_t len);

#endif
