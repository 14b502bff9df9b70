/* A refcounted byte buffer: a push is encoded once and handed to every
 * subscriber by reference (evbuffer_add_reference), never copied per
 * subscriber. The last reference frees it. */
#ifndef LIVETALLY_SHARED_BUF_H
#define LIVETALLY_SHARED_BUF_H

#include <stddef.h>

struct evbuffer;

struct lt_shared {
    int refs;
    size_t len;
    char data[];
};

/* A buffer of len bytes with one reference (the caller's). */
struct lt_shared *lt_shared_new(size_t len);
struct lt_shared *lt_shared_ref(struct lt_shared *buf);
void lt_shared_unref(struct lt_shared *buf);

/* Appends the bytes to out by reference; out holds a reference until it has
 * sent them. */
void lt_shared_append(struct evbuffer *out, struct lt_shared *buf);

#endif
