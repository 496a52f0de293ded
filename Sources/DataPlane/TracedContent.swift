import WireFormats

/// A request's prompt and its answer in the OpenTelemetry GenAI message schema (v1.41), for the
/// spans of requests whose policy opts in: `gen_ai.system_instructions`, `gen_ai.input.messages`
/// and `gen_ai.output.messages`. Written from the canonical form, so a collector sees the same
/// shape whichever format the client spoke and whichever provider answered.
///
/// Roles are `user`, `assistant`, and `tool` for a turn that holds only tool results. Parts are
/// `text`, `reasoning`, `tool_call` (arguments as JSON when they parse), `tool_call_response`,
/// `uri` for an image link and `blob` for inline image data, whose bytes are left out (a trace is
/// not a replay, and an image would crowd out everything else).
enum TracedContent {
    /// The system instructions, or nil when the request has none.
    static func systemInstructions(_ request: CanonicalRequest) -> [UInt8]? {
        guard !request.system.isEmpty else { return nil }
        return JSONValue.array(request.system.map(part)).serialized()
    }

    static func inputMessages(_ request: CanonicalRequest) -> [UInt8] {
        JSONValue.array(
            request.messages.map { message in
                let onlyToolResults = message.content.allSatisfy {
                    if case .toolResult = $0 { true } else { false }
                }
                let role = message.role == .user && onlyToolResults && !message.content.isEmpty ? "tool" : message.role.rawValue
                return .object(["role": .string(role), "parts": .array(message.content.map(part))])
            }
        ).serialized()
    }

    /// The answer as one assistant message with its finish reason.
    static func outputMessages(_ response: CanonicalResponse) -> [UInt8] {
        outputMessages(response.content, finishReason: finishReason(response.stopReason))
    }

    static func outputMessages(_ parts: [ContentPart], finishReason: String) -> [UInt8] {
        let message: JSONObject = [
            "role": "assistant", "parts": .array(parts.map(part)), "finish_reason": .string(finishReason),
        ]
        return JSONValue.array([.object(message)]).serialized()
    }

    /// The conventions' words (`stop`, `length`, `content_filter`, `tool_call`); another reason as
    /// the provider wrote it.
    static func finishReason(_ reason: StopReason) -> String {
        switch reason {
        case .endTurn, .stopSequence: "stop"
        case .maxTokens: "length"
        case .toolUse: "tool_call"
        case .contentFilter: "content_filter"
        case .other(let other): other
        }
    }

    private static func part(_ part: ContentPart) -> JSONValue {
        switch part {
        case .text(let text):
            return .object(["type": "text", "content": .string(text)])
        case .thinking(let text, _):
            return .object(["type": "reasoning", "content": .string(text)])
        case .image(.url(let url)):
            return .object(["type": "uri", "modality": "image", "uri": .string(url)])
        case .image(.base64(let mediaType, _)):
            return .object(["type": "blob", "modality": "image", "mime_type": .string(mediaType)])
        case .toolCall(let call):
            let arguments = (try? JSONValue.parse(Array(call.arguments.utf8))) ?? .string(call.arguments)
            return .object([
                "type": "tool_call", "id": .string(call.id), "name": .string(call.name), "arguments": arguments,
            ])
        case .toolResult(let result):
            return .object([
                "type": "tool_call_response", "id": .string(result.toolCallID), "response": .string(result.text),
            ])
        }
    }
}

/// A streamed answer's content, gathered from its canonical events for a request whose policy
/// puts content in its span. Bounded: past `limit` bytes (its text, and a few bytes per part) it
/// stops gathering and says the answer was too large (the span then carries
/// `switchyard.content_omitted.output`). A stream that ends without the upstream saying why (cut,
/// killed, broken, left by its client) is `finish_reason: error`.
struct AnswerTranscript: Sendable {
    private let limit: Int
    private var bytes = 0
    private(set) var overflowed = false
    private var content: [ContentPart] = []
    private var stopReason: StopReason?
    /// Where each tool call (by the stream's index) sits in `content`.
    private var toolCallPositions: [Int: Int] = [:]
    /// What a new part counts against the limit besides its text (its JSON's keys).
    static let partCost = 32

    init(limit: Int) { self.limit = limit }

    mutating func read(_ event: CanonicalStreamEvent) {
        switch event {
        case .textDelta(let text):
            let continues = if case .text? = content.last { true } else { false }
            guard admit((continues ? 0 : Self.partCost) + text.utf8.count) else { return }
            // Appended in place: the part is taken out first, so its text has one owner.
            if continues, case .text(var joined) = content.removeLast() {
                joined += text
                content.append(.text(joined))
            } else {
                content.append(.text(text))
            }
        case .thinkingDelta(let text):
            let continues = if case .thinking? = content.last { true } else { false }
            guard admit((continues ? 0 : Self.partCost) + text.utf8.count) else { return }
            if continues, case .thinking(var joined, _) = content.removeLast() {
                joined += text
                content.append(.thinking(text: joined, signature: nil))
            } else {
                content.append(.thinking(text: text, signature: nil))
            }
        case .toolCallStart(let index, let id, let name):
            guard toolCallPositions[index] == nil, admit(Self.partCost + id.utf8.count + name.utf8.count) else { return }
            toolCallPositions[index] = content.count
            content.append(.toolCall(ToolCall(id: id, name: name, arguments: "")))
        case .toolCallArguments(let index, let fragment):
            guard let position = toolCallPositions[index], admit(fragment.utf8.count),
                case .toolCall(var call) = content[position]
            else { return }
            content[position] = .text("")  // the call's arguments now have one owner: appended in place
            call.arguments += fragment
            content[position] = .toolCall(call)
        case .stop(let reason):
            stopReason = reason
        case .start, .usage:
            break
        }
    }

    /// The answer so far as `gen_ai.output.messages`, or nil when it outgrew the limit.
    var outputMessages: [UInt8]? {
        guard !overflowed else { return nil }
        return TracedContent.outputMessages(content, finishReason: stopReason.map(TracedContent.finishReason) ?? "error")
    }

    /// Counts `cost` bytes; past the limit, drops what was gathered and gathers no more.
    private mutating func admit(_ cost: Int) -> Bool {
        guard !overflowed else { return false }
        bytes += cost
        if bytes > limit {
            overflowed = true
            content = []
            toolCallPositions = [:]
        }
        return !overflowed
    }
}
