-- Stores a batch of flagged items, each only once: a request id already known (pending,
-- decided or erased) is skipped, so a re-delivery never creates a second item.
-- ARGV: prefix, n, then per item 17 fields (reviewers/queue.py ``_enqueue_args``); the last
-- is the ``queued`` event less its time, item and queue fields, built by the caller (its
-- state is known before the item exists), so the script only adds the time.
-- The audit trail keeps that lean event (the item is in the item hash); review.events gets
-- the event with the item and how it is queued, so the state can be rebuilt from it.
-- Then, optionally (the screening worker), the outcomes to settle: ttl ms, m, then per
-- outcome its request id and ScreeningOutcome JSON. Each request id is settled once: the
-- first outcome is kept (``P:settled:<rid>``, for ttl) and a later one for the same id is
-- answered with the first, and its item (if any) is not stored. Settling and storing the
-- item in one script means a worker killed at any point leaves both or neither.
-- Returns one 1 (stored) or 0 (known already) per item, then per outcome '' (settled now)
-- or the outcome settled earlier.
--
-- Why the index writes are gathered: each ``redis.call`` costs more than the member it
-- adds, so the sorted sets and sets shared by the batch (pending, views, claim queues,
-- deadlines, subjects) get one multi-member write each at the end, not one per item. This
-- halves the script's time per item. Nothing reads them in between (a script runs alone).
local n = tonumber(ARGV[2])
local FIELDS = 17
local out = {}
local at = iso(NOW)
-- key -> flat {score, member, score, member, ...} (or {member, ...} for sets)
local zsets, sets, order = {}, {}, {}
local function zadd(k, score, m)
  local t = zsets[k]
  if t == nil then
    t = {}
    zsets[k] = t
    order[#order + 1] = k
  end
  t[#t + 1] = score
  t[#t + 1] = m
end
local function sadd(k, m)
  local t = sets[k]
  if t == nil then
    t = {}
    sets[k] = t
  end
  t[#t + 1] = m
end
-- settled_before: ids settled by an earlier call (their items are not stored); an id twice
-- in this call is answered with its first outcome, and its item is stored once.
local earlier, settled_before, settled_now = {}, {}, {}
local s0 = 3 + n * FIELDS
if ARGV[s0] ~= nil then
  local ttl, m = ARGV[s0], tonumber(ARGV[s0 + 1])
  for j = 0, m - 1 do
    local rid, outcome = ARGV[s0 + 2 + 2 * j], ARGV[s0 + 3 + 2 * j]
    local k = key('settled', rid)
    local first = redis.call('GET', k)
    if first then
      earlier[#earlier + 1] = first
      if not settled_now[rid] then settled_before[rid] = true end
    else
      redis.call('SET', k, outcome, 'PX', ttl)
      settled_now[rid] = true
      earlier[#earlier + 1] = ''
    end
  end
end
local pending, deadlines = key('pending'), key('deadlines')
for i = 0, n - 1 do
  local a = 2 + i * FIELDS
  local rid = ARGV[a + 1]
  local h = key('item', rid)
  if settled_before[rid] or redis.call('EXISTS', h, key('erased', rid)) > 0 then
    out[#out + 1] = 0
  else
    local member, deadline, bonus = ARGV[a + 3], tonumber(ARGV[a + 8]), tonumber(ARGV[a + 5])
    local assigned = ARGV[a + 11]
    local score = deadline - bonus
    redis.call('HSET', h,
      'item', ARGV[a + 2], 'member', member, 'risk', ARGV[a + 4], 'bonus', ARGV[a + 5],
      'sla_ms', ARGV[a + 6], 'retention_ms', ARGV[a + 7], 'hold', ARGV[a + 10],
      'views', ARGV[a + 12], 'checks', ARGV[a + 13], 'subject', ARGV[a + 14],
      'fallback', ARGV[a + 15],
      'state', 'pending', 'tier', 'reviewer', 'version', 1, 'required', ARGV[a + 9],
      'done', 0, 'deadline_ms', int(deadline), 'score', int(score), 'released', '',
      'assigned', assigned, 'breaches', 0, 'seq', 1)
    zadd(pending, score, member)
    for _, v in ipairs(cjson.decode(ARGV[a + 12])) do
      zadd(key('view', v), score, member)
      sadd(key('views'), v)
    end
    zadd(claim_queue('reviewer', assigned), score, member)
    zadd(deadlines, deadline, rid)
    if ARGV[a + 14] ~= '' then sadd(key('subject', ARGV[a + 14]), rid) end
    local lean = '{"at":"' .. at .. '",' .. ARGV[a + 17]
    redis.call('RPUSH', key('audit', rid), lean)
    publish(EVENTS_TOPIC, rid, string.sub(lean, 1, -2) .. ',"item":' .. ARGV[a + 2]
      .. ',"queue":' .. ARGV[a + 16] .. '}', rid .. ':1')
    out[#out + 1] = 1
  end
end
-- ENQUEUE_BATCH (100 items) keeps every member list far below Lua's unpack limit.
for _, k in ipairs(order) do redis.call('ZADD', k, unpack(zsets[k])) end
for k, members in pairs(sets) do redis.call('SADD', k, unpack(members)) end
for _, e in ipairs(earlier) do out[#out + 1] = e end
return out
