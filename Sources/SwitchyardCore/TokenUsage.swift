/// Tokens consumed by one request, in OpenAI's usage semantics: `inputTokens` includes the
/// cached input tokens and the cache writes, which are reported again separately; `outputTokens`
/// includes the reasoning tokens.
public struct TokenUsage: Hashable, Sendable {
    public var inputTokens: Int
    public var outputTokens: Int
    /// Input tokens read from the provider's prompt cache.
    public var cachedInputTokens: Int
    /// Input tokens written to the provider's prompt cache (Anthropic bills them above the input rate).
    public var cacheWriteInputTokens: Int
    /// Output tokens the model spent thinking.
    public var reasoningTokens: Int
    /// True when the upstream reported no usage and Switchyard counted the tokens itself.
    public var isEstimated: Bool

    public init(
        inputTokens: Int = 0, outputTokens: Int = 0, cachedInputTokens: Int = 0, cacheWriteInputTokens: Int = 0,
        reasoningTokens: Int = 0, isEstimated: Bool = false
    ) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cachedInputTokens = cachedInputTokens
        self.cacheWriteInputTokens = cacheWriteInputTokens
        self.reasoningTokens = reasoningTokens
        self.isEstimated = isEstimated
    }

    public static let none = TokenUsage()

    /// Input tokens billed at the plain input rate.
    public var uncachedInputTokens: Int { max(0, inputTokens - cachedInputTokens - cacheWriteInputTokens) }

    /// Output tokens billed at the plain output rate.
    public var nonReasoningOutputTokens: Int { max(0, outputTokens - reasoningTokens) }
}

extension TokenUsage: Codable {
    enum CodingKeys: String, CodingKey {
        case inputTokens, outputTokens, cachedInputTokens, cacheWriteInputTokens, reasoningTokens, isEstimated
    }

    /// Journal lines written before cache writes and reasoning were kept still decode.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            inputTokens: try container.decode(Int.self, forKey: .inputTokens),
            outputTokens: try container.decode(Int.self, forKey: .outputTokens),
            cachedInputTokens: try container.decodeIfPresent(Int.self, forKey: .cachedInputTokens) ?? 0,
            cacheWriteInputTokens: try container.decodeIfPresent(Int.self, forKey: .cacheWriteInputTokens) ?? 0,
            reasoningTokens: try container.decodeIfPresent(Int.self, forKey: .reasoningTokens) ?? 0,
            isEstimated: try container.decodeIfPresent(Bool.self, forKey: .isEstimated) ?? false)
    }
}
