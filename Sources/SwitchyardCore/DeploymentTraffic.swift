/// A deployment's traffic over a window, as the ledger has it (probes included).
public struct DeploymentTraffic: Sendable, Equatable {
    public var requests: Int64 = 0
    /// Failures on the provider's side (unavailable, timeout, error, overloaded, rate limited).
    public var providerErrors: Int64 = 0
    public var tokens: Int64 = 0
    public var costNanos: Int64 = 0
    public var currency: String?
    public var p95LatencyMicros: Int64?
    /// Minutes with requests to the deployment, and those in which at least one was answered.
    public var minutesWithTraffic: Int64 = 0
    public var minutesAnswered: Int64 = 0

    public init() {}

    public var errorRate: Double? { requests == 0 ? nil : Double(providerErrors) / Double(requests) }
    /// The share of minutes with traffic in which the deployment answered.
    public var availability: Double? {
        minutesWithTraffic == 0 ? nil : Double(minutesAnswered) / Double(minutesWithTraffic)
    }
    /// What a million tokens (input and output) cost, in nano-units of `currency`, rounded down;
    /// nil without tokens or a single currency, or when it would not fit.
    public var costPerMillionTokensNanos: Int64? {
        guard tokens > 0, currency != nil, costNanos >= 0, costNanos / tokens < Int64.max / 1_000_000 else { return nil }
        return tokens.dividingFullWidth(costNanos.multipliedFullWidth(by: 1_000_000)).quotient
    }
}
