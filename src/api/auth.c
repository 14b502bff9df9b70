/* Operator tokens, partner keys and the metrics token: bearer credentials compared in constant
 * time (see api.h). Nothing here logs, and no answer repeats a credential. */
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

static bool secret_matches(const unsigned char given[32], const char *secret)
{
    unsigned char known[32]; /* SHA-256 digest */
    digest(secret, strlen(secret), known);
    return CRYPTO_memcmp(given, known, 32) == 0;
}

bool lt_auth_token_ok(const struct lt_config *cfg, const char *token, size_t len)
{
    unsigned char given[32]; /* SHA-256 digest */
    digest(token, len, given);
    int match = 0;
    /* Every token is compared, whichever matches: no early exit. */
    for (size_t i = 0; i < cfg->operator_tokens.n; i++)
        match |= secret_matches(given, cfg->operator_tokens.items[i]);
    return match != 0;
}

/* The credential of "Authorization: Bearer <credential>", or NULL when the
 * header is missing or is not a bearer one with something after it. */
static const char *bearer(const struct lt_request *req, size_t *len)
{
    const struct lt_http_header *h = lt_http_find_header(&req->head, "Authorization");
    if (!h || h->value_len <= 7 || strncasecmp(h->value, "Bearer ", 7) != 0)
        return NULL;
    *len = h->value_len - 7;
    return h->value + 7;
}

bool lt_auth_operator_ok(struct lt_app *app, const struct lt_request *req)
{
    size_t len;
    const char *token = bearer(req, &len);
    return token && lt_auth_token_ok(app->cfg, token, len);
}

static void unauthorized(struct lt_request *req, const char *message)
{
    lt_response_header(req, "WWW-Authenticate", "Bearer");
    lt_respond_error(req, 401, "unauthorized", message);
}

bool lt_auth_operator(struct lt_app *app, struct lt_request *req)
{
    if (app->cfg->operator_tokens.n == 0) {
        lt_respond_error(req, 403, "forbidden", "no operator tokens are configured");
        return false;
    }
    size_t len;
    const char *token = bearer(req, &len);
    if (!token) {
        unauthorized(req, "operator endpoints need Authorization: Bearer <operator token>");
        return false;
    }
    if (!lt_auth_token_ok(app->cfg, token, len)) {
        unauthorized(req, "the bearer token is not an operator token");
        return false;
    }
    return true;
}

bool lt_auth_metrics(struct lt_app *app, struct lt_request *req)
{
    const struct lt_config *cfg = app->cfg;
    if (!cfg->metrics_token_env)
        return true;
    size_t len;
    const char *token = bearer(req, &len);
    if (!token) {
        unauthorized(req, "/metrics needs Authorization: Bearer <metrics token>");
        return false;
    }
    unsigned char given[32]; /* SHA-256 digest */
    digest(token, len, given);
    /* A loaded config always has the token when it names a variable
     * (config.c refuses it otherwise); a NULL here still opens nothing. */
    if (!cfg->metrics_token || !secret_matches(given, cfg->metrics_token)) {
        unauthorized(req, "the bearer token is not the metrics token");
        return false;
    }
    return true;
}

bool lt_auth_source(struct lt_app *app, struct lt_request *req, const char *source)
{
    const struct lt_source_key *s = lt_config_find_source(app->cfg, source, strlen(source));
    if (!s || !s->key) {
        lt_respond_error(req, 403, "forbidden", "no partner key is configured for this source");
        return false;
    }
    size_t len;
    const char *key = bearer(req, &len);
    if (!key) {
        unauthorized(req, "partner reports need Authorization: Bearer <the source's key>");
        return false;
    }
    unsigned char given[32]; /* SHA-256 digest */
    digest(key, len, given);
    if (!secret_matches(given, s->key)) {
        unauthorized(req, "the bearer token is not this source's key");
        return false;
    }
    return true;
}
