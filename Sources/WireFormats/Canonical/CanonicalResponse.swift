/// A complete model answer in Switchyard's own terms.
public struct CanonicalResponse: Sendable, Equatable {
    public var id: String
    public var model: String
    /// Text, tool calls and thinking, in the order the model produced them.
    public var content: [ContentPart]
    public var stopReason: StopReason
    public var usage: CanonicalUsage?

    public init(id: String, model: String, content: [ContentPart], stopReason: StopReason, usage: CanonicalUsage?) {
        self.id = id
        self.model = model
        self.content = content
        self.stopReason = stopReason
        self.usage = usage
    }

    public var text: String { content.compactMap(\.text).joined() }
    public var toolCalls: [ToolCall] {
        content.compactMap {
            if case .toolCall(let call) = $0 { return call }
            return nil
        }
    }
}

/// Why generation stopped, in common terms; each format maps its own names onto these.
public enum StopReason: Sendable, Equatable {
    case endTurn
    case maxTokens
    case stopSequence(String?)
    case toolUse
    case contentFilter
    /// A reason this version does not know, kept as the provider spelled it.
    case other(String)
}

/// Token counts as reported by the provider. `input` counts every prompt token, cached or not
/// (OpenAI's convention); formats that report cache reads apart (Anthropic) are converted.
public struct CanonicalUsage: Sendable, Equatable {
    public var input: Int
    public var output: Int
    public var cacheRead: Int
    public var cacheWrite: Int
    /// Included in `output`, as every provider bills them.
    public var reasoning: Int

    public init(input: Int, output: Int, cacheRead: Int = 0, cacheWrite: Int = 0, reasoning: Int = 0) {
        self.input = input
        self.output = output
        self.cacheRead = cacheRead
        self.cacheWrite = cacheWrite
        self.reasoning = reasoning
    }
}

/// What happens in a response stream, in common terms. Every egress decoder produces these and
/// every ingress encoder consumes them, one upstream event at a time.
public enum CanonicalStreamEvent: Sendable, Equatable {
    case start(id: String, model: String)
    case textDelta(String)
    case thinkingDelta(String)
    /// A tool call begins; `index` numbers the calls of this response from 0.
    case toolCallStart(index: Int, id: String, name: String)
    case toolCallArguments(index: Int, fragment: String)
    case stop(StopReason)
    /// Usage so far; later events replace earlier ones field by field.
    case usage(CanonicalUsage)
}

/// The upstream's stream could not be understood or reported an error mid-way.
public struct StreamDecodingError: Error, Sendable, Equatable {
    public var message: String
    /// True when the provider itself sent an error event (e.g. Anthropic `overloaded_error`).
    public var fromProvider: Bool

    public init(_ message: String, fromProvider: Bool = false) {
        self.message = message
        self.fromProvider = fromProvider
    }

    /// The event's data as JSON, which every provider's stream events are.
    static func json(of event: ServerSentEvent) throws(StreamDecodingError) -> JSONValue {
        do {
            return try JSONValue.parse(event.data)
        } catch {
            throw StreamDecodingError("the upstream sent an event that is not JSON (\(error))")
        }
    }
}
