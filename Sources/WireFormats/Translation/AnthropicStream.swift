import SwitchyardCore

/// Reads an Anthropic Messages event stream into canonical events.
///
/// Unknown event types are skipped, as Anthropic's versioning policy asks of clients; an
/// `error` event or a malformed event ends the stream with a `StreamDecodingError`.
public struct AnthropicStreamDecoder: Sendable {
    /// Content block index → tool call index, for routing `input_json_delta`s.
    private var toolCallIndex: [Int: Int] = [:]
    private var usage = CanonicalUsage(input: 0, output: 0)
    public private(set) var sawMessageStop = false

    public init() {}

    public var endedCleanly: Bool { sawMessageStop }

    public mutating func decode(_ event: ServerSentEvent) throws(StreamDecodingError) -> [CanonicalStreamEvent] {
        let json = try StreamDecodingError.json(of: event)
        guard let type = json["type"]?.stringValue ?? event.event else {
            throw StreamDecodingError("the upstream sent an event without a type")
        }
        switch type {
        case "message_start":
            guard let message = json["message"] else { throw StreamDecodingError("message_start without a message") }
            var events: [CanonicalStreamEvent] = [
                .start(id: message["id"]?.stringValue ?? "", model: message["model"]?.stringValue ?? "")
            ]
            if let reported = message["usage"] {
                merge(reported)
                events.append(.usage(usage))
            }
            return events
        case "content_block_start":
            guard let index = json["index"]?.intValue, let block = json["content_block"] else {
                throw StreamDecodingError("content_block_start without an index or block")
            }
            switch block["type"]?.stringValue {
            case "text":
                let text = block["text"]?.stringValue ?? ""
                return text.isEmpty ? [] : [.textDelta(text)]
            case "tool_use":
                let callIndex = toolCallIndex.count
                toolCallIndex[index] = callIndex
                return [
                    .toolCallStart(
                        index: callIndex, id: block["id"]?.stringValue ?? "", name: block["name"]?.stringValue ?? "")
                ]
            default: return []
            }
        case "content_block_delta":
            guard let index = json["index"]?.intValue, let delta = json["delta"] else {
                throw StreamDecodingError("content_block_delta without an index or delta")
            }
            switch delta["type"]?.stringValue {
            case "text_delta": return [.textDelta(delta["text"]?.stringValue ?? "")]
            case "thinking_delta": return [.thinkingDelta(delta["thinking"]?.stringValue ?? "")]
            case "input_json_delta":
                guard let callIndex = toolCallIndex[index] else {
                    throw StreamDecodingError("input_json_delta for block \(index), which is not a tool_use block")
                }
                let fragment = delta["partial_json"]?.stringValue ?? ""
                return fragment.isEmpty ? [] : [.toolCallArguments(index: callIndex, fragment: fragment)]
            default: return []
            }
        case "message_delta":
            var events: [CanonicalStreamEvent] = []
            if let reason = json["delta"]?["stop_reason"]?.stringValue {
                events.append(
                    .stop(AnthropicFormat.stopReason(reason, sequence: json["delta"]?["stop_sequence"]?.stringValue)))
            }
            if let reported = json["usage"] {
                merge(reported)
                events.append(.usage(usage))
            }
            return events
        case "message_stop":
            sawMessageStop = true
            return []
        case "error":
            let error = json["error"]
            let kind = error?["type"]?.stringValue ?? "error"
            throw StreamDecodingError("\(kind): \(error?["message"]?.stringValue ?? "")", fromProvider: true)
        default:
            return []  // ping, content_block_stop, and event types added after this version
        }
    }

    /// Anthropic reports usage in `message_start` and again, cumulatively, in `message_delta`.
    private mutating func merge(_ reported: JSONValue) {
        let input = reported["input_tokens"]?.intValue
        let cacheRead = reported["cache_read_input_tokens"]?.intValue
        let cacheWrite = reported["cache_creation_input_tokens"]?.intValue
        if cacheRead != nil { usage.cacheRead = cacheRead! }
        if cacheWrite != nil { usage.cacheWrite = cacheWrite! }
        if let input { usage.input = input + usage.cacheRead + usage.cacheWrite }
        if let output = reported["output_tokens"]?.intValue { usage.output = output }
    }
}

/// Writes canonical events as an Anthropic Messages event stream, for Anthropic clients served by
/// another provider: opens and closes content blocks as the kind of content changes, and ends
/// with `message_delta` (stop reason, usage) and `message_stop`.
public struct AnthropicStreamEncoder: Sendable {
    private enum OpenBlock: Equatable {
        case none
        case text(index: Int)
        case thinking(index: Int)
        case toolUse(index: Int, call: Int)
    }

