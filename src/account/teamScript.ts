/**
 * The team's budget in Redis: one Lua script, so that every step is atomic on the server and every
 * time is Redis's own (`TIME`), never a member's clock. Ops: admit, join, leave, settle, confirm,
 * refund, release, beat, declare, state. Every reply is JSON. See docs/team-budget.md.
 *
 * Keys (all under one hash tag, so a cluster keeps them in one slot):
 *  1 min    sorted set  spend id -> admitted at (the minute's spends)
 *  2 day    sorted set  spend id -> admitted at (the day's spends)
 *  3 tok    hash        spend id -> tokens charged
 *  4 hol    hash        spend id -> member
 *  5 sum    hash        mreq, mtok, dreq, dtok: running totals of min and day
 *  6 run    sorted set  spend id -> lease expiry (concurrency)
 *  7 runh   hash        spend id -> member
 *  8 q      sorted set  ticket -> place (Redis time of its first join): the team's line
 *  9 qt     hash        ticket -> tokens
 * 10 qh     hash        ticket -> member
 * 11 first  sorted set  ticket -> place, kept after admission so a retry keeps its place
 * 12 mem    sorted set  member -> last heard
 * 13 lim    hash        member -> "rpm,tpm,concurrency,tpd" (the smallest of the live ones apply)
 * 14 epoch  string      set once per data set: a member that sees it change re-declares what it holds
 * 15 done   sorted set  spend id -> admitted at (stored results, for retried calls)
 * 16 donev  hash        spend id -> the admission's reply
 *
 * ARGV: op, wake channel, window ms (with margin), day ms (with margin), stale ms, lease ms, then the op's.
 */
