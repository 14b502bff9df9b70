/* A socket's output: written straight to the socket while nothing is queued,
 * the rest queued in an evbuffer (allocated only while something waits).
 * Shared buffers (shared_buf.h) are queued by reference. The owner watches
 * lt_outq_pending against its cap and arms its write event when asked. */
#ifndef LIVETALLY_OUTQ_H
#define LIVETALLY_OUTQ_H

#include <stddef.h>
#include <sys/uio.h>

struct evbuffer;
struct lt_shared;

struct lt_outq {
    struct evbuffer *queued; /* NULL while empty */
};

/* Each returns 0 when everything was written, 1 when something waits (arm
 * the write event), or LT_EIO when the socket failed. */
int lt_outq_writev(struct lt_outq *q, int fd, const struct iovec *iov, int iovcnt);
int lt_outq_write_shared(struct lt_outq *q, int fd, struct lt_shared *buf);
/* On the write event: sends what waits. Same returns. */
int lt_outq_flush(struct lt_outq *q, int fd);

size_t lt_outq_pending(const struct lt_outq *q);
void lt_outq_free(struct lt_outq *q);

#endif
