import Foundation

/// What self-hosted capacity (your own GPUs running vLLM or llama.cpp) costs whether or not it
/// is used. Its cost is allocated to whoever used it; what nobody used is reported as idle.
public struct CapacityCost: Hashable, Sendable {
    public enum Rate: Hashable, Sendable {
        /// Currency units per hour (e.g. GPU-hours × an hourly rate).
        case hourly(Decimal)
        /// A fixed amount per calendar month (UTC), prorated by the time covered.
        case monthly(Decimal)
    }

    public var rate: Rate
    /// Requests the capacity serves at once; used time is measured in request-seconds against
    /// `slots` × wall-clock seconds.
    public var slots: Int
    public var currency: String

    public init(rate: Rate, slots: Int = 1, currency: String = "USD") {
        self.rate = rate
        self.slots = slots
        self.currency = currency
    }

    /// The exact cost of holding the capacity over `[start, end)`, rounded once to a nano-unit.
    public func cost(from start: UnixMicros, to end: UnixMicros) -> Money {
        guard end > start else { return .zero(currency) }
        let units: Decimal
        switch rate {
        case .hourly(let perHour):
            units = perHour * Decimal(end.value - start.value) / Decimal(3_600_000_000)
        case .monthly(let perMonth):
            var total = Decimal(0)
            var cursor = start
            while cursor < end {
                let month = CalendarPeriod.month(containing: cursor)
                let sliceEnd = min(end, month.end)
                total += perMonth * Decimal(sliceEnd.value - cursor.value) / Decimal(month.end.value - month.start.value)
                cursor = sliceEnd
            }
            units = total
        }
        return Money(nanos: (units * Decimal(Money.nanosPerUnit)).roundedToInt64() ?? .max, currency: currency)
    }
}

/// Calendar periods in UTC, as half-open `[start, end)` intervals.
public struct CalendarPeriod: Hashable, Sendable {
    public var start: UnixMicros
    public var end: UnixMicros

    public init(start: UnixMicros, end: UnixMicros) {
        self.start = start
        self.end = end
    }

    static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    public static func month(containing time: UnixMicros) -> CalendarPeriod {
        let components = utc.dateComponents([.year, .month], from: time.date)
        let start = utc.date(from: components)!
        let end = utc.date(byAdding: .month, value: 1, to: start)!
        return CalendarPeriod(start: UnixMicros(start), end: UnixMicros(end))
    }

    public static func day(containing time: UnixMicros) -> CalendarPeriod {
        let day: Int64 = 86_400_000_000
        let start = time.value - ((time.value % day) + day) % day
        return CalendarPeriod(start: UnixMicros(start), end: UnixMicros(start + day))
    }

    public static func hour(containing time: UnixMicros) -> CalendarPeriod {
        let hour: Int64 = 3_600_000_000
        let start = time.value - ((time.value % hour) + hour) % hour
        return CalendarPeriod(start: UnixMicros(start), end: UnixMicros(start + hour))
    }

    public var duration: Int64 { end.value - start.value }
}
