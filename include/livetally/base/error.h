/* Error codes shared by every module.
 *
 * Internal calls return 0 (or a non-negative count) on success and one of the
 * negative LT_E* codes below on failure. Start-up code turns them into a human
 * message; request code turns them into the contract's JSON error body. */
#ifndef LIVETALLY_ERROR_H
#define LIVETALLY_ERROR_H

enum {
    LT_OK = 0,
    LT_EINVAL = -1,       /* bad argument or input */
    LT_ENOMEM = -2,       /* never returned by lt_* allocators (they abort) */
    LT_EIO = -3,          /* socket or file error; errno tells more */
    LT_ETIMEDOUT = -4,    /* a deadline passed */
    LT_EDISCONNECTED = -5, /* the peer (Redis, a client) went away */
    LT_ENOTFOUND = -6,    /* no such stream, key, route */
    LT_EAGAIN = -7,       /* not now: retry later (backlog full, not ready) */
    LT_ETOOLARGE = -8,    /* over a configured limit */
    LT_EPROTO = -9,       /* the peer broke its protocol */
    LT_ECLOSED = -10,     /* operation on something already closed or ended */
};

/* A short constant name for an LT_E* code ("timed out"), for logs. */
const char *lt_strerror(int code);

#endif
