import Foundation

/// A spending limit of one scope over a period.
public struct Budget: Hashable, Sendable {
    public enum Period: Hashable, Sendable {
        /// Calendar days and months, UTC.
        case day
        case month
        /// One fixed window, e.g. a project's trial.
        case window(start: UnixMicros, end: UnixMicros)

        /// The period containing `time`, or nil when a fixed window does not contain it.
        public func containing(_ time: UnixMicros) -> CalendarPeriod? {
            switch self {
            case .day: CalendarPeriod.day(containing: time)
            case .month: CalendarPeriod.month(containing: time)
            case .window(let start, let end): start <= time && time < end ? CalendarPeriod(start: start, end: end) : nil
            }
        }
    }

    /// What a request whose cost outgrows its reservation does when the budget has no more room.
    public enum Overrun: String, Hashable, Sendable {
        /// It finishes (the budget may pass its limit by that request's excess).
        case finish
        /// A stream is ended at its next chunk, with an error event; the record says so.
        case cut
    }

    public var name: String
    public var scope: GovernanceScope
    public var period: Period
    public var limit: Money
    /// Fractions of the limit (e.g. 0.5, 0.8) whose crossing is announced once per period.
    public var alertThresholds: [Decimal]
    public var onExceed: Overrun

    public init(
        name: String, scope: GovernanceScope, period: Period, limit: Money, alertThresholds: [Decimal] = [],
        onExceed: Overrun = .finish
    ) {
        self.name = name
        self.scope = scope
        self.period = period
        self.limit = limit
        self.alertThresholds = alertThresholds.sorted()
        self.onExceed = onExceed
    }

    /// The threshold amounts in nano-units, rounded down so an alert never comes late.
    public var thresholdNanos: [(fraction: Decimal, nanos: Int64)] {
        alertThresholds.map { fraction in
            let amount = Decimal(limit.nanos) * fraction
            var rounded = Decimal()
            var source = amount
            NSDecimalRound(&rounded, &source, 0, .down)
            return (fraction, (rounded as NSDecimalNumber).int64Value)
        }
    }
}
