/* Refcounted buffers (see shared_buf.h). */
#include "livetally/base/shared_buf.h"

#include "livetally/base/mem.h"

#include <event2/buffer.h>

struct lt_shared *lt_shared_new(size_t len)
{
    struct lt_shared *b = lt_malloc(sizeof *b + len);
    b->refs = 1;
    b->len = len;
    return b;
}

struct lt_shared *lt_shared_ref(struct lt_shared *b)
{
    b->refs++;
    return b;
}

void lt_shared_unref(struct lt_shared *b)
{
    if (b && --b->refs == 0)
        lt_free(b);
}

static void release(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    lt_shared_unref(arg);
}

void lt_shared_append(struct evbuffer *out, struct lt_shared *b)
{
    lt_shared_ref(b);
    if (evbuffer_add_reference(out, b->data, b->len, release, b) != 0)
        lt_shared_unref(b);
}
