-- Assigns a pending item to one reviewer (or back to the open queue with ''): the
-- assigned-reviewer mode. Claims other than the assignee's are void.
-- ARGV: prefix, request id, assignee, actor. Returns {'ok'} or {'missing'} {'decided'}.
local rid, assignee, actor = ARGV[2], ARGV[3], ARGV[4]
local h = key(K.item, rid)
local f = redis.call('HMGET', h, 'state', 'tier', 'assigned', 'member')
if not f[1] then return {'missing'} end
if f[1] ~= ST.pending then return {'decided'} end
redis.call('ZREM', claim_queue(f[2], f[3]), f[4])
for _, reviewer in ipairs(redis.call('HKEYS', key(K.claims, rid))) do
  if assignee ~= '' and reviewer ~= assignee then drop_lease(rid, reviewer) end
end
redis.call('HSET', h, 'assigned', assignee)
refresh_open(rid, h)
emit(rid, h, EV.assigned, actor, {reviewer = assignee})
return {'ok'}
