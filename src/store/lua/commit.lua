-- Guarded multi-record write (compare-and-set across records of one slot).
--
-- Records are stored as "<version>|<payload>"; versions start at 1 and a
-- missing key is version 0.
--
-- KEYS:  every key the transaction touches (one hash slot).
-- ARGV:  nchecks, then per check: key index (1-based into KEYS), expected version;
--        nputs, then per put: key index, payload.
-- Returns {1} when every check held and every put was applied;
--         {0, current_1, ..., current_n} when a check failed (nothing written),
--         current_i being the raw record of the i-th checked key or false.

local function version_of(key)
  local raw = redis.call('GET', key)
  if not raw then
    return 0
  end
  local sep = string.find(raw, '|', 1, true)
  return tonumber(string.sub(raw, 1, sep - 1))
end

local nchecks = tonumber(ARGV[1])
local pos = 2
local held = true
for _ = 1, nchecks do
  if version_of(KEYS[tonumber(ARGV[pos])]) ~= tonumber(ARGV[pos + 1]) then
    held = false
  end
  pos = pos + 2
end

if not held then
  local out = {0}
  local at = 2
  for i = 1, nchecks do
    out[i + 1] = redis.call('GET', KEYS[tonumber(ARGV[at])])
    at = at + 2
  end
  return out
end

local nputs = tonumber(ARGV[pos])
pos = pos + 1
for _ = 1, nputs do
  local key = KEYS[tonumber(ARGV[pos])]
  redis.call('SET', key, (version_of(key) + 1) .. '|' .. ARGV[pos + 1])
  pos = pos + 2
end
return {1}
