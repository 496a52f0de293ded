/// Google Gemini `generateContent` / `streamGenerateContent?alt=sse` ⇄ canonical (egress only:
/// clients do not speak Gemini to Switchyard).
public enum GeminiFormat {
    public static let name = "the Gemini API"

    public static func path(model: String, streaming: Bool) -> String {
        streaming ? "/models/\(model):streamGenerateContent?alt=sse" : "/models/\(model):generateContent"
    }

    // MARK: Requests

    /// The request body; the model travels in the URL.
    public static func encodeRequest(_ request: CanonicalRequest) throws(TranslationError) -> JSONValue {
        let extensions = request.extensions
        if let count = extensions.choiceCount, count > 1 {
            throw .unsupported("n", by: "Switchyard's translation to \(name)", reason: "one answer per request")
        }
        if extensions.logprobs == true || extensions.topLogprobs != nil {
            throw .unsupported(
                extensions.logprobs == true ? "logprobs" : "top_logprobs", by: "Switchyard's translation to \(name)")
        }
        if extensions.logitBias != nil { throw .unsupported("logit_bias", by: name) }

        var body = JSONObject()
        var names: [String: String] = [:]
        var contents: [JSONValue] = []
        for (index, message) in request.messages.enumerated() {
            var parts: [JSONValue] = []
            for part in message.content {
                switch part {
                case .text(let text):
                    if !text.isEmpty { parts.append(.object(["text": .string(text)])) }
                case .image(.base64(let mediaType, let data)):
                    parts.append(.object(["inlineData": .object(["mimeType": .string(mediaType), "data": .string(data)])]))
                case .image(.url):
                    throw .unsupported(
                        "messages[\(index)] image URL", by: name,
                        reason: "it only reads images sent inline; send the image as base64 data")
                case .toolCall(let call):
                    names[call.id] = call.name
                    let args: JSONValue
                    do {
                        args = try JSONValue.parse(Array(call.arguments.utf8), lenient: true)
                    } catch {
                        throw .invalid("The arguments of tool call '\(call.id)' are not valid JSON.", param: "messages[\(index)]")
                    }
                    parts.append(
                        .object(["functionCall": .object(["id": .string(call.id), "name": .string(call.name), "args": args])]))
                case .toolResult(let result):
                    guard let functionName = result.name ?? names[result.toolCallID] else {
                        throw .invalid(
                            "The tool result for '\(result.toolCallID)' answers no earlier tool call; Gemini needs the function's name.",
                            param: "messages[\(index)]")
                    }
                    let response: JSONValue = .object([result.isError ? "error" : "result": .string(result.text)])
                    parts.append(
                        .object([
                            "functionResponse": .object([
                                "id": .string(result.toolCallID), "name": .string(functionName), "response": response,
                            ])
                        ]))
                case .thinking: continue
                }
            }
            guard !parts.isEmpty else { continue }
            contents.append(.object(["role": .string(message.role == .user ? "user" : "model"), "parts": .array(parts)]))
        }
        body["contents"] = .array(contents)
        if !request.system.isEmpty {
            body["systemInstruction"] = .object([
                "parts": .array(request.system.compactMap(\.text).map { .object(["text": .string($0)]) })
            ])
        }
        if !request.tools.isEmpty {
            let declarations: [JSONValue] = request.tools.map { tool in
                var declaration: JSONObject = ["name": .string(tool.name)]
                declaration.set("description", tool.description.map { .string($0) })
                declaration["parametersJsonSchema"] = tool.parameters
                return .object(declaration)
            }
            body["tools"] = .array([.object(["functionDeclarations": .array(declarations)])])
        }
        if let choice = request.toolChoice {
            let config: JSONObject =
                switch choice {
                case .auto: ["mode": "AUTO"]
                case .none: ["mode": "NONE"]
                case .required: ["mode": "ANY"]
                case .tool(let name): ["mode": "ANY", "allowedFunctionNames": .array([.string(name)])]
                }
            body["toolConfig"] = .object(["functionCallingConfig": .object(config)])
        }
        var generation = JSONObject()
        generation.set("maxOutputTokens", request.maxOutputTokens.map { .number($0) })
        generation.set("temperature", request.temperature.map { .number($0) })
        generation.set("topP", request.topP.map { .number($0) })
        generation.set("topK", request.topK.map { .number($0) })
        if !request.stopSequences.isEmpty { generation["stopSequences"] = .array(request.stopSequences.map { .string($0) }) }
        generation.set("presencePenalty", extensions.presencePenalty.map { .number($0) })
        generation.set("frequencyPenalty", extensions.frequencyPenalty.map { .number($0) })
        generation.set("seed", extensions.seed.map { .number($0) })
        switch request.responseFormat {
        case .jsonObject: generation["responseMimeType"] = "application/json"
        case .jsonSchema(_, let schema, _):
            generation["responseMimeType"] = "application/json"
            generation["responseJsonSchema"] = schema
        case .text, nil: break
        }
        if let budget = request.reasoning?.tokens {
            generation["thinkingConfig"] = .object(["thinkingBudget": .number(budget), "includeThoughts": true])
        }
        if !generation.isEmpty { body["generationConfig"] = .object(generation) }
        return .object(body)
    }

