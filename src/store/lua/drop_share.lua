-- Removes one worker's online share (the worker died) and publishes the
-- stream's totals when online changed, in the same raw fields as apply.lua
-- (views and likes with the partners' reported sums added, counted_views
-- and counted_likes without them).
--
-- KEYS: 1 totals, 2 online. ARGV: 1 worker field, 2 now_ms, 3 stream id.
-- Returns 1 when the share was there (and is gone), else 0.
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
local now = tonumber(ARGV[2])
local shares, sum = redis.call('HGETALL', KEYS[2]), 0
for k = 1, #shares, 2 do
  local c, exp = string.match(shares[k + 1], '^(%d+):(%d+)$')
  if c and tonumber(exp) > now then sum = sum + tonumber(c) end
end
local t = redis.call('HMGET', KEYS[1], 'seq', 'views', 'likes', 'uniques', 'online',
                     'peak_online', 'reported_views', 'reported_likes')
if tonumber(t[5] or '0') == sum then return 1 end
local sseq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'online', sum)
redis.call('PUBLISH', 'lt:{' .. ARGV[3] .. '}:totals', string.format(
  'seq %d\nviews %d\nuniques %d\nlikes %d\nonline %d\npeak_online %d\nts %d\n' ..
  'counted_views %d\ncounted_likes %d',
  sseq, tonumber(t[2] or '0') + tonumber(t[7] or '0'), tonumber(t[4] or '0'),
  tonumber(t[3] or '0') + tonumber(t[8] or '0'), sum,
  tonumber(t[6] or '0'), now, tonumber(t[2] or '0'), tonumber(t[3] or '0')))
return 1
