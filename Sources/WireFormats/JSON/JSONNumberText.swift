/// A JSON number's literal text as a `Double`, correctly rounded, without the C library's
/// `strtod` for the short decimals requests carry (`0.2`, `1`, `-0.75`): a traced request reads
/// its temperature and top_p, and `strtod` (with its arbitrary-precision path) was a visible part
/// of that.
public enum JSONNumberText {
    /// Exact powers of ten up to 10^15, the most fraction digits the fast path takes (every one
    /// up to 10^22 is a `Double` without rounding).
    private static let powersOfTen: [Double] = (0...15).map { exponent in
        (0..<exponent).reduce(1.0) { value, _ in value * 10 }
    }

    /// Up to 15 digits and no exponent, the mantissa and the power of ten are exact
    /// doubles, so one division rounds correctly (Clinger's fast path); anything else goes to
    /// `Double(_:)`.
    public static func double(_ text: String) -> Double? {
        var mantissa: Int64 = 0
        var digits = 0
        var fractionDigits = 0
        var negative = false
        var seenPoint = false
        var fast = true
        for (index, byte) in text.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "-") where index == 0:
                negative = true
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                digits += 1
                if digits > 15 { fast = false }
                mantissa = mantissa &* 10 &+ Int64(byte &- UInt8(ascii: "0"))
                if seenPoint { fractionDigits += 1 }
            case UInt8(ascii: ".") where !seenPoint && digits > 0:
                seenPoint = true
            default:
                fast = false
            }
            if !fast { break }
        }
        guard fast, digits > 0, !(seenPoint && fractionDigits == 0) else { return Double(text) }
        let value = Double(mantissa) / powersOfTen[fractionDigits]
        return negative ? -value : value
    }
}
