/* Allocation with abort-on-OOM and a live-byte count (see mem.h). */
#include "livetally/base/mem.h"

#include <event2/event.h>
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each process is single-threaded (one event loop per worker), so a plain
 * counter suffices. malloc_usable_size gives the size on free without a
 * header of our own. */
static int64_t live_bytes;

static void *checked(void *p, size_t size)
{
    if (!p && size) {
        fprintf(stderr, "livetally: out of memory allocating %zu bytes\n", size);
        abort();
    }
    if (p)
        live_bytes += (int64_t)malloc_usable_size(p);
    return p;
}

void *lt_malloc(size_t size)
{
    return checked(malloc(size ? size : 1), size ? size : 1);
}

void *lt_calloc(size_t nmemb, size_t size)
{
    if (nmemb == 0 || size == 0)
        nmemb = size = 1;
    return checked(calloc(nmemb, size), nmemb * size);
}

void *lt_realloc(void *ptr, size_t size)
{
    if (!ptr)
        return lt_malloc(size);
    if (size == 0)
        size = 1;
    int64_t old = (int64_t)malloc_usable_size(ptr);
    void *p = realloc(ptr, size);
    if (!p) {
        fprintf(stderr, "livetally: out of memory reallocating %zu bytes\n", size);
        abort();
    }
    live_bytes += (int64_t)malloc_usable_size(p) - old;
    return p;
}

char *lt_strndup(const char *s, size_t n)
{
    char *p = lt_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *lt_strdup(const char *s)
{
    return lt_strndup(s, strlen(s));
}

void lt_free(void *ptr)
{
    if (!ptr)
        return;
    live_bytes -= (int64_t)malloc_usable_size(ptr);
    free(ptr);
}

int64_t lt_mem_live_bytes(void)
{
    return live_bytes;
}

static void *event_realloc_hook(void *ptr, size_t size)
{
    return lt_realloc(ptr, size);
}

void lt_mem_install_hooks(void)
{
    event_set_mem_functions(lt_malloc, event_realloc_hook, lt_free);
    json_set_alloc_funcs(lt_malloc, lt_free);
}
