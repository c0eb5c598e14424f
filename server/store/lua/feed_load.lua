-- Everything of a session a worker needs to keep its state from its log, read in one step so
-- that it is exactly the state at the log position it returns (feed.lua). The event's fields
-- are read after it (another slot); they are logged whole with each change, so a newer copy
-- is caught up by the log.
-- KEYS: the session hash, its Q&A settings, its questions, the presence counts as logged,
-- the reactions' totals and unsent counts, then keys.stage_keys(session), then its polls.
-- Returns JSON, or false if there is no such session.
local ses, settings, qs, plogged, rxtotal, rx = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local session = redis.call('HGETALL', ses)
if #session == 0 then return false end
qa_tally_ready(ses, qs)
local info = feed_hash(ses)
local questions = {}
for _, id in ipairs(redis.call('ZRANGE', qs, 0, -1)) do
  local q = redis.call('HGETALL', qa_key(ses, id))
  if #q > 0 then table.insert(questions, q) end
end
-- Presence and reactions as last logged (their stores run ahead of the log between two
-- coalesced updates): the state is exactly the log's at the position returned.
local presence = redis.call('HGETALL', plogged)
local totals, unsent = feed_hash(rxtotal), feed_hash(rx)
for emoji, n in pairs(unsent) do
  totals[emoji] = tostring(tonumber(totals[emoji] or '0') - tonumber(n))
  if totals[emoji] == '0' then totals[emoji] = nil end
end
if next(totals) == nil then totals = {} end
-- Polls with their results as they are now (ahead of the log by at most one coalesced
-- update, which carries absolute counts: like vote counts).
local polls = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[#KEYS], 0, -1)) do
  local p = ses .. ':poll:' .. id
  local fields = redis.call('HGETALL', p)
  if #fields > 0 then
    table.insert(polls, {poll = fields, counts = redis.call('HGETALL', p .. ':t'), voters = redis.call('HLEN', p .. ':a'),
      approved = redis.call('SMEMBERS', p .. ':approved')})
  end
end
return cjson.encode({
  session = session,
  questions = questions,
  settings = redis.call('HGETALL', settings),
  stage = feed_stage(feed_stage_keys(7)),
  presence = presence,
  reactions = totals,
  polls = polls,
  at = {tonumber(info['v']), tonumber(info['lk'] or '0')},
})
