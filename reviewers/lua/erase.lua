-- Erases every item of one data subject: all their stored data and indexes go; a tombstone
-- ``erased`` event (request id only) is published; a held item not yet released gets an
-- ``erased`` release (deliver nothing) so its product is not left waiting; a marker keeps a
-- re-delivered request from coming back. ARGV: prefix, subject (pseudonymous id), actor.
-- Returns the erased request ids.
local subject, actor = ARGV[2], ARGV[3]
local sk = key('subject', subject)
local out = {}
for _, rid in ipairs(redis.call('SMEMBERS', sk)) do
  local h = key('item', rid)
  local f = redis.call('HMGET', h, 'state', 'tier', 'assigned', 'member', 'hold', 'released')
  if f[1] then
    if f[5] == '1' and f[6] == '' then
      local rel = '{"schema_version":1,"request_id":' .. J(rid)
        .. ',"outcome":"erased","deliver":false,"by":"erasure"}'
      release(rid, h, rel, 'erased', actor)
    end
    emit(rid, h, 'erased', actor, {reason = 'erasure request'})
    local member = f[4]
    redis.call('ZREM', key('pending'), member)
    for _, v in ipairs(views_of(h)) do redis.call('ZREM', key('view', v), member) end
    redis.call('ZREM', claim_queue(f[2], f[3]), member)
    for _, reviewer in ipairs(redis.call('HKEYS', key('claims', rid))) do
      redis.call('ZREM', key('leases'), rid .. '|' .. reviewer)
    end
    for _, z in ipairs({'deadlines', 'decided', 'breached'}) do redis.call('ZREM', key(z), rid) end
    redis.call('HDEL', key('ratings'), rid)
    redis.call('DEL', h, key('audit', rid), key('decisions', rid), key('votes', rid),
      key('claims', rid))
    redis.call('SET', key('erased', rid), '1')
    out[#out + 1] = rid
  end
end
redis.call('DEL', sk)
return out
