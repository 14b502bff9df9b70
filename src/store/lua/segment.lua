-- Starts a segment of a stream (POST /v1/streams/{id}/segments), which ends
-- the one before it: segment k runs from its started_at until segment k+1's
-- (the last one until the stream ends).
--
-- KEYS: 1 meta, 2 totals, 3 segments (hash: n, <k>:title, <k>:started_at).
-- ARGV: 1 title, 2 started_at (epoch ms), 3 the most segments a stream has.
-- Returns {0, k} (started as segment k), {1, 0} (no such stream), {2, 0}
-- (the stream has ended), {3, previous started_at} (started_at is before
-- the previous segment's start), {4, n} (the stream has n segments: full).
--
-- Besides the segments hash, the starts are kept comma-separated, oldest
-- first, in the totals hash's field "gs", and the running (last) segment's
-- counts in its fields "gc:views" and "gc:likes": apply.lua reads and writes
-- that hash with one HMGET and one HSET anyway, so it finds a batch's
-- segment and counts it there without a command of its own (and a stream
-- without segments costs it nothing). This script moves the held counts to
-- the ended segment's g<k>:views and g<k>:likes, where late batches of it
-- add directly (read.lua shows the held ones as g<n>:). Because this script
-- and apply.lua both run atomically, each batch meets either the list before
-- this segment or the list with it: its counts land in exactly one segment,
-- the one whose start is the latest at or before the batch's at_ms. A
-- started_at in the past moves nothing: batches applied before this script
-- ran stay in the segment they were counted in; later batches (late or
-- resent ones too) go by their own at_ms.
if redis.call('EXISTS', KEYS[1]) == 0 then return {1, 0} end
if redis.call('HGET', KEYS[1], 'status') == 'ended' then return {2, 0} end
local n = tonumber(redis.call('HGET', KEYS[3], 'n') or '0')
if n >= tonumber(ARGV[3]) then return {4, n} end
if n > 0 then
  local prev = tonumber(redis.call('HGET', KEYS[3], n .. ':started_at') or '0')
  if tonumber(ARGV[2]) < prev then return {3, prev} end
end
-- The running segment's counts, held in gc:views and gc:likes (apply.lua),
-- become segment n's own fields; the new segment starts from zero.
local held = redis.call('HMGET', KEYS[2], 'gs', 'gc:views', 'gc:likes')
if n > 0 then
  redis.call('HINCRBY', KEYS[2], 'g' .. n .. ':views', tonumber(held[2] or '0'))
  redis.call('HINCRBY', KEYS[2], 'g' .. n .. ':likes', tonumber(held[3] or '0'))
end
n = n + 1
redis.call('HSET', KEYS[3], 'n', n, n .. ':title', ARGV[1], n .. ':started_at', ARGV[2])
redis.call('HSET', KEYS[2], 'gs', held[1] and (held[1] .. ',' .. ARGV[2]) or ARGV[2],
           'gc:views', 0, 'gc:likes', 0)
return {0, n}
