-- Applies one batch of one stream exactly once, then publishes the stream's
-- new totals. Touches only the keys it is given, all of one stream (hash tag
-- {id}), so it runs on one Redis Cluster slot.
--
-- KEYS: 1 meta, 2 totals, 3 uniques (HLL), 4 lastview (zset viewer -> ms of
--       the last counted view), 5 online (hash worker -> "count:expires_ms")
-- ARGV: 1 incarnation, 2 seq, 3 at_ms, 4 dedup_ms, 5 stream id,
--       6 online field ('' = no online report), 7 online count, 8 online ttl ms,
--       9 n_sources, then n_sources x (source, likes), then n_counters, then
--       n_counters x (name, n), then views as (viewer, source index 1..n).
-- Returns {applied 0|1, views counted, stream seq, created_at (0: no stream)}.
--
-- The high-water mark (totals field "a:<incarnation>") is what makes a
-- resend harmless: a batch whose seq is not above its incarnation's mark was
-- applied before (its reply was lost), so it is acknowledged without being
-- counted again. Mark and counts change in one script, so Redis persists
-- them together (AOF writes a script's effects as one MULTI/EXEC).
--
-- The stream's seq rises with every change of a pushed field (views, likes,
-- uniques, online), and each rise is published on lt:{id}:totals as raw
-- fields, one "name value" line each (docs/redis.md): seq, views, uniques,
-- likes, online, peak_online, ts.
local inc, seq, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('HMGET', KEYS[2], 'a:' .. inc, 'seq', 'views', 'likes', 'uniques',
                     'online', 'peak_online')
local mark, sseq = tonumber(t[1] or '0'), tonumber(t[2] or '0')
if seq <= mark then
  return {0, 0, sseq, tonumber(redis.call('HGET', KEYS[1], 'created_at') or '0')}
end
local views, likes, uniques = tonumber(t[3] or '0'), tonumber(t[4] or '0'), tonumber(t[5] or '0')
local online, peak = tonumber(t[6] or '0'), tonumber(t[7] or '0')
local changed, views_counted = false, 0
local nsrc = tonumber(ARGV[9])
-- A batch that carries only an online report (subscribers of a stream that
-- has no event yet) must not create the stream: subscribing creates no
-- keys. Events create it, live.
if redis.call('EXISTS', KEYS[1]) == 0 then
  local any, j = false, 10
  for s = 1, nsrc do
    if tonumber(ARGV[j + 1]) > 0 then any = true end
    j = j + 2
  end
  if tonumber(ARGV[j]) > 0 or j + 1 < #ARGV then any = true end
  if not any then return {1, 0, 0, 0} end
  redis.call('HSET', KEYS[1], 'created_at', ARGV[3], 'status', 'live', 'auto_created', '1')
end
local srcs, i, added = {}, 10, 0
for s = 1, nsrc do
  local name, n = ARGV[i], tonumber(ARGV[i + 1])
  srcs[s] = name
  if n > 0 then
    redis.call('HINCRBY', KEYS[2], 's:' .. name .. ':likes', n)
    added = added + n
  end
  i = i + 2
end
if added > 0 then
  likes = redis.call('HINCRBY', KEYS[2], 'likes', added)
  changed = true
end
local ncnt = tonumber(ARGV[i]); i = i + 1
for c = 1, ncnt do
  redis.call('HINCRBY', KEYS[2], 'c:' .. ARGV[i], tonumber(ARGV[i + 1]))
  i = i + 2
end
if i < #ARGV then
  local viewers, vsrc = {}, {}
  for j = i, #ARGV - 1, 2 do
    viewers[#viewers + 1] = ARGV[j]
    vsrc[#vsrc + 1] = tonumber(ARGV[j + 1])
  end
  local cutoff = now - tonumber(ARGV[4])
  local seen, zadd, persrc, counted = {}, {}, {}, 0
  -- unpack() is bounded by Lua's C stack: work in slices of 1000.
  for from = 1, #viewers, 1000 do
    local to = math.min(from + 999, #viewers)
    local slice = {unpack(viewers, from, to)}
    local last = redis.call('ZMSCORE', KEYS[4], unpack(slice))
    for k = 1, #slice do
      local v = slice[k]
      if not seen[v] and (not last[k] or tonumber(last[k]) <= cutoff) then
        seen[v] = true
        counted = counted + 1
        zadd[#zadd + 1] = now
        zadd[#zadd + 1] = v
        local s = vsrc[from + k - 1]
        persrc[s] = (persrc[s] or 0) + 1
      end
    end
    redis.call('PFADD', KEYS[3], unpack(slice))
  end
  for from = 1, #zadd, 1000 do
    redis.call('ZADD', KEYS[4], unpack(zadd, from, math.min(from + 999, #zadd)))
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', cutoff)
  local u = redis.call('PFCOUNT', KEYS[3])
  if u ~= uniques then uniques = u; changed = true end
  if counted > 0 then
    views = redis.call('HINCRBY', KEYS[2], 'views', counted)
    for s, n in pairs(persrc) do
      redis.call('HINCRBY', KEYS[2], 's:' .. srcs[s] .. ':views', n)
    end
    changed = true
  end
  views_counted = counted
end
-- Online: each worker's share carries its own expiry (Redis 7.0 has no
-- per-field expiry); shares past it belong to dead workers and go.
local peak_at = nil
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[5], ARGV[6], ARGV[7] .. ':' .. (now + tonumber(ARGV[8])))
  local shares, sum = redis.call('HGETALL', KEYS[5]), 0
  for k = 1, #shares, 2 do
    local c, exp = string.match(shares[k + 1], '^(%d+):(%d+)$')
    if c and tonumber(exp) > now then sum = sum + tonumber(c)
    else redis.call('HDEL', KEYS[5], shares[k]) end
  end
  if sum ~= online then online = sum; changed = true end
  if online > peak then peak = online; peak_at = ARGV[3] end
end
if changed then sseq = sseq + 1 end
redis.call('HSET', KEYS[2], 'a:' .. inc, seq, 'seq', sseq, 'updated_at', ARGV[3],
           'uniques', uniques, 'online', online, 'peak_online', peak)
if peak_at then redis.call('HSET', KEYS[2], 'peak_at', peak_at) end
if changed then
  redis.call('PUBLISH', 'lt:{' .. ARGV[5] .. '}:totals', string.format(
    'seq %d\nviews %d\nuniques %d\nlikes %d\nonline %d\npeak_online %d\nts %d',
    sseq, views, uniques, likes, online, peak, now))
end
return {1, views_counted, sseq, tonumber(redis.call('HGET', KEYS[1], 'created_at'))}
