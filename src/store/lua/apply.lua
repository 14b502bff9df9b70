-- Applies one batch of one stream exactly once, then publishes the stream's
-- new totals. Touches only the keys it is given, all of one stream (hash tag
-- {id}), so it runs on one Redis Cluster slot.
--
-- KEYS: 1 meta, 2 totals, 3 uniques (HLL), 4 lastview (zset viewer -> ms of
--       the last counted view), 5 online (hash worker -> "count:expires_ms")
-- ARGV: 1 incarnation, 2 seq, 3 at_ms, 4 dedup_ms, 5 stream id,
--       6 online field ('' = no online report), 7 online count, 8 online ttl ms,
--       9..11 retention in seconds of the 10 s, 1 min and 1 h time buckets,
--       12 like taps dropped by the budgets, 13 events rejected (both
--       added to the totals hash fields dropped_taps and rejected),
--       14 n_sources, then n_sources x (source, likes), then n_counters, then
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
-- likes, online, peak_online, ts, counted_views, counted_likes. The
-- published views and likes are the counted ones plus the partners' reports
-- (totals fields reported_views, reported_likes, kept by put_reported.lua);
-- counted_views and counted_likes are the counted ones alone (the totals
-- hash's views and likes), so that a per-minute chart never takes a
-- partner's report for a minute's views.
--
-- Time buckets: the same deltas go to the 10 s, 1 min and 1 h buckets that
-- hold at_ms (the batch's seal time, at most flush_interval_ms after its
-- events were accepted), under the same high-water mark, so a resend adds
-- nothing there either. Keys (all with the stream's hash tag, built here from
-- the stream id, so they are not in KEYS; they live on the stream's slot):
--   lt:{id}:ts:<size>:<start>    hash: views, likes, c:<counter>,
--                                s:<source>:views, s:<source>:likes, online (max)
--   lt:{id}:ts:<size>:<start>:u  HLL of the viewers seen in the bucket
-- Each expires at the bucket's end + its retention.
--
-- Redis commands are the cost that counts (every batch runs this), so the
-- counts of each resolution's newest bucket are kept in the totals hash,
-- which this script reads (HMGET) and writes (HSET) anyway:
--   tb:<size>   "<start>:<online max>:<HLL expiry set 0|1>" of that bucket
--   tbf:<size>  the names counted in it, comma-separated
--   b<size>:<name>  its count of name
-- and ts_lo, the lowest batch time ever applied, so that a DELETE knows
-- from which bucket on keys can exist (delete.lua).
-- A batch in the same bucket costs no command of its own; one in a newer
-- bucket first moves the held counts into the old bucket's hash (HMGET,
-- HDEL, HSET, EXPIREAT: once per bucket); one in an older bucket (late or
-- resent from before) adds to that bucket's hash directly (HMGET, HSET,
-- EXPIREAT). timeseries.lua adds the held counts when it reads. The HLL is
-- written per batch with views (PFADD), its expiry set once (the flag).
local inc, seq, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local SIZES = {10, 60, 3600}
-- The bucket fields this batch may change, known from ARGV before counting,
-- so that the held counts come with the first HMGET.
local cand, cand_seen = {}, {}
local function cand_add(name)
  if not cand_seen[name] then cand_seen[name] = true; cand[#cand + 1] = name end
end
do
  local j, srcnames = 15, {}
  for s = 1, tonumber(ARGV[14]) do
    srcnames[s] = ARGV[j]
    if tonumber(ARGV[j + 1]) > 0 then cand_add('likes'); cand_add('s:' .. ARGV[j] .. ':likes') end
    j = j + 2
  end
  local nc = tonumber(ARGV[j]); j = j + 1
  for c = 1, nc do cand_add('c:' .. ARGV[j]); j = j + 2 end
  if j < #ARGV then
    cand_add('views')
    for k = j + 1, #ARGV, 2 do cand_add('s:' .. srcnames[tonumber(ARGV[k])] .. ':views') end
  end
end
local hm = {'a:' .. inc, 'seq', 'views', 'likes', 'uniques', 'online', 'peak_online',
            'tb:10', 'tb:60', 'tb:3600', 'tbf:10', 'tbf:60', 'tbf:3600'}
for _, size in ipairs(SIZES) do
  for k = 1, #cand do hm[#hm + 1] = 'b' .. size .. ':' .. cand[k] end
end
-- Partner reports' sums (put_reported.lua), added to what is published.
local RPT = #hm + 1
hm[RPT], hm[RPT + 1] = 'reported_views', 'reported_likes'
-- The segments' starts and the running segment's held counts (segment.lua),
-- read with the rest: no command more.
hm[#hm + 1] = 'gs'
local gs_at = #hm
hm[#hm + 1] = 'gc:views'
hm[#hm + 1] = 'gc:likes'
-- ts_lo: the lowest batch time ever applied, so DELETE knows from which
-- bucket on keys can exist (delete.lua).
local ts_lo_at = #hm + 1
hm[ts_lo_at] = 'ts_lo'
local t = redis.call('HMGET', KEYS[2], unpack(hm))
local mark, sseq = tonumber(t[1] or '0'), tonumber(t[2] or '0')
if seq <= mark then
  return {0, 0, sseq, tonumber(redis.call('HGET', KEYS[1], 'created_at') or '0')}
end
local views, likes, uniques = tonumber(t[3] or '0'), tonumber(t[4] or '0'), tonumber(t[5] or '0')
local online, peak = tonumber(t[6] or '0'), tonumber(t[7] or '0')
local changed, views_counted = false, 0
local nsrc = tonumber(ARGV[14])
-- A batch that carries only an online report (subscribers of a stream that
-- has no event yet) must not create the stream: subscribing creates no
-- keys. Events create it, live.
if redis.call('EXISTS', KEYS[1]) == 0 then
  local any, j = false, 15
  for s = 1, nsrc do
    if tonumber(ARGV[j + 1]) > 0 then any = true end
    j = j + 2
  end
  if tonumber(ARGV[j]) > 0 or j + 1 < #ARGV then any = true end
  if not any then return {1, 0, 0, 0} end
  redis.call('HSET', KEYS[1], 'created_at', ARGV[3], 'status', 'live', 'auto_created', '1')
end
-- The batch's deltas for the time buckets: field names and amounts.
local bnames, bdelta = {}, {}
local function bucket_add(name, n)
  bnames[#bnames + 1] = name
  bdelta[#bdelta + 1] = n
end
local srcs, i, added = {}, 15, 0
for s = 1, nsrc do
  local name, n = ARGV[i], tonumber(ARGV[i + 1])
  srcs[s] = name
  if n > 0 then
    redis.call('HINCRBY', KEYS[2], 's:' .. name .. ':likes', n)
    bucket_add('s:' .. name .. ':likes', n)
    added = added + n
  end
  i = i + 2
end
if added > 0 then
  likes = redis.call('HINCRBY', KEYS[2], 'likes', added)
  bucket_add('likes', added)
  changed = true
end
local ncnt = tonumber(ARGV[i]); i = i + 1
for c = 1, ncnt do
  redis.call('HINCRBY', KEYS[2], 'c:' .. ARGV[i], tonumber(ARGV[i + 1]))
  bucket_add('c:' .. ARGV[i], tonumber(ARGV[i + 1]))
  i = i + 2
end
local viewers = {}
if i < #ARGV then
  local vsrc = {}
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
    bucket_add('views', counted)
    for s, n in pairs(persrc) do
      redis.call('HINCRBY', KEYS[2], 's:' .. srcs[s] .. ':views', n)
      bucket_add('s:' .. srcs[s] .. ':views', n)
    end
    changed = true
  end
  views_counted = counted
end
-- Online: each worker's share carries its own expiry (Redis 7.0 has no
-- per-field expiry); shares past it belong to dead workers and go.
local peak_at = nil
local reported = ARGV[6] ~= ''
if reported then
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
-- Time buckets (see the top).
local tset = {}
local bprefix = 'lt:{' .. ARGV[5] .. '}:ts:'
for r, size in ipairs(SIZES) do
  local start = math.floor(now / 1000 / size) * size
  local keep = tonumber(ARGV[8 + r])
  local hkey = string.format('%s%d:%d', bprefix, size, start)
  local ukey = hkey .. ':u'
  local mstart, mmax, mu = -1, 0, 0
  if t[7 + r] then
    local a, b, c = string.match(t[7 + r], '^(%d+):(%d+):(%d)$')
    if a then mstart, mmax, mu = tonumber(a), tonumber(b), tonumber(c) end
  end
  local names = {}
  for name in string.gmatch(t[10 + r] or '', '[^,]+') do names[#names + 1] = name end
  local late = start < mstart
  if late then
    -- An older bucket, moved out of the totals hash before: add to it there.
    local get = {unpack(bnames)}
    if reported then get[#get + 1] = 'online' end
    if #get > 0 then
      local cur = redis.call('HMGET', hkey, unpack(get))
      local set = {}
      for k = 1, #bnames do
        set[#set + 1] = bnames[k]
        set[#set + 1] = tonumber(cur[k] or '0') + bdelta[k]
      end
      if reported and online > tonumber(cur[#get] or '0') then
        set[#set + 1] = 'online'
        set[#set + 1] = online
      end
      if #set > 0 then
        redis.call('HSET', hkey, unpack(set))
        redis.call('EXPIREAT', hkey, start + size + keep)
      end
    end
  else
    local held = {}
    if start > mstart then
      -- A newer bucket: the held one goes to its own hash, once.
      if mstart >= 0 and (#names > 0 or mmax > 0) then
        local okey = string.format('%s%d:%d', bprefix, size, mstart)
        local set = {}
        if #names > 0 then
          local fields = {}
          for k = 1, #names do fields[k] = 'b' .. size .. ':' .. names[k] end
          local vals = redis.call('HMGET', KEYS[2], unpack(fields))
          redis.call('HDEL', KEYS[2], unpack(fields))
          for k = 1, #names do
            set[#set + 1] = names[k]
            set[#set + 1] = vals[k] or '0'
          end
        end
        if mmax > 0 then
          set[#set + 1] = 'online'
          set[#set + 1] = mmax
        end
        redis.call('HSET', okey, unpack(set))
        redis.call('EXPIREAT', okey, mstart + size + keep)
      end
      names, mmax, mu = {}, 0, 0
    else
      for k = 1, #cand do held[cand[k]] = tonumber(t[13 + (r - 1) * #cand + k] or '0') end
    end
    local listed = {}
    for k = 1, #names do listed[names[k]] = true end
    for k = 1, #bnames do
      local name = bnames[k]
      held[name] = (held[name] or 0) + bdelta[k]
      if not listed[name] then listed[name] = true; names[#names + 1] = name end
      tset[#tset + 1] = 'b' .. size .. ':' .. name
      tset[#tset + 1] = held[name]
    end
    if reported and online > mmax then mmax = online end
  end
  local wrote_u = false
  for from = 1, #viewers, 1000 do
    redis.call('PFADD', ukey, unpack(viewers, from, math.min(from + 999, #viewers)))
    wrote_u = true
  end
  if wrote_u and (late or mu == 0) then
    redis.call('EXPIREAT', ukey, start + size + keep)
    if not late then mu = 1 end
  end
  if not late then
    tset[#tset + 1] = 'tb:' .. size
    tset[#tset + 1] = string.format('%d:%d:%d', start, mmax, mu)
    tset[#tset + 1] = 'tbf:' .. size
    tset[#tset + 1] = table.concat(names, ',')
  end
end
-- Segments: the batch belongs to the segment whose start is the latest at
-- or before at_ms (none before the first one); its counted views and likes
-- go to that segment's counts and its viewers to lt:{id}:seg:<k>:u. The
-- running (last) segment's counts are held in gc:views and gc:likes, read
-- and written with the HMGET and HSET above and below, so a batch in it
-- costs no command but the PFADD of its viewers; segment.lua moves them to
-- g<k>:views and g<k>:likes when the next segment starts. A late batch
-- (at_ms before the running segment's start) adds to its own segment's
-- g<k>: fields directly.
if t[gs_at] then
  local k, n = 0, 0
  for start in string.gmatch(t[gs_at], '%d+') do
    n = n + 1
    if tonumber(start) <= now then k = n end
  end
  if k > 0 then
    if k == n then
      if added > 0 or views_counted > 0 then
        tset[#tset + 1] = 'gc:views'
        tset[#tset + 1] = tonumber(t[gs_at + 1] or '0') + views_counted
        tset[#tset + 1] = 'gc:likes'
        tset[#tset + 1] = tonumber(t[gs_at + 2] or '0') + added
      end
    else
      if added > 0 then redis.call('HINCRBY', KEYS[2], 'g' .. k .. ':likes', added) end
      if views_counted > 0 then
        redis.call('HINCRBY', KEYS[2], 'g' .. k .. ':views', views_counted)
      end
    end
    local skey = 'lt:{' .. ARGV[5] .. '}:seg:' .. k .. ':u'
    for from = 1, #viewers, 1000 do
      redis.call('PFADD', skey, unpack(viewers, from, math.min(from + 999, #viewers)))
    end
  end
end
-- The lowest batch time (for DELETE).
if not t[ts_lo_at] or now < tonumber(t[ts_lo_at]) then
  tset[#tset + 1] = 'ts_lo'
  tset[#tset + 1] = now
end
if changed then sseq = sseq + 1 end
redis.call('HSET', KEYS[2], 'a:' .. inc, seq, 'seq', sseq, 'updated_at', ARGV[3],
           'uniques', uniques, 'online', online, 'peak_online', peak, unpack(tset))
if peak_at then redis.call('HSET', KEYS[2], 'peak_at', peak_at) end
-- Refusals counted for this stream (under the same mark: once).
if tonumber(ARGV[12]) > 0 then redis.call('HINCRBY', KEYS[2], 'dropped_taps', ARGV[12]) end
if tonumber(ARGV[13]) > 0 then redis.call('HINCRBY', KEYS[2], 'rejected', ARGV[13]) end
if changed then
  redis.call('PUBLISH', 'lt:{' .. ARGV[5] .. '}:totals', string.format(
    'seq %d\nviews %d\nuniques %d\nlikes %d\nonline %d\npeak_online %d\nts %d\n' ..
    'counted_views %d\ncounted_likes %d',
    sseq, views + tonumber(t[RPT] or '0'), uniques, likes + tonumber(t[RPT + 1] or '0'), online,
    peak, now, views, likes))
end
return {1, views_counted, sseq, tonumber(redis.call('HGET', KEYS[1], 'created_at'))}
