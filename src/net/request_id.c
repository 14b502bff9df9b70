/* Request ids (see request_id.h). */
#include "livetally/net/request_id.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static uint32_t prefix;
static uint32_t counter;
static bool seeded;

bool lt_request_id_valid(const char *s, size_t len)
{
    if (len == 0 || len > LT_REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok)
            return false;
    }
    return true;
}

void lt_request_id_init(uint64_t seed)
{
    if (seed == 0) {
        /* getrandom cannot fail for 8 bytes once the pool is ready; if it
         * does, time and pid still tell processes apart well enough for
         * log correlation. */
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
        }
    }
    prefix = (uint32_t)(seed ^ (seed >> 32));
    counter = 0;
    seeded = true;
}

size_t lt_request_id_generate(char out[LT_REQUEST_ID_MAX + 1])
{
    static const char hex[] = "0123456789abcdef";
    if (!seeded)
        lt_request_id_init(0);
    counter++;
    if (counter == 0) { /* 2^32 requests later: a new prefix, never a repeat */
        lt_request_id_init(0);
        counter = 1;
    }
    uint64_t v = ((uint64_t)prefix << 32) | counter;
    for (int i = LT_REQUEST_ID_GENERATED - 1; i >= 0; i--) {
        out[i] = hex[v & 0xf];
        v >>= 4;
    }
    out[LT_REQUEST_ID_GENERATED] = '\0';
    return LT_REQUEST_ID_GENERATED;
}

size_t lt_request_id_choose(bool trusted, const char *value, size_t value_len,
                            char out[LT_REQUEST_ID_MAX + 1])
{
    if (trusted && value && lt_request_id_valid(value, value_len)) {
        memcpy(out, value, value_len);
        out[value_len] = '\0';
        return value_len;
    }
    return lt_request_id_generate(out);
}
