/* The files livetally serves from web_root (widget.js, embed.html,
 * demo.html, dashboard/index.html, dashboard/dashboard.js and .css), read
 * once at start (and again on SIGHUP) with their ETag and a gzip variant
 * made then, so a request costs no disk access and no compression. */
#ifndef LIVETALLY_STATIC_FILES_H
#define LIVETALLY_STATIC_FILES_H

#include <stddef.h>

struct lt_static_file {
    const char *name;         /* "widget.js", "dashboard/dashboard.js" */
    const char *content_type; /* from the extension */
    char *data;
    size_t len;
    char *gz; /* gzip of data; NULL when it would not be smaller */
    size_t gz_len;
    char etag[24]; /* "\"<16 hex of SHA-256>\"" */
};

struct lt_static;

/* Loads the known files found in root; missing ones are logged, not fatal
 * (the API works without the widget). Never NULL. */
struct lt_static *lt_static_load(const char *root);
void lt_static_free(struct lt_static *s);

/* The file, or NULL when it was not found at load. */
const struct lt_static_file *lt_static_get(const struct lt_static *s, const char *name);

/* Replaces each "{{KEY}}" of a template with its value (values are
 * inserted as given: escape them first). keys and values have n entries.
 * Returns an lt_malloc'd string; *len gets its length. */
char *lt_template_render(const char *tpl, size_t tpl_len, const char *const *keys,
                         const char *const *values, size_t n, size_t *len);

/* HTML-escapes s (& < > " ') into out (cap bytes, NUL-terminated); returns
 * the length, or -1 when it does not fit. */
long lt_html_escape(const char *s, char *out, size_t cap);
/* The same, appended to sb (NULL s appends nothing). */
struct lt_strbuf;
void lt_html_escape_append(struct lt_strbuf *sb, const char *s);

#endif
