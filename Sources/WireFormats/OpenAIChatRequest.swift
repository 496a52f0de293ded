/// The parts of an OpenAI Chat Completions request the gateway reads. Everything else in the
/// body passes through to the upstream byte for byte (see `JSONObjectEditor`).
public struct OpenAIChatRequest: Decodable, Sendable {
    public var model: String
    public var messages: [OpenAIChatMessage]
    public var stream: Bool?
    public var streamOptions: StreamOptions?
    public var maxTokens: Int?
    public var maxCompletionTokens: Int?
    public var metadata: [String: String]?
    public var responseFormat: ResponseFormat?
    /// Answers asked for: each may write the output maximum.
    public var n: Int?

    public struct ResponseFormat: Decodable, Sendable {
        public var type: String?
    }

    public struct StreamOptions: Decodable, Sendable {
        public var includeUsage: Bool?

        enum CodingKeys: String, CodingKey {
            case includeUsage = "include_usage"
        }
    }

    enum CodingKeys: String, CodingKey {
        case model, messages, stream, metadata, n
        case streamOptions = "stream_options"
        case maxTokens = "max_tokens"
        case maxCompletionTokens = "max_completion_tokens"
        case responseFormat = "response_format"
    }

    /// Any image among the messages' content parts.
    public var hasImages: Bool {
        messages.contains { message in
            guard case .parts(let parts) = message.content else { return false }
            return parts.contains { $0.type == "image_url" || $0.type == "input_image" || $0.type == "image" }
        }
    }

    public var wantsJSON: Bool { ["json_object", "json_schema"].contains(responseFormat?.type ?? "") }

    /// The output maximum policies and budgets judge: the larger of `max_tokens` and
    /// `max_completion_tokens` when both are given (a provider may honour either).
    public var maxOutputTokens: Int? {
        switch (maxTokens, maxCompletionTokens) {
        case (let tokens?, let completion?): Swift.max(tokens, completion)
        case (let tokens, let completion): tokens ?? completion
        }
    }

    /// The first token maximum below 1, as (field, value): refused, since it would pass every
    /// policy maximum and reserve a negative cost.
    public var invalidTokenLimit: (field: String, value: Int)? {
        if let tokens = maxTokens, tokens < 1 { return ("max_tokens", tokens) }
        if let tokens = maxCompletionTokens, tokens < 1 { return ("max_completion_tokens", tokens) }
        if let answers = n, answers < 1 { return ("n", answers) }
        return nil
    }

    public var isStreaming: Bool { stream ?? false }
    public var clientWantsStreamUsage: Bool { streamOptions?.includeUsage ?? false }
}

public struct OpenAIChatMessage: Decodable, Sendable {
    public var role: String
    public var content: Content?
    public var toolCalls: [ToolCall]?

    public enum Content: Decodable, Sendable {
        case text(String)
        case parts([Part])

        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .text(text)
            } else if let parts = try? container.decode([Part].self) {
                self = .parts(parts)
            } else {
                throw DecodingError.typeMismatch(
                    String.self,
                    .init(codingPath: decoder.codingPath, debugDescription: "expected a string or an array of content parts"))
            }
        }

        /// The text a tokenizer would see, for estimating tokens.
        public var text: String {
            switch self {
            case .text(let text): text
            case .parts(let parts): parts.compactMap(\.text).joined(separator: "\n")
            }
        }
    }

    public struct Part: Decodable, Sendable {
        public var type: String
        public var text: String?
    }

    public struct ToolCall: Decodable, Sendable {
        public var function: Function?

        public struct Function: Decodable, Sendable {
            public var name: String?
            public var arguments: String?
        }
    }

    enum CodingKeys: String, CodingKey {
        case role, content
        case toolCalls = "tool_calls"
    }
}

/// The parts of an OpenAI embeddings request the gateway reads.
public struct OpenAIEmbeddingsRequest: Decodable, Sendable {
    public var model: String
    public var input: Input

    public enum Input: Decodable, Sendable {
        case texts([String])
        case tokens(Int)

        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .texts([text])
            } else if let texts = try? container.decode([String].self) {
                self = .texts(texts)
            } else if let tokens = try? container.decode([Int].self) {
                self = .tokens(tokens.count)
            } else if let batches = try? container.decode([[Int]].self) {
                self = .tokens(batches.reduce(0) { $0 + $1.count })
            } else {
                throw DecodingError.typeMismatch(
                    String.self,
                    .init(
                        codingPath: decoder.codingPath,
                        debugDescription: "expected a string, an array of strings, or an array of token arrays"))
            }
        }
    }
}
