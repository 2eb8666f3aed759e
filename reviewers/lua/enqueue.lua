-- Stores a batch of flagged items, each only once: a request id already known (pending,
-- decided or erased) is skipped, so a re-delivery never creates a second item.
-- ARGV: prefix, n, then per item one JSON object (reviewers/queue.py ``_enqueue_arg``),
-- decoded once here: ``rid``, ``member``, ``score``, ``deadline``, ``assigned``, ``subject``,
-- ``views`` (for the indexes); ``hash`` (the item hash's fields less the item, as a flat
-- field, value list); and the JSON texts stored and published as they are: ``item``
-- (ReviewItem), ``state`` (its ReviewState, built by the caller: it is known before the
-- item exists) and ``queue`` (ReviewQueueFields). The ``queued`` event is built here with
-- the server time (``event_parts``, as ``emit`` builds every other event): the audit trail
-- keeps it without the item and queue fields (the item hash has them); review.events gets
-- it with them, so the state can be rebuilt from it.
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
local out = {}
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
local s0 = 3 + n
if ARGV[s0] ~= nil then
  local ttl, m = ARGV[s0], tonumber(ARGV[s0 + 1])
  for j = 0, m - 1 do
    local rid, outcome = ARGV[s0 + 2 + 2 * j], ARGV[s0 + 3 + 2 * j]
    local k = key(K.settled, rid)
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
local pending, deadlines, views = key(K.pending), key(K.deadlines), key(K.views)
for i = 1, n do
  local a = cjson.decode(ARGV[2 + i])
  local rid = a.rid
  local h = key(K.item, rid)
  if settled_before[rid] or redis.call('EXISTS', h, key(K.erased, rid)) > 0 then
    out[#out + 1] = 0
  else
    local member, score = a.member, a.score
    redis.call('HSET', h, 'item', a.item, 'seq', 1, unpack(a.hash))
    zadd(pending, score, member)
    for _, v in ipairs(a.views) do
      zadd(key(K.view, v), score, member)
      sadd(views, v)
    end
    zadd(claim_queue(FIRST_TIER, a.assigned), score, member)
    zadd(deadlines, a.deadline, rid)
    if a.subject ~= '' then sadd(key(K.subject, a.subject), rid) end
    local ev = event_parts(rid, 1, EV.queued, 'system:queue', a.state)
    redis.call('RPUSH', key(K.audit, rid), obj(ev))
    ev[#ev + 1] = '"item":' .. a.item
    ev[#ev + 1] = '"queue":' .. a.queue
    publish(EVENTS_TOPIC, rid, obj(ev), rid .. ':1')
    out[#out + 1] = 1
  end
end
-- ENQUEUE_BATCH (100 items) keeps every member list far below Lua's unpack limit.
for _, k in ipairs(order) do redis.call('ZADD', k, unpack(zsets[k])) end
for k, members in pairs(sets) do redis.call('SADD', k, unpack(members)) end
for _, e in ipairs(earlier) do out[#out + 1] = e end
return out
