-- Reads a stream's time buckets (apply.lua writes them) for one planned
-- request (store/timeseries.h), rolled up to the step, in one round trip.
--
-- KEYS: 1 meta, 2 totals. ARGV: 1 stream id, 2 resolution (bucket size, s), 3 step
-- (a multiple of it), 4 first point's start (epoch s), 5 n points,
-- 6 uniques wanted (1|0), then the configured counters' names.
-- Returns 0 when the stream does not exist, else one flat array of
-- integers: n points, n columns (views, likes, uniques, online, then one per
-- counter), then per point its start and its n columns. Counts add up over
-- the point's buckets, online is their highest, uniques one PFCOUNT over
-- the union of their HyperLogLogs (0 when not wanted). A bucket that was
-- never written or has expired reads as zeros. The newest bucket of the
-- resolution is still held in the totals hash (apply.lua: tb:/tbf:/b<size>:
-- fields) and is added from there. The bucket keys carry the stream's hash
-- tag (built from the id), so they are on KEYS[1]'s slot.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local res, step = tonumber(ARGV[2]), tonumber(ARGV[3])
local first, n, want_u = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6] == '1'
local fields = {'views', 'likes', 'online'}
for k = 7, #ARGV do fields[#fields + 1] = 'c:' .. ARGV[k] end
local ncols = #fields + 1
local prefix = 'lt:{' .. ARGV[1] .. '}:ts:' .. res .. ':'
local out = {n, ncols}
-- The held bucket: its start, online max and counts of our fields.
local hstart, hvals = -1, {}
do
  local m = redis.call('HMGET', KEYS[2], 'tb:' .. res)
  local a, b = string.match(m[1] or '', '^(%d+):(%d+):')
  if a then
    hstart = tonumber(a)
    local hf = {}
    for k = 1, #fields do hf[k] = 'b' .. res .. ':' .. fields[k] end
    hf[3] = 'tb:' .. res -- online is in the mark, not a b field
    hvals = redis.call('HMGET', KEYS[2], unpack(hf))
    hvals[3] = b
  end
end
for p = 0, n - 1 do
  local t = first + p * step
  local sum = {}
  for k = 1, #fields do sum[k] = 0 end
  local ukeys = {}
  for b = t, t + step - res, res do
    local key = prefix .. string.format('%d', b)
    local v = redis.call('HMGET', key, unpack(fields))
    if b == hstart then
      for k = 1, #fields do
        if k == 3 then
          if tonumber(hvals[3]) > tonumber(v[3] or '0') then v[3] = hvals[3] end
        else
          v[k] = tonumber(v[k] or '0') + tonumber(hvals[k] or '0')
        end
      end
    end
    for k = 1, #fields do
      local x = tonumber(v[k] or '0')
      if k == 3 then
        if x > sum[3] then sum[3] = x end
      else
        sum[k] = sum[k] + x
      end
    end
    if want_u then ukeys[#ukeys + 1] = key .. ':u' end
  end
  local u = 0
  if want_u then u = redis.call('PFCOUNT', unpack(ukeys)) end
  out[#out + 1] = t
  out[#out + 1] = sum[1]
  out[#out + 1] = sum[2]
  out[#out + 1] = u
  out[#out + 1] = sum[3]
  for k = 4, #fields do out[#out + 1] = sum[k] end
end
return out
