-- Claims an item for a reviewer: a lease that expires unless renewed (lease.lua).
-- ARGV: prefix, mode ('one' | 'next'), reviewer, claim id, lease ms, tiers (comma list in
-- order of preference; '' = any), request id (mode 'one'), how many candidates to scan.
-- Returns {'ok', request id, claim id, expires ms, version, tier, 'new' | 'held'} or a
-- refusal: {'missing'} {'decided'} {'tier', tier} {'assigned', who} {'voted'} {'full'}
-- {'empty'} (mode 'next': nothing this reviewer may claim).
local mode, reviewer, claim_id = ARGV[2], ARGV[3], ARGV[4]
local lease_ms, tiers, rid, scan = tonumber(ARGV[5]), ARGV[6], ARGV[7], tonumber(ARGV[8])

reap_leases(100)

-- Why ``reviewer`` may not claim this item now (a refusal), or nil and what grant needs
-- (the item's fields, how many live claims it has, and the reviewer's own live claim if it
-- holds one). Expires its lapsed claims first.
local function refusal(rid, h)
  local f = redis.call('HMGET', h, 'state', 'tier', 'assigned', 'required', 'done', 'version',
    'member', 'score')
  if not f[1] then return {'missing'} end
  if f[1] ~= ST.pending then return {'decided'} end
  if not tier_allowed(tiers, f[2]) then return {'tier', f[2]} end
  if f[3] ~= '' and f[3] ~= reviewer then return {'assigned', f[3]} end
  if redis.call('HEXISTS', key(K.votes, rid), reviewer) == 1 then return {'voted'} end
  local live, mine = live_claims(rid, reviewer)
  if mine then return nil, f, live, mine end
  if tonumber(f[4]) - tonumber(f[5]) - live <= 0 then return {'full'} end
  return nil, f, live, nil
end

local function grant(rid, h, f, live, held)
  local ck = key(K.claims, rid)
  local version, tier = tonumber(f[6]), f[2]
  if held then  -- a reviewer asking again for an item it holds gets the same claim back
    local cid, exp = parse_claim(held)
    return {'ok', rid, cid, exp, version, tier, 'held'}
  end
  local exp = NOW + lease_ms
  redis.call('HSET', ck, reviewer, claim_id .. '|' .. int(exp) .. '|' .. f[6])
  redis.call('ZADD', key(K.leases), exp, rid .. '|' .. reviewer)
  -- Its last free seat: out of the claim queue (live counts the others' claims).
  if tonumber(f[4]) - tonumber(f[5]) - live - 1 <= 0 then
    redis.call('ZREM', claim_queue(tier, f[3]), f[7])
  else
    redis.call('ZADD', claim_queue(tier, f[3]), tonumber(f[8]), f[7])
  end
  emit(rid, h, EV.claimed, reviewer,
    {reviewer = reviewer, claim_id = claim_id, lease_expires_ms = exp})
  return {'ok', rid, claim_id, exp, version, tier, 'new'}
end

if mode == 'one' then
  local h = key(K.item, rid)
  local no, f, live, held = refusal(rid, h)
  if no then return no end
  return grant(rid, h, f, live, held)
end

-- 'next': the reviewer's assigned items first, then each allowed tier's open queue, in
-- priority order; skips what this reviewer may not take (voted already, or holds).
local function scan_queue(q)
  local start, chunk = 0, 8
  while start < scan do
    local members = redis.call('ZRANGE', q, start, start + chunk - 1)
    if #members == 0 then return nil end
    for _, m in ipairs(members) do
      local cand = string.match(m, '^[^:]*:(.*)$')
      local h = key(K.item, cand)
      -- An item this reviewer holds already is skipped: "next" means another one.
      local no, f, live, held = refusal(cand, h)
      if not no and not held then return grant(cand, h, f, live, nil) end
    end
    start = start + chunk
    chunk = 50
  end
  return nil
end

local got = scan_queue(key(K.assigned, reviewer))
if got then return got end
local order = split(tiers, ',')
if #order == 0 then order = TIERS end
for _, t in ipairs(order) do
  got = scan_queue(key(K.open, t))
  if got then return got end
end
return {'empty'}
