import Foundation

/// A deployment's list prices, per million tokens (and per request), kept as exact decimals.
public struct TokenPrices: Hashable, Sendable {
    public var inputPerMillion: Decimal { didSet { rates = Rates(self) } }
    public var outputPerMillion: Decimal { didSet { rates = Rates(self) } }
    /// Price of input tokens served from the provider's prompt cache; the input price when unset.
    public var cachedInputPerMillion: Decimal? { didSet { rates = Rates(self) } }
    /// Price of input tokens written to the prompt cache; the input price when unset.
    public var cacheWritePerMillion: Decimal? { didSet { rates = Rates(self) } }
    /// Price of reasoning (thinking) output tokens; the output price when unset.
    public var reasoningPerMillion: Decimal? { didSet { rates = Rates(self) } }
    /// A fixed fee per request, in currency units (e.g. a search or a tool call billed per use).
    public var perRequest: Decimal { didSet { rates = Rates(self) } }
    public var currency: String
    /// Whole nano-units per token, when every price is one: then a cost is integer arithmetic,
    /// the common case on the request path. Nil when some price has a fraction of a nano-unit.
    private var rates: Rates?

    struct Rates: Hashable, Sendable {
        var perToken: [Int64]
        var perRequest: Int64

        init?(_ prices: TokenPrices) {
            func nanos(_ value: Decimal) -> Int64? {
                guard let whole = value.roundedToInt64(), Decimal(whole) == value, whole < 1 << 40 else { return nil }
                return whole
            }
            var perToken: [Int64] = []
            for component in PriceComponent.tokenComponents {
                guard let rate = nanos(prices.perMillion(component) * 1000) else { return nil }
                perToken.append(rate)
            }
            guard let perRequest = nanos(prices.perRequest * Decimal(Money.nanosPerUnit)) else { return nil }
            self.perToken = perToken
            self.perRequest = perRequest
        }
    }

    public init(
        inputPerMillion: Decimal, outputPerMillion: Decimal, cachedInputPerMillion: Decimal? = nil,
        cacheWritePerMillion: Decimal? = nil, reasoningPerMillion: Decimal? = nil, perRequest: Decimal = 0,
        currency: String = "USD"
    ) {
        self.inputPerMillion = inputPerMillion
        self.outputPerMillion = outputPerMillion
        self.cachedInputPerMillion = cachedInputPerMillion
        self.cacheWritePerMillion = cacheWritePerMillion
        self.reasoningPerMillion = reasoningPerMillion
        self.perRequest = perRequest
        self.currency = currency
        self.rates = Rates(self)
    }

    public static func free(_ currency: String = "USD") -> TokenPrices {
        TokenPrices(inputPerMillion: 0, outputPerMillion: 0, currency: currency)
    }

    /// The price per million tokens of one component (per request for `.request`), defaults applied.
    public func perMillion(_ component: PriceComponent) -> Decimal {
        switch component {
        case .input: inputPerMillion
        case .cachedInput: cachedInputPerMillion ?? inputPerMillion
        case .cacheWrite: cacheWritePerMillion ?? inputPerMillion
        case .output: outputPerMillion
        case .reasoning: reasoningPerMillion ?? outputPerMillion
        case .request: perRequest
        }
    }

    /// The exact cost of one request's `usage`, rounded once (half to even) to a whole nano-unit.
    public func cost(of usage: TokenUsage) -> Money { cost(of: usage, requests: 1) }

    /// The exact cost of `usage` summed over `requests` requests, rounded once to a whole nano-unit.
    ///
    /// A price per million units is the same number as a price per unit in micro-units, so one
    /// token at `p` per million costs `p × 1000` nano-units. When every rate is a whole number of
    /// nano-units the cost of a sum equals the sum of the costs, so re-pricing aggregated usage
    /// reproduces per-request costs exactly.
    public func cost(of usage: TokenUsage, requests: Int64) -> Money {
        if let rates {
            var total: Int64 = 0
            var overflow = false
            for (index, component) in PriceComponent.tokenComponents.enumerated() {
                let (product, productOverflow) = Int64(component.quantity(in: usage)).multipliedReportingOverflow(
                    by: rates.perToken[index])
                let (sum, sumOverflow) = total.addingReportingOverflow(product)
                overflow = overflow || productOverflow || sumOverflow
                total = sum
            }
            let (fees, feeOverflow) = requests.multipliedReportingOverflow(by: rates.perRequest)
            let (sum, sumOverflow) = total.addingReportingOverflow(fees)
            if !overflow && !feeOverflow && !sumOverflow { return Money(nanos: sum, currency: currency) }
        }
        var millionths = Decimal(requests) * perRequest * 1_000_000
        for component in PriceComponent.tokenComponents {
            millionths += Decimal(component.quantity(in: usage)) * perMillion(component)
        }
        let nanos = (millionths * 1000).roundedToInt64() ?? Int64.max
        return Money(nanos: nanos, currency: currency)
    }
}

/// The parts of a request a price list charges for, each with its own rate.
public enum PriceComponent: String, Sendable, Hashable, CaseIterable {
    case input
    case cachedInput = "cached_input"
    case cacheWrite = "cache_write"
    case output
    case reasoning
    case request

    public static let tokenComponents: [PriceComponent] = [.input, .cachedInput, .cacheWrite, .output, .reasoning]

    /// Tokens of this component in `usage`; the components partition the usage, nothing is counted twice.
    public func quantity(in usage: TokenUsage) -> Int {
        switch self {
        case .input: usage.uncachedInputTokens
        case .cachedInput: usage.cachedInputTokens
        case .cacheWrite: usage.cacheWriteInputTokens
        case .output: usage.nonReasoningOutputTokens
        case .reasoning: usage.reasoningTokens
        case .request: 0
        }
    }
}
