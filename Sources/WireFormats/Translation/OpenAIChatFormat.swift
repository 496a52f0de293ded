import SwitchyardCore

/// OpenAI Chat Completions ⇄ canonical. The format every OpenAI-compatible server speaks; when
/// both sides speak it, the gateway passes bytes through instead (see `JSONObjectEditor`).
public enum OpenAIChatFormat {

    /// Members a translation can drop without changing the answer.
    static let ignoredMembers: Set<String> = [
        "store", "service_tier", "prompt_cache_key", "safety_identifier", "stream_options", "verbosity",
    ]
    static let knownMembers: Set<String> = [
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "tools",
        "tool_choice", "parallel_tool_calls", "response_format", "reasoning_effort", "stream", "user", "metadata", "n",
        "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty", "seed", "logit_bias", "top_k",
    ]

    // MARK: Requests

    /// A client's request in canonical form. Members the canonical form does not know make the
    /// request untranslatable (a 400 naming the member), never silently dropped.
    public static func decodeRequest(_ json: JSONValue) throws(TranslationError) -> CanonicalRequest {
        let body = try FieldReader(json, path: "")
        try body.rejectMembers(notIn: knownMembers.union(ignoredMembers), by: TranslationError.translation)
        var request = CanonicalRequest(model: try body.requiredString("model"))
        request.stream = try body.bool("stream") ?? false
        // Both given: the larger is what a provider might honour, so it is what is checked and sent.
        let limits = [try body.tokenLimit("max_tokens"), try body.tokenLimit("max_completion_tokens")].compactMap { $0 }
        request.maxOutputTokens = limits.max()
        request.temperature = try body.number("temperature")
        request.topP = try body.number("top_p")
        request.topK = try body.int("top_k")
        request.stopSequences = try body.strings("stop")
        request.user = try body.string("user")
        request.metadata = try body.stringMap("metadata")
        request.parallelToolCalls = try body.bool("parallel_tool_calls")
        if let effort = try body.string("reasoning_effort") { request.reasoning = Reasoning(effort: effort) }
        request.extensions.choiceCount = try body.int("n")
        request.extensions.logprobs = try body.bool("logprobs")
        request.extensions.topLogprobs = try body.int("top_logprobs")
        request.extensions.presencePenalty = try body.number("presence_penalty")
        request.extensions.frequencyPenalty = try body.number("frequency_penalty")
        request.extensions.seed = try body.number("seed")
        request.extensions.logitBias = body.value("logit_bias")

        for (index, tool) in (try body.array("tools") ?? []).enumerated() {
            let reader = try FieldReader(tool, path: "tools[\(index)]")
            let type = try reader.string("type") ?? "function"
            guard type == "function", let function = try reader.object("function") else {
                throw .unsupported("tools[\(index)].type '\(type)'", by: TranslationError.translation)
            }
            request.tools.append(
                ToolDefinition(
                    name: try function.requiredString("name"), description: try function.string("description"),
                    parameters: function.value("parameters") ?? .object(["type": .string("object"), "properties": .object([:])])
                ))
        }
        if let choice = body.value("tool_choice") {
            request.toolChoice = try decodeToolChoice(choice)
        }
        if let format = try body.object("response_format") {
            switch try format.requiredString("type") {
            case "text": request.responseFormat = .text
            case "json_object": request.responseFormat = .jsonObject
            case "json_schema":
                guard let schema = try format.object("json_schema") else { throw format.missing("json_schema") }
                request.responseFormat = .jsonSchema(
                    name: try schema.string("name") ?? "response", schema: schema.value("schema") ?? .object([:]),
                    strict: try schema.bool("strict"))
            case let other:
                throw .invalid(
                    "'response_format.type' '\(other)' is not one of text, json_object, json_schema.",
                    param: "response_format.type")
            }
        }

        var toolNames: [String: String] = [:]
        for (index, message) in try body.requiredArray("messages").enumerated() {
            let reader = try FieldReader(message, path: "messages[\(index)]")
            let role = try reader.requiredString("role")
            switch role {
            case "system", "developer":
                request.system += try decodeContent(reader, allowImages: false)
            case "user":
                request.messages.append(CanonicalMessage(role: .user, content: try decodeContent(reader, allowImages: true)))
            case "assistant":
                var parts = try decodeContent(reader, allowImages: false)
                for (callIndex, call) in (try reader.array("tool_calls") ?? []).enumerated() {
                    let callReader = try FieldReader(call, path: reader.field("tool_calls[\(callIndex)]"))
                    guard let function = try callReader.object("function") else { throw callReader.missing("function") }
                    let toolCall = ToolCall(
                        id: try callReader.requiredString("id"), name: try function.requiredString("name"),
                        arguments: try function.string("arguments") ?? "{}")
                    toolNames[toolCall.id] = toolCall.name
                    parts.append(.toolCall(toolCall))
                }
                request.messages.append(CanonicalMessage(role: .assistant, content: parts))
            case "tool":
                let id = try reader.requiredString("tool_call_id")
                let result = ToolResult(
                    toolCallID: id, name: toolNames[id], content: try decodeContent(reader, allowImages: false))
                // Consecutive tool results answer one assistant turn: keep them in one user turn.
                if let last = request.messages.last, last.role == .user,
                    last.content.allSatisfy({ if case .toolResult = $0 { true } else { false } })
                {
                    request.messages[request.messages.count - 1].content.append(.toolResult(result))
                } else {
                    request.messages.append(CanonicalMessage(role: .user, content: [.toolResult(result)]))
                }
            default:
                throw .unsupported("messages[\(index)].role '\(role)'", by: TranslationError.translation)
            }
        }
        return request
    }

