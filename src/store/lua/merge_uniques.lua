-- The distinct viewers across several streams on a Redis Cluster, where
-- their HyperLogLogs sit on different slots and one PFCOUNT cannot take
-- them (store_series_cluster.c). The caller read each stream's HLL (GET:
-- an HLL is a string) and hands the bytes here; this copies them into
-- scratch keys that share one hash tag, counts their union, and deletes
-- them, in one atomic call.
--
-- KEYS: the scratch keys, one per HLL, all "lt:{series:<id>}:merge:<i>".
-- ARGV: the HLLs' bytes, in the same order.
-- Returns the union's PFCOUNT. A scratch key expires after 60 s should a
-- call ever stop half way (a bad HLL makes PFCOUNT fail).
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i], 'PX', 60000)
end
local n = redis.call('PFCOUNT', unpack(KEYS))
redis.call('DEL', unpack(KEYS))
return n
