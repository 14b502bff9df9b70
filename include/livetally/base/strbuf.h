/* Checked text building: the one way livetally writes text of several
 * pieces (response heads, handshakes, SSE preambles, log lines) instead of
 * chained snprintf into a fixed buffer.
 *
 * Every append either fits whole or is refused whole. A refusal is sticky:
 * the buffer is marked failed and every later append is refused too, so the
 * text is always a prefix made of whole appends, and a writer checks once at
 * the end (lt_strbuf_failed) and answers an error instead of sending a
 * truncated text. No size computation here can wrap: the text's length never
 * passes max, and max is at most SIZE_MAX / 4.
 *
 * Storage: the caller's array (often on the stack) and, when max is larger
 * than that array holds, heap growth through lt_mem (which aborts rather
 * than fail) up to max bytes of text. lt_strbuf_init_fixed never allocates.
 * The text is NUL-terminated whenever any storage exists.
 *
 * Ownership: a buffer that grew owns its heap block; lt_strbuf_free releases
 * it (a no-op for one that did not grow), after which the text is gone. */
#ifndef LIVETALLY_STRBUF_H
#define LIVETALLY_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lt_strbuf {
    char *data;  /* the text; the caller's storage, lt_malloc'd, or NULL */
    size_t len;  /* bytes of text (data[len] is the NUL) */
    size_t cap;  /* bytes of storage at data, the NUL included */
    size_t max;  /* the text never grows past this many bytes */
    bool heap;   /* data is ours to lt_free */
    bool failed; /* an append did not fit: it and every later one were refused */
};

/* Text in storage (cap bytes, may be NULL with cap 0), growing on the heap
 * up to max bytes of text when max >= cap. max is clamped to SIZE_MAX / 4. */
void lt_strbuf_init(struct lt_strbuf *sb, char *storage, size_t cap, size_t max);
/* Text in storage only: at most cap - 1 bytes, never allocates. */
void lt_strbuf_init_fixed(struct lt_strbuf *sb, char *storage, size_t cap);
void lt_strbuf_free(struct lt_strbuf *sb);

/* Each returns 0, or LT_ETOOLARGE when the text would pass max (nothing is
 * appended, the buffer is marked failed) or the buffer had failed before.
 * lt_strbuf_addf also refuses (LT_EINVAL, failed) a format vsnprintf cannot
 * encode. */
int lt_strbuf_add(struct lt_strbuf *sb, const void *bytes, size_t n);
int lt_strbuf_add_str(struct lt_strbuf *sb, const char *s);
int lt_strbuf_add_char(struct lt_strbuf *sb, char c);
int lt_strbuf_addf(struct lt_strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int lt_strbuf_vaddf(struct lt_strbuf *sb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
int lt_strbuf_add_int(struct lt_strbuf *sb, int64_t v);
int lt_strbuf_add_uint(struct lt_strbuf *sb, uint64_t v);

/* Appends s (n bytes, NULs allowed) as a JSON string, quotes included:
 * '"', '\\', and control bytes escaped (\n \r \t, else \u00XX, DEL too),
 * well-formed UTF-8 copied as it is, and each byte of no well-formed
 * sequence written as \ufffd, so the result is always valid JSON text
 * whatever the bytes. Refused whole like any append. */
int lt_strbuf_add_json_string(struct lt_strbuf *sb, const char *s, size_t n);

/* Drops the text after its first len bytes (len <= sb->len), so that a
 * writer of several appends can undo a half-written piece; a failure
 * stays marked. */
void lt_strbuf_cut(struct lt_strbuf *sb, size_t len);

/* The text so far ("" when there is no storage). */
const char *lt_strbuf_text(const struct lt_strbuf *sb);
static inline bool lt_strbuf_failed(const struct lt_strbuf *sb)
{
    return sb->failed;
}

#endif
