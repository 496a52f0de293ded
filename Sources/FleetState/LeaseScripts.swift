/// The Lua scripts that make each lease step atomic on Redis. Time is Redis's own (`TIME`), so
/// replicas whose clocks disagree still agree on when a lease expires.
///
/// Money is booked with `HINCRBY` on the decimal strings replicas send, so counters stay exact
/// 64-bit integers. Comparisons run in Lua's doubles: exact below 2^53 nano-units (about nine
/// million currency units per budget period), off by a few nano-units above.
enum LeaseScripts {
    /// KEYS: the budget period's hash, the live-replica set.
    /// ARGV: replica, lease ms, limit, epoch, seed, settled, held, need, want, give back, expire at (ms).
    /// Hash fields: `spent`, `epoch`, and per replica `l:` (its lease), `e:` (the lease's expiry),
    /// `t:` (its cumulative spend booked so far) and `x:` (a lease booked as spent when it
    /// expired, credited once against what the same replica reports at its next step).
    /// Returns: granted, spent, leased (all live leases), live replicas, epoch, lease lost (0/1),
    /// and this replica's lease after the step.
    static let budget = """
        local key, replicas, r = KEYS[1], KEYS[2], ARGV[1]
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
        local leaseMs, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
        local created = false
        if redis.call('EXISTS', key) == 0 then
          if ARGV[5] == '' then return {'missing'} end
          -- Unique across restarts of Redis too: a counter seeded again is a new epoch.
          local epoch = clock[1] .. '.' .. clock[2] .. '.' .. redis.call('INCR', 'switchyard:epoch')
          redis.call('HSET', key, 'spent', ARGV[5], 'epoch', epoch)
          created = true
        end
        if tonumber(ARGV[11]) > now then redis.call('PEXPIREAT', key, ARGV[11]) end
        redis.call('ZADD', replicas, now + leaseMs, r)
        redis.call('ZREMRANGEBYSCORE', replicas, '-inf', now)
        local live = redis.call('ZCARD', replicas)
        -- Leases of replicas that stopped renewing are booked as spent: they may have spent them.
        local fields = redis.call('HGETALL', key)
        for i = 1, #fields, 2 do
          local f = fields[i]
          if string.sub(f, 1, 2) == 'e:' and tonumber(fields[i + 1]) < now then
            local who = string.sub(f, 3)
            local held = redis.call('HGET', key, 'l:' .. who) or '0'
            redis.call('HINCRBY', key, 'spent', held)
            redis.call('HINCRBY', key, 'x:' .. who, held)
            redis.call('HDEL', key, 'l:' .. who, 'e:' .. who)
          end
        end
        local epoch = redis.call('HGET', key, 'epoch')
        local settled, held = tonumber(ARGV[6]), tonumber(ARGV[7])
        -- Spend reported against another epoch (or by the call that seeds) is in the seed.
        local sameEpoch = (not created) and (ARGV[4] == '' or ARGV[4] == epoch)
        local booked = tonumber(redis.call('HGET', key, 't:' .. r) or '0')
        local delta = 0
        if sameEpoch then delta = math.max(0, settled - booked) end
        redis.call('HSET', key, 't:' .. r, ARGV[6])
        local lost = 0
        if redis.call('HEXISTS', key, 'e:' .. r) == 0 then
          local tombstone = redis.call('HGET', key, 'x:' .. r)
          if tombstone then
            -- Our lease expired and was booked as spent: what we spent of it is in that already.
            lost = 1
            local credit = math.min(delta, tonumber(tombstone))
            delta = delta - credit
            redis.call('HDEL', key, 'x:' .. r)
          elseif held > 0 then
            -- The store lost our lease (Redis restarted empty): it counts again.
            redis.call('HSET', key, 'l:' .. r, string.format('%.0f', held + delta))
          end
        end
        if delta > 0 then
          redis.call('HINCRBY', key, 'spent', string.format('%.0f', delta))
          local lease = tonumber(redis.call('HGET', key, 'l:' .. r) or '0')
          redis.call('HSET', key, 'l:' .. r, string.format('%.0f', math.max(0, lease - delta)))
        end
        local giveBack = tonumber(ARGV[10])
        if giveBack > 0 then
          local lease = tonumber(redis.call('HGET', key, 'l:' .. r) or '0')
          redis.call('HSET', key, 'l:' .. r, string.format('%.0f', math.max(0, lease - giveBack)))
        end
        local spent = redis.call('HGET', key, 'spent')
        local leased = 0
        fields = redis.call('HGETALL', key)
        for i = 1, #fields, 2 do
          if string.sub(fields[i], 1, 2) == 'l:' then leased = leased + tonumber(fields[i + 1]) end
        end
        local free = limit - tonumber(spent) - leased
        local need, want = tonumber(ARGV[8]), tonumber(ARGV[9])
        local grant = 0
        if free > 0 and free >= need then
          local fair = math.floor(free / math.max(live, 1))
          grant = math.min(free, math.max(need, math.min(want, fair)))
        end
        if grant > 0 then
          redis.call('HINCRBY', key, 'l:' .. r, string.format('%.0f', grant))
          leased = leased + grant
        end
        redis.call('HSET', key, 'e:' .. r, now + leaseMs)
        local mine = redis.call('HGET', key, 'l:' .. r) or '0'
        return {string.format('%.0f', grant), spent, string.format('%.0f', leased), live, epoch, lost, mine}
        """

