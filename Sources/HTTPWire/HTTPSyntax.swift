import NIOCore

/// HTTP/1.1 syntax shared by the gateway's readers and writers of HTTP/1.1 (upstream requests and
/// responses, client requests).
public enum HTTPSyntax {
    /// A `tchar` of RFC 9110: what header names and methods are made of.
    @inlinable public static func isTokenByte(_ byte: UInt8) -> Bool { tokenBytes[Int(byte)] }

    /// Whether `bytes` spell `expected` (lowercase letters and '-') in any case.
    @inlinable public static func isName<Bytes: Collection<UInt8>>(_ bytes: Bytes, _ expected: StaticString) -> Bool {
        guard bytes.count == expected.utf8CodeUnitCount else { return false }
        return expected.withUTF8Buffer { expected in
            var index = 0
            for byte in bytes {
                let lowered = (0x41...0x5A).contains(byte) ? byte | 0x20 : byte
                guard lowered == expected[index] else { return false }
                index += 1
            }
            return true
        }
    }

    /// `bytes` without the blanks (SP, HTAB) around them.
    @inlinable public static func trimmed<Bytes: BidirectionalCollection<UInt8>>(_ bytes: Bytes) -> Bytes.SubSequence {
        let isBlank = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        let start = bytes.firstIndex { !isBlank($0) } ?? bytes.endIndex
        let end = bytes.lastIndex { !isBlank($0) }.map { bytes.index(after: $0) } ?? start
        return bytes[start..<max(start, end)]
    }

    /// Each element of a comma-separated field value, trimmed (empty ones included: the caller
    /// decides whether they are an error). Without an array: this runs for every response.
    @inlinable public static func forEachElement<Bytes: BidirectionalCollection<UInt8>, Failure: Error>(
        of list: Bytes, _ body: (Bytes) throws(Failure) -> Void
    ) throws(Failure) where Bytes.SubSequence == Bytes {
        var start = list.startIndex
        while true {
            let end = list[start...].firstIndex(of: UInt8(ascii: ",")) ?? list.endIndex
            try body(trimmed(list[start..<end]))
            guard end < list.endIndex else { return }
            start = list.index(after: end)
        }
    }

    /// Where a message head ends: the offset just past its CRLFCRLF in `buffer`'s readable
    /// bytes, or nil if it has not arrived. `scanned` bytes were already searched (a head
    /// arriving in pieces is then scanned once, not once per piece).
    @inlinable public static func headEnd(in buffer: ByteBuffer, scanned: Int = 0) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            guard bytes.count >= 4 else { return nil }
            for index in max(3, scanned)..<bytes.count
            where bytes[index] == 0x0A && bytes[index - 1] == 0x0D && bytes[index - 2] == 0x0A && bytes[index - 3] == 0x0D {
                return index + 1
            }
            return nil
        }
    }

    /// A field value's bytes are visible characters, blanks and obs-text: no CR, LF, NUL or other controls.
    @inlinable public static func isFieldValue<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Bool {
        !bytes.contains { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }
    }

    /// Decimal digits as a length: nil unless 1 to 15 digits and nothing else.
    @inlinable public static func decimalLength<Bytes: Collection<UInt8>>(_ digits: Bytes) -> Int? {
        guard !digits.isEmpty, digits.count <= 15, digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }

    /// A chunk size (hex digits, at most 15): nil if anything else.
    @inlinable public static func hexLength<Bytes: Collection<UInt8>>(_ digits: Bytes) -> Int? {
        guard !digits.isEmpty, digits.count <= 15 else { return nil }
        var size = 0
        for digit in digits {
            let value: Int
            switch digit {
            case 0x30...0x39: value = Int(digit - 0x30)
            case 0x41...0x46: value = Int(digit - 0x41 + 10)
            case 0x61...0x66: value = Int(digit - 0x61 + 10)
            default: return nil
            }
            size = size * 16 + value
        }
        return size
    }

    @usableFromInline static let tokenBytes: [Bool] = (0..<256).map { byte in
        switch UInt8(byte) {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        default: "!#$%&'*+-.^_`|~".utf8.contains(UInt8(byte))
        }
    }
}
