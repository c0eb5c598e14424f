-- Change fields of a session and log it, atomically (feed.lua): the session's new version.
-- KEYS: the session hash, its log. ARGV: kind, data (JSON), then field, value, ... (may be none).
-- Returns the new version, or 0 when the session does not exist (never recreates it).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
return feed_bump(KEYS[1], KEYS[2], ARGV[1], ARGV[2], true)
