-- Coalesced vote counts: for up to ARGV[3] sessions whose votes changed and whose last update
-- is older than ARGV[2] ms (by any worker), log the counts of the questions whose votes
-- changed (feed.lua). ARGV[1]: key prefix. Returns how many sessions were logged.
local P, gate, max = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local DIRTY = P .. 'qa:votes:dirty'
local n = 0
for _, s in ipairs(redis.call('SRANDMEMBER', DIRTY, max)) do
  local ses = P .. 'ses:' .. s
  if redis.call('SET', ses .. ':qvgate', '1', 'NX', 'PX', gate) then
    redis.call('SREM', DIRTY, s)
    local ids = redis.call('SMEMBERS', ses .. ':qvdirty')
    redis.call('DEL', ses .. ':qvdirty')
    local votes, any = {}, false
    for _, id in ipairs(ids) do
      local count = redis.call('HGET', ses .. ':q:' .. id, 'votes')
      if count then
        votes[id] = count
        any = true
      end
    end
    if any and feed_note(ses, 'votes', cjson.encode(votes)) then n = n + 1 end
  end
end
return n
