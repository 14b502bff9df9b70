-- Deletes one stream's keys, a slice per call, without scanning the
-- keyspace: the stream knows its keys (docs/redis.md "Deleting a stream").
--
-- KEYS: the stream's fixed keys, deleted by the last call, meta last of
--       all: 1 meta, 2 totals, then any others (uniques, lastview, online,
--       report, history, segments, reported, reports).
-- ARGV: 1 stream id, 2 now_ms, 3..5 retention in seconds of the 10 s, 1 min
--       and 1 h time buckets, 6 cursor ('' on the first call, then what the
--       call before returned), 7 the most keys one call deletes (~1000, so
--       Redis never blocks long).
-- Returns {0} when the stream does not exist (first call only), else
-- {1, next cursor ('' = done: every key is gone), series ('' = none)}.
--
-- The keys a stream can have besides the fixed ones:
--   lt:{id}:ts:<size>:<start> and :u  time buckets, for each size from the
--     bucket holding totals.ts_lo (the lowest batch time ever applied) to
--     the newest one (totals.tb:<size>), but none whose expiry (end +
--     retention) has passed; without ts_lo (a stream older than it) from
--     the retention's bound;
--   lt:{id}:seg:<k>:u  for k = 1 .. segments.n.
-- A batch applied while a deletion runs (events accepted just before it, a
-- late resend) may still write a bucket key behind the cursor: the last call
-- deletes each size's newest buckets once more, and any other such key has
-- its expiry like every bucket. Events that come after the deletion create
-- the stream anew (an auto-created one).
-- The cursor is "<phase> <position>": phases 1-3 the bucket sizes
-- (position: the next bucket start), 4 the segments (position: the next
-- k), 5 the fixed keys; position -1: the phase's first. The meta hash goes last, so a stream whose deletion
-- was cut short still exists and a retried DELETE finishes it.
local SIZES = {10, 60, 3600}
if ARGV[6] == '' and redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local series = redis.call('HGET', KEYS[1], 'series') or ''
local phase, pos = 1, nil
if ARGV[6] ~= '' then
  local a, b = string.match(ARGV[6], '^(%d+) (%-?%d+)$')
  phase, pos = tonumber(a), tonumber(b)
  if pos < 0 then pos = nil end
end
local budget = tonumber(ARGV[7])
local now_s = math.floor(tonumber(ARGV[2]) / 1000)
local t = redis.call('HMGET', KEYS[2], 'ts_lo', 'tb:10', 'tb:60', 'tb:3600')
local prefix = 'lt:{' .. ARGV[1] .. '}:'
local doomed = {}
local function flush()
  for from = 1, #doomed, 1000 do
    redis.call('UNLINK', unpack(doomed, from, math.min(from + 999, #doomed)))
  end
  doomed = {}
end
while budget > 0 and phase <= 4 do
  if phase <= 3 then
    local size = SIZES[phase]
    local hi = t[1 + phase] and tonumber(string.match(t[1 + phase], '^(%d+):'))
    if hi then
      -- One bucket more than the bound: a key just past its expiry may
      -- not be reclaimed yet.
      local lo = math.floor((now_s - tonumber(ARGV[2 + phase])) / size) * size - 2 * size
      if t[1] then
        local first = math.floor(tonumber(t[1]) / 1000 / size) * size
        if first > lo then lo = first end
      end
      if not pos or pos < lo then pos = lo end
      while pos <= hi and budget > 0 do
        local k = string.format('%sts:%d:%d', prefix, size, pos)
        doomed[#doomed + 1] = k
        doomed[#doomed + 1] = k .. ':u'
        budget = budget - 2
        pos = pos + size
      end
      if pos <= hi then break end
    end
    phase, pos = phase + 1, nil
  else
    local n = tonumber(redis.call('HGET', prefix .. 'segments', 'n') or '0')
    pos = pos or 1
    while pos <= n and budget > 0 do
      doomed[#doomed + 1] = string.format('%sseg:%d:u', prefix, pos)
      budget = budget - 1
      pos = pos + 1
    end
    if pos <= n then break end
    phase, pos = 5, nil
  end
end
if phase <= 4 then
  flush()
  return {1, phase .. ' ' .. (pos or -1), series}
end
-- A batch applied between two calls may have moved a held bucket out to
-- its own key after its phase passed it: the newest buckets once more.
t = redis.call('HMGET', KEYS[2], 'tb:10', 'tb:60', 'tb:3600')
for r, size in ipairs(SIZES) do
  local hi = t[r] and tonumber(string.match(t[r], '^(%d+):'))
  if hi then
    for start = hi - 3 * size, hi, size do
      local k = string.format('%sts:%d:%d', prefix, size, start)
      doomed[#doomed + 1] = k
      doomed[#doomed + 1] = k .. ':u'
    end
  end
end
flush()
for k = #KEYS, 1, -1 do redis.call('UNLINK', KEYS[k]) end
return {1, '', series}
