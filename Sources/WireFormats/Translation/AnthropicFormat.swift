/// Anthropic Messages ⇄ canonical (`POST /v1/messages`, API version 2023-06-01).
public enum AnthropicFormat {
    public static let name = "the Anthropic Messages API"
    /// The API version Switchyard writes when it translates (passthrough forwards the client's).
    public static let version = "2023-06-01"
    /// Anthropic requires `max_tokens`; used when an OpenAI-style client sent none.
    public static let defaultMaxTokens = 4096
    /// The smallest thinking budget Anthropic accepts.
    static let minimumThinkingBudget = 1024

    static let ignoredMembers: Set<String> = ["service_tier", "container", "context_management", "mcp_servers"]
    static let knownMembers: Set<String> = [
        "model", "messages", "system", "max_tokens", "temperature", "top_p", "top_k", "stop_sequences", "stream",
        "tools", "tool_choice", "thinking", "metadata",
    ]

    // MARK: Requests

    public static func decodeRequest(_ json: JSONValue) throws(TranslationError) -> CanonicalRequest {
        let body = try FieldReader(json, path: "")
        try body.rejectMembers(notIn: knownMembers.union(ignoredMembers), by: TranslationError.translation)
        var request = CanonicalRequest(model: try body.requiredString("model"))
        if let servers = json["mcp_servers"], servers != .null {
            request.providerRunTools = Array(repeating: "mcp", count: max(1, servers.arrayValue?.count ?? 1))
        }
        guard let maxTokens = try body.tokenLimit("max_tokens") else { throw body.missing("max_tokens") }
        request.maxOutputTokens = maxTokens
        request.stream = try body.bool("stream") ?? false
        request.temperature = try body.number("temperature")
        request.topP = try body.number("top_p")
        request.topK = try body.int("top_k")
        request.stopSequences = try body.strings("stop_sequences")
        if let system = body.value("system") {
            request.system = try decodeBlocks(system, path: "system", role: .user)
        }
        if let metadata = try body.object("metadata") { request.user = try metadata.string("user_id") }
        for (index, tool) in (try body.array("tools") ?? []).enumerated() {
            let reader = try FieldReader(tool, path: "tools[\(index)]")
            if let type = try reader.string("type"), type != "custom" {
                throw .unsupported("tools[\(index)].type '\(type)'", by: TranslationError.translation)
            }
            request.tools.append(
                ToolDefinition(
                    name: try reader.requiredString("name"), description: try reader.string("description"),
                    parameters: reader.value("input_schema") ?? .object(["type": "object"])))
        }
        if let choice = try body.object("tool_choice") {
            switch try choice.requiredString("type") {
            case "auto": request.toolChoice = .auto
            case "any": request.toolChoice = .required
            case "none": request.toolChoice = ToolChoice.none
            case "tool": request.toolChoice = .tool(try choice.requiredString("name"))
            case let other:
                throw .invalid("'tool_choice.type' '\(other)' is not one of auto, any, tool, none.", param: "tool_choice.type")
            }
            if try choice.bool("disable_parallel_tool_use") == true { request.parallelToolCalls = false }
        }
        if let thinking = try body.object("thinking"), try thinking.string("type") == "enabled" {
            request.reasoning = Reasoning(budgetTokens: try thinking.int("budget_tokens"))
        }
        for (index, message) in try body.requiredArray("messages").enumerated() {
            let reader = try FieldReader(message, path: "messages[\(index)]")
            let role: CanonicalRole
            switch try reader.requiredString("role") {
            case "user": role = .user
            case "assistant": role = .assistant
            case let other:
                throw .invalid("'messages[\(index)].role' '\(other)' is not user or assistant.", param: reader.field("role"))
            }
            guard let content = reader.value("content") else { throw reader.missing("content") }
            request.messages.append(
                CanonicalMessage(role: role, content: try decodeBlocks(content, path: reader.field("content"), role: role)))
        }
        return request
    }

