import Foundation
import SwitchyardCore

/// Shares the cost of self-hosted capacity among the requests that used it, hour by hour.
///
/// Each hour the capacity costs `cost(hour)`. Its use is the request-time spent on it
/// (summed latencies) against `slots` × one hour; that fraction of the hour's cost is
/// allocated to the rollups in proportion to their request-time, and the rest is idle.
/// Allocation uses the largest-remainder method, so for every hour
/// `allocated + idle == cost` to the nano-unit.
public struct CapacityAllocation: Sendable {
    /// Allocated capacity cost per rollup, by index in the input.
    public var allocatedNanos: [Int64]
    /// Per deployment: what the capacity cost over the period, what was allocated and what was idle.
    public var deployments: [String: DeploymentCapacity]

    public struct DeploymentCapacity: Hashable, Sendable {
        public var currency: String
        public var costNanos: Int64 = 0
        public var allocatedNanos: Int64 = 0
        public var idleNanos: Int64 = 0
        /// Idle cost per hour start, for bucketed reports.
        public var idleByHour: [UnixMicros: Int64] = [:]
    }

    public init(rollups: [UsageRollup], capacities: [String: CapacityCost], period: ReportPeriod) {
        allocatedNanos = Array(repeating: 0, count: rollups.count)
        deployments = [:]
        guard !capacities.isEmpty else { return }
        var byHour: [String: [UnixMicros: [Int]]] = [:]
        for (index, rollup) in rollups.enumerated() {
            guard let name = rollup.deployment, capacities[name] != nil, period.contains(rollup.bucketStart) else { continue }
            byHour[name, default: [:]][rollup.bucketStart, default: []].append(index)
        }
        for (name, capacity) in capacities.sorted(by: { $0.key < $1.key }) {
            var summary = DeploymentCapacity(currency: capacity.currency)
            for hour in period.hours {
                let cost = capacity.cost(from: hour, to: UnixMicros(hour.value + 3_600_000_000)).nanos
                let members = byHour[name]?[hour] ?? []
                let busy = members.reduce(Int64(0)) { $0 + rollups[$1].busyMicros }
                let available = Int64(capacity.slots) * 3_600_000_000
                let used = min(busy, available)
                // cost × used / available, rounded half to even, in exact integer arithmetic.
                let allocated = Self.divideRounded(cost, times: used, by: available)
                let shares = Self.largestRemainder(
                    total: allocated, weights: members.map { rollups[$0].busyMicros })
                for (member, share) in zip(members, shares) { allocatedNanos[member] += share }
                summary.costNanos += cost
                summary.allocatedNanos += allocated
                summary.idleNanos += cost - allocated
                summary.idleByHour[hour] = cost - allocated
            }
            deployments[name] = summary
        }
    }

    static func divideRounded(_ value: Int64, times numerator: Int64, by denominator: Int64) -> Int64 {
        guard denominator > 0 else { return 0 }
        let product = Decimal(value) * Decimal(numerator) / Decimal(denominator)
        return product.roundedToInt64() ?? 0
    }

    /// Splits `total` in proportion to `weights` so the parts sum to `total` exactly.
    static func largestRemainder(total: Int64, weights: [Int64]) -> [Int64] {
        let sum = weights.reduce(0, +)
        guard sum > 0, total != 0 else { return weights.map { _ in 0 } }
        var parts: [Int64] = []
        var remainders: [(index: Int, remainder: Decimal)] = []
        for (index, weight) in weights.enumerated() {
            let exact = Decimal(total) * Decimal(weight) / Decimal(sum)
            var floor = Decimal()
            var source = exact
            NSDecimalRound(&floor, &source, 0, .down)
            parts.append(floor.roundedToInt64() ?? 0)
            remainders.append((index, exact - floor))
        }
        var left = total - parts.reduce(0, +)
        for entry in remainders.sorted(by: {
            $0.remainder > $1.remainder || ($0.remainder == $1.remainder && $0.index < $1.index)
        })
        where left > 0 {
            parts[entry.index] += 1
            left -= 1
        }
        return parts
    }
}
