import Foundation
import SwitchyardCore

/// Re-prices recorded traffic under a `Scenario` and compares it with what was recorded.
///
/// Token counts are kept as recorded; a move does not model a different output length on the
/// new model. Each hourly rollup is re-priced at the prices in effect in its hour, which is
/// exact (equal to summing per-request costs) whenever every per-token rate is a whole number
/// of nano-units, e.g. any price per million tokens with at most three decimals.
public struct Simulation: Sendable {
    public struct Line: Hashable, Sendable {
        public var group: String?
        public var currency: String
        public var actualNanos: Int64 = 0
        public var scenarioNanos: Int64 = 0
        public var differenceNanos: Int64 { scenarioNanos - actualNanos }
    }

    public var byTenant: [Line]
    public var byRoute: [Line]
    public var total: [Line]
    /// What the figures assume, in words, for the printed report.
    public var assumptions: [String]

    /// A deployment as the simulation needs it.
    public struct PricedDeployment: Sendable {
        public var provider: String
        public var model: String
        public var prices: PriceSchedule

        public init(provider: String, model: String, prices: PriceSchedule) {
            self.provider = provider
            self.model = model
            self.prices = prices
        }
    }

    public init(rollups: [UsageRollup], period: ReportPeriod, deployments: [String: PricedDeployment], scenario: Scenario) {
        var known = deployments
        for deployment in scenario.deployments {
            known[deployment.name] = PricedDeployment(
                provider: deployment.provider, model: deployment.model, prices: deployment.prices)
        }
        var tenants: [String: Line] = [:]
        var routes: [String: Line] = [:]
        var totals: [String: Line] = [:]
        var unpricedRequests: Int64 = 0
        var movedRequests = Decimal(0)
        for rollup in rollups where period.contains(rollup.bucketStart) {
            var portions: [(deployment: String?, share: Decimal)] = []
            var remaining = Decimal(1)
            for move in scenario.moves where move.route == rollup.route && (move.from == nil || move.from == rollup.deployment) {
                let share = min(move.share, remaining)
                guard share > 0 else { continue }
                portions.append((move.to, share))
                remaining -= share
                movedRequests += Decimal(rollup.requests) * share
            }
            if remaining > 0 { portions.append((rollup.deployment, remaining)) }
            var nanos = Decimal(0)
            for (name, share) in portions {
                guard let name, let deployment = known[name] else {
                    // Traffic with no deployment (rejected requests) or one no longer configured keeps its recorded cost.
                    nanos += Decimal(rollup.costNanos) * share
                    if rollup.costNanos != 0 { unpricedRequests += rollup.requests }
                    continue
                }
                let schedule = scenario.prices[name] ?? scenario.prices[deployment.model] ?? deployment.prices
                let prices = schedule.prices(at: rollup.bucketStart)
                var cost = Decimal(prices.cost(of: rollup.usage, requests: rollup.requests).nanos) * share
                if let discount = scenario.discounts[deployment.provider] { cost *= 1 - discount }
                nanos += cost
            }
            let scenarioNanos = nanos.roundedToInt64() ?? 0
            func add(_ lines: inout [String: Line], _ group: String?) {
                let key = (group ?? "\u{0}") + "|" + rollup.currency
                var line = lines[key] ?? Line(group: group, currency: rollup.currency)
                line.actualNanos += rollup.costNanos
                line.scenarioNanos += scenarioNanos
                lines[key] = line
            }
            add(&tenants, rollup.tenant)
            add(&routes, rollup.route)
            add(&totals, "total")
        }
        func sorted(_ lines: [String: Line]) -> [Line] {
            lines.values.sorted { ($0.group ?? "", $0.currency) < ($1.group ?? "", $1.currency) }
        }
        byTenant = sorted(tenants)
        byRoute = sorted(routes)
        total = sorted(totals)
        assumptions = [
            "token counts are kept as recorded; a different model's output length is not modelled",
            "each hour of traffic is priced at the prices in effect in that hour",
        ]
        if !scenario.moves.isEmpty {
            assumptions.append("moves re-route \(movedRequests.roundedToInt64() ?? 0) requests' worth of tokens")
        }
        if !scenario.discounts.isEmpty {
            assumptions.append(
                "discounts: "
                    + scenario.discounts.sorted { $0.key < $1.key }.map { "\($0.key) \(CommitmentStatus.percent($0.value))" }
                    .joined(separator: ", "))
        }
        if unpricedRequests > 0 {
            assumptions.append("\(unpricedRequests) requests on deployments not in the configuration keep their recorded cost")
        }
    }
}
