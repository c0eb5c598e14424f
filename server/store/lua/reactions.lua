-- Reactions. ARGV[1]: key prefix, ARGV[2]: operation.
--   send:  ARGV session, person, emoji, limit_ms -> 1 counted, 0 over the person's limit
--   flush: ARGV gate_ms, max -> {{session, seq, emoji1, n1, ...}, ...} for sessions due a
--          tick (one worker takes each), the tick's counts cleared in the same step.
local P, op = ARGV[1], ARGV[2]
local DIRTY = P .. 'rx:dirty'
if op == 'send' then
  local s, person, emoji, limit = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
  local ses = P .. 'ses:' .. s
  if not redis.call('SET', ses .. ':rxlimit:' .. person .. ':' .. emoji, '1', 'NX', 'PX', limit) then
    return 0
  end
  redis.call('HINCRBY', ses .. ':rx', emoji, 1)
  redis.call('HINCRBY', ses .. ':rxtotal', emoji, 1)
  redis.call('SADD', DIRTY, s)
  return 1
elseif op == 'flush' then
  local gate, max = tonumber(ARGV[3]), tonumber(ARGV[4])
  local out = {}
  for _, s in ipairs(redis.call('SRANDMEMBER', DIRTY, max)) do
    local ses = P .. 'ses:' .. s
    if redis.call('SET', ses .. ':rxgate', '1', 'NX', 'PX', gate) then
      redis.call('SREM', DIRTY, s)
      local entry = {s, redis.call('HINCRBY', ses, 'rx_seq', 1)}
      local counts = redis.call('HGETALL', ses .. ':rx')
      redis.call('DEL', ses .. ':rx')
      for i = 1, #counts do table.insert(entry, counts[i]) end
      table.insert(out, entry)
    end
  end
  return out
end
return redis.error_reply('unknown reactions op')
