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
}
