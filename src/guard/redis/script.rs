//! The Lua script that records an update or judges a refresh in one round
//! trip, and the hex form of the session hashes it keys by.

use crate::session::SessionHash;

/// `KEYS[1]`: `{prefix}:next`, declared so that Redis Cluster routes the
/// call (every other key the script builds shares its hash tag, hence its
/// slot). `ARGV`: operation (`u` record an update, `r` judge a refresh), the
/// request's session hash, the written hash (empty: a delete), the TTL in
/// milliseconds, the key prefix. Returns 1 for stale (for an update: its
/// request's generation was already superseded), 0 otherwise. Mirrors
/// `GuardState::record_update` and `GuardState::judge_refresh` step by step.
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

local function touch(h, g)
  redis.call('PEXPIRE', vkey(h), ttl)
  redis.call('PEXPIRE', gkey(g), ttl)
end

if op == 'r' then
  local g = generation_of(request)
  local record = redis.call('GET', gkey(g))
  if record and string.sub(record, 1, 1) == 'S' then
    return 1
  end
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
  local before = redis.call('GET', gkey(parent))
  if before and string.sub(before, 1, 1) == 'S' then stale = 1 end
  touch(request, parent)
  -- Supersede the generation and the chain later updates started from it.
  local id = parent
  while id do
    local record = redis.call('GET', gkey(id))
    if not record then break end
    local child = string.match(record, ':(%d+)$')
    redis.call('SET', gkey(id), 'S' .. string.sub(record, 2), 'KEEPTTL')
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
