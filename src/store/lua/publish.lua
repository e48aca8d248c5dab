-- Appends an order's events to its merchant's stream, each exactly once:
-- the highest seq published per order is kept beside the stream, and
-- events at or below it are skipped (a retried publish is a no-op).
--
-- KEYS[1]: the merchant's event stream; KEYS[2]: hash order_id → last seq.
-- ARGV:    order_id, max_len (approximate trim), then (seq, payload)* by seq.
-- Returns the highest seq now published for the order.
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local i = 3
while i <= #ARGV do
  local seq = tonumber(ARGV[i])
  if seq > last then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'p', ARGV[i + 1])
    last = seq
  end
  i = i + 2
end
redis.call('HSET', KEYS[2], ARGV[1], last)
return last
