import SwitchyardCore

/// Estimates token counts when an upstream reports none (e.g. llama.cpp streams).
///
/// Input: about four characters per token for English text plus a few tokens of chat-template
/// overhead per message. Output: OpenAI-compatible servers send about one token per chunk, so
/// the chunk count is the better signal unless chunks are visibly batched.
public enum TokenEstimator {
    static let charactersPerToken = 4
    static let tokensPerMessage = 4

    /// Messages' text and tool calls; an image part counts as a low-detail tile (~85 tokens), as
    /// in the canonical estimate.
    public static func inputTokens(of messages: [OpenAIChatMessage]) -> Int {
        var total = 2
        for message in messages {
            var characters = message.content?.text.count ?? 0
            for call in message.toolCalls ?? [] {
                characters += (call.function?.name?.count ?? 0) + (call.function?.arguments?.count ?? 0)
            }
            if case .parts(let parts) = message.content {
                for part in parts where ["image_url", "input_image", "image"].contains(part.type) {
                    characters += 85 * charactersPerToken
                }
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

    /// A canonical request's prompt: system, messages, tool calls and results, tool schemas; an
    /// image counts as a low-detail tile (~85 tokens).
    public static func inputTokens(of request: CanonicalRequest) -> Int {
        func characters(_ parts: [ContentPart]) -> Int {
            parts.reduce(0) { total, part in
                switch part {
                case .text(let text): total + text.count
                case .toolCall(let call): total + call.name.count + call.arguments.count
                case .toolResult(let result): total + characters(result.content)
                case .thinking(let text, _): total + text.count
                case .image: total + 85 * charactersPerToken
                }
            }
        }
        let toolCharacters = request.tools.reduce(0) { $0 + $1.name.count + $1.parameters.serialized().count }
        let messageTokens = request.messages.reduce(0) {
            $0 + tokensPerMessage + tokens(forCharacters: characters($1.content))
        }
        return 2 + tokens(forCharacters: characters(request.system) + toolCharacters) + messageTokens
    }
}
