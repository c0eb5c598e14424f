-- Coalesced vote counts: take up to ARGV[3] sessions whose votes changed and whose last
-- broadcast is older than ARGV[2] ms (by any worker), and return for each
-- {session, seq, question1, votes1, ...}. ARGV[1]: key prefix.
local P, gate, max = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local DIRTY = P .. 'qa:votes:dirty'
local out = {}
for _, s in ipairs(redis.call('SRANDMEMBER', DIRTY, max)) do
  local ses = P .. 'ses:' .. s
  if redis.call('SET', ses .. ':qvgate', '1', 'NX', 'PX', gate) then
    redis.call('SREM', DIRTY, s)
    local ids = redis.call('SMEMBERS', ses .. ':qvdirty')
    redis.call('DEL', ses .. ':qvdirty')
    local entry = {s, redis.call('HINCRBY', ses, 'qa_vseq', 1)}
    for _, id in ipairs(ids) do
      local votes = redis.call('HGET', ses .. ':q:' .. id, 'votes')
      if votes then
        table.insert(entry, id)
        table.insert(entry, votes)
      end
    end
    table.insert(out, entry)
  end
end
return out
