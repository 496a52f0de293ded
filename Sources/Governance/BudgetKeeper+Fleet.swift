import SwitchyardCore

/// The lease steps of shared budgets: what to ask the fleet's store for, and what its answers do.
extension BudgetKeeper {
    /// The steps due in the background: report spend (every 200 ms at most), renew a lease
    /// every second (well before it expires, and so the replica counts of every replica stay
    /// fresh for an outage's shares), top a lease up before it runs out, give back what sits
    /// idle, and probe the store every 250 ms while it is out of reach (when it returns empty,
    /// what a replica spent between the first reconnection and its own is not counted).
    func dueSteps(replica: String, leaseMilliseconds: Int64, now: UnixMicros) -> [BudgetLeaseCall] {
        accounts.withLock { accounts in
            var calls: [BudgetLeaseCall] = []
            for index in accounts.indices {
                accounts[index].roll(to: now)
                guard var share = accounts[index].share, let period = accounts[index].period else { continue }
                let since = now.value - share.lastStep.value
                share.sample(now: now)
                accounts[index].share = share
                // A budget nobody used here yet needs no lease: its first request asks for one.
                guard share.contacted || share.fallback else { continue }
                let free = share.free(reserved: accounts[index].reserved)
                let slice = share.slice
                let idle = now.value - share.lastActivity.value > 2_000_000
                let giveBack = idle && free > slice.multipliedClamped(by: 3) ? free.subtractingClamped(slice) : 0
                // An empty answer a moment ago: ask again at the next renewal, not every tick.
                let want = free < slice / 2 && !share.isDry(at: now) ? slice.subtractingClamped(free) : 0
                let due: Bool
                if share.fallback {
                    due = since >= 250_000
                } else {
                    due =
                        (share.unreported != 0 && since >= 200_000) || since >= min(1_000_000, leaseMilliseconds * 1000 / 3)
                        || want > 0 || giveBack > 0
                }
                guard due else { continue }
                calls.append(
                    call(
                        accounts[index], share: share, period: period, replica: replica,
                        leaseMilliseconds: leaseMilliseconds, need: 0, want: want, giveBack: giveBack))
            }
            return calls
        }
    }

    /// The step that would let a request short of lease in: nil when it no longer needs one
    /// (another request's step brought enough meanwhile).
    func step(for need: BudgetLeaseNeed, replica: String, leaseMilliseconds: Int64) -> BudgetLeaseCall? {
        guard let index = byName[need.budget] else { return nil }
        return accounts.withLock { accounts in
            let account = accounts[index]
            guard let share = account.share, account.period == need.period, !share.fallback else { return nil }
            let short = account.reserved.addingClamped(need.maximum).subtractingClamped(share.available)
            guard short > 0 else { return nil }
            return call(
                account, share: share, period: need.period, replica: replica, leaseMilliseconds: leaseMilliseconds,
                need: short, want: short.addingClamped(max(share.slice, need.maximum.multipliedClamped(by: 4))),
                giveBack: 0)
        }
    }

    private func call(
        _ account: Account, share: BudgetShare, period: CalendarPeriod, replica: String, leaseMilliseconds: Int64,
        need: Int64, want: Int64, giveBack: Int64
    ) -> BudgetLeaseCall {
        BudgetLeaseCall(
            replica: replica, budget: account.budget.name, period: period, limit: account.budget.limit.nanos,
            epoch: share.epoch, seed: nil, settled: share.settled, held: max(0, share.available), need: need,
            want: want, giveBack: giveBack, leaseMilliseconds: leaseMilliseconds)
    }

    /// Takes the store's answer to `call`.
    func apply(_ call: BudgetLeaseCall, _ grant: BudgetLeaseGrant, now: UnixMicros) {
        guard let index = byName[call.budget] else { return }
        accounts.withLock { accounts in
            guard accounts[index].period == call.period, var share = accounts[index].share else { return }
            share.apply(grant, to: call, at: now)
            accounts[index].share = share
            accounts[index].spent = share.spent
        }
    }

    /// The store did not answer `call`: the budget spends its local share until it does.
    /// Returns whether this started a fallback (to log it once).
    @discardableResult
    func fallBack(_ call: BudgetLeaseCall, now: UnixMicros) -> Bool {
        guard let index = byName[call.budget] else { return false }
        return accounts.withLock { accounts in
            guard accounts[index].period == call.period, var share = accounts[index].share else { return false }
            let started = !share.fallback
            share.fallBack(limit: accounts[index].budget.limit.nanos)
            share.lastStep = now
            accounts[index].share = share
            return started
        }
    }

    /// Shared budgets spending a local share because the store is out of reach.
    public var budgetsInFallback: Int {
        accounts.withLock { accounts in accounts.count { $0.share?.fallback == true } }
    }

    /// One step per contacted budget: report the rest of the spend, give back the unreserved lease.
    func finalSteps(replica: String, leaseMilliseconds: Int64) -> [BudgetLeaseCall] {
        accounts.withLock { accounts in
            accounts.compactMap { account in
                guard let share = account.share, share.contacted, !share.fallback, let period = account.period else {
                    return nil
                }
                return call(
                    account, share: share, period: period, replica: replica, leaseMilliseconds: leaseMilliseconds,
                    need: 0, want: 0, giveBack: max(0, share.free(reserved: account.reserved)))
            }
        }
    }

    func budget(named name: String) -> Budget? {
        guard let index = byName[name] else { return nil }
        return accounts.withLock { $0[index].budget }
    }
}
