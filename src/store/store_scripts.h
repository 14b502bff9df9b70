/* Lua scripts run by store.c. Each touches only the keys it is given, all of
 * one stream (hash tag {id}), so a script runs on one Redis Cluster slot.
 * Private to store.c. */
#ifndef LIVETALLY_STORE_SCRIPTS_H
#define LIVETALLY_STORE_SCRIPTS_H

/* Applies one batch exactly once, then publishes the stream's new totals.
 * KEYS: 1 meta, 2 totals, 3 uniques (HLL), 4 lastview (zset viewer -> ms of
 *       the last counted view), 5 online (hash worker -> "count:expires_ms")
 * ARGV: 1 incarnation, 2 seq, 3 at_ms, 4 dedup_ms, 5 stream id,
 *       6 online field ('' = no online report), 7 online count, 8 online ttl ms,
 *       9 n_sources, then n_sources x (source, likes), then n_counters, then
 *       n_counters x (name, n), then views as (viewer, source index 1..n).
 * Returns {applied 0|1, views counted, stream seq, created_at}.
 *
 * The high-water mark (totals field "a:<incarnation>") is what makes a
 * resend harmless: a batch whose seq is not above its incarnation's mark was
 * applied before (its reply was lost), so it is acknowledged without being
 * counted again. Mark and counts change in one script, so Redis persists
 * them together (AOF writes a script's effects as one MULTI/EXEC).
 *
 * The stream's seq rises with every change of a pushed field (views, likes,
 * uniques, online), and each rise is published on lt:{id}:totals as the
 * contract's totals message, which every worker with subscribers relays. */
