-- Appends an order's events to its merchant's stream, each exactly once:
-- the highest seq published per order is kept beside the stream, and
-- events at or below it are skipped (a retried publish is a no-op).
--
-- Each new entry is also queued for webhook delivery, in the same script,
-- so a delivery is stored exactly when its event is.
--
-- KEYS[1]: the merchant's event stream; KEYS[2]: hash order_id → last seq;
-- KEYS[3]: the merchant's delivery queue (entry id → due ms).
-- ARGV:    order_id, max_len (approximate trim), now (ms), then (seq, payload)* by seq.
-- Returns the highest seq now published for the order.
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local i = 4
while i <= #ARGV do
  local seq = tonumber(ARGV[i])
  if seq > last then
    local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'p', ARGV[i + 1])
    redis.call('ZADD', KEYS[3], ARGV[3], id)
    last = seq
  end
  i = i + 2
end
redis.call('HSET', KEYS[2], ARGV[1], last)
return last
