/// Tokens consumed by one request, in OpenAI's usage semantics: `inputTokens` includes the
/// cached input tokens, which are reported again separately in `cachedInputTokens`.
public struct TokenUsage: Hashable, Sendable, Codable {
    public var inputTokens: Int
    public var outputTokens: Int
    public var cachedInputTokens: Int
    /// True when the upstream reported no usage and Switchyard counted the tokens itself.
    public var isEstimated: Bool

    public init(inputTokens: Int = 0, outputTokens: Int = 0, cachedInputTokens: Int = 0, isEstimated: Bool = false) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cachedInputTokens = cachedInputTokens
        self.isEstimated = isEstimated
    }

    public static let none = TokenUsage()

    public var uncachedInputTokens: Int { max(0, inputTokens - cachedInputTokens) }
}