    /// KEYS: the scope's hash, the live-replica set.
    /// ARGV: replica, lease ms, rpm (0: none), tpm (0: none), need/want/give back requests, then tokens.
    /// The shared buckets hold a minute's allowance and refill continuously, as the local ones do.
    static let rate = """
        local key, replicas, r = KEYS[1], KEYS[2], ARGV[1]
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
        local leaseMs, rpm, tpm = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
        redis.call('ZADD', replicas, now + leaseMs, r)
        redis.call('ZREMRANGEBYSCORE', replicas, '-inf', now)
        local live = math.max(redis.call('ZCARD', replicas), 1)
        local at = tonumber(redis.call('HGET', key, 'at') or now)
        local elapsed = math.max(0, now - at)
        local requests = tonumber(redis.call('HGET', key, 'r') or rpm)
        local tokens = tonumber(redis.call('HGET', key, 't') or tpm)
        requests = math.min(rpm, requests + elapsed * rpm / 60000 + tonumber(ARGV[7]))
        tokens = math.min(tpm, tokens + elapsed * tpm / 60000 + tonumber(ARGV[10]))
        local needR, wantR = tonumber(ARGV[5]), tonumber(ARGV[6])
        local needT, wantT = tonumber(ARGV[8]), tonumber(ARGV[9])
        local grantR, grantT = 0, 0
        if (rpm == 0 or requests >= needR) and (tpm == 0 or tokens >= needT) then
          if rpm > 0 then
            grantR = math.min(math.floor(requests), math.max(needR, math.min(wantR, math.floor(requests / live))))
            requests = requests - grantR
          end
          if tpm > 0 then
            grantT = math.min(math.floor(tokens), math.max(needT, math.min(wantT, math.floor(tokens / live))))
            tokens = tokens - grantT
          end
        end
        redis.call('HSET', key, 'r', tostring(requests), 't', tostring(tokens), 'at', now)
        redis.call('PEXPIRE', key, 120000)
        return {grantR, grantT, live, tostring(requests), tostring(tokens)}
        """