    static func decodeBlocks(_ content: JSONValue, path: String, role: CanonicalRole) throws(TranslationError)
        -> [ContentPart]
    {
        switch content {
        case .string(let text): return [.text(text)]
        case .array(let blocks):
            var parts: [ContentPart] = []
            for (index, block) in blocks.enumerated() {
                let reader = try FieldReader(block, path: "\(path)[\(index)]")
                let type = try reader.requiredString("type")
                switch type {
                case "text": parts.append(.text(try reader.requiredString("text")))
                case "image":
                    guard let source = try reader.object("source") else { throw reader.missing("source") }
                    switch try source.requiredString("type") {
                    case "base64":
                        parts.append(
                            .image(
                                .base64(
                                    mediaType: try source.requiredString("media_type"), data: try source.requiredString("data"))))
                    case "url": parts.append(.image(.url(try source.requiredString("url"))))
                    case let other:
                        throw .unsupported(
                            source.field("type") + " '\(other)'", by: TranslationError.translation)
                    }
                case "tool_use":
                    let input = reader.value("input") ?? .object([:])
                    parts.append(
                        .toolCall(
                            ToolCall(
                                id: try reader.requiredString("id"), name: try reader.requiredString("name"),
                                arguments: input.jsonText)))
                case "tool_result":
                    let id = try reader.requiredString("tool_use_id")
                    let inner = try reader.value("content").map { value throws(TranslationError) in
                        try decodeBlocks(value, path: reader.field("content"), role: role)
                    }
                    parts.append(
                        .toolResult(
                            ToolResult(
                                toolCallID: id, name: nil, content: inner ?? [], isError: try reader.bool("is_error") ?? false)))
                case "thinking":
                    parts.append(
                        .thinking(text: try reader.requiredString("thinking"), signature: try reader.string("signature")))
                default:
                    throw .unsupported(reader.field("type") + " '\(type)'", by: TranslationError.translation)
                }
            }
            return parts
        default:
            throw .invalid("'\(path)' must be a string or an array of content blocks, not \(content.typeName).", param: path)
        }
    }

    /// The request body for the Anthropic Messages API serving `model`.
    public static func encodeRequest(_ request: CanonicalRequest, model: String) throws(TranslationError) -> JSONValue {
        let extensions = request.extensions
        if let count = extensions.choiceCount, count > 1 { throw .unsupported("n", by: name, reason: "one answer per request") }
        if extensions.logprobs == true || extensions.topLogprobs != nil {
            throw .unsupported(extensions.logprobs == true ? "logprobs" : "top_logprobs", by: name)
        }
        if extensions.presencePenalty != nil { throw .unsupported("presence_penalty", by: name) }
        if extensions.frequencyPenalty != nil { throw .unsupported("frequency_penalty", by: name) }
        if extensions.seed != nil { throw .unsupported("seed", by: name) }
        if extensions.logitBias != nil { throw .unsupported("logit_bias", by: name) }
        switch request.responseFormat {
        case .jsonObject, .jsonSchema:
            throw .unsupported(
                "response_format", by: name, reason: "it has no JSON mode; ask for JSON in the prompt or use a tool")
        case .text, nil: break
        }

        var body: JSONObject = ["model": .string(model)]
        body["max_tokens"] = .number(request.maxOutputTokens ?? defaultMaxTokens)
        if !request.system.isEmpty {
            body["system"] = .string(request.system.compactMap(\.text).joined(separator: "\n"))
        }
        var messages: [JSONValue] = []
        for (index, message) in request.messages.enumerated() {
            var blocks: [JSONValue] = []
            for part in message.content {
                if let block = try encodeBlock(part, path: "messages[\(index)]") { blocks.append(block) }
            }
            // Anthropic wants tool results first in their user turn.
            let results = blocks.filter { $0["type"] == "tool_result" }
            let others = blocks.filter { $0["type"] != "tool_result" }
            let ordered = results + others
            guard !ordered.isEmpty else { continue }
            messages.append(
                .object(["role": .string(message.role == .user ? "user" : "assistant"), "content": .array(ordered)]))
        }
        body["messages"] = .array(messages)
        body.set("temperature", request.temperature.map { .number($0) })
        body.set("top_p", request.topP.map { .number($0) })
        body.set("top_k", request.topK.map { .number($0) })
        if !request.stopSequences.isEmpty { body["stop_sequences"] = .array(request.stopSequences.map { .string($0) }) }
        if !request.tools.isEmpty {
            body["tools"] = .array(
                request.tools.map { tool in
                    var object: JSONObject = ["name": .string(tool.name)]
                    object.set("description", tool.description.map { .string($0) })
                    object["input_schema"] = tool.parameters
                    return .object(object)
                })
        }
        if let choice = request.toolChoice {
            var object: JSONObject
            switch choice {
            case .auto: object = ["type": "auto"]
            case .none: object = ["type": "none"]
            case .required: object = ["type": "any"]
            case .tool(let name): object = ["type": "tool", "name": .string(name)]
            }
            if request.parallelToolCalls == false && choice != .none { object["disable_parallel_tool_use"] = true }
            body["tool_choice"] = .object(object)
        } else if request.parallelToolCalls == false && !request.tools.isEmpty {
            body["tool_choice"] = .object(["type": "auto", "disable_parallel_tool_use": true])
        }
        if let budget = request.reasoning?.tokens {
            body["thinking"] = .object(["type": "enabled", "budget_tokens": .number(max(minimumThinkingBudget, budget))])
        }
        if let user = request.user { body["metadata"] = .object(["user_id": .string(user)]) }
        if request.stream { body["stream"] = true }
        return .object(body)
    }

