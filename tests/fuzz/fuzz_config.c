/* Fuzz target for the config loader: any bytes as a config file. The loader
 * must fail with a message or succeed, never crash or leak. */
#include "livetally/conf/config.h"

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lt_config cfg;
    struct sockaddr_in6 sin6;
    char err[512];

    if (lt_config_load_string(&cfg, "fuzz.json", (const char *)data, size, err, sizeof err) != 0)
        return 0;
    /* Whatever prefixes got in, matching them must stay in bounds. */
    memset(&sin6, 0, sizeof sin6);
    sin6.sin6_family = AF_INET6;
    memcpy(&sin6.sin6_addr, data, size < 16 ? size : 16);
    lt_config_is_trusted_proxy(&cfg, (const struct sockaddr *)&sin6);
    lt_config_has_counter(&cfg, (const char *)data, size < 32 ? size : 32);
    lt_config_free(&cfg);
    return 0;
}
