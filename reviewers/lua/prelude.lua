-- Shared by every review script (reviewers/lua/__init__.py puts it in front of each one,
-- after the generated names: topics, TIERS, NEXT_TIER, TIER_RANK, STATE_FIELDS and the name
-- tables EV (event kinds), ST (item states), DK (decision kinds), OUTCOME (release
-- outcomes) and K (key parts)).
--
-- ARGV[1] is the key prefix; the scripts derive the keys of the items they touch from it, so
-- they run on a single Redis (or one Cluster slot), not across a Cluster. Every script
-- reads the server clock once: leases, deadlines and event times all use that one clock.
-- Checks come before writes, so a refused call writes nothing.
local P = ARGV[1]
local NOW
do
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- ``a`` is a key part (K.<name>): P:a, or P:a:b.
local function key(a, b)
  if b == nil then return P .. ':' .. a end
  return P .. ':' .. a .. ':' .. b
end

local function J(v) return cjson.encode(v) end

local function int(n) return string.format('%d', n) end

-- Milliseconds since the epoch as ISO 8601 UTC (days-from-civil inverse, H. Hinnant).
local function iso(ms)
  local secs = math.floor(ms / 1000)
  local z = math.floor(secs / 86400) + 719468
  local sod = secs % 86400
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
    - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d,
    math.floor(sod / 3600), math.floor(sod % 3600 / 60), sod % 60, ms % 1000)
end

local function split(s, sep)
  local out = {}
  if s == nil or s == '' then return out end
  for part in string.gmatch(s, '([^' .. sep .. ']+)') do out[#out + 1] = part end
  return out
end

local function tier_allowed(tiers, tier)
  if tiers == '' then return true end
  for _, t in ipairs(split(tiers, ',')) do
    if t == tier then return true end
  end
  return false
end

-- The item's review state as the JSON object ``ReviewState`` (integers stay integers; the
-- fields and which of them are text come from ReviewState itself).
local function state_json(h)
  local v = redis.call('HMGET', h, unpack(STATE_FIELDS))
  local parts = {}
  for i, f in ipairs(STATE_FIELDS) do
    if STATE_TEXT[f] then
      parts[i] = '"' .. f .. '":' .. J(v[i] or '')
    else
      parts[i] = '"' .. f .. '":' .. (v[i] or '0')
    end
  end
  return '{' .. table.concat(parts, ',') .. '}'
end

local function publish(topic, rid, value, dedupe)
  redis.call('XADD', key(K.outbox), '*', 'topic', topic, 'key', rid, 'value', value,
    'dedupe', dedupe)
end

