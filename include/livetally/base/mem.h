/* Allocation: every allocation of livetally, and of libevent and jansson (their
 * allocator hooks are routed here by lt_mem_install_hooks), goes through these
 * functions. They never return NULL: out of memory aborts the process with a
 * message (a worker is restarted by the master), which keeps every caller free
 * of OOM branches. They count live bytes for /metrics.
 *
 * hiredis 0.14 has no allocator hooks, so its memory is not counted.
 * Ownership: whoever allocates frees with lt_free; lt_free(NULL) is a no-op. */
#ifndef LIVETALLY_MEM_H
#define LIVETALLY_MEM_H

#include <stddef.h>
#include <stdint.h>

void *lt_malloc(size_t size);
void *lt_calloc(size_t nmemb, size_t size);
void *lt_realloc(void *ptr, size_t size);
char *lt_strdup(const char *s);
char *lt_strndup(const char *s, size_t n);
void lt_free(void *ptr);

/* Bytes currently allocated through lt_* in this process. */
int64_t lt_mem_live_bytes(void);

/* Route libevent's and jansson's allocators through lt_*. Call once, before
 * any libevent or jansson object is created. */
void lt_mem_install_hooks(void);

#endif
