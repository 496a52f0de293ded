import Foundation

/// Caller-supplied attribution tags (`customer=acme-corp,feature=search`).
public enum Tags {
    public static let maxCount = 32
    public static let maxLength = 128

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case malformed(String)
        case tooMany
        case tooLong(String)
        case controlCharacter(String)

        public var description: String {
            switch self {
            case .controlCharacter(let item):
                "tag '\(item.prefix(40).unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : String($0) }.joined())' holds a control character"
            case .malformed(let item): "tag '\(item)' is not of the form key=value"
            case .tooMany: "at most \(Tags.maxCount) tags are allowed"
            case .tooLong(let item): "tag '\(item.prefix(40))…' is longer than \(Tags.maxLength) characters"
            }
        }
    }

    /// Parses the `x-switchyard-tags` header: comma-separated `key=value` pairs.
    public static func parseHeader(_ header: String) throws(ParseError) -> [String: String] {
        var tags: [String: String] = [:]
        for item in header.split(separator: ",") {
            let trimmed = item.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let equals = trimmed.firstIndex(of: "=") else { throw .malformed(trimmed) }
            let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            let value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { throw .malformed(trimmed) }
            tags[key] = value
        }
        try validate(tags)
        return tags
    }

    /// Also refuses control characters: a NUL would be cut by the database drivers where a tag is
    /// stored as text of its own (tag rollups), booking `a` and `a\0b` as one key twice.
    public static func validate(_ tags: [String: String]) throws(ParseError) {
        guard tags.count <= maxCount else { throw .tooMany }
        for (key, value) in tags {
            if key.count > maxLength || value.count > maxLength { throw .tooLong(key + "=" + value) }
            if (key + value).unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                throw .controlCharacter(key + "=" + value)
            }
        }
    }
}
