import SwitchyardCore

/// The monitor's side of fleet-wide slots: `FleetSlots` plans each step here, under the
/// deployment's lock, and hands the store's answer back.
extension DeploymentMonitor {
    /// One lease step for a request that found every slot here in use, if the fleet may have
    /// one (none is queued before it, and it had free slots or asking is not on hold); says
    /// whether it stepped. Called only at capacity: the steady state never waits here.
    public func leaseSlot(_ name: String) async -> Bool {
        guard let fleet,
            entries[name]?.state.withLock({ $0.fleet?.mayLease(at: .now) == true && $0.waiting.isEmpty }) == true
        else { return false }
        await fleet.lease(name, for: self)
        return true
    }

    /// The pool of a deployment's slots in the store (apart from scopes' `concurrent_requests`).
    static func pool(_ deployment: String) -> String { "deployment:\(deployment)" }
    static func deployment(inPool pool: String) -> String { String(pool.dropFirst("deployment:".count)) }

    /// The step to take for `name` now, if one is due (or `need`ed by a request short of a slot).
    func beginSlotStep(
        _ name: String, replica: String, leaseMilliseconds: Int64, need: Int, now: ContinuousClock.Instant = .now
    ) -> SlotLeaseCall? {
        entries[name]?.state.withLock { state in
            guard var account = state.fleet else { return nil }
            defer { state.fleet = account }
            let localWaiting = !state.waiting.isEmpty
            if need == 0, !account.isDue(inFlight: state.inFlight, localWaiting: localWaiting, now: now) { return nil }
            if need > 0, !account.mayLease(at: now) { return nil }
            return account.beginStep(
                replica: replica, pool: Self.pool(name), leaseMilliseconds: leaseMilliseconds, inFlight: state.inFlight,
                localWaiting: localWaiting, need: need, now: now)
        }
    }

    /// Takes the store's answer and gives the slots it granted to the waiters they were for.
    func finishSlotStep(_ call: SlotLeaseCall, _ grant: SlotLeaseGrant, now: ContinuousClock.Instant = .now) {
        guard let entry = entries[Self.deployment(inPool: call.pool)] else { return }
        var handoffs: [(Waiter, Result<Lease, Unavailability>)] = []
        defer { for (waiter, result) in handoffs { waiter.resume(returning: result) } }
        entry.state.withLock { state in
            guard var account = state.fleet else { return }
            let local = state.waiting.entries.map {
                SlotWaiter(id: $0.id, tenant: $0.tenant, priority: $0.priority, weight: $0.weight)
            }
            let granted = account.finishStep(call, grant, localWaiters: local, now: now)
            state.fleet = account
            // A slot granted to a waiter that left meanwhile stays idle here, and goes back at the next step.
            for id in granted {
                guard let waiter = state.waiting.remove(id: id) else { continue }
                handoffs.append((waiter.waiter, Self.grant(&state, entry.deployment.name, now)))
            }
        }
    }

    /// The store did not answer: the deployment falls back to this replica's share, and local
    /// waiters that fit in it are served in local fair order.
    func failSlotStep(_ call: SlotLeaseCall, now: ContinuousClock.Instant = .now) {
        guard let entry = entries[Self.deployment(inPool: call.pool)] else { return }
        var handoffs: [(Waiter, Result<Lease, Unavailability>)] = []
        defer { for (waiter, result) in handoffs { waiter.resume(returning: result) } }
        entry.state.withLock { state in
            state.fleet?.failStep(call)
            while let cap = state.cap(entry.deployment), state.inFlight < cap, let next = state.waiting.next() {
                state.fleet?.waiterLeft(id: next.id)
                handoffs.append((next.waiter, Self.grant(&state, entry.deployment.name, now)))
            }
        }
    }

    /// Slots this replica holds of the fleet's, and how it holds them (for metrics and tests).
    public func fleetSlots(_ name: String) -> (holding: Int, inFlight: Int, fallback: Bool)? {
        entries[name]?.state.withLock { state in
            state.fleet.map { ($0.cap, state.inFlight, $0.mode != .leased) }
        }
    }
}
