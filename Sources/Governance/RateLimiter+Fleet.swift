import SwitchyardCore

/// The lease steps of shared rate limits: what to ask the fleet's store for, and what its answers do.
extension RateLimiter {
    /// The steps due in the background: renew every second (the store counts live replicas by
    /// it), top a lease up before it runs out, give back what sits idle, and probe the store
    /// every 250 ms while it is out of reach.
    func dueSteps(replica: String, leaseMilliseconds: Int64, now: ContinuousClock.Instant) -> [RateLeaseCall] {
        buckets.withLock { buckets in
            var calls: [RateLeaseCall] = []
            for index in buckets.indices {
                guard var share = buckets[index].share else { continue }
                share.sample(now: now)
                buckets[index].share = share
                guard share.contacted || share.fallback else { continue }
                let bucket = buckets[index]
                let since = share.lastStep.map { (now - $0).secondsValue } ?? .infinity
                if share.fallback {
                    guard since >= 0.25 else { continue }
                    calls.append(call(bucket, replica: replica, leaseMilliseconds: leaseMilliseconds))
                    continue
                }
                let idle = share.lastActivity.map { (now - $0).secondsValue > 2 } ?? true
                var call = call(bucket, replica: replica, leaseMilliseconds: leaseMilliseconds)
                if let rpm = bucket.limit.requestsPerMinute {
                    let slice = share.requestSlice(limit: rpm)
                    if bucket.requests < slice / 2 { call.wantRequests = Int64(slice - bucket.requests) }
                    if idle && bucket.requests > slice { call.giveBackRequests = Int64(bucket.requests - slice) }
                }
                if let tpm = bucket.limit.tokensPerMinute {
                    let slice = share.tokenSlice(limit: tpm)
                    if bucket.tokens < slice / 2 { call.wantTokens = Int64(slice - bucket.tokens) }
                    if idle && bucket.tokens > slice { call.giveBackTokens = Int64(bucket.tokens - slice) }
                }
                let changes =
                    call.wantRequests + call.wantTokens + call.giveBackRequests + call.giveBackTokens > 0
                guard changes || since >= 1 else { continue }
                calls.append(call)
            }
            return calls
        }
    }

    /// The step that would let a request short of lease in: nil when it no longer needs one.
    func step(for need: RateLeaseNeed, replica: String, leaseMilliseconds: Int64) -> RateLeaseCall? {
        guard let slot = slots[need.scope] else { return nil }
        return buckets.withLock { buckets in
            let bucket = buckets[slot]
            guard let share = bucket.share, !share.fallback else { return nil }
            let requests = max(0, need.requests - bucket.requests).rounded(.up)
            let tokens = max(0, need.tokens - bucket.tokens).rounded(.up)
            guard requests > 0 || tokens > 0 else { return nil }
            var call = call(bucket, replica: replica, leaseMilliseconds: leaseMilliseconds)
            call.needRequests = Int64(requests)
            call.needTokens = Int64(tokens)
            call.wantRequests = Int64(requests + (bucket.limit.requestsPerMinute.map { share.requestSlice(limit: $0) } ?? 0))
            call.wantTokens = Int64(tokens + (bucket.limit.tokensPerMinute.map { share.tokenSlice(limit: $0) } ?? 0))
            return call
        }
    }

    /// One step per contacted limit, giving back all that is leased (at shutdown).
    func finalSteps(replica: String, leaseMilliseconds: Int64) -> [RateLeaseCall] {
        buckets.withLock { buckets in
            buckets.compactMap { bucket in
                guard let share = bucket.share, share.contacted, !share.fallback else { return nil }
                var call = call(bucket, replica: replica, leaseMilliseconds: leaseMilliseconds)
                call.giveBackRequests = Int64(max(0, bucket.requests))
                call.giveBackTokens = Int64(max(0, bucket.tokens))
                return call
            }
        }
    }

    private func call(_ bucket: Bucket, replica: String, leaseMilliseconds: Int64) -> RateLeaseCall {
        RateLeaseCall(
            replica: replica, scope: bucket.limit.scope.description, requestsPerMinute: bucket.limit.requestsPerMinute,
            tokensPerMinute: bucket.limit.tokensPerMinute, needRequests: 0, needTokens: 0, wantRequests: 0,
            wantTokens: 0, giveBackRequests: 0, giveBackTokens: 0, leaseMilliseconds: leaseMilliseconds)
    }

    private func slot(of call: RateLeaseCall, in buckets: [Bucket]) -> Int? {
        buckets.firstIndex {
            $0.share != nil && $0.limit.scope.description == call.scope
                && $0.limit.requestsPerMinute == call.requestsPerMinute && $0.limit.tokensPerMinute == call.tokensPerMinute
        }
    }

    /// Takes the store's answer to `call`.
    func apply(_ call: RateLeaseCall, _ grant: RateLeaseGrant, now: ContinuousClock.Instant) {
        buckets.withLock { buckets in
            guard let index = slot(of: call, in: buckets), var share = buckets[index].share else { return }
            if share.fallback {
                // What the local share refilled stands for the store while it was away: dropped.
                buckets[index].requests = min(buckets[index].requests, 0)
                buckets[index].tokens = min(buckets[index].tokens, 0)
            }
            buckets[index].requests += Double(grant.requests - call.giveBackRequests)
            buckets[index].tokens += Double(grant.tokens - call.giveBackTokens)
            share.fleetRequests = grant.requestsLeft
            share.fleetTokens = grant.tokensLeft
            share.liveReplicas = max(1, grant.liveReplicas)
            share.contacted = true
            share.fallback = false
            share.lastStep = now
            let starved = (call.needRequests > 0 && grant.requests == 0) || (call.needTokens > 0 && grant.tokens == 0)
            share.dryUntil = starved ? now + .milliseconds(250) : nil
            buckets[index].share = share
        }
    }

    /// The store did not answer `call`: the limit refills locally at this replica's share of the rate.
    func fallBack(_ call: RateLeaseCall, now: ContinuousClock.Instant) {
        buckets.withLock { buckets in
            guard let index = slot(of: call, in: buckets), var share = buckets[index].share else { return }
            if !share.fallback { buckets[index].refilledAt = now }
            share.fallback = true
            share.lastStep = now
            buckets[index].share = share
        }
    }

    /// Shared limits refilling locally because the shared store is out of reach.
    public var limitsInFallback: Int {
        buckets.withLock { buckets in buckets.count { $0.share?.fallback == true } }
    }
}
