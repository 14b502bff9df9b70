#include "livetally/base/error.h"

const char *lt_strerror(int code)
{
    switch (code) {
    case LT_OK: return "ok";
    case LT_EINVAL: return "invalid input";
    case LT_ENOMEM: return "out of memory";
    case LT_EIO: return "i/o error";
    case LT_ETIMEDOUT: return "timed out";
    case LT_EDISCONNECTED: return "disconnected";
    case LT_ENOTFOUND: return "not found";
    case LT_EAGAIN: return "try again later";
    case LT_ETOOLARGE: return "too large";
    case LT_EPROTO: return "protocol error";
    case LT_ECLOSED: return "closed";
    default: return "unknown error";
    }
}
