import Testing
import WireFormats

@Suite struct JSONNumberTextTests {
    /// The fast path gives the same double as the C library, bit for bit, for every short
    /// decimal it takes; the rest go to the C library.
    @Test func theSameDoubleAsStrtodForEveryLiteral() {
        var literals = [
            "0", "1", "-0", "0.2", "0.7", "-0.75", "1.0", "2", "0.1", "0.3", "123456789012345", "0.123456789012345",
            "9007199254740993", "1234567890123456", "0.1234567890123456", "1e3", "1E-2", "2.5e+1", "-1.5e-300",
            "0.000000000000000000001", "179769313486231570000000000000000000000", "4.9e-324",
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let whole = UInt64.random(in: 0..<1_000_000, using: &generator)
            let fraction = UInt64.random(in: 0..<1_000_000_000, using: &generator)
            let places = Int.random(in: 1...9, using: &generator)
            let text = String(fraction)
            let sign = Bool.random(using: &generator) ? "-" : ""
            literals.append(
                "\(sign)\(whole).\(String(repeating: "0", count: max(0, places - text.count)) + text.suffix(places))")
        }
        // What the fast path leaves to the C library, or refuses as the C library does.
        literals += ["-", ".", "1.", "-.5", "", "+1", "00.5", "-0.0", "1e", String(repeating: "9", count: 400)]
        for literal in literals {
            let fast = JSONNumberText.double(literal)
            let reference = Double(literal)
            #expect(fast?.bitPattern == reference?.bitPattern, "\(literal)")
        }
        #expect(JSONNumberText.double("-0")?.sign == .minus)
    }
}