    static func encodeBlock(_ part: ContentPart, path: String) throws(TranslationError) -> JSONValue? {
        switch part {
        case .text(let text):
            return text.isEmpty ? nil : .object(["type": "text", "text": .string(text)])
        case .image(.base64(let mediaType, let data)):
            return .object([
                "type": "image",
                "source": .object(["type": "base64", "media_type": .string(mediaType), "data": .string(data)]),
            ])
        case .image(.url(let url)):
            return .object(["type": "image", "source": .object(["type": "url", "url": .string(url)])])
        case .toolCall(let call):
            let input: JSONValue
            do {
                input = try JSONValue.parse(Array(call.arguments.utf8), lenient: true)
            } catch {
                throw .invalid("The arguments of tool call '\(call.id)' are not valid JSON.", param: path)
            }
            guard case .object = input else {
                throw .invalid("The arguments of tool call '\(call.id)' must be a JSON object.", param: path)
            }
            return .object(["type": "tool_use", "id": .string(call.id), "name": .string(call.name), "input": input])
        case .toolResult(let result):
            var object: JSONObject = ["type": "tool_result", "tool_use_id": .string(result.toolCallID)]
            var inner: [JSONValue] = []
            for part in result.content {
                if let block = try encodeBlock(part, path: path) { inner.append(block) }
            }
            object["content"] = .array(inner)
            if result.isError { object["is_error"] = true }
            return .object(object)
        case .thinking(let text, let signature):
            // Only Anthropic's own signed thinking can be sent back to Anthropic.
            guard let signature else { return nil }
            return .object(["type": "thinking", "thinking": .string(text), "signature": .string(signature)])
        }
    }

    // MARK: Responses

    public static func decodeResponse(_ json: JSONValue) throws(TranslationError) -> CanonicalResponse {
        let body = try FieldReader(json, path: "")
        var content: [ContentPart] = []
        for (index, block) in (try body.array("content") ?? []).enumerated() {
            let reader = try FieldReader(block, path: "content[\(index)]")
            switch try reader.requiredString("type") {
            case "text": content.append(.text(try reader.requiredString("text")))
            case "tool_use":
                content.append(
                    .toolCall(
                        ToolCall(
                            id: try reader.requiredString("id"), name: try reader.requiredString("name"),
                            arguments: (reader.value("input") ?? .object([:])).jsonText)))
            case "thinking":
                content.append(.thinking(text: try reader.string("thinking") ?? "", signature: try reader.string("signature")))
            default: continue  // redacted thinking, server tool blocks: nothing a client of another format can use
            }
        }
        return CanonicalResponse(
            id: try body.requiredString("id"), model: try body.string("model") ?? "", content: content,
            stopReason: stopReason(try body.string("stop_reason"), sequence: try body.string("stop_sequence")),
            usage: try body.object("usage").map(decodeUsage))
    }

