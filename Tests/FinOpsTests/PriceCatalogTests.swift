import FinOps
import Foundation
import SwitchyardConfig
import SwitchyardCore
import Testing

@Suite struct PriceCatalogTests {
    @Test func liteLLMFileIsReadExactlyAndSkipsAreExplained() throws {
        let file = """
            {"sample_spec": {"input_cost_per_token": 0},
             "gpt-4o-mini": {"input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07,
                             "cache_read_input_token_cost": 7.5e-08, "max_input_tokens": 128000, "mode": "chat",
                             "supports_function_calling": true},
             "claude-x": {"input_cost_per_token": 0.000003, "output_cost_per_token": 0.000015,
                          "cache_creation_input_token_cost": 3.75e-06, "output_cost_per_reasoning_token": 1.5e-05},
             "dall-e-3": {"input_cost_per_pixel": 1e-08, "mode": "image_generation"},
             "broken": {"input_cost_per_token": "free", "mode": "chat"},
             "nothing": {"mode": "chat"}}
            """
        let result = try LiteLLMPriceFile.parse(Array(file.utf8), effectiveFrom: UnixMicros(0), source: "t")
        let mini = try #require(result.mapped.first { $0.model == "gpt-4o-mini" })
        #expect(mini.prices.inputPerMillion == Decimal(string: "0.15"))
        #expect(mini.prices.outputPerMillion == Decimal(string: "0.6"))
        #expect(mini.prices.cachedInputPerMillion == Decimal(string: "0.075"))
        #expect(mini.contextWindow == 128_000)
        let claude = try #require(result.mapped.first { $0.model == "claude-x" })
        #expect(claude.prices.cacheWritePerMillion == Decimal(string: "3.75"))
        #expect(claude.prices.reasoningPerMillion == 15)
        #expect(Set(result.skipped.map(\.model)) == ["dall-e-3", "broken", "nothing"])
        #expect(result.skipped.first { $0.model == "dall-e-3" }?.reason.contains("image_generation") == true)
        #expect(throws: (any Error).self) {
            try LiteLLMPriceFile.parse(Array("[1]".utf8), effectiveFrom: UnixMicros(0), source: "t")
        }
    }

    @Test func cacheWritesAndReasoningArePricedAtTheirOwnRates() {
        let prices = TokenPrices(
            inputPerMillion: 3, outputPerMillion: 15, cachedInputPerMillion: Decimal(string: "0.30")!,
            cacheWritePerMillion: Decimal(string: "3.75")!, reasoningPerMillion: 20, perRequest: Decimal(string: "0.001")!)
        // 1000 input of which 200 cache reads and 300 cache writes; 400 output of which 100 reasoning.
        let usage = TokenUsage(
            inputTokens: 1000, outputTokens: 400, cachedInputTokens: 200, cacheWriteInputTokens: 300, reasoningTokens: 100)
        // 500×3000 + 200×300 + 300×3750 + 300×15000 + 100×20000 + 1_000_000 nanos.
        #expect(prices.cost(of: usage).nanos == 1_500_000 + 60_000 + 1_125_000 + 4_500_000 + 2_000_000 + 1_000_000)
        // A fraction of a nano-unit per token falls back to exact decimal arithmetic.
        let fractional = TokenPrices(inputPerMillion: Decimal(string: "0.0375")!, outputPerMillion: 0)
        #expect(fractional.cost(of: TokenUsage(inputTokens: 3)).nanos == 112)  // 112.5 → half to even
    }

    @Test func datedPricesAndScenarioFilesAreValidated() throws {
        let yaml = """
            providers: [{name: p, kind: openai, base_url: "http://127.0.0.1:1/v1"}]
            deployments:
              - name: d
                provider: p
                model: m
                prices:
                  - {input_per_mtok: 1, output_per_mtok: 2}
                  - {effective_from: "2026-11-15", input_per_mtok: "0.5", output_per_mtok: 1, reasoning_per_mtok: 4}
                capacity: {cost_per_month: 1500, slots: 2}
            commitments:
              - {name: c, provider: p, start: 2026-01-01, end: 2027-01-01, committed_spend: 100, discount_rate: 0.1}
            """
        let configuration = try ConfigurationLoader.parse(yaml, file: "t.yaml")
        let schedule = configuration.deployments[0].priceSchedule
        #expect(schedule.prices(at: UnixMicros(dateOrTimestamp: "2026-11-14")!).inputPerMillion == 1)
        #expect(schedule.prices(at: UnixMicros(dateOrTimestamp: "2026-11-15")!).inputPerMillion == Decimal(string: "0.5"))
        #expect(configuration.deployments[0].capacity?.slots == 2)
        #expect(configuration.commitments[0].discountRate == Decimal(string: "0.1"))
        // November has 30 days: a 1500/month capacity costs 50 a day.
        let day = configuration.deployments[0].capacity!.cost(
            from: UnixMicros(dateOrTimestamp: "2026-11-03")!, to: UnixMicros(dateOrTimestamp: "2026-11-04")!)
        #expect(day.nanos == 50_000_000_000)

        let misaligned = yaml.replacingOccurrences(of: "\"2026-11-15\"", with: "\"2026-11-15T10:30:00Z\"")
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse(misaligned, file: "t.yaml") }
        let unknownProvider = yaml.replacingOccurrences(of: "{name: c, provider: p", with: "{name: c, provider: q")
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse(unknownProvider, file: "t.yaml") }

        let scenario = try ScenarioLoader.parse(
            """
            deployments:
              - {name: cheap, provider: newco, model: cheap-1, price: {input_per_mtok: 1, output_per_mtok: 1}}
            prices:
              m: {input_per_mtok: "0.2", output_per_mtok: "0.8"}
            moves:
              - {route: chat, from: d, to: cheap, share: 0.25}
            discounts: {p: 0.1}
            """, file: "s.yaml")
        #expect(scenario.moves == [Scenario.Move(route: "chat", from: "d", to: "cheap", share: Decimal(string: "0.25")!)])
        #expect(scenario.prices["m"]?.prices(at: UnixMicros(0)).outputPerMillion == Decimal(string: "0.8"))
        #expect(throws: ConfigurationError.self) {
            try ScenarioLoader.parse("moves: [{route: chat, to: x, share: 1.5}]", file: "s.yaml")
        }
    }
}
