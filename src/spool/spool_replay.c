/* Replay of spool files into the state they describe (spool_replay.h). */
#include "livetally/spool/spool_replay.h"

#include "livetally/base/error.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void lt_spool_replay_init(struct lt_spool_replay *r)
{
    memset(r, 0, sizeof *r);
    lt_map_init(&r->by_stream);
}

static void free_batch(struct lt_spool_batch *sb)
{
    if (!sb)
        return;
    lt_spool_batch_free(sb);
    lt_free(sb);
}

/* Everything but the counters of records read. */
static void clear_image(struct lt_spool_replay *r)
{
    for (size_t i = 0; i < r->n_batches; i++)
        free_batch(r->batches[i]);
    for (size_t i = 0; i < r->n_pending; i++)
        free_batch(r->pending[i]);
    for (size_t i = 0; i < r->n_absorbed; i++)
        lt_free(r->absorbed[i]);
    lt_free(r->batches);
    lt_free(r->pending);
    lt_free(r->absorbed);
    lt_map_clear(&r->by_stream);
    r->batches = r->pending = NULL;
    r->absorbed = NULL;
    r->n_batches = r->cap_batches = r->n_pending = r->cap_pending = r->n_absorbed = 0;
    r->complete = false;
}

void lt_spool_replay_free(struct lt_spool_replay *r)
{
    clear_image(r);
}

static struct lt_spool_batch *pending_of(struct lt_spool_replay *r, const char *stream)
{
    size_t len = strlen(stream);
    uintptr_t at = (uintptr_t)lt_map_get(&r->by_stream, stream, len);
    if (at && r->pending[at - 1])
        return r->pending[at - 1];
    struct lt_spool_batch *p = lt_calloc(1, sizeof *p);
    snprintf(p->b.stream, sizeof p->b.stream, "%s", stream);
    p->b.online = -1;
    if (at) {
        r->pending[at - 1] = p;
        return p;
    }
    if (r->n_pending == r->cap_pending) {
        r->cap_pending = r->cap_pending ? r->cap_pending * 2 : 16;
        r->pending = lt_realloc(r->pending, r->cap_pending * sizeof *r->pending);
    }
    r->pending[r->n_pending++] = p;
    lt_map_put(&r->by_stream, stream, len, (void *)(uintptr_t)r->n_pending);
    return p;
}

static size_t source_of(struct lt_spool_batch *p, const char *name)
{
    if (!name[0])
        name = LT_DEFAULT_SOURCE;
    for (size_t i = 0; i < p->b.n_sources; i++)
        if (strcmp(p->b.sources[i].name, name) == 0)
            return i;
    p->b.sources = lt_realloc(p->b.sources, (p->b.n_sources + 1) * sizeof *p->b.sources);
    struct lt_batch_source *s = &p->b.sources[p->b.n_sources];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->likes = 0;
    return p->b.n_sources++;
}

/* Views grow by doubling: the capacity of n views is max(16, the next power
 * of two), so it need not be stored. */
static void add_view(struct lt_spool_batch *p, const char *viewer, size_t source)
{
    size_t n = p->b.n_views;
    if (n == 0 && !p->b.views)
        p->b.views = lt_malloc(16 * sizeof *p->b.views);
    else if (n >= 16 && (n & (n - 1)) == 0)
        p->b.views = lt_realloc(p->b.views, 2 * n * sizeof *p->b.views);
    struct lt_batch_view *v = &p->b.views[p->b.n_views++];
    snprintf(v->viewer, sizeof v->viewer, "%s", viewer);
    v->source = (uint16_t)source;
}

