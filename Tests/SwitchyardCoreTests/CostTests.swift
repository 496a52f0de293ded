import Foundation
import Testing

@testable import SwitchyardCore

@Suite struct CostTests {
    let gemma = TokenPrices(
        inputPerMillion: Decimal(string: "0.02")!, outputPerMillion: Decimal(string: "0.04")!,
        cachedInputPerMillion: Decimal(string: "0.01")!, currency: "USD")

    @Test func subMicroCostsAreExactInNanoUnits() {
        // 10 × 0.02 + 8 × 0.04 micro-dollars = 0.52 micro-dollars = 520 nano-dollars.
        let cost = gemma.cost(of: TokenUsage(inputTokens: 10, outputTokens: 8))
        #expect(cost == Money(nanos: 520, currency: "USD"))
        #expect(cost.decimalString == "0.000000520")
    }

    @Test func cachedTokensArePricedOnceAtTheCachedRate() {
        // OpenAI semantics: 1000 prompt tokens of which 600 cached → 400 × 0.02 + 600 × 0.01 + 0 output.
        let cost = gemma.cost(of: TokenUsage(inputTokens: 1000, outputTokens: 0, cachedInputTokens: 600))
        #expect(cost.nanos == 400 * 20 + 600 * 10)
    }

    @Test func cachedPriceDefaultsToTheInputPrice() {
        let prices = TokenPrices(inputPerMillion: 3, outputPerMillion: 15)
        let cost = prices.cost(of: TokenUsage(inputTokens: 1000, outputTokens: 100, cachedInputTokens: 1000))
        #expect(cost.nanos == 1000 * 3000 + 100 * 15000)
    }

    @Test func largeVolumesStayExact() {
        // 1.25 billion tokens at $0.15/M in, 300 million at $0.60/M out: $187.5 + $180.
        let prices = TokenPrices(inputPerMillion: Decimal(string: "0.15")!, outputPerMillion: Decimal(string: "0.60")!)
        let cost = prices.cost(of: TokenUsage(inputTokens: 1_250_000_000, outputTokens: 300_000_000))
        #expect(cost.nanos == 367_500_000_000)
        #expect(cost.decimalString == "367.500000000")
    }

    @Test func roundsHalfToEvenOnceAtTheEnd() {
        // 0.0375 per million = 37.5 nano per token: 1 token → 37.5 → 38 (even), 3 → 112.5 → 112.
        let prices = TokenPrices(inputPerMillion: Decimal(string: "0.0375")!, outputPerMillion: 0)
        #expect(prices.cost(of: TokenUsage(inputTokens: 1)).nanos == 38)
        #expect(prices.cost(of: TokenUsage(inputTokens: 3)).nanos == 112)
        #expect(prices.cost(of: TokenUsage(inputTokens: 2)).nanos == 75)
    }

    @Test func moneyFormatsNegativeAndWholeAmounts() {
        #expect(Money.format(nanos: 0) == "0.000000000")
        #expect(Money.format(nanos: 1_000_000_000) == "1.000000000")
        #expect(Money.format(nanos: -1_500) == "-0.000001500")
    }

    @Test func exactLiteralParsingRejectsWhatDecimalStringAccepts() {
        #expect(Decimal(exactLiteral: "0.02") == Decimal(string: "0.02"))
        #expect(Decimal(exactLiteral: "15") == 15)
        #expect(Decimal(exactLiteral: "1abc") == nil)
        #expect(Decimal(exactLiteral: "-1") == nil)
        #expect(Decimal(exactLiteral: "1e3") == nil)
        #expect(Decimal(exactLiteral: "") == nil)
        #expect(Decimal(exactLiteral: "1.2.3") == nil)
    }
}

@Suite struct TimestampTests {
    @Test func rfc3339MatchesFoundationOverCenturies() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let seconds = Int64.random(in: -2_208_988_800...4_102_444_800, using: &random)  // 1900…2100
            let time = UnixMicros(seconds * 1_000_000 + Int64.random(in: 0..<1_000_000, using: &random))
            #expect(time.rfc3339Seconds == formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds))))
        }
        #expect(UnixMicros(0).rfc3339Seconds == "1970-01-01T00:00:00Z")
        #expect(UnixMicros(dateOrTimestamp: "2028-02-29T23:59:59Z")!.rfc3339Seconds == "2028-02-29T23:59:59Z")
    }
}
