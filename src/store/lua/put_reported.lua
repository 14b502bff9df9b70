-- Records a partner platform's report of one source (absolute counts), in
-- one script, so that the report, the sums over sources and the pushed
-- totals never disagree.
--
-- KEYS: 1 meta, 2 totals, 3 reported (hash), 4 reports (zset).
-- ARGV: 1 stream id, 2 source, 3 views, 4 likes, 5 now_ms, 6 cap (reports
--       kept: the newest cap).
-- Returns {status, views, likes, lower, at_ms, seq}: status 1 = recorded,
-- 0 = no such stream (a report creates none), -1 = the stream has ended
-- (nothing written); views/likes are the stream's new top-level totals
-- (counted + reported over every source); lower = 1 when views or likes is
-- below the source's previous report (accepted, and flagged).
--
-- lt:{id}:reported holds each source's latest report: <source>:views,
-- <source>:likes, <source>:at (ms), <source>:lower (0|1). The totals hash
-- keeps their sums as reported_views and reported_likes (apply.lua adds
-- them to what it publishes). lt:{id}:reports keeps every report, score =
-- at ms, member "<at_ms> <source> <views> <likes> <lower 0|1>". A source's
-- reports get strictly rising times: one that comes in the same millisecond
-- as (or, the clock stepping back, before) its previous one is dated one
-- millisecond after it, so that the sorted set keeps their order.
--
-- A report that changes the sums raises the stream's seq and publishes the
-- pushed totals on lt:{id}:totals in apply.lua's format.
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0, 0, 0, 0, 0} end
if redis.call('HGET', KEYS[1], 'status') == 'ended' then return {-1, 0, 0, 0, 0, 0} end
local src, views, likes = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local now = tonumber(ARGV[5])
local old = redis.call('HMGET', KEYS[3], src .. ':views', src .. ':likes', src .. ':at')
if old[3] and now <= tonumber(old[3]) then now = tonumber(old[3]) + 1 end
local oldv, oldl = tonumber(old[1] or '0'), tonumber(old[2] or '0')
local lower = 0
if old[1] and (views < oldv or likes < oldl) then lower = 1 end
redis.call('HSET', KEYS[3], src .. ':views', views, src .. ':likes', likes, src .. ':at', now,
           src .. ':lower', lower)
local t = redis.call('HMGET', KEYS[2], 'seq', 'views', 'likes', 'uniques', 'online',
                     'peak_online', 'reported_views', 'reported_likes')
local rv = tonumber(t[7] or '0') + views - oldv
local rl = tonumber(t[8] or '0') + likes - oldl
local sseq = tonumber(t[1] or '0')
local changed = rv ~= tonumber(t[7] or '0') or rl ~= tonumber(t[8] or '0')
if changed then sseq = sseq + 1 end
redis.call('HSET', KEYS[2], 'reported_views', rv, 'reported_likes', rl, 'seq', sseq,
           'updated_at', now)
redis.call('ZADD', KEYS[4], now, string.format('%d %s %d %d %d', now, src, views, likes, lower))
redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -(tonumber(ARGV[6]) + 1))
local tv, tl = tonumber(t[2] or '0') + rv, tonumber(t[3] or '0') + rl
if changed then
  redis.call('PUBLISH', 'lt:{' .. ARGV[1] .. '}:totals', string.format(
    'seq %d\nviews %d\nuniques %d\nlikes %d\nonline %d\npeak_online %d\nts %d\n' ..
    'counted_views %d\ncounted_likes %d',
    sseq, tv, tonumber(t[4] or '0'), tl, tonumber(t[5] or '0'), tonumber(t[6] or '0'), now,
    tonumber(t[2] or '0'), tonumber(t[3] or '0')))
end
return {1, tv, tl, lower, now, sseq}
