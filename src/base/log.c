/* One-line log records on stderr (see log.h). */
#include "livetally/base/log.h"

#include "livetally/base/clock.h"
#include "livetally/base/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum lt_log_level min_level = LT_LOG_INFO;
/* Longest log record, the newline included. */
#define LT_LOG_MAX (64 * 1024)

/* "worker[N]" and "master" fit; a longer tag would be cut (harmless). */
static char process_tag[32] = "livetally";

/* See lt_log_set_request. */
static const char *request_id;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void lt_log_set_level(enum lt_log_level level)
{
    min_level = level;
}

int lt_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

void lt_log_set_process(const char *tag)
{
    snprintf(process_tag, sizeof process_tag, "%s", tag);
}

void lt_log_set_request(const char *id)
{
    request_id = id;
}

const char *lt_log_request(void)
{
    return request_id;
}

static void record_prefix(struct lt_strbuf *line, enum lt_log_level level, const char *module)
{
    char stamp[32]; /* lt_format_rfc3339's documented minimum */
    lt_strbuf_add(line, stamp, lt_format_rfc3339(lt_wall_ms(), 1, stamp, sizeof stamp));
    lt_strbuf_addf(line, " %s %s %s: ", process_tag, level_names[level], module);
}

void lt_log(enum lt_log_level level, const char *module, const char *fmt, ...)
{
    if (level < min_level)
        return;
    /* Format the whole record first and write it with one write(2), so lines
     * from several workers sharing stderr never interleave. A record longer
     * than the stack's 2 KB grows on the heap up to LT_LOG_MAX; a message
     * longer still is replaced by a note saying so (the prefix, under 100
     * bytes with our module names, fits the stack). */
    char stack[2048];
    struct lt_strbuf line;
    lt_strbuf_init(&line, stack, sizeof stack, LT_LOG_MAX);
    record_prefix(&line, level, module);
    va_list ap;
    va_start(ap, fmt);
    int rc = lt_strbuf_vaddf(&line, fmt, ap);
    va_end(ap);
    if (rc == 0 && request_id)
        rc = lt_strbuf_addf(&line, " req=%s", request_id);
    if (rc == 0)
        rc = lt_strbuf_add_char(&line, '\n');
    if (rc != 0) {
        lt_strbuf_free(&line);
        lt_strbuf_init_fixed(&line, stack, sizeof stack);
        record_prefix(&line, level, module);
        lt_strbuf_add_str(&line, "(a message too long to log)\n");
    }
    ssize_t w = write(STDERR_FILENO, lt_strbuf_text(&line), line.len);
    (void)w;
    lt_strbuf_free(&line);
}