    static func decodeToolChoice(_ choice: JSONValue) throws(TranslationError) -> ToolChoice {
        switch choice {
        case .string("auto"): return .auto
        case .string("none"): return .none
        case .string("required"): return .required
        case .object:
            let reader = try FieldReader(choice, path: "tool_choice")
            guard let function = try reader.object("function") else { throw reader.missing("function") }
            return .tool(try function.requiredString("name"))
        default:
            throw .invalid("'tool_choice' must be auto, none, required or a function.", param: "tool_choice")
        }
    }

    static func decodeContent(_ message: FieldReader, allowImages: Bool) throws(TranslationError) -> [ContentPart] {
        guard let content = message.value("content") else { return [] }
        switch content {
        case .string(let text): return text.isEmpty ? [] : [.text(text)]
        case .array(let parts):
            var decoded: [ContentPart] = []
            for (index, part) in parts.enumerated() {
                let reader = try FieldReader(part, path: message.field("content[\(index)]"))
                let type = try reader.requiredString("type")
                switch type {
                case "text": decoded.append(.text(try reader.requiredString("text")))
                case "image_url" where allowImages:
                    guard let image = try reader.object("image_url") else { throw reader.missing("image_url") }
                    decoded.append(.image(.fromURL(try image.requiredString("url"))))
                default:
                    throw .unsupported(reader.field("type") + " '\(type)'", by: TranslationError.translation)
                }
            }
            return decoded
        default:
            throw message.typeError("content", "a string or an array of content parts", content)
        }
    }

