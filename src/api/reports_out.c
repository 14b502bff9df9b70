/* Partner reports' wire pieces (see reports_out.h). */
#include "livetally/api/reports_out.h"

#include "livetally/base/error.h"
#include "livetally/base/mem.h"
#include "livetally/base/strbuf.h"

#include <string.h>

size_t lt_reports_sources(const struct lt_partner_report *reports, size_t n, size_t *out)
{
    /* Few sources, many reports: a scan of the ones found so far is enough. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t j = 0; j < k && !seen; j++)
            seen = strcmp(reports[out[j]].source, reports[i].source) == 0;
        if (!seen)
            out[k++] = i;
    }
    return k;
}

int lt_reports_ts_json(struct lt_strbuf *sb, const struct lt_partner_report *reports, size_t n)
{
    size_t *first = lt_malloc((n ? n : 1) * sizeof *first);
    size_t k = lt_reports_sources(reports, n, first);
    lt_strbuf_add_str(sb, "\"reported\":{");
    for (size_t s = 0; s < k; s++) {
        const char *name = reports[first[s]].source;
        lt_strbuf_addf(sb, "%s\"%s\":[", s ? "," : "", name);
        bool any = false;
        for (size_t i = first[s]; i < n; i++) {
            if (strcmp(reports[i].source, name) != 0)
                continue;
            lt_strbuf_addf(sb, "%s[%lld,%lld,%lld]", any ? "," : "",
                           (long long)(reports[i].at_ms / 1000), (long long)reports[i].views,
                           (long long)reports[i].likes);
            any = true;
        }
        lt_strbuf_add_char(sb, ']');
    }
    lt_strbuf_add_char(sb, '}');
    lt_free(first);
    return lt_strbuf_failed(sb) ? LT_ETOOLARGE : 0;
}
