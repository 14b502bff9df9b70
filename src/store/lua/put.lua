-- Creates or updates a stream's meta.
--
-- KEYS: 1 meta. ARGV: 1 now_ms, then field/value pairs; an empty series
-- value removes the series. A new stream without a status is live.
-- Returns {created_at, status, previous series or ''}.
local old_series = redis.call('HGET', KEYS[1], 'series') or ''
local created = redis.call('HSETNX', KEYS[1], 'created_at', ARGV[1])
local has_status = false
for i = 2, #ARGV, 2 do
  if ARGV[i] == 'status' then has_status = true end
  if ARGV[i] == 'series' and ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], 'series')
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
if created == 1 and not has_status then redis.call('HSET', KEYS[1], 'status', 'live') end
return {tonumber(redis.call('HGET', KEYS[1], 'created_at')),
        redis.call('HGET', KEYS[1], 'status'), old_series}
