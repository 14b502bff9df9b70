/* Operator bearer tokens, compared in constant time. */
#include "livetally/conf/config.h"
#include "livetally/api/api.h"
#include "livetally/api/app.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

/* Comparing SHA-256 digests with CRYPTO_memcmp keeps the time independent of
 * where the strings differ and of their lengths. */
static void digest(const char *s, size_t len, unsigned char out[32])
{
    unsigned int n = 0;
    EVP_Digest(s, len, out, &n, EVP_sha256(), NULL);
}

bool lt_auth_token_ok(const struct lt_config *cfg, const char *token, size_t len)
{
    unsigned char given[32], known[32]; /* SHA-256 digests */
    digest(token, len, given);
    int match = 0;
    for (size_t i = 0; i < cfg->operator_tokens.n; i++) {
        const char *t = cfg->operator_tokens.items[i];
        digest(t, strlen(t), known);
        match |= CRYPTO_memcmp(given, known, sizeof given) == 0;
    }
    return match != 0;
}

bool lt_auth_operator(struct lt_app *app, struct lt_request *req)
{
    const struct lt_config *cfg = app->cfg;
    const struct lt_http_header *h = lt_http_find_header(&req->head, "Authorization");
    if (!h) {
        lt_response_header(req, "WWW-Authenticate", "Bearer");
        lt_respond_error(req, 401, "unauthorized", "operator endpoints need a bearer token");
        return false;
    }
    if (cfg->operator_tokens.n == 0) {
        lt_respond_error(req, 403, "forbidden", "no operator tokens are configured");
        return false;
    }
    if (h->value_len < 7 || strncasecmp(h->value, "Bearer ", 7) != 0) {
        lt_response_header(req, "WWW-Authenticate", "Bearer");
        lt_respond_error(req, 401, "unauthorized", "use Authorization: Bearer <token>");
        return false;
    }
    int match = lt_auth_token_ok(cfg, h->value + 7, h->value_len - 7);
    if (!match) {
        lt_respond_error(req, 403, "forbidden", "the bearer token is not an operator token");
        return false;
    }
    return true;
}

bool lt_auth_operator_ok(struct lt_app *app, const struct lt_request *req)
{
    const struct lt_config *cfg = app->cfg;
    const struct lt_http_header *h = lt_http_find_header(&req->head, "Authorization");
    if (!h || cfg->operator_tokens.n == 0 || h->value_len < 7 ||
        strncasecmp(h->value, "Bearer ", 7) != 0)
        return false;
    return lt_auth_token_ok(cfg, h->value + 7, h->value_len - 7);
}
