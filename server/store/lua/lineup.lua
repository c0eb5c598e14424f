-- The stage lineup of a session: speaker (invite id) -> backstage | live | off.
-- KEYS[1]: session hash, KEYS[2]: lineup hash, KEYS[3]: labels hash.
-- ARGV: op ('arrive' | 'set'), speaker, state or label, max_live.
-- Returns {changed (0/1), version} or {-1, message} when refused.
local ses, lineup, labels = KEYS[1], KEYS[2], KEYS[3]
local op, speaker, value, max_live = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('EXISTS', ses) == 0 then return {-1, 'No such session.'} end
if op == 'arrive' then
  -- A speaker who arrives waits backstage; one who comes back keeps their place.
  redis.call('HSET', labels, speaker, value)
  if redis.call('HSETNX', lineup, speaker, 'backstage') == 1 then
    return {1, redis.call('HINCRBY', ses, 'v', 1)}
  end
  return {0, tonumber(redis.call('HGET', ses, 'v'))}
elseif op == 'set' then
  local current = redis.call('HGET', lineup, speaker)
  if not current then return {-1, 'This speaker has not arrived.'} end
  if current == value then return {0, tonumber(redis.call('HGET', ses, 'v'))} end
  if value == 'live' then
    local live = 0
    for _, state in ipairs(redis.call('HVALS', lineup)) do
      if state == 'live' then live = live + 1 end
    end
    if live >= max_live then return {-1, 'The stage is full: take someone off first.'} end
  end
  redis.call('HSET', lineup, speaker, value)
  return {1, redis.call('HINCRBY', ses, 'v', 1)}
end
return {-1, 'Unknown operation.'}
