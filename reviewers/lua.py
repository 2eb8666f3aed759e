"""The Lua scripts behind ``ReviewQueue``: each is one atomic step, in one round trip.

Redis runs a script without interleaving other commands, so "check the state, then write"
cannot race with another reviewer or a re-delivered enqueue. A script is not a transaction,
though: a write that fails half-way leaves the earlier writes in place. The scripts therefore
do every check first and put the write that could fail on a bad key type (XADD onto a
non-stream) before the others. (Under ``maxmemory`` Redis refuses a writing script before it
starts, so an OOM cannot cut one in half either.)
"""

from __future__ import annotations

# KEYS: item hash, pending zset, audit list
# ARGV: item JSON, zset member, zset score, audit entry JSON
# Returns 1 when stored, 0 when the request id was already known (pending or decided):
# the item hash is never deleted, so a re-delivery after the decision cannot re-queue it.
ENQUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'item', ARGV[1], 'state', 'pending', 'member', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[4])
return 1
"""

# KEYS: item hash, pending zset, audit list, outbox stream
# ARGV: decision JSON, decision id, audit entry JSON, topic, request id
# Returns {'ok', outbox entry id} | {'missing'} | {'decided', stored decision JSON}.
DECIDE = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return {'missing'}
end
if state == 'decided' then
  return {'decided', redis.call('HGET', KEYS[1], 'decision')}
end
-- The outbox entry first: it is the one write that can fail (WRONGTYPE), and if it does
-- nothing else has been written, so a decision never exists without its event.
local entry = redis.call('XADD', KEYS[4], '*',
  'topic', ARGV[4], 'key', ARGV[5], 'value', ARGV[1], 'dedupe', ARGV[2])
local member = redis.call('HGET', KEYS[1], 'member')
redis.call('HSET', KEYS[1], 'state', 'decided', 'decision', ARGV[1])
if member then
  redis.call('ZREM', KEYS[2], member)
end
redis.call('RPUSH', KEYS[3], ARGV[3])
return {'ok', entry}
"""
