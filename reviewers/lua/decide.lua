-- Records a decision with its events, atomically: refuses unless the reviewer holds a live
-- claim on the item's current version (or can take a free seat now, when no claim id is
-- given), settles the item once enough verdicts agree, sends a disagreement to the next tier.
-- ARGV: prefix, request id, reviewer, decision id, kind, claim id ('' = claim now), tiers,
-- decision JSON (less tier/item_version/final/escalate_to), agreement label, release JSON
-- ('' = none), escalate_to ('' = next tier), reason, release outcome.
-- Returns {'ok'|'dup', stored decision JSON} or a refusal: {'missing'} {'erased'}
-- {'decided', final decision JSON} {'tier', tier} {'stale', why} {'assigned', who}
-- {'voted'} {'full'} {'top'} {'bad_target', tier}.
local rid, reviewer, did, kind, claim_id, tiers = ARGV[2], ARGV[3], ARGV[4], ARGV[5],
  ARGV[6], ARGV[7]
local dj, label, rel, esc_to, reason, outcome = ARGV[8], ARGV[9], ARGV[10], ARGV[11],
  ARGV[12], ARGV[13]
local h = key(K.item, rid)
local dk = key(K.decisions, rid)

local prev = redis.call('HGET', dk, did)
if prev then return {'dup', prev} end  -- a retry of a decision already recorded

local f = redis.call('HMGET', h, 'state', 'tier', 'version', 'required', 'hold', 'released',
  'assigned')
if not f[1] then
  if redis.call('EXISTS', key(K.erased, rid)) == 1 then return {'erased'} end
  return {'missing'}
end
local state, tier, version = f[1], f[2], f[3]

local function stored(final, esc)
  local s = string.sub(dj, 1, -2) .. ',"tier":"' .. tier .. '","item_version":' .. version
    .. ',"final":' .. (final and 'true' or 'false')
  if esc then s = s .. ',"escalate_to":"' .. esc .. '"' end
  return s .. '}'
end

local function record(s, etype, scalars, raws)
  redis.call('HSET', dk, did, s)
  publish(DECISIONS_TOPIC, rid, s, did)
  raws = raws or {}
  raws['decision'] = s
  emit(rid, h, etype, reviewer, scalars, raws)
end

if kind == DK.comment then
  local s = stored(false)
  record(s, EV.commented, nil, nil)
  return {'ok', s}
end
if state ~= ST.pending then return {'decided', redis.call('HGET', h, 'decision')} end
if not tier_allowed(tiers, tier) then return {'tier', tier} end

local live = live_claims(rid)
local held = redis.call('HGET', key(K.claims, rid), reviewer)
if claim_id ~= '' then
  local where = ' (the item is at tier ' .. tier .. ', version ' .. version .. ')'
  if not held then
    return {'stale', 'claim ' .. claim_id .. ' is not live: it expired, was released, or an '
      .. 'escalation superseded it' .. where}
  end
  local cid = parse_claim(held)
  if cid ~= claim_id then
    return {'stale', 'claim ' .. claim_id .. ' is not the live claim of ' .. reviewer .. where}
  end
elseif not held then
  if f[7] ~= '' and f[7] ~= reviewer then return {'assigned', f[7]} end
  if redis.call('HEXISTS', key(K.votes, rid), reviewer) == 1 then return {'voted'} end
  local done = tonumber(redis.call('HGET', h, 'done'))
  if tonumber(f[4]) - done - live <= 0 then return {'full'} end
end

if kind == DK.escalate then
  local to = esc_to
  if to == '' then to = NEXT_TIER[tier] end
  if not to then return {'top'} end
  if (TIER_RANK[to] or 0) <= TIER_RANK[tier] then return {'bad_target', to} end
  drop_lease(rid, reviewer)
  record(stored(false, to), EV.decided, {label = DK.escalate}, nil)
  escalate(rid, h, to, reason, reviewer)
  return {'ok', stored(false, to)}
end

-- A verdict: approve, reject or correct.
drop_lease(rid, reviewer)
redis.call('HSET', key(K.votes, rid), reviewer, label)
local done = redis.call('HINCRBY', h, 'done', 1)
local required = tonumber(f[4])
if done < required then
  local s = stored(false)
  record(s, EV.decided, {label = label}, nil)
  refresh_open(rid, h)
  return {'ok', s}
end

-- The last verdict this version needs: settle if all agree, else a lead adjudicates.
local votes = redis.call('HGETALL', key(K.votes, rid))
local labels, first, agreed = {}, nil, true
for i = 1, #votes, 2 do
  local l = votes[i + 1]
  labels[votes[i]] = string.match(l, '^([^:]*)')
  if first == nil then first = l elseif l ~= first then agreed = false end
end
redis.call('DEL', key(K.votes, rid))
local raws = {}
if required >= 2 then
  local rating = '{"version":' .. version .. ',"tier":"' .. tier .. '","labels":' .. J(labels)
    .. ',"checks":' .. redis.call('HGET', h, 'checks') .. ',"agreed":'
    .. (agreed and 'true' or 'false') .. '}'
  redis.call('HSET', key(K.ratings), rid, rating)
  raws['rating'] = rating
end

if not agreed then
  record(stored(false), EV.decided, {label = label}, raws)
  escalate(rid, h, NEXT_TIER[tier] or TOP_TIER, 'reviewers disagree', 'system:agreement')
  return {'ok', stored(false)}
end

local s = stored(true)
local g = redis.call('HMGET', h, 'member', 'retention_ms', 'assigned')
local member = g[1]
local expires = NOW + tonumber(g[2])
redis.call('HSET', h, 'state', ST.decided, 'decision', s, 'deadline_ms', 0)
redis.call('ZREM', key(K.pending), member)
for _, v in ipairs(views_of(h)) do redis.call('ZREM', key(K.view, v), member) end
redis.call('ZREM', claim_queue(tier, g[3]), member)
redis.call('ZREM', key(K.deadlines), rid)
redis.call('ZADD', key(K.decided), NOW, rid)
record(s, EV.decided, {label = label, expires_at_ms = expires}, raws)
if f[5] == '1' and f[6] == '' and rel ~= '' then release(rid, h, rel, outcome, reviewer) end
-- Retention: everything stored about a settled item goes at the same moment.
for _, k in ipairs({h, key(K.audit, rid), dk}) do redis.call('PEXPIREAT', k, expires) end
return {'ok', s}
