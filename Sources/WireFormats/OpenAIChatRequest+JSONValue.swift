/// A request type that can be read from a parsed `JSONValue` on the hot path, without
/// `JSONDecoder` (whose fixed cost per request was the largest single item of the gateway's own
/// work in the profile).
///
/// `init(json:)` reads only the well-formed shape and returns nil for anything else; the caller
/// then decodes with `JSONDecoder`, so a bad request still gets its precise error message.
public protocol JSONValueReadable: Sendable {
    init?(json: JSONValue)
}

extension OpenAIChatRequest: JSONValueReadable {
    /// `json` comes from the strict parser, which refuses repeated members: no member here can be
    /// read one way by this reader and another way upstream.
    public init?(json: JSONValue) {
        guard case .object(let object) = json, let model = object["model"]?.stringValue,
            let messageValues = object["messages"]?.arrayValue
        else { return nil }
        var messages: [OpenAIChatMessage] = []
        messages.reserveCapacity(messageValues.count)
        for value in messageValues {
            guard let message = OpenAIChatMessage(json: value) else { return nil }
            messages.append(message)
        }
        self.model = model
        self.messages = messages
        guard let stream = JSONValue.optional(object["stream"], \.boolValue),
            let maxTokens = JSONValue.optional(object["max_tokens"], \.intValue),
            let maxCompletionTokens = JSONValue.optional(object["max_completion_tokens"], \.intValue),
            let metadata = JSONValue.optional(object["metadata"], \.stringDictionary),
            let streamOptions = JSONValue.optional(object["stream_options"], StreamOptions.init(json:)),
            let responseFormat = JSONValue.optional(object["response_format"], ResponseFormat.init(json:)),
            let n = JSONValue.optional(object["n"], \.intValue)
        else { return nil }
        self.n = n
        self.stream = stream
        self.maxTokens = maxTokens
        self.maxCompletionTokens = maxCompletionTokens
        self.metadata = metadata
        self.streamOptions = streamOptions
        self.responseFormat = responseFormat
    }
}

extension OpenAIChatRequest.StreamOptions {
    init?(json: JSONValue) {
        guard case .object(let object) = json, let includeUsage = JSONValue.optional(object["include_usage"], \.boolValue)
        else { return nil }
        self.includeUsage = includeUsage
    }
}

extension OpenAIChatRequest.ResponseFormat {
    init?(json: JSONValue) {
        guard case .object(let object) = json, let type = JSONValue.optional(object["type"], \.stringValue) else {
            return nil
        }
        self.type = type
    }
}

extension OpenAIChatMessage {
    init?(json: JSONValue) {
        guard case .object(let object) = json, let role = object["role"]?.stringValue,
            let content = JSONValue.optional(object["content"], Content.init(json:)),
            let toolCalls = JSONValue.optional(
                object["tool_calls"],
                { value in
                    value.arrayValue.flatMap { calls in
                        let read = calls.compactMap(ToolCall.init(json:))
                        return read.count == calls.count ? read : nil
                    }
                })
        else { return nil }
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
    }
}

extension OpenAIChatMessage.Content {
    init?(json: JSONValue) {
        switch json {
        case .string(let text): self = .text(text)
        case .array(let values):
            var parts: [OpenAIChatMessage.Part] = []
            parts.reserveCapacity(values.count)
            for value in values {
                guard case .object(let object) = value, let type = object["type"]?.stringValue,
                    let text = JSONValue.optional(object["text"], \.stringValue)
                else { return nil }
                parts.append(.init(type: type, text: text))
            }
            self = .parts(parts)
        default: return nil
        }
    }
}

extension OpenAIChatMessage.ToolCall {
    init?(json: JSONValue) {
        guard case .object(let object) = json,
            let function = JSONValue.optional(
                object["function"],
                { value -> Function? in
                    guard case .object(let function) = value,
                        let name = JSONValue.optional(function["name"], \.stringValue),
                        let arguments = JSONValue.optional(function["arguments"], \.stringValue)
                    else { return nil }
                    return Function(name: name, arguments: arguments)
                })
        else { return nil }
        self.function = function
    }
}

extension JSONValue {
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// An object whose members are all strings.
    var stringDictionary: [String: String]? {
        guard case .object(let object) = self else { return nil }
        var dictionary: [String: String] = [:]
        for (key, value) in object {
            guard let string = value.stringValue else { return nil }
            dictionary[key] = string
        }
        return dictionary
    }

    /// An optional member read as `Decodable` does: absent or null is `.some(nil)`, a value that
    /// `read` accepts is `.some(value)`, anything else is nil (not readable on the fast path).
    static func optional<T>(_ value: JSONValue?, _ read: (JSONValue) -> T?) -> T?? {
        guard let value, value != .null else { return .some(nil) }
        guard let read = read(value) else { return nil }
        return .some(read)
    }
}
