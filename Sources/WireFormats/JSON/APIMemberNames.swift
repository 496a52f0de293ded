/// Finds a member of an API object whose name is not lowercase ASCII.
///
/// Some upstreams read JSON case-insensitively: Go's `encoding/json` (Ollama, many self-hosted
/// servers) matches `MAX_TOKENS`, and even `max_to\u{212A}ens` (Kelvin sign), to the field
/// `max_tokens`, and takes the last one it meets. The gateway reads names exactly, so such a name
/// would be served without being judged, alone or next to its lowercase twin. Every member name
/// the client APIs define is lowercase ASCII, so any other spelling in an API object is refused.
///
/// Objects whose member names are the caller's own (JSON schemas, metadata, tool-call arguments)
/// may hold any name: readers match those exactly.
public enum APIMemberNames {
    /// Members whose object value holds the caller's own names, not the API's.
    static let callerNamedMembers: Set<String> = [
        "metadata", "parameters", "input_schema", "schema", "response_schema", "responseSchema",
        "responseJsonSchema", "parametersJsonSchema", "logit_bias", "arguments", "args", "input",
        "response", "labels", "properties", "$defs", "definitions",
    ]

    /// The path of the first member of an API object whose name has an uppercase or non-ASCII
    /// letter, or nil.
    public static func firstUnfoldedName(in value: JSONValue) -> [JSONPathComponent]? {
        switch value {
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                if let path = firstUnfoldedName(in: element) { return [.element(index)] + path }
            }
            return nil
        case .object(let object):
            for member in object.members {
                if !isFolded(member.key) { return [.member(member.key)] }
                if case .object = member.value, callerNamedMembers.contains(member.key) { continue }
                if let path = firstUnfoldedName(in: member.value) { return [.member(member.key)] + path }
            }
            return nil
        case .null, .bool, .number, .string:
            return nil
        }
    }

    /// No uppercase ASCII letter and no non-ASCII character.
    public static func isFolded(_ name: String) -> Bool {
        name.utf8.allSatisfy { $0 < 0x80 && !($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) }
    }
}