-- A ``ReviewEvent`` as the members of its JSON object (``obj`` joins them): ``state`` is the
-- ReviewState JSON, ``scalars`` plain fields, ``raws`` fields whose value is already JSON
-- text (either may be nil).
local NOW_ISO = nil
local function event_parts(rid, seq, etype, actor, state, scalars, raws)
  NOW_ISO = NOW_ISO or iso(NOW)
  local parts = {
    '"schema_version":1', '"event_id":' .. J(rid .. ':' .. seq), '"request_id":' .. J(rid),
    '"seq":' .. seq, '"at":"' .. NOW_ISO .. '"', '"type":"' .. etype .. '"',
    '"actor":' .. J(actor), '"state":' .. state,
  }
  if scalars then
    for k, v in pairs(scalars) do parts[#parts + 1] = J(k) .. ':' .. J(v) end
  end
  if raws then
    for k, v in pairs(raws) do parts[#parts + 1] = J(k) .. ':' .. v end
  end
  return parts
end

local function obj(parts) return '{' .. table.concat(parts, ',') .. '}' end

-- Appends a ``ReviewEvent`` (its state read from the item hash) to the item's audit trail
-- and to the outbox (for review.events).
local function emit(rid, h, etype, actor, scalars, raws)
  local seq = redis.call('HINCRBY', h, 'seq', 1)
  local ev = obj(event_parts(rid, seq, etype, actor, state_json(h), scalars, raws))
  redis.call('RPUSH', key(K.audit, rid), ev)
  publish(EVENTS_TOPIC, rid, ev, rid .. ':' .. seq)
  return ev
end

-- The queue an item is claimed from: its tier's open set, or its assignee's own set.
local function claim_queue(tier, assigned)
  if assigned ~= nil and assigned ~= '' then return key(K.assigned, assigned) end
  return key(K.open, tier)
end

local function views_of(h)
  local v = redis.call('HGET', h, 'views')
  if not v or v == '' then return {} end
  return cjson.decode(v)
end

-- Claims are stored as "<claim id>|<expires ms>|<item version>".
local function parse_claim(v)
  local cid, exp, ver = string.match(v, '^([^|]*)|([^|]*)|(.*)$')
  return cid, tonumber(exp), tonumber(ver)
end

local function drop_lease(rid, reviewer)
  redis.call('HDEL', key(K.claims, rid), reviewer)
  redis.call('ZREM', key(K.leases), rid .. '|' .. reviewer)
end

-- Puts a pending item in (or takes it out of) its claim queue by its free seats.
local function refresh_open(rid, h)
  local f = redis.call('HMGET', h, 'state', 'tier', 'assigned', 'member', 'score', 'required',
    'done')
  if f[1] ~= ST.pending then return end
  local q = claim_queue(f[2], f[3])
  local seats = tonumber(f[6]) - tonumber(f[7]) - redis.call('HLEN', key(K.claims, rid))
  if seats > 0 then
    redis.call('ZADD', q, tonumber(f[5]), f[4])
  else
    redis.call('ZREM', q, f[4])
  end
end

local function expire_claim(rid, reviewer, cid)
  drop_lease(rid, reviewer)
  local h = key(K.item, rid)
  if redis.call('EXISTS', h) == 1 then
    emit(rid, h, EV.claim_expired, 'system:lease', {reviewer = reviewer, claim_id = cid})
    refresh_open(rid, h)
  end
end

-- Expires this item's lapsed claims; returns how many claims are still live, and the live
-- claim of ``who`` if it holds one (read here, so callers need not read the hash again).
local function live_claims(rid, who)
  local all = redis.call('HGETALL', key(K.claims, rid))
  local live, mine = 0, nil
  for i = 1, #all, 2 do
    local cid, exp = parse_claim(all[i + 1])
    if exp <= NOW then
      expire_claim(rid, all[i], cid)
    else
      live = live + 1
      if all[i] == who then mine = all[i + 1] end
    end
  end
  return live, mine
end

-- Expires up to ``limit`` lapsed claims of any item (oldest expiry first).
local function reap_leases(limit)
  local due = redis.call('ZRANGEBYSCORE', key(K.leases), '-inf', NOW, 'LIMIT', 0, limit)
  for _, m in ipairs(due) do
    local rid, reviewer = string.match(m, '^([^|]*)|(.*)$')
    local v = redis.call('HGET', key(K.claims, rid), reviewer)
    if v then
      local cid, exp = parse_claim(v)
      if exp <= NOW then expire_claim(rid, reviewer, cid) end
    else
      redis.call('ZREM', key(K.leases), m)
    end
  end
  return #due
end

-- Moves a pending item to a higher tier: a new version (every claim and vote of the old one
-- is void), one verdict needed, a fresh SLA deadline from now.
local function escalate(rid, h, to, reason, actor)
  local f = redis.call('HMGET', h, 'tier', 'assigned', 'member', 'sla_ms', 'bonus')
  local from, member = f[1], f[3]
  local claims = redis.call('HKEYS', key(K.claims, rid))
  for _, reviewer in ipairs(claims) do
    redis.call('ZREM', key(K.leases), rid .. '|' .. reviewer)
  end
  redis.call('DEL', key(K.claims, rid), key(K.votes, rid))
  redis.call('ZREM', claim_queue(from, f[2]), member)
  local deadline = NOW + tonumber(f[4])
  local score = deadline - tonumber(f[5])
  redis.call('HINCRBY', h, 'version', 1)
  redis.call('HSET', h, 'tier', to, 'required', 1, 'done', 0, 'assigned', '',
    'deadline_ms', int(deadline), 'score', int(score))
  redis.call('ZADD', key(K.pending), score, member)
  for _, v in ipairs(views_of(h)) do redis.call('ZADD', key(K.view, v), score, member) end
  redis.call('ZADD', key(K.open, to), score, member)
  redis.call('ZADD', key(K.deadlines), deadline, rid)
  emit(rid, h, EV.escalated, actor, {reason = reason, from_tier = from, to_tier = to})
end

-- Sends a held item's release (``rel`` is the ReviewRelease JSON less its id and time).
local function release(rid, h, rel, outcome, actor)
  local full = string.sub(rel, 1, -2) .. ',"release_id":' .. J(rid .. ':release')
    .. ',"released_at":"' .. iso(NOW) .. '"}'
  redis.call('HSET', h, 'released', outcome, 'release', full)
  publish(RELEASES_TOPIC, rid, full, rid .. ':release')
  emit(rid, h, EV.released, actor, {outcome = outcome}, {release = full})
end
