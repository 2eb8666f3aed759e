-- Stores a batch of flagged items, each only once: a request id already known (pending,
-- decided or erased) is skipped, so a re-delivery never creates a second item.
-- ARGV: prefix, n, then per item 17 fields (reviewers/queue.py ``_enqueue_args``); the last
-- is the ``queued`` event less its time, item and queue fields, built by the caller (its
-- state is known before the item exists), so the script only adds the time.
-- The audit trail keeps that lean event (the item is in the item hash); review.events gets
-- the event with the item and how it is queued, so the state can be rebuilt from it.
-- Returns one 1 (stored) or 0 (known already) per item.
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
local pending, deadlines = key('pending'), key('deadlines')
for i = 0, n - 1 do
  local a = 2 + i * FIELDS
  local rid = ARGV[a + 1]
  local h = key('item', rid)
  if redis.call('EXISTS', h, key('erased', rid)) > 0 then
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
return out
