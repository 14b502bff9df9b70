/* GET /v1/streams/{id}/report at the edge: the report model (what the
 * handler, api_report.c, gathers from the store) and its three wire forms,
 * JSON, CSV and HTML. No sockets and no Redis: the unit tests call these
 * directly.
 *
 * JSON: one object whose LAST field is "sha256", the hex SHA-256 of the
 * document written without it: the body's bytes up to (not including)
 * `,"sha256"`, followed by `}` (README.md, "The report").
 * CSV (RFC 4180, CRLF): one table, header
 * `section,key,time,value,views,likes,uniques,online`; a row's section says
 * which columns it fills (README.md); both keep English keys whatever the
 * locale. HTML: a printable page without scripts, its words in the locale's
 * language (report_words.h), every figure exact and in the display form of
 * the locale, a per-minute chart as inline SVG; every text from users
 * escaped. */
#ifndef LIVETALLY_REPORT_OUT_H
#define LIVETALLY_REPORT_OUT_H

#include "livetally/base/display.h"
#include "livetally/store/store.h"
#include "livetally/store/timeseries.h"
#include "livetally/store/totals.h"

#include <stddef.h>
#include <stdint.h>

struct lt_strbuf;

enum lt_report_format { LT_REPORT_JSON, LT_REPORT_CSV, LT_REPORT_HTML };

/* "json" | "csv" | "html" -> 0 with *out set, else -1. */
int lt_report_format_parse(const char *s, size_t len, enum lt_report_format *out);
const char *lt_report_format_name(enum lt_report_format f);

/* The counting method's figures (the configuration the stream was counted
 * with, as the server runs now). */
struct lt_report_method {
    int dedup_seconds;
    int likes_per_viewer_rate;
    int likes_per_viewer_burst;
    int likes_per_client_rate;
    int likes_per_client_burst;
};

/* Everything a report shows; borrowed pointers. */
struct lt_report {
    const struct lt_totals *totals;
    /* The stream's life at one minute (columns as the store gives them:
     * views, likes, uniques, online, counters); NULL: none read. */
    const struct lt_timeseries *minutes;
    /* Every partner report of the stream, oldest first (n_reports; NULL
     * when none): each source's reports over time. */
    const struct lt_partner_report *reports;
    size_t n_reports;
    struct lt_report_method method;
    int64_t generated_ms;
    const char *tz; /* an IANA zone lt_tz_valid accepted; "UTC" by default */
    enum lt_display_locale locale;
    /* The stream's status changes, oldest first (store.h); JSON "history". */
    const struct lt_status_change *history;
    size_t n_history;
};

/* Each encoder appends the whole document to sb. Returns 0, or the
 * strbuf's error when it failed. The CSV and HTML forms set the process'
 * TZ to r->tz for the call and restore it (a worker is single-threaded). */
int lt_report_json(struct lt_strbuf *sb, const struct lt_report *r);
int lt_report_csv(struct lt_strbuf *sb, const struct lt_report *r);
int lt_report_html(struct lt_strbuf *sb, const struct lt_report *r);
int lt_report_encode(struct lt_strbuf *sb, const struct lt_report *r, enum lt_report_format f);

/* The hex SHA-256 of bytes into hex (65 bytes); the RFC 9530 Repr-Digest
 * value "sha-256=:<base64>:" into digest (LT_REPORT_DIGEST_MAX bytes).
 * Return 0, or -1 when libcrypto fails. */
#define LT_REPORT_DIGEST_MAX 64
int lt_report_sha256_hex(const void *bytes, size_t len, char hex[65]);
int lt_report_repr_digest(const void *bytes, size_t len, char *digest);

#endif
