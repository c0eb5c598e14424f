-- Live polls of one session: each change atomic, versioned with the session and logged in the
-- same step (feed.lua); answers change the results at once and are logged coalesced
-- (polls_flush.lua), like vote counts.
-- KEYS: the session hash, its log, its polls (ids by creation), the polls whose results
-- changed, its running totals (keys.insight_tally: poll_answers, for the organizer's
-- timeline). Keys of one poll are named from the session's key: on its slot.
-- ARGV[1]: operation, then its arguments. Returns {'ok', ...} or {'err', code, message}.
local SES, LOG, POLLS, DIRTY, TALLY = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local op = ARGV[1]
local function err(code, message) return {'err', code, message} end
local function now_ms()
  local t = redis.call('TIME')
  return t[1] * 1000 + math.floor(t[2] / 1000)
end
local function pkey(id) return SES .. ':poll:' .. id end
local function answers(id) return pkey(id) .. ':a' end
local function tally(id) return pkey(id) .. ':t' end
local function approved(id) return pkey(id) .. ':approved' end
-- A poll's entry: its record, its results as of now, an open-text poll's approved answers.
local function entry(id)
  return cjson.encode({poll = redis.call('HGETALL', pkey(id)), counts = redis.call('HGETALL', tally(id)),
    voters = redis.call('HLEN', answers(id)), approved = redis.call('SMEMBERS', approved(id))})
end

if redis.call('EXISTS', SES) == 0 then return err('not_found', 'No such session.') end

if op == 'create' then
  -- ARGV: id, kind, question, options (JSON), multi, anonymous, correct (JSON), time_limit
  local id = ARGV[2]
  if redis.call('ZCARD', POLLS) >= 200 then return err('conflict', 'This session has 200 polls already.') end
  redis.call('HSET', pkey(id), 'id', id, 'kind', ARGV[3], 'question', ARGV[4], 'options', ARGV[5],
    'multi', ARGV[6], 'anonymous', ARGV[7], 'correct', ARGV[8], 'time_limit', ARGV[9],
    'state', 'draft', 'shown', '0', 'created', now_ms(), 'opened', 0, 'closed', 0, 'deadline', 0)
  redis.call('ZADD', POLLS, redis.call('HGET', pkey(id), 'created'), id)
  return {'ok', feed_bump(SES, LOG, 'poll', entry(id), true)}

elseif op == 'edit' then
  -- ARGV: id, then the same fields as create
  local id = ARGV[2]
  local state = redis.call('HGET', pkey(id), 'state')
  if not state then return err('not_found', 'No such poll.') end
  if state ~= 'draft' then return err('conflict', 'Only a draft can be edited.') end
  redis.call('HSET', pkey(id), 'kind', ARGV[3], 'question', ARGV[4], 'options', ARGV[5], 'multi', ARGV[6],
    'anonymous', ARGV[7], 'correct', ARGV[8], 'time_limit', ARGV[9])
  return {'ok', feed_bump(SES, LOG, 'poll', entry(id), true), 1}

elseif op == 'state' then
  -- ARGV: id, action (open | close | show | hide | delete)
  local id, action = ARGV[2], ARGV[3]
  local p = pkey(id)
  local state = redis.call('HGET', p, 'state')
  if not state then return err('not_found', 'No such poll.') end
  local changed = false
  if action == 'open' then
    if state ~= 'open' then
      local now = now_ms()
      local limit = tonumber(redis.call('HGET', p, 'time_limit')) or 0
      redis.call('HSET', p, 'state', 'open', 'opened', now, 'closed', 0,
        'deadline', limit > 0 and (now + limit * 1000) or 0)
      changed = true
    end
  elseif action == 'close' then
    if state == 'draft' then return err('conflict', 'A draft is not open.') end
    if state == 'open' then
      redis.call('HSET', p, 'state', 'closed', 'closed', now_ms())
      changed = true
    end
  elseif action == 'show' or action == 'hide' then
    if state == 'draft' then return err('conflict', 'Open the poll first.') end
    local shown = action == 'show' and '1' or '0'
    if redis.call('HGET', p, 'shown') ~= shown then
      redis.call('HSET', p, 'shown', shown)
      changed = true
    end
  elseif action == 'delete' then
    if state == 'open' then return err('conflict', 'Close the poll first.') end
    redis.call('DEL', p, answers(id), tally(id), p .. ':ok', approved(id))
    redis.call('ZREM', POLLS, id)
    redis.call('SREM', DIRTY, id)
    return {'ok', feed_bump(SES, LOG, 'poll', cjson.encode({deleted = id}), true), 1}
  else
    return err('invalid', 'Unknown action.')
  end
  if not changed then return {'ok', tonumber(redis.call('HGET', SES, 'v')), 0} end
  return {'ok', feed_bump(SES, LOG, 'poll', entry(id), true), 1}

elseif op == 'approve' then
  -- ARGV: id, text, on ('1' to let an open answer through to the hall and the audience)
  local id, text, on = ARGV[2], ARGV[3], ARGV[4]
  if redis.call('HGET', pkey(id), 'kind') ~= 'text' then return err('not_found', 'No such open-text poll.') end
  if on == '1' and not redis.call('HGET', tally(id), text) then return err('not_found', 'Nobody sent that answer.') end
  local changed = on == '1' and redis.call('SADD', approved(id), text) or redis.call('SREM', approved(id), text)
  if changed == 0 then return {'ok', tonumber(redis.call('HGET', SES, 'v')), 0} end
  return {'ok', feed_bump(SES, LOG, 'poll', entry(id), true), 1}

elseif op == 'answer' then
  -- ARGV: id, person, keys (JSON list: option indexes, a star, folded words)
  local id, person, new = ARGV[2], ARGV[3], ARGV[4]
  local p = pkey(id)
  local state = redis.call('HGET', p, 'state')
  if not state then return err('not_found', 'No such poll.') end
  if state ~= 'open' then return err('conflict', 'This poll is not open.') end
  local deadline = tonumber(redis.call('HGET', p, 'deadline')) or 0
  if deadline > 0 and now_ms() > deadline then return err('conflict', 'Time is up for this poll.') end
  local old = redis.call('HGET', answers(id), person)
  if old == new then return {'ok', 0, redis.call('HLEN', answers(id))} end
  if old then
    for _, k in ipairs(cjson.decode(old)) do
      if redis.call('HINCRBY', tally(id), k, -1) <= 0 then redis.call('HDEL', tally(id), k) end
    end
  end
  for _, k in ipairs(cjson.decode(new)) do redis.call('HINCRBY', tally(id), k, 1) end
  redis.call('HSET', answers(id), person, new)
  redis.call('HINCRBY', TALLY, 'poll_answers', 1)
  -- A quiz keeps who answered right and how fast (for the leaderboard): exactly the correct
  -- options, counted from when the poll opened.
  local correct = cjson.decode(redis.call('HGET', p, 'correct') or '[]')
  if #correct > 0 then
    local picked, right = cjson.decode(new), #cjson.decode(new) == #correct
    if right then
      local want = {}
      for _, c in ipairs(correct) do want[tostring(c)] = true end
      for _, k in ipairs(picked) do if not want[k] then right = false end end
    end
    if right then
      redis.call('HSET', pkey(id) .. ':ok', person, now_ms() - tonumber(redis.call('HGET', p, 'opened')))
    else
      redis.call('HDEL', pkey(id) .. ':ok', person)
    end
  end
  redis.call('SADD', DIRTY, id)
  return {'ok', 1, redis.call('HLEN', answers(id))}
end
return err('invalid', 'Unknown operation.')
