-- Reactions. ARGV[1]: key prefix, ARGV[2]: operation.
--   send:  ARGV session, person, emoji, limit_ms -> 1 counted, 0 over the person's limit
--   flush: ARGV gate_ms, max -> how many sessions' ticks were logged (feed.lua): for each
--          session due one (one worker takes each), what was sent since the last tick and
--          the totals; the tick's counts cleared in the same step.
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
  local n = 0
  for _, s in ipairs(redis.call('SRANDMEMBER', DIRTY, max)) do
    local ses = P .. 'ses:' .. s
    if redis.call('SET', ses .. ':rxgate', '1', 'NX', 'PX', gate) then
      redis.call('SREM', DIRTY, s)
      local counts = feed_hash(ses .. ':rx')
      redis.call('DEL', ses .. ':rx')
      if next(counts) ~= nil then
        local data = cjson.encode({n = counts, total = feed_hash(ses .. ':rxtotal')})
        if feed_note(ses, 'rx', data) then n = n + 1 end
      end
    end
  end
  return n
end
return redis.error_reply('unknown reactions op')
