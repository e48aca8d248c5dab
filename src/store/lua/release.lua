-- Ends a claim: the member becomes due at `next`, or leaves the schedule
-- when `next` is empty — unless someone made it due sooner meanwhile (its
-- score is no longer the claim's), in which case it is left as they set it.
--
-- KEYS[1]: the schedule.
-- ARGV:    member, claimed_until (ms), next (ms or "").
-- Returns 1 if released as asked, 0 if it was re-woken meanwhile.
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then
  return 0
end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
