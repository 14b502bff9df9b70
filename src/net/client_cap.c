/* Per-client connection counts (see client_cap.h). The count lives in the
 * map's value pointer: no allocation besides the entry, and the entry is
 * removed at 0 so a flood of distinct addresses leaves nothing behind. */
#include "livetally/net/client_cap.h"

#include "livetally/base/log.h"

#include <stdint.h>
#include <string.h>

void lt_client_cap_init(struct lt_client_cap *cap)
{
    lt_map_init(&cap->counts);
}

void lt_client_cap_free(struct lt_client_cap *cap)
{
    lt_map_clear(&cap->counts);
}

size_t lt_client_cap_add(struct lt_client_cap *cap, const char *addr)
{
    size_t len = strlen(addr);
    uintptr_t n = (uintptr_t)lt_map_get(&cap->counts, addr, len) + 1;
    lt_map_put(&cap->counts, addr, len, (void *)n);
    return (size_t)n;
}

void lt_client_cap_drop(struct lt_client_cap *cap, const char *addr)
{
    size_t len = strlen(addr);
    uintptr_t n = (uintptr_t)lt_map_get(&cap->counts, addr, len);
    if (n == 0) {
        lt_error("http", "connection count for %s dropped below 0", addr);
        return;
    }
    if (n == 1)
        lt_map_remove(&cap->counts, addr, len);
    else
        lt_map_put(&cap->counts, addr, len, (void *)(n - 1));
}

size_t lt_client_cap_count(const struct lt_client_cap *cap, const char *addr)
{
    return (size_t)(uintptr_t)lt_map_get(&cap->counts, addr, strlen(addr));
}

bool lt_client_cap_over(size_t count, int limit)
{
    return limit > 0 && count > (size_t)limit;
}
