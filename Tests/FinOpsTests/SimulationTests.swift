import FinOps
import Foundation
import SwitchyardCore
import Testing

@Suite struct SimulationTests {
    @Test func samePricesReproduceTheLedgerExactly() {
        let (records, rollups) = FinOpsFixtures.month(records: 20_000, seed: 11)
        let simulation = Simulation(
            rollups: rollups, period: FinOpsFixtures.october, deployments: FinOpsFixtures.context.deployments,
            scenario: Scenario())
        let actual = records.reduce(Int64(0)) { $0 + $1.cost.nanos }
        #expect(simulation.total.count == 1)
        #expect(simulation.total[0].actualNanos == actual)
        #expect(simulation.total[0].scenarioNanos == actual)
        #expect(simulation.byTenant.allSatisfy { $0.differenceNanos == 0 })
        #expect(simulation.byRoute.allSatisfy { $0.differenceNanos == 0 })
    }

    @Test func movingARouteToAOneDollarModelHandComputed() {
        let hour = FinOpsFixtures.time("2026-10-05T10:00:00Z")
        let usage = TokenUsage(inputTokens: 2_000_000, outputTokens: 1_000_000)
        let haiku = FinOpsFixtures.haikuPrices.prices(at: hour).cost(of: usage, requests: 10).nanos  // 1.6 + 4 = 5.60
        let rollups = [
            UsageRollup(
                bucketStart: hour, tenant: "acme", route: "chat", deployment: "claude-haiku", provider: "anthropic",
                model: "claude-haiku", requests: 10, usage: usage, costNanos: haiku)
        ]
        let scenario = Scenario(
            deployments: [
                .init(
                    name: "cheap", provider: "newco", model: "cheap-1",
                    prices: PriceSchedule(FinOpsFixtures.price("1", "1")))
            ], moves: [.init(route: "chat", to: "cheap", share: Decimal(string: "0.5")!)],
            discounts: ["anthropic": Decimal(string: "0.1")!])
        let simulation = Simulation(
            rollups: rollups, period: FinOpsFixtures.october, deployments: FinOpsFixtures.context.deployments,
            scenario: scenario)
        // Half at $1/M for 3M tokens = 1.50; half on haiku at 5.60 × 0.9 / 2 = 2.52. Total 4.02.
        #expect(haiku == 5_600_000_000)
        #expect(simulation.byTenant.first?.scenarioNanos == 4_020_000_000)
        #expect(simulation.byRoute.first?.differenceNanos == 4_020_000_000 - 5_600_000_000)
        #expect(simulation.assumptions.contains { $0.contains("token counts are kept") })
    }
}
