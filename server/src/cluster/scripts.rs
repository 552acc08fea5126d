//! The Lua scripts that make each Redis step atomic: ordering ops (with deduplication and the
//! sealed values), storing snapshots, and the workshop state's compare-and-set.

/// Orders ops in a room's log: per op, dedup by op id, INCR the seq, XADD the entry. KEYS: seq,
/// log, the sealed-values hash, the set of revealed objects, the op-id hash (`op id ->
/// seq:sender`), the op-id queue (oldest first), then per op its legacy dedup key (read only);
/// ARGV: how many op ids to keep, how long (seconds) to keep them after the room's last op,
/// then per op its
/// id, its JSON, its sender and its sealed action: empty,
/// `p<US>object<US>name<US>member<US>value` (seal), `w<US>object<US>name<US>member` (withdraw)
/// or `r<US>object` (reveal: the object's sealed values move from the hash into the entry, in one
/// step with its ordering). A seal, withdraw or reveal of an object revealed already is refused
/// (`x:revealed`, nothing written): a node may validate against a replica that has not read the
/// reveal yet. The op ids beyond the newest `ARGV[1]` are forgotten, oldest first, in the same
/// step: a busy room's dedup memory is bounded by a count, as on one node, and a room without
/// ops for `ARGV[2]` seconds forgets them all.
///
/// Before the count, each op id had a key of its own (`{room}:op:<id>`, expiring after an hour);
/// the script still reads it, so that an op resent across the upgrade is not applied twice. That
/// read can go once no node older than this one has ordered an op for an hour. The other way
/// does not hold: an older node does not read the hash, so upgrade by stopping the older nodes
/// before the new ones order ops, not one node at a time.
///
/// The entries written are also published, in one message per call, on the room's channel
/// `{room}:push` (a JSON list of `[stream id, field, value, ...]`, the fields as in the log),
/// so that the nodes following the room get them without polling the log; the log stays the
/// record they fill gaps from. Published in the same step as the append, the messages of one
/// room reach a subscriber in seq order.
pub(super) const APPEND: &str = r#"
local out = {}
local pushed = {}
local us = string.char(31)
for n = 1, (#ARGV - 2) / 4 do
  local id, op, p, act = ARGV[4 * n - 1], ARGV[4 * n], ARGV[4 * n + 1], ARGV[4 * n + 2]
  local kind = string.sub(act, 1, 1)
  local object = string.match(string.sub(act, 3), '^([^' .. us .. ']*)')
  local existing = redis.call('HGET', KEYS[5], id) or redis.call('GET', KEYS[6 + n])
  if existing then
    out[n] = 'd:' .. existing
  elseif kind ~= '' and redis.call('SISMEMBER', KEYS[4], object) == 1 then
    out[n] = 'x:revealed'
  else
    local seq = redis.call('INCR', KEYS[1])
    if kind == 'p' then
      local field, value = string.match(string.sub(act, 3), '^(.*)' .. us .. '([^' .. us .. ']*)$')
      redis.call('HSET', KEYS[3], field, value)
      redis.call('XADD', KEYS[2], seq .. '-1', 'op', op, 'p', p)
    elseif kind == 'w' then
      redis.call('HDEL', KEYS[3], string.sub(act, 3))
      redis.call('XADD', KEYS[2], seq .. '-1', 'op', op, 'p', p)
    elseif kind == 'r' then
      local prefix = object .. us
      local all = redis.call('HGETALL', KEYS[3])
      local taken = {}
      for j = 1, #all, 2 do
        if string.sub(all[j], 1, #prefix) == prefix then
          taken[#taken + 1] = all[j]
          taken[#taken + 1] = all[j + 1]
          redis.call('HDEL', KEYS[3], all[j])
        end
      end
      redis.call('SADD', KEYS[4], object)
      local sealed = '[]'
      if #taken > 0 then sealed = cjson.encode(taken) end
      redis.call('XADD', KEYS[2], seq .. '-1', 'op', op, 'p', p, 'sealed', sealed)
      pushed[#pushed + 1] = {seq .. '-1', 'op', op, 'p', p, 'sealed', sealed}
    else
      redis.call('XADD', KEYS[2], seq .. '-1', 'op', op, 'p', p)
    end
    if kind ~= 'r' then
      pushed[#pushed + 1] = {seq .. '-1', 'op', op, 'p', p}
    end
    redis.call('HSET', KEYS[5], id, seq .. ':' .. p)
    redis.call('RPUSH', KEYS[6], id)
    out[n] = 'n:' .. seq
  end
end
local excess = redis.call('LLEN', KEYS[6]) - tonumber(ARGV[1])
while excess > 0 do
  local old = redis.call('LPOP', KEYS[6], math.min(excess, 1000))
  redis.call('HDEL', KEYS[5], unpack(old))
  excess = excess - #old
end
redis.call('EXPIRE', KEYS[5], ARGV[2])
redis.call('EXPIRE', KEYS[6], ARGV[2])
if #pushed > 0 then
  redis.call('PUBLISH', (string.gsub(KEYS[2], ':log$', ':push')), cjson.encode(pushed))
end
return out
"#;

pub(super) const SNAPSHOT: &str = r#"
local cur = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if tonumber(ARGV[1]) > cur then
  redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'doc', ARGV[2])
  if tonumber(ARGV[3]) > 0 then
    redis.call('XTRIM', KEYS[2], 'MINID', ARGV[3] .. '-0')
  end
  return 1
end
return 0
"#;

pub(super) const CAS: &str = r#"
local cur = redis.call('HGET', KEYS[1], 'v') or '-1'
if cur ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'data', ARGV[3])
local event = {'v', ARGV[2]}
for i = 4, #ARGV do
  event[#event + 1] = ARGV[i]
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '1000', '*', unpack(event))
return 1
"#;
