import SwitchyardCore

/// An agent run, named within its tenant.
public struct RunKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var tenant: String
    public var run: String

    public init(tenant: String, run: String) {
        self.tenant = tenant
        self.run = run
    }

    public var description: String { "\(tenant)/\(run)" }

    public static func < (lhs: RunKey, rhs: RunKey) -> Bool { (lhs.tenant, lhs.run) < (rhs.tenant, rhs.run) }
}

/// A run's requests in one window.
public struct RunActivity: Sendable, Equatable {
    /// The agent of the run's requests (the first named).
    public var agent: String?
    public var requests = 0
    /// Requests answered (status below 400).
    public var answered = 0
    /// Requests that reached a provider and failed there (unavailable, timeout, error,
    /// overloaded, rate limited, interrupted): what a stalled run gets. The gateway's own refusals
    /// (kill switch, policy, budget, a bad request) are not the run's lack of progress.
    public var failedUpstream = 0
    /// Requests that repeated an earlier prompt of the run (the run rules' loop detection).
    public var loops = 0
    /// Nano-units, whatever the currency (one per deployment is the usual case).
    public var costNanos: Int64 = 0

    public init(agent: String? = nil) {
        self.agent = agent
    }

    /// Something of this window reached a provider or cost money: only such runs are followed, so
    /// requests refused before routing cannot fill the detector with runs for free.
    public var reachedAProvider: Bool { answered > 0 || failedUpstream > 0 || costNanos > 0 }

    mutating func add(_ record: UsageRecord) {
        if agent == nil { agent = record.agent }
        requests += 1
        if record.status < 400 { answered += 1 }
        if let error = record.errorClass, !record.attempts.isEmpty,
            [.upstreamUnavailable, .upstreamTimeout, .upstreamError, .upstreamOverloaded, .rateLimited, .streamInterrupted]
                .contains(error)
        {
            failedUpstream += 1
        }
        if record.runLoop { loops += 1 }
        costNanos = costNanos.addingClamped(record.cost.nanos)
    }
}
