/// The one reader of JSON string and number tokens (RFC 8259). The tree parser, the object editor
/// and the stream-chunk scanner all call it, so they cannot disagree on where a token ends or on
/// what a string says: a gateway whose readers disagree can be told one thing while the upstream
/// reads another.
///
/// Works on a buffer pointer: valid only inside the `withUnsafeBufferPointer` that made it.
enum JSONTokenReader {
    /// A string literal as written: its content (between the quotes), and what one scan of it
    /// noticed, so that most strings are copied once and never decoded.
    struct StringToken {
        /// The bytes between the quotes.
        var content: Range<Int>
        /// The content has a backslash escape (and must be decoded, not copied).
        var hasEscapes: Bool
        /// The content is all ASCII (and needs no UTF-8 validation when copied).
        var isASCII: Bool
        /// The content has an ASCII uppercase letter.
        var hasUppercase: Bool
        /// The index just past the closing quote.
        var end: Int { content.upperBound + 1 }
    }

    /// Scans the string literal whose opening quote is at `quote`. Every escape is checked (one of
    /// `\" \\ \/ \b \f \n \r \t \uXXXX`, a `\u` surrogate only as half of a pair); a raw control
    /// character is refused unless `lenient` (text a model generated). UTF-8 is checked when the
    /// string is decoded: a reader that only skips the string leaves that to the parser.
    @inline(__always)
    static func scanString(_ bytes: UnsafeBufferPointer<UInt8>, quote: Int, lenient: Bool) throws(JSONParseError)
        -> StringToken
    {
        let start = quote + 1
        var offset = start
        var token = StringToken(content: start..<start, hasEscapes: false, isASCII: true, hasUppercase: false)
        let count = bytes.count
        while offset < count {
            // Eight bytes at a time up to the first that stops the reader, noting what `byte`
            // below notes of each.
            if offset &+ 8 <= count {
                let word = word(bytes, at: offset)
                let stops = stopBytes(word, generated: lenient)
                let plain = stops == 0 ? 8 : stops.trailingZeroBitCount &>> 3
                if plain > 0 {
                    let part = plain == 8 ? word : word & ((1 &<< UInt64(plain &* 8)) &- 1)
                    if part & 0x8080_8080_8080_8080 != 0 { token.isASCII = false }
                    if uppercaseBytes(part) != 0 { token.hasUppercase = true }
                    offset &+= plain
                    if stops == 0 { continue }
                }
            }
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                token.content = start..<offset
                return token
            }
            if byte == UInt8(ascii: "\\") {
                token.hasEscapes = true
                switch endOfEscape(bytes, at: offset) {
                case .end(let end): offset = end
                case .invalid(let reason): throw JSONParseError(reason: "\(reason)", offset: offset)
                }
                continue
            }
            if byte < 0x20, !lenient { throw JSONParseError(reason: "control character in a string", offset: offset) }
            if byte >= 0x80 { token.isASCII = false }
            if byte &- UInt8(ascii: "A") < 26 { token.hasUppercase = true }
            offset += 1
        }
        throw JSONParseError(reason: "unterminated string", offset: offset)
    }

    /// The index of the closing quote of the string literal whose opening quote is at `quote`,
    /// every escape checked as `scanString` checks it, or nil if the literal is malformed: for
    /// readers that only skip strings (the object editor), without noting what `scanString`
    /// notes per byte.
    static func endOfString(_ bytes: UnsafeBufferPointer<UInt8>, quote: Int) -> Int? {
        endOfString(bytes, quote: quote, generated: false)
    }

    /// `endOfString` for text a provider generated (its answers and stream chunks), read only to
    /// find what the gateway meters: a raw control character is let through, and a backslash
    /// skips the byte after it whatever it is (a malformed escape from an upstream must not
    /// hide the rest of its answer; nothing read this way is forwarded as the request).
    static func endOfGeneratedString(_ bytes: UnsafeBufferPointer<UInt8>, quote: Int) -> Int? {
        endOfString(bytes, quote: quote, generated: true)
    }

    /// Inlined into the two above, so the generated-text tests fold away where they are off:
    /// this loop runs over every byte of every streamed chunk.
    @inline(__always)
    private static func endOfString(_ bytes: UnsafeBufferPointer<UInt8>, quote: Int, generated: Bool) -> Int? {
        var offset = quote + 1
        let count = bytes.count
        while offset < count {
            // Eight bytes at a time: past them while none stops the reader (most of a string's
            // bytes), else straight to the first that does.
            if offset &+ 8 <= count {
                let stops = stopBytes(word(bytes, at: offset), generated: generated)
                if stops == 0 {
                    offset &+= 8
                    continue
                }
                offset &+= stops.trailingZeroBitCount &>> 3
            }
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") { return offset }
            if byte == UInt8(ascii: "\\") {
                if generated {
                    offset += 2
                    continue
                }
                guard case .end(let end) = endOfEscape(bytes, at: offset) else { return nil }
                offset = end
                continue
            }
            if !generated, byte < 0x20 { return nil }
            offset += 1
        }
        return nil
    }

    /// The eight bytes at `offset` (all within `bytes`), the first lowest whatever the machine.
    @inline(__always)
    static func word(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(bytes.baseAddress! + offset).loadUnaligned(as: UInt64.self))
    }

    /// The bytes of `word` (its first byte lowest) that stop `endOfString`: a quote, a backslash,
    /// and, unless `generated`, a control character (below 0x20). Each such byte has its high bit
    /// set in the result; the lowest set bit is always the first such byte (a bit above it may
    /// be set by a borrow without its byte being one: only the first is used).
    @inline(__always)
    static func stopBytes(_ word: UInt64, generated: Bool) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        // The classic SWAR test for a zero byte; with 0x20 in place of 1, for a byte below 0x20.
        func zeroBytes(_ value: UInt64) -> UInt64 { (value &- ones) & ~value & highs }
        let quotes = zeroBytes(word ^ (ones &* 0x22))
        let backslashes = zeroBytes(word ^ (ones &* 0x5C))
        let controls = generated ? 0 : (word &- ones &* 0x20) & ~word & highs
        return quotes | backslashes | controls
    }

    /// The bytes of `word` that are ASCII capital letters, each with its high bit set in the
    /// result (exact: adding to the low seven bits of a byte cannot carry into the next).
    @inline(__always)
    static func uppercaseBytes(_ word: UInt64) -> UInt64 {
        let highs: UInt64 = 0x8080_8080_8080_8080
        let low = word & ~highs
        let fromA = low &+ 0x3F3F_3F3F_3F3F_3F3F  // high bit set where a byte is 0x41 ("A") or more
        let pastZ = low &+ 0x2525_2525_2525_2525  // high bit set where a byte is 0x5B (past "Z") or more
        return fromA & ~pastZ & ~word & highs
    }

    enum EscapeEnd {
        case end(Int)
        case invalid(StaticString)
    }

    /// Where the escape whose backslash is at `offset` ends: one of `\" \\ \/ \b \f \n \r \t
    /// \uXXXX`, a `\u` surrogate only as half of a pair. Out of line: escapes are rare, and the
    /// loops that skip strings stay small.
    @inline(never)
    static func endOfEscape(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) -> EscapeEnd {
        guard offset + 1 < bytes.count else { return .invalid("unterminated string") }
        switch bytes[offset + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            return .end(offset + 2)
        case UInt8(ascii: "u"):
            guard let unit = codeUnit(bytes, escapeAt: offset) else { return .invalid("invalid \\u escape") }
            if (0xDC00..<0xE000).contains(unit) { return .invalid("unpaired surrogate in a string") }
            guard (0xD800..<0xDC00).contains(unit) else { return .end(offset + 6) }
            guard let low = codeUnit(bytes, escapeAt: offset + 6), (0xDC00..<0xE000).contains(low) else {
                return .invalid("unpaired surrogate in a string")
            }
            return .end(offset + 12)
        default:
            return .invalid("invalid escape in a string")
        }
    }

    /// The value of a scanned string: escapes resolved, and the bytes valid UTF-8.
    @inline(__always)
    static func decodeString(_ bytes: UnsafeBufferPointer<UInt8>, _ token: StringToken) throws(JSONParseError) -> String {
        let content = token.content
        if !token.hasEscapes {
            if token.isASCII { return String(decoding: bytes[content], as: UTF8.self) }
            guard let string = String(validating: bytes[content], as: UTF8.self) else {
                throw JSONParseError(reason: "invalid UTF-8 in a string", offset: content.lowerBound)
            }
            return string
        }
        var utf8: [UInt8] = []
        utf8.reserveCapacity(content.count)
        var offset = content.lowerBound
        while offset < content.upperBound {
            let byte = bytes[offset]
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                offset += 1
                continue
            }
            // `scanString` checked every escape's form: only its meaning is read here.
            let escaped = bytes[offset + 1]
            offset += 2
            switch escaped {
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex4(bytes, at: offset)
                offset += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    // `scanString` checked that the low half follows.
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (hex4(bytes, at: offset + 2) - 0xDC00)
                    offset += 6
                }
                appendUTF8(of: scalar, to: &utf8)
            default: utf8.append(escaped)  // " \ /
            }
        }
        guard let string = String(validating: utf8, as: UTF8.self) else {
            throw JSONParseError(reason: "invalid UTF-8 in a string", offset: content.lowerBound)
        }
        return string
    }

    /// Scans the number starting at `start` by RFC 8259's grammar (no leading zero, digits after
    /// a point and in an exponent) and returns the index just past it. What follows is the
    /// caller's to check.
    @inline(__always)
    static func scanNumber(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) throws(JSONParseError) -> NumberToken {
        var offset = start
        func digits() -> Int {
            let from = offset
            while offset < bytes.count, bytes[offset] &- UInt8(ascii: "0") < 10 { offset += 1 }
            return offset - from
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        let integerDigits = digits()
        guard integerDigits > 0 else { throw JSONParseError(reason: "invalid number", offset: offset) }
        if integerDigits > 1, bytes[offset - integerDigits] == UInt8(ascii: "0") {
            throw JSONParseError(reason: "invalid number (leading zero)", offset: offset)
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            offset += 1
            guard digits() > 0 else { throw JSONParseError(reason: "invalid number", offset: offset) }
        }
        var hasExponent = false
        if offset < bytes.count, bytes[offset] | 0x20 == UInt8(ascii: "e") {
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") { offset += 1 }
            guard digits() > 0 else { throw JSONParseError(reason: "invalid number", offset: offset) }
            hasExponent = true
        }
        return NumberToken(text: start..<offset, mayLeaveDoubleRange: hasExponent || integerDigits > 308)
    }

    struct NumberToken {
        var text: Range<Int>
        /// Only a number with an exponent or very many digits can be outside a double's range.
        var mayLeaveDoubleRange: Bool
    }

    static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// The UTF-16 code unit of the `\uXXXX` escape whose backslash is at `offset`, if it is one.
    private static func codeUnit(_ bytes: UnsafeBufferPointer<UInt8>, escapeAt offset: Int) -> UInt32? {
        guard offset + 6 <= bytes.count, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u"),
            (offset + 2..<offset + 6).allSatisfy({ hexValue(bytes[$0]) != nil })
        else { return nil }
        return hex4(bytes, at: offset + 2)
    }

    /// Four hex digits `scanString` has checked.
    private static func hex4(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) -> UInt32 {
        var value: UInt32 = 0
        for index in offset..<offset + 4 { value = value << 4 | (hexValue(bytes[index]) ?? 0) }
        return value
    }

    /// A scalar (not a surrogate) as UTF-8.
    private static func appendUTF8(of scalar: UInt32, to utf8: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            utf8.append(UInt8(scalar))
        case 0x80..<0x800:
            utf8.append(UInt8(0xC0 | scalar >> 6))
            utf8.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            utf8.append(UInt8(0xE0 | scalar >> 12))
            utf8.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            utf8.append(UInt8(0x80 | scalar & 0x3F))
        default:
            utf8.append(UInt8(0xF0 | scalar >> 18))
            utf8.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            utf8.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            utf8.append(UInt8(0x80 | scalar & 0x3F))
        }
    }
}