static const char lt_script_apply[] =
    "local inc, seq, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local t = redis.call('HMGET', KEYS[2], 'a:' .. inc, 'seq', 'views', 'likes', 'uniques',\n"
    "                     'online', 'peak_online', 'r:views', 'r:likes')\n"
    "local mark, sseq = tonumber(t[1] or '0'), tonumber(t[2] or '0')\n"
    "if seq <= mark then\n"
    "  return {0, 0, sseq, tonumber(redis.call('HGET', KEYS[1], 'created_at') or '0')}\n"
    "end\n"
    "local views, likes, uniques = tonumber(t[3] or '0'), tonumber(t[4] or '0'), tonumber(t[5] or '0')\n"
    "local online, peak = tonumber(t[6] or '0'), tonumber(t[7] or '0')\n"
    "local changed, views_counted = false, 0\n"
    "local nsrc = tonumber(ARGV[9])\n"
    /* A batch that carries only an online report (subscribers of a stream
     * that has no event yet) must not create the stream: subscribing
     * creates no keys. Events create it, live. */
    "if redis.call('EXISTS', KEYS[1]) == 0 then\n"
    "  local any, j = false, 10\n"
    "  for s = 1, nsrc do\n"
    "    if tonumber(ARGV[j + 1]) > 0 then any = true end\n"
    "    j = j + 2\n"
    "  end\n"
    "  if tonumber(ARGV[j]) > 0 or j + 1 < #ARGV then any = true end\n"
    "  if not any then return {1, 0, 0, 0} end\n"
    "  redis.call('HSET', KEYS[1], 'created_at', ARGV[3], 'status', 'live', 'auto_created', '1')\n"
    "end\n"
    "local srcs, i, added = {}, 10, 0\n"
    "for s = 1, nsrc do\n"
    "  local name, n = ARGV[i], tonumber(ARGV[i + 1])\n"
    "  srcs[s] = name\n"
    "  if n > 0 then\n"
    "    redis.call('HINCRBY', KEYS[2], 's:' .. name .. ':likes', n)\n"
    "    added = added + n\n"
    "  end\n"
    "  i = i + 2\n"
    "end\n"
    "if added > 0 then\n"
    "  likes = redis.call('HINCRBY', KEYS[2], 'likes', added)\n"
    "  changed = true\n"
    "end\n"
    "local ncnt = tonumber(ARGV[i]); i = i + 1\n"
    "for c = 1, ncnt do\n"
    "  redis.call('HINCRBY', KEYS[2], 'c:' .. ARGV[i], tonumber(ARGV[i + 1]))\n"
    "  i = i + 2\n"
    "end\n"
    "if i < #ARGV then\n"
    "  local viewers, vsrc = {}, {}\n"
    "  for j = i, #ARGV - 1, 2 do\n"
    "    viewers[#viewers + 1] = ARGV[j]\n"
    "    vsrc[#vsrc + 1] = tonumber(ARGV[j + 1])\n"
    "  end\n"
    "  local cutoff = now - tonumber(ARGV[4])\n"
    "  local seen, zadd, persrc, counted = {}, {}, {}, 0\n"
    /* unpack() is bounded by Lua's C stack: work in slices of 1000. */
    "  for from = 1, #viewers, 1000 do\n"
    "    local to = math.min(from + 999, #viewers)\n"
    "    local slice = {unpack(viewers, from, to)}\n"
    "    local last = redis.call('ZMSCORE', KEYS[4], unpack(slice))\n"
    "    for k = 1, #slice do\n"
    "      local v = slice[k]\n"
    "      if not seen[v] and (not last[k] or tonumber(last[k]) <= cutoff) then\n"
    "        seen[v] = true\n"
    "        counted = counted + 1\n"
    "        zadd[#zadd + 1] = now\n"
    "        zadd[#zadd + 1] = v\n"
    "        local s = vsrc[from + k - 1]\n"
    "        persrc[s] = (persrc[s] or 0) + 1\n"
    "      end\n"
    "    end\n"
    "    redis.call('PFADD', KEYS[3], unpack(slice))\n"
    "  end\n"
    "  for from = 1, #zadd, 1000 do\n"
    "    redis.call('ZADD', KEYS[4], unpack(zadd, from, math.min(from + 999, #zadd)))\n"
    "  end\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', cutoff)\n"
    "  local u = redis.call('PFCOUNT', KEYS[3])\n"
    "  if u ~= uniques then uniques = u; changed = true end\n"
    "  if counted > 0 then\n"
    "    views = redis.call('HINCRBY', KEYS[2], 'views', counted)\n"
    "    for s, n in pairs(persrc) do\n"
    "      redis.call('HINCRBY', KEYS[2], 's:' .. srcs[s] .. ':views', n)\n"
    "    end\n"
    "    changed = true\n"
    "  end\n"
    "  views_counted = counted\n"
    "end\n"
    /* Online: each worker's share carries its own expiry (Redis 7.0 has no
     * per-field expiry); shares past it belong to dead workers and go. */
    "local peak_at = nil\n"
    "if ARGV[6] ~= '' then\n"
    "  redis.call('HSET', KEYS[5], ARGV[6], ARGV[7] .. ':' .. (now + tonumber(ARGV[8])))\n"
    "  local shares, sum = redis.call('HGETALL', KEYS[5]), 0\n"
    "  for k = 1, #shares, 2 do\n"
    "    local c, exp = string.match(shares[k + 1], '^(%d+):(%d+)$')\n"
    "    if c and tonumber(exp) > now then sum = sum + tonumber(c)\n"
    "    else redis.call('HDEL', KEYS[5], shares[k]) end\n"
    "  end\n"
    "  if sum ~= online then online = sum; changed = true end\n"
    "  if online > peak then peak = online; peak_at = ARGV[3] end\n"
    "end\n"
    "if changed then sseq = sseq + 1 end\n"
    "redis.call('HSET', KEYS[2], 'a:' .. inc, seq, 'seq', sseq, 'updated_at', ARGV[3],\n"
    "           'uniques', uniques, 'online', online, 'peak_online', peak)\n"
    "if peak_at then redis.call('HSET', KEYS[2], 'peak_at', peak_at) end\n"
    "if changed then\n"
    "  redis.call('PUBLISH', 'lt:{' .. ARGV[5] .. '}:totals', string.format(\n"
    "    '{\"type\":\"totals\",\"stream\":\"%s\",\"views\":%d,\"uniques\":%d,\"likes\":%d,' ..\n"
    "    '\"online\":%d,\"peak_online\":%d,\"seq\":%d,\"ts\":%d}', ARGV[5],\n"
    "    views + tonumber(t[8] or '0'), uniques, likes + tonumber(t[9] or '0'), online, peak,\n"
    "    sseq, now))\n"
    "end\n"
    "return {1, views_counted or 0, sseq, tonumber(redis.call('HGET', KEYS[1], 'created_at'))}\n";

