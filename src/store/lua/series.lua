-- Reads the streams of one series in one round trip: for each stream what
-- read.lua reads, and the distinct viewers across all of them.
--
-- KEYS: 4 per stream, as read.lua takes them (meta, totals, uniques (HLL),
-- online), for every stream the series index named. ARGV: 1 now_ms,
-- 2 the series id.
-- Returns {uniques, r1, r2, ...}: uniques = one PFCOUNT over the uniques of
-- the streams still in the series (a HyperLogLog union: a viewer of two
-- streams counts once); r<i> = 0 when stream i does not exist or its meta
-- names another series (the index was stale), else read.lua's flat array
-- of name, value for it.
--
-- The keys span streams, so several hash slots: fine on one Redis; a Redis
-- Cluster store would run read.lua per stream instead (docs/redis.md).
local now, series = tonumber(ARGV[1]), ARGV[2]
local out, hlls = {0}, {}
for i = 1, #KEYS, 4 do
  local r = 0
  if redis.call('HGET', KEYS[i], 'series') == series then
    local shares, online = redis.call('HGETALL', KEYS[i + 3]), 0
    for k = 1, #shares, 2 do
      local c, exp = string.match(shares[k + 1], '^(%d+):(%d+)$')
      if c and tonumber(exp) > now then online = online + tonumber(c) end
    end
    r = redis.call('HGETALL', KEYS[i])
    local tot = redis.call('HGETALL', KEYS[i + 1])
    for k = 1, #tot do r[#r + 1] = tot[k] end
    -- Partner reports, as read.lua adds them (see there).
    local rep = redis.call('HGETALL', string.sub(KEYS[i], 1, -5) .. 'reported')
    for k = 1, #rep, 2 do
      r[#r + 1] = 'r:' .. rep[k]
      r[#r + 1] = rep[k + 1]
    end
    local sums = redis.call('HMGET', KEYS[i + 1], 'views', 'likes', 'reported_views',
                            'reported_likes')
    r[#r + 1] = 'views'
    r[#r + 1] = tonumber(sums[1] or '0') + tonumber(sums[3] or '0')
    r[#r + 1] = 'likes'
    r[#r + 1] = tonumber(sums[2] or '0') + tonumber(sums[4] or '0')
    r[#r + 1] = 'counted_views'
    r[#r + 1] = tonumber(sums[1] or '0')
    r[#r + 1] = 'counted_likes'
    r[#r + 1] = tonumber(sums[2] or '0')
    r[#r + 1] = 'uniques'
    r[#r + 1] = redis.call('PFCOUNT', KEYS[i + 2])
    r[#r + 1] = 'online'
    r[#r + 1] = online
    -- Segments, as read.lua gives them.
    local has_segments, held = false, {}
    for k = 1, #tot, 2 do
      if tot[k] == 'gs' then has_segments = true
      elseif tot[k] == 'gc:views' then held.views = tot[k + 1]
      elseif tot[k] == 'gc:likes' then held.likes = tot[k + 1] end
    end
    if has_segments then
      local prefix = string.sub(KEYS[i], 1, #KEYS[i] - 4) -- 'lt:{id}:' of 'lt:{id}:meta'
      local seg, n = redis.call('HGETALL', prefix .. 'segments'), 0
      for k = 1, #seg, 2 do
        if seg[k] == 'n' then n = tonumber(seg[k + 1])
        else r[#r + 1] = 'g' .. seg[k]; r[#r + 1] = seg[k + 1] end
      end
      for k = 1, n do
        r[#r + 1] = 'g' .. k .. ':uniques'
        r[#r + 1] = redis.call('PFCOUNT', prefix .. 'seg:' .. k .. ':u')
      end
      if n > 0 then
        r[#r + 1] = 'g' .. n .. ':views'; r[#r + 1] = held.views or '0'
        r[#r + 1] = 'g' .. n .. ':likes'; r[#r + 1] = held.likes or '0'
      end
    end
    hlls[#hlls + 1] = KEYS[i + 2]
  end
  out[#out + 1] = r
end
if #hlls > 0 then out[1] = redis.call('PFCOUNT', unpack(hlls)) end
return out
