-- Claims due members of a schedule: each is pushed to the lease's end, so
-- no other replica sees it until then.
--
-- KEYS[1]: the schedule (a sorted set of member → due time, ms).
-- ARGV:    now (ms), lease_until (ms), limit.
-- Returns member, due, member, due, … (each claimed member and the time it
-- was due, so the worker knows how old its wake-up is).
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
for i = 1, #due, 2 do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], due[i])
end
return due
