-- The Redis call store's server side (voiceapp/stores/calls/redis.py): one script,
-- loaded once (EVALSHA).  ARGV[1] names the command, ARGV[2] is the key prefix, the rest
-- are the command's arguments.  Every command is atomic on the server.  Numbers are
-- written by Python (exact float reprs); the script only compares strings, so no float
-- passes through Lua's number formatting.

-- End a call's leg; a terminal a-leg status ends the call.
local function expire_all(p, sid, retention)
  if retention ~= '' then
    local ms = tonumber(retention)
    redis.call('PEXPIRE', p..'call:'..sid, ms)
    redis.call('PEXPIRE', p..'call:'..sid..':history', ms)
    redis.call('PEXPIRE', p..'call:'..sid..':events', ms)
    redis.call('PEXPIRE', p..'call:'..sid..':trace', ms)
    local recordings = p..'call:'..sid..':recordings'
    redis.call('PEXPIRE', recordings, ms)
    for _, rsid in ipairs(redis.call('HKEYS', recordings)) do
      redis.call('PEXPIRE', p..'recording:'..rsid, ms)
    end
  end
end
-- Forget a call's pending changes (it ended, or its dialer took them).
local function drop_changes(p, sid)
  redis.call('DEL', p..'call:'..sid..':changes')
  redis.call('SREM', p..'calls:changes', sid)
end
local function set_leg(p, sid, leg, status, at, duration, terminal, entry)
  local call = p..'call:'..sid
  redis.call('HSET', call, 'leg:'..leg..':status', status, 'updated_at', at)
  if terminal then
    redis.call('HSET', call, 'leg:'..leg..':ended_at', at)
    if duration ~= '' then redis.call('HSET', call, 'leg:'..leg..':duration', duration) end
  end
  redis.call('RPUSH', p..'call:'..sid..':history', entry)
  if leg ~= sid then return end
  redis.call('HSET', call, 'status', status)
  if redis.call('HGET', call, 'waiting') == '1' then
    redis.call('HSET', call, 'waiting', '0')
    redis.call('LREM', p..'calls:queue', 0, sid)
  end
  if terminal then
    redis.call('HSET', call, 'ended_at', at)
    if duration ~= '' then redis.call('HSET', call, 'duration', duration) end
    redis.call('HDEL', call, 'lease_owner', 'lease_until')
    local lock = p..'calls:to:'..redis.call('HGET', call, 'to')
    if redis.call('GET', lock) == sid then redis.call('DEL', lock) end
    redis.call('ZREM', p..'calls:leases', sid)
    redis.call('SREM', p..'calls:cancels', sid)
    drop_changes(p, sid)
  end
end

-- Pop the queue's head and lease it to the worker when it still waits.  Returns its
-- sid and whether it was leased (false: the queue is empty).
local function pop_lease(p, worker, deadline, now)
  local sid = redis.call('LPOP', p..'calls:queue')
  if not sid then return false, false end
  local call = p..'call:'..sid
  if redis.call('HGET', call, 'waiting') ~= '1' then return sid, false end
  redis.call('HSET', call, 'waiting', '0', 'lease_owner', worker, 'lease_until', deadline,
    'updated_at', now)
  redis.call('HINCRBY', call, 'takes', 1)
  redis.call('ZADD', p..'calls:leases', deadline, sid)
  return sid, true
end

-- The writes of voiceapp.calls.writes, one function each.  op_set_status returns
-- {'ok', previous} or {'missing'} / {'no-leg'} / {'conflict', current}; op_add_leg and
-- op_add_event 1 (new), 0 (known) or -1 (no call); op_attempt 1 or -1 (no event);
-- op_trace the rows kept or -1 (no call); op_renew 1 or 0 (lost).
local function op_set_status(p, sid, leg, status, expect, at, duration, terminal, retention,
                             entry, recovered)
  local call = p..'call:'..sid
  if redis.call('EXISTS', call) == 0 then return {'missing'} end
  local current = redis.call('HGET', call, 'leg:'..leg..':status')
  if not current then return {'no-leg'} end
  if redis.call('HEXISTS', call, 'leg:'..leg..':ended_at') == 1 then
    return {'conflict', current}
  end
  if expect ~= '' then
    local ok = false
    for s in string.gmatch(expect, '%S+') do
      if s == current then ok = true end
    end
    if not ok then return {'conflict', current} end
  end
  local term = terminal == '1'
  set_leg(p, sid, leg, status, at, duration, term, entry)
  if term and leg == sid then
    if recovered == '1' then redis.call('HSET', call, 'recovered', '1') end
    expire_all(p, sid, retention)
  end
  return {'ok', current}
