/* One-line log records on stderr (see log.h). */
#include "livetally/base/log.h"

#include "livetally/base/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum lt_log_level min_level = LT_LOG_INFO;
static char process_tag[32] = "livetally";

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

void lt_log(enum lt_log_level level, const char *module, const char *fmt, ...)
{
    if (level < min_level)
        return;
    /* Format the whole record first and write it with one write(2), so lines
     * from several workers sharing stderr never interleave. */
    char line[2048];
    size_t n = lt_format_rfc3339(lt_wall_ms(), 1, line, sizeof line);
    int k = snprintf(line + n, sizeof line - n, " %s %s %s: ", process_tag, level_names[level],
                     module);
    if (k > 0)
        n += (size_t)k;
    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (k > 0)
        n += (size_t)k;
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
