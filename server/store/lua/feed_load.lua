-- Everything a worker needs to keep a session's state from its log, read in one step so
-- that it is exactly the state at the log position it returns (feed.lua).
-- ARGV[1]: key prefix, ARGV[2]: session. Returns JSON, or false if there is no such session.
local P, s = ARGV[1], ARGV[2]
local ses = P .. 'ses:' .. s
local session = redis.call('HGETALL', ses)
if #session == 0 then return false end
qa_tally_ready(ses)
local info = feed_hash(ses)
local questions = {}
for _, id in ipairs(redis.call('ZRANGE', ses .. ':qs', 0, -1)) do
  local q = redis.call('HGETALL', ses .. ':q:' .. id)
  if #q > 0 then table.insert(questions, q) end
end
-- Presence and reactions as last logged (their stores run ahead of the log between two
-- coalesced updates): the state is exactly the log's at the position returned.
local presence = redis.call('HGETALL', ses .. ':plogged')
local totals, unsent = feed_hash(ses .. ':rxtotal'), feed_hash(ses .. ':rx')
for emoji, n in pairs(unsent) do
  totals[emoji] = tostring(tonumber(totals[emoji] or '0') - tonumber(n))
  if totals[emoji] == '0' then totals[emoji] = nil end
end
if next(totals) == nil then totals = {} end
return cjson.encode({
  session = session,
  event = redis.call('HGETALL', P .. 'ev:' .. info['event_id']),
  questions = questions,
  settings = redis.call('HGETALL', ses .. ':qa'),
  stage = feed_stage(P, s),
  presence = presence,
  reactions = totals,
  at = {tonumber(info['v']), tonumber(info['lk'] or '0')},
})
