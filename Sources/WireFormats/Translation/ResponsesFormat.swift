import SwitchyardCore

/// OpenAI Responses API ⇄ canonical (ingress only, stateless: nothing is stored, so
/// `previous_response_id` and conversations are refused with a 400).
public enum ResponsesFormat {

    static let ignoredMembers: Set<String> = [
        "store", "service_tier", "prompt_cache_key", "safety_identifier", "truncation", "include", "stream_options",
        "prompt_cache_retention",
    ]
    static let knownMembers: Set<String> = [
        "model", "input", "instructions", "max_output_tokens", "temperature", "top_p", "tools", "tool_choice",
        "parallel_tool_calls", "text", "reasoning", "stream", "user", "metadata", "top_logprobs",
        "previous_response_id", "conversation", "background",
    ]

    public static func decodeRequest(_ json: JSONValue) throws(TranslationError) -> CanonicalRequest {
        let body = try FieldReader(json, path: "")
        try body.rejectMembers(notIn: knownMembers.union(ignoredMembers), by: "Switchyard's Responses API")
        if body.has("previous_response_id") {
            throw .invalid(
                "'previous_response_id' is not supported: Switchyard's Responses API is stateless and stores no responses. Send the whole conversation in 'input'.",
                param: "previous_response_id")
        }
        if body.has("conversation") {
            throw .invalid(
                "'conversation' is not supported: Switchyard's Responses API is stateless. Send the whole conversation in 'input'.",
                param: "conversation")
        }
        if try body.bool("background") == true {
            throw .invalid("'background' responses are not supported: Switchyard stores no responses.", param: "background")
        }
        var request = CanonicalRequest(model: try body.requiredString("model"))
        request.stream = try body.bool("stream") ?? false
        request.maxOutputTokens = try body.tokenLimit("max_output_tokens")
        request.temperature = try body.number("temperature")
        request.topP = try body.number("top_p")
        request.user = try body.string("user")
        request.metadata = try body.stringMap("metadata")
        request.parallelToolCalls = try body.bool("parallel_tool_calls")
        request.extensions.topLogprobs = try body.int("top_logprobs")
        if let instructions = try body.string("instructions"), !instructions.isEmpty {
            request.system = [.text(instructions)]
        }
        if let reasoning = try body.object("reasoning"), let effort = try reasoning.string("effort") {
            request.reasoning = Reasoning(effort: effort)
        }
        if let format = try body.object("text")?.object("format") {
            switch try format.requiredString("type") {
            case "text": request.responseFormat = .text
            case "json_object": request.responseFormat = .jsonObject
            case "json_schema":
                request.responseFormat = .jsonSchema(
                    name: try format.string("name") ?? "response", schema: format.value("schema") ?? .object([:]),
                    strict: try format.bool("strict"))
            case let other:
                throw .invalid(
                    "'text.format.type' '\(other)' is not one of text, json_object, json_schema.", param: "text.format.type")
            }
        }
        for (index, tool) in (try body.array("tools") ?? []).enumerated() {
            let reader = try FieldReader(tool, path: "tools[\(index)]")
            let type = try reader.requiredString("type")
            guard type == "function" else {
                throw .unsupported(
                    "tools[\(index)].type '\(type)'", by: "Switchyard's Responses API", reason: "only function tools are served")
            }
            request.tools.append(
                ToolDefinition(
                    name: try reader.requiredString("name"), description: try reader.string("description"),
                    parameters: reader.value("parameters") ?? .object(["type": "object", "properties": .object([:])])))
        }
        if let choice = body.value("tool_choice") {
            switch choice {
            case .string("auto"): request.toolChoice = .auto
            case .string("none"): request.toolChoice = ToolChoice.none
            case .string("required"): request.toolChoice = .required
            case .object:
                let reader = try FieldReader(choice, path: "tool_choice")
                guard try reader.string("type") == "function" else {
                    throw .unsupported(
                        "tool_choice.type", by: "Switchyard's Responses API", reason: "only function tools are served")
                }
                request.toolChoice = .tool(try reader.requiredString("name"))
            default:
                throw .invalid("'tool_choice' must be auto, none, required or a function.", param: "tool_choice")
            }
        }
        guard let input = body.value("input") else { throw body.missing("input") }
        switch input {
        case .string(let text): request.messages = [CanonicalMessage(role: .user, content: [.text(text)])]
        case .array(let items): try decodeItems(items, into: &request)
        default: throw body.typeError("input", "a string or an array of input items", input)
        }
        return request
    }

