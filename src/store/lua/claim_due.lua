-- Claims due members of a schedule: each is pushed to the lease's end, so
-- no other replica sees it until then.
--
-- KEYS[1]: the schedule (a sorted set of member → due time, ms).
-- ARGV:    now (ms), lease_until (ms), limit.
-- Returns the claimed members.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], member)
end
return due
