import Foundation

/// An exact amount of money, as an integer count of nano-units (10⁻⁹) of one currency.
///
/// Nano rather than micro: a self-hosted model priced at 0.02 per million tokens costs
/// 0.02 micro-units per token, so a micro-unit ledger would round most requests to zero.
public struct Money: Hashable, Sendable, Codable {
    public static let nanosPerUnit: Int64 = 1_000_000_000

    public var nanos: Int64
    public var currency: String

    public init(nanos: Int64, currency: String) {
        self.nanos = nanos
        self.currency = currency
    }

    public static func zero(_ currency: String) -> Money { Money(nanos: 0, currency: currency) }

    /// The amount as an exact decimal string in currency units, e.g. `0.000000840`.
    public var decimalString: String { Money.format(nanos: nanos) }

    public static func format(nanos: Int64) -> String {
        let negative = nanos < 0
        let magnitude = nanos.magnitude
        let units = magnitude / UInt64(nanosPerUnit)
        let fraction = String(magnitude % UInt64(nanosPerUnit))
        let padded = String(repeating: "0", count: 9 - fraction.count) + fraction
        return (negative ? "-" : "") + "\(units).\(padded)"
    }
}

extension Decimal {
    /// Parses a plain, non-negative decimal literal (`"0.02"`, `"15"`), rejecting anything else.
    ///
    /// `Decimal(string:)` alone accepts prefixes such as `"1abc"`, which would turn a typo in a
    /// price into a silently wrong bill.
    public init?(exactLiteral text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var sawDigit = false
        var sawPoint = false
        for character in trimmed {
            if character.isASCII && character.isNumber {
                sawDigit = true
            } else if character == "." && !sawPoint {
                sawPoint = true
            } else {
                return nil
            }
        }
        guard sawDigit, let value = Decimal(string: trimmed, locale: Locale(identifier: "en_US_POSIX")) else {
            return nil
        }
        self = value
    }

    /// Rounds to a whole number, half to even, and returns it as `Int64` if it fits.
    public func roundedToInt64() -> Int64? {
        var source = self
        var rounded = Decimal()
        NSDecimalRound(&rounded, &source, 0, .bankers)
        return Int64(rounded.description)
    }
}
