-- Change fields of a versioned hash (a session) and bump its version `v`, atomically.
-- KEYS[1]: the hash. ARGV: field, value, field, value, ... (may be empty).
-- Returns the new version, or 0 when the hash does not exist (never recreates it).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if #ARGV > 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
return redis.call('HINCRBY', KEYS[1], 'v', 1)
