import SwitchyardCore

/// This replica's part of a budget shared by the fleet: the money it leased and may spend
/// without asking anyone, and what it spent.
///
/// Each step tells the store the replica's *cumulative* spend in the period (`settled`), so a
/// step whose answer was lost and is sent again books nothing twice; and each answer says what
/// lease the store holds for the replica, which replaces the local figure (`apply`): a lost
/// answer, a give-back the store applied, or a fallback share are all corrected at the next step.
struct BudgetShare: Sendable {
    /// Leased money not yet spent here. Negative when requests cost more than they reserved.
    var available: Int64 = 0
    /// Spend settled here in this period, in total, and the part the store has acknowledged.
    var settled: Int64 = 0
    var acknowledged: Int64 = 0
    /// The fleet's booked spend and live leases at the last step.
    var fleetSpent: Int64 = 0
    var fleetLeased: Int64 = 0
    var liveReplicas = 1
    var epoch: String?
    /// At least one step succeeded in this period.
    var contacted = false
    /// The store cannot be reached: spending the share taken at the last contact.
    var fallback = false
    /// The last step that asked for money got none: requests short of lease are refused here
    /// without asking again until `dryUntil` (a tenant past its budget cannot keep the store busy).
    var dryUntil = UnixMicros(0)
    /// Spend in the current sampling window and the smoothed rate (nanos per second), for sizing slices.
    var windowSpend: Int64 = 0
    var spendPerSecond: Double = 0
    var sampledAt = UnixMicros(0)
    /// The largest worst-case cost admitted lately (halved every minute): a slice covers four.
    var largestRequest: Int64 = 0
    var largestDecayedAt = UnixMicros(0)
    var lastStep = UnixMicros(0)
    var lastActivity = UnixMicros(0)

    /// Spend here the store has not acknowledged yet.
    var unreported: Int64 { settled.subtractingClamped(acknowledged) }

    /// What the fleet would say this budget has spent: its booked spend and ours not yet told.
    var spent: Int64 { fleetSpent.addingClamped(unreported) }

    /// The slice to hold ahead: two seconds of this replica's spend, and at least four requests.
    var slice: Int64 {
        max(largestRequest.multipliedClamped(by: 4), Int64(min(spendPerSecond * 2, Double(Int64.max / 4))))
    }

    /// The money this replica may still commit: leased, less what requests in flight reserved.
    func free(reserved: Int64) -> Int64 { available.subtractingClamped(reserved) }

    func isDry(at now: UnixMicros) -> Bool { now.value < dryUntil.value }

    init(liveReplicas: Int = 1) {
        self.liveReplicas = liveReplicas
    }

    /// At a period change every counter starts again; the new period's counter is stepped afresh.
    mutating func reset() {
        self = BudgetShare(liveReplicas: liveReplicas)
    }

    mutating func admitted(_ maximum: Int64, at now: UnixMicros) {
        if now.value - largestDecayedAt.value > 60_000_000 {
            largestRequest /= 2
            largestDecayedAt = now
        }
        largestRequest = max(largestRequest, maximum)
        lastActivity = now
    }

    mutating func settle(_ actual: Int64) {
        available = available.subtractingClamped(actual)
        settled = settled.addingClamped(actual)
        windowSpend = windowSpend.addingClamped(actual)
    }

    /// Folds the spend since the last sample into the rate: up at once (a ramp must not make
    /// requests wait for lease steps), down smoothed over about a second.
    mutating func sample(now: UnixMicros) {
        let elapsed = Double(now.value - sampledAt.value) / 1_000_000
        guard elapsed >= 0.1 else { return }
        let rate = Double(windowSpend) / elapsed
        spendPerSecond = max(rate, spendPerSecond * 0.7 + rate * 0.3)
        windowSpend = 0
        sampledAt = now
    }

    /// Takes the store's answer to `call`. The lease is the store's, less what was spent here
    /// since the call was made.
    mutating func apply(_ grant: BudgetLeaseGrant, to call: BudgetLeaseCall, at now: UnixMicros) {
        acknowledged = max(acknowledged, call.settled)
        available = grant.lease.subtractingClamped(settled.subtractingClamped(call.settled))
        fleetSpent = grant.fleetSpent
        fleetLeased = grant.fleetLeased
        liveReplicas = max(1, grant.liveReplicas)
        epoch = grant.epoch
        contacted = true
        fallback = false
        lastStep = now
        if call.need > 0 || call.want > 0 {
            // Nothing left in the fleet: refuse here a while, and top up in the background slower.
            let pause: Int64 = call.need > 0 ? 250_000 : 1_000_000
            dryUntil = grant.granted == 0 ? UnixMicros(now.value + pause) : UnixMicros(0)
        }
    }

    /// The store cannot be reached: spend on with this replica's part of what was free at the
    /// last contact (never more), or nothing if there was no contact in this period. The next
    /// answer of the store replaces it with the lease the store holds.
    mutating func fallBack(limit: Int64) {
        guard !fallback else { return }
        fallback = true
        guard contacted else { return }
        // `fleetLeased` includes our own lease, which `available` already holds.
        let free = limit.subtractingClamped(fleetSpent).subtractingClamped(fleetLeased)
        available = available.addingClamped(max(0, free / Int64(max(1, liveReplicas))))
    }
}
