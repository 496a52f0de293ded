/// The before/after values audit entries hold, as compact JSON with sorted keys. Never secrets:
/// a key is described by its id, owner and dates, not its hash.
public enum AuditValue {
    public static func key(_ record: APIKeyRecord) -> String {
        object([
            ("id", record.id), ("tenant", record.tenant), ("project", record.project), ("agent", record.agent),
            ("created_at", String(record.createdAt.value)), ("expires_at", record.expiresAt.map { String($0.value) }),
            ("revoked_at", record.revokedAt.map { String($0.value) }),
        ])
    }

    /// `{"a":"1","b":null}` with keys sorted (audit values are hashed, so their form is fixed),
    /// strings escaped.
    public static func object(_ fields: [(String, String?)]) -> String {
        orderedObject(fields.sorted { $0.0 < $1.0 })
    }

    /// A JSON object of string (or null) values in the order given, for messages people read.
    public static func orderedObject(_ fields: [(String, String?)]) -> String {
        "{"
            + fields.map { name, value in jsonString(name) + ":" + (value.map(jsonString) ?? "null") }
            .joined(separator: ",") + "}"
    }

    /// `text` as a JSON string literal.
    public static func jsonString(_ text: String) -> String {
        // Nearly every text needs no escape: one string of the right size.
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            var quoted = "\""
            quoted.reserveCapacity(text.utf8.count + 2)
            quoted += text
            quoted += "\""
            return quoted
        }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
