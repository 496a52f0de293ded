import Foundation

/// A deployment's list prices, per million tokens, kept as exact decimals.
public struct TokenPrices: Hashable, Sendable {
    public var inputPerMillion: Decimal { didSet { rates = Rates(self) } }
    public var outputPerMillion: Decimal { didSet { rates = Rates(self) } }
    /// Price of input tokens served from the provider's prompt cache; the input price when unset.
    public var cachedInputPerMillion: Decimal? { didSet { rates = Rates(self) } }
    public var currency: String
    /// Whole nano-units per token, when every price is one: then a cost is integer arithmetic,
    /// the common case on the request path. Nil when some price has a fraction of a nano-unit.
    private var rates: Rates?

    struct Rates: Hashable, Sendable {
        var input: Int64
        var cachedInput: Int64
        var output: Int64

        init?(_ prices: TokenPrices) {
            func nanos(_ perMillion: Decimal) -> Int64? {
                let value = perMillion * 1000
                guard let whole = value.roundedToInt64(), Decimal(whole) == value, whole < 1 << 40 else { return nil }
                return whole
            }
            guard let input = nanos(prices.inputPerMillion), let output = nanos(prices.outputPerMillion),
                let cached = nanos(prices.cachedInputPerMillion ?? prices.inputPerMillion)
            else { return nil }
            self.input = input
            self.cachedInput = cached
            self.output = output
        }
    }

    public init(
        inputPerMillion: Decimal, outputPerMillion: Decimal, cachedInputPerMillion: Decimal? = nil, currency: String = "USD"
    ) {
        self.inputPerMillion = inputPerMillion
        self.outputPerMillion = outputPerMillion
        self.cachedInputPerMillion = cachedInputPerMillion
        self.currency = currency
        self.rates = Rates(self)
    }

    public static func free(_ currency: String = "USD") -> TokenPrices {
        TokenPrices(inputPerMillion: 0, outputPerMillion: 0, currency: currency)
    }

    /// The exact cost of `usage`, rounded once (half to even) to a whole nano-unit.
    ///
    /// A price per million units is the same number as a price per unit in micro-units, so one
    /// token at `p` per million costs `p × 1000` nano-units.
    public func cost(of usage: TokenUsage) -> Money {
        if let rates {
            let (a, overflowA) = Int64(usage.uncachedInputTokens).multipliedReportingOverflow(by: rates.input)
            let (b, overflowB) = Int64(usage.cachedInputTokens).multipliedReportingOverflow(by: rates.cachedInput)
            let (c, overflowC) = Int64(usage.outputTokens).multipliedReportingOverflow(by: rates.output)
            if !overflowA && !overflowB && !overflowC, a <= Int64.max - b - c {
                return Money(nanos: a + b + c, currency: currency)
            }
        }
        let cachedPrice = cachedInputPerMillion ?? inputPerMillion
        let millionths =
            Decimal(usage.uncachedInputTokens) * inputPerMillion
            + Decimal(usage.cachedInputTokens) * cachedPrice
            + Decimal(usage.outputTokens) * outputPerMillion
        let nanos = (millionths * 1000).roundedToInt64() ?? Int64.max
        return Money(nanos: nanos, currency: currency)
    }
}
