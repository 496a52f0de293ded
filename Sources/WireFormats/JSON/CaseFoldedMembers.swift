/// Finds two member names of one API object that differ only in case.
///
/// Some upstreams read JSON case-insensitively: Go's `encoding/json` (Ollama, many self-hosted
/// servers) matches `MAX_TOKENS`, and even `max_to\u{212A}ens` (Kelvin sign), to the field
/// `max_tokens`, and takes the last one it meets. A body naming both would be judged on one and
/// served on the other, so it is refused like an exactly repeated member.
///
/// Only the objects the APIs define are checked. Objects whose member names are the caller's own
/// (JSON schemas, metadata, tool-call arguments) may legitimately hold `id` and `ID`, and every
/// reader keeps those apart: a reader only folds case when it matches names to its own fields.
public enum CaseFoldedMembers {
    /// Members whose object value holds the caller's own names, not the API's.
    static let callerNamedMembers: Set<String> = [
        "metadata", "parameters", "input_schema", "schema", "response_schema", "responseSchema",
        "responseJsonSchema", "parametersJsonSchema", "logit_bias", "arguments", "args", "input",
        "response", "labels", "properties", "$defs", "definitions",
    ]

    /// The path of the later of the first two members found that fold to one name, or nil.
    public static func firstCollision(in value: JSONValue) -> [JSONPathComponent]? {
        switch value {
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                if let path = firstCollision(in: element) { return [.element(index)] + path }
            }
            return nil
        case .object(let object):
            if let name = collidingName(in: object) { return [.member(name)] }
            for member in object.members {
                if case .object = member.value, callerNamedMembers.contains(member.key) { continue }
                if let path = firstCollision(in: member.value) { return [.member(member.key)] + path }
            }
            return nil
        case .null, .bool, .number, .string:
            return nil
        }
    }

    /// Two names can fold together only if one of them is not already folded, so objects whose
    /// names are all lowercase ASCII (nearly every API object) cost one byte scan.
    static func collidingName(in object: JSONObject) -> String? {
        guard object.members.contains(where: { !isFolded($0.key) }) else { return nil }
        var seen = Set<String>()
        for member in object.members where !seen.insert(folded(member.key)).inserted {
            return member.key
        }
        return nil
    }

    /// No uppercase ASCII letter and no non-ASCII character.
    public static func isFolded(_ name: String) -> Bool {
        name.utf8.allSatisfy { $0 < 0x80 && !($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) }
    }

    /// Upper then lower case, so that letters with several lowercase forms meet (`ſ` and `s`,
    /// `K` (Kelvin) and `k`), as Go's simple case folding has them.
    static func folded(_ name: String) -> String {
        isFolded(name) ? name : name.uppercased().lowercased()
    }
}
