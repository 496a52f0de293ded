import Foundation
import SwitchyardCore

/// Cost per unit of work for each group — per request, per 1K output tokens and per
/// successful task — for a period and the period of the same length before it.
public struct UnitEconomics: Sendable {
    /// A request carrying this tag (e.g. `outcome=success`) marks one finished agent task.
    public struct TaskMarker: Hashable, Sendable {
        public var key: String
        public var value: String

        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }

        public static let `default` = TaskMarker(key: "outcome", value: "success")
    }

    public struct Figures: Hashable, Sendable {
        public var costNanos: Int64 = 0
        public var requests: Int64 = 0
        public var outputTokens: Int64 = 0
        public var tasks: Int64 = 0

        /// Nano-units, rounded half to even; nil when there is nothing to divide by.
        public var perRequestNanos: Int64? { Self.ratio(costNanos, requests, scale: 1) }
        public var perThousandOutputTokensNanos: Int64? { Self.ratio(costNanos, outputTokens, scale: 1000) }
        public var perTaskNanos: Int64? { Self.ratio(costNanos, tasks, scale: 1) }

        static func ratio(_ cost: Int64, _ units: Int64, scale: Int64) -> Int64? {
            guard units > 0 else { return nil }
            return (Decimal(cost) * Decimal(scale) / Decimal(units)).roundedToInt64()
        }
    }

    public struct Row: Hashable, Sendable {
        public var group: String?
        public var currency: String
        public var current: Figures
        public var previous: Figures

        /// Change of cost per request against the previous period, in percent (one decimal).
        public var perRequestChangePercent: String? { Self.change(current.perRequestNanos, previous.perRequestNanos) }
        public var perTaskChangePercent: String? { Self.change(current.perTaskNanos, previous.perTaskNanos) }

        static func change(_ now: Int64?, _ before: Int64?) -> String? {
            guard let now, let before, before != 0 else { return nil }
            var value = (Decimal(now) - Decimal(before)) * 100 / Decimal(before)
            var rounded = Decimal()
            NSDecimalRound(&rounded, &value, 1, .bankers)
            let text = "\(rounded)"
            return (rounded > 0 ? "+" : "") + (text.contains(".") ? text : text + ".0")
        }
    }

    public var rows: [Row]

    /// `rollups` must cover both `period` and `period.previous`.
    public init(
        rollups: [UsageRollup], by dimension: CostDimension, period: ReportPeriod,
        capacities: [String: CapacityCost] = [:], taskMarker: TaskMarker = .default
    ) {
        struct Key: Hashable {
            var group: String?
            var currency: String
        }
        var rows: [Key: Row] = [:]
        for (target, window) in [(0, period), (1, period.previous)] {
            let inWindow = rollups.filter { window.contains($0.bucketStart) }
            let allocation = CapacityAllocation(rollups: inWindow, capacities: capacities, period: window)
            for (index, rollup) in inWindow.enumerated() {
                let key = Key(group: dimension.value(in: rollup), currency: rollup.currency)
                var row = rows[key] ?? Row(group: key.group, currency: key.currency, current: Figures(), previous: Figures())
                var figures = target == 0 ? row.current : row.previous
                figures.costNanos += rollup.costNanos + allocation.allocatedNanos[index]
                figures.requests += rollup.requests
                figures.outputTokens += Int64(rollup.usage.outputTokens)
                if rollup.tags[taskMarker.key] == taskMarker.value { figures.tasks += rollup.requests }
                if target == 0 { row.current = figures } else { row.previous = figures }
                rows[key] = row
            }
        }
        self.rows = rows.values.sorted {
            $0.current.costNanos != $1.current.costNanos
                ? $0.current.costNanos > $1.current.costNanos : ($0.group ?? "") < ($1.group ?? "")
        }
    }
}
