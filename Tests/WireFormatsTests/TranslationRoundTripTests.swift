import Testing

@testable import WireFormats

/// Property tests: random canonical requests, responses and streams, written in a format and read
/// back, keep every field that format can express. A seeded generator makes failures replayable.
@Suite struct TranslationRoundTripTests {
    static let seeds: [UInt64] = Array(1...200)

    // MARK: Requests

    @Test(arguments: seeds) func openAIChatRequestsRoundTrip(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        let request = random.request(for: .openAIChat)
        let decoded = try OpenAIChatFormat.decodeRequest(OpenAIChatFormat.encodeRequest(request, model: request.model))
        #expect(decoded == request, "seed \(seed)")
    }

    @Test(arguments: seeds) func anthropicRequestsRoundTrip(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        let request = random.request(for: .anthropicMessages)
        let decoded = try AnthropicFormat.decodeRequest(AnthropicFormat.encodeRequest(request, model: request.model))
        #expect(decoded == request, "seed \(seed)")
    }

    @Test(arguments: seeds) func requestsSurviveSerialization(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        let request = random.request(for: .anthropicMessages)
        let json = try AnthropicFormat.encodeRequest(request, model: request.model)
        #expect(try JSONValue.parse(json.serialized()) == json)
    }

    // MARK: Responses

    @Test(arguments: seeds) func openAIChatResponsesRoundTrip(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        let response = random.response(for: .openAIChat)
        let decoded = try OpenAIChatFormat.decodeResponse(OpenAIChatFormat.encodeResponse(response, created: 1))
        #expect(decoded == response, "seed \(seed)")
    }

    @Test(arguments: seeds) func anthropicResponsesRoundTrip(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        let response = random.response(for: .anthropicMessages)
        let decoded = try AnthropicFormat.decodeResponse(AnthropicFormat.encodeResponse(response))
        #expect(decoded == response, "seed \(seed)")
    }

    // MARK: Streams

    @Test(arguments: seeds) func openAIChatStreamsRoundTrip(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        let events = random.stream()
        var encoder = OpenAIChatStreamEncoder(model: "m", created: 1, includeUsage: true)
        var decoder = OpenAIChatStreamDecoder()
        let wire = events.flatMap { encoder.encode($0) } + encoder.finish()
        let decoded = try wire.flatMap { try decoder.decode(reparsed($0)) }
        #expect(decoder.endedCleanly)
        #expect(Assembled(decoded) == Assembled(events), "seed \(seed)")
    }

    @Test(arguments: seeds) func anthropicStreamsRoundTrip(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        let events = random.stream()
        var encoder = AnthropicStreamEncoder(model: "m", estimatedInputTokens: 0)
        var decoder = AnthropicStreamDecoder()
        let wire = events.flatMap { encoder.encode($0) } + encoder.finish()
        let decoded = try wire.flatMap { try decoder.decode(reparsed($0)) }
        #expect(decoder.endedCleanly)
        #expect(Assembled(decoded) == Assembled(events), "seed \(seed)")
    }

    /// Each event goes through real SSE bytes, cut at a random place, as on the wire.
    func reparsed(_ event: ServerSentEvent) -> ServerSentEvent {
        var parser = ServerSentEventParser()
        let bytes = event.encoded()
        let cut = bytes.count / 3
        let events = parser.feed(bytes[..<cut]) + parser.feed(bytes[cut...])
        return events.first ?? ServerSentEvent(data: [])
    }

    /// What a client ends up with after a stream: text, thinking, tool calls with whole
    /// arguments, the stop reason and the last usage.
    struct Assembled: Equatable {
        var text = ""
        var thinking = ""
        var calls: [ToolCall] = []
        var stop: StopReason?
        var usage: CanonicalUsage?

        init(_ events: [CanonicalStreamEvent]) {
            for event in events {
                switch event {
                case .start: break
                case .textDelta(let delta): text += delta
                case .thinkingDelta(let delta): thinking += delta
                case .toolCallStart(_, let id, let name): calls.append(ToolCall(id: id, name: name, arguments: ""))
                case .toolCallArguments(let index, let fragment): calls[index].arguments += fragment
                case .stop(let reason): stop = reason
                case .usage(let reported): usage = reported
                }
            }
        }
    }
}

