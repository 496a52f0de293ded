import Foundation
import SwitchyardCore

/// One report, as the CLI and the admin API ask for it.
public struct ReportQuery: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case cost, unit, commitments, concentration
    }

    public var kind: Kind
    public var dimension: CostDimension
    public var bucket: TimeBucket?
    public var period: ReportPeriod
    public var taskMarker: UnitEconomics.TaskMarker
    public var currency: String
    /// The "as of" time of the commitments report: the end of the period before it was widened
    /// to a whole hour (a forecast from a time in the future would undercount the trend).
    public var asOf: UnixMicros

    public init(
        kind: Kind, dimension: CostDimension = .tenant, bucket: TimeBucket? = nil, period: ReportPeriod,
        taskMarker: UnitEconomics.TaskMarker = .default, currency: String = "USD", asOf: UnixMicros? = nil
    ) {
        self.kind = kind
        self.dimension = dimension
        self.bucket = bucket
        self.period = period
        self.taskMarker = taskMarker
        self.currency = currency
        self.asOf = asOf.map { min($0, period.end) } ?? period.end
    }

    /// The ledger range the report reads: the period, plus the one before it for trends and the
    /// whole current contract period for commitments.
    public func rollupRange(context: FinOpsContext) -> ReportPeriod {
        switch kind {
        case .cost, .concentration: return period
        case .unit: return ReportPeriod(start: period.previous.start, end: period.end)
        case .commitments:
            let starts = context.commitments.compactMap { $0.period(containing: UnixMicros(asOf.value - 1))?.start }
            return ReportPeriod(start: ([period.start] + starts).min()!, end: period.end)
        }
    }

    public func table(rollups: [UsageRollup], context: FinOpsContext) -> ReportTable {
        switch kind {
        case .cost: costTable(rollups, context)
        case .unit: unitTable(rollups, context)
        case .commitments: commitmentsTable(rollups, context)
        case .concentration: concentrationTable(rollups, context)
        }
    }

    func costTable(_ rollups: [UsageRollup], _ context: FinOpsContext) -> ReportTable {
        let report = CostReport(
            rollups: rollups, by: dimension, bucket: bucket, period: period, capacities: context.capacities)
        var header = [dimension.description]
        if let bucket { header.append(bucket.rawValue) }
        header += [
            "requests", "errors", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
            "reasoning_tokens", "usage_cost", "capacity_cost", "idle_cost", "cost", "currency",
        ]
        let rows: [[String?]] = report.rows.map { row in
            var cells: [String?] = [row.group ?? "(none)"]
            if bucket != nil { cells.append(row.bucketStart.map { FocusExport.timestamp($0) }) }
            return cells + [
                String(row.requests), String(row.errors), String(row.inputTokens), String(row.outputTokens),
                String(row.cachedInputTokens), String(row.cacheWriteTokens), String(row.reasoningTokens),
                Money.format(nanos: row.usageNanos), Money.format(nanos: row.capacityNanos), Money.format(nanos: row.idleNanos),
                Money.format(nanos: row.costNanos), row.currency,
            ]
        }
        let totals = report.totals.sorted { $0.key < $1.key }.map { "total \(Money.format(nanos: $0.value)) \($0.key)" }
        return ReportTable(header: header, rows: rows, notes: totals)
    }

    func unitTable(_ rollups: [UsageRollup], _ context: FinOpsContext) -> ReportTable {
        let report = UnitEconomics(
            rollups: rollups, by: dimension, period: period, capacities: context.capacities, taskMarker: taskMarker)
        let header = [
            dimension.description, "requests", "cost", "cost_per_request", "cost_per_1k_output_tokens", "tasks",
            "cost_per_task", "previous_cost_per_request", "previous_cost_per_task", "change_per_request_pct",
            "change_per_task_pct", "currency",
        ]
        let rows: [[String?]] = report.rows.map { row in
            [
                row.group ?? "(none)", String(row.current.requests), Money.format(nanos: row.current.costNanos),
                row.current.perRequestNanos.map(Money.format), row.current.perThousandOutputTokensNanos.map(Money.format),
                String(row.current.tasks), row.current.perTaskNanos.map(Money.format),
                row.previous.perRequestNanos.map(Money.format), row.previous.perTaskNanos.map(Money.format),
                row.perRequestChangePercent, row.perTaskChangePercent, row.currency,
            ]
        }
        return ReportTable(
            header: header, rows: rows,
            notes: ["a task is a request tagged \(taskMarker.key)=\(taskMarker.value); previous period: same length before"])
    }

    func commitmentsTable(_ rollups: [UsageRollup], _ context: FinOpsContext) -> ReportTable {
        let statuses = context.commitments.compactMap {
            CommitmentStatus(commitment: $0, rollups: rollups, asOf: asOf)
        }
        let header = [
            "commitment", "provider", "period_start", "period_end", "spend_to_date", "forecast_spend", "committed_spend",
            "shortfall", "overage", "tokens_to_date", "forecast_tokens", "reserved_tokens", "token_overage_cost",
            "forecast_utilization", "currency",
        ]
        let rows: [[String?]] = statuses.map { status in
            [
                status.commitment, status.provider, FocusExport.timestamp(status.periodStart),
                FocusExport.timestamp(status.periodEnd), Money.format(nanos: status.spendToDateNanos),
                Money.format(nanos: status.forecastSpendNanos), status.committedSpendNanos.map(Money.format),
                status.shortfallNanos.map(Money.format), status.overageNanos.map(Money.format), String(status.tokensToDate),
                String(status.forecastTokens), status.reservedTokens.map(String.init),
                status.tokenOverageCostNanos.map(Money.format), status.forecastUtilization.map { "\($0)" }, status.currency,
            ]
        }
        let warnings = statuses.flatMap { status in status.warnings.map { "warning: \(status.commitment): \($0)" } }
        return ReportTable(header: header, rows: rows, notes: warnings)
    }

    func concentrationTable(_ rollups: [UsageRollup], _ context: FinOpsContext) -> ReportTable {
        // Capacity is summed hour by hour, as the cost report allocates it.
        let capacityCosts = context.capacities.sorted { $0.key < $1.key }.compactMap {
            name, capacity -> (provider: String, model: String, nanos: Int64)? in
            guard capacity.currency == currency, let deployment = context.deployments[name] else { return nil }
            let nanos = period.hours.reduce(Int64(0)) {
                $0 + capacity.cost(from: $1, to: UnixMicros($1.value + 3_600_000_000)).nanos
            }
            return (deployment.provider, deployment.model, nanos)
        }
        let report = ConcentrationReport(
            rollups: rollups, period: period, currency: currency, maxProviderShare: context.maxProviderShare,
            routes: context.routes, capacityCosts: capacityCosts)
        let header = ["level", "name", "cost", "cost_share", "requests", "request_share", "currency"]
        var rows: [[String?]] = []
        // The indexes ride as rows too, so JSON and CSV consumers get them.
        rows.append(["hhi", "provider", nil, "\(report.providerIndex.cost)", nil, "\(report.providerIndex.requests)", nil])
        rows.append(["hhi", "model", nil, "\(report.modelIndex.cost)", nil, "\(report.modelIndex.requests)", nil])
        for (level, shares) in [("provider", report.providers), ("model", report.models)] {
            for share in shares {
                rows.append([
                    level, share.name, Money.format(nanos: share.costNanos), "\(share.costShare)", String(share.requests),
                    "\(share.requestShare)", currency,
                ])
            }
        }
        let notes =
            [
                "HHI providers: cost \(report.providerIndex.cost), requests \(report.providerIndex.requests)",
                "HHI models: cost \(report.modelIndex.cost), requests \(report.modelIndex.requests)",
            ] + report.warnings.map { "warning: \($0)" }
        return ReportTable(header: header, rows: rows, notes: notes)
    }
}
