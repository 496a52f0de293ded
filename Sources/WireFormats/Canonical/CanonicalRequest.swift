/// A chat request in Switchyard's own terms, between an ingress format (what the client spoke)
/// and an egress format (what the provider speaks). It holds everything the three formats can
/// express in common; what only one format knows is either refused when translating or passed
/// through untouched when ingress and egress speak the same format.
public struct CanonicalRequest: Sendable, Equatable {
    public var model: String
    /// System instructions, kept apart from the conversation as Anthropic and Gemini do.
    public var system: [ContentPart] = []
    public var messages: [CanonicalMessage] = []
    public var maxOutputTokens: Int?
    /// Sampling numbers keep their literal text (`0.7` stays `0.7`).
    public var temperature: String?
    public var topP: String?
    public var topK: Int?
    public var stopSequences: [String] = []
    public var tools: [ToolDefinition] = []
    /// Tools the provider runs itself, declared outside `tools` and passed through untouched
    /// (Anthropic's `mcp_servers`, each named `mcp`): tool policies judge them too.
    public var providerRunTools: [String] = []
    public var toolChoice: ToolChoice?
    public var parallelToolCalls: Bool?
    public var responseFormat: ResponseFormat?
    public var reasoning: Reasoning?
    public var stream = false
    /// End-user identifier, forwarded where the provider has a place for it.
    public var user: String?
    public var metadata: [String: String] = [:]
    /// Options only some providers can express, checked against each egress format.
    public var extensions = Extensions()

    public init(model: String) { self.model = model }

    public struct Extensions: Sendable, Equatable {
        public var choiceCount: Int?
        public var logprobs: Bool?
        public var topLogprobs: Int?
        public var presencePenalty: String?
        public var frequencyPenalty: String?
        public var seed: String?
        public var logitBias: JSONValue?

        public init() {}
    }
}

public enum CanonicalRole: String, Sendable, Equatable {
    case user, assistant
}

/// One turn. Tool results travel in user turns, as Anthropic and Gemini put them.
public struct CanonicalMessage: Sendable, Equatable {
    public var role: CanonicalRole
    public var content: [ContentPart]

    public init(role: CanonicalRole, content: [ContentPart]) {
        self.role = role
        self.content = content
    }
}

public enum ContentPart: Sendable, Equatable {
    case text(String)
    case image(ImageSource)
    case toolCall(ToolCall)
    case toolResult(ToolResult)
    /// Model reasoning shown to the client (Anthropic thinking blocks, Gemini thoughts).
    case thinking(text: String, signature: String?)

    public var text: String? {
        if case .text(let text) = self { return text }
        return nil
    }
}

public enum ImageSource: Sendable, Equatable {
    case url(String)
    case base64(mediaType: String, data: String)

    /// Parses a `data:image/png;base64,…` URL into its parts; other URLs stay URLs.
    public static func fromURL(_ url: String) -> ImageSource {
        if url.hasPrefix("data:"), let comma = url.firstIndex(of: ","), url[..<comma].hasSuffix(";base64") {
            let mediaType = url[url.index(url.startIndex, offsetBy: 5)..<comma].dropLast(7)
            return .base64(mediaType: String(mediaType), data: String(url[url.index(after: comma)...]))
        }
        return .url(url)
    }

    public var asURL: String {
        switch self {
        case .url(let url): url
        case .base64(let mediaType, let data): "data:\(mediaType);base64,\(data)"
        }
    }
}

public struct ToolCall: Sendable, Equatable {
    public var id: String
    public var name: String
    /// The arguments as JSON text, as OpenAI carries them.
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

public struct ToolResult: Sendable, Equatable {
    public var toolCallID: String
    /// Gemini matches results by function name; filled from the matching call when known.
    public var name: String?
    public var content: [ContentPart]
    public var isError: Bool

    public init(toolCallID: String, name: String?, content: [ContentPart], isError: Bool = false) {
        self.toolCallID = toolCallID
        self.name = name
        self.content = content
        self.isError = isError
    }

    public var text: String { content.compactMap(\.text).joined(separator: "\n") }
}

public struct ToolDefinition: Sendable, Equatable {
    public var name: String
    public var description: String?
    /// A JSON Schema object.
    public var parameters: JSONValue

    public init(name: String, description: String?, parameters: JSONValue) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

public enum ToolChoice: Sendable, Equatable {
    case auto, none, required
    case tool(String)
}

public enum ResponseFormat: Sendable, Equatable {
    case text
    case jsonObject
    case jsonSchema(name: String, schema: JSONValue, strict: Bool?)
}

/// Thinking/reasoning settings: OpenAI speaks in effort levels, Anthropic and Gemini in token
/// budgets; each format converts between the two with a stated table.
public struct Reasoning: Sendable, Equatable {
    public var effort: String?
    public var budgetTokens: Int?

    public init(effort: String? = nil, budgetTokens: Int? = nil) {
        self.effort = effort
        self.budgetTokens = budgetTokens
    }

    static let budgets: [(effort: String, tokens: Int)] = [("minimal", 1024), ("low", 2048), ("medium", 8192), ("high", 24576)]

    public var tokens: Int? {
        budgetTokens ?? effort.flatMap { effort in Self.budgets.first { $0.effort == effort }?.tokens }
    }

    public var effortLevel: String? {
        if let effort { return effort }
        guard let budgetTokens else { return nil }
        return Self.budgets.first { budgetTokens <= $0.tokens }?.effort ?? "high"
    }
}
