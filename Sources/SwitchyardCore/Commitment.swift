import Foundation

/// A contract with a provider: spend (or tokens) committed per period at a discount, whatever is
/// actually used. Unused commitment is paid anyway ("use it or lose it"); use above it is overage.
public struct Commitment: Hashable, Sendable {
    public enum Period: String, Hashable, Sendable, CaseIterable {
        /// The commitment renews every calendar month (UTC) of the term.
        case month
        /// One commitment for the whole term.
        case term
    }

    public var name: String
    public var provider: String
    public var period: Period
    public var termStart: UnixMicros
    public var termEnd: UnixMicros
    /// Spend committed per period, after the discount, in `currency` units.
    public var committedSpend: Decimal?
    /// Tokens (input + output) reserved per period.
    public var reservedTokens: Int64?
    /// Discount on list prices, 0...1: what the contract actually charges is list × (1 − rate).
    public var discountRate: Decimal
    /// Price per million tokens above the reservation, when the contract names one.
    public var overagePerMillion: Decimal?
    /// Warn when the forecast uses less than this fraction of the commitment (e.g. 0.9).
    public var warnBelow: Decimal
    public var currency: String

    public init(
        name: String, provider: String, period: Period = .month, termStart: UnixMicros, termEnd: UnixMicros,
        committedSpend: Decimal? = nil, reservedTokens: Int64? = nil, discountRate: Decimal = 0,
        overagePerMillion: Decimal? = nil, warnBelow: Decimal = Decimal(string: "0.9")!, currency: String = "USD"
    ) {
        self.name = name
        self.provider = provider
        self.period = period
        self.termStart = termStart
        self.termEnd = termEnd
        self.committedSpend = committedSpend
        self.reservedTokens = reservedTokens
        self.discountRate = discountRate
        self.overagePerMillion = overagePerMillion
        self.warnBelow = warnBelow
        self.currency = currency
    }

    /// The commitment period containing `time`, clipped to the term; nil outside the term.
    public func period(containing time: UnixMicros) -> CalendarPeriod? {
        guard time >= termStart, time < termEnd else { return nil }
        switch period {
        case .term: return CalendarPeriod(start: termStart, end: termEnd)
        case .month:
            let month = CalendarPeriod.month(containing: time)
            return CalendarPeriod(start: max(month.start, termStart), end: min(month.end, termEnd))
        }
    }

    /// What the contract charges for traffic listed at `list`.
    public func contracted(_ list: Money) -> Money {
        guard discountRate > 0 else { return list }
        let nanos = (Decimal(list.nanos) * (1 - discountRate)).roundedToInt64() ?? list.nanos
        return Money(nanos: nanos, currency: list.currency)
    }
}
