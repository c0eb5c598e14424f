-- Questions, votes and moderation, each change atomic, bumping the session's version and
-- logging the changed questions (feed.lua) in the same step.
-- KEYS: the session hash, its log, its questions, its Q&A settings, its muted people, the
-- questions whose vote counts changed, the session's running totals for the organizer's
-- timeline (asked, approved, answered, votes; see server/store/keys.py). Keys per question and per
-- person are named from the session's key (feed.lua's qa_key): they are on its slot.
-- ARGV[1]: operation, then the operation's arguments.
-- Returns {'ok', ...} or {'err', code, message}.
local SES, LOG, QS, SETTINGS, MUTED, QVDIRTY, TALLY =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local op = ARGV[1]
local function qkey(id) return qa_key(SES, id) end
local function voters(id) return qa_key(SES, id) .. ':voters' end
local function voted(pid) return SES .. ':voted:' .. pid end

local function err(code, message) return {'err', code, message} end
-- A question's translations: {lang = {text, at, stale}} (server/domain/qa.py).
local function translations(q)
  local raw = redis.call('HGET', q, 'tr')
  if not raw or raw == '' then return {} end
  return cjson.decode(raw)
end
local function version() return tonumber(redis.call('HGET', SES, 'v')) end
local function unscreen_if(id)
  if redis.call('HGET', SES, 'screen') == id then redis.call('HDEL', SES, 'screen') end
end
-- The worker that changed votes logs the counts soon after (server/store/pending.py).
local function mark_votes(id)
  redis.call('SADD', QVDIRTY, id)
end
-- The organizer's running totals (insight.lua samples them every minute).
local function count(what)
  redis.call('HINCRBY', TALLY, what, 1)
end

if redis.call('EXISTS', SES) == 0 then return err('not_found', 'No such session.') end
qa_tally_ready(SES, QS)

if op == 'ask' then
  -- ARGV: qid, client_id, pid, name, anon, alias, text, now_ms, held, slow_ms, lang
  local qid, cid, pid, name, anon, alias, text, now, held, slow, lang =
    ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], tonumber(ARGV[11]),
    ARGV[12] or ''
  local ckey = SES .. ':qc:' .. pid .. ':' .. cid
  local existing = redis.call('GET', ckey)
  if existing then return {'ok', existing, 0, version()} end
  if redis.call('HGET', SETTINGS, 'open') == '0' then
    return err('conflict', 'Questions are closed for this session.')
  end
  if anon == '1' and redis.call('HGET', SETTINGS, 'anonymous') == '0' then
    return err('forbidden', 'This session does not take anonymous questions.')
  end
  if slow > 0 then
    local skey = SES .. ':qslow:' .. pid
    if not redis.call('SET', skey, '1', 'NX', 'PX', slow) then
      return err('rate_limited', tostring(math.ceil(redis.call('PTTL', skey) / 1000)))
    end
  end
  local state = 'pending'
  if redis.call('SISMEMBER', MUTED, pid) == 1 then
    state, held = 'declined', 'muted'
  elseif held == '' and redis.call('HGET', SETTINGS, 'moderation') == 'post' then
    state = 'approved'
  end
  redis.call('HSET', qkey(qid), 'id', qid, 'text', text, 'name', name, 'anon', anon, 'author', pid,
    'alias', alias, 'state', state, 'held', held, 'votes', 0, 'edited', 0, 'created', now,
    'updated', now, 'answered', 0, 'merged_into', '', 'lang', lang, 'tr', '{}')
  redis.call('ZADD', QS, now, qid)
  redis.call('SET', ckey, qid, 'EX', 172800)
  qa_tally(SES, state, held, 1)
  count('asked')
  if state == 'approved' then count('approved') end
  return {'ok', qid, 1, feed_bump(SES, LOG, 'qa', qa_entry(SES, {qid}), false)}

elseif op == 'vote' then
  -- ARGV: qid, pid, on ('1' to vote, '0' to take it back)
  local qid, pid, on = ARGV[2], ARGV[3], ARGV[4]
  for _ = 1, 10 do  -- a vote for a merged duplicate goes to the question it joined
    if redis.call('HGET', qkey(qid), 'state') ~= 'merged' then break end
    qid = redis.call('HGET', qkey(qid), 'merged_into')
  end
  local state = redis.call('HGET', qkey(qid), 'state')
  if not state then return err('not_found', 'No such question.') end
  if state ~= 'approved' and state ~= 'answered' then
    return err('conflict', 'This question cannot be voted on.')
  end
  if redis.call('SISMEMBER', MUTED, pid) == 1 then  -- silently: the muted see no difference
    return {'ok', qid, tonumber(redis.call('HGET', qkey(qid), 'votes')), 0}
  end
  local changed
  if on == '1' then
    changed = redis.call('SADD', voters(qid), pid)
    redis.call('SADD', voted(pid), qid)
  else
    changed = redis.call('SREM', voters(qid), pid)
    redis.call('SREM', voted(pid), qid)
  end
  local votes
  if changed == 1 then
    votes = redis.call('HINCRBY', qkey(qid), 'votes', on == '1' and 1 or -1)
    mark_votes(qid)
    if on == '1' then count('votes') end
  else
    votes = tonumber(redis.call('HGET', qkey(qid), 'votes'))
  end
  return {'ok', qid, votes, changed}

