import FinOps
import Foundation
import SwitchyardCore
import Testing

@Suite struct CostReportTests {
    static let month = FinOpsFixtures.month(records: 20_000)

    @Test(arguments: CostDimension.attributes + [.tag("customer"), .tag("feature"), .tag("outcome")])
    func everyDimensionReconcilesToTheLedgerTotal(_ dimension: CostDimension) {
        let (records, rollups) = Self.month
        let report = CostReport(rollups: rollups, by: dimension, period: FinOpsFixtures.october)
        let ledgerTotal = records.reduce(Int64(0)) { $0 + $1.cost.nanos }
        #expect(ledgerTotal > 0)
        #expect(report.rows.reduce(0) { $0 + $1.usageNanos } == ledgerTotal)
        #expect(report.rows.reduce(0) { $0 + $1.requests } == Int64(records.count))
        // Each group equals the records carrying that value, to the nano-unit.
        var expected: [String?: Int64] = [:]
        for record in records {
            let rollup = UsageRollup(record)
            expected[dimension.value(in: rollup), default: 0] += record.cost.nanos
        }
        #expect(report.rows.count == expected.count)
        for row in report.rows { #expect(row.usageNanos == expected[row.group]) }
    }

    @Test func dailyBucketsSumToTheMonth() {
        let (records, rollups) = Self.month
        let daily = CostReport(rollups: rollups, by: .tenant, bucket: .day, period: FinOpsFixtures.october)
        #expect(Set(daily.rows.compactMap(\.bucketStart)).count == 31)
        #expect(daily.rows.reduce(0) { $0 + $1.usageNanos } == records.reduce(0) { $0 + $1.cost.nanos })
        // Weekdays carry more traffic than weekends (the generator's weekly pattern shows through).
        let saturday = daily.rows.filter { $0.bucketStart == FinOpsFixtures.time("2026-10-03") }.reduce(0) { $0 + $1.requests }
        let monday = daily.rows.filter { $0.bucketStart == FinOpsFixtures.time("2026-10-05") }.reduce(0) { $0 + $1.requests }
        #expect(monday > 2 * saturday)
    }

    @Test func recordsArePricedAtThePriceInEffectWhenTheyStarted() {
        let (records, _) = Self.month
        let mini = records.filter { $0.deployment == "gpt-mini" && $0.status == 200 }
        let before = mini.filter { $0.startedAt < FinOpsFixtures.priceCut }
        let after = mini.filter { $0.startedAt >= FinOpsFixtures.priceCut }
        #expect(!before.isEmpty && !after.isEmpty)
        for record in before.prefix(50) {
            #expect(record.cost == FinOpsFixtures.price("0.15", "0.60", cached: "0.075").cost(of: record.usage))
        }
        for record in after.prefix(50) {
            #expect(record.cost == FinOpsFixtures.price("0.10", "0.40", cached: "0.05").cost(of: record.usage))
        }
    }

    @Test func capacityIsAllocatedByUseAndTheRestIsIdle() {
        let (_, rollups) = Self.month
        let period = FinOpsFixtures.october
        let report = CostReport(rollups: rollups, by: .tenant, period: period, capacities: FinOpsFixtures.capacities)
        // 744 hours × 2.40 = 1785.60, exactly.
        let capacityCost: Int64 = 1_785_600_000_000
        let allocated = report.rows.reduce(0) { $0 + $1.capacityNanos }
        let idle = report.rows.reduce(0) { $0 + $1.idleNanos }
        #expect(allocated > 0 && idle > 0)
        #expect(allocated + idle == capacityCost)
        #expect(report.rows.contains { $0.group == "idle:llama-local" && $0.idleNanos == idle })
        // Allocated capacity goes only to groups that used the local deployment, by their request-time.
        let allocation = CapacityAllocation(rollups: rollups, capacities: FinOpsFixtures.capacities, period: period)
        for (index, rollup) in rollups.enumerated() where rollup.deployment != "llama-local" {
            #expect(allocation.allocatedNanos[index] == 0)
        }
    }

    @Test func capacityHandComputed() {
        let hour = FinOpsFixtures.time("2026-10-05T10:00:00Z")
        let capacity = ["gpu": CapacityCost(rate: .hourly(Decimal(string: "3.60")!), slots: 1)]
        // One hour of capacity; tenant a used it 20 minutes, tenant b 10 minutes: half the hour idle.
        let rollups = [
            UsageRollup(bucketStart: hour, tenant: "a", deployment: "gpu", requests: 2, busyMicros: 1_200_000_000),
            UsageRollup(bucketStart: hour, tenant: "b", deployment: "gpu", requests: 1, busyMicros: 600_000_000),
        ]
        let period = ReportPeriod(start: hour, end: UnixMicros(hour.value + 3_600_000_000))
        let report = CostReport(rollups: rollups, by: .tenant, period: period, capacities: capacity)
        #expect(report.rows.first { $0.group == "a" }?.capacityNanos == 1_200_000_000)
        #expect(report.rows.first { $0.group == "b" }?.capacityNanos == 600_000_000)
        #expect(report.rows.first { $0.group == "idle:gpu" }?.idleNanos == 1_800_000_000)
    }

    @Test func largestRemainderSplitsExactly() {
        let parts = CapacityAllocation(
            rollups: [
                UsageRollup(bucketStart: UnixMicros(0), tenant: "a", deployment: "gpu", busyMicros: 1),
                UsageRollup(bucketStart: UnixMicros(0), tenant: "b", deployment: "gpu", busyMicros: 1),
                UsageRollup(bucketStart: UnixMicros(0), tenant: "c", deployment: "gpu", busyMicros: 1),
            ], capacities: ["gpu": CapacityCost(rate: .hourly(Decimal(string: "0.000000010")!), slots: 1)],
            period: ReportPeriod(start: UnixMicros(0), end: UnixMicros(3_600_000_000)))
        // 10 nanos × 3 µs / 1 h rounds to 0: nothing allocated, all idle — and never a negative share.
        #expect(parts.allocatedNanos.allSatisfy { $0 == 0 })
        #expect(parts.deployments["gpu"]?.idleNanos == 10)
    }

    @Test func unitEconomicsAndTrend() {
        let (records, rollups) = Self.month
        let secondHalf = ReportPeriod(start: FinOpsFixtures.time("2026-10-16"), end: FinOpsFixtures.time("2026-10-31"))
        let report = UnitEconomics(rollups: rollups, by: .tag("customer"), period: secondHalf)
        let row = report.rows.first { $0.group == "cust-1" }!
        let inPeriod = records.filter { $0.tags["customer"] == "cust-1" && secondHalf.contains($0.startedAt) }
        let cost = inPeriod.reduce(Int64(0)) { $0 + $1.cost.nanos }
        let tasks = inPeriod.filter { $0.tags["outcome"] == "success" }.count
        #expect(row.current.costNanos == cost)
        #expect(row.current.requests == Int64(inPeriod.count))
        #expect(row.current.tasks == Int64(tasks))
        #expect(row.current.perTaskNanos == (Decimal(cost) / Decimal(tasks)).roundedToInt64())
        #expect(row.previous.requests > 0)
        // The price cut of a third on 16 October shows as a drop in gpt-mini's cost per request.
        let byDeployment = UnitEconomics(rollups: rollups, by: .deployment, period: secondHalf)
        let mini = byDeployment.rows.first { $0.group == "gpt-mini" }!
        let change = Decimal(string: mini.perRequestChangePercent!)!
        #expect(change < -25 && change > -40)
    }
}
