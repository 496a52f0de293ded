import FinOps
import Foundation
import SwitchyardCore
import Testing

@Suite struct CommitmentAndConcentrationTests {
    static func day(_ day: Int) -> UnixMicros {
        UnixMicros(FinOpsFixtures.time("2026-11-01").value + Int64(day - 1) * 86_400_000_000)
    }

    /// November 2026 (30 days): $50 listed per day on days 1–10, at a 20% discount.
    static let rollups = (1...10).map { day in
        UsageRollup(
            bucketStart: Self.day(day), provider: "openai", requests: 100,
            usage: TokenUsage(inputTokens: 900_000, outputTokens: 100_000), costNanos: 50_000_000_000)
    }

    @Test func forecastShortfallAndOverageHandComputed() throws {
        let contract = Commitment(
            name: "openai-2026", provider: "openai", period: .month, termStart: FinOpsFixtures.time("2026-01-01"),
            termEnd: FinOpsFixtures.time("2027-01-01"), committedSpend: 1500, reservedTokens: 25_000_000,
            discountRate: Decimal(string: "0.2")!, overagePerMillion: 2)
        let status = try #require(CommitmentStatus(commitment: contract, rollups: Self.rollups, asOf: Self.day(11)))
        // To date: 10 × 50 × 0.8 = 400. Trend: the last 7 days, 280 → 40/day; 20 days left → 800.
        #expect(status.spendToDateNanos == 400_000_000_000)
        #expect(status.forecastSpendNanos == 1_200_000_000_000)
        #expect(status.shortfallNanos == 300_000_000_000)
        #expect(status.overageNanos == 0)
        // Tokens: 10M to date, 1M/day → 30M forecast; 5M above the 25M reserved at $2/M = $10.
        #expect(status.tokensToDate == 10_000_000)
        #expect(status.forecastTokens == 30_000_000)
        #expect(status.tokenOverageCostNanos == 10_000_000_000)
        #expect(status.forecastUtilization == Decimal(string: "0.8"))
        #expect(status.warnings.count == 1)
        #expect(status.warnings[0].contains("shortfall 300.000000000"))

        var small = contract
        small.committedSpend = 1000
        let over = try #require(CommitmentStatus(commitment: small, rollups: Self.rollups, asOf: Self.day(11)))
        #expect(over.overageNanos == 200_000_000_000)
        #expect(over.shortfallNanos == 0)
        #expect(over.warnings.first?.contains("exceeds") == true)
    }

    @Test func outsideTheTermThereIsNoStatus() {
        let contract = Commitment(
            name: "c", provider: "openai", termStart: FinOpsFixtures.time("2027-01-01"),
            termEnd: FinOpsFixtures.time("2028-01-01"), committedSpend: 10)
        #expect(CommitmentStatus(commitment: contract, rollups: Self.rollups, asOf: Self.day(11)) == nil)
    }

    @Test func herfindahlHirschmanIndexHandComputed() {
        let hour = FinOpsFixtures.time("2026-11-02T10:00:00Z")
        let rollups = [
            UsageRollup(bucketStart: hour, provider: "openai", model: "a", requests: 50, costNanos: 60),
            UsageRollup(bucketStart: hour, provider: "anthropic", model: "b", requests: 25, costNanos: 30),
            UsageRollup(bucketStart: hour, provider: "gpu", model: "c", requests: 25, costNanos: 10),
        ]
        let report = ConcentrationReport(
            rollups: rollups, period: ReportPeriod(start: hour, end: UnixMicros(hour.value + 3_600_000_000)),
            maxProviderShare: Decimal(string: "0.5")!,
            routes: [
                .init(name: "solo", targets: [("openai", true)]),
                .init(name: "pair", targets: [("openai", true), ("anthropic", false)]),
                .init(name: "healthy-pair", targets: [("openai", true), ("anthropic", true)]),
            ])
        // 60² + 30² + 10² = 4600 by cost; 50² + 25² + 25² = 3750 by requests.
        #expect(report.providerIndex.cost == 4600)
        #expect(report.providerIndex.requests == 3750)
        #expect(report.providers.map(\.name) == ["openai", "anthropic", "gpu"])
        #expect(report.providers[0].costShare == Decimal(string: "0.6"))
        #expect(report.warnings.count == 3)
        #expect(report.warnings[0].contains("provider 'openai' has 60% of spend"))
        #expect(report.warnings[1].contains("route 'solo' has no alternative outside provider 'openai'"))
        #expect(report.warnings[2].contains("route 'pair' has no healthy alternative"))

        // Self-hosted capacity is spend too: 100 more on gpu makes it 110 of 200.
        let withCapacity = ConcentrationReport(
            rollups: rollups, period: ReportPeriod(start: hour, end: UnixMicros(hour.value + 3_600_000_000)),
            maxProviderShare: 1, capacityCosts: [("gpu", "c", 100)])
        #expect(withCapacity.providers.map(\.name) == ["gpu", "openai", "anthropic"])
        #expect(withCapacity.providers[0].costShare == Decimal(string: "0.55"))
        #expect(withCapacity.providers[0].requests == 25)
        // 55² + 30² + 15² = 4150.
        #expect(withCapacity.providerIndex.cost == 4150)
    }
}
