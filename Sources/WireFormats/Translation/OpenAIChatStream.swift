import SwitchyardCore

/// Reads an OpenAI-compatible chat completion stream into canonical events, one SSE event at a
/// time. Tolerates the dialects of compatible servers (llama.cpp repeats a tool call's id and
/// name in every fragment; vLLM/DeepSeek send `reasoning_content`).
public struct OpenAIChatStreamDecoder: Sendable {
    private var started = false
    private var startedToolCalls: Set<Int> = []
    public private(set) var sawStop = false
    public private(set) var sawDone = false

    public init() {}

    public var endedCleanly: Bool { sawStop || sawDone }

    public mutating func decode(_ event: ServerSentEvent) throws(StreamDecodingError) -> [CanonicalStreamEvent] {
        if event.isDone {
            sawDone = true
            return []
        }
        let json = try StreamDecodingError.json(of: event)
        if let error = json["error"] {
            throw StreamDecodingError(error["message"]?.stringValue ?? error.jsonText, fromProvider: true)
        }
        var events: [CanonicalStreamEvent] = []
        if !started {
            started = true
            events.append(.start(id: json["id"]?.stringValue ?? "", model: json["model"]?.stringValue ?? ""))
        }
        if let choice = json["choices"]?.arrayValue?.first {
            if let delta = choice["delta"] {
                if let reasoning = delta["reasoning_content"]?.stringValue, !reasoning.isEmpty {
                    events.append(.thinkingDelta(reasoning))
                }
                if let text = delta["content"]?.stringValue, !text.isEmpty { events.append(.textDelta(text)) }
                for (position, call) in (delta["tool_calls"]?.arrayValue ?? []).enumerated() {
                    let index = call["index"]?.intValue ?? position
                    let function = call["function"]
                    if !startedToolCalls.contains(index) {
                        startedToolCalls.insert(index)
                        events.append(
                            .toolCallStart(
                                index: index, id: call["id"]?.stringValue ?? "call_\(index)",
                                name: function?["name"]?.stringValue ?? ""))
                    }
                    if let fragment = function?["arguments"]?.stringValue, !fragment.isEmpty {
                        events.append(.toolCallArguments(index: index, fragment: fragment))
                    }
                }
            }
            if let reason = choice["finish_reason"]?.stringValue {
                sawStop = true
                events.append(.stop(OpenAIChatFormat.stopReason(reason)))
            }
        }
        if let usage = json["usage"], case .object(let object) = usage {
            if let decoded = try? OpenAIChatFormat.decodeUsage(FieldReader(object, path: "usage")) {
                events.append(.usage(decoded))
            }
        }
        return events
    }
}

/// Writes canonical events as an OpenAI chat completion stream, for OpenAI clients served by
/// another provider. Ends with the usage chunk (if the client asked) and `[DONE]`.
public struct OpenAIChatStreamEncoder: Sendable {
    let model: String
    let created: Int
    let includeUsage: Bool
    private var id = "chatcmpl-" + RandomIdentifier.base62(count: 24)
    private var sentRole = false
    private var usage: CanonicalUsage?

    public init(model: String, created: Int, includeUsage: Bool) {
        self.model = model
        self.created = created
        self.includeUsage = includeUsage
    }

    public mutating func encode(_ event: CanonicalStreamEvent) -> [ServerSentEvent] {
        switch event {
        case .start(let upstreamID, _):
            if !upstreamID.isEmpty { id = upstreamID }
            return []
        case .textDelta(let text):
            return [chunk(delta: ["content": .string(text)])]
        case .thinkingDelta(let text):
            return [chunk(delta: ["reasoning_content": .string(text)])]
        case .toolCallStart(let index, let callID, let name):
            let call: JSONValue = .object([
                "index": .number(index), "id": .string(callID), "type": "function",
                "function": .object(["name": .string(name), "arguments": ""]),
            ])
            return [chunk(delta: ["tool_calls": .array([call])])]
        case .toolCallArguments(let index, let fragment):
            let call: JSONValue = .object([
                "index": .number(index), "function": .object(["arguments": .string(fragment)]),
            ])
            return [chunk(delta: ["tool_calls": .array([call])])]
        case .stop(let reason):
            return [chunk(delta: [:], finishReason: OpenAIChatFormat.finishReason(reason))]
        case .usage(let reported):
            usage = reported
            return []
        }
    }

    /// The events that close a complete stream.
    public mutating func finish() -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        if includeUsage, let usage {
            var object = header()
            object["choices"] = .array([])
            object["usage"] = OpenAIChatFormat.encodeUsage(usage)
            events.append(ServerSentEvent(data: JSONValue.object(object).serialized()))
        }
        events.append(ServerSentEvent(data: "[DONE]"))
        return events
    }

    private func header() -> JSONObject {
        [
            "id": .string(id), "object": "chat.completion.chunk", "created": .number(created), "model": .string(model),
        ]
    }

    private mutating func chunk(delta: JSONObject, finishReason: String? = nil) -> ServerSentEvent {
        var delta = delta
        if !sentRole {
            sentRole = true
            delta["role"] = "assistant"
        }
        var object = header()
        object["choices"] = .array([
            .object([
                "index": .number(0), "delta": .object(delta), "logprobs": .null,
                "finish_reason": finishReason.map { .string($0) } ?? .null,
            ])
        ])
        if includeUsage { object["usage"] = .null }
        return ServerSentEvent(data: JSONValue.object(object).serialized())
    }
}