    /// KEYS: the deployment's holdings, the live-replica set, the queues of interactive and batch
    /// requests, the queue's tags, its members.
    /// ARGV: replica, lease ms, limit, give back, want, need, held, busy, stepped before (0/1),
    /// n waiters to queue, m abandoned; then n × (id, tenant, priority 1/2, weight); then m ids.
    /// Holdings, per replica: `l:` (slots held), `e:` (the lease's expiry), `g:` (its waiters
    /// granted a slot by another replica's step, not yet told), `d:` (until when it asked for a
    /// slot and got none: the others give back idle slots while it does). Tags: `v` (the tag last served),
    /// `seq` (arrivals) and per tenant `t:` (the tag of its last queued request). Members: each
    /// queued `replica|id` to its member in the sorted sets, `seq|replica|id`.
    /// A queued request's tag is max(v, the tenant's last tag) + 1/weight (weighted fair
    /// queuing: an idle tenant earns no credit, a flood queues behind its own tags); equal tags
    /// go in arrival order (the zero-padded `seq`). Interactive requests go before batch ones.
    /// Queuing a waiter already queued changes nothing (a step sent again after a lost answer).
    /// Returns: holding, queued, free, live replicas, lost (0/1), others asking (0/1), then the granted ids.
    static let slots = """
        local key, replicas, tags, members = KEYS[1], KEYS[2], KEYS[5], KEYS[6]
        local queues = {KEYS[3], KEYS[4]}
        local r = ARGV[1]
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
        local leaseMs, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
        local giveBack, want, need = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
        local held, busy = tonumber(ARGV[7]), tonumber(ARGV[8])
        local n, m = tonumber(ARGV[10]), tonumber(ARGV[11])
        redis.call('ZADD', replicas, now + leaseMs, r)
        redis.call('ZREMRANGEBYSCORE', replicas, '-inf', now)
        local live = math.max(redis.call('ZCARD', replicas), 1)
        local function unqueue(waiter)
          local member = redis.call('HGET', members, waiter)
          if member then
            redis.call('ZREM', queues[1], member)
            redis.call('ZREM', queues[2], member)
            redis.call('HDEL', members, waiter)
          end
        end
        -- Replicas that stopped renewing: their slots are free again, their waiters gone.
        local dead = {}
        local fields = redis.call('HGETALL', key)
        for i = 1, #fields, 2 do
          local f = fields[i]
          if string.sub(f, 1, 2) == 'e:' and tonumber(fields[i + 1]) < now then
            local who = string.sub(f, 3)
            dead[who] = true
            redis.call('HDEL', key, 'l:' .. who, 'e:' .. who, 'g:' .. who)
          end
        end
        if next(dead) then
          for _, waiter in ipairs(redis.call('HKEYS', members)) do
            if dead[string.match(waiter, '^(.*)|%d+$')] then unqueue(waiter) end
          end
        end
        local lost = 0
        local mine = tonumber(redis.call('HGET', key, 'l:' .. r) or '0')
        if redis.call('HEXISTS', key, 'e:' .. r) == 0 and ARGV[9] == '1' then lost = 1 end
        local others = 0
        fields = redis.call('HGETALL', key)
        for i = 1, #fields, 2 do
          local f = fields[i]
          if string.sub(f, 1, 2) == 'l:' and string.sub(f, 3) ~= r then others = others + tonumber(fields[i + 1]) end
        end
        -- What the replica uses counts, as far as the limit allows: after its lease was lost,
        -- or after it served on its share while Redis did not answer.
        if lost == 1 then mine = math.max(held - giveBack, 0) else mine = math.max(mine - giveBack, 0) end
        -- Never more than the limit leaves (it may have been lowered), but what is in use counts.
        mine = math.max(math.min(mine, limit - others), math.min(busy, limit - others), 0)
        local base = 11
        for i = 0, m - 1 do unqueue(r .. '|' .. ARGV[base + 4 * n + 1 + i]) end
        local v = tonumber(redis.call('HGET', tags, 'v') or '0')
        for i = 0, n - 1 do
          local waiter, tenant = r .. '|' .. ARGV[base + 4 * i + 1], ARGV[base + 4 * i + 2]
          if redis.call('HEXISTS', members, waiter) == 0 then
            local q, weight = tonumber(ARGV[base + 4 * i + 3]), math.max(1, tonumber(ARGV[base + 4 * i + 4]))
            local tag = math.max(v, tonumber(redis.call('HGET', tags, 't:' .. tenant) or '0')) + 1 / weight
            local member = string.format('%015d', redis.call('HINCRBY', tags, 'seq', 1)) .. '|' .. waiter
            redis.call('HSET', tags, 't:' .. tenant, string.format('%.17g', tag))
            redis.call('ZADD', queues[q], string.format('%.17g', tag), member)
            redis.call('HSET', members, waiter, member)
          end
        end
        local granted = {}
        local told = redis.call('HGET', key, 'g:' .. r)
        if told then
          for id in string.gmatch(told, '[^,]+') do table.insert(granted, id) end
          redis.call('HDEL', key, 'g:' .. r)
        end
        -- Free slots go to the globally next waiters, wherever they wait.
        local free = limit - others - mine
        for _, q in ipairs(queues) do
          while free > 0 do
            local head = redis.call('ZPOPMIN', q)
            if #head == 0 then break end
            local who, id = string.match(head[1], '^%d+|(.*)|(%d+)$')
            redis.call('HDEL', members, who .. '|' .. id)
            v = math.max(v, tonumber(head[2]))
            free = free - 1
            if who == r then
              mine = mine + 1
              table.insert(granted, id)
            else
              redis.call('HINCRBY', key, 'l:' .. who, 1)
              local before = redis.call('HGET', key, 'g:' .. who)
              redis.call('HSET', key, 'g:' .. who, (before or '') .. id .. ',')
              others = others + 1
            end
          end
        end
        redis.call('HSET', tags, 'v', string.format('%.17g', v))
        local queued = redis.call('ZCARD', queues[1]) + redis.call('ZCARD', queues[2])
        local extra = 0
        if queued == 0 and free > 0 then
          -- A fair part of the free slots, and at least the one a replica asks for.
          extra = math.min(free, math.max(need, math.min(want, math.max(1, math.floor(free / live)))))
          mine = mine + extra
          free = free - extra
        end
        if need > 0 and extra == 0 then
          redis.call('HSET', key, 'd:' .. r, now + 1000)
        else
          redis.call('HDEL', key, 'd:' .. r)
        end
        local asking = 0
        fields = redis.call('HGETALL', key)
        for i = 1, #fields, 2 do
          local f = fields[i]
          if string.sub(f, 1, 2) == 'd:' then
            if tonumber(fields[i + 1]) < now then
              redis.call('HDEL', key, f)
            elseif string.sub(f, 3) ~= r then
              asking = 1
            end
          end
        end
        redis.call('HSET', key, 'l:' .. r, mine, 'e:' .. r, now + leaseMs)
        for _, k in ipairs({key, tags, members, queues[1], queues[2]}) do redis.call('PEXPIRE', k, 3600000) end
        local reply = {mine, queued, free, live, lost, asking}
        for _, id in ipairs(granted) do table.insert(reply, id) end
        return reply
        """

    /// KEYS: the scope's hash. ARGV: replica, n, then n × (minute, nanos): the replica's spend
    /// in each minute, as totals. Fields `minute:replica`; those older than an hour are dropped.
    /// Returns minute, fleet total, minute, fleet total, … for the last hour.
    static let runaway = """
        local key, r = KEYS[1], ARGV[1]
        local clock = redis.call('TIME')
        local current = math.floor(tonumber(clock[1]) / 60)
        for i = 0, tonumber(ARGV[2]) - 1 do
          redis.call('HSET', key, ARGV[3 + 2 * i] .. ':' .. r, ARGV[4 + 2 * i])
        end
        local totals = {}
        local fields = redis.call('HGETALL', key)
        for i = 1, #fields, 2 do
          local minute = tonumber(string.match(fields[i], '^(%d+):'))
          if minute < current - 60 then
            redis.call('HDEL', key, fields[i])
          else
            totals[minute] = (totals[minute] or 0) + tonumber(fields[i + 1])
          end
        end
        redis.call('PEXPIRE', key, 7200000)
        local reply = {}
        for minute, nanos in pairs(totals) do
          table.insert(reply, string.format('%.0f', minute))
          table.insert(reply, string.format('%.0f', nanos))
        end
        return reply
        """
}
