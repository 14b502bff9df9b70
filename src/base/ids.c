/* Identifier validation (see ids.h). */
#include "livetally/base/ids.h"

#include <openssl/evp.h>
#include <string.h>

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool lt_valid_stream_id(const char *s, size_t len)
{
    if (len < 1 || len > LT_STREAM_ID_MAX || s[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alnum(c) && c != '_' && c != '-' && c != '.')
            return false;
    }
    return true;
}

bool lt_valid_series_id(const char *s, size_t len)
{
    return lt_valid_stream_id(s, len);
}

bool lt_valid_source_id(const char *s, size_t len)
{
    if (len < 1 || len > LT_SOURCE_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool lt_valid_viewer_id(const char *s, size_t len)
{
    if (len < 8 || len > LT_VIEWER_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alnum(c) && c != '_' && c != '-')
            return false;
    }
    return true;
}

void lt_derive_viewer(const char *addr, const char *user_agent, size_t ua_len, char out[35])
{
    unsigned char md[EVP_MAX_MD_SIZE]; /* the digest's most; 16 bytes of it are used */
    unsigned int md_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, addr, strlen(addr));
    EVP_DigestUpdate(ctx, "\n", 1);
    if (user_agent)
        EVP_DigestUpdate(ctx, user_agent, ua_len);
    EVP_DigestFinal_ex(ctx, md, &md_len);
    EVP_MD_CTX_free(ctx);
    static const char hex[] = "0123456789abcdef";
    out[0] = 'a';
    out[1] = '-';
    for (int i = 0; i < 16; i++) {
        out[2 + 2 * i] = hex[md[i] >> 4];
        out[3 + 2 * i] = hex[md[i] & 15];
    }
    out[34] = '\0';
}
