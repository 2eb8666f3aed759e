-- Renews ('heartbeat') or gives up ('release') a claim; only its holder, while it is live.
-- A renewal is an event too (``claim_renewed`` with the new expiry), so a rebuild from
-- review.events gives the claim back with the expiry it really has.
-- ARGV: prefix, mode, request id, reviewer, claim id, lease ms.
-- Returns {'ok', expires ms} or {'stale', why}.
local mode, rid, reviewer, claim_id = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local lease_ms = tonumber(ARGV[6])
local h = key(K.item, rid)
local held = redis.call('HGET', key(K.claims, rid), reviewer)
if not held then
  return {'stale', 'no live claim of ' .. reviewer .. ' on this item (expired, released, '
    .. 'decided or superseded by an escalation)'}
end
local cid, exp = parse_claim(held)
if cid ~= claim_id then
  return {'stale', 'claim ' .. claim_id .. ' is not the live claim of ' .. reviewer}
end
if exp <= NOW then
  expire_claim(rid, reviewer, cid)
  return {'stale', 'claim ' .. claim_id .. ' expired at ' .. iso(exp)}
end
if mode == 'heartbeat' then
  local new_exp = NOW + lease_ms
  local _, _, ver = parse_claim(held)
  redis.call('HSET', key(K.claims, rid), reviewer, cid .. '|' .. int(new_exp) .. '|' .. int(ver))
  redis.call('ZADD', key(K.leases), new_exp, rid .. '|' .. reviewer)
  emit(rid, h, EV.claim_renewed, reviewer,
    {reviewer = reviewer, claim_id = cid, lease_expires_ms = new_exp})
  return {'ok', new_exp}
end
drop_lease(rid, reviewer)
emit(rid, h, EV.claim_released, reviewer, {reviewer = reviewer, claim_id = cid})
refresh_open(rid, h)
return {'ok', NOW}