    static func decodeItems(_ items: [JSONValue], into request: inout CanonicalRequest) throws(TranslationError) {
        var toolNames: [String: String] = [:]
        func append(_ role: CanonicalRole, _ parts: [ContentPart], merging: Bool) {
            if merging, let last = request.messages.last, last.role == role {
                request.messages[request.messages.count - 1].content += parts
            } else {
                request.messages.append(CanonicalMessage(role: role, content: parts))
            }
        }
        for (index, item) in items.enumerated() {
            let reader = try FieldReader(item, path: "input[\(index)]")
            let type = try reader.string("type") ?? "message"
            switch type {
            case "message":
                let role = try reader.requiredString("role")
                let parts = try decodeContent(reader)
                switch role {
                case "system", "developer": request.system += parts
                case "user": append(.user, parts, merging: false)
                case "assistant": append(.assistant, parts, merging: false)
                default:
                    throw .invalid(
                        "'input[\(index)].role' '\(role)' is not user, assistant, system or developer.",
                        param: reader.field("role"))
                }
            case "function_call":
                let call = ToolCall(
                    id: try reader.requiredString("call_id"), name: try reader.requiredString("name"),
                    arguments: try reader.string("arguments") ?? "{}")
                toolNames[call.id] = call.name
                append(.assistant, [.toolCall(call)], merging: true)
            case "function_call_output":
                let id = try reader.requiredString("call_id")
                let output: [ContentPart]
                switch reader.value("output") {
                case .string(let text)?: output = [.text(text)]
                case .array?: output = try decodeContent(FieldReader(["content": reader.value("output")!], path: reader.path))
                default: throw reader.missing("output")
                }
                let result = ToolResult(toolCallID: id, name: toolNames[id], content: output)
                let lastIsResults =
                    request.messages.last.map { message in
                        message.role == .user && message.content.allSatisfy { if case .toolResult = $0 { true } else { false } }
                    } ?? false
                append(.user, [.toolResult(result)], merging: lastIsResults)
            case "reasoning":
                continue  // a previous turn's reasoning: only its own provider can read it back
            default:
                throw .unsupported("input[\(index)].type '\(type)'", by: "Switchyard's Responses API")
            }
        }
    }

    static func decodeContent(_ item: FieldReader) throws(TranslationError) -> [ContentPart] {
        guard let content = item.value("content") else { throw item.missing("content") }
        switch content {
        case .string(let text): return [.text(text)]
        case .array(let parts):
            var decoded: [ContentPart] = []
            for (index, part) in parts.enumerated() {
                let reader = try FieldReader(part, path: item.field("content[\(index)]"))
                let type = try reader.requiredString("type")
                switch type {
                case "input_text", "output_text", "text": decoded.append(.text(try reader.requiredString("text")))
                case "input_image":
                    guard let url = try reader.string("image_url") else {
                        throw .unsupported(
                            reader.field("file_id"), by: "Switchyard's Responses API", reason: "send images by URL or data URL")
                    }
                    decoded.append(.image(.fromURL(url)))
                case "refusal": continue
                default: throw .unsupported(reader.field("type") + " '\(type)'", by: "Switchyard's Responses API")
                }
            }
            return decoded
        default:
            throw item.typeError("content", "a string or an array of content parts", content)
        }
    }

    // MARK: Responses

    /// The response object, `status` completed or incomplete.
    public static func encodeResponse(
        _ response: CanonicalResponse, request: CanonicalRequest, id: String, createdAt: Int
    ) -> JSONValue {
        var output: [JSONValue] = []
        var text = ""
        var reasoning = ""
        func flushMessage() {
            guard !text.isEmpty else { return }
            output.append(messageItem(id: "msg_" + RandomIdentifier.base62(count: 24), text: text, status: "completed"))
            text = ""
        }
        for part in response.content {
            switch part {
            case .text(let piece): text += piece
            case .thinking(let piece, _): reasoning += piece
            case .toolCall(let call):
                flushMessage()
                output.append(functionCallItem(id: "fc_" + RandomIdentifier.base62(count: 24), call: call, status: "completed"))
            case .image, .toolResult: continue
            }
        }
        flushMessage()
        if !reasoning.isEmpty {
            output.insert(reasoningItem(id: "rs_" + RandomIdentifier.base62(count: 24), text: reasoning), at: 0)
        }
        return responseObject(
            id: id, createdAt: createdAt, request: request, model: response.model, status: status(response.stopReason),
            stopReason: response.stopReason, output: output, usage: response.usage)
    }