    let model: String
    private var id = "msg_" + RandomIdentifier.base62(count: 24)
    private var started = false
    private var open = OpenBlock.none
    private var nextBlock = 0
    private var stopReason: StopReason?
    private var usage: CanonicalUsage?
    private let estimatedInputTokens: Int

    public init(model: String, estimatedInputTokens: Int) {
        self.model = model
        self.estimatedInputTokens = estimatedInputTokens
    }

    public mutating func encode(_ event: CanonicalStreamEvent) -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        if case .start(let upstreamID, _) = event, !upstreamID.isEmpty, !started {
            id = upstreamID.hasPrefix("msg_") ? upstreamID : "msg_" + upstreamID
        }
        if !started {
            started = true
            events += start()
        }
        switch event {
        case .start: break
        case .textDelta(let text):
            if case .text(let index) = open {
                events.append(delta(index, ["type": "text_delta", "text": .string(text)]))
            } else {
                let index = openBlock(&events, ["type": "text", "text": ""]) { .text(index: $0) }
                events.append(delta(index, ["type": "text_delta", "text": .string(text)]))
            }
        case .thinkingDelta(let text):
            if case .thinking(let index) = open {
                events.append(delta(index, ["type": "thinking_delta", "thinking": .string(text)]))
            } else {
                let index = openBlock(&events, ["type": "thinking", "thinking": "", "signature": ""]) {
                    .thinking(index: $0)
                }
                events.append(delta(index, ["type": "thinking_delta", "thinking": .string(text)]))
            }
        case .toolCallStart(let call, let callID, let name):
            _ = openBlock(
                &events, ["type": "tool_use", "id": .string(callID), "name": .string(name), "input": .object([:])]
            ) { .toolUse(index: $0, call: call) }
        case .toolCallArguments(let call, let fragment):
            // Blocks cannot interleave: fragments of another call than the open one are dropped
            // only if the upstream interleaves calls, which no supported provider does.
            if case .toolUse(let index, let openCall) = open, openCall == call {
                events.append(delta(index, ["type": "input_json_delta", "partial_json": .string(fragment)]))
            }
        case .stop(let reason):
            stopReason = reason
        case .usage(let reported):
            usage = reported
        }
        return events
    }

    /// The events that end a complete message.
    public mutating func finish() -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        if !started {
            started = true
            events += start()
        }
        closeBlock(&events)
        let reason = stopReason ?? .endTurn
        var stopSequence: JSONValue = .null
        if case .stopSequence(let sequence?) = reason { stopSequence = .string(sequence) }
        let finalUsage = usage ?? CanonicalUsage(input: estimatedInputTokens, output: 0)
        events.append(
            Self.event(
                "message_delta",
                [
                    "type": "message_delta",
                    "delta": .object([
                        "stop_reason": .string(AnthropicFormat.stopReasonName(reason)), "stop_sequence": stopSequence,
                    ]),
                    "usage": AnthropicFormat.encodeUsage(finalUsage),
                ]))
        events.append(Self.event("message_stop", ["type": "message_stop"]))
        return events
    }

    /// An `error` event, for a stream that fails after it started.
    public static func errorEvent(status: Int, message: String) -> ServerSentEvent {
        ServerSentEvent(event: "error", data: AnthropicFormat.errorBody(status: status, message: message))
    }

    private func start() -> [ServerSentEvent] {
        let message: JSONObject = [
            "id": .string(id), "type": "message", "role": "assistant", "model": .string(model), "content": .array([]),
            "stop_reason": .null, "stop_sequence": .null,
            "usage": .object(["input_tokens": .number(usage?.input ?? estimatedInputTokens), "output_tokens": .number(0)]),
        ]
        return [
            Self.event("message_start", ["type": "message_start", "message": .object(message)]),
            Self.event("ping", ["type": "ping"]),
        ]
    }

    private mutating func openBlock(
        _ events: inout [ServerSentEvent], _ block: JSONObject, _ state: (Int) -> OpenBlock
    ) -> Int {
        closeBlock(&events)
        let index = nextBlock
        nextBlock += 1
        open = state(index)
        events.append(
            Self.event(
                "content_block_start", ["type": "content_block_start", "index": .number(index), "content_block": .object(block)]))
        return index
    }

    private mutating func closeBlock(_ events: inout [ServerSentEvent]) {
        let index: Int
        switch open {
        case .none: return
        case .text(let open), .thinking(let open), .toolUse(let open, _): index = open
        }
        events.append(Self.event("content_block_stop", ["type": "content_block_stop", "index": .number(index)]))
        open = .none
    }

    private func delta(_ index: Int, _ delta: JSONObject) -> ServerSentEvent {
        Self.event("content_block_delta", ["type": "content_block_delta", "index": .number(index), "delta": .object(delta)])
    }

    static func event(_ name: String, _ object: JSONObject) -> ServerSentEvent {
        ServerSentEvent(event: name, data: JSONValue.object(object).serialized())
    }
}
