/// Edits the top-level members of a JSON object in place, byte for byte, leaving every other
/// byte of the document as the client sent it: no decode/re-encode on the hot path, and fields
/// Switchyard does not know pass through untouched.
public struct JSONObjectEditor: Sendable {
    public struct Member: Sendable, Hashable {
        public var key: String
        /// Byte range of the member's value in the original document.
        public var valueRange: Range<Int>
    }

    public let bytes: [UInt8]
    public let members: [Member]
    /// Index of the object's closing brace.
    private let closingBrace: Int

    /// Scans the top level of `bytes`; nil when it is not a well-formed JSON object at that level.
    /// `generated`: the bytes are a provider's answer, read only for what the gateway meters, so
    /// strings are skipped as `JSONTokenReader.endOfGeneratedString` skips them.
    public init?(_ bytes: [UInt8], generated: Bool = false) {
        // Scanned through a pointer: slicing the array retained and released its storage for
        // every key and value.
        let scanned = bytes.withUnsafeBufferPointer { buffer in
            var scanner = Scanner(bytes: buffer, generated: generated)
            return scanner.scanObject()
        }
        guard let (members, closingBrace) = scanned else { return nil }
        self.bytes = bytes
        self.members = members
        self.closingBrace = closingBrace
    }

    public func value(of key: String) -> ArraySlice<UInt8>? {
        members.last { $0.key == key }.map { bytes[$0.valueRange] }
    }

    /// The document with each named member's value replaced by the given JSON text, and members
    /// not present appended at the end of the object.
    public func replacing(_ replacements: [(key: String, json: [UInt8])]) -> [UInt8] {
        var edits: [(range: Range<Int>, json: [UInt8])] = []
        var appended: [UInt8] = []
        for replacement in replacements {
            let matching = members.filter { $0.key == replacement.key }
            if matching.isEmpty {
                appended += [UInt8(ascii: ",")] + JSONText.string(replacement.key) + [UInt8(ascii: ":")] + replacement.json
            } else {
                for member in matching { edits.append((member.valueRange, replacement.json)) }
            }
        }
        edits.sort { $0.range.lowerBound < $1.range.lowerBound }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + appended.count + 64)
        var cursor = 0
        for edit in edits {
            output += bytes[cursor..<edit.range.lowerBound]
            output += edit.json
            cursor = edit.range.upperBound
        }
        output += bytes[cursor..<closingBrace]
        if !appended.isEmpty {
            if members.isEmpty { appended.removeFirst() }  // no leading comma in an empty object
            output += appended
        }
        output += bytes[closingBrace...]
        return output
    }

    /// Valid only inside the `withUnsafeBufferPointer` that made `bytes`.
    private struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        let generated: Bool
        var index = 0

        mutating func scanObject() -> ([Member], Int)? {
            skipWhitespace()
            guard consume(UInt8(ascii: "{")) else { return nil }
            var members: [Member] = []
            members.reserveCapacity(12)  // one allocation for a usual request or response object
            skipWhitespace()
            if consume(UInt8(ascii: "}")) {
                let closing = index - 1
                return trailingIsWhitespace() ? (members, closing) : nil
            }
            while true {
                skipWhitespace()
                guard let key = scanString() else { return nil }
                skipWhitespace()
                guard consume(UInt8(ascii: ":")) else { return nil }
                skipWhitespace()
                let start = index
                guard skipValue(depth: 0) else { return nil }
                members.append(Member(key: key, valueRange: start..<index))
                skipWhitespace()
                if consume(UInt8(ascii: ",")) { continue }
                guard consume(UInt8(ascii: "}")) else { return nil }
                let closing = index - 1
                return trailingIsWhitespace() ? (members, closing) : nil
            }
        }

        mutating func trailingIsWhitespace() -> Bool {
            skipWhitespace()
            return index == bytes.count
        }

        mutating func skipWhitespace() {
            while index < bytes.count, JSONSyntax.isWhitespace(bytes[index]) { index += 1 }
        }

        mutating func consume(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// Reads a string and returns its value, as the parser reads it.
        mutating func scanString() -> String? {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\""),
                let token = try? JSONTokenReader.scanString(bytes, quote: index, lenient: generated)
            else { return nil }
            index = token.end
            return try? JSONTokenReader.decodeString(bytes, token)
        }

        mutating func skipString() -> Bool {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\""),
                let closing =
                    generated
                    ? JSONTokenReader.endOfGeneratedString(bytes, quote: index)
                    : JSONTokenReader.endOfString(bytes, quote: index)
            else { return false }
            index = closing + 1
            return true
        }

        mutating func skipValue(depth: Int) -> Bool {
            guard depth < 512, index < bytes.count else { return false }
            switch bytes[index] {
            case UInt8(ascii: "\""):
                return skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let close = bytes[index] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                let isObject = close == UInt8(ascii: "}")
                index += 1
                skipWhitespace()
                if consume(close) { return true }
                while true {
                    skipWhitespace()
                    if isObject {
                        guard skipString() else { return false }
                        skipWhitespace()
                        guard consume(UInt8(ascii: ":")) else { return false }
                        skipWhitespace()
                    }
                    guard skipValue(depth: depth + 1) else { return false }
                    skipWhitespace()
                    if consume(UInt8(ascii: ",")) { continue }
                    return consume(close)
                }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard let number = try? JSONTokenReader.scanNumber(bytes, from: index) else { return false }
                index = number.text.upperBound
                return index == bytes.count || JSONSyntax.endsScalar(bytes[index])
            default:
                let start = index
                while index < bytes.count, !JSONSyntax.endsScalar(bytes[index]) { index += 1 }
                let token = bytes[start..<index]
                return token.elementsEqual("true".utf8) || token.elementsEqual("false".utf8) || token.elementsEqual("null".utf8)
            }
        }
    }
}

/// Small helpers to write JSON text without an encoder.
public enum JSONText {
    /// `value` as a JSON string literal, quotes included.
    public static func string(_ value: String) -> [UInt8] {
        var output: [UInt8] = [UInt8(ascii: "\"")]
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output += Array("\\\"".utf8)
            case UInt8(ascii: "\\"): output += Array("\\\\".utf8)
            case 0x0A: output += Array("\\n".utf8)
            case 0x0D: output += Array("\\r".utf8)
            case 0x09: output += Array("\\t".utf8)
            case 0..<0x20:
                let hex = String(byte, radix: 16)
                output += Array(("\\u00" + (hex.count == 1 ? "0" : "") + hex).utf8)
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
        return output
    }
}
