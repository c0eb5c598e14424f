-- The session clock, on Redis's own time so every worker agrees.
-- KEYS: the session hash, its log. ARGV: action, amount_ms (start: duration if idle; add: ms).
-- Fields: clock_state (idle|running|paused), clock_deadline (ms, when running),
-- clock_left (ms, when idle or paused). A change bumps the session's version and is logged
-- (feed.lua). Returns {version, state, left_ms, deadline_ms, now_ms}.
local key, log, action, amount = KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', key) == 0 then return {err = 'not_found'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HGET', key, 'clock_state') or 'idle'
local deadline = tonumber(redis.call('HGET', key, 'clock_deadline') or '0')
local left = tonumber(redis.call('HGET', key, 'clock_left') or tostring(amount))
if state == 'running' then left = deadline - now end
local changed = true
if action == 'start' then
  if state == 'running' then changed = false
  else
    if state == 'idle' and amount > 0 then left = amount end
    state, deadline = 'running', now + left
  end
elseif action == 'pause' then
  if state ~= 'running' then changed = false else state = 'paused' end
elseif action == 'add' then
  left = left + amount
  if state == 'running' then deadline = now + left end
elseif action == 'reset' then
  state, left, deadline = 'idle', amount, 0
elseif action ~= 'read' then
  return {err = 'invalid'}
end
if action ~= 'read' and changed then
  redis.call('HSET', key, 'clock_state', state, 'clock_deadline', deadline, 'clock_left', left)
  local v = feed_bump(key, log, 'clock', cjson.encode({state = state, left = left, deadline = deadline}), true)
  return {v, state, left, deadline, now}
end
return {tonumber(redis.call('HGET', key, 'v')), state, left, deadline, now}
