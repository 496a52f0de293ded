import Foundation

/// A point in time as integer microseconds since the Unix epoch: the form stored in the
/// ledger, identical on SQLite and PostgreSQL and exact to compare.
public struct UnixMicros: Hashable, Comparable, Sendable, Codable {
    public var value: Int64

    public init(_ value: Int64) { self.value = value }

    public init(_ date: Date) {
        self.value = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    public static func now() -> UnixMicros { UnixMicros(Date()) }

    public var date: Date { Date(timeIntervalSince1970: Double(value) / 1_000_000) }

    public static func < (lhs: UnixMicros, rhs: UnixMicros) -> Bool { lhs.value < rhs.value }

    public func adding(seconds: Int64) -> UnixMicros { UnixMicros(value + seconds * 1_000_000) }

    public var iso8601: String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    public init(from decoder: Decoder) throws {
        value = try decoder.singleValueContainer().decode(Int64.self)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

extension UnixMicros {
    /// An absolute time written as a date (`2026-11-01`, midnight UTC) or an RFC 3339 timestamp.
    public init?(dateOrTimestamp text: String) {
        let withTime = ISO8601DateFormatter()
        withTime.formatOptions = [.withInternetDateTime]
        if let date = withTime.date(from: text) {
            self.init(date)
            return
        }
        withTime.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = withTime.date(from: text) {
            self.init(date)
            return
        }
        let dateOnly = ISO8601DateFormatter()
        dateOnly.formatOptions = [.withFullDate]
        guard text.count == 10, let date = dateOnly.date(from: text) else { return nil }
        self.init(date)
    }
}

extension UnixMicros {
    /// RFC 3339 in UTC to the second (`2026-11-01T00:00:00Z`), without a formatter: exports
    /// write millions of these.
    public var rfc3339Seconds: String {
        let seconds = value >= 0 ? value / 1_000_000 : (value - 999_999) / 1_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Howard Hinnant's civil_from_days.
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ number: Int64) -> String { number < 10 ? "0\(number)" : "\(number)" }
        return
            "\(year)-\(two(month))-\(two(day))T\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60))Z"
    }
}
