/* Spool records: encoding and decoding (see spool_record.h). */
#include "livetally/spool/spool_record.h"

#include "livetally/base/error.h"
#include "livetally/base/mem.h"

#include <string.h>
#include <zlib.h>

void lt_spool_buf_free(struct lt_spool_buf *b)
{
    lt_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void lt_spool_buf_cut(struct lt_spool_buf *b, size_t len)
{
    if (len < b->len)
        b->len = len;
}

static uint8_t *grow(struct lt_spool_buf *b, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        b->data = lt_realloc(b->data, cap);
        b->cap = cap;
    }
    uint8_t *p = b->data + b->len;
    b->len += n;
    return p;
}

static void put_u8(struct lt_spool_buf *b, uint8_t v)
{
    *grow(b, 1) = v;
}

static void put_le(struct lt_spool_buf *b, uint64_t v, int bytes)
{
    uint8_t *p = grow(b, (size_t)bytes);
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_str(struct lt_spool_buf *b, const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n > max)
        n = max;
    put_le(b, n, 2);
    if (n)
        memcpy(grow(b, n), s, n);
}

/* Starts a record: room for length and crc, then the type. Returns where
 * the record starts, for finish(). */
static size_t begin(struct lt_spool_buf *b, enum lt_spool_type type)
{
    size_t start = b->len;
    grow(b, 8);
    put_u8(b, (uint8_t)type);
    return start;
}

static void finish(struct lt_spool_buf *b, size_t start)
{
    size_t body = b->len - start - 8;
    uint8_t *p = b->data + start;
    uint32_t crc = (uint32_t)crc32(0L, p + 8, (uInt)body);
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(body >> (8 * i));
        p[4 + i] = (uint8_t)(crc >> (8 * i));
    }
}

void lt_spool_put_header(struct lt_spool_buf *b, const char *owner, const char *incarnation,
                         int64_t created_ms)
{
    size_t start = begin(b, LT_SPOOL_HEADER);
    put_str(b, LT_SPOOL_MAGIC, 8);
    put_str(b, owner, LT_SPOOL_OWNER_MAX);
    put_str(b, incarnation, LT_SPOOL_INCARNATION_MAX);
    put_le(b, (uint64_t)created_ms, 8);
    finish(b, start);
}

void lt_spool_put_event(struct lt_spool_buf *b, const struct lt_spool_event *e)
{
    size_t start = begin(b, LT_SPOOL_EVENT);
    put_str(b, e->stream, LT_STREAM_ID_MAX);
    put_u8(b, (uint8_t)e->kind);
    switch (e->kind) {
    case LT_SPOOL_VIEW:
        put_str(b, e->viewer, LT_VIEWER_ID_MAX);
        put_str(b, e->source, LT_SOURCE_ID_MAX);
        break;
    case LT_SPOOL_LIKES:
        put_str(b, e->source, LT_SOURCE_ID_MAX);
        put_le(b, (uint64_t)e->n, 8);
        break;
    case LT_SPOOL_COUNTER:
        put_str(b, e->counter, LT_SPOOL_COUNTER_MAX);
        put_le(b, (uint64_t)e->n, 8);
        break;
    case LT_SPOOL_REFUSED:
        put_le(b, (uint64_t)e->n, 8);
        put_le(b, (uint64_t)e->rejected, 8);
        break;
    }
    finish(b, start);
}

void lt_spool_put_seal(struct lt_spool_buf *b, const char *stream, const char *incarnation,
                       uint64_t seq, int64_t at_ms, uint32_t n_views)
{
    size_t start = begin(b, LT_SPOOL_SEAL);
    put_str(b, stream, LT_STREAM_ID_MAX);
    put_str(b, incarnation, LT_SPOOL_INCARNATION_MAX);
    put_le(b, seq, 8);
    put_le(b, (uint64_t)at_ms, 8);
    put_le(b, n_views, 4);
    finish(b, start);
}

void lt_spool_put_ack(struct lt_spool_buf *b, const char *stream, const char *incarnation,
                      uint64_t seq)
{
    size_t start = begin(b, LT_SPOOL_ACK);
    put_str(b, stream, LT_STREAM_ID_MAX);
    put_str(b, incarnation, LT_SPOOL_INCARNATION_MAX);
    put_le(b, seq, 8);
    finish(b, start);
}

