//! The Lua script that records an update or judges a refresh in one round
//! trip, and the hex form of the session hashes it keys by.

use crate::session::SessionHash;

/// `KEYS[1]`: `{prefix}:next`, declared so that Redis Cluster routes the
/// call (every other key the script builds shares its hash tag, hence its
/// slot). `ARGV`: operation (`u` record an update, `r` judge a refresh), the
/// request's session hash, the written hash (empty: a delete), the TTL in
/// milliseconds, the key prefix. Returns 1 for stale (for an update: its
/// request's generation was already superseded), 2 for signed out (a
/// sign-out ended the request's generation or the chain of updates it led
/// to), 0 otherwise. A generation's record is `L` (live), `S` (superseded) or
/// `E` (ended by a sign-out), then `:child` once an update started one from
/// it. Mirrors `GuardState::record_update` and `GuardState::judge_refresh`
/// step by step.
pub(super) const SCRIPT: &str = r#"
local op, request, write, ttl, prefix = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local function vkey(h) return prefix .. ':v:' .. h end
local function gkey(g) return prefix .. ':g:' .. g end

local function new_generation()
  local g = tostring(redis.call('INCR', prefix .. ':next'))
  redis.call('SET', gkey(g), 'L', 'PX', ttl)
  return g
end

-- A value never seen starts its own live generation (an empty store logs
-- nobody out); looking a value up does not extend its life.
local function generation_of(h)
  local g = redis.call('GET', vkey(h))
  if g then
    if redis.call('EXISTS', gkey(g)) == 0 then
      redis.call('SET', gkey(g), 'L', 'PX', ttl)
    end
    return g
  end
  g = new_generation()
  redis.call('SET', vkey(h), g, 'PX', ttl)
  return g
end

-- 0 current, 1 superseded by an update, 2 ended by a sign-out (here or
-- down the chain of updates that started from it).
local function status(g)
  local record = redis.call('GET', gkey(g))
  if not record or string.sub(record, 1, 1) == 'L' then return 0 end
  local id = g
  while id do
    record = redis.call('GET', gkey(id))
    if not record then break end
    if string.sub(record, 1, 1) == 'E' then return 2 end
    local child = string.match(record, ':(%d+)$')
    if child and tonumber(child) > tonumber(id) then id = child else id = false end
  end
  return 1
end

local function touch(h, g)
  redis.call('PEXPIRE', vkey(h), ttl)
  redis.call('PEXPIRE', gkey(g), ttl)
end

if op == 'r' then
  local g = generation_of(request)
  local verdict = status(g)
  if verdict ~= 0 then return verdict end
  touch(request, g)
  if write ~= '' then
    redis.call('SET', vkey(write), g, 'PX', ttl)
  end
  return 0
end

local parent = false
local stale = 0
if request ~= '' then
  parent = generation_of(request)
  stale = status(parent)
  touch(request, parent)
  -- Supersede the generation and the chain later updates started from it;
  -- a sign-out (a delete) ends them, and an ended one stays ended.
  local id = parent
  while id do
    local record = redis.call('GET', gkey(id))
    if not record then break end
    local child = string.match(record, ':(%d+)$')
    local mark = 'S'
    if write == '' or string.sub(record, 1, 1) == 'E' then mark = 'E' end
    redis.call('SET', gkey(id), mark .. string.sub(record, 2), 'KEEPTTL')
    if child and tonumber(child) > tonumber(id) then id = child else id = false end
  end
end
if write ~= '' then
  local child = new_generation()
  redis.call('SET', vkey(write), child, 'PX', ttl)
  if parent then
    local record = redis.call('GET', gkey(parent))
    if record then
      redis.call('SET', gkey(parent), string.sub(record, 1, 1) .. ':' .. child, 'KEEPTTL')
    end
  end
end
return stale
"#;

pub(super) fn hex(hash: SessionHash) -> String {
    format!("{:016x}", hash.0)
}