end
local function op_add_leg(p, sid, leg, info, now, entry)
  local call = p..'call:'..sid
  if redis.call('EXISTS', call) == 0 then return -1 end
  if redis.call('HEXISTS', call, 'leg:'..leg..':status') == 1 then return 0 end
  local legs = redis.call('HGET', call, 'legs')
  redis.call('HSET', call, 'leg:'..leg..':info', info, 'leg:'..leg..':status', 'queued',
    'legs', legs..' '..leg)
  redis.call('RPUSH', call..':history', entry)
  local ttl = redis.call('PTTL', call)
  if ttl > 0 then redis.call('PEXPIRE', call..':history', ttl) end
  return 1
end
local function op_add_event(p, sid, eid, data)
  local call = p..'call:'..sid
  if redis.call('EXISTS', call) == 0 then return -1 end
  local events = call..':events'
  if redis.call('HEXISTS', events, eid) == 1 then return 0 end
  local n = redis.call('INCR', p..'calls:eventseq')
  redis.call('HSET', events, eid, data, eid..'|state', 'pending', eid..'|n', n)
  redis.call('ZADD', p..'calls:undelivered', n, sid..' '..eid)
  local ttl = redis.call('PTTL', call)
  if ttl > 0 then redis.call('PEXPIRE', events, ttl) end
  return 1
end
local function op_attempt(p, sid, eid, number, data, state)
  local events = p..'call:'..sid..':events'
  local current = redis.call('HGET', events, eid..'|state')
  if not current then return -1 end
  redis.call('HSETNX', events, eid..'|a'..number, data)
  if current ~= 'delivered' then
    redis.call('HSET', events, eid..'|state', state)
    current = state
  end
  if current ~= 'pending' then redis.call('ZREM', p..'calls:undelivered', sid..' '..eid) end
  return 1
