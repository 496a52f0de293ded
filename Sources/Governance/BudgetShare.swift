import SwitchyardCore

/// This replica's part of a budget shared by the fleet: the money it leased and may spend
/// without asking anyone, and what it spent that the fleet has not heard of yet.
struct BudgetShare: Sendable {
    /// Leased money not yet spent here. Negative when requests cost more than they reserved.
    var available: Int64 = 0
    /// Spend settled here since the last lease step.
    var unreported: Int64 = 0
    /// The fleet's booked spend and live leases at the last step.
    var fleetSpent: Int64 = 0
    var fleetLeased: Int64 = 0
    var liveReplicas = 1
    var epoch: String?
    /// At least one step succeeded in this period.
    var contacted = false
    /// The shared store is unreachable: spending the share taken at the last contact.
    var fallback = false
    /// Spend in the current sampling window and the smoothed rate (nanos per second), for sizing slices.
    var windowSpend: Int64 = 0
    var spendPerSecond: Double = 0
    var sampledAt = UnixMicros(0)
    /// The largest worst-case cost reserved lately: a slice always covers a few of these.
    var largestRequest: Int64 = 0
    var lastStep: UnixMicros = UnixMicros(0)
    var lastActivity: UnixMicros = UnixMicros(0)

    /// What the fleet would say this budget has spent: its booked spend and ours not yet told.
    var spent: Int64 { fleetSpent + unreported }

    /// The slice to hold ahead: two seconds of this replica's spend, and at least four requests.
    var slice: Int64 {
        max(largestRequest * 4, Int64(min(spendPerSecond * 2, Double(Int64.max / 4))))
    }

    /// Folds the spend since the last sample into the rate (smoothed over about a second).
    mutating func sample(now: UnixMicros) {
        let elapsed = Double(now.value - sampledAt.value) / 1_000_000
        guard elapsed >= 0.1 else { return }
        let rate = Double(windowSpend) / elapsed
        spendPerSecond = sampledAt.value == 0 ? rate : spendPerSecond * 0.7 + rate * 0.3
        windowSpend = 0
        sampledAt = now
    }

    /// The money this replica may still commit: leased, less what requests in flight reserved.
    func free(reserved: Int64) -> Int64 { available - reserved }

    /// At a period change every counter starts again; the new period's counter is stepped afresh.
    mutating func reset() {
        self = BudgetShare(liveReplicas: liveReplicas, largestRequest: largestRequest)
    }

    init(liveReplicas: Int = 1, largestRequest: Int64 = 0) {
        self.liveReplicas = liveReplicas
        self.largestRequest = largestRequest
    }

    /// Takes the result of a step that reported `reported` and gave back `gaveBack`.
    mutating func apply(_ grant: BudgetLeaseGrant, reported: Int64, gaveBack: Int64, at now: UnixMicros) {
        unreported -= reported
        if grant.leaseLost {
            // The store booked our lease as spent when it expired; what we spend of it is credited.
            available = grant.granted
        } else {
            available += grant.granted - gaveBack
        }
        fleetSpent = grant.fleetSpent
        fleetLeased = grant.fleetLeased
        liveReplicas = max(1, grant.liveReplicas)
        epoch = grant.epoch
        contacted = true
        fallback = false
        lastStep = now
    }

    /// The store cannot be reached: spend on with this replica's part of what was free at the
    /// last contact (never more), or nothing if there was no contact in this period.
    mutating func fallBack(limit: Int64) {
        guard !fallback else { return }
        fallback = true
        guard contacted else { return }
        // `fleetLeased` includes our own lease, which `available` already holds.
        let free = limit - fleetSpent - fleetLeased
        available += max(0, free / Int64(max(1, liveReplicas)))
    }
}