    static func decodeUsage(_ usage: FieldReader) throws(TranslationError) -> CanonicalUsage {
        // Anthropic counts cache reads and writes apart from `input_tokens`; canonical input is all of them.
        let cacheRead = try usage.int("cache_read_input_tokens") ?? 0
        let cacheWrite = try usage.int("cache_creation_input_tokens") ?? 0
        return CanonicalUsage(
            input: (try usage.int("input_tokens") ?? 0) + cacheRead + cacheWrite,
            output: try usage.int("output_tokens") ?? 0, cacheRead: cacheRead, cacheWrite: cacheWrite)
    }

    static func stopReason(_ reason: String?, sequence: String?) -> StopReason {
        switch reason {
        case nil, "end_turn": .endTurn
        case "max_tokens": .maxTokens
        case "stop_sequence": .stopSequence(sequence)
        case "tool_use": .toolUse
        case "refusal": .contentFilter
        case let other?: .other(other)
        }
    }

    static func stopReasonName(_ reason: StopReason) -> String {
        switch reason {
        case .endTurn: "end_turn"
        case .maxTokens: "max_tokens"
        case .stopSequence: "stop_sequence"
        case .toolUse: "tool_use"
        case .contentFilter: "refusal"
        case .other(let other): other
        }
    }

    public static func encodeResponse(_ response: CanonicalResponse) -> JSONValue {
        var content: [JSONValue] = []
        for part in response.content {
            switch part {
            case .text(let text): content.append(.object(["type": "text", "text": .string(text)]))
            case .toolCall(let call):
                let input = (try? JSONValue.parse(Array(call.arguments.utf8), lenient: true)) ?? .object([:])
                content.append(
                    .object(["type": "tool_use", "id": .string(call.id), "name": .string(call.name), "input": input]))
            case .thinking(let text, let signature):
                content.append(
                    .object(["type": "thinking", "thinking": .string(text), "signature": .string(signature ?? "")]))
            case .image, .toolResult: continue
            }
        }
        var stopSequence: JSONValue = .null
        if case .stopSequence(let sequence?) = response.stopReason { stopSequence = .string(sequence) }
        return .object([
            "id": .string(response.id), "type": "message", "role": "assistant", "model": .string(response.model),
            "content": .array(content), "stop_reason": .string(stopReasonName(response.stopReason)),
            "stop_sequence": stopSequence, "usage": encodeUsage(response.usage ?? CanonicalUsage(input: 0, output: 0)),
        ])
    }

    static func encodeUsage(_ usage: CanonicalUsage) -> JSONValue {
        .object([
            "input_tokens": .number(max(0, usage.input - usage.cacheRead - usage.cacheWrite)),
            "output_tokens": .number(usage.output),
            "cache_creation_input_tokens": .number(usage.cacheWrite),
            "cache_read_input_tokens": .number(usage.cacheRead),
        ])
    }

    // MARK: Errors

    /// Anthropic's error type for a gateway error, by status.
    public static func errorType(status: Int) -> String {
        switch status {
        case 400, 422: "invalid_request_error"
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 413: "request_too_large"
        case 429: "rate_limit_error"
        case 529, 503: "overloaded_error"
        default: "api_error"
        }
    }

    public static func errorBody(status: Int, message: String) -> [UInt8] {
        JSONValue.object([
            "type": "error", "error": .object(["type": .string(errorType(status: status)), "message": .string(message)]),
        ]).serialized()
    }
}