end
local function op_trace(p, sid, limit, err, mark, ...)
  local call = p..'call:'..sid
  if redis.call('EXISTS', call) == 0 then return -1 end
  if err ~= '' then redis.call('HSETNX', call, 'error', err) end
  local key = call..':trace'
  local n, max = tonumber(redis.call('HGET', call, 'trace_n') or '0'), tonumber(limit)
  local given = {...}
  local count = #given
  local room = max - 1 - n
  if room < 0 then room = 0 end
  local rows = {}
  for i = 1, math.min(count, room) do rows[#rows + 1] = given[i] end
  if count > room and n < max then rows[#rows + 1] = mark end
  if #rows > 0 then
    redis.call('RPUSH', key, '['..table.concat(rows, ',')..']')
    redis.call('HSET', call, 'trace_n', n + #rows)
    local ttl = redis.call('PTTL', call)
    if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
  end
  return n + #rows
end
local function op_renew(p, sid, worker, deadline, heartbeat)
  local call = p..'call:'..sid
  if redis.call('HGET', call, 'lease_owner') ~= worker then return 0 end
  if redis.call('HGET', call, 'ended_at') then return 0 end
  redis.call('HSET', call, 'lease_until', deadline, 'heartbeat_at', heartbeat)
  redis.call('ZADD', p..'calls:leases', deadline, sid)
  return 1
end
-- Store (or replace) a recording of the call; it expires with the call.
local function op_recording(p, sid, rsid, data)
  local call = p..'call:'..sid
  if redis.call('EXISTS', call) == 0 then return -1 end
  local key = call..':recordings'
  redis.call('HSET', key, rsid, data)
  redis.call('SET', p..'recording:'..rsid, sid)
  local ttl = redis.call('PTTL', call)
  if ttl > 0 then
    redis.call('PEXPIRE', key, ttl)
    redis.call('PEXPIRE', p..'recording:'..rsid, ttl)
  end
  return 1
end

local writes = {set_status = op_set_status, add_leg = op_add_leg, add_event = op_add_event,
  attempt = op_attempt, renew = op_renew, trace = op_trace, recording = op_recording}

-- The commands.

local function create(p, sid, to, spec, now, leg_info, entry)
  local call = p..'call:'..sid
  if redis.call('EXISTS', call) == 1 then return {'exists'} end
  local lock = p..'calls:to:'..to
  local holder = redis.call('GET', lock)
  if holder then
    local other = p..'call:'..holder
    if redis.call('EXISTS', other) == 1 and not redis.call('HGET', other, 'ended_at') then
      return {'busy', holder}
    end
  end
  redis.call('SET', lock, sid)
  redis.call('HSET', call, 'spec', spec, 'to', to, 'status', 'queued', 'created_at', now,
    'updated_at', now, 'waiting', '1', 'takes', '0',
    'leg:'..sid..':info', leg_info, 'leg:'..sid..':status', 'queued', 'legs', sid)
  redis.call('RPUSH', call..':history', entry)
  redis.call('RPUSH', p..'calls:queue', sid)
  redis.call('ZADD', p..'calls:created', now, sid)
  return {'ok'}
end

local function take(p, worker, deadline, now)
  for i = 1, 1000 do
    local sid, leased = pop_lease(p, worker, deadline, now)
    if not sid then return false end
    if leased then return sid end
  end
  return false
end

-- Up to limit calls taken; {sid, call hash, history, events hash} of each (flat lists).
local function take_many(p, worker, deadline, now, limit)
  limit = tonumber(limit)
  local out = {}
  for i = 1, limit * 2 + 1000 do
    if #out >= limit then break end
    local sid, leased = pop_lease(p, worker, deadline, now)
    if not sid then break end
    if leased then
      local call = p..'call:'..sid
      out[#out + 1] = {sid, redis.call('HGETALL', call),
        redis.call('LRANGE', call..':history', 0, -1), redis.call('HGETALL', call..':events')}
    end
  end
  return out
end

local function reclaim(p, sid, worker, deadline, now)
  local score = redis.call('ZSCORE', p..'calls:leases', sid)
  if not score or tonumber(score) > tonumber(now) then return 0 end
  local call = p..'call:'..sid
  if redis.call('HGET', call, 'ended_at') then return 0 end
  redis.call('HSET', call, 'lease_owner', worker, 'lease_until', deadline, 'updated_at', now)
  redis.call('HINCRBY', call, 'takes', 1)
  redis.call('ZADD', p..'calls:leases', deadline, sid)
  return 1
end

-- Cancel a call in status: a queued one at once, one in cancelable (the statuses a dialer
-- cancels, space separated) by a request to its dialer.
local function cancel_in(p, sid, status, now, entry, retention, cancelable)
  local call = p..'call:'..sid
  if status == 'queued' then
    set_leg(p, sid, sid, 'canceled', now, '0', true, entry)
    expire_all(p, sid, retention)
    return {'canceled'}
  end
  for s in string.gmatch(cancelable, '%S+') do
    if s == status then
      redis.call('HSETNX', call, 'cancel_requested_at', now)
      redis.call('HSET', call, 'updated_at', now)
      redis.call('SADD', p..'calls:cancels', sid)
      return {'requested'}
    end
  end
  return {'refused', status}
end

local function cancel(p, sid, now, entry, retention, cancelable)
  local status = redis.call('HGET', p..'call:'..sid, 'status')
  if not status then return {'missing'} end
  return cancel_in(p, sid, status, now, entry, retention, cancelable)
end

-- A change of a live call (CallStore.request_change).  status: the change's status
-- (completed | canceled), '' for a new document; data: the change's JSON; old_spec and
-- new_spec: the spec read before and the spec running the change, for a call still
-- waiting in the queue ('stale' when the spec changed in between: the caller reads again).
local function change(p, sid, now, status, data, old_spec, new_spec, entry, retention,
                      cancelable)
  local call = p..'call:'..sid
  local f = redis.call('HMGET', call, 'status', 'ended_at', 'waiting', 'spec')
  local current = f[1]
  if not current then return {'missing'} end
  if f[2] then return {'ended', current} end
  if status ~= '' then
    local r = cancel_in(p, sid, current, now, entry, retention, cancelable)
    if r[1] ~= 'refused' then return r end
    if status ~= 'completed' then return {'unchanged'} end
  elseif current == 'queued' and f[3] == '1' then
    if f[4] ~= old_spec then return {'stale'} end
    redis.call('HSET', call, 'spec', new_spec, 'updated_at', now)
    return {'replaced'}
  end
  redis.call('RPUSH', call..':changes', data)
  redis.call('SADD', p..'calls:changes', sid)
  redis.call('HSET', call, 'updated_at', now)
  return {'stored'}
end

-- The pending changes of the unfinished calls leased by worker: {sid, {change, ...}} each,
-- removed as they are read; those of ended or expired calls are dropped.
local function take_changes(p, worker)
  local out = {}
  for _, sid in ipairs(redis.call('SMEMBERS', p..'calls:changes')) do
    local call = p..'call:'..sid
    local f = redis.call('HMGET', call, 'status', 'ended_at', 'lease_owner')
    if not f[1] or f[2] then
      drop_changes(p, sid)
    elseif f[3] == worker then
      out[#out + 1] = {sid, redis.call('LRANGE', call..':changes', 0, -1)}
      drop_changes(p, sid)
    end
  end
  return out
end

-- Delete a finished call whose status callbacks are all settled, with all its keys.
local function delete(p, sid)
  local call = p..'call:'..sid
  local f = redis.call('HMGET', call, 'status', 'ended_at')
  if not f[1] then return {'missing'} end
  if not f[2] then return {'live'} end
  local events = redis.call('HGETALL', call..':events')
  for i = 1, #events, 2 do
    local name = events[i]
    if string.sub(name, -6) == '|state' and events[i + 1] == 'pending' then
      return {'pending'}
    end
  end
  for _, rsid in ipairs(redis.call('HKEYS', call..':recordings')) do
    redis.call('DEL', p..'recording:'..rsid)
  end
  redis.call('DEL', call, call..':history', call..':events', call..':trace', call..':changes',
    call..':recordings')
  redis.call('ZREM', p..'calls:created', sid)
  redis.call('SREM', p..'calls:changes', sid)
  return {'deleted'}
end

-- Writes in order, each one JSON array: its name (a key of writes), then its arguments,
-- the call's sid first.  A write of a call one of whose writes failed earlier is
-- 'skipped'.  One reply per write.
local function apply(p, first)
  local failed = {}
  local out = {}
  for i = first, #ARGV do
    local args = cjson.decode(ARGV[i])
    local name, sid = args[1], args[2]
    local r = 'skipped'
    if not failed[sid] then
      r = writes[name](p, unpack(args, 2))
      if name == 'set_status' then
        if r[1] ~= 'ok' then failed[sid] = true end
      elseif r == -1 then
        failed[sid] = true
      end
    end
    out[#out + 1] = r
  end
  return out
end

-- Forget one recording: the record it was, or false when unknown.
local function delete_recording(p, rsid)
  local index = p..'recording:'..rsid
  local sid = redis.call('GET', index)
  if not sid then return false end
  local key = p..'call:'..sid..':recordings'
  local data = redis.call('HGET', key, rsid)
  redis.call('HDEL', key, rsid)
  redis.call('DEL', index)
  return data
end

local command = ARGV[1]
if command == 'apply' then return apply(ARGV[2], 3) end
local commands = {create = create, take = take, take_many = take_many, reclaim = reclaim,
  cancel = cancel, change = change, take_changes = take_changes, delete = delete,
  delete_recording = delete_recording}
return commands[command](unpack(ARGV, 2))
