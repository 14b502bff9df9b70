-- Creates or updates a stream's meta, and records each status change.
--
-- KEYS: 1 meta, 2 history (list of "<at_ms> <status>", oldest first),
--       3 report (the frozen reports: a reopen discards them, so the report
--       is frozen again, with what came since, when the stream ends again).
-- ARGV: 1 now_ms, then field/value pairs; an empty series value removes the
-- series. A new stream without a status is live.
-- Status moves (README "Stream lifecycle"): a new stream may start in any
-- status; then scheduled -> live, scheduled -> ended, live -> ended, and
-- ended -> live (a reopen). Back to scheduled from live or ended is refused
-- and nothing is written. Every change, the first status included, is
-- appended to the history (capped at the newest 1000 entries).
-- Returns {created_at, status, previous series or '', changed 0|1}, or
-- {0, 'bad_transition', from status, to status} when refused.
local old_series = redis.call('HGET', KEYS[1], 'series') or ''
local old_status = redis.call('HGET', KEYS[1], 'status') or ''
for i = 2, #ARGV, 2 do
  if ARGV[i] == 'status' and ARGV[i + 1] == 'scheduled' and
     (old_status == 'live' or old_status == 'ended') then
    return {0, 'bad_transition', old_status, ARGV[i + 1]}
  end
end
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
local status = redis.call('HGET', KEYS[1], 'status')
local changed = 0
if status ~= old_status then
  changed = 1
  redis.call('RPUSH', KEYS[2], ARGV[1] .. ' ' .. status)
  redis.call('LTRIM', KEYS[2], -1000, -1)
  if old_status == 'ended' then redis.call('DEL', KEYS[3]) end
end
return {tonumber(redis.call('HGET', KEYS[1], 'created_at')), status, old_series, changed}