static void add_counter(struct lt_spool_batch *p, const char *name, int64_t n)
{
    for (size_t i = 0; i < p->n_counters; i++) {
        if (strcmp(p->counters[i].name, name) == 0) {
            p->counters[i].value += n;
            return;
        }
    }
    p->counters = lt_realloc(p->counters, (p->n_counters + 1) * sizeof *p->counters);
    struct lt_spool_named_counter *c = &p->counters[p->n_counters++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->value = n;
}

static void add_event(struct lt_spool_replay *r, const struct lt_spool_record *rec)
{
    struct lt_spool_batch *p = pending_of(r, rec->stream);
    switch (rec->kind) {
    case LT_SPOOL_VIEW:
        add_view(p, rec->viewer, source_of(p, rec->source));
        break;
    case LT_SPOOL_LIKES: {
        size_t at = source_of(p, rec->source); /* may move sources */
        p->b.sources[at].likes += rec->n;
        break;
    }
    case LT_SPOOL_COUNTER:
        add_counter(p, rec->counter, rec->n);
        break;
    case LT_SPOOL_REFUSED:
        p->b.dropped_taps += rec->n;
        p->b.rejected += rec->rejected;
        break;
    }
    r->events++;
}

static void push_batch(struct lt_spool_replay *r, struct lt_spool_batch *sb)
{
    if (r->n_batches == r->cap_batches) {
        r->cap_batches = r->cap_batches ? r->cap_batches * 2 : 16;
        r->batches = lt_realloc(r->batches, r->cap_batches * sizeof *r->batches);
    }
    r->batches[r->n_batches++] = sb;
}

/* As agg's seal: the batch takes every like, counter and refusal and the
 * first n_views views; the views left keep their sources (likes zeroed). */
static void seal(struct lt_spool_replay *r, const struct lt_spool_record *rec)
{
    struct lt_spool_batch *p = pending_of(r, rec->stream);
    size_t at = (uintptr_t)lt_map_get(&r->by_stream, rec->stream, strlen(rec->stream)) - 1;
    size_t take = rec->n_views < p->b.n_views ? rec->n_views : p->b.n_views;
    snprintf(p->incarnation, sizeof p->incarnation, "%s", rec->incarnation);
    p->b.seq = rec->seq;
    p->b.at_ms = rec->at_ms;
    if (take == p->b.n_views) {
        r->pending[at] = NULL;
        push_batch(r, p);
        return;
    }
    struct lt_spool_batch *rest = lt_calloc(1, sizeof *rest);
    snprintf(rest->b.stream, sizeof rest->b.stream, "%s", rec->stream);
    rest->b.online = -1;
    rest->b.n_sources = p->b.n_sources;
    rest->b.sources = lt_malloc((p->b.n_sources ? p->b.n_sources : 1) * sizeof *rest->b.sources);
    if (p->b.n_sources)
        memcpy(rest->b.sources, p->b.sources, p->b.n_sources * sizeof *rest->b.sources);
    for (size_t i = 0; i < rest->b.n_sources; i++)
        rest->b.sources[i].likes = 0;
    for (size_t i = take; i < p->b.n_views; i++)
        add_view(rest, p->b.views[i].viewer, p->b.views[i].source);
    p->b.n_views = take;
    r->pending[at] = rest;
    push_batch(r, p);
}

static void ack(struct lt_spool_replay *r, const struct lt_spool_record *rec)
{
    for (size_t i = 0; i < r->n_batches; i++) {
        struct lt_spool_batch *sb = r->batches[i];
        if (sb->b.seq == rec->seq && strcmp(sb->b.stream, rec->stream) == 0 &&
            strcmp(sb->incarnation, rec->incarnation) == 0) {
            free_batch(sb);
            memmove(&r->batches[i], &r->batches[i + 1], (r->n_batches - i - 1) * sizeof *r->batches);
            r->n_batches--;
            return;
        }
    }
}

static void on_absorbed(void *arg, const char *owner)
{
    struct lt_spool_replay *r = arg;
    r->absorbed = lt_realloc(r->absorbed, (r->n_absorbed + 1) * sizeof *r->absorbed);
    r->absorbed[r->n_absorbed++] = lt_strdup(owner);
}

int lt_spool_replay_record(struct lt_spool_replay *r, const struct lt_spool_record *rec)
{
    r->records++;
    switch (rec->type) {
    case LT_SPOOL_HEADER:
        clear_image(r);
        break;
    case LT_SPOOL_EVENT:
        add_event(r, rec);
        break;
    case LT_SPOOL_SEAL:
        seal(r, rec);
        break;
    case LT_SPOOL_ACK:
        ack(r, rec);
        break;
    case LT_SPOOL_BATCH: {
        struct lt_spool_batch *sb = lt_malloc(sizeof *sb);
        if (lt_spool_decode_batch(rec, sb) != 0) {
            lt_free(sb);
            return LT_EPROTO;
        }
        push_batch(r, sb);
        break;
    }
    case LT_SPOOL_CHECKPOINT_END:
        if (lt_spool_decode_absorbed(rec, on_absorbed, r) != 0)
            return LT_EPROTO;
        r->complete = true;
        break;
    }
    return 0;
}

int lt_spool_replay_bytes(struct lt_spool_replay *r, const uint8_t *data, size_t len,
                          size_t *stop_at)
{
    size_t off = 0;
    struct lt_spool_record rec;
    for (;;) {
        size_t at = off;
        int rc = lt_spool_next(data, len, &off, &rec);
        if (rc == 0)
            return 0;
        if (rc < 0 || lt_spool_replay_record(r, &rec) != 0) {
            *stop_at = at;
            return LT_EPROTO;
        }
    }
}

/* ---- files ------------------------------------------------------------- */

int lt_spool_file_name(char *out, size_t cap, const char *dir, const char *owner,
                       unsigned segment)
{
    int n = snprintf(out, cap, "%s/%s.%08u.spool", dir, owner, segment);
    return n > 0 && (size_t)n < cap ? 0 : LT_ETOOLARGE;
}

bool lt_spool_parse_name(const char *name, char *owner, unsigned *segment)
{
    size_t len = strlen(name);
    static const char suffix[] = ".spool";
    size_t sl = sizeof suffix - 1;
    /* owner "." 8 digits ".spool" */
    if (len < 1 + 1 + 8 + sl || strcmp(name + len - sl, suffix) != 0)
        return false;
    const char *digits = name + len - sl - 8;
    if (digits[-1] != '.')
        return false;
    unsigned v = 0;
    for (int i = 0; i < 8; i++) {
        if (digits[i] < '0' || digits[i] > '9')
            return false;
        v = v * 10 + (unsigned)(digits[i] - '0');
    }
    size_t olen = (size_t)(digits - 1 - name);
    if (olen == 0 || olen > LT_SPOOL_OWNER_MAX || v == 0)
        return false;
    memcpy(owner, name, olen);
    owner[olen] = '\0';
    *segment = v;
    return true;
}

static int cmp_unsigned(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

int lt_spool_segments(const char *dir, const char *owner, unsigned **segments)
{
    *segments = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return LT_EIO;
    size_t n = 0, cap = 0;
    struct dirent *e;
    char name[LT_SPOOL_OWNER_MAX + 1];
    unsigned seg;
    while ((e = readdir(d))) {
        if (!lt_spool_parse_name(e->d_name, name, &seg) || strcmp(name, owner) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            *segments = lt_realloc(*segments, cap * sizeof **segments);
        }
        (*segments)[n++] = seg;
    }
    closedir(d);
    if (n)
        qsort(*segments, n, sizeof **segments, cmp_unsigned);
    return (int)n;
}

/* The whole file, or NULL (logged). */
static uint8_t *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        lt_error("spool", "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = lt_malloc(size ? size : 1);
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    *len = got; /* a file that shrank meanwhile: what was there */
    return data;
}

int lt_spool_replay_owner(struct lt_spool_replay *r, const char *dir, const char *owner)
{
    unsigned *segs;
    int n = lt_spool_segments(dir, owner, &segs);
    if (n < 0) {
        lt_error("spool", "cannot read %s: %s", dir, strerror(errno));
        return LT_EIO;
    }
    int rc = 0;
    /* The newest segment with a complete checkpoint holds the whole image;
     * a newer one was cut short during its checkpoint. */
    for (int i = n - 1; i >= 0; i--) {
        char path[4096];
        if (lt_spool_file_name(path, sizeof path, dir, owner, segs[i]) != 0)
            continue;
        size_t len = 0;
        uint8_t *data = read_file(path, &len);
        if (!data) {
            rc = LT_EIO;
            break;
        }
        clear_image(r);
        size_t stop = 0;
        int torn = lt_spool_replay_bytes(r, data, len, &stop);
        lt_free(data);
        if (torn)
            lt_warn("spool", "%s: torn record at offset %zu (of %zu bytes); replay stops there",
                    path, stop, len);
        if (r->complete)
            break;
        lt_warn("spool", "%s: its checkpoint is not complete; %s", path,
                i > 0 ? "reading the segment before it" : "nothing of this owner is replayed");
        clear_image(r);
    }
    lt_free(segs);
    return rc;
}

int lt_spool_remove_owner(const char *dir, const char *owner)
{
    unsigned *segs;
    int n = lt_spool_segments(dir, owner, &segs);
    int removed = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        if (lt_spool_file_name(path, sizeof path, dir, owner, segs[i]) == 0 && unlink(path) == 0)
            removed++;
    }
    lt_free(segs);
    return removed;
}