/* Reads what a totals object needs in one round trip.
 * KEYS: 1 meta, 2 totals, 3 uniques, 4 reported, 5 online. ARGV: 1 now_ms.
 * Returns {meta flat, totals flat, uniques, reported flat, online}, or 0 when
 * the stream does not exist. online sums the shares not yet expired. */
static const char lt_script_read[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "local shares, online, now = redis.call('HGETALL', KEYS[5]), 0, tonumber(ARGV[1])\n"
    "for k = 1, #shares, 2 do\n"
    "  local c, exp = string.match(shares[k + 1], '^(%d+):(%d+)$')\n"
    "  if c and tonumber(exp) > now then online = online + tonumber(c) end\n"
    "end\n"
    "return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]),\n"
    "        redis.call('PFCOUNT', KEYS[3]), redis.call('HGETALL', KEYS[4]), online}\n";

/* Removes one worker's online share (the worker died) and publishes the
 * totals when online changed.
 * KEYS: 1 totals, 2 online. ARGV: 1 worker field, 2 now_ms, 3 stream id. */
static const char lt_script_drop_share[] =
    "if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end\n"
    "local now = tonumber(ARGV[2])\n"
    "local shares, sum = redis.call('HGETALL', KEYS[2]), 0\n"
    "for k = 1, #shares, 2 do\n"
    "  local c, exp = string.match(shares[k + 1], '^(%d+):(%d+)$')\n"
    "  if c and tonumber(exp) > now then sum = sum + tonumber(c) end\n"
    "end\n"
    "local t = redis.call('HMGET', KEYS[1], 'seq', 'views', 'likes', 'uniques', 'online',\n"
    "                     'peak_online', 'r:views', 'r:likes')\n"
    "if tonumber(t[5] or '0') == sum then return 1 end\n"
    "local sseq = redis.call('HINCRBY', KEYS[1], 'seq', 1)\n"
    "redis.call('HSET', KEYS[1], 'online', sum)\n"
    "redis.call('PUBLISH', 'lt:{' .. ARGV[3] .. '}:totals', string.format(\n"
    "  '{\"type\":\"totals\",\"stream\":\"%s\",\"views\":%d,\"uniques\":%d,\"likes\":%d,' ..\n"
    "  '\"online\":%d,\"peak_online\":%d,\"seq\":%d,\"ts\":%d}', ARGV[3],\n"
    "  tonumber(t[2] or '0') + tonumber(t[7] or '0'), tonumber(t[4] or '0'),\n"
    "  tonumber(t[3] or '0') + tonumber(t[8] or '0'), sum, tonumber(t[6] or '0'), sseq, now))\n"
    "return 1\n";

/* Creates or updates a stream's meta.
 * KEYS: 1 meta. ARGV: 1 now_ms, then field/value pairs; an empty series
 * value removes the series. A new stream without a status is live.
 * Returns {created_at, status, previous series or ''}. */
static const char lt_script_put[] =
    "local old_series = redis.call('HGET', KEYS[1], 'series') or ''\n"
    "local created = redis.call('HSETNX', KEYS[1], 'created_at', ARGV[1])\n"
    "local has_status = false\n"
    "for i = 2, #ARGV, 2 do\n"
    "  if ARGV[i] == 'status' then has_status = true end\n"
    "  if ARGV[i] == 'series' and ARGV[i + 1] == '' then\n"
    "    redis.call('HDEL', KEYS[1], 'series')\n"
    "  else\n"
    "    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])\n"
    "  end\n"
    "end\n"
    "if created == 1 and not has_status then redis.call('HSET', KEYS[1], 'status', 'live') end\n"
    "return {tonumber(redis.call('HGET', KEYS[1], 'created_at')),\n"
    "        redis.call('HGET', KEYS[1], 'status'), old_series}\n";

#endif
