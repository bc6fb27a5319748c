package cluster

import "github.com/redis/go-redis/v9"

// The Lua scripts. Each touches keys of one hash tag only, so it runs in one slot of a
// Redis Cluster. Scripts return '' rather than nil, so that a pipeline's errors are
// only real ones.

// presenceScript applies a batch of presence operations of one app, in order, so that a
// batch of 512 logins costs one script call per app rather than one per login. ARGV
// holds triples: "in", user, value records user and answers the value it replaced (an
// empty string if none); "out", user, owner removes user's record if its value starts
// with owner (the login's "node|loginMs|", or "node|" to remove whatever a node
// recorded) and answers "1" if it did, an empty string otherwise. Returns the answers in
// order.
// KEYS: app users hash, app index zset.
var presenceScript = redis.NewScript(`
local out = {}
for i = 1, #ARGV, 3 do
  local user, v = ARGV[i + 1], ARGV[i + 2]
  local cur = redis.call('HGET', KEYS[1], user)
  if ARGV[i] == 'in' then
    redis.call('HSET', KEYS[1], user, v)
    redis.call('ZADD', KEYS[2], 0, user)
    out[#out + 1] = cur or ''
  elseif cur and string.sub(cur, 1, #v) == v then
    redis.call('HDEL', KEYS[1], user)
    redis.call('ZREM', KEYS[2], user)
    out[#out + 1] = '1'
  else
    out[#out + 1] = ''
  end
end
return out
`)

// heartbeatScript renews a node's lease (Redis clock) and publishes its info, then reads
// the registry. Returns {added, nowMs, {live id, lease}..., {info}..., {dead id}...}.
// KEYS: live zset, info hash. ARGV: node id, ttl ms, info JSON.
var heartbeatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local live = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf', 'WITHSCORES')
local ids = {}
for i = 1, #live, 2 do ids[#ids + 1] = live[i] end
local infos = {}
if #ids > 0 then infos = redis.call('HMGET', KEYS[2], unpack(ids)) end
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
return {added, now, live, infos, dead}
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

// forgetNodeScript removes a node from the registry if its lease has expired (or
// unconditionally when ARGV[2] is '1', for a clean stop). Returns 1 if removed.
// KEYS: live zset, info hash. ARGV: node id, force.
var forgetNodeScript = redis.NewScript(`
local lease = redis.call('ZSCORE', KEYS[1], ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == '1' or not lease or tonumber(lease) < now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
return 0
`)

var allScripts = []*redis.Script{presenceScript, heartbeatScript, nodesScript, forgetNodeScript}
