-- Live presence of one session, changed atomically. One operation per call (ARGV[1]).
-- A "member" is "role|person": a person with three tabs open is one member with
-- three connections, counted once under "role|where" in the session's counts.
-- KEYS of join, leave, where and reap (keys.presence_keys): the session's connections
-- (socket -> "worker|member"), the calling worker's connections in it, members, where each
-- member is, counts, and the flags that say the counts, and who of the lineup is connected,
-- changed since they were last logged, then since when each person present is here and how
-- long each was here before (the organizer's time-in-session, insight.lua). flush and online
-- name their own KEYS.
-- join, leave and reap return, after their own answer, whether the counts changed and
-- whether a speaker came or went: the worker then logs them soon (server/store/pending.py).
local op = ARGV[1]

if op == 'flush' then
  -- KEYS: the session hash, its log, counts, counts as logged, the gate, the counts' flag.
  -- ARGV: gate_ms. Logs the counts if they changed and the last update (by any worker) is
  -- older than gate_ms: however fast people come and go, the log gets them at most once per
  -- gate. Returns 1 if logged, 0 if nothing to log, -(ms until the gate opens) if too soon.
  local ses, log, counts_key, logged, gate, dirty = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
  if redis.call('EXISTS', dirty) == 0 then return 0 end
  if not redis.call('SET', gate, '1', 'NX', 'PX', ARGV[2]) then
    return -math.max(1, redis.call('PTTL', gate))
  end
  redis.call('DEL', dirty)
  redis.call('HINCRBY', counts_key, '_seq', 1)
  local counts = feed_hash(counts_key)
  counts['_seq'] = nil
  if next(counts) == nil then counts['audience|hall'] = 0 end  -- an object, not cjson's {}
  if not feed_note(ses, log, 'presence', cjson.encode(counts)) then return 0 end
  -- What the log says now, for a worker that loads the session (feed_load.lua).
  redis.call('DEL', logged)
  for field, value in pairs(counts) do redis.call('HSET', logged, field, value) end
  return 1
elseif op == 'online' then
  -- KEYS: the session hash, its log, the lineup's members, presence members, the flag.
  -- Logs who of the lineup is connected if a speaker came or went. Returns 1 if logged.
  local ses, log, members, present, dirty = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
  if redis.call('DEL', dirty) == 0 then return 0 end
  if feed_note(ses, log, 'online', cjson.encode(feed_online(members, present))) then return 1 end
  return 0
end

local CONNS, MINE, MEMBERS, WHERE, COUNTS, DIRTY, SPEAKERS, SINCE, DWELL =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local changed, speakers = 0, 0

local clock
local function now_ms()
  if not clock then
    local t = redis.call('TIME')
    clock = t[1] * 1000 + math.floor(t[2] / 1000)
  end
  return clock
end

-- A person's stay: from their first connection to their last one closing.
local function stay_begins(member)
  redis.call('HSET', SINCE, member, now_ms())
end
local function stay_ends(member)
  local since = tonumber(redis.call('HGET', SINCE, member))
  if since then
    redis.call('HDEL', SINCE, member)
    redis.call('HINCRBY', DWELL, member, math.max(0, now_ms() - since))
  end
end

local function role_of(member)
  return string.match(member, '^([^|]+)|')
end

local function mark(member)
  redis.call('SET', DIRTY, '1')
  changed = 1
  if role_of(member) == 'speaker' then
    redis.call('SET', SPEAKERS, '1')
    speakers = 1
  end
end

-- Remove one connection; the member leaves the counts with their last connection.
local function leave(conn)
  local info = redis.call('HGET', CONNS, conn)
  if not info then return 0 end
  local member = string.match(info, '^[^|]*|(.*)$')
  redis.call('HDEL', CONNS, conn)
  redis.call('SREM', MINE, conn)  -- (a socket id is one worker's: MINE is the set it is in)
  local left = redis.call('HINCRBY', MEMBERS, member, -1)
  if left <= 0 then
    redis.call('HDEL', MEMBERS, member)
    local where = redis.call('HGET', WHERE, member)
    redis.call('HDEL', WHERE, member)
    stay_ends(member)
    if where then
      redis.call('HINCRBY', COUNTS, role_of(member) .. '|' .. where, -1)
    end
    mark(member)
  end
  return 1
end

if op == 'join' then
  -- ARGV: conn, member, where, worker. Counts conn (again, if it was counted here already);
  -- returns {the member's where, changed, speakers}.
  local conn, member, where, worker = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
  leave(conn)
  redis.call('HSET', CONNS, conn, worker .. '|' .. member)
  redis.call('SADD', MINE, conn)
  local n = redis.call('HINCRBY', MEMBERS, member, 1)
  if n == 1 then
    redis.call('HSET', WHERE, member, where)
    redis.call('HINCRBY', COUNTS, role_of(member) .. '|' .. where, 1)
    stay_begins(member)
    mark(member)
  else
    where = redis.call('HGET', WHERE, member) or where
  end
  return {where, changed, speakers}

elseif op == 'leave' then
  -- ARGV: conn. Returns {1 if the connection was counted, changed, speakers}.
  return {leave(ARGV[2]), changed, speakers}

elseif op == 'where' then
  -- ARGV: member, where. Moves a present member between hall and remote; {1 if present, changed}.
  local member, where = ARGV[2], ARGV[3]
  local old = redis.call('HGET', WHERE, member)
  if not old then return {0, 0} end
  if old ~= where then
    redis.call('HSET', WHERE, member, where)
    local role = role_of(member)
    redis.call('HINCRBY', COUNTS, role .. '|' .. old, -1)
    redis.call('HINCRBY', COUNTS, role .. '|' .. where, 1)
    redis.call('SET', DIRTY, '1')
    changed = 1
  end
  return {1, changed}

elseif op == 'reap' then
  -- Drops every connection of the worker whose set MINE is (it died, or is stopping).
  -- Returns {connections removed, changed, speakers}.
  local conns = redis.call('SMEMBERS', MINE)
  for _, conn in ipairs(conns) do leave(conn) end
  redis.call('DEL', MINE)
  return {#conns, changed, speakers}
end
return redis.error_reply('unknown presence op ' .. tostring(op))
