import SwitchyardCore

/// The wire format a client speaks to Switchyard.
public enum ClientFormat: String, Sendable, Equatable {
    case openAIChat = "openai.chat"
    case anthropicMessages = "anthropic.messages"
    case openAIResponses = "openai.responses"
}

/// The decoder for a provider family's response stream.
public enum EgressStreamDecoder: Sendable {
    case openAI(OpenAIChatStreamDecoder)
    case anthropic(AnthropicStreamDecoder)
    case gemini(GeminiStreamDecoder)

    public init(kind: ProviderKind) {
        switch kind {
        case .openai: self = .openAI(OpenAIChatStreamDecoder())
        case .anthropic: self = .anthropic(AnthropicStreamDecoder())
        case .gemini: self = .gemini(GeminiStreamDecoder())
        }
    }

    public mutating func decode(_ event: ServerSentEvent) throws(StreamDecodingError) -> [CanonicalStreamEvent] {
        switch self {
        case .openAI(var decoder):
            defer { self = .openAI(decoder) }
            return try decoder.decode(event)
        case .anthropic(var decoder):
            defer { self = .anthropic(decoder) }
            return try decoder.decode(event)
        case .gemini(var decoder):
            defer { self = .gemini(decoder) }
            return try decoder.decode(event)
        }
    }

    /// Whether the stream so far ended the way a complete stream of this format ends.
    public var endedCleanly: Bool {
        switch self {
        case .openAI(let decoder): decoder.endedCleanly
        case .anthropic(let decoder): decoder.endedCleanly
        case .gemini(let decoder): decoder.endedCleanly
        }
    }
}

/// The encoder for a client format's response stream.
public enum IngressStreamEncoder: Sendable {
    case openAIChat(OpenAIChatStreamEncoder)
    case anthropic(AnthropicStreamEncoder)
    case responses(ResponsesStreamEncoder)

    public init(
        format: ClientFormat, request: CanonicalRequest, model: String, createdAt: Int, includeUsage: Bool,
        estimatedInputTokens: Int
    ) {
        switch format {
        case .openAIChat:
            self = .openAIChat(OpenAIChatStreamEncoder(model: model, created: createdAt, includeUsage: includeUsage))
        case .anthropicMessages:
            self = .anthropic(AnthropicStreamEncoder(model: model, estimatedInputTokens: estimatedInputTokens))
        case .openAIResponses:
            self = .responses(ResponsesStreamEncoder(request: request, model: model, createdAt: createdAt))
        }
    }

    public mutating func encode(_ event: CanonicalStreamEvent) -> [ServerSentEvent] {
        switch self {
        case .openAIChat(var encoder):
            defer { self = .openAIChat(encoder) }
            return encoder.encode(event)
        case .anthropic(var encoder):
            defer { self = .anthropic(encoder) }
            return encoder.encode(event)
        case .responses(var encoder):
            defer { self = .responses(encoder) }
            return encoder.encode(event)
        }
    }

    public mutating func finish() -> [ServerSentEvent] {
        switch self {
        case .openAIChat(var encoder):
            defer { self = .openAIChat(encoder) }
            return encoder.finish()
        case .anthropic(var encoder):
            defer { self = .anthropic(encoder) }
            return encoder.finish()
        case .responses(var encoder):
            defer { self = .responses(encoder) }
            return encoder.finish()
        }
    }

    /// The events that tell the client its stream failed after it started.
    public mutating func fail(status: Int, code: String, message: String) -> [ServerSentEvent] {
        switch self {
        case .openAIChat:
            let error = OpenAIError(
                status: status, message: message, type: "api_error", code: code, errorClass: .streamInterrupted)
            return [ServerSentEvent(data: error.body())]
        case .anthropic:
            return [AnthropicStreamEncoder.errorEvent(status: status, message: message)]
        case .responses(var encoder):
            defer { self = .responses(encoder) }
            return encoder.fail(code: code, message: message)
        }
    }
}