void lt_spool_put_batch(struct lt_spool_buf *b, const struct lt_batch *batch,
                        const char *incarnation, char *const *counter_names)
{
    size_t start = begin(b, LT_SPOOL_BATCH);
    put_str(b, batch->stream, LT_STREAM_ID_MAX);
    put_str(b, incarnation, LT_SPOOL_INCARNATION_MAX);
    put_le(b, batch->seq, 8);
    put_le(b, (uint64_t)batch->at_ms, 8);
    put_le(b, (uint64_t)batch->dropped_taps, 8);
    put_le(b, (uint64_t)batch->rejected, 8);
    put_le(b, batch->n_sources, 2);
    for (size_t i = 0; i < batch->n_sources; i++) {
        put_str(b, batch->sources[i].name, LT_SOURCE_ID_MAX);
        put_le(b, (uint64_t)batch->sources[i].likes, 8);
    }
    size_t n = 0;
    for (size_t i = 0; i < batch->n_counters; i++)
        n += batch->counters[i] != 0;
    put_le(b, n, 2);
    for (size_t i = 0; i < batch->n_counters; i++) {
        if (!batch->counters[i])
            continue;
        put_str(b, counter_names[i], LT_SPOOL_COUNTER_MAX);
        put_le(b, (uint64_t)batch->counters[i], 8);
    }
    put_le(b, batch->n_views, 4);
    for (size_t i = 0; i < batch->n_views; i++) {
        put_str(b, batch->views[i].viewer, LT_VIEWER_ID_MAX);
        put_le(b, batch->views[i].source, 2);
    }
    finish(b, start);
}

void lt_spool_put_checkpoint_end(struct lt_spool_buf *b, char *const *absorbed, size_t n)
{
    size_t start = begin(b, LT_SPOOL_CHECKPOINT_END);
    put_le(b, n, 2);
    for (size_t i = 0; i < n; i++)
        put_str(b, absorbed[i], LT_SPOOL_OWNER_MAX);
    finish(b, start);
}

/* ---- decoding ---------------------------------------------------------- */

/* A bounded reader over one payload: any read past its end sets bad. */
struct rd {
    const uint8_t *p;
    size_t len, off;
    bool bad;
};

static uint64_t get_le(struct rd *r, int bytes)
{
    if (r->bad || r->len - r->off < (size_t)bytes) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[r->off + (size_t)i] << (8 * i);
    r->off += (size_t)bytes;
    return v;
}

/* Copies a string of at most max bytes into out (max + 1 bytes). A longer
 * one, or one with a NUL, is not ours: bad. */
