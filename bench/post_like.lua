-- wrk script: one like per request, no viewer, keep-alive.
wrk.method = "POST"
wrk.body = '{"type":"like"}'
wrk.headers["Content-Type"] = "application/json"
