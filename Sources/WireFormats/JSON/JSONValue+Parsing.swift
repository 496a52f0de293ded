/// Why a document is not JSON Switchyard accepts, with the byte offset where reading stopped and
/// the member path that leads there.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public var offset: Int
    /// Where in the document, from the root; empty at the top level.
    public var pathComponents: [JSONPathComponent] = []
    /// The document names one member twice in an object (the path ends with that member).
    public var isRepeatedMember = false

    public init(reason: String, offset: Int, pathComponents: [JSONPathComponent] = [], isRepeatedMember: Bool = false) {
        self.reason = reason
        self.offset = offset
        self.pathComponents = pathComponents
        self.isRepeatedMember = isRepeatedMember
    }

    /// The path as clients write it: `tools[0].function.name`, `metadata["a.b"]`.
    public var path: String { JSONPathComponent.render(pathComponents) }

    public var description: String { path.isEmpty ? "\(reason) at byte \(offset)" : "\(reason) at \(path) (byte \(offset))" }

    /// The error as seen from the enclosing container's `component`.
    func inside(_ component: JSONPathComponent) -> JSONParseError {
        var error = self
        error.pathComponents.insert(component, at: 0)
        return error
    }
}

/// One step of a path into a JSON document.
public enum JSONPathComponent: Sendable, Hashable {
    case member(String)
    case element(Int)

    /// Member names that are identifiers are written `.name`, others `["name"]` (JSON-quoted), so
    /// no two paths share a spelling.
    public static func render(_ components: [JSONPathComponent]) -> String {
        var text = ""
        for component in components {
            switch component {
            case .element(let index): text += "[\(index)]"
            case .member(let name):
                let plain =
                    !name.isEmpty
                    && name.utf8.allSatisfy { byte in
                        byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || (byte >= 0x30 && byte <= 0x39)
                            || ((byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A)
                    }
                if plain {
                    text += text.isEmpty ? name : "." + name
                } else {
                    text += "[" + String(decoding: JSONText.string(name), as: UTF8.self) + "]"
                }
            }
        }
        return text
    }
}

extension JSONValue {
    /// Parses a complete JSON document (RFC 8259). Nesting deeper than `maxDepth` is refused:
    /// it is never legitimate in an API request and would otherwise cost stack.
    ///
    /// An object that names a member twice is refused (RFC 8259 leaves its meaning open, and a
    /// gateway that reads the first while the upstream reads the last can be lied to), and so is
    /// a number too large for a double (parsers disagree on what it means).
    ///
    /// `lenient` is for text a model generated (tool-call arguments): it accepts raw control
    /// characters inside strings and repeated members (the last counts when read); everything
    /// else stays strict.
    ///
    /// Inlinable so callers in other modules get it specialized for their byte collection
    /// (unspecialized, it looked up type metadata on every call).
    @inlinable
    public static func parse<Bytes: Collection>(_ bytes: Bytes, maxDepth: Int = 64, lenient: Bool = false)
        throws(JSONParseError) -> JSONValue
    where Bytes.Element == UInt8 {
        try parse(array: Array(bytes), maxDepth: maxDepth, lenient: lenient)
    }

    @usableFromInline
    static func parse(array: [UInt8], maxDepth: Int, lenient: Bool) throws(JSONParseError) -> JSONValue {
        try JSONDocument.parse(array: array, maxDepth: maxDepth, lenient: lenient).value
    }
}

/// A parsed document with what the reader noticed on the way, so callers need not walk the tree
/// again to learn it.
public struct JSONDocument: Sendable {
    public var value: JSONValue
    /// No member name has an uppercase or non-ASCII letter: no two names can differ only in case
    /// (see `APIMemberNames`).
    public var memberNamesAreCaseFolded: Bool

    /// Parses strictly, as `JSONValue.parse` does.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64) throws(JSONParseError) -> JSONDocument {
        try parse(array: bytes, maxDepth: maxDepth, lenient: false)
    }

    static func parse(array: [UInt8], maxDepth: Int, lenient: Bool) throws(JSONParseError) -> JSONDocument {
        // Read through a pointer: slicing the array retained and released its storage for every
        // string and number read.
        let result = array.withUnsafeBufferPointer { bytes -> Result<JSONDocument, JSONParseError> in
            var reader = JSONReader(bytes: bytes, maxDepth: maxDepth, lenient: lenient)
            reader.skipWhitespace()
            do throws(JSONParseError) {
                let value = try reader.readValue(depth: 0)
                reader.skipWhitespace()
                guard reader.offset == bytes.count else { throw reader.error("unexpected data after the JSON value") }
                return .success(JSONDocument(value: value, memberNamesAreCaseFolded: reader.memberNamesAreCaseFolded))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

/// Valid only inside the `withUnsafeBufferPointer` that made `bytes`.
private struct JSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    let lenient: Bool
    var offset = 0
    var memberNamesAreCaseFolded = true
    /// Whether the string `readString` returned last had, as written, no uppercase ASCII letter,
    /// no non-ASCII byte and no escape (which could spell either): noted in the scan it already does.
    var lastStringWasCaseFolded = true

    init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int, lenient: Bool) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.lenient = lenient
    }

    func error(_ reason: String) -> JSONParseError { JSONParseError(reason: reason, offset: offset) }

    mutating func skipWhitespace() {
        while offset < bytes.count, JSONSyntax.isWhitespace(bytes[offset]) { offset += 1 }
    }

    mutating func readValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard offset < bytes.count else { throw error("unexpected end of JSON") }
        switch bytes[offset] {
        case UInt8(ascii: "{"): return .object(try readObject(depth: depth + 1))
        case UInt8(ascii: "["): return .array(try readArray(depth: depth + 1))
        case UInt8(ascii: "\""): return .string(try readString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try readNumber())
        default: throw error("unexpected character '\(Character(UnicodeScalar(bytes[offset])))'")
        }
    }

