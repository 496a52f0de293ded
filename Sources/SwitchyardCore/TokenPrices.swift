import Foundation

/// A deployment's list prices, per million tokens, kept as exact decimals.
public struct TokenPrices: Hashable, Sendable {
    public var inputPerMillion: Decimal
    public var outputPerMillion: Decimal
    /// Price of input tokens served from the provider's prompt cache; the input price when unset.
    public var cachedInputPerMillion: Decimal?
    public var currency: String

    public init(
        inputPerMillion: Decimal, outputPerMillion: Decimal, cachedInputPerMillion: Decimal? = nil, currency: String = "USD"
    ) {
        self.inputPerMillion = inputPerMillion
        self.outputPerMillion = outputPerMillion
        self.cachedInputPerMillion = cachedInputPerMillion
        self.currency = currency
    }

    public static func free(_ currency: String = "USD") -> TokenPrices {
        TokenPrices(inputPerMillion: 0, outputPerMillion: 0, currency: currency)
    }

    /// The exact cost of `usage`, rounded once (half to even) to a whole nano-unit.
    ///
    /// A price per million units is the same number as a price per unit in micro-units, so one
    /// token at `p` per million costs `p × 1000` nano-units.
    public func cost(of usage: TokenUsage) -> Money {
        let cachedPrice = cachedInputPerMillion ?? inputPerMillion
        let millionths =
            Decimal(usage.uncachedInputTokens) * inputPerMillion
            + Decimal(usage.cachedInputTokens) * cachedPrice
            + Decimal(usage.outputTokens) * outputPerMillion
        let nanos = (millionths * 1000).roundedToInt64() ?? Int64.max
        return Money(nanos: nanos, currency: currency)
    }
}
