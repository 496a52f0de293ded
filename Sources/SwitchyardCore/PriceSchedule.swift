/// A deployment's prices over time: each entry applies from its date until the next one, so
/// a price change never re-prices traffic recorded before it.
public struct PriceSchedule: Hashable, Sendable {
    public struct Entry: Hashable, Sendable {
        public var effectiveFrom: UnixMicros
        public var prices: TokenPrices

        public init(effectiveFrom: UnixMicros, prices: TokenPrices) {
            self.effectiveFrom = effectiveFrom
            self.prices = prices
        }
    }

    /// Oldest first; never empty.
    public private(set) var entries: [Entry]

    /// Entries in any order; the earliest applies to everything before it too (nothing is free by gap).
    public init(_ entries: [Entry]) {
        precondition(!entries.isEmpty, "a price schedule needs at least one entry")
        self.entries = entries.sorted { $0.effectiveFrom < $1.effectiveFrom }
    }

    public init(_ prices: TokenPrices) {
        self.entries = [Entry(effectiveFrom: UnixMicros(0), prices: prices)]
    }

    /// The prices in effect at `time`.
    public func prices(at time: UnixMicros) -> TokenPrices {
        var chosen = entries[0].prices
        for entry in entries where entry.effectiveFrom <= time { chosen = entry.prices }
        return chosen
    }

    /// The start of every price change inside `(start, end)`: the points where a period must be split to price it.
    public func changes(in start: UnixMicros, _ end: UnixMicros) -> [UnixMicros] {
        entries.map(\.effectiveFrom).filter { $0 > start && $0 < end }
    }
}
