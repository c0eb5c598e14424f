-- Delete a session: its last log entry says so (workers tell the session's faces), the log
-- itself stays an hour for anyone still reading it, everything in KEYS goes now.
-- KEYS: the session hash first, then the session's other keys. Returns 1, or 0 if gone.
local ses = KEYS[1]
if redis.call('EXISTS', ses) == 0 then return 0 end
feed_bump(ses, 'deleted', '{}', true)
redis.call('DEL', unpack(KEYS))
redis.call('EXPIRE', ses .. ':log', 3600)
return 1
