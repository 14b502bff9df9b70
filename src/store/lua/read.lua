-- Reads everything a stream's totals need in one round trip, as raw fields.
--
-- KEYS: 1 meta, 2 totals, 3 uniques (HLL), 4 online. ARGV: 1 now_ms.
-- Returns 0 when the stream does not exist, else one flat array of
-- name, value pairs: the meta hash's fields, then the totals hash's, then
-- the partners' reports (r:<source>:<field>), "views" and "likes" with the
-- reported sums added, "counted_views" and "counted_likes" (without them,
-- as apply.lua publishes them), "uniques" (a fresh PFCOUNT) and "online" (the sum of
-- the shares not yet expired), which replace the cached copies of the
-- totals hash (the reader takes the last value of a name).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local shares, online, now = redis.call('HGETALL', KEYS[4]), 0, tonumber(ARGV[1])
for k = 1, #shares, 2 do
  local c, exp = string.match(shares[k + 1], '^(%d+):(%d+)$')
  if c and tonumber(exp) > now then online = online + tonumber(c) end
end
local out = redis.call('HGETALL', KEYS[1])
local tot = redis.call('HGETALL', KEYS[2])
for k = 1, #tot do out[#out + 1] = tot[k] end
-- Partner reports (put_reported.lua): each source's latest as
-- r:<source>:<views|likes|at|lower>, from lt:{id}:reported (the meta key
-- with another suffix: the same hash tag, so the same slot), and the
-- top-level views and likes as counted + reported, last (they replace the
-- counted ones just read).
local rep = redis.call('HGETALL', string.sub(KEYS[1], 1, -5) .. 'reported')
for k = 1, #rep, 2 do
  out[#out + 1] = 'r:' .. rep[k]
  out[#out + 1] = rep[k + 1]
end
local sums = redis.call('HMGET', KEYS[2], 'views', 'likes', 'reported_views', 'reported_likes')
out[#out + 1] = 'views'
out[#out + 1] = tonumber(sums[1] or '0') + tonumber(sums[3] or '0')
out[#out + 1] = 'likes'
out[#out + 1] = tonumber(sums[2] or '0') + tonumber(sums[4] or '0')
out[#out + 1] = 'counted_views'
out[#out + 1] = tonumber(sums[1] or '0')
out[#out + 1] = 'counted_likes'
out[#out + 1] = tonumber(sums[2] or '0')
out[#out + 1] = 'uniques'
out[#out + 1] = redis.call('PFCOUNT', KEYS[3])
out[#out + 1] = 'online'
out[#out + 1] = online
-- Segments (segment.lua), only when the totals hash lists their starts
-- ("gs"): g<k>:title, g<k>:started_at from the segments hash,
-- g<k>:uniques, a PFCOUNT of the segment's viewers, and the running
-- segment's held counts gc:views, gc:likes as g<n>:views, g<n>:likes (the
-- ended segments' g<k>:views and g<k>:likes came with the totals hash).
local has_segments, held = false, {}
for k = 1, #tot, 2 do
  if tot[k] == 'gs' then has_segments = true
  elseif tot[k] == 'gc:views' then held.views = tot[k + 1]
  elseif tot[k] == 'gc:likes' then held.likes = tot[k + 1] end
end
if has_segments then
  local prefix = string.sub(KEYS[1], 1, #KEYS[1] - 4) -- 'lt:{id}:' of 'lt:{id}:meta'
  local seg = redis.call('HGETALL', prefix .. 'segments')
  local n = 0
  for k = 1, #seg, 2 do
    if seg[k] == 'n' then n = tonumber(seg[k + 1])
    else
      out[#out + 1] = 'g' .. seg[k]
      out[#out + 1] = seg[k + 1]
    end
  end
  for k = 1, n do
    out[#out + 1] = 'g' .. k .. ':uniques'
    out[#out + 1] = redis.call('PFCOUNT', prefix .. 'seg:' .. k .. ':u')
  end
  if n > 0 then
    out[#out + 1] = 'g' .. n .. ':views'
    out[#out + 1] = held.views or '0'
    out[#out + 1] = 'g' .. n .. ':likes'
    out[#out + 1] = held.likes or '0'
  end
end
return out
