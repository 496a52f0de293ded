/// Turns a `DecodingError` into a sentence a person can act on, naming the field.
extension DecodingError {
    public var clientMessage: String {
        switch self {
        case .typeMismatch(let type, let context):
            "Invalid type for '\(Self.path(context.codingPath))': expected \(Self.describe(type, context))."
        case .valueNotFound(let type, let context):
            "Invalid value for '\(Self.path(context.codingPath))': expected \(Self.describe(type, context)), got null."
        case .keyNotFound(let key, let context):
            "Missing required parameter: '\(Self.path(context.codingPath + [key]))'."
        case .dataCorrupted(let context):
            context.codingPath.isEmpty
                ? "The request body is not valid JSON."
                : "Invalid value for '\(Self.path(context.codingPath))': \(context.debugDescription)"
        @unknown default:
            "The request body could not be read."
        }
    }

    /// The first field named in the error, for OpenAI's `param`.
    public var parameter: String? {
        switch self {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            context.codingPath.isEmpty ? nil : Self.path(context.codingPath)
        case .keyNotFound(let key, let context):
            Self.path(context.codingPath + [key])
        @unknown default:
            nil
        }
    }

    static func path(_ codingPath: [CodingKey]) -> String {
        var text = ""
        for key in codingPath {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return text
    }

    static func describe(_ type: Any.Type, _ context: Context) -> String {
        if context.debugDescription.hasPrefix("expected ") { return String(context.debugDescription.dropFirst(9)) }
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "a boolean"
        case is Int.Type, is Double.Type: return "a number"
        case is [Any].Type: return "an array"
        default:
            let name = String(describing: type)
            return name.hasPrefix("Array") ? "an array" : name.hasPrefix("Dictionary") ? "an object" : "an object"
        }
    }
}
