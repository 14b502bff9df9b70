/* Query and header reading shared by the handlers (see api.h). */
#include "livetally/api/api.h"

#include "livetally/conf/config.h"
#include "livetally/store/timeseries.h"

#include <stdio.h>
#include <string.h>

int lt_api_query_param(struct lt_request *req, const char *name, char *buf, size_t cap, long *len)
{
    if (!req->head.query)
        return 0;
    long n = lt_query_get(req->head.query, req->head.query_len, name, buf, cap);
    if (n == LT_QUERY_ABSENT)
        return 0;
    if (n < 0) {
        char msg[96]; /* name is one of ours: a few bytes */
        snprintf(msg, sizeof msg, "%s: malformed or too long", name);
        lt_respond_error(req, 400, "bad_request", msg);
        return -1;
    }
    *len = n;
    return 1;
}

bool lt_api_accepts_csv(struct lt_request *req)
{
    char accept[512];
    const char *a = lt_request_header(req, "Accept", accept, sizeof accept);
    return a && strstr(a, "text/csv") != NULL;
}

void lt_api_ts_retentions(const struct lt_config *cfg, int64_t out[LT_TS_RESOLUTIONS])
{
    out[0] = (int64_t)cfg->ts_retention_10s_hours * 3600;
    out[1] = (int64_t)cfg->ts_retention_1m_days * 86400;
    out[2] = (int64_t)cfg->ts_retention_1h_days * 86400;
}
