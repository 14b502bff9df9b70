/* The checks of single config values: hosts and ports, env variable names,
 * counter ids, origins, log levels, CIDR blocks (config_internal.h). */
#include "livetally/base/error.h"
#include "livetally/base/ids.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"

#include "config_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_lower_or_digit(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Counter names follow the source id rule of the contract: they end up in
 * Redis hash fields and JSON names, so they stay short and need no escaping. */
bool conf_is_id(const char *s)
{
    return lt_valid_source_id(s, strlen(s));
}

static bool is_host_name(const char *s, size_t n)
{
    if (n < 1 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!is_lower_or_digit(c) && !(c >= 'A' && c <= 'Z') && c != '-' && c != '.' && c != '_')
            return false;
    }
    return true;
}

static bool is_ipv6(const char *s, size_t n)
{
    char buf[INET6_ADDRSTRLEN + 8]; /* n >= sizeof buf is refused */
    unsigned char addr[16];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return inet_pton(AF_INET6, buf, addr) == 1;
}

/* A port is digits only: strtol would also take " +8080" or "8080abc". */
static bool parse_port(const char *s, long long min, long long max, int *port, char *why,
                       size_t whylen)
{
    long long n = 0;
    size_t len = strlen(s);
    if (len == 0 || len > 5 || strspn(s, "0123456789") != len) {
        snprintf(why, whylen, "has no valid port (HOST:PORT, port %lld..%lld)", min, max);
        return false;
    }
    for (; *s; s++)
        n = n * 10 + (*s - '0');
    if (n < min || n > max) {
        snprintf(why, whylen, "has port %lld outside %lld..%lld", n, min, max);
        return false;
    }
    *port = (int)n;
    return true;
}

/* HOST:PORT or [IPv6]:PORT. On success *host (when asked for) is a new
 * string without brackets, ready for getaddrinfo. */
bool conf_parse_host_port(const char *s, long long pmin, long long pmax, char **host, int *port,
                            char *why, size_t whylen)
{
    const char *h = s, *colon;
    size_t hlen;
    int p = 0;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') {
            snprintf(why, whylen, "is not [IPv6]:PORT");
            return false;
        }
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
        if (!is_ipv6(h, hlen)) {
            snprintf(why, whylen, "has an invalid IPv6 address");
            return false;
        }
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            snprintf(why, whylen, "is not HOST:PORT (the port is missing)");
            return false;
        }
        hlen = (size_t)(colon - s);
        if (memchr(s, ':', hlen)) {
            snprintf(why, whylen, "needs brackets around an IPv6 address, as in [::1]:8080");
            return false;
        }
        if (!is_host_name(s, hlen)) {
            snprintf(why, whylen, "has an invalid host");
            return false;
        }
    }
    if (!parse_port(colon + 1, pmin, pmax, &p, why, whylen))
        return false;
    if (host)
        *host = lt_strndup(h, hlen);
    if (port)
        *port = p;
    return true;
}

bool conf_check_host(const char *s, char *why, size_t whylen)
{
    size_t n = strlen(s);
    if (strchr(s, ':') ? is_ipv6(s, n) : is_host_name(s, n))
        return true;
    snprintf(why, whylen, "is not a host name or IP address");
    return false;
}

/* A seed node of redis.cluster: HOST:PORT or [IPv6]:PORT, port 1..65535. */
bool conf_check_cluster_seed(const char *s, char *why, size_t whylen)
{
    return conf_parse_host_port(s, 1, 65535, NULL, NULL, why, whylen);
}

bool conf_check_env_name(const char *s, char *why, size_t whylen)
{
    bool ok = (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_';
    for (const char *c = s; ok && *c; c++)
        ok = (*c >= 'A' && *c <= 'Z') || is_lower_or_digit(*c) || *c == '_';
    if (!ok)
        snprintf(why, whylen, "is not an environment variable name (letters, digits, _)");
    return ok;
}

bool conf_check_counter(const char *s, char *why, size_t whylen)
{
    /* The built-in counts and the names the API already uses for them. */
    static const char *const reserved[] = {"view", "like", "views", "likes", "online", "uniques"};
    if (!conf_is_id(s)) {
        snprintf(why, whylen, "is not a valid counter name (" ID_RULE ")");
        return false;
    }
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        if (strcmp(s, reserved[i]) == 0) {
            snprintf(why, whylen, "is reserved for a built-in count");
            return false;
        }
    }
    return true;
}

