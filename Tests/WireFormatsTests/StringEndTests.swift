import Testing

@testable import WireFormats

@Suite struct StringEndTests {
    /// The word test finds the first byte the reader must stop at, in any of the eight places,
    /// whatever follows it; a word of ordinary text (letters, UTF-8) has none.
    @Test func theFirstStopByteOfAWordIsFound() {
        let stops: [UInt8] = [UInt8(ascii: "\""), UInt8(ascii: "\\")] + Array(0..<0x20)
        var generator = SystemRandomNumberGenerator()
        for position in 0..<8 {
            for filler: UInt8 in [0x41, 0x20, 0x7F, 0xC3, 0xFF, 0x5B, 0x5D, 0x21, 0x23] {
                for stop in stops {
                    var bytes = [UInt8](repeating: filler, count: 8)
                    bytes[position] = stop
                    // Anything after the first stop, stops included.
                    for later in (position + 1)..<8 where Bool.random(using: &generator) {
                        bytes[later] = stops.randomElement(using: &generator)!
                    }
                    let word = UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
                    let strict = JSONTokenReader.stopBytes(word, generated: false)
                    #expect(strict.trailingZeroBitCount / 8 == position, "\(bytes)")
                    if stop >= 0x20 {
                        let generated = JSONTokenReader.stopBytes(word, generated: true)
                        #expect(generated.trailingZeroBitCount / 8 == position, "\(bytes)")
                    }
                }
            }
        }
        let plain = Array("Paris, é".utf8).prefix(8)
        let word = UInt64(littleEndian: plain.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        #expect(JSONTokenReader.stopBytes(word, generated: false) == 0)
    }

    /// Where a string ends, on random strings: the same as reading byte by byte.
    @Test func theSameEndAsReadingByteByByte() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = Array("ab é\"\\n/u0\u{01}\u{1F}".utf8)
        for _ in 0..<5_000 {
            let length = Int.random(in: 0..<40, using: &generator)
            let body = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
            let text = [UInt8(ascii: "\"")] + body + [UInt8(ascii: "\""), UInt8(ascii: "x")]
            text.withUnsafeBufferPointer { buffer in
                #expect(
                    JSONTokenReader.endOfGeneratedString(buffer, quote: 0) == Self.reference(buffer, generated: true),
                    "\(String(decoding: text, as: UTF8.self))")
                #expect(
                    JSONTokenReader.endOfString(buffer, quote: 0) == Self.reference(buffer, generated: false),
                    "\(String(decoding: text, as: UTF8.self))")
            }
        }
    }

    /// Every byte value in every place, after plain text: a stop byte is found where it is, and
    /// nothing else is one.
    @Test func everyByteValueInEveryPlace() {
        for position in 0..<8 {
            for value in 0...255 {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
                bytes[position] = UInt8(value)
                let word = UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
                let stopsAlways = value == 0x22 || value == 0x5C
                let generated = JSONTokenReader.stopBytes(word, generated: true)
                let strict = JSONTokenReader.stopBytes(word, generated: false)
                #expect((generated != 0) == stopsAlways, "\(value) at \(position)")
                #expect((strict != 0) == (stopsAlways || value < 0x20), "\(value) at \(position)")
                if strict != 0 { #expect(strict.trailingZeroBitCount / 8 == position) }
            }
        }
    }

    /// Long plain runs with one stop byte about a word's edge: the reader stops there.
    @Test func aStopAfterLongPlainTextIsFound() {
        for length in 0..<40 {
            for stop: [UInt8] in [[0x22], [0x5C, 0x6E], [0x01]] {
                let text =
                    [UInt8(ascii: "\"")] + Array("é".utf8) + Array(repeating: UInt8(ascii: "x"), count: length) + stop
                    + Array("tail\"  ".utf8)
                text.withUnsafeBufferPointer { buffer in
                    let expected = Self.reference(buffer, generated: false)
                    #expect(JSONTokenReader.endOfString(buffer, quote: 0) == expected, "\(length) \(stop)")
                    #expect(
                        JSONTokenReader.endOfGeneratedString(buffer, quote: 0) == Self.reference(buffer, generated: true),
                        "\(length) \(stop)")
                    let token = try? JSONTokenReader.scanString(buffer, quote: 0, lenient: false)
                    #expect(token?.content == Self.referenceToken(buffer, lenient: false)?.content, "\(length) \(stop)")
                }
            }
        }
    }

    /// Every byte value in every place: a capital letter is found exactly.
    @Test func capitalLettersAreFoundExactly() {
        for position in 0..<8 {
            for value in 0...255 {
                var bytes = [UInt8](repeating: 0x61, count: 8)
                bytes[position] = UInt8(value)
                let word = UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
                let found = JSONTokenReader.uppercaseBytes(word)
                #expect((found != 0) == (0x41...0x5A).contains(value), "\(value) at \(position)")
            }
        }
    }

    /// The parser's string scan, on random strings: the same token (end, escapes, ASCII, capitals)
    /// or the same refusal as reading byte by byte.
    @Test func theSameTokenAsReadingByteByByte() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = Array("abZ AMé\"\\n/u0".utf8) + [0x01, 0x1F, 0x7F, 0xFF]
        for _ in 0..<20_000 {
            let length = Int.random(in: 0..<40, using: &generator)
            let body = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
            let text = [UInt8(ascii: "\"")] + body + [UInt8(ascii: "\""), UInt8(ascii: "x")]
            for lenient in [false, true] {
                text.withUnsafeBufferPointer { buffer in
                    let scanned = try? JSONTokenReader.scanString(buffer, quote: 0, lenient: lenient)
                    let expected = Self.referenceToken(buffer, lenient: lenient)
                    let described = String(decoding: text, as: UTF8.self)
                    #expect(scanned?.content == expected?.content, "\(described)")
                    #expect(scanned?.hasEscapes == expected?.hasEscapes, "\(described)")
                    #expect(scanned?.isASCII == expected?.isASCII, "\(described)")
                    #expect(scanned?.hasUppercase == expected?.hasUppercase, "\(described)")
                }
            }
        }
    }

    static func referenceToken(_ bytes: UnsafeBufferPointer<UInt8>, lenient: Bool) -> JSONTokenReader.StringToken? {
        var token = JSONTokenReader.StringToken(content: 1..<1, hasEscapes: false, isASCII: true, hasUppercase: false)
        var offset = 1
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                token.content = 1..<offset
                return token
            }
            if byte == UInt8(ascii: "\\") {
                token.hasEscapes = true
                guard case .end(let end) = JSONTokenReader.endOfEscape(bytes, at: offset) else { return nil }
                offset = end
                continue
            }
            if byte < 0x20, !lenient { return nil }
            if byte >= 0x80 { token.isASCII = false }
            if (0x41...0x5A).contains(byte) { token.hasUppercase = true }
            offset += 1
        }
        return nil
    }

    static func reference(_ bytes: UnsafeBufferPointer<UInt8>, generated: Bool) -> Int? {
        var offset = 1
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") { return offset }
            if byte == UInt8(ascii: "\\") {
                if generated {
                    offset += 2
                    continue
                }
                guard case .end(let end) = JSONTokenReader.endOfEscape(bytes, at: offset) else { return nil }
                offset = end
                continue
            }
            if !generated, byte < 0x20 { return nil }
            offset += 1
        }
        return nil
    }
}
