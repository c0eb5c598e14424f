-- Live presence, changed atomically. One script, one operation per call (ARGV[2]).
-- Keys are built from the prefix (ARGV[1]) and must match server/store/keys.py.
-- A "member" is "role|person": a person with three tabs open is one member with
-- three connections, counted once under "role|where" in the session's counts.
local P = ARGV[1]
local op = ARGV[2]

local function counts_key(s) return P .. 'ses:' .. s .. ':pcounts' end
local function members_key(s) return P .. 'ses:' .. s .. ':pmembers' end
local function where_key(s) return P .. 'ses:' .. s .. ':pwhere' end
local function conn_key(c) return P .. 'conn:' .. c end
local function worker_key(w) return P .. 'worker:' .. w .. ':conns' end
local DIRTY = P .. 'presence:dirty'
local STAGE_DIRTY = P .. 'stage:dirty'  -- a speaker connected or dropped: the lineup shows it
local WORKERS = P .. 'workers'

local function role_of(member)
  return string.match(member, '^([^|]+)|')
end

-- Remove one connection; the member leaves the counts with their last connection.
local function leave(conn)
  local info = redis.call('HMGET', conn_key(conn), 'session', 'member', 'worker')
  local s, member, worker = info[1], info[2], info[3]
  if not s then return 0 end
  redis.call('DEL', conn_key(conn))
  redis.call('SREM', worker_key(worker), conn)
  local left = redis.call('HINCRBY', members_key(s), member, -1)
  if left <= 0 then
    redis.call('HDEL', members_key(s), member)
    local where = redis.call('HGET', where_key(s), member)
    redis.call('HDEL', where_key(s), member)
    if where then
      redis.call('HINCRBY', counts_key(s), role_of(member) .. '|' .. where, -1)
    end
    redis.call('SADD', DIRTY, s)
    if role_of(member) == 'speaker' then redis.call('SADD', STAGE_DIRTY, s) end
  end
  return 1
end

-- Count one connection in a session (leaving any previous one); returns the member's where.
local function join(conn, s, member, where, worker)
  leave(conn)
  redis.call('HSET', conn_key(conn), 'session', s, 'member', member, 'worker', worker)
  redis.call('SADD', worker_key(worker), conn)
  local n = redis.call('HINCRBY', members_key(s), member, 1)
  if n == 1 then
    redis.call('HSET', where_key(s), member, where)
    redis.call('HINCRBY', counts_key(s), role_of(member) .. '|' .. where, 1)
    redis.call('SADD', DIRTY, s)
    if role_of(member) == 'speaker' then redis.call('SADD', STAGE_DIRTY, s) end
    return where
  end
  return redis.call('HGET', where_key(s), member) or where
end

if op == 'join' then
  -- ARGV: conn, session, member, where, worker. Returns the member's where.
  return join(ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])

elseif op == 'admit' then
  -- A join's admission in one step: the person's join rate, a ban from the event, and the
  -- count. ARGV: conn, session, member, where, worker, rate key, rate limit, window ms,
  -- event, participant ('' for an invite holder), keyed hash of their address.
  -- Returns {'ok', where} or {'rate_limited', ms left} or {'banned'}; refused joins change
  -- nothing but the rate counter.
  local conn, s, member, where, worker = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
  local rate, limit, window = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
  local event, pid, address = ARGV[11], ARGV[12], ARGV[13]
  local n = redis.call('INCR', rate)
  local ttl = redis.call('PTTL', rate)
  if n == 1 or ttl < 0 then
    redis.call('PEXPIRE', rate, window)
    ttl = window
  end
  if n > limit then return {'rate_limited', ttl} end
  if pid ~= '' then
    local person = P .. 'p:' .. pid
    if redis.call('SISMEMBER', P .. 'ev:' .. event .. ':banned', pid) == 1 then return {'banned'} end
    -- A new identity made after its address was banned is the banned person again; people
    -- already known behind that address (a hall's shared one) keep their place.
    local since = redis.call('HGET', P .. 'ev:' .. event .. ':banned_addr', address)
    local first = tonumber(redis.call('HGET', person, 'created_at') or '0')
    if since and first >= tonumber(since) then return {'banned'} end
    redis.call('HSET', person, 'addr', address)
  end
  return {'ok', join(conn, s, member, where, worker)}

elseif op == 'leave' then
  -- ARGV: conn. Returns 1 if the connection was present.
  return leave(ARGV[3])

elseif op == 'where' then
  -- ARGV: session, member, where. Moves a present member between hall and remote.
  local s, member, where = ARGV[3], ARGV[4], ARGV[5]
  local old = redis.call('HGET', where_key(s), member)
  if not old then return 0 end
  if old ~= where then
    redis.call('HSET', where_key(s), member, where)
    local role = role_of(member)
    redis.call('HINCRBY', counts_key(s), role .. '|' .. old, -1)
    redis.call('HINCRBY', counts_key(s), role .. '|' .. where, 1)
    redis.call('SADD', DIRTY, s)
  end
  return 1

elseif op == 'reap' then
  -- ARGV: worker, cutoff_ms. Drops every connection of a worker that stopped
  -- heartbeating before cutoff (checked again here, in case it just came back).
  local worker, cutoff = ARGV[3], tonumber(ARGV[4])
  local seen = redis.call('ZSCORE', WORKERS, worker)
  if seen and tonumber(seen) > cutoff then return -1 end
  local conns = redis.call('SMEMBERS', worker_key(worker))
  for _, conn in ipairs(conns) do leave(conn) end
  redis.call('DEL', worker_key(worker))
  redis.call('ZREM', WORKERS, worker)
  return #conns

elseif op == 'flush' then
  -- ARGV: gate_ms, max. Takes up to max sessions whose counts changed and whose last update
  -- is older than gate_ms (whichever worker took it) and logs their counts (feed.lua); and
  -- logs who of the lineup is connected for up to max sessions where a speaker came or went.
  -- This is what coalesces presence: however fast people come and go, a session's log gets
  -- its counts at most once per gate. Returns how many sessions were logged.
  local gate, max = tonumber(ARGV[3]), tonumber(ARGV[4])
  local n = 0
  for _, s in ipairs(redis.call('SRANDMEMBER', DIRTY, max)) do
    if redis.call('SET', P .. 'ses:' .. s .. ':pgate', '1', 'NX', 'PX', gate) then
      redis.call('SREM', DIRTY, s)
      redis.call('HINCRBY', counts_key(s), '_seq', 1)
      local counts = feed_hash(counts_key(s))
      counts['_seq'] = nil
      if next(counts) == nil then counts['audience|hall'] = 0 end  -- an object, not cjson's {}
      if feed_note(P .. 'ses:' .. s, 'presence', cjson.encode(counts)) then
        n = n + 1
        -- What the log says now, for a worker that loads the session (feed_load.lua).
        local logged = P .. 'ses:' .. s .. ':plogged'
        redis.call('DEL', logged)
        for field, value in pairs(counts) do redis.call('HSET', logged, field, value) end
      end
    end
  end
  for _, s in ipairs(redis.call('SPOP', STAGE_DIRTY, max)) do
    if feed_note(P .. 'ses:' .. s, 'online', cjson.encode(feed_online(P, s))) then n = n + 1 end
  end
  return n
end
return redis.error_reply('unknown presence op ' .. tostring(op))
