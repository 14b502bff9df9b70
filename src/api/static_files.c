/* Files served from web_root (see static_files.h). */
#include "livetally/api/static_files.h"

#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/base/strbuf.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

static const struct {
    const char *name;
    const char *content_type;
} known[] = {
    {"widget.js", "application/javascript; charset=utf-8"},
    {"embed.html", "text/html; charset=utf-8"},
    {"demo.html", "text/html; charset=utf-8"},
    /* the operators' dashboard, bundled by the build (web/CMakeLists.txt) */
    {"dashboard/index.html", "text/html; charset=utf-8"},
    {"dashboard/dashboard.js", "application/javascript; charset=utf-8"},
    {"dashboard/dashboard.css", "text/css; charset=utf-8"},
};

#define N_KNOWN (sizeof known / sizeof known[0])
#define LT_STATIC_MAX_BYTES (4 * 1024 * 1024)

struct lt_static {
    struct lt_static_file files[N_KNOWN];
    bool present[N_KNOWN];
};

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = lt_malloc(LT_STATIC_MAX_BYTES);
    size_t n = fread(buf, 1, LT_STATIC_MAX_BYTES, f);
    bool too_big = n == LT_STATIC_MAX_BYTES;
    fclose(f);
    if (too_big) {
        lt_free(buf);
        return NULL;
    }
    *len = n;
    return lt_realloc(buf, n ? n : 1);
}

/* gzip at the best level, once, at load. */
static char *gzip_bytes(const char *data, size_t len, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&z, (uLong)len) + 32;
    char *out = lt_malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END || *out_len >= len) {
        lt_free(out);
        return NULL;
    }
    return out;
}

static void make_etag(const char *data, size_t len, char etag[24])
{
    unsigned char md[EVP_MAX_MD_SIZE]; /* the digest's most; 8 bytes of it are used */
    unsigned int md_len = 0;
    EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL);
    static const char hex[] = "0123456789abcdef";
    etag[0] = '"';
    for (int i = 0; i < 8; i++) {
        etag[1 + 2 * i] = hex[md[i] >> 4];
        etag[2 + 2 * i] = hex[md[i] & 15];
    }
    etag[17] = '"';
    etag[18] = '\0';
}

struct lt_static *lt_static_load(const char *root)
{
    struct lt_static *s = lt_calloc(1, sizeof *s);
    for (size_t i = 0; i < N_KNOWN; i++) {
        /* A web_root longer than this cuts the path: the file is not found
         * and answers 404, with the warning below. */
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", root, known[i].name);
        struct lt_static_file *f = &s->files[i];
        f->name = known[i].name;
        f->content_type = known[i].content_type;
        f->data = read_file(path, &f->len);
        if (!f->data) {
            lt_warn("static", "%s: not found or too large; it will answer 404", path);
            continue;
        }
        s->present[i] = true;
        f->gz = gzip_bytes(f->data, f->len, &f->gz_len);
        make_etag(f->data, f->len, f->etag);
    }
    return s;
}

void lt_static_free(struct lt_static *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < N_KNOWN; i++) {
        lt_free(s->files[i].data);
        lt_free(s->files[i].gz);
    }
    lt_free(s);
}

const struct lt_static_file *lt_static_get(const struct lt_static *s, const char *name)
{
    for (size_t i = 0; i < N_KNOWN; i++)
        if (s->present[i] && strcmp(known[i].name, name) == 0)
            return &s->files[i];
    return NULL;
}

char *lt_template_render(const char *tpl, size_t tpl_len, const char *const *keys,
                         const char *const *values, size_t n, size_t *len)
{
    size_t cap = tpl_len + 256, used = 0;
    char *out = lt_malloc(cap);
    size_t i = 0;
    while (i < tpl_len) {
        const char *open = memmem(tpl + i, tpl_len - i, "{{", 2);
        size_t upto = open ? (size_t)(open - tpl) : tpl_len;
        const char *value = NULL;
        size_t skip = 0;
        if (open) {
            for (size_t k = 0; k < n; k++) {
                size_t kl = strlen(keys[k]);
                if (upto + 2 + kl + 2 <= tpl_len && memcmp(open + 2, keys[k], kl) == 0 &&
                    memcmp(open + 2 + kl, "}}", 2) == 0) {
                    value = values[k];
                    skip = kl + 4;
                    break;
                }
            }
            if (!value) {
                upto += 2; /* not one of ours: copy the braces and go on */
            }
        }
        size_t vlen = value ? strlen(value) : 0;
        while (used + (upto - i) + vlen + 1 > cap) {
            cap *= 2;
            out = lt_realloc(out, cap);
        }
        memcpy(out + used, tpl + i, upto - i);
        used += upto - i;
        i = upto;
        if (value) {
            memcpy(out + used, value, vlen);
            used += vlen;
            i += skip;
        }
    }
    out[used] = '\0';
    *len = used;
    return out;
}

void lt_html_escape_append(struct lt_strbuf *sb, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': lt_strbuf_add_str(sb, "&amp;"); break;
        case '<': lt_strbuf_add_str(sb, "&lt;"); break;
        case '>': lt_strbuf_add_str(sb, "&gt;"); break;
        case '"': lt_strbuf_add_str(sb, "&quot;"); break;
        case '\'': lt_strbuf_add_str(sb, "&#39;"); break;
        default: lt_strbuf_add_char(sb, *s); break;
        }
    }
}

long lt_html_escape(const char *s, char *out, size_t cap)
{
    struct lt_strbuf sb;
    lt_strbuf_init_fixed(&sb, out, cap);
    lt_html_escape_append(&sb, s);
    return lt_strbuf_failed(&sb) ? -1 : (long)sb.len;
}
