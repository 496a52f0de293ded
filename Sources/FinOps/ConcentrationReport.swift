import Foundation
import SwitchyardCore

/// How dependent the traffic is on single providers and models: shares of spend and of
/// requests, the Herfindahl-Hirschman index (0–10,000; above 2,500 is highly concentrated),
/// and warnings for a provider above its allowed share or a route that cannot leave one.
public struct ConcentrationReport: Sendable {
    public struct Share: Hashable, Sendable {
        public var name: String
        public var costNanos: Int64
        public var requests: Int64
        /// Fractions of the total, 4 decimals.
        public var costShare: Decimal
        public var requestShare: Decimal
    }

    public struct Index: Hashable, Sendable {
        /// HHI over spend and over requests, 2 decimals.
        public var cost: Decimal
        public var requests: Decimal
    }

    /// A route as the report needs it: its name and each target's provider, with health.
    public struct RouteTopology: Hashable, Sendable {
        public var name: String
        public var targets: [(provider: String, healthy: Bool)]

        public init(name: String, targets: [(provider: String, healthy: Bool)]) {
            self.name = name
            self.targets = targets
        }

        public static func == (lhs: RouteTopology, rhs: RouteTopology) -> Bool {
            lhs.name == rhs.name && lhs.targets.map(\.provider) == rhs.targets.map(\.provider)
                && lhs.targets.map(\.healthy) == rhs.targets.map(\.healthy)
        }

        public func hash(into hasher: inout Hasher) { hasher.combine(name) }
    }

    public var currency: String
    public var providers: [Share]
    public var models: [Share]
    public var providerIndex: Index
    public var modelIndex: Index
    public var warnings: [String]

    /// Only rollups in `currency` count: shares of mixed currencies would be meaningless.
    /// `capacityCosts` — self-hosted capacity held over the period, used or idle — is spend on its
    /// provider and model too, though no request was priced with it.
    public init(
        rollups: [UsageRollup], period: ReportPeriod, currency: String = "USD", maxProviderShare: Decimal,
        routes: [RouteTopology] = [], capacityCosts: [(provider: String, model: String, nanos: Int64)] = []
    ) {
        self.currency = currency
        var counted = rollups.filter { period.contains($0.bucketStart) && $0.currency == currency && $0.provider != nil }
        for capacity in capacityCosts {
            counted.append(
                UsageRollup(
                    bucketStart: period.start, provider: capacity.provider, model: capacity.model, currency: currency,
                    costNanos: capacity.nanos))
        }
        (providers, providerIndex) = Self.shares(counted) { $0.provider ?? "" }
        (models, modelIndex) = Self.shares(counted) { ($0.provider ?? "") + "/" + ($0.model ?? "") }
        warnings = []
        for share in providers where share.costShare > maxProviderShare || share.requestShare > maxProviderShare {
            warnings.append(
                "provider '\(share.name)' has \(Self.percent(share.costShare)) of spend and \(Self.percent(share.requestShare)) "
                    + "of requests (limit \(Self.percent(maxProviderShare)))")
        }
        for route in routes {
            let healthyProviders = Set(route.targets.filter(\.healthy).map(\.provider))
            let allProviders = Set(route.targets.map(\.provider))
            if allProviders.count <= 1 {
                warnings.append("route '\(route.name)' has no alternative outside provider '\(allProviders.first ?? "?")'")
            } else if healthyProviders.count <= 1 {
                warnings.append(
                    "route '\(route.name)' has no healthy alternative outside provider '\(healthyProviders.first ?? "none")'")
            }
        }
    }

    static func shares(_ rollups: [UsageRollup], name: (UsageRollup) -> String) -> ([Share], Index) {
        var cost: [String: Int64] = [:]
        var requests: [String: Int64] = [:]
        for rollup in rollups {
            cost[name(rollup), default: 0] += rollup.costNanos
            requests[name(rollup), default: 0] += rollup.requests
        }
        let totalCost = cost.values.reduce(0, +)
        let totalRequests = requests.values.reduce(0, +)
        let shares = cost.keys.map { key in
            Share(
                name: key, costNanos: cost[key]!, requests: requests[key]!,
                costShare: fraction(cost[key]!, totalCost), requestShare: fraction(requests[key]!, totalRequests))
        }.sorted { $0.costNanos != $1.costNanos ? $0.costNanos > $1.costNanos : $0.name < $1.name }
        return (shares, Index(cost: hhi(Array(cost.values)), requests: hhi(Array(requests.values))))
    }

    /// Σ (100 × part / total)², exact before one rounding to 2 decimals.
    static func hhi(_ parts: [Int64]) -> Decimal {
        let total = Decimal(parts.reduce(0, +))
        guard total > 0 else { return 0 }
        var sum = parts.reduce(Decimal(0)) { $0 + Decimal($1) * Decimal($1) } * 10_000 / (total * total)
        var rounded = Decimal()
        NSDecimalRound(&rounded, &sum, 2, .bankers)
        return rounded
    }

    static func fraction(_ part: Int64, _ total: Int64) -> Decimal {
        guard total > 0 else { return 0 }
        var value = Decimal(part) / Decimal(total)
        var rounded = Decimal()
        NSDecimalRound(&rounded, &value, 4, .bankers)
        return rounded
    }

    static func percent(_ fraction: Decimal) -> String { CommitmentStatus.percent(fraction) }
}
