import SwitchyardCore

/// The lease steps of shared `concurrent_requests` limits: each limited scope is a pool of slots
/// on the fleet's store (no queue: a request that finds none is refused, as with one replica).
extension RateLimiter {
    static func pool(_ scope: GovernanceScope) -> String { "scope:\(scope.description)" }

    /// The steps due in the background: renew, top up a spare slot, give back what sits idle.
    func dueSlotSteps(replica: String, leaseMilliseconds: Int64, now: ContinuousClock.Instant) -> [SlotLeaseCall] {
        buckets.withLock { buckets in
            buckets.indices.compactMap { index in
                guard var account = buckets[index].slots,
                    account.isDue(inFlight: buckets[index].inFlight, localWaiting: false, now: now)
                else { return nil }
                defer { buckets[index].slots = account }
                return account.beginStep(
                    replica: replica, pool: Self.pool(buckets[index].limit.scope), leaseMilliseconds: leaseMilliseconds,
                    inFlight: buckets[index].inFlight, localWaiting: false, need: 0, now: now)
            }
        }
    }

    /// The step that may bring a request short of a slot one: nil when it no longer needs it.
    func slotStep(for need: RateLeaseNeed, replica: String, leaseMilliseconds: Int64, now: ContinuousClock.Instant)
        -> SlotLeaseCall?
    {
        guard let slot = slots[need.scope] else { return nil }
        return buckets.withLock { buckets in
            guard var account = buckets[slot].slots, account.mayLease(at: now), buckets[slot].inFlight >= account.cap else {
                return nil
            }
            defer { buckets[slot].slots = account }
            return account.beginStep(
                replica: replica, pool: Self.pool(need.scope), leaseMilliseconds: leaseMilliseconds,
                inFlight: buckets[slot].inFlight, localWaiting: false, need: 1, now: now)
        }
    }

    /// Every slot held, given back (at shutdown, once drained).
    func finalSlotSteps(replica: String) -> [SlotLeaseCall] {
        buckets.withLock { buckets in
            buckets.compactMap { bucket in
                guard let account = bucket.slots, account.mode == .leased else { return nil }
                return SlotLeaseCall(
                    replica: replica, pool: Self.pool(bucket.limit.scope), limit: account.limit, leaseMilliseconds: 1,
                    giveBack: max(0, account.holding - bucket.inFlight), held: account.holding, busy: bucket.inFlight)
            }
        }
    }

    private func index(of call: SlotLeaseCall, in buckets: [Bucket]) -> Int? {
        buckets.firstIndex { $0.slots?.limit == call.limit && Self.pool($0.limit.scope) == call.pool }
    }

    func finishSlotStep(_ call: SlotLeaseCall, _ grant: SlotLeaseGrant) {
        buckets.withLock { buckets in
            guard let index = index(of: call, in: buckets) else { return }
            _ = buckets[index].slots?.finishStep(call, grant, localWaiters: [], now: .now)
        }
    }

    /// The store did not answer: the limit allows this replica's share of its slots.
    func failSlotStep(_ call: SlotLeaseCall) {
        buckets.withLock { buckets in
            guard let index = index(of: call, in: buckets) else { return }
            buckets[index].slots?.failStep(call)
        }
    }

    /// Shared concurrency limits on this replica's share because the shared store is out of reach.
    public var concurrencyLimitsInFallback: Int {
        buckets.withLock { buckets in buckets.count { $0.slots.map { $0.mode != .leased } ?? false } }
    }
}
