-- Guarded multi-record write (compare-and-set across records of one slot).
--
-- Records are stored as "<version>|<payload>"; versions start at 1 and a
-- missing key is version 0.
--
-- KEYS:  every key the transaction touches (one hash slot).
-- ARGV:  nchecks, then per check: key index (1-based into KEYS), expected version;
--        nputs, then per put: key index, payload;
--        ndeletes, then per delete: key index.
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

-- Versions read while checking are reused when writing (one GET per key).
local known = {}
local nchecks = tonumber(ARGV[1])
local pos = 2
local held = true
for _ = 1, nchecks do
  local index = tonumber(ARGV[pos])
  local want = tonumber(ARGV[pos + 1])
  if version_of(KEYS[index]) ~= want then
    held = false
  end
  known[index] = want
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
  local index = tonumber(ARGV[pos])
  local version = known[index] or version_of(KEYS[index])
  redis.call('SET', KEYS[index], (version + 1) .. '|' .. ARGV[pos + 1])
  known[index] = version + 1
  pos = pos + 2
end
local ndeletes = tonumber(ARGV[pos])
pos = pos + 1
for _ = 1, ndeletes do
  redis.call('DEL', KEYS[tonumber(ARGV[pos])])
  pos = pos + 1
end
return {1}
