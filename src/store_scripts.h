/* Lua scripts run by store.c. Each touches only the keys it is given, all of
 * one stream (hash tag {id}), so a script runs on one Redis Cluster slot.
 * Private to store.c. */
#ifndef LIVETALLY_STORE_SCRIPTS_H
#define LIVETALLY_STORE_SCRIPTS_H

/* Applies one batch exactly once.
 * KEYS: 1 meta, 2 totals, 3 uniques (HLL), 4 lastview (zset viewer -> ms of
 *       the last counted view), 5 applied (hash incarnation -> last seq)
 * ARGV: 1 incarnation, 2 seq, 3 at_ms, 4 dedup_ms, 5 n_sources,
 *       then n_sources x (source, likes), then n_counters, then
 *       n_counters x (name, n), then views as (viewer, source index 1..n).
 * Returns {applied 0|1, views counted, stream seq, created_at}.
 *
 * The high-water mark is what makes a resend harmless: a batch whose seq is
 * not above its incarnation's mark was applied before (its reply was lost),
 * so it is acknowledged without being counted again. Mark and counts change
 * in one script, so Redis persists them together (AOF writes the script's
 * effects as one MULTI/EXEC). */
static const char lt_script_apply[] =
    "local inc, seq = ARGV[1], tonumber(ARGV[2])\n"
    "local mark = tonumber(redis.call('HGET', KEYS[5], inc) or '0')\n"
    "if seq <= mark then\n"
    "  return {0, 0, tonumber(redis.call('HGET', KEYS[2], 'seq') or '0'),\n"
    "          tonumber(redis.call('HGET', KEYS[1], 'created_at') or '0')}\n"
    "end\n"
    "local now, dedup = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "if redis.call('HSETNX', KEYS[1], 'created_at', ARGV[3]) == 1 then\n"
    "  redis.call('HSET', KEYS[1], 'status', 'live', 'auto_created', '1')\n"
    "end\n"
    "local nsrc = tonumber(ARGV[5])\n"
    "local srcs, i, likes = {}, 6, 0\n"
    "for s = 1, nsrc do\n"
    "  local name, n = ARGV[i], tonumber(ARGV[i + 1])\n"
    "  srcs[s] = name\n"
    "  if n > 0 then\n"
    "    redis.call('HINCRBY', KEYS[2], 's:' .. name .. ':likes', n)\n"
    "    likes = likes + n\n"
    "  end\n"
    "  i = i + 2\n"
    "end\n"
    "if likes > 0 then redis.call('HINCRBY', KEYS[2], 'likes', likes) end\n"
    "local ncnt = tonumber(ARGV[i]); i = i + 1\n"
    "for c = 1, ncnt do\n"
    "  redis.call('HINCRBY', KEYS[2], 'c:' .. ARGV[i], tonumber(ARGV[i + 1]))\n"
    "  i = i + 2\n"
    "end\n"
    "local views = 0\n"
    "if i < #ARGV then\n"
    "  local viewers, vsrc = {}, {}\n"
    "  for j = i, #ARGV - 1, 2 do\n"
    "    viewers[#viewers + 1] = ARGV[j]\n"
    "    vsrc[#vsrc + 1] = tonumber(ARGV[j + 1])\n"
    "  end\n"
    "  local cutoff = now - dedup\n"
    "  local seen, zadd, persrc = {}, {}, {}\n"
    /* unpack() is bounded by Lua's C stack: work in slices of 1000. */
    "  for from = 1, #viewers, 1000 do\n"
    "    local to = math.min(from + 999, #viewers)\n"
    "    local slice = {unpack(viewers, from, to)}\n"
    "    local last = redis.call('ZMSCORE', KEYS[4], unpack(slice))\n"
    "    for k = 1, #slice do\n"
    "      local v = slice[k]\n"
    "      if not seen[v] and (not last[k] or tonumber(last[k]) <= cutoff) then\n"
    "        seen[v] = true\n"
    "        views = views + 1\n"
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
    "  if views > 0 then\n"
    "    redis.call('HINCRBY', KEYS[2], 'views', views)\n"
    "    for s, n in pairs(persrc) do\n"
    "      redis.call('HINCRBY', KEYS[2], 's:' .. srcs[s] .. ':views', n)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "redis.call('HSET', KEYS[5], inc, seq)\n"
    "local stream_seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)\n"
    "redis.call('HSET', KEYS[2], 'updated_at', ARGV[3])\n"
    "return {1, views, stream_seq, tonumber(redis.call('HGET', KEYS[1], 'created_at'))}\n";

/* Reads what a totals object needs in one round trip.
 * KEYS: 1 meta, 2 totals, 3 uniques, 4 reported.
 * Returns {meta flat, totals flat, uniques, reported flat}, or 0 when the
 * stream does not exist. */
static const char lt_script_read[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]),\n"
    "        redis.call('PFCOUNT', KEYS[3]), redis.call('HGETALL', KEYS[4])}\n";

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