elseif op == 'moderate' then
  -- ARGV: qid, action, now_ms, arg (new text for edit, target id for merge)
  local qid, action, now, arg = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
  local q = qkey(qid)
  local state = redis.call('HGET', q, 'state')
  if not state then return err('not_found', 'No such question.') end
  local held = redis.call('HGET', q, 'held')
  local screened = redis.call('HGET', SES, 'screen') or ''
  if state == 'withdrawn' and action ~= 'archive' then
    return err('conflict', 'The author withdrew this question.')
  end
  local changed = false
  local function set_state(new)
    if state ~= new then
      qa_tally(SES, state, held, -1)
      qa_tally(SES, new, held, 1)
      redis.call('HSET', q, 'state', new)
      if new == 'answered' then redis.call('HSET', q, 'answered', now); count('answered') end
      if new == 'approved' and (state == 'pending' or state == 'declined') then count('approved') end
      state = new
      changed = true
    end
  end
  if action == 'approve' then
    if state == 'pending' or state == 'declined' then set_state('approved')
    elseif state ~= 'approved' then return err('conflict', 'Only a waiting or declined question can be approved.') end
  elseif action == 'decline' then
    if state == 'pending' or state == 'approved' then set_state('declined'); unscreen_if(qid)
    elseif state ~= 'declined' then return err('conflict', 'Only a waiting or approved question can be declined.') end
  elseif action == 'hold' then  -- back to the incoming lane (undo of approve or decline)
    if state == 'approved' or state == 'declined' then set_state('pending'); unscreen_if(qid)
    elseif state ~= 'pending' then return err('conflict', 'Only an approved or declined question can be held.') end
  elseif action == 'answer' then
    if state == 'approved' then set_state('answered'); unscreen_if(qid)
    elseif state ~= 'answered' then return err('conflict', 'Only an approved question can be marked answered.') end
  elseif action == 'archive' then
    if state ~= 'archived' then set_state('archived'); unscreen_if(qid) end
  elseif action == 'restore' then
    if state == 'declined' or state == 'answered' or state == 'archived' or state == 'merged' then
      redis.call('HSET', q, 'merged_into', '', 'answered', 0)
      set_state('approved')
    elseif state ~= 'approved' then return err('conflict', 'Only a declined, answered, archived or merged question can be restored.') end
  elseif action == 'screen' then
    if state == 'pending' then set_state('approved') end
    if state ~= 'approved' and state ~= 'answered' then
      return err('conflict', 'Only an approved question can go on screen.')
    end
    if redis.call('HGET', SES, 'screen') ~= qid then
      redis.call('HSET', SES, 'screen', qid)  -- the previous one comes off
      changed = true
    end
  elseif action == 'unscreen' then
    if redis.call('HGET', SES, 'screen') == qid then redis.call('HDEL', SES, 'screen'); changed = true end
  elseif action == 'edit' then
    if state == 'merged' then return err('conflict', 'Edit the question it was merged into.') end
    if redis.call('HGET', q, 'text') ~= arg then
      redis.call('HSET', q, 'text', arg, 'edited', 1)
      -- Translations of the old text stay for the interpreters to redo, out of public view.
      local tr = translations(q)
      for _, t in pairs(tr) do t.stale = true end
      if next(tr) then redis.call('HSET', q, 'tr', cjson.encode(tr)) end
      changed = true
    end
  elseif action == 'merge' then
    local target = qkey(arg)
    local tstate = redis.call('HGET', target, 'state')
    if not tstate then return err('not_found', 'No such question to merge into.') end
    if arg == qid then return err('invalid', 'A question cannot be merged into itself.') end
    if tstate == 'merged' or tstate == 'withdrawn' then
      return err('conflict', 'That question cannot take a duplicate.')
    end
    if state ~= 'merged' or redis.call('HGET', q, 'merged_into') ~= arg then
      if state == 'merged' then return err('conflict', 'This question is already merged; restore it first.') end
      -- Votes are united as a set: someone who voted for both counts once.
      for _, pid in ipairs(redis.call('SMEMBERS', voters(qid))) do redis.call('SADD', voted(pid), arg) end
      redis.call('SUNIONSTORE', voters(arg), voters(arg), voters(qid))
      redis.call('HSET', target, 'votes', redis.call('SCARD', voters(arg)))
      redis.call('HSET', q, 'merged_into', arg)
      set_state('merged')
      unscreen_if(qid)
      mark_votes(arg)
    end
  else
    return err('invalid', 'Unknown action.')
  end
  if not changed then return {'ok', version(), 0} end
  redis.call('HSET', q, 'updated', now)
  -- The entry holds every question this touched: the one acted on, a merge's target, and
  -- the one that came off screen.
  local touched = {qid}
  if action == 'merge' then table.insert(touched, arg) end
  table.insert(touched, screened)
  return {'ok', feed_bump(SES, LOG, 'qa', qa_entry(SES, touched), true), 1}