/// SplitMix64: small, fast and reproducible.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &self) < percent }

    mutating func word() -> String {
        let words = ["Paris", "weather", "über", "naïve", "🚂 train", "line\nbreak", "quote \"x\"", "tab\t", "日本", "a/b\\c"]
        return words.randomElement(using: &self)!
    }

    mutating func text() -> String { (0..<Int.random(in: 1...4, using: &self)).map { _ in word() }.joined(separator: " ") }

    mutating func number() -> String { ["0", "0.7", "1", "1.5", "2e-3", "-0.25"].randomElement(using: &self)! }

    mutating func arguments() -> String {
        JSONValue.object(["city": .string(word()), "days": .number(Int.random(in: 1...9, using: &self))]).jsonText
    }

    mutating func schema() -> JSONValue {
        .object(["type": "object", "properties": .object([word(): .object(["type": "string"])]), "required": .array([])])
    }

    mutating func request(for format: ClientFormat) -> CanonicalRequest {
        let anthropic = format == .anthropicMessages
        var request = CanonicalRequest(model: "model-\(Int.random(in: 1...9, using: &self))")
        if chance(70) { request.system = [.text(text())] }
        request.maxOutputTokens = anthropic || chance(60) ? Int.random(in: 1...4096, using: &self) : nil
        if chance(50) { request.temperature = number() }
        if chance(30) { request.topP = number() }
        if chance(30) { request.topK = Int.random(in: 1...50, using: &self) }
        if chance(30) { request.stopSequences = [word(), word()] }
        if chance(40) { request.user = "user-\(Int.random(in: 1...99, using: &self))" }
        request.stream = chance(50)
        for _ in 0..<Int.random(in: 0...3, using: &self) {
            request.tools.append(
                ToolDefinition(name: "tool_\(request.tools.count)", description: chance(50) ? text() : nil, parameters: schema()))
        }
        if !request.tools.isEmpty && chance(60) {
            request.toolChoice = [.auto, .none, .required, .tool("tool_0")].randomElement(using: &self)!
        }
        if chance(30) { request.parallelToolCalls = anthropic ? false : chance(50) }
        if anthropic && request.parallelToolCalls == false && request.toolChoice == ToolChoice.none {
            request.parallelToolCalls = nil
        }
        if anthropic && request.parallelToolCalls == false && request.tools.isEmpty { request.parallelToolCalls = nil }
        // Anthropic carries "no parallel calls" inside tool_choice, whose default is auto.
        if anthropic && request.parallelToolCalls == false && request.toolChoice == nil { request.toolChoice = .auto }
        if chance(20) {
            request.reasoning =
                anthropic ? Reasoning(budgetTokens: Int.random(in: 1024...32000, using: &self)) : Reasoning(effort: "medium")
        }
        if !anthropic {
            if chance(30) {
                request.responseFormat = [
                    ResponseFormat.text, .jsonObject, .jsonSchema(name: "out", schema: schema(), strict: true),
                ]
                .randomElement(using: &self)!
            }
            if chance(20) { request.extensions.seed = "42" }
            if chance(20) { request.extensions.presencePenalty = number() }
            if chance(20) { request.extensions.choiceCount = 2 }
            if chance(20) { request.extensions.logprobs = true; request.extensions.topLogprobs = 3 }
        }
        // A conversation: user turns, assistant turns with tool calls, their results.
        var pendingCalls: [ToolCall] = []
        for turn in 0..<Int.random(in: 1...6, using: &self) {
            if turn % 2 == 0 {
                if !pendingCalls.isEmpty {
                    let results = pendingCalls.map { call in
                        ContentPart.toolResult(
                            ToolResult(
                                toolCallID: call.id, name: anthropic ? nil : call.name, content: [.text(text())],
                                isError: anthropic && chance(30)))
                    }
                    request.messages.append(CanonicalMessage(role: .user, content: results))
                    pendingCalls = []
                    continue
                }
                var parts: [ContentPart] = [.text(text())]
                if chance(30) { parts.append(.image(.base64(mediaType: "image/png", data: "iVBORw0KGgo="))) }
                if chance(20) { parts.append(.image(.url("https://example.test/cat.png"))) }
                if !anthropic && parts.count == 1 { parts = [.text(text())] }
                request.messages.append(CanonicalMessage(role: .user, content: parts))
            } else {
                var parts: [ContentPart] = []
                if anthropic && chance(20) { parts.append(.thinking(text: text(), signature: "sig-\(turn)")) }
                if chance(80) { parts.append(.text(text())) }
                if !request.tools.isEmpty && chance(50) {
                    for index in 0..<Int.random(in: 1...2, using: &self) {
                        let call = ToolCall(id: "call_\(turn)_\(index)", name: "tool_0", arguments: arguments())
                        pendingCalls.append(call)
                        parts.append(.toolCall(call))
                    }
                }
                if parts.isEmpty { parts = [.text(text())] }
                request.messages.append(CanonicalMessage(role: .assistant, content: parts))
            }
        }
        return request
    }

    mutating func response(for format: ClientFormat) -> CanonicalResponse {
        let anthropic = format == .anthropicMessages
        var content: [ContentPart] = []
        if chance(30) { content.append(.thinking(text: text(), signature: anthropic ? "sig" : nil)) }
        if chance(80) { content.append(.text(text())) }
        for index in 0..<(chance(40) ? Int.random(in: 1...3, using: &self) : 0) {
            content.append(.toolCall(ToolCall(id: "call_\(index)", name: "tool_\(index)", arguments: arguments())))
        }
        var stops: [StopReason] = [.endTurn, .maxTokens, .toolUse, .contentFilter]
        if anthropic { stops.append(.stopSequence(word())) }
        let input = Int.random(in: 0...10_000, using: &self)
        let cacheRead = Int.random(in: 0...input, using: &self)
        let usage = CanonicalUsage(
            input: input, output: Int.random(in: 0...5000, using: &self), cacheRead: cacheRead,
            cacheWrite: anthropic ? Int.random(in: 0...(input - cacheRead), using: &self) : 0,
            reasoning: anthropic ? 0 : Int.random(in: 0...100, using: &self))
        return CanonicalResponse(
            id: anthropic ? "msg_\(next() % 1000)" : "chatcmpl-\(next() % 1000)", model: "model",
            content: content, stopReason: stops.randomElement(using: &self)!, usage: usage)
    }

    /// A plausible stream: text and thinking deltas, tool calls whose arguments arrive in
    /// fragments split anywhere (even inside an escape), a stop reason and usage.
    mutating func stream() -> [CanonicalStreamEvent] {
        var events: [CanonicalStreamEvent] = [.start(id: "id-1", model: "m")]
        if chance(30) { for _ in 0..<Int.random(in: 1...3, using: &self) { events.append(.thinkingDelta(word())) } }
        for _ in 0..<Int.random(in: 0...6, using: &self) { events.append(.textDelta(word())) }
        let calls = chance(50) ? Int.random(in: 1...3, using: &self) : 0
        for index in 0..<calls {
            events.append(.toolCallStart(index: index, id: "call_\(index)", name: "tool_\(index)"))
            var remaining = Substring(arguments())
            while !remaining.isEmpty {
                let size = Int.random(in: 1...max(1, remaining.count), using: &self)
                events.append(.toolCallArguments(index: index, fragment: String(remaining.prefix(size))))
                remaining = remaining.dropFirst(size)
            }
        }
        events.append(.stop(calls > 0 ? .toolUse : [.endTurn, .maxTokens].randomElement(using: &self)!))
        events.append(
            .usage(CanonicalUsage(input: Int.random(in: 1...999, using: &self), output: Int.random(in: 1...999, using: &self))))
        return events
    }
}