    mutating func expect(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard offset + count <= bytes.count else { throw error("unexpected end of JSON") }
        let matches = literal.withUTF8Buffer { expected in bytes[offset..<offset + count].elementsEqual(expected) }
        guard matches else { throw error("invalid literal") }
        offset += count
    }

    mutating func readObject(depth: Int) throws(JSONParseError) -> JSONObject {
        guard depth <= maxDepth else { throw error("JSON nested deeper than \(maxDepth) levels") }
        offset += 1
        var object = JSONObject()
        var members: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "}") {
            offset += 1
            return object
        }
        // One allocation for the usual object, instead of one per doubling while it grows.
        members.reserveCapacity(8)
        var memberIndex: Set<String>?
        while true {
            skipWhitespace()
            guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else { throw error("expected a member name") }
            let key = try readString()
            if !lastStringWasCaseFolded { memberNamesAreCaseFolded = false }
            skipWhitespace()
            guard offset < bytes.count, bytes[offset] == UInt8(ascii: ":") else { throw error("expected ':'") }
            offset += 1
            skipWhitespace()
            if !lenient, isRepeated(key, in: members, index: &memberIndex) {
                throw JSONParseError(
                    reason: "the member '\(key)' is repeated", offset: offset, pathComponents: [.member(key)],
                    isRepeatedMember: true)
            }
            let value: JSONValue
            do throws(JSONParseError) {
                value = try readValue(depth: depth)
            } catch {
                throw error.inside(.member(key))
            }
            members.append((key: key, value: value))
            skipWhitespace()
            guard offset < bytes.count else { throw error("unexpected end of JSON") }
            if bytes[offset] == UInt8(ascii: ",") {
                offset += 1
                continue
            }
            guard bytes[offset] == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
            offset += 1
            object = JSONObject(members)
            return object
        }
    }

    mutating func readArray(depth: Int) throws(JSONParseError) -> [JSONValue] {
        guard depth <= maxDepth else { throw error("JSON nested deeper than \(maxDepth) levels") }
        offset += 1
        var values: [JSONValue] = []
        skipWhitespace()
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "]") {
            offset += 1
            return values
        }
        values.reserveCapacity(4)
        while true {
            skipWhitespace()
            do throws(JSONParseError) {
                values.append(try readValue(depth: depth))
            } catch {
                throw error.inside(.element(values.count))
            }
            skipWhitespace()
            guard offset < bytes.count else { throw error("unexpected end of JSON") }
            if bytes[offset] == UInt8(ascii: ",") {
                offset += 1
                continue
            }
            guard bytes[offset] == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
            offset += 1
            return values
        }
    }

    /// Whether `members` already has `key`: a linear scan while the object is small, as request
    /// objects are; from 32 members on, a set kept alongside, so a hostile object stays linear.
    func isRepeated(_ key: String, in members: [(key: String, value: JSONValue)], index: inout Set<String>?) -> Bool {
        if index == nil {
            // Lengths first (stored, not counted): most names differ in length, and comparing
            // strings of equal length is what cost.
            let length = key.utf8.count
            guard members.count >= 32 else {
                for index in members.indices where members[index].key.utf8.count == length && members[index].key == key {
                    return true
                }
                return false
            }
            index = Set(members.map(\.key))
        }
        return !index!.insert(key).inserted
    }

    mutating func readNumber() throws(JSONParseError) -> String {
        let token = try JSONTokenReader.scanNumber(bytes, from: offset)
        offset = token.text.upperBound
        let text = String(decoding: bytes[token.text], as: UTF8.self)
        if token.mayLeaveDoubleRange, !(Double(text)?.isFinite ?? false) { throw error("number out of range") }
        return text
    }

    mutating func readString() throws(JSONParseError) -> String {
        let token = try JSONTokenReader.scanString(bytes, quote: offset, lenient: lenient)
        offset = token.end
        lastStringWasCaseFolded = token.isASCII && !token.hasUppercase && !token.hasEscapes
        return try JSONTokenReader.decodeString(bytes, token)
    }
}
