/* Logging to stderr, one line per message:
 *   2026-11-29T02:40:00.250Z worker[1] warn store: redis 127.0.0.1:6379: timed out
 * The process tag is set once per process (master or worker N). Messages below
 * the configured level are dropped without formatting. While a request or
 * connection is being handled, its id is appended (" req=<id>"), see
 * lt_log_set_request. */
#ifndef LIVETALLY_LOG_H
#define LIVETALLY_LOG_H

enum lt_log_level { LT_LOG_DEBUG, LT_LOG_INFO, LT_LOG_WARN, LT_LOG_ERROR };

void lt_log_set_level(enum lt_log_level level);
/* Parses "debug", "info", "warn", "error"; returns -1 for anything else. */
int lt_log_level_parse(const char *name);
/* "master" or "worker[N]"; the string is copied. */
void lt_log_set_process(const char *tag);

/* The id of the request or connection being handled, appended to every
 * line as " req=<id>" until the next call; NULL for none. The pointer is
 * kept, not the text: the caller keeps it valid until it sets another (the
 * HTTP server and WebSocket connections set it around their callbacks and
 * put back what was there before, lt_log_request). */
void lt_log_set_request(const char *id);
const char *lt_log_request(void);

void lt_log(enum lt_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define lt_debug(mod, ...) lt_log(LT_LOG_DEBUG, mod, __VA_ARGS__)
#define lt_info(mod, ...) lt_log(LT_LOG_INFO, mod, __VA_ARGS__)
#define lt_warn(mod, ...) lt_log(LT_LOG_WARN, mod, __VA_ARGS__)
#define lt_error(mod, ...) lt_log(LT_LOG_ERROR, mod, __VA_ARGS__)

#endif