    /// The request body for an OpenAI-compatible upstream serving `model`.
    public static func encodeRequest(_ request: CanonicalRequest, model: String) -> JSONValue {
        var body: JSONObject = ["model": .string(model)]
        var messages: [JSONValue] = []
        if !request.system.isEmpty {
            messages.append(.object(["role": "system", "content": .string(joinedText(request.system))]))
        }
        for message in request.messages {
            switch message.role {
            case .assistant:
                var object: JSONObject = ["role": "assistant"]
                let calls = message.content.compactMap { part -> JSONValue? in
                    guard case .toolCall(let call) = part else { return nil }
                    return .object([
                        "id": .string(call.id), "type": "function",
                        "function": .object(["name": .string(call.name), "arguments": .string(call.arguments)]),
                    ])
                }
                // Empty string rather than null: llama.cpp's server rejects a null content.
                object["content"] = .string(joinedText(message.content))
                if !calls.isEmpty { object["tool_calls"] = .array(calls) }
                messages.append(.object(object))
            case .user:
                var parts: [JSONValue] = []
                func flushUserParts() {
                    guard !parts.isEmpty else { return }
                    let onlyText = parts.allSatisfy { $0["type"] == .string("text") }
                    let content: JSONValue =
                        onlyText ? .string(parts.compactMap { $0["text"]?.stringValue }.joined(separator: "\n")) : .array(parts)
                    messages.append(.object(["role": "user", "content": content]))
                    parts = []
                }
                for part in message.content {
                    switch part {
                    case .text(let text): parts.append(.object(["type": "text", "text": .string(text)]))
                    case .image(let source):
                        parts.append(.object(["type": "image_url", "image_url": .object(["url": .string(source.asURL)])]))
                    case .toolResult(let result):
                        flushUserParts()
                        messages.append(
                            .object([
                                "role": "tool", "tool_call_id": .string(result.toolCallID),
                                "content": .string(result.isError ? "Error: " + result.text : result.text),
                            ]))
                    case .toolCall, .thinking: break
                    }
                }
                flushUserParts()
            }
        }
        body["messages"] = .array(messages)
        body.set("max_tokens", request.maxOutputTokens.map { .number($0) })
        body.set("temperature", request.temperature.map { .number($0) })
        body.set("top_p", request.topP.map { .number($0) })
        // Not OpenAI's own, but vLLM, llama.cpp and most compatible servers take it; sending it
        // beats dropping it silently (OpenAI answers a clear 400).
        body.set("top_k", request.topK.map { .number($0) })
        if !request.stopSequences.isEmpty { body["stop"] = .array(request.stopSequences.map { .string($0) }) }
        if !request.tools.isEmpty {
            body["tools"] = .array(
                request.tools.map { tool in
                    var function: JSONObject = ["name": .string(tool.name)]
                    function.set("description", tool.description.map { .string($0) })
                    function["parameters"] = tool.parameters
                    return .object(["type": "function", "function": .object(function)])
                })
        }
        if let choice = request.toolChoice {
            body["tool_choice"] =
                switch choice {
                case .auto: "auto"
                case .none: "none"
                case .required: "required"
                case .tool(let name): .object(["type": "function", "function": .object(["name": .string(name)])])
                }
        }
        body.set("parallel_tool_calls", request.parallelToolCalls.map { .bool($0) })
        switch request.responseFormat {
        case nil: break
        case .text: body["response_format"] = .object(["type": "text"])
        case .jsonObject: body["response_format"] = .object(["type": "json_object"])
        case .jsonSchema(let name, let schema, let strict):
            var jsonSchema: JSONObject = ["name": .string(name), "schema": schema]
            jsonSchema.set("strict", strict.map { .bool($0) })
            body["response_format"] = .object(["type": "json_schema", "json_schema": .object(jsonSchema)])
        }
        body.set("reasoning_effort", request.reasoning?.effortLevel.map { .string($0) })
        body.set("user", request.user.map { .string($0) })
        let extensions = request.extensions
        body.set("n", extensions.choiceCount.map { .number($0) })
        body.set("logprobs", extensions.logprobs.map { .bool($0) })
        body.set("top_logprobs", extensions.topLogprobs.map { .number($0) })
        body.set("presence_penalty", extensions.presencePenalty.map { .number($0) })
        body.set("frequency_penalty", extensions.frequencyPenalty.map { .number($0) })
        body.set("seed", extensions.seed.map { .number($0) })
        body.set("logit_bias", extensions.logitBias)
        if request.stream {
            body["stream"] = true
            body["stream_options"] = .object(["include_usage": true])
        }
        return .object(body)
    }

    static func joinedText(_ parts: [ContentPart]) -> String {
        parts.compactMap(\.text).joined(separator: "\n")
    }

    // MARK: Responses