    // MARK: Responses

    public static func decodeResponse(_ json: JSONValue) throws(TranslationError) -> CanonicalResponse {
        let body = try FieldReader(json, path: "")
        var decoder = GeminiStreamDecoder()
        let events = try decoder.events(from: body)
        var content: [ContentPart] = []
        var stop = StopReason.endTurn
        var usage: CanonicalUsage?
        var id = ""
        var model = ""
        for event in events {
            switch event {
            case .start(let startID, let startModel): (id, model) = (startID, startModel)
            case .textDelta(let text):
                if case .text(let previous) = content.last {
                    content[content.count - 1] = .text(previous + text)
                } else {
                    content.append(.text(text))
                }
            case .thinkingDelta(let text): content.append(.thinking(text: text, signature: nil))
            case .toolCallStart(_, let callID, let name):
                content.append(.toolCall(ToolCall(id: callID, name: name, arguments: "")))
            case .toolCallArguments(_, let fragment):
                if case .toolCall(var call) = content.last {
                    call.arguments += fragment
                    content[content.count - 1] = .toolCall(call)
                }
            case .stop(let reason): stop = reason
            case .usage(let reported): usage = reported
            }
        }
        return CanonicalResponse(id: id, model: model, content: content, stopReason: stop, usage: usage)
    }

    static func stopReason(_ reason: String, sawToolCall: Bool) -> StopReason {
        switch reason {
        case "STOP": sawToolCall ? .toolUse : .endTurn
        case "MAX_TOKENS": .maxTokens
        case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY": .contentFilter
        default: .other(reason.lowercased())
        }
    }
}

/// Reads Gemini's SSE stream: every event is a whole `GenerateContentResponse` holding the next
/// parts; function calls arrive whole; usage comes with each chunk and is final on the last.
public struct GeminiStreamDecoder: Sendable {
    private var started = false
    private var toolCalls = 0
    public private(set) var sawFinishReason = false

    public init() {}

    public var endedCleanly: Bool { sawFinishReason }

    public mutating func decode(_ event: ServerSentEvent) throws(StreamDecodingError) -> [CanonicalStreamEvent] {
        let json = try StreamDecodingError.json(of: event)
        if let error = json["error"] {
            throw StreamDecodingError(
                "\(error["status"]?.stringValue ?? "error"): \(error["message"]?.stringValue ?? "")", fromProvider: true)
        }
        do {
            return try events(from: FieldReader(json, path: ""))
        } catch {
            throw StreamDecodingError("the upstream sent an event Switchyard cannot read: \(error.message)")
        }
    }

    mutating func events(from body: FieldReader) throws(TranslationError) -> [CanonicalStreamEvent] {
        var events: [CanonicalStreamEvent] = []
        if !started {
            started = true
            events.append(
                .start(id: try body.string("responseId") ?? "", model: try body.string("modelVersion") ?? ""))
        }
        if let candidate = try body.array("candidates")?.first {
            let reader = try FieldReader(candidate, path: "candidates[0]")
            for (index, part) in (try reader.object("content")?.array("parts") ?? []).enumerated() {
                let partReader = try FieldReader(part, path: "candidates[0].content.parts[\(index)]")
                if let call = try partReader.object("functionCall") {
                    let callIndex = toolCalls
                    toolCalls += 1
                    events.append(
                        .toolCallStart(
                            index: callIndex, id: try call.string("id") ?? "call_\(callIndex)",
                            name: try call.requiredString("name")))
                    events.append(.toolCallArguments(index: callIndex, fragment: (call.value("args") ?? .object([:])).jsonText))
                } else if let text = try partReader.string("text"), !text.isEmpty {
                    events.append(try partReader.bool("thought") == true ? .thinkingDelta(text) : .textDelta(text))
                }
            }
            if let reason = try reader.string("finishReason") {
                sawFinishReason = true
                events.append(.stop(GeminiFormat.stopReason(reason, sawToolCall: toolCalls > 0)))
            }
        } else if let feedback = try body.object("promptFeedback"), try feedback.string("blockReason") != nil {
            sawFinishReason = true
            events.append(.stop(.contentFilter))
        }
        if let usage = try body.object("usageMetadata") {
            let thoughts = try usage.int("thoughtsTokenCount") ?? 0
            events.append(
                .usage(
                    CanonicalUsage(
                        input: try usage.int("promptTokenCount") ?? 0,
                        output: (try usage.int("candidatesTokenCount") ?? 0) + thoughts,
                        cacheRead: try usage.int("cachedContentTokenCount") ?? 0, reasoning: thoughts)))
        }
        return events
    }
}
