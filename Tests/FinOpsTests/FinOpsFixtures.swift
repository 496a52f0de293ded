import FinOps
import Foundation
import SwitchyardCore

/// A month of synthetic traffic on three deployments, one with a mid-month price cut and one
/// self-hosted with hourly capacity cost.
enum FinOpsFixtures {
    static let october = ReportPeriod(start: time("2026-10-01"), end: time("2026-11-01"))
    static let priceCut = time("2026-10-16")

    static func time(_ text: String) -> UnixMicros { UnixMicros(dateOrTimestamp: text)! }

    static func price(_ input: String, _ output: String, cached: String? = nil, cacheWrite: String? = nil) -> TokenPrices {
        TokenPrices(
            inputPerMillion: Decimal(string: input)!, outputPerMillion: Decimal(string: output)!,
            cachedInputPerMillion: cached.flatMap { Decimal(string: $0) },
            cacheWritePerMillion: cacheWrite.flatMap { Decimal(string: $0) })
    }

    static let miniPrices = PriceSchedule([
        .init(effectiveFrom: UnixMicros(0), prices: price("0.15", "0.60", cached: "0.075")),
        .init(effectiveFrom: priceCut, prices: price("0.10", "0.40", cached: "0.05")),
    ])
    static let haikuPrices = PriceSchedule(price("0.80", "4.00", cached: "0.08", cacheWrite: "1.00"))
    static let localPrices = PriceSchedule(.free())

    static let targets = [
        LedgerGenerator.Target(
            route: "chat", deployment: "gpt-mini", provider: "openai", model: "gpt-4o-mini", prices: miniPrices),
        LedgerGenerator.Target(
            route: "chat", deployment: "claude-haiku", provider: "anthropic", model: "claude-haiku", prices: haikuPrices),
        LedgerGenerator.Target(route: "local", deployment: "llama-local", provider: "gpu", model: "llama", prices: localPrices),
    ]

    static let capacities = ["llama-local": CapacityCost(rate: .hourly(Decimal(string: "2.40")!), slots: 4)]

    static let context = FinOpsContext(
        deployments: Dictionary(
            uniqueKeysWithValues: targets.map {
                ($0.deployment, Simulation.PricedDeployment(provider: $0.provider, model: $0.model, prices: $0.prices))
            }),
        capacities: capacities)

    /// The records and their rollups (aggregated the way the store aggregates them).
    static func month(records count: Int, seed: UInt64 = 7) -> (records: [UsageRecord], rollups: [UsageRollup]) {
        var records: [UsageRecord] = []
        LedgerGenerator(targets: targets, seed: seed).generate(count: count, from: october.start, to: october.end) {
            records += $0
        }
        return (records, rollups(of: records))
    }

    static func rollups(of records: [UsageRecord]) -> [UsageRollup] {
        var byKey: [UsageRollup.Key: UsageRollup] = [:]
        for record in records {
            let rollup = UsageRollup(record)
            byKey[rollup.key, default: rollup.emptied].absorb(rollup)
        }
        return Array(byKey.values)
    }
}
