/* Partner reports at the edge (store.h: struct lt_partner_report, as kept
 * in lt:{id}:reports): the "reported" member of GET
 * /v1/streams/{id}/timeseries. The report (report_out.c) writes its own
 * forms from the same array. No sockets, no Redis. */
#ifndef LIVETALLY_REPORTS_OUT_H
#define LIVETALLY_REPORTS_OUT_H

#include "livetally/store/store.h"

#include <stddef.h>

struct lt_strbuf;

/* `"reported":{"<source>":[[t,views,likes],...],...}` appended to sb: each
 * source's reports (n of them, oldest first), t in epoch seconds; sources
 * in the order first met; {} when there are none. Source ids need no
 * escaping (ids.h). Returns 0, or the strbuf's error. */
int lt_reports_ts_json(struct lt_strbuf *sb, const struct lt_partner_report *reports, size_t n);

/* The distinct sources of reports, in the order first met: their indexes
 * into reports (first report of each) in out (room for n), count returned. */
size_t lt_reports_sources(const struct lt_partner_report *reports, size_t n, size_t *out);

#endif
