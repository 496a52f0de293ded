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
