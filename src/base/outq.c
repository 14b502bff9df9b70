/* Socket output with a lazily allocated queue (see outq.h). */
#include "livetally/base/outq.h"

#include "livetally/base/error.h"
#include "livetally/base/shared_buf.h"

#include <errno.h>
#include <stdbool.h>
#include <event2/buffer.h>
#include <sys/socket.h>
#include <unistd.h>

static bool transient(void)
{
    return errno == EAGAIN || errno == EINTR; /* EWOULDBLOCK == EAGAIN on Linux */
}

int lt_outq_writev(struct lt_outq *q, int fd, const struct iovec *iov, int iovcnt)
{
    int first = 0;
    size_t skip = 0;
    if (!q->queued || evbuffer_get_length(q->queued) == 0) {
        ssize_t n = writev(fd, iov, iovcnt);
        if (n < 0 && !transient())
            return LT_EIO;
        size_t done = n > 0 ? (size_t)n : 0;
        while (first < iovcnt && done >= iov[first].iov_len) {
            done -= iov[first].iov_len;
            first++;
        }
        if (first == iovcnt)
            return 0;
        skip = done;
    }
    if (!q->queued)
        q->queued = evbuffer_new();
    for (int i = first; i < iovcnt; i++) {
        evbuffer_add(q->queued, (const char *)iov[i].iov_base + skip, iov[i].iov_len - skip);
        skip = 0;
    }
    return 1;
}

static void release(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    lt_shared_unref(arg);
}

int lt_outq_write_shared(struct lt_outq *q, int fd, struct lt_shared *buf)
{
    size_t done = 0;
    if (!q->queued || evbuffer_get_length(q->queued) == 0) {
        ssize_t n = send(fd, buf->data, buf->len, MSG_NOSIGNAL);
        if (n < 0 && !transient())
            return LT_EIO;
        done = n > 0 ? (size_t)n : 0;
        if (done == buf->len)
            return 0;
    }
    if (!q->queued)
        q->queued = evbuffer_new();
    /* The rest goes by reference: the queue holds the buffer until sent. */
    lt_shared_ref(buf);
    if (evbuffer_add_reference(q->queued, buf->data + done, buf->len - done, release, buf) != 0)
        lt_shared_unref(buf);
    return 1;
}

int lt_outq_flush(struct lt_outq *q, int fd)
{
    if (!q->queued)
        return 0;
    int n = evbuffer_write(q->queued, fd);
    if (n < 0 && !transient())
        return LT_EIO;
    if (evbuffer_get_length(q->queued) > 0)
        return 1;
    /* Most connections are idle most of the time: keep no queue. */
    evbuffer_free(q->queued);
    q->queued = NULL;
    return 0;
}

size_t lt_outq_pending(const struct lt_outq *q)
{
    return q->queued ? evbuffer_get_length(q->queued) : 0;
}

void lt_outq_free(struct lt_outq *q)
{
    if (q->queued)
        evbuffer_free(q->queued);
    q->queued = NULL;
}
