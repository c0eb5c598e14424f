-- The stage of a session: who is backstage, live, on their backup recording or off, in
-- running order, and the session's status. Every change bumps the session's version and logs
-- the whole stage (feed.lua) in the same step.
-- KEYS: the session hash, its log, then keys.stage_keys(session).
-- ARGV: op, speaker, value, max_live, member, backup, lang, [speakers...].
--   arrive: value = label, member = presence member, backup = the invite's backup recording
--           (kept if the session has one for this speaker already), lang = their studio's
--           language ('' keeps the one known); backstage if new, else keeps its place (and
--           who is connected is logged, unversioned).
--   set:    value = backstage | live | backup | off (live + backup <= max_live).
--   status: value = scheduled | live | ended.
--   touch:  value = the speaker's backup recording ('' for none): kept, and the stage logged
--           again if the speaker is in the lineup.
--   order:  speakers = every speaker of the lineup in the new running order.
-- Returns {changed (0/1), version} or {-1, message} when refused.
local ses, log = KEYS[1], KEYS[2]
local k = feed_stage_keys(3)
local lineup, labels, members, order, stage = k.lineup, k.labels, k.members, k.order, k.stage
local op, speaker, value, max_live = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local FIRST = 8  -- the first speaker of `order`
if redis.call('EXISTS', ses) == 0 then return {-1, 'No such session.'} end
-- A speaker's own arrival is news to the staff, not something the audience must see at once.
local function bump() return {1, feed_bump(ses, log, 'stage', cjson.encode(feed_stage(k)), op ~= 'arrive')} end
local function same() return {0, tonumber(redis.call('HGET', ses, 'v'))} end
-- When a speaker enters a state (Redis time, ms): screens play a backup recording from there.
local function entered(who)
  local now = redis.call('TIME')
  redis.call('HSET', k.since, who, now[1] * 1000 + math.floor(now[2] / 1000))
end

if op == 'arrive' then
  local label_changed = redis.call('HGET', labels, speaker) ~= value
  redis.call('HSET', labels, speaker, value)
  if ARGV[7] ~= '' and redis.call('HGET', k.langs, speaker) ~= ARGV[7] then
    redis.call('HSET', k.langs, speaker, ARGV[7])
    label_changed = true
  end
  redis.call('HSET', members, speaker, ARGV[5])
  redis.call('HSETNX', k.backups, speaker, ARGV[6])
  if redis.call('HSETNX', lineup, speaker, 'backstage') == 1 then
    entered(speaker)
    redis.call('ZADD', order, redis.call('HINCRBY', stage, 'arrivals', 1), speaker)
    return bump()
  end
  if label_changed then return bump() end
  -- Back in their place: the staff's lineups show them connected from this very step.
  feed_note(ses, log, 'online', cjson.encode(feed_online(members, k.present)))
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
  entered(speaker)
  return bump()
elseif op == 'status' then
  if (redis.call('HGET', stage, 'status') or 'scheduled') == value then return same() end
  redis.call('HSET', stage, 'status', value)
  return bump()
elseif op == 'touch' then
  redis.call('HSET', k.backups, speaker, value)
  if redis.call('HEXISTS', lineup, speaker) == 0 then return same() end
  return bump()
elseif op == 'order' then
  local n = #ARGV - FIRST + 1
  if n ~= redis.call('ZCARD', order) then return {-1, 'List every speaker of the lineup, once.'} end
  local seen = {}
  for i = FIRST, #ARGV do
    if seen[ARGV[i]] or not redis.call('ZSCORE', order, ARGV[i]) then
      return {-1, 'List every speaker of the lineup, once.'}
    end
    seen[ARGV[i]] = true
  end
  local unchanged = true
  local current = redis.call('ZRANGE', order, 0, -1)
  for i = 1, n do
    if current[i] ~= ARGV[i + FIRST - 1] then unchanged = false end
  end
  if unchanged then return same() end
  for i = FIRST, #ARGV do redis.call('ZADD', order, i - FIRST + 1, ARGV[i]) end
  return bump()
end
return {-1, 'Unknown operation.'}