    static func status(_ reason: StopReason) -> String {
        switch reason {
        case .maxTokens, .contentFilter: "incomplete"
        default: "completed"
        }
    }

    static func responseObject(
        id: String, createdAt: Int, request: CanonicalRequest, model: String, status: String, stopReason: StopReason?,
        output: [JSONValue], usage: CanonicalUsage?
    ) -> JSONValue {
        var incomplete: JSONValue = .null
        if status == "incomplete" {
            incomplete = .object(["reason": stopReason == .contentFilter ? "content_filter" : "max_output_tokens"])
        }
        var object: JSONObject = [
            "id": .string(id), "object": "response", "created_at": .number(createdAt), "status": .string(status),
            "error": .null, "incomplete_details": incomplete,
            "instructions": request.system.isEmpty ? .null : .string(request.system.compactMap(\.text).joined(separator: "\n")),
            "max_output_tokens": request.maxOutputTokens.map { .number($0) } ?? .null, "model": .string(model),
            "output": .array(output), "parallel_tool_calls": .bool(request.parallelToolCalls ?? true),
            "previous_response_id": .null,
            "reasoning": .object(["effort": request.reasoning?.effortLevel.map { .string($0) } ?? .null, "summary": .null]),
            "store": false, "temperature": request.temperature.map { .number($0) } ?? .null,
            "text": .object(["format": .object(["type": formatType(request.responseFormat)])]),
            "tool_choice": toolChoice(request.toolChoice), "tools": .array(request.tools.map(toolObject)),
            "top_p": request.topP.map { .number($0) } ?? .null, "truncation": "disabled",
            "user": request.user.map { .string($0) } ?? .null,
            "metadata": .object(
                JSONObject(request.metadata.sorted { $0.key < $1.key }.map { (key: $0.key, value: .string($0.value)) })),
        ]
        object["usage"] = usage.map(encodeUsage) ?? .null
        return .object(object)
    }

    static func formatType(_ format: ResponseFormat?) -> JSONValue {
        switch format {
        case .jsonObject: "json_object"
        case .jsonSchema: "json_schema"
        case .text, nil: "text"
        }
    }

    static func toolChoice(_ choice: ToolChoice?) -> JSONValue {
        switch choice {
        case nil, .some(.auto): "auto"
        case .some(.none): "none"
        case .some(.required): "required"
        case .some(.tool(let name)): .object(["type": "function", "name": .string(name)])
        }
    }

    static func toolObject(_ tool: ToolDefinition) -> JSONValue {
        .object([
            "type": "function", "name": .string(tool.name),
            "description": tool.description.map { .string($0) } ?? .null, "parameters": tool.parameters, "strict": .null,
        ])
    }

    static func encodeUsage(_ usage: CanonicalUsage) -> JSONValue {
        .object([
            "input_tokens": .number(usage.input),
            "input_tokens_details": .object(["cached_tokens": .number(usage.cacheRead)]),
            "output_tokens": .number(usage.output),
            "output_tokens_details": .object(["reasoning_tokens": .number(usage.reasoning)]),
            "total_tokens": .number(usage.input + usage.output),
        ])
    }

    static func messageItem(id: String, text: String?, status: String) -> JSONValue {
        let content: [JSONValue] =
            text.map {
                [.object(["type": "output_text", "text": .string($0), "annotations": .array([]), "logprobs": .array([])])]
            }
            ?? []
        return .object([
            "id": .string(id), "type": "message", "status": .string(status), "role": "assistant", "content": .array(content),
        ])
    }

    static func functionCallItem(id: String, call: ToolCall, status: String) -> JSONValue {
        .object([
            "id": .string(id), "type": "function_call", "status": .string(status), "call_id": .string(call.id),
            "name": .string(call.name), "arguments": .string(call.arguments),
        ])
    }

    static func reasoningItem(id: String, text: String?) -> JSONValue {
        let content: [JSONValue] = text.map { [.object(["type": "reasoning_text", "text": .string($0)])] } ?? []
        return .object(["id": .string(id), "type": "reasoning", "summary": .array([]), "content": .array(content)])
    }
}