elseif op == 'withdraw' then
  -- ARGV: qid, pid, now_ms
  local qid, pid, now = ARGV[2], ARGV[3], ARGV[4]
  local q = qkey(qid)
  local state = redis.call('HGET', q, 'state')
  if not state or redis.call('HGET', q, 'author') ~= pid then return err('not_found', 'No such question of yours.') end
  if state == 'withdrawn' then return {'ok', version(), 0} end
  if state == 'answered' or state == 'merged' then
    return err('conflict', 'An answered or merged question cannot be withdrawn.')
  end
  qa_tally(SES, state, redis.call('HGET', q, 'held'), -1)
  redis.call('HSET', q, 'state', 'withdrawn', 'updated', now)
  unscreen_if(qid)
  return {'ok', feed_bump(SES, LOG, 'qa', qa_entry(SES, {qid}), false), 1}

elseif op == 'translate' or op == 'language' then
  -- translate ARGV: qid, lang, text ('' takes the translation away), now_ms
  -- language ARGV: qid, lang, now_ms (what the question is written in; a translation into
  -- that language has nothing left to say and goes)
  local qid, lang = ARGV[2], ARGV[3]
  local now = op == 'translate' and ARGV[5] or ARGV[4]
  local q = qkey(qid)
  local state = redis.call('HGET', q, 'state')
  if not state then return err('not_found', 'No such question.') end
  if state == 'withdrawn' then return err('conflict', 'The author withdrew this question.') end
  if state == 'merged' then return err('conflict', 'Translate the question it was merged into.') end
  local tr = translations(q)
  local changed = false
  if op == 'translate' then
    local text = ARGV[4]
    if lang == redis.call('HGET', q, 'lang') then
      return err('invalid', 'The question is in that language already.')
    end
    local had = tr[lang]
    if text == '' then
      if had then tr[lang] = nil; changed = true end
    elseif not had or had.text ~= text or had.stale then
      tr[lang] = {text = text, at = tonumber(now), stale = false}
      changed = true
    end
  else
    if redis.call('HGET', q, 'lang') ~= lang then
      redis.call('HSET', q, 'lang', lang)
      tr[lang] = nil
      changed = true
    end
  end
  if not changed then return {'ok', version(), 0} end
  redis.call('HSET', q, 'tr', next(tr) and cjson.encode(tr) or '{}', 'updated', now)
  return {'ok', feed_bump(SES, LOG, 'qa', qa_entry(SES, {qid}), true), 1}

elseif op == 'settings' then
  -- ARGV: field, value, ... (already validated)
  if #ARGV > 1 then redis.call('HSET', SETTINGS, unpack(ARGV, 2)) end
  return {'ok', feed_bump(SES, LOG, 'settings', cjson.encode(redis.call('HGETALL', SETTINGS)), true), 1}

elseif op == 'mute' then
  -- ARGV: pid, on. Muting also takes back the person's votes in this session.
  local pid, on = ARGV[2], ARGV[3]
  if on == '0' then return {'ok', redis.call('SREM', MUTED, pid)} end
  local added = redis.call('SADD', MUTED, pid)
  local removed = 0
  for _, id in ipairs(redis.call('ZRANGE', QS, 0, -1)) do
    if redis.call('SREM', voters(id), pid) == 1 then
      redis.call('SREM', voted(pid), id)
      redis.call('HINCRBY', qkey(id), 'votes', -1)
      mark_votes(id)
      removed = removed + 1
    end
  end
  return {'ok', added, removed}
end
return err('invalid', 'Unknown operation.')
