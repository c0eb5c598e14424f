-- The session feed's library, put in front of every script by server/store/scripts.py.
-- Each session has one ordered change log (the stream keys.log(session)). A versioned change
-- bumps the session's version v and appends entry "v-0" in the same script; an unversioned
-- update (presence, votes, reactions, who is connected) appends "v-k" with k = 1, 2, ...
-- (the session's field lk). Entries: t = kind, d = JSON data (absolute state of what
-- changed), f = 1 when a person acted and the audience should hear it at once.
-- See server/domain/feed.py for the kinds and what each carries.
--
-- Every script gets the keys it touches in KEYS, all of one session (or one other group:
-- server/store/keys.py), and these functions take the keys they touch as arguments. Keys of
-- one question or one person, which a script only learns as it runs, are named from the
-- session's key (qa_key): they carry its hash tag, so they are on its slot.
local FEED_MAX = __FEED_MAX__

local function feed_add(log, id, kind, data, urgent)
  redis.call('XADD', log, 'MAXLEN', '~', FEED_MAX, id,
    't', kind, 'd', data, 'f', urgent and '1' or '0')
end

-- A versioned change: the session's new version, with what changed logged in this same step.
local function feed_bump(ses, log, kind, data, urgent)
  local v = redis.call('HINCRBY', ses, 'v', 1)
  redis.call('HSET', ses, 'lk', 0)
  feed_add(log, v .. '-0', kind, data, urgent)
  return v
end

-- An unversioned update at the current version; false (nothing logged) if the session is gone.
local function feed_note(ses, log, kind, data)
  local v = redis.call('HGET', ses, 'v')
  if not v then return false end
  local k = redis.call('HINCRBY', ses, 'lk', 1)
  feed_add(log, v .. '-' .. k, kind, data, false)
  return true
end

local function feed_hash(key)
  local flat, out = redis.call('HGETALL', key), {}
  for i = 1, #flat, 2 do out[flat[i]] = flat[i + 1] end
  return out
end

-- Which speakers of the lineup have a connection in the session now: {speaker = '1' | '0'}.
-- members: keys.lineup_members, present: keys.presence_members.
local function feed_online(members_key, present_key)
  local members, present, out = feed_hash(members_key), feed_hash(present_key), {}
  for speaker, member in pairs(members) do
    out[speaker] = (tonumber(present[member] or '0') or 0) > 0 and '1' or '0'
  end
  return out
end

-- The keys feed_stage() reads, from KEYS[first] on, in the order of keys.stage_keys().
local function feed_stage_keys(first)
  return {lineup = KEYS[first], labels = KEYS[first + 1], order = KEYS[first + 2],
    stage = KEYS[first + 3], backups = KEYS[first + 4], members = KEYS[first + 5],
    present = KEYS[first + 6], langs = KEYS[first + 7], since = KEYS[first + 8]}
end

-- The stage: the session's status and every speaker in running order (arrival order unless a
-- moderator set one; any missing from it last, by id) as
-- {speaker, state, label, online, backup, lang, since (ms, when they entered their state)}.
local function feed_stage(k)
  local states, labels, backups = feed_hash(k.lineup), feed_hash(k.labels), feed_hash(k.backups)
  local langs, since = feed_hash(k.langs), feed_hash(k.since)
  local online = feed_online(k.members, k.present)
  local rows, seen, rest = {}, {}, {}
  local function add(speaker)
    seen[speaker] = true
    table.insert(rows, {speaker, states[speaker], labels[speaker] or '', online[speaker] or '0',
      backups[speaker] or '', langs[speaker] or '', tonumber(since[speaker] or '0') or 0})
  end
  for _, speaker in ipairs(redis.call('ZRANGE', k.order, 0, -1)) do
    if states[speaker] and not seen[speaker] then add(speaker) end
  end
  for speaker in pairs(states) do
    if not seen[speaker] then table.insert(rest, speaker) end
  end
  table.sort(rest)
  for _, speaker in ipairs(rest) do add(speaker) end
  return {status = redis.call('HGET', k.stage, 'status') or 'scheduled', lineup = rows}
end

-- A question's hash (keys.question), named from the session's key.
local function qa_key(ses, id) return ses .. ':q:' .. id end

-- What the audience may know of moderation: questions waiting, and declined (not muted).
-- Kept in the session hash (qpend, qdecl) as questions change state; counted once from the
-- questions (qs: keys.questions) for a session that predates the counters.
local function qa_tally(ses, state, held, delta)
  if state == 'pending' then redis.call('HINCRBY', ses, 'qpend', delta)
  elseif state == 'declined' and held ~= 'muted' then redis.call('HINCRBY', ses, 'qdecl', delta) end
end

local function qa_tally_ready(ses, qs)
  if redis.call('HEXISTS', ses, 'qpend') == 1 then return end
  redis.call('HSET', ses, 'qpend', 0, 'qdecl', 0)
  for _, id in ipairs(redis.call('ZRANGE', qs, 0, -1)) do
    local q = redis.call('HMGET', qa_key(ses, id), 'state', 'held')
    if q[1] then qa_tally(ses, q[1], q[2], 1) end
  end
end

-- A Q&A entry: the records of the questions that changed, the one on screen, the counts.
local function qa_entry(ses, ids)
  local qs, seen = {}, {}
  for _, id in ipairs(ids) do
    if id and id ~= '' and not seen[id] then
      seen[id] = true
      local q = redis.call('HGETALL', qa_key(ses, id))
      if #q > 0 then table.insert(qs, q) end
    end
  end
  local counts = redis.call('HMGET', ses, 'qpend', 'qdecl')
  return cjson.encode({q = qs, screen = redis.call('HGET', ses, 'screen') or '',
    pending = tonumber(counts[1]) or 0, declined = tonumber(counts[2]) or 0})
end