export const TEAM_SCRIPT = String.raw`
local K = { min = KEYS[1], day = KEYS[2], tok = KEYS[3], hol = KEYS[4], sum = KEYS[5], run = KEYS[6],
  runh = KEYS[7], q = KEYS[8], qt = KEYS[9], qh = KEYS[10], first = KEYS[11], mem = KEYS[12],
  lim = KEYS[13], epoch = KEYS[14], done = KEYS[15], donev = KEYS[16] }
local op, chan = ARGV[1], ARGV[2]
local winMs, dayMs, staleMs, leaseMs = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local DONE_MS = 600000
local PLACE_MS = 3600000

local function num(v) return tonumber(v) or 0 end

local function drop(key, cutoff, req, tok, forget)
  local old = redis.call('ZRANGEBYSCORE', key, '-inf', '(' .. cutoff)
  if #old == 0 then return end
  local tokens = 0
  for _, id in ipairs(old) do
    tokens = tokens + num(redis.call('HGET', K.tok, id))
    if forget then redis.call('HDEL', K.tok, id); redis.call('HDEL', K.hol, id) end
  end
  redis.call('HINCRBY', K.sum, req, -#old)
  redis.call('HINCRBY', K.sum, tok, -tokens)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. cutoff)
end

local function leaveLine(ticket)
  redis.call('ZREM', K.q, ticket); redis.call('HDEL', K.qt, ticket); redis.call('HDEL', K.qh, ticket)
end

-- Spends out of their windows, members not heard from (their tickets leave the line), dead leases.
local function expire()
  drop(K.min, now - winMs, 'mreq', 'mtok', false)
  drop(K.day, now - dayMs, 'dreq', 'dtok', true)
  local dead = redis.call('ZRANGEBYSCORE', K.mem, '-inf', '(' .. (now - staleMs))
  if #dead > 0 then
    local gone = {}
    for _, h in ipairs(dead) do gone[h] = true; redis.call('HDEL', K.lim, h) end
    redis.call('ZREMRANGEBYSCORE', K.mem, '-inf', '(' .. (now - staleMs))
    for _, ticket in ipairs(redis.call('ZRANGE', K.q, 0, -1)) do
      if gone[redis.call('HGET', K.qh, ticket) or ''] then leaveLine(ticket) end
    end
  end
  local lapsed = redis.call('ZRANGEBYSCORE', K.run, '-inf', now)
  if #lapsed > 0 then
    for _, id in ipairs(lapsed) do redis.call('HDEL', K.runh, id) end
    redis.call('ZREMRANGEBYSCORE', K.run, '-inf', now)
  end
  local stored = redis.call('ZRANGEBYSCORE', K.done, '-inf', '(' .. (now - DONE_MS))
  if #stored > 0 then
    for _, id in ipairs(stored) do redis.call('HDEL', K.donev, id) end
    redis.call('ZREMRANGEBYSCORE', K.done, '-inf', '(' .. (now - DONE_MS))
  end
  redis.call('ZREMRANGEBYSCORE', K.first, '-inf', '(' .. (now - PLACE_MS))
end

local function touch(holder, limits)
  redis.call('ZADD', K.mem, now, holder)
  if limits and limits ~= '' then redis.call('HSET', K.lim, holder, limits) end
end

-- The smallest of every live member's limits; 0 (no limit) for concurrency and the day is the largest.
local function limits()
  local L = { rpm = math.huge, tpm = math.huge, conc = math.huge, tpd = math.huge }
  local all = redis.call('HGETALL', K.lim)
  for i = 1, #all, 2 do
    local rpm, tpm, conc, tpd = string.match(all[i + 1], '^(%d+),(%d+),(%d+),(%d+)$')
    if rpm then
      rpm, tpm, conc, tpd = tonumber(rpm), tonumber(tpm), tonumber(conc), tonumber(tpd)
      if rpm < L.rpm then L.rpm = rpm end
      if tpm < L.tpm then L.tpm = tpm end
      if conc > 0 and conc < L.conc then L.conc = conc end
      if tpd > 0 and tpd < L.tpd then L.tpd = tpd end
    end
  end
  return L
end

-- When enough of the oldest spends of a window have left it to free 'need' (requests or tokens).
local function freedAt(key, need, byTokens, span)
  local freed, start = 0, 0
  while true do
    local chunk = redis.call('ZRANGE', key, start, start + 199, 'WITHSCORES')
    if #chunk == 0 then return nil end
    for i = 1, #chunk, 2 do
      freed = freed + (byTokens and num(redis.call('HGET', K.tok, chunk[i])) or 1)
      if freed >= need then return tonumber(chunk[i + 1]) + span end
    end
    start = start + 200
  end
end

local function wake(what) redis.call('PUBLISH', chan, what) end

local function addSpend(id, at, tokens, holder, running)
  if redis.call('HEXISTS', K.tok, id) == 1 then return false end
  if at > now - dayMs then
    redis.call('ZADD', K.day, at, id)
    redis.call('HINCRBY', K.sum, 'dreq', 1); redis.call('HINCRBY', K.sum, 'dtok', tokens)
    redis.call('HSET', K.tok, id, tokens); redis.call('HSET', K.hol, id, holder)
  end
  if at > now - winMs then
    redis.call('ZADD', K.min, at, id)
    redis.call('HINCRBY', K.sum, 'mreq', 1); redis.call('HINCRBY', K.sum, 'mtok', tokens)
  end
  if running then redis.call('ZADD', K.run, now + leaseMs, id); redis.call('HSET', K.runh, id, holder) end
  return true
end

local function join(ticket, holder, tokens)
  local place = tonumber(redis.call('ZSCORE', K.first, ticket)) or now
  redis.call('ZADD', K.first, place, ticket)
  redis.call('ZADD', K.q, place, ticket)
  redis.call('HSET', K.qt, ticket, tokens); redis.call('HSET', K.qh, ticket, holder)
  return place
end

if op == 'admit' then
  local ticket, holder, id, tokens, mine = ARGV[7], ARGV[8], ARGV[9], tonumber(ARGV[10]), ARGV[11]
  local stored = redis.call('HGET', K.donev, id)
  if stored then return stored end
  expire()
  local head = redis.call('ZRANGE', K.q, 0, 0)[1]
  if redis.call('ZSCORE', K.q, ticket) == false then
    return cjson.encode({ ok = false, limit = 'gone', now = now })
  end
  if head ~= ticket then return cjson.encode({ ok = false, limit = 'line', now = now }) end
  local L = limits()
  local mreq, mtok, dtok = num(redis.call('HGET', K.sum, 'mreq')), num(redis.call('HGET', K.sum, 'mtok')), num(redis.call('HGET', K.sum, 'dtok'))
  local limit, at = nil, now
  local function hold(name, when)
    if when == nil then when = math.huge end
    if limit == nil or when > at then limit, at = name, when end
  end
  if mreq + 1 > L.rpm then hold('requestsPerMinute', freedAt(K.min, mreq + 1 - L.rpm, false, winMs)) end
  if mtok + tokens > L.tpm then hold('tokensPerMinute', freedAt(K.min, mtok + tokens - L.tpm, true, winMs)) end
  if L.conc ~= math.huge and redis.call('ZCARD', K.run) >= L.conc then
    local soonest = redis.call('ZRANGE', K.run, 0, 0, 'WITHSCORES')[2]
    hold('concurrency', tonumber(soonest))
  end
  if L.tpd ~= math.huge and dtok + tokens > L.tpd then hold('tokensPerDay', freedAt(K.day, dtok + tokens - L.tpd, true, dayMs)) end
  if limit then
    local waitMs = at == math.huge and -1 or (at - now)
    return cjson.encode({ ok = false, limit = limit, waitMs = waitMs, now = now })
  end
  touch(holder, mine)
  addSpend(id, now, tokens, holder, true)
  leaveLine(ticket)
  local reply = cjson.encode({ ok = true, at = now, now = now })
  redis.call('HSET', K.donev, id, reply)
  redis.call('ZADD', K.done, now, id)
  wake('admit')
  return reply
end

if op == 'join' then
  expire()
  local ticket, holder, tokens, mine = ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10]
  touch(holder, mine)
  local place = join(ticket, holder, tokens)
  wake('join')
  return cjson.encode({ place = place, now = now })
end

if op == 'leave' then
  local ticket = ARGV[7]
  leaveLine(ticket)
  redis.call('ZREM', K.first, ticket)
  wake('leave')
  return cjson.encode({ now = now })
end

if op == 'settle' then
  local id, tokens = ARGV[7], tonumber(ARGV[8])
  local old = redis.call('HGET', K.tok, id)
  if not old then return cjson.encode({ known = false, now = now }) end
  local delta = tokens - tonumber(old)
  if redis.call('ZSCORE', K.min, id) then redis.call('HINCRBY', K.sum, 'mtok', delta) end
  redis.call('HINCRBY', K.sum, 'dtok', delta)
  redis.call('HSET', K.tok, id, tokens)
  if delta < 0 then wake('settle') end
  return cjson.encode({ known = true, now = now })
end

if op == 'confirm' then
  local id = ARGV[7]
  if redis.call('ZSCORE', K.min, id) then redis.call('ZADD', K.min, 'XX', now, id) end
  if redis.call('ZSCORE', K.day, id) then redis.call('ZADD', K.day, 'XX', now, id) end
  return cjson.encode({ now = now })
end

if op == 'refund' or op == 'release' then
  local id = ARGV[7]
  if op == 'refund' and redis.call('HEXISTS', K.tok, id) == 1 then
    local tokens = num(redis.call('HGET', K.tok, id))
    if redis.call('ZREM', K.min, id) == 1 then
      redis.call('HINCRBY', K.sum, 'mreq', -1); redis.call('HINCRBY', K.sum, 'mtok', -tokens)
    end
    if redis.call('ZREM', K.day, id) == 1 then
      redis.call('HINCRBY', K.sum, 'dreq', -1); redis.call('HINCRBY', K.sum, 'dtok', -tokens)
    end
    redis.call('HDEL', K.tok, id); redis.call('HDEL', K.hol, id)
  end
  redis.call('ZREM', K.run, id); redis.call('HDEL', K.runh, id)
  wake(op)
  return cjson.encode({ now = now })
end

if op == 'beat' then
  expire()
  local holder, mine, epoch = ARGV[7], ARGV[8], ARGV[9]
  touch(holder, mine)
  redis.call('SET', K.epoch, epoch, 'NX')
  local lost = {}
  for i = 10, #ARGV do
    if redis.call('HGET', K.runh, ARGV[i]) == holder then
      redis.call('ZADD', K.run, 'XX', now + leaseMs, ARGV[i])
    else
      lost[#lost + 1] = ARGV[i]
    end
  end
  return cjson.encode({ epoch = redis.call('GET', K.epoch), now = now, lost = lost })
end

-- What a member holds, declared again: after Redis lost its data, after the member was offline, or
-- after it was counted as gone. Spends come with their age (so no member's clock is read); spends
-- already known are left as they are.
if op == 'declare' then
  expire()
  local holder, mine, epoch = ARGV[7], ARGV[8], ARGV[9]
  local what = cjson.decode(ARGV[10])
  touch(holder, mine)
  redis.call('SET', K.epoch, epoch, 'NX')
  for _, s in ipairs(what.spends) do
    local at = now - math.max(0, tonumber(s.age))
    if s.running then at = now end
    if not addSpend(s.id, at, tonumber(s.tokens), holder, s.running) and s.running then
      if redis.call('HEXISTS', K.runh, s.id) == 0 then
        redis.call('ZADD', K.run, now + leaseMs, s.id); redis.call('HSET', K.runh, s.id, holder)
      end
    end
  end
  for _, ticket in ipairs(what.tickets) do join(ticket.id, holder, tonumber(ticket.tokens)) end
  wake('declare')
  return cjson.encode({ epoch = redis.call('GET', K.epoch), now = now })
end

if op == 'state' then
  expire()
  local spends = {}
  local minute = redis.call('ZRANGE', K.min, 0, -1, 'WITHSCORES')
  for i = 1, #minute, 2 do
    local id = minute[i]
    spends[#spends + 1] = { id, tonumber(minute[i + 1]), num(redis.call('HGET', K.tok, id)), redis.call('HGET', K.hol, id) or '' }
  end
  local running = {}
  for _, id in ipairs(redis.call('ZRANGE', K.run, 0, -1)) do
    local at = tonumber(redis.call('ZSCORE', K.day, id)) or now
    running[#running + 1] = { id, at, num(redis.call('HGET', K.tok, id)), redis.call('HGET', K.runh, id) or '' }
  end
  local line = {}
  local q = redis.call('ZRANGE', K.q, 0, -1, 'WITHSCORES')
  for i = 1, #q, 2 do
    line[#line + 1] = { q[i], redis.call('HGET', K.qh, q[i]) or '', num(redis.call('HGET', K.qt, q[i])), tonumber(q[i + 1]) }
  end
  local oldest = redis.call('ZRANGE', K.day, 0, 0, 'WITHSCORES')[2]
  local members = redis.call('ZRANGE', K.mem, 0, -1)
  local lim = redis.call('HGETALL', K.lim)
  return cjson.encode({
    now = now, spends = spends, running = running, line = line, members = members, lim = lim,
    day = { num(redis.call('HGET', K.sum, 'dreq')), num(redis.call('HGET', K.sum, 'dtok')), tonumber(oldest) or now },
    epoch = redis.call('GET', K.epoch) or ''
  })
end

return redis.error_reply('unknown op ' .. tostring(op))
`;

export const TEAM_KEYS = [
  'min',
  'day',
  'tok',
  'hol',
  'sum',
  'run',
  'runh',
  'q',
  'qt',
  'qh',
  'first',
  'mem',
  'lim',
  'epoch',
  'done',
  'donev',
] as const;

/** The keys of one budget, all in one cluster slot. */
export function teamKeys(budget: string): string[] {
  return TEAM_KEYS.map((k) => `kimi-budget:{${budget}}:${k}`);
}

export function wakeChannel(budget: string): string {
  return `kimi-budget:{${budget}}:wake`;
}
