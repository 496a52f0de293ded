import SwitchyardCore

/// Cost grouped by one dimension (optionally per time bucket), with self-hosted capacity
/// allocated to its users and its idle part reported on rows of its own.
public struct CostReport: Sendable {
    public struct Row: Hashable, Sendable {
        /// The group's value; nil for records without it (shown as "(none)").
        public var group: String?
        public var bucketStart: UnixMicros?
        public var currency: String
        public var requests: Int64 = 0
        public var errors: Int64 = 0
        public var inputTokens: Int64 = 0
        public var outputTokens: Int64 = 0
        public var cachedInputTokens: Int64 = 0
        public var cacheWriteTokens: Int64 = 0
        public var reasoningTokens: Int64 = 0
        /// Priced usage, as recorded in the ledger.
        public var usageNanos: Int64 = 0
        /// Self-hosted capacity cost allocated to this group.
        public var capacityNanos: Int64 = 0
        /// Unused self-hosted capacity (only on idle rows, whose group names the deployment).
        public var idleNanos: Int64 = 0

        public var costNanos: Int64 { usageNanos + capacityNanos + idleNanos }
        public var isIdle: Bool { idleNanos != 0 && requests == 0 }
    }

    public var dimension: CostDimension
    public var bucket: TimeBucket?
    public var period: ReportPeriod
    public var rows: [Row]

    /// Rows sorted by cost (highest first), then group. Idle rows are named `idle:<deployment>`.
    public init(
        rollups: [UsageRollup], by dimension: CostDimension, bucket: TimeBucket? = nil, period: ReportPeriod,
        capacities: [String: CapacityCost] = [:]
    ) {
        self.dimension = dimension
        self.bucket = bucket
        self.period = period
        let inPeriod = rollups.filter { period.contains($0.bucketStart) }
        let allocation = CapacityAllocation(rollups: inPeriod, capacities: capacities, period: period)
        struct Key: Hashable {
            var group: String?
            var bucket: UnixMicros?
            var currency: String
        }
        var rows: [Key: Row] = [:]
        for (index, rollup) in inPeriod.enumerated() {
            let key = Key(
                group: dimension.value(in: rollup), bucket: bucket?.start(of: rollup.bucketStart),
                currency: rollup.currency)
            var row = rows[key] ?? Row(group: key.group, bucketStart: key.bucket, currency: key.currency)
            row.requests += rollup.requests
            row.errors += rollup.errors
            row.inputTokens += Int64(rollup.usage.inputTokens)
            row.outputTokens += Int64(rollup.usage.outputTokens)
            row.cachedInputTokens += Int64(rollup.usage.cachedInputTokens)
            row.cacheWriteTokens += Int64(rollup.usage.cacheWriteInputTokens)
            row.reasoningTokens += Int64(rollup.usage.reasoningTokens)
            row.usageNanos += rollup.costNanos
            row.capacityNanos += allocation.allocatedNanos[index]
            rows[key] = row
        }
        for (deployment, capacity) in allocation.deployments {
            for (hour, idle) in capacity.idleByHour where idle != 0 {
                let key = Key(group: "idle:" + deployment, bucket: bucket?.start(of: hour), currency: capacity.currency)
                var row = rows[key] ?? Row(group: key.group, bucketStart: key.bucket, currency: key.currency)
                row.idleNanos += idle
                rows[key] = row
            }
        }
        self.rows = rows.values.sorted {
            if $0.bucketStart != $1.bucketStart { return ($0.bucketStart?.value ?? 0) < ($1.bucketStart?.value ?? 0) }
            if $0.costNanos != $1.costNanos { return $0.costNanos > $1.costNanos }
            return ($0.group ?? "") < ($1.group ?? "")
        }
    }

    /// The sum of every row per currency: usage + allocated capacity + idle capacity.
    public var totals: [String: Int64] {
        rows.reduce(into: [:]) { $0[$1.currency, default: 0] += $1.costNanos }
    }
}
