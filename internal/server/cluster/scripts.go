package cluster

import "github.com/redis/go-redis/v9"

// The Lua scripts. Each touches keys of one hash tag only, so it runs in one slot of a
// Redis Cluster. Scripts return '' rather than nil, so that a pipeline's errors are
// only real ones.

// loginScript records a user and returns the value it replaced (” if none).
// KEYS: app users hash, app index zset. ARGV: user, value.
var loginScript = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return old or ''
`)

// logoutScript removes a user's record if its value starts with ARGV[2] (the owner
// "node|loginMs|", or "node|" to remove whatever a node recorded). Returns 1 if removed.
// KEYS: app users hash, app index zset. ARGV: user, owner prefix.
var logoutScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and string.sub(cur, 1, #ARGV[2]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
return 0
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

var allScripts = []*redis.Script{loginScript, logoutScript, heartbeatScript, nodesScript, forgetNodeScript}