    public static func decodeResponse(_ json: JSONValue) throws(TranslationError) -> CanonicalResponse {
        let body = try FieldReader(json, path: "")
        guard let choice = try body.array("choices")?.first else { throw body.missing("choices") }
        let choiceReader = try FieldReader(choice, path: "choices[0]")
        guard let message = try choiceReader.object("message") else { throw choiceReader.missing("message") }
        var content: [ContentPart] = []
        if let reasoning = try message.string("reasoning_content"), !reasoning.isEmpty {
            content.append(.thinking(text: reasoning, signature: nil))
        }
        if let text = try message.string("content"), !text.isEmpty { content.append(.text(text)) }
        for (index, call) in (try message.array("tool_calls") ?? []).enumerated() {
            let reader = try FieldReader(call, path: message.field("tool_calls[\(index)]"))
            guard let function = try reader.object("function") else { throw reader.missing("function") }
            content.append(
                .toolCall(
                    ToolCall(
                        id: try reader.string("id") ?? "call_\(index)", name: try function.requiredString("name"),
                        arguments: try function.string("arguments") ?? "{}")))
        }
        return CanonicalResponse(
            id: try body.string("id") ?? "chatcmpl-" + RandomIdentifier.base62(count: 24),
            model: try body.string("model") ?? "",
            content: content, stopReason: stopReason(try choiceReader.string("finish_reason")),
            usage: try body.object("usage").map(decodeUsage))
    }

    static func decodeUsage(_ usage: FieldReader) throws(TranslationError) -> CanonicalUsage {
        CanonicalUsage(
            input: try usage.int("prompt_tokens") ?? 0, output: try usage.int("completion_tokens") ?? 0,
            cacheRead: try usage.object("prompt_tokens_details")?.int("cached_tokens") ?? 0,
            reasoning: try usage.object("completion_tokens_details")?.int("reasoning_tokens") ?? 0)
    }

    static func stopReason(_ reason: String?) -> StopReason {
        switch reason {
        case nil, "stop": .endTurn
        case "length": .maxTokens
        case "tool_calls", "function_call": .toolUse
        case "content_filter": .contentFilter
        case let other?: .other(other)
        }
    }

    /// `reason` in OpenAI's words (`stop`, `length`, `tool_calls`, `content_filter`).
    public static func finishReason(_ reason: StopReason) -> String {
        switch reason {
        case .endTurn, .stopSequence: "stop"
        case .maxTokens: "length"
        case .toolUse: "tool_calls"
        case .contentFilter: "content_filter"
        case .other(let other): other
        }
    }

    /// The client-facing completion for a translated answer.
    public static func encodeResponse(_ response: CanonicalResponse, created: Int) -> JSONValue {
        var message: JSONObject = ["role": "assistant"]
        let text = response.text
        message["content"] = response.content.contains { $0.text != nil } ? .string(text) : .null
        let thinking = response.content.compactMap { part -> String? in
            if case .thinking(let text, _) = part { return text }
            return nil
        }
        if !thinking.isEmpty { message["reasoning_content"] = .string(thinking.joined()) }
        let calls = response.toolCalls
        if !calls.isEmpty {
            message["tool_calls"] = .array(
                calls.map { call in
                    .object([
                        "id": .string(call.id), "type": "function",
                        "function": .object(["name": .string(call.name), "arguments": .string(call.arguments)]),
                    ])
                })
        }
        var body: JSONObject = [
            "id": .string(response.id), "object": "chat.completion", "created": .number(created),
            "model": .string(response.model),
            "choices": .array([
                .object([
                    "index": .number(0), "message": .object(message), "logprobs": .null,
                    "finish_reason": .string(finishReason(response.stopReason)),
                ])
            ]),
        ]
        body.set("usage", response.usage.map(encodeUsage))
        return .object(body)
    }

    static func encodeUsage(_ usage: CanonicalUsage) -> JSONValue {
        .object([
            "prompt_tokens": .number(usage.input), "completion_tokens": .number(usage.output),
            "total_tokens": .number(usage.input + usage.output),
            "prompt_tokens_details": .object(["cached_tokens": .number(usage.cacheRead)]),
            "completion_tokens_details": .object(["reasoning_tokens": .number(usage.reasoning)]),
        ])
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}
