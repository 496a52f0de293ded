import SwitchyardCore

/// OpenAI's `usage` object, as found in responses and in the last chunk of a stream.
public struct OpenAIUsage: Decodable, Sendable, Equatable {
    public var promptTokens: Int?
    public var completionTokens: Int?
    public var promptTokensDetails: PromptTokensDetails?
    public var completionTokensDetails: CompletionTokensDetails?

    public struct CompletionTokensDetails: Decodable, Sendable, Equatable {
        public var reasoningTokens: Int?

        public init(reasoningTokens: Int?) { self.reasoningTokens = reasoningTokens }

        enum CodingKeys: String, CodingKey {
            case reasoningTokens = "reasoning_tokens"
        }
    }

    public struct PromptTokensDetails: Decodable, Sendable, Equatable {
        public var cachedTokens: Int?

        public init(cachedTokens: Int?) { self.cachedTokens = cachedTokens }

        enum CodingKeys: String, CodingKey {
            case cachedTokens = "cached_tokens"
        }
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
        case promptTokensDetails = "prompt_tokens_details"
        case completionTokensDetails = "completion_tokens_details"
    }

    /// Reads a `usage` object with the gateway's own parser: Foundation's `JSONDecoder` costs more
    /// than the rest of the response handling, and this runs for every response. Nil when the
    /// bytes are not such an object (a count that is not a whole number included), as decoding would be.
    ///
    /// Inlinable so callers in other modules get it specialized (unspecialized, the generic
    /// parse looked up type metadata on every response).
    @inlinable
    public init?<Bytes: Collection<UInt8>>(json bytes: Bytes) {
        self.init(jsonBytes: Array(bytes))
    }

    @usableFromInline
    init?(jsonBytes bytes: [UInt8]) {
        guard case .object(let object)? = try? JSONValue.parse(array: bytes, maxDepth: 64, lenient: false) else { return nil }
        func count(_ value: JSONValue?) throws -> Int? {
            switch value {
            case nil, .null?: return nil
            case .number(let text)?:
                guard let count = Int(text) else {
                    throw JSONParseError(reason: "a token count is not a whole number", offset: 0)
                }
                return count
            default: throw JSONParseError(reason: "a token count is not a whole number", offset: 0)
            }
        }
        func details(_ value: JSONValue?, _ key: String) throws -> Int?? {
            switch value {
            case nil, .null?: return .none
            case .object(let details)?: return .some(try count(details[key]))
            default: throw JSONParseError(reason: "token details are not an object", offset: 0)
            }
        }
        do {
            promptTokens = try count(object["prompt_tokens"])
            completionTokens = try count(object["completion_tokens"])
            promptTokensDetails = try details(object["prompt_tokens_details"], "cached_tokens").map {
                PromptTokensDetails(cachedTokens: $0)
            }
            completionTokensDetails = try details(object["completion_tokens_details"], "reasoning_tokens").map {
                CompletionTokensDetails(reasoningTokens: $0)
            }
        } catch {
            return nil
        }
    }

    /// Cached tokens are already inside `prompt_tokens` in OpenAI's semantics: not added twice.
    public var tokenUsage: TokenUsage {
        TokenUsage(
            inputTokens: promptTokens ?? 0, outputTokens: completionTokens ?? 0,
            cachedInputTokens: promptTokensDetails?.cachedTokens ?? 0,
            reasoningTokens: completionTokensDetails?.reasoningTokens ?? 0, isEstimated: false)
    }
}

/// A response body (chat completion or embeddings) read only for its usage.
public struct OpenAIUsageEnvelope: Decodable, Sendable {
    public var usage: OpenAIUsage?
}

/// One streamed chat completion chunk, read for its usage and for what it adds to the output.
public struct OpenAIChatChunk: Decodable, Sendable {
    public var choices: [Choice]?
    public var usage: OpenAIUsage?

    public struct Choice: Decodable, Sendable {
        public var delta: Delta?
        public var finishReason: String?

        enum CodingKeys: String, CodingKey {
            case delta
            case finishReason = "finish_reason"
        }
    }

    public struct Delta: Decodable, Sendable {
        public var content: String?
        public var reasoningContent: String?
        public var toolCalls: [OpenAIChatMessage.ToolCall]?

        enum CodingKeys: String, CodingKey {
            case content
            case reasoningContent = "reasoning_content"
            case toolCalls = "tool_calls"
        }
    }

    /// Characters of generated output in this chunk (text, reasoning and tool-call arguments).
    public var outputCharacterCount: Int {
        (choices ?? []).reduce(0) { total, choice in
            guard let delta = choice.delta else { return total }
            let toolCharacters = (delta.toolCalls ?? []).reduce(0) {
                $0 + ($1.function?.arguments?.count ?? 0) + ($1.function?.name?.count ?? 0)
            }
            return total + (delta.content?.count ?? 0) + (delta.reasoningContent?.count ?? 0) + toolCharacters
        }
    }

    /// A chunk that only carries usage (OpenAI sends it last, with an empty `choices`).
    public var isUsageOnly: Bool { usage != nil && (choices ?? []).isEmpty }
}
