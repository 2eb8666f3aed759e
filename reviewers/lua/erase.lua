-- Erases every item of one data subject: all their stored data and indexes go; a tombstone
-- ``erased`` event (request id only) is published; a held item not yet released gets an
-- ``erased`` release (deliver nothing) so its product is not left waiting; a marker keeps a
-- re-delivered request from coming back. ARGV: prefix, subject (pseudonymous id), actor.
-- Returns the erased request ids.
local subject, actor = ARGV[2], ARGV[3]
local sk = key(K.subject, subject)
local out = {}
for _, rid in ipairs(redis.call('SMEMBERS', sk)) do
  local h = key(K.item, rid)
  local f = redis.call('HMGET', h, 'state', 'tier', 'assigned', 'member', 'hold', 'released')
  if f[1] then
    if f[5] == '1' and f[6] == '' then
      local rel = '{"schema_version":1,"request_id":' .. J(rid) .. ',"outcome":'
        .. J(OUTCOME.erased) .. ',"deliver":false,"by":"erasure"}'
      release(rid, h, rel, OUTCOME.erased, actor)
    end
    emit(rid, h, EV.erased, actor, {reason = 'erasure request'})
    local member = f[4]
    redis.call('ZREM', key(K.pending), member)
    for _, v in ipairs(views_of(h)) do redis.call('ZREM', key(K.view, v), member) end
    redis.call('ZREM', claim_queue(f[2], f[3]), member)
    for _, reviewer in ipairs(redis.call('HKEYS', key(K.claims, rid))) do
      redis.call('ZREM', key(K.leases), rid .. '|' .. reviewer)
    end
    for _, z in ipairs({K.deadlines, K.decided, K.breached}) do redis.call('ZREM', key(z), rid) end
    redis.call('HDEL', key(K.ratings), rid)
    redis.call('DEL', h, key(K.audit, rid), key(K.decisions, rid), key(K.votes, rid),
      key(K.claims, rid))
    redis.call('SET', key(K.erased, rid), '1')
    out[#out + 1] = rid
  end
end
redis.call('DEL', sk)
return out
