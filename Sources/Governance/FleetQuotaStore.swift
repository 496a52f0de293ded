import SwitchyardCore

/// The store replicas lease slices of shared quotas from (Redis in production), concurrency
/// slots (`concurrent_requests`) included. Each call is one
/// atomic step on the store: it books what the replica reports, returns what it gives back and
/// grants what it asks for within what is left. Only background work and the end of a quota
/// call it; a request spends from its replica's lease.
public protocol FleetQuotaStore: FleetSlotStore {
    func lease(_ call: BudgetLeaseCall) async throws -> BudgetLeaseReply
    func lease(_ call: RateLeaseCall) async throws -> RateLeaseGrant
    /// Reports a replica's spend per minute under a `spend_per_hour` scope; answers the fleet's.
    func report(_ call: RunawaySpendCall) async throws -> RunawayFleetSpend
}

/// One replica's step on one budget period's shared counter. Amounts are nano-units.
public struct BudgetLeaseCall: Sendable, Equatable {
    public var replica: String
    public var budget: String
    public var period: CalendarPeriod
    public var limit: Int64
    /// The counter's epoch this replica last saw: spend reported against another epoch (Redis
    /// lost the counter and it was seeded again from the ledger) is taken as in the seed.
    public var epoch: String?
    /// The period's spend in the ledger, to start a counter the store does not have.
    public var seed: Int64?
    /// Spend settled by this replica in the period, in total: the store books what it had not
    /// heard of yet, so a step sent twice books nothing twice.
    public var settled: Int64
    /// The lease this replica holds, to register again if the store lost it.
    public var held: Int64
    /// Grant at least this much or nothing (0: whatever is left, up to `want`).
    public var need: Int64
    public var want: Int64
    public var giveBack: Int64
    public var leaseMilliseconds: Int64

    public var key: String { "switchyard:budget:\(budget):\(period.start.value)" }
}

public enum BudgetLeaseReply: Sendable, Equatable {
    /// The store has no counter for the period: call again with the ledger's spend as `seed`.
    case missing
    case granted(BudgetLeaseGrant)
}

public struct BudgetLeaseGrant: Sendable, Equatable {
    public var granted: Int64
    /// The lease the store holds for this replica after the step.
    public var lease: Int64
    /// Spend booked by the fleet, including leases of replicas that stopped answering.
    public var fleetSpent: Int64
    /// Leases held by live replicas, this one included.
    public var fleetLeased: Int64
    public var liveReplicas: Int
    public var epoch: String
    /// The lease this replica held had expired and was booked as spent: it is gone.
    public var leaseLost: Bool

    public init(
        granted: Int64, lease: Int64, fleetSpent: Int64, fleetLeased: Int64, liveReplicas: Int, epoch: String,
        leaseLost: Bool
    ) {
        self.granted = granted
        self.lease = lease
        self.fleetSpent = fleetSpent
        self.fleetLeased = fleetLeased
        self.liveReplicas = liveReplicas
        self.epoch = epoch
        self.leaseLost = leaseLost
    }
}

/// One replica's step on one scope's shared token buckets (a minute's allowance, refilling).
public struct RateLeaseCall: Sendable, Equatable {
    public var replica: String
    public var scope: String
    public var requestsPerMinute: Int?
    public var tokensPerMinute: Int?
    public var needRequests: Int64
    public var needTokens: Int64
    public var wantRequests: Int64
    public var wantTokens: Int64
    public var giveBackRequests: Int64
    public var giveBackTokens: Int64
    public var leaseMilliseconds: Int64

    public var key: String { "switchyard:rate:\(scope):\(requestsPerMinute ?? 0):\(tokensPerMinute ?? 0)" }
}

public struct RateLeaseGrant: Sendable, Equatable {
    public var requests: Int64
    public var tokens: Int64
    /// What the shared buckets hold after the grant.
    public var requestsLeft: Double
    public var tokensLeft: Double
    public var liveReplicas: Int

    public init(requests: Int64, tokens: Int64, requestsLeft: Double, tokensLeft: Double, liveReplicas: Int) {
        self.requests = requests
        self.tokens = tokens
        self.requestsLeft = requestsLeft
        self.tokensLeft = tokensLeft
        self.liveReplicas = liveReplicas
    }
}

/// One replica's spend per minute under a `spend_per_hour` scope, over the last hour. Amounts
/// are the replica's totals per minute, so a report sent twice books nothing twice.
public struct RunawaySpendCall: Sendable, Equatable {
    public var replica: String
    public var scope: GovernanceScope
    public var currency: String
    /// Nano-units this replica spent in each minute (Unix minutes) of the last hour it spent in.
    public var minutes: [Int64: Int64]

    public var key: String { "switchyard:runaway:\(scope.description):\(currency)" }
}

/// The fleet's spend per minute of the last hour under one scope, this replica's included.
public struct RunawayFleetSpend: Sendable, Equatable {
    public var minutes: [Int64: Int64]

    public init(minutes: [Int64: Int64]) {
        self.minutes = minutes
    }
}
