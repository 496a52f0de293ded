import SwitchyardCore

/// OpenAI's `usage` object, as found in responses and in the last chunk of a stream.
public struct OpenAIUsage: Decodable, Sendable, Equatable {
    public var promptTokens: Int?
    public var completionTokens: Int?
    public var promptTokensDetails: PromptTokensDetails?
    public var completionTokensDetails: CompletionTokensDetails?

    public struct CompletionTokensDetails: Decodable, Sendable, Equatable {
        public var reasoningTokens: Int?

        enum CodingKeys: String, CodingKey {
            case reasoningTokens = "reasoning_tokens"
        }
    }

    public struct PromptTokensDetails: Decodable, Sendable, Equatable {
        public var cachedTokens: Int?

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
