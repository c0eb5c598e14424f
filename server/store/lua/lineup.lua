-- The stage of a session: who is backstage, live, on their backup recording or off,
-- in arrival order, and the session's status. Every change bumps the session version.
-- KEYS[1]: session hash, [2]: lineup hash, [3]: labels hash, [4]: members hash,
-- [5]: order zset, [6]: stage hash.
-- ARGV: op, speaker, value, max_live, member.
--   arrive: value = label, ARGV[5] = presence member; backstage if new, else keeps its place.
--   set:    value = backstage | live | backup | off (live + backup <= max_live).
--   status: value = scheduled | live | ended.
--   touch:  bump the version (a speaker's connection came or went).
--   order:  ARGV[6..] = every speaker of the lineup in the new running order.
-- Returns {changed (0/1), version} or {-1, message} when refused.
local ses, lineup, labels, members, order, stage = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local op, speaker, value, max_live = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('EXISTS', ses) == 0 then return {-1, 'No such session.'} end
local function bump() return {1, redis.call('HINCRBY', ses, 'v', 1)} end
local function same() return {0, tonumber(redis.call('HGET', ses, 'v'))} end

if op == 'arrive' then
  local label_changed = redis.call('HGET', labels, speaker) ~= value
  redis.call('HSET', labels, speaker, value)
  redis.call('HSET', members, speaker, ARGV[5])
  if redis.call('HSETNX', lineup, speaker, 'backstage') == 1 then
    redis.call('ZADD', order, redis.call('HINCRBY', stage, 'arrivals', 1), speaker)
    return bump()
  end
  if label_changed then return bump() end
  return same()
elseif op == 'set' then
  local current = redis.call('HGET', lineup, speaker)
  if not current then return {-1, 'This speaker has not arrived.'} end
  if current == value then return same() end
  if (value == 'live' or value == 'backup') and current ~= 'live' and current ~= 'backup' then
    local on = 0
    for _, state in ipairs(redis.call('HVALS', lineup)) do
      if state == 'live' or state == 'backup' then on = on + 1 end
    end
    if on >= max_live then return {-1, 'The stage is full: take someone off first.'} end
  end
  redis.call('HSET', lineup, speaker, value)
  return bump()
elseif op == 'status' then
  if (redis.call('HGET', stage, 'status') or 'scheduled') == value then return same() end
  redis.call('HSET', stage, 'status', value)
  return bump()
elseif op == 'touch' then
  return bump()
elseif op == 'order' then
  local n = #ARGV - 5
  if n ~= redis.call('ZCARD', order) then return {-1, 'List every speaker of the lineup, once.'} end
  local seen = {}
  for i = 6, #ARGV do
    if seen[ARGV[i]] or not redis.call('ZSCORE', order, ARGV[i]) then
      return {-1, 'List every speaker of the lineup, once.'}
    end
    seen[ARGV[i]] = true
  end
  local unchanged = true
  local current = redis.call('ZRANGE', order, 0, -1)
  for i = 1, n do
    if current[i] ~= ARGV[i + 5] then unchanged = false end
  end
  if unchanged then return same() end
  for i = 6, #ARGV do redis.call('ZADD', order, i - 5, ARGV[i]) end
  return bump()
end
return {-1, 'Unknown operation.'}
