/* Logging to stderr, one record per line, as text (the default):
 *   2026-11-29T02:40:00.250Z worker[1] warn store: redis 127.0.0.1:6379: timed out
 * or as JSON lines (config log_format "json"), one object per line:
 *   {"ts":"2026-11-29T02:40:00.250Z","level":"warn","proc":"worker[1]",
 *    "module":"store","msg":"redis 127.0.0.1:6379: timed out"}
 * The process tag is set once per process (master or worker N). Messages below
 * the configured level are dropped without formatting. While a request or
 * connection is being handled, its id is added (text: " req=<id>" at the
 * end; JSON: a "req" field), see lt_log_set_request. */
#ifndef LIVETALLY_LOG_H
#define LIVETALLY_LOG_H

#include <stddef.h>
#include <stdint.h>

struct lt_strbuf;

enum lt_log_level { LT_LOG_DEBUG, LT_LOG_INFO, LT_LOG_WARN, LT_LOG_ERROR };
enum lt_log_format { LT_LOG_TEXT, LT_LOG_JSON };

void lt_log_set_level(enum lt_log_level level);
/* Parses "debug", "info", "warn", "error"; returns -1 for anything else. */
int lt_log_level_parse(const char *name);
void lt_log_set_format(enum lt_log_format format);
/* Parses "text", "json"; returns -1 for anything else. */
int lt_log_format_parse(const char *name);
/* Applies a config's log_level and log_format by name (at start-up and on
 * every reload, master and workers alike); a NULL or unknown name leaves
 * that setting as it is (the config checked them already). */
void lt_log_configure(const char *level, const char *format);
/* "master" or "worker[N]"; the string is copied. */
void lt_log_set_process(const char *tag);

/* The id of the request or connection being handled, added to every
 * line until the next call; NULL for none. The pointer is kept, not the
 * text: the caller keeps it valid until it sets another (the HTTP server
 * and WebSocket connections set it around their callbacks and put back
 * what was there before, lt_log_request). */
void lt_log_set_request(const char *id);
const char *lt_log_request(void);

void lt_log(enum lt_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define lt_debug(mod, ...) lt_log(LT_LOG_DEBUG, mod, __VA_ARGS__)
#define lt_info(mod, ...) lt_log(LT_LOG_INFO, mod, __VA_ARGS__)
#define lt_warn(mod, ...) lt_log(LT_LOG_WARN, mod, __VA_ARGS__)
#define lt_error(mod, ...) lt_log(LT_LOG_ERROR, mod, __VA_ARGS__)

/* One record's parts; lt_log fills one per call. msg is msg_len bytes (any
 * bytes: JSON escapes them), the strings are NUL-terminated, req may be
 * NULL. */
struct lt_log_record {
    int64_t wall_ms;
    const char *proc;
    enum lt_log_level level;
    const char *module;
    const char *msg;
    size_t msg_len;
    const char *req;
};

/* Appends the record's line in format f, newline included. Returns 0, or
 * non-zero when line refused it (too long; see strbuf.h) or the level is out
 * of range. What lt_log writes; exposed for the tests. */
int lt_log_render(struct lt_strbuf *line, enum lt_log_format f, const struct lt_log_record *r);

#endif
