import SwitchyardCore

/// Estimates token counts when an upstream reports none (e.g. llama.cpp streams).
///
/// Input: about four characters per token for English text plus a few tokens of chat-template
/// overhead per message. Output: OpenAI-compatible servers send about one token per chunk, so
/// the chunk count is the better signal unless chunks are visibly batched.
public enum TokenEstimator {
    static let charactersPerToken = 4
    static let tokensPerMessage = 4

    public static func inputTokens(of messages: [OpenAIChatMessage]) -> Int {
        var total = 2
        for message in messages {
            var characters = message.content?.text.count ?? 0
            for call in message.toolCalls ?? [] {
                characters += (call.function?.name?.count ?? 0) + (call.function?.arguments?.count ?? 0)
            }
            total += tokensPerMessage + tokens(forCharacters: characters)
        }
        return total
    }

    public static func inputTokens(ofTexts texts: [String]) -> Int {
        texts.reduce(0) { $0 + max(1, tokens(forCharacters: $1.count)) }
    }

    /// - Parameters:
    ///   - chunks: chunks that carried output.
    ///   - characters: characters of output across them.
    public static func outputTokens(chunks: Int, characters: Int) -> Int {
        let byCharacters = tokens(forCharacters: characters)
        // More than ~3 tokens' worth of text per chunk means the server batches tokens.
        if chunks > 0 && characters > chunks * 3 * charactersPerToken { return byCharacters }
        return chunks
    }

    public static func tokens(forCharacters characters: Int) -> Int {
        (characters + charactersPerToken - 1) / charactersPerToken
    }
}
