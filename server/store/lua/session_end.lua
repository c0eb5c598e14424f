-- Delete a session: its last log entry says so (workers tell the session's faces), the log
-- itself stays an hour for anyone still reading it, everything else in KEYS goes now.
-- KEYS: the session hash, its log, then the session's other keys. Returns 1, or 0 if gone.
local ses, log = KEYS[1], KEYS[2]
if redis.call('EXISTS', ses) == 0 then return 0 end
feed_bump(ses, log, 'deleted', '{}', true)
redis.call('DEL', ses, unpack(KEYS, 3))
redis.call('EXPIRE', log, 3600)
return 1