/* An origin as browsers send it: scheme://host[:port], lowercase, nothing
 * after. The HTTP layer compares origins byte for byte, so an entry with a
 * path or capitals would never match; better to say so at start-up. */
bool conf_check_origin(const char *s, char *why, size_t whylen)
{
    const char *host, *end;
    size_t hlen;

    if (strcmp(s, "*") == 0)
        return true;
    if (strncmp(s, "http://", 7) == 0)
        host = s + 7;
    else if (strncmp(s, "https://", 8) == 0)
        host = s + 8;
    else {
        snprintf(why, whylen, "is not an origin: \"*\" or http:// or https:// expected");
        return false;
    }
    if (host[strcspn(host, "/?#")] != '\0') {
        snprintf(why, whylen, "is not an origin: scheme://host[:port] with no path or slash");
        return false;
    }
    if (host[0] == '[') {
        end = strchr(host, ']');
        if (!end || !is_ipv6(host + 1, (size_t)(end - host - 1))) {
            snprintf(why, whylen, "is not an origin: invalid IPv6 address");
            return false;
        }
        end++;
    } else {
        end = host + strcspn(host, ":");
        hlen = (size_t)(end - host);
        if (!is_host_name(host, hlen)) {
            snprintf(why, whylen, "is not an origin: invalid host");
            return false;
        }
        for (const char *c = host; c < end; c++) {
            if (*c >= 'A' && *c <= 'Z') {
                snprintf(why, whylen, "is not an origin: browsers send it in lowercase");
                return false;
            }
        }
    }
    if (*end == ':') {
        int port;
        return parse_port(end + 1, 1, 65535, &port, why, whylen);
    }
    if (*end != '\0') {
        snprintf(why, whylen, "is not an origin: invalid host");
        return false;
    }
    return true;
}

bool conf_check_log_level(const char *s, char *why, size_t whylen)
{
    if (lt_log_level_parse(s) >= 0)
        return true;
    snprintf(why, whylen, "is not one of debug, info, warn, error");
    return false;
}

bool conf_check_log_format(const char *s, char *why, size_t whylen)
{
    if (lt_log_format_parse(s) >= 0)
        return true;
    snprintf(why, whylen, "is not one of text, json");
    return false;
}

bool conf_check_spool_fsync(const char *s, char *why, size_t whylen)
{
    if (strcmp(s, "always") == 0 || strcmp(s, "everysec") == 0 || strcmp(s, "no") == 0)
        return true;
    snprintf(why, whylen, "is not one of always, everysec, no");
    return false;
}

bool conf_check_nonempty(const char *s, char *why, size_t whylen)
{
    if (s[0])
        return true;
    snprintf(why, whylen, "is empty");
    return false;
}

/* "10.0.0.0/8", "::1", "fe80::/10". Host bits after the prefix are refused
 * rather than masked: "10.1.2.3/8" is more likely a typo than a wish. */
bool conf_parse_cidr(const char *s, struct lt_cidr *out, char *why, size_t whylen)
{
    char buf[INET6_ADDRSTRLEN + 8], net[INET6_ADDRSTRLEN]; /* alen is checked; net: inet_ntop */
    unsigned char masked[16];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    int max_len;

    memset(out, 0, sizeof *out);
    if (alen == 0 || alen >= sizeof buf)
        goto bad;
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        max_len = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        max_len = 128;
    } else {
        goto bad;
    }
    out->prefix_len = max_len;
    if (slash) {
        const char *p = slash + 1;
        size_t plen = strlen(p);
        if (plen < 1 || plen > 3 || strspn(p, "0123456789") != plen || atoi(p) > max_len) {
            snprintf(why, whylen, "has a prefix length outside 0..%d", max_len);
            return false;
        }
        out->prefix_len = atoi(p);
    }
    memcpy(masked, out->addr, sizeof masked);
    for (int bit = out->prefix_len; bit < max_len; bit++)
        masked[bit / 8] &= (unsigned char)~(0x80 >> (bit % 8));
    if (memcmp(masked, out->addr, sizeof masked) != 0) {
        inet_ntop(out->family, masked, net, sizeof net);
        snprintf(why, whylen, "has bits set after the prefix (did you mean %s/%d?)", net,
                 out->prefix_len);
        return false;
    }
    return true;
bad:
    snprintf(why, whylen, "is not an IP address or CIDR block");
    return false;
}
