-- Stores a batch of flagged items, each only once: a request id already known (pending,
-- decided or erased) is skipped, so a re-delivery never creates a second item.
-- ARGV: prefix, n, then per item 17 fields (reviewers/queue.py ``_enqueue_args``); the last
-- is the ``queued`` event less its time, item and queue fields, built by the caller (its
-- state is known before the item exists), so the script only adds the time.
-- The audit trail keeps that lean event (the item is in the item hash); review.events gets
-- the event with the item and how it is queued, so the state can be rebuilt from it.
-- Returns one 1 (stored) or 0 (known already) per item.
local n = tonumber(ARGV[2])
local FIELDS = 17
local out = {}
for i = 0, n - 1 do
  local a = 2 + i * FIELDS
  local rid = ARGV[a + 1]
  local h = key('item', rid)
  if redis.call('EXISTS', h) == 1 or redis.call('EXISTS', key('erased', rid)) == 1 then
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
    redis.call('ZADD', key('pending'), score, member)
    for _, v in ipairs(cjson.decode(ARGV[a + 12])) do
      redis.call('ZADD', key('view', v), score, member)
      redis.call('SADD', key('views'), v)
    end
    redis.call('ZADD', claim_queue('reviewer', assigned), score, member)
    redis.call('ZADD', key('deadlines'), deadline, rid)
    if ARGV[a + 14] ~= '' then redis.call('SADD', key('subject', ARGV[a + 14]), rid) end
    local lean = '{"at":"' .. iso(NOW) .. '",' .. ARGV[a + 17]
    redis.call('RPUSH', key('audit', rid), lean)
    publish(EVENTS_TOPIC, rid, string.sub(lean, 1, -2) .. ',"item":' .. ARGV[a + 2]
      .. ',"queue":' .. ARGV[a + 16] .. '}', rid .. ':1')
    out[#out + 1] = 1
  end
end
return out
