package cluster

import "github.com/redis/go-redis/v9"

// The Lua scripts. Each touches keys of one hash tag only, so it runs in one slot of a
// Redis Cluster. Scripts return '' rather than nil, so that a pipeline's errors are
// only real ones.

// presenceScript applies a batch of presence operations of one app, in order, so that a
// batch of 512 logins costs one script call per app rather than one per login. A user's
// value is one session record "node|loginMs|addr", or several separated by spaces,
// oldest first. ARGV holds quadruples: "in", user, record, limit adds a session record
// (replacing one with the same "node|loginMs|") and, past limit records (0: no limit),
// removes the oldest; it answers the records it removed or replaced, space-separated,
// then a newline and the records of the user's other sessions it kept (either part
// empty if none). With limit 1 the record replaces the whole value, as when a user held
// one session at most, and the answer is the value it replaced. "out", user, owner, ""
// removes the user's records that start with owner (a login's "node|loginMs|", or
// "node|" for whatever a node recorded) and answers "1" if it removed any, then a
// newline and the records left, or an empty string if it removed none. A user left with
// no record leaves the index. Returns the answers in order.
// KEYS: app users hash, app index zset.
var presenceScript = redis.NewScript(`
local function split(v)
  local t = {}
  for r in string.gmatch(v, '[^ ]+') do t[#t + 1] = r end
  return t
end
local function owner(rec)
  local a = string.find(rec, '|', 1, true)
  local b = string.find(rec, '|', a + 1, true)
  return string.sub(rec, 1, b)
end
local out = {}
for i = 1, #ARGV, 4 do
  local user, v = ARGV[i + 1], ARGV[i + 2]
  local cur = redis.call('HGET', KEYS[1], user)
  if ARGV[i] == 'in' then
    local limit = tonumber(ARGV[i + 3])
    if not cur or limit == 1 then
      redis.call('HSET', KEYS[1], user, v)
      out[#out + 1] = cur or ''
    else
      local mine, kept, gone = owner(v), {}, {}
      for _, r in ipairs(split(cur)) do
        if string.sub(r, 1, #mine) == mine then gone[#gone + 1] = r else kept[#kept + 1] = r end
      end
      kept[#kept + 1] = v
      local drop = 0
      if limit > 0 and #kept > limit then drop = #kept - limit end
      for j = 1, drop do gone[#gone + 1] = kept[j] end
      redis.call('HSET', KEYS[1], user, table.concat(kept, ' ', drop + 1))
      out[#out + 1] = table.concat(gone, ' ') .. '\n' .. table.concat(kept, ' ', drop + 1, #kept - 1)
    end
    redis.call('ZADD', KEYS[2], 0, user)
  elseif cur then
    local kept, n = {}, 0
    for _, r in ipairs(split(cur)) do
      if string.sub(r, 1, #v) == v then n = n + 1 else kept[#kept + 1] = r end
    end
    if n == 0 then
      out[#out + 1] = ''
    elseif #kept == 0 then
      redis.call('HDEL', KEYS[1], user)
      redis.call('ZREM', KEYS[2], user)
      out[#out + 1] = '1'
    else
      local left = table.concat(kept, ' ')
      redis.call('HSET', KEYS[1], user, left)
      out[#out + 1] = '1\n' .. left
    end
  else
    out[#out + 1] = ''
  end
end
return out
`)

// heartbeatScript renews a node's lease (Redis clock) and publishes its info, then reads
// the registry. Returns {added, nowMs, {live id, lease}..., {info}..., {dead id}...,
// the info this renewal replaced (empty if none)};
// added is 1 when the node was not in the registry, 2 when it was but a cleanup removed
// its users while it was live (the rewrite flag, which it clears): either way the node
// must write its presence again.
// KEYS: live zset, info hash, this node's rewrite flag. ARGV: node id, ttl ms, info JSON.
var heartbeatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
if redis.call('DEL', KEYS[3]) == 1 and added == 0 then added = 2 end
local prev = redis.call('HGET', KEYS[2], ARGV[1]) or ''
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local live = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf', 'WITHSCORES')
local ids = {}
for i = 1, #live, 2 do ids[#ids + 1] = live[i] end
local infos = {}
if #ids > 0 then infos = redis.call('HMGET', KEYS[2], unpack(ids)) end
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
return {added, now, live, infos, dead, prev}
`)

// nodesScript reads the registry: {0, nowMs, {live id, lease}..., {info}..., {}}.
// KEYS: live zset, info hash.
var nodesScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf', 'WITHSCORES')
local ids = {}
for i = 1, #live, 2 do ids[#ids + 1] = live[i] end
local infos = {}
if #ids > 0 then infos = redis.call('HMGET', KEYS[2], unpack(ids)) end
return {0, now, live, infos, {}}
`)

// claimDeadScript takes the lock on cleaning up a dead node: only if its lease has
// expired (it may have come back since a renewal reported it) and no other node holds
// the lock. Returns 1 if taken.
// KEYS: live zset, the node's gc lock. ARGV: node id, this node's id, lock ttl ms.
var claimDeadScript = redis.NewScript(`
local lease = redis.call('ZSCORE', KEYS[1], ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if lease and tonumber(lease) >= now then return 0 end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return 1 end
return 0
`)

// forgetNodeScript removes a node from the registry if its lease has expired (or
// unconditionally when ARGV[2] is '1', for a clean stop). Returns 1 if removed. A node
// that is live again after a cleanup removed its users gets its rewrite flag set
// instead (TTL ARGV[3] ms), which its next renewal reads.
// KEYS: live zset, info hash, the node's rewrite flag. ARGV: node id, force, flag ttl ms.
var forgetNodeScript = redis.NewScript(`
local lease = redis.call('ZSCORE', KEYS[1], ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == '1' or not lease or tonumber(lease) < now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
return 0
`)

var allScripts = []*redis.Script{presenceScript, heartbeatScript, nodesScript, claimDeadScript, forgetNodeScript}
