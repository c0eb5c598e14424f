-- The organizer's picture of a session: one sample per minute while it runs.
-- KEYS (keys.insight_keys): the session hash, its stage, its presence counts, its running
-- totals (tally), its reaction totals, its minute samples, since when each person present is
-- here, how long each was here before.
-- ARGV: retention_s, max_samples.
-- Any worker may call this as often as it likes: the sample's id is the minute (Redis's own
-- clock, so every worker agrees), and a stream takes no id at or below its last one, so a
-- minute gets at most one sample, from whichever worker came first; a worker that dies costs
-- nothing while another holds the session. An ended session is not sampled, but what it has
-- keeps living for retention_s after the last sample (a running session's keys never expire).
-- Returns 1 if this call wrote the minute's sample, 0 if not (already there, ended, gone).
local ses, stage, counts, tally, rxtotal, minutes, since, dwell =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local retention, max_samples = tonumber(ARGV[1]), tonumber(ARGV[2])
if redis.call('EXISTS', ses) == 0 then return 0 end
local function keep(only_unset)
  for _, key in ipairs({tally, minutes, since, dwell}) do
    if only_unset then redis.call('EXPIRE', key, retention, 'NX')
    else redis.call('EXPIRE', key, retention) end
  end
end
if (redis.call('HGET', stage, 'status') or 'scheduled') == 'ended' then
  keep(true)  -- people lingering in an ended session write no key that never expires
  return 0
end
local t = redis.call('TIME')
local minute = math.floor((t[1] * 1000 + math.floor(t[2] / 1000)) / 60000) * 60000
local last = redis.call('XREVRANGE', minutes, '+', '-', 'COUNT', 1)
if last[1] and tonumber(string.match(last[1][1], '^(%d+)')) >= minute then return 0 end

-- The same fields in the same order every minute: a stream then stores only the values.
local c = feed_hash(counts)
local tl = feed_hash(tally)
local fields = {}
for _, role in ipairs({'audience', 'speaker', 'moderator', 'screen', 'interpreter'}) do
  for _, where in ipairs({'hall', 'remote'}) do
    table.insert(fields, role .. '|' .. where)
    table.insert(fields, math.max(0, tonumber(c[role .. '|' .. where] or 0)))
  end
end
for _, name in ipairs({'asked', 'approved', 'answered', 'votes', 'poll_answers'}) do
  table.insert(fields, name)
  table.insert(fields, tonumber(tl[name] or 0))
end
local rx = feed_hash(rxtotal)
table.insert(fields, 'rx')
table.insert(fields, next(rx) and cjson.encode(rx) or '{}')
redis.call('XADD', minutes, 'MAXLEN', '~', max_samples, minute .. '-0', unpack(fields))
keep(false)
return 1
