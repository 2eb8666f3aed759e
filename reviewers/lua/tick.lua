-- The SLA clock, run every fraction of a second by the relay process (reviewers/sla.py):
-- expires lapsed claims; for each item past its deadline records the breach, fires a held
-- item's fallback release, and escalates one tier (with a fresh deadline) below the top;
-- drops index entries of settled items whose retention has run out.
-- ARGV: prefix, limit. Returns {breached, released, claims expired}.
local limit = tonumber(ARGV[2])
local expired = reap_leases(limit)
local breached, released = 0, 0
local due = redis.call('ZRANGEBYSCORE', key(K.deadlines), '-inf', NOW, 'LIMIT', 0, limit)
for _, rid in ipairs(due) do
  local h = key(K.item, rid)
  local f = redis.call('HMGET', h, 'state', 'tier', 'deadline_ms', 'hold', 'released',
    'fallback')
  if f[1] ~= ST.pending then
    redis.call('ZREM', key(K.deadlines), rid)
  else
    breached = breached + 1
    local late = NOW - tonumber(f[3])
    redis.call('HINCRBY', h, 'breaches', 1)
    redis.call('ZADD', key(K.breached), NOW, rid)
    local to = NEXT_TIER[f[2]]
    if not to then  -- the top tier: nobody left to escalate to; it stays visible as breached
      redis.call('HSET', h, 'deadline_ms', 0)
      redis.call('ZREM', key(K.deadlines), rid)
    end
    emit(rid, h, EV.sla_breached, 'system:sla', {late_ms = late, from_tier = f[2]})
    if f[4] == '1' and f[5] == '' and f[6] ~= '' then
      local outcome = string.match(f[6], '"outcome":"([^"]*)"')
      release(rid, h, f[6], outcome, 'system:sla')
      released = released + 1
    end
    if to then escalate(rid, h, to, 'sla_breach', 'system:sla') end
  end
end
-- Settled items leave the decided index once their keys have expired (oldest first).
local old = redis.call('ZRANGE', key(K.decided), 0, limit - 1)
for _, rid in ipairs(old) do
  if redis.call('EXISTS', key(K.item, rid)) == 1 then break end
  redis.call('ZREM', key(K.decided), rid)
  redis.call('ZREM', key(K.breached), rid)
  redis.call('HDEL', key(K.ratings), rid)
end
return {breached, released, expired}
