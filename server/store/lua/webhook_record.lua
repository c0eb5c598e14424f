-- The recent deliveries of one event's webhook, for the organizer's page.
-- KEYS: the deliveries (id -> JSON), the recent ones (id -> when made, ms).
-- ARGV: id, JSON, made_ms, keep. Records (or updates) one delivery; only the newest `keep`
-- stay. Returns how many were dropped.
local deliveries, recent = KEYS[1], KEYS[2]
local id, data, made, keep = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
redis.call('ZADD', recent, 'NX', made, id)
redis.call('HSET', deliveries, id, data)
local extra = redis.call('ZCARD', recent) - keep
if extra <= 0 then return 0 end
local old = redis.call('ZRANGE', recent, 0, extra - 1)
redis.call('ZREMRANGEBYRANK', recent, 0, extra - 1)
redis.call('HDEL', deliveries, unpack(old))
return extra
