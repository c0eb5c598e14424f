-- Reactions of one session. ARGV[1]: operation.
--   send:  KEYS: the unsent counts, the totals, this person's limit for this emoji.
--          ARGV: emoji, limit_ms -> 1 counted, 0 over the person's limit.
--   flush: KEYS: the session hash, its log, the unsent counts, the totals, the gate.
--          ARGV: gate_ms -> 1 if a tick was logged (what was sent since the last one, and the
--          totals; the tick's counts cleared in the same step), 0 if nothing was sent, or
--          -(ms until the gate opens) if the last tick (by any worker) was too recent.
local op = ARGV[1]
if op == 'send' then
  local rx, totals, limit = KEYS[1], KEYS[2], KEYS[3]
  if not redis.call('SET', limit, '1', 'NX', 'PX', ARGV[3]) then return 0 end
  redis.call('HINCRBY', rx, ARGV[2], 1)
  redis.call('HINCRBY', totals, ARGV[2], 1)
  return 1
elseif op == 'flush' then
  local ses, log, rx, totals, gate = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
  if redis.call('EXISTS', rx) == 0 then return 0 end
  if not redis.call('SET', gate, '1', 'NX', 'PX', ARGV[2]) then
    return -math.max(1, redis.call('PTTL', gate))
  end
  local counts = feed_hash(rx)
  redis.call('DEL', rx)
  local data = cjson.encode({n = counts, total = feed_hash(totals)})
  if feed_note(ses, log, 'rx', data) then return 1 end
  return 0
end
return redis.error_reply('unknown reactions op')
