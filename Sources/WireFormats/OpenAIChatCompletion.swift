/// A non-streamed chat completion, read for its usage and, when that is missing, its output.
public struct OpenAIChatCompletion: Decodable, Sendable {
    public var usage: OpenAIUsage?
    public var choices: [Choice]?

    public struct Choice: Decodable, Sendable {
        public var message: OpenAIChatMessage?
    }

    public var outputCharacterCount: Int {
        (choices ?? []).reduce(0) { total, choice in
            let toolCharacters = (choice.message?.toolCalls ?? []).reduce(0) {
                $0 + ($1.function?.arguments?.count ?? 0) + ($1.function?.name?.count ?? 0)
            }
            return total + (choice.message?.content?.text.count ?? 0) + toolCharacters
        }
    }
}
