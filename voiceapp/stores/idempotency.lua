-- Idempotency records of the Redis session store (voiceapp/stores/redis.py).
-- KEYS[1] is the record: a hash of state (F: the request is in flight, D: done), owner
-- (a random token of the request that took the key), fp (its fingerprint), at (when it
-- was taken), and once done status, ct (content type) and body.  ARGV[1] names the
-- command; each is atomic (the holder's check and the write).
local key, command, owner = KEYS[1], ARGV[1], ARGV[2]

if command == 'begin' then
  -- ARGV: 'begin', owner, fingerprint, created_at, ttl (ms).
  -- The existing record (a flat HGETALL), or false when this request took the key.
  if redis.call('EXISTS', key) == 1 then return redis.call('HGETALL', key) end
  redis.call('HSET', key, 'state', 'F', 'owner', owner, 'fp', ARGV[3], 'at', ARGV[4],
    'status', '0', 'ct', '', 'body', '')
  redis.call('PEXPIRE', key, ARGV[5])
  return false
end

local held = redis.call('HMGET', key, 'state', 'owner')
if held[1] ~= 'F' or held[2] ~= owner then return 0 end

if command == 'finish' then
  -- ARGV: 'finish', owner, status, content type, body, ttl (ms).  1: written.
  redis.call('HSET', key, 'state', 'D', 'status', ARGV[3], 'ct', ARGV[4], 'body', ARGV[5])
  redis.call('PEXPIRE', key, ARGV[6])
  return 1
end

-- ARGV: 'release', owner.  The request failed: forget the key (a retry runs).
redis.call('DEL', key)
return 1
