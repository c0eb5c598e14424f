-- Coalesced poll results of one session: if answers changed some polls' results and the last
-- update (by any worker) is older than ARGV[1] ms, log those polls' results (feed.lua).
-- KEYS: the session hash, its log, the polls whose results changed, the gate.
-- Returns 1 if logged, 0 if there was nothing to log, or -(ms until the gate opens).
local ses, log, dirty, gate = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('SCARD', dirty) == 0 then return 0 end
if not redis.call('SET', gate, '1', 'NX', 'PX', ARGV[1]) then
  return -math.max(1, redis.call('PTTL', gate))
end
local ids = redis.call('SMEMBERS', dirty)
redis.call('DEL', dirty)
local out, any = {}, false
for _, id in ipairs(ids) do
  local p = ses .. ':poll:' .. id
  if redis.call('EXISTS', p) == 1 then
    out[id] = {counts = redis.call('HGETALL', p .. ':t'), voters = redis.call('HLEN', p .. ':a')}
    any = true
  end
end
if any and feed_note(ses, log, 'pollres', cjson.encode(out)) then return 1 end
return 0
