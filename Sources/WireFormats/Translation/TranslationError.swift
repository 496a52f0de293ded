/// Why a request cannot be carried into the canonical form or on to a provider's format. Both
/// become a 400 in the client's own error format, naming the field.
public struct TranslationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The request itself is malformed.
        case invalid
        /// Well-formed, but the chosen provider's format has no way to express it.
        case unsupported
    }

    public var kind: Kind
    public var message: String
    /// The offending field as a path, e.g. `messages[2].content[0].type`.
    public var param: String?

    public init(_ kind: Kind, _ message: String, param: String?) {
        self.kind = kind
        self.message = message
        self.param = param
    }

    public static func invalid(_ message: String, param: String?) -> TranslationError {
        TranslationError(.invalid, message, param: param)
    }

    public static func unsupported(_ field: String, by target: String, reason: String? = nil) -> TranslationError {
        let why = reason.map { ": \($0)" } ?? ""
        return TranslationError(.unsupported, "'\(field)' cannot be expressed by \(target)\(why).", param: field)
    }

    public var description: String { message }

    /// The `by:` of refusals that happen before any provider is chosen.
    static let translation = "Switchyard's translation to other providers"
}

/// Typed access to a JSON object's members with errors that name the field's path.
struct FieldReader {
    let object: JSONObject
    let path: String

    init(_ object: JSONObject, path: String) {
        self.object = object
        self.path = path
    }

    /// Reads `value` as an object, or fails naming `path`.
    init(_ value: JSONValue, path: String) throws(TranslationError) {
        guard case .object(let object) = value else {
            throw .invalid("'\(path)' must be an object, not \(value.typeName).", param: path)
        }
        self.init(object, path: path)
    }

    func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The member, treating `null` as absent.
    func value(_ key: String) -> JSONValue? {
        guard let value = object[key], value != .null else { return nil }
        return value
    }

    func has(_ key: String) -> Bool { value(key) != nil }

    /// Refuses the first non-null member outside `known`: a field the canonical form cannot
    /// carry is a 400 naming it, never a silent drop.
    func rejectMembers(notIn known: Set<String>, by target: String) throws(TranslationError) {
        if let unknown = object.keys.first(where: { !known.contains($0) && has($0) }) {
            throw .unsupported(unknown, by: target)
        }
    }

    func string(_ key: String) throws(TranslationError) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw typeError(key, "a string", value) }
        return text
    }

    func requiredString(_ key: String) throws(TranslationError) -> String {
        guard let text = try string(key) else { throw missing(key) }
        return text
    }

    func int(_ key: String) throws(TranslationError) -> Int? {
        guard let value = value(key) else { return nil }
        guard let number = value.intValue else { throw typeError(key, "an integer", value) }
        return number
    }

    /// A token maximum: an integer of at least 1 (zero or less would pass every policy maximum
    /// and reserve a negative cost).
    func tokenLimit(_ key: String) throws(TranslationError) -> Int? {
        guard let number = try int(key) else { return nil }
        guard number >= 1 else { throw .invalid("'\(field(key))' must be at least 1, not \(number).", param: field(key)) }
        return number
    }

    func number(_ key: String) throws(TranslationError) -> String? {
        guard let value = value(key) else { return nil }
        guard case .number(let text) = value else { throw typeError(key, "a number", value) }
        return text
    }

    func bool(_ key: String) throws(TranslationError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else { throw typeError(key, "a boolean", value) }
        return flag
    }

    func array(_ key: String) throws(TranslationError) -> [JSONValue]? {
        guard let value = value(key) else { return nil }
        guard case .array(let values) = value else { throw typeError(key, "an array", value) }
        return values
    }

    func requiredArray(_ key: String) throws(TranslationError) -> [JSONValue] {
        guard let values = try array(key) else { throw missing(key) }
        return values
    }

    /// A string, or an array of strings, as an array.
    func strings(_ key: String) throws(TranslationError) -> [String] {
        guard let value = value(key) else { return [] }
        if case .string(let text) = value { return [text] }
        guard case .array(let values) = value else { throw typeError(key, "a string or an array of strings", value) }
        var strings: [String] = []
        for (index, element) in values.enumerated() {
            guard let text = element.stringValue else { throw typeError("\(key)[\(index)]", "a string", element) }
            strings.append(text)
        }
        return strings
    }

    func object(_ key: String) throws(TranslationError) -> FieldReader? {
        guard let value = value(key) else { return nil }
        return try FieldReader(value, path: field(key))
    }

    /// A string-to-string map such as `metadata`.
    func stringMap(_ key: String) throws(TranslationError) -> [String: String] {
        guard let reader = try object(key) else { return [:] }
        var map: [String: String] = [:]
        for member in reader.object {
            guard case .string(let text) = member.value else {
                throw typeError("\(key).\(member.key)", "a string", member.value)
            }
            map[member.key] = text
        }
        return map
    }

    func missing(_ key: String) -> TranslationError {
        .invalid("'\(field(key))' is required.", param: field(key))
    }

    func typeError(_ key: String, _ expected: String, _ value: JSONValue) -> TranslationError {
        .invalid("'\(field(key))' must be \(expected), not \(value.typeName).", param: field(key))
    }
}

extension JSONObject {
    /// Adds the member only when there is a value.
    mutating func set(_ key: String, _ value: JSONValue?) {
        if let value { self[key] = value }
    }
}