static void get_str(struct rd *r, char *out, size_t max)
{
    size_t n = (size_t)get_le(r, 2);
    out[0] = '\0';
    if (r->bad || n > max || r->len - r->off < n || memchr(r->p + r->off, '\0', n)) {
        r->bad = true;
        return;
    }
    memcpy(out, r->p + r->off, n);
    out[n] = '\0';
    r->off += n;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void decode_payload(struct rd *r, struct lt_spool_record *rec)
{
    char magic[9];
    switch (rec->type) {
    case LT_SPOOL_HEADER:
        get_str(r, magic, 8);
        if (!r->bad && strcmp(magic, LT_SPOOL_MAGIC) != 0)
            r->bad = true;
        get_str(r, rec->owner, LT_SPOOL_OWNER_MAX);
        get_str(r, rec->incarnation, LT_SPOOL_INCARNATION_MAX);
        rec->created_ms = (int64_t)get_le(r, 8);
        break;
    case LT_SPOOL_EVENT:
        get_str(r, rec->stream, LT_STREAM_ID_MAX);
        rec->kind = (enum lt_spool_kind)get_le(r, 1);
        switch (rec->kind) {
        case LT_SPOOL_VIEW:
            get_str(r, rec->viewer, LT_VIEWER_ID_MAX);
            get_str(r, rec->source, LT_SOURCE_ID_MAX);
            break;
        case LT_SPOOL_LIKES:
            get_str(r, rec->source, LT_SOURCE_ID_MAX);
            rec->n = (int64_t)get_le(r, 8);
            break;
        case LT_SPOOL_COUNTER:
            get_str(r, rec->counter, LT_SPOOL_COUNTER_MAX);
            rec->n = (int64_t)get_le(r, 8);
            break;
        case LT_SPOOL_REFUSED:
            rec->n = (int64_t)get_le(r, 8);
            rec->rejected = (int64_t)get_le(r, 8);
            break;
        default:
            r->bad = true;
        }
        break;
    case LT_SPOOL_SEAL:
        get_str(r, rec->stream, LT_STREAM_ID_MAX);
        get_str(r, rec->incarnation, LT_SPOOL_INCARNATION_MAX);
        rec->seq = get_le(r, 8);
        rec->at_ms = (int64_t)get_le(r, 8);
        rec->n_views = (uint32_t)get_le(r, 4);
        break;
    case LT_SPOOL_ACK:
        get_str(r, rec->stream, LT_STREAM_ID_MAX);
        get_str(r, rec->incarnation, LT_SPOOL_INCARNATION_MAX);
        rec->seq = get_le(r, 8);
        break;
    case LT_SPOOL_BATCH:
        /* Read whole by lt_spool_decode_batch; the stream is checked here. */
        get_str(r, rec->stream, LT_STREAM_ID_MAX);
        get_str(r, rec->incarnation, LT_SPOOL_INCARNATION_MAX);
        rec->seq = get_le(r, 8);
        rec->at_ms = (int64_t)get_le(r, 8);
        r->off = r->len;
        break;
    case LT_SPOOL_CHECKPOINT_END: {
        size_t n = (size_t)get_le(r, 2);
        char owner[LT_SPOOL_OWNER_MAX + 1];
        for (size_t i = 0; i < n && !r->bad; i++)
            get_str(r, owner, LT_SPOOL_OWNER_MAX);
        break;
    }
    default:
        r->bad = true;
    }
    if (r->off != r->len)
        r->bad = true;
}

int lt_spool_next(const uint8_t *data, size_t len, size_t *off, struct lt_spool_record *rec)
{
    size_t at = *off;
    if (at >= len)
        return 0;
    size_t left = len - at;
    if (left < LT_SPOOL_RECORD_HEAD)
        return all_zero(data + at, left) ? 0 : LT_EPROTO;
    const uint8_t *p = data + at;
    uint32_t n = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    uint32_t crc = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                   (uint32_t)p[7] << 24;
    if (n == 0)
        return all_zero(p, left) ? 0 : LT_EPROTO;
    if (n > LT_SPOOL_RECORD_MAX || n > left - 8)
        return LT_EPROTO;
    if ((uint32_t)crc32(0L, p + 8, (uInt)n) != crc)
        return LT_EPROTO;
    memset(rec, 0, sizeof *rec);
    rec->type = (enum lt_spool_type)p[8];
    struct rd r = {p + 9, n - 1, 0, false};
    decode_payload(&r, rec);
    if (r.bad)
        return LT_EPROTO;
    rec->payload = p + 9;
    rec->payload_len = n - 1;
    *off = at + 8 + n;
    return 1;
}

int lt_spool_decode_batch(const struct lt_spool_record *rec, struct lt_spool_batch *out)
{
    memset(out, 0, sizeof *out);
    if (rec->type != LT_SPOOL_BATCH)
        return LT_EINVAL;
    struct rd r = {rec->payload, rec->payload_len, 0, false};
    struct lt_batch *b = &out->b;
    size_t ns, nc, nv;
    b->online = -1;
    get_str(&r, b->stream, LT_STREAM_ID_MAX);
    get_str(&r, out->incarnation, LT_SPOOL_INCARNATION_MAX);
    b->seq = get_le(&r, 8);
    b->at_ms = (int64_t)get_le(&r, 8);
    b->dropped_taps = (int64_t)get_le(&r, 8);
    b->rejected = (int64_t)get_le(&r, 8);
    ns = (size_t)get_le(&r, 2);
    /* Each entry takes at least its fixed bytes: a count the payload cannot
     * hold is refused before anything is allocated for it. */
    if (r.bad || ns > (r.len - r.off) / 10)
        goto bad;
    b->sources = lt_calloc(ns ? ns : 1, sizeof *b->sources);
    b->n_sources = ns;
    for (size_t i = 0; i < ns; i++) {
        get_str(&r, b->sources[i].name, LT_SOURCE_ID_MAX);
        b->sources[i].likes = (int64_t)get_le(&r, 8);
    }
    nc = (size_t)get_le(&r, 2);
    if (r.bad || nc > (r.len - r.off) / 10)
        goto bad;
    out->counters = lt_calloc(nc ? nc : 1, sizeof *out->counters);
    out->n_counters = nc;
    for (size_t i = 0; i < nc; i++) {
        get_str(&r, out->counters[i].name, LT_SPOOL_COUNTER_MAX);
        out->counters[i].value = (int64_t)get_le(&r, 8);
    }
    nv = (size_t)get_le(&r, 4);
    if (r.bad || nv > (r.len - r.off) / 4)
        goto bad;
    b->views = lt_calloc(nv ? nv : 1, sizeof *b->views);
    b->n_views = nv;
    for (size_t i = 0; i < nv; i++) {
        get_str(&r, b->views[i].viewer, LT_VIEWER_ID_MAX);
        b->views[i].source = (uint16_t)get_le(&r, 2);
        if (b->views[i].source >= ns)
            r.bad = true;
    }
    if (r.bad || r.off != r.len)
        goto bad;
    return 0;
bad:
    lt_spool_batch_free(out);
    return LT_EPROTO;
}

void lt_spool_batch_free(struct lt_spool_batch *sb)
{
    lt_free(sb->b.sources);
    lt_free(sb->b.views);
    lt_free(sb->b.counters);
    lt_free(sb->counters);
    memset(sb, 0, sizeof *sb);
    sb->b.online = -1;
}

int lt_spool_decode_absorbed(const struct lt_spool_record *rec,
                             void (*fn)(void *arg, const char *owner), void *arg)
{
    if (rec->type != LT_SPOOL_CHECKPOINT_END)
        return LT_EINVAL;
    struct rd r = {rec->payload, rec->payload_len, 0, false};
    size_t n = (size_t)get_le(&r, 2);
    for (size_t i = 0; i < n && !r.bad; i++) {
        char owner[LT_SPOOL_OWNER_MAX + 1];
        get_str(&r, owner, LT_SPOOL_OWNER_MAX);
        if (!r.bad)
            fn(arg, owner);
    }
    return r.bad ? LT_EPROTO : 0;
}
