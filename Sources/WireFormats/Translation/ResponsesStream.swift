import SwitchyardCore

/// Writes canonical events as a Responses API event stream: `response.created`, output items
/// opened and closed as the kind of content changes (message text, function calls, reasoning),
/// and `response.completed` (or `response.incomplete`) with the whole response and usage.
public struct ResponsesStreamEncoder: Sendable {
    private enum OpenItem {
        case none
        case message(id: String, text: String)
        case reasoning(id: String, text: String)
        case functionCall(id: String, call: ToolCall)
    }

    let request: CanonicalRequest
    let id: String
    let createdAt: Int
    private var model: String
    private var sequence = 0
    private var started = false
    private var open = OpenItem.none
    private var output: [JSONValue] = []
    private var stopReason: StopReason?
    private var usage: CanonicalUsage?

    public init(request: CanonicalRequest, model: String, createdAt: Int) {
        self.request = request
        self.model = model
        self.createdAt = createdAt
        self.id = "resp_" + RandomIdentifier.base62(count: 24)
    }

    public mutating func encode(_ event: CanonicalStreamEvent) -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        if !started {
            started = true
            if case .start(_, let upstreamModel) = event, !upstreamModel.isEmpty { model = upstreamModel }
            events += start()
        }
        switch event {
        case .start: break
        case .textDelta(let delta):
            let itemID: String
            if case .message(let id, let text) = open {
                itemID = id
                open = .message(id: id, text: text + delta)
            } else {
                closeItem(&events)
                itemID = "msg_" + RandomIdentifier.base62(count: 24)
                open = .message(id: itemID, text: delta)
                events.append(
                    emit(
                        "response.output_item.added",
                        [
                            "output_index": outputIndex,
                            "item": ResponsesFormat.messageItem(id: itemID, text: nil, status: "in_progress"),
                        ]))
                events.append(
                    emit(
                        "response.content_part.added",
                        [
                            "item_id": .string(itemID), "output_index": outputIndex, "content_index": .number(0),
                            "part": textPart(""),
                        ]))
            }
            events.append(
                emit(
                    "response.output_text.delta",
                    [
                        "item_id": .string(itemID), "output_index": outputIndex, "content_index": .number(0),
                        "delta": .string(delta), "logprobs": .array([]),
                    ]))
        case .thinkingDelta(let delta):
            let itemID: String
            if case .reasoning(let id, let text) = open {
                itemID = id
                open = .reasoning(id: id, text: text + delta)
            } else {
                closeItem(&events)
                itemID = "rs_" + RandomIdentifier.base62(count: 24)
                open = .reasoning(id: itemID, text: delta)
                events.append(
                    emit(
                        "response.output_item.added",
                        ["output_index": outputIndex, "item": ResponsesFormat.reasoningItem(id: itemID, text: nil)]))
            }
            events.append(
                emit(
                    "response.reasoning_text.delta",
                    [
                        "item_id": .string(itemID), "output_index": outputIndex, "content_index": .number(0),
                        "delta": .string(delta),
                    ]))
        case .toolCallStart(_, let callID, let name):
            closeItem(&events)
            let itemID = "fc_" + RandomIdentifier.base62(count: 24)
            let call = ToolCall(id: callID, name: name, arguments: "")
            open = .functionCall(id: itemID, call: call)
            events.append(
                emit(
                    "response.output_item.added",
                    [
                        "output_index": outputIndex,
                        "item": ResponsesFormat.functionCallItem(id: itemID, call: call, status: "in_progress"),
                    ]))
        case .toolCallArguments(_, let fragment):
            if case .functionCall(let itemID, var call) = open {
                call.arguments += fragment
                open = .functionCall(id: itemID, call: call)
                events.append(
                    emit(
                        "response.function_call_arguments.delta",
                        ["item_id": .string(itemID), "output_index": outputIndex, "delta": .string(fragment)]))
            }
        case .stop(let reason): stopReason = reason
        case .usage(let reported): usage = reported
        }
        return events
    }

    /// Closes the open item and sends the terminal event with the complete response.
    public mutating func finish() -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        if !started {
            started = true
            events += start()
        }
        closeItem(&events)
        let status = ResponsesFormat.status(stopReason ?? .endTurn)
        let response = ResponsesFormat.responseObject(
            id: id, createdAt: createdAt, request: request, model: model, status: status, stopReason: stopReason,
            output: output, usage: usage)
        events.append(emit(status == "completed" ? "response.completed" : "response.incomplete", ["response": response]))
        return events
    }

    /// An `error` event then `response.failed`, for a stream that fails after it started.
    public mutating func fail(code: String, message: String) -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        if !started {
            started = true
            events += start()
        }
        events.append(emit("error", ["code": .string(code), "message": .string(message), "param": .null]))
        var response = ResponsesFormat.responseObject(
            id: id, createdAt: createdAt, request: request, model: model, status: "failed", stopReason: nil, output: output,
            usage: usage)
        if case .object(var object) = response {
            object["error"] = .object(["code": "server_error", "message": .string(message)])
            response = .object(object)
        }
        events.append(emit("response.failed", ["response": response]))
        return events
    }

    private var outputIndex: JSONValue { .number(output.count) }

    private mutating func start() -> [ServerSentEvent] {
        let response = ResponsesFormat.responseObject(
            id: id, createdAt: createdAt, request: request, model: model, status: "in_progress", stopReason: nil, output: [],
            usage: nil)
        return [emit("response.created", ["response": response]), emit("response.in_progress", ["response": response])]
    }

    private mutating func closeItem(_ events: inout [ServerSentEvent]) {
        switch open {
        case .none: return
        case .message(let itemID, let text):
            let base: JSONObject = ["item_id": .string(itemID), "output_index": outputIndex, "content_index": .number(0)]
            var done = base
            done["text"] = .string(text)
            done["logprobs"] = .array([])
            events.append(emit("response.output_text.done", done))
            var partDone = base
            partDone["part"] = textPart(text)
            events.append(emit("response.content_part.done", partDone))
            let item = ResponsesFormat.messageItem(id: itemID, text: text, status: "completed")
            events.append(emit("response.output_item.done", ["output_index": outputIndex, "item": item]))
            output.append(item)
        case .reasoning(let itemID, let text):
            events.append(
                emit(
                    "response.reasoning_text.done",
                    ["item_id": .string(itemID), "output_index": outputIndex, "content_index": .number(0), "text": .string(text)])
            )
            let item = ResponsesFormat.reasoningItem(id: itemID, text: text)
            events.append(emit("response.output_item.done", ["output_index": outputIndex, "item": item]))
            output.append(item)
        case .functionCall(let itemID, let call):
            events.append(
                emit(
                    "response.function_call_arguments.done",
                    [
                        "item_id": .string(itemID), "output_index": outputIndex, "name": .string(call.name),
                        "arguments": .string(call.arguments),
                    ]))
            let item = ResponsesFormat.functionCallItem(id: itemID, call: call, status: "completed")
            events.append(emit("response.output_item.done", ["output_index": outputIndex, "item": item]))
            output.append(item)
        }
        open = .none
    }

    private func textPart(_ text: String) -> JSONValue {
        .object(["type": "output_text", "text": .string(text), "annotations": .array([]), "logprobs": .array([])])
    }

    private mutating func emit(_ type: String, _ fields: JSONObject) -> ServerSentEvent {
        var object: JSONObject = ["type": .string(type)]
        for member in fields { object[member.key] = member.value }
        object["sequence_number"] = .number(sequence)
        sequence += 1
        return ServerSentEvent(event: type, data: JSONValue.object(object).serialized())
    }
}
