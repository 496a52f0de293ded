import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Providers
import SwitchyardCore
import Testing
import WireFormats

@testable import DataPlane

/// Every client format × every provider family × streamed or not, for plain text and for a
/// forced tool call. The fake upstream replays `Tests/Fixtures/` and rejects any request that
/// breaks the provider's documented shape; the client's answer is read back the way its SDK
/// would read it.
@Suite struct TranslationMatrixTests {
    struct Cell: Sendable, CustomTestStringConvertible {
        var ingress: ClientFormat
        var egress: ProviderKind
        var stream: Bool
        var testDescription: String { "\(ingress.rawValue) → \(egress.rawValue)\(stream ? " (stream)" : "")" }
    }

    static let cells: [Cell] = [ClientFormat.openAIChat, .anthropicMessages, .openAIResponses].flatMap { ingress in
        ProviderKind.allCases.flatMap { egress in [false, true].map { Cell(ingress: ingress, egress: egress, stream: $0) } }
    }

    /// What a client sees, whatever its format.
    struct ClientView {
        var text = ""
        var toolName: String?
        var toolArguments = ""
        /// end, max or tool.
        var stop = ""
        var inputTokens: Int?
    }

    // MARK: Requests in each client format

    nonisolated(unsafe) static let tool: [String: Any] = [
        "type": "object", "properties": ["city": ["type": "string"]], "required": ["city"],
    ]

    static func requestBody(_ cell: Cell, route: String, withTool: Bool) -> String {
        var body: [String: Any]
        switch cell.ingress {
        case .openAIChat:
            body = [
                "model": route, "max_tokens": 30,
                "messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "Weather in Paris?"]],
            ]
            if cell.stream { body["stream_options"] = ["include_usage": true] }
            if withTool {
                body["tools"] = [
                    [
                        "type": "function",
                        "function": ["name": "get_weather", "description": "Weather by city", "parameters": tool],
                    ]
                ]
                body["tool_choice"] = ["type": "function", "function": ["name": "get_weather"]]
            }
        case .anthropicMessages:
            body = [
                "model": route, "max_tokens": 30, "system": "Be brief.",
                "messages": [["role": "user", "content": "Weather in Paris?"]],
            ]
            if withTool {
                body["tools"] = [["name": "get_weather", "description": "Weather by city", "input_schema": tool]]
                body["tool_choice"] = ["type": "tool", "name": "get_weather"]
            }
        case .openAIResponses:
            body = ["model": route, "instructions": "Be brief.", "input": "Weather in Paris?", "max_output_tokens": 30]
            if withTool {
                body["tools"] = [
                    ["type": "function", "name": "get_weather", "description": "Weather by city", "parameters": tool]
                ]
                body["tool_choice"] = ["type": "function", "name": "get_weather"]
            }
        }
        if cell.stream { body["stream"] = true }
        let data = try! JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    static func path(_ format: ClientFormat) -> String {
        switch format {
        case .openAIChat: "/v1/chat/completions"
        case .anthropicMessages: "/v1/messages"
        case .openAIResponses: "/v1/responses"
        }
    }

    static func route(_ kind: ProviderKind) -> String {
        switch kind {
        case .openai: "via-openai"
        case .anthropic: "via-anthropic"
        case .gemini: "via-gemini"
        }
    }

    // MARK: Upstream fixtures

    static func fixture(_ kind: ProviderKind, stream: Bool, tool: Bool) -> String {
        switch (kind, stream, tool) {
        case (.openai, false, false): "openai/chat-completion-text.json"
        case (.openai, false, true): "openai/chat-completion-tool-call.json"
        case (.openai, true, false): "openai/stream-text.sse"
        case (.openai, true, true): "openai/stream-tool-call.sse"
        case (.anthropic, false, false): "anthropic/message-text.json"
        case (.anthropic, false, true): "anthropic/message-tool-use.json"
        case (.anthropic, true, false): "anthropic/stream-text.sse"
        case (.anthropic, true, true): "anthropic/stream-tool-use.sse"
        case (.gemini, false, false): "gemini/generate-content-text.json"
        case (.gemini, false, true): "gemini/generate-content-function-call.json"
        case (.gemini, true, false): "gemini/stream-text.sse"
        case (.gemini, true, true): "gemini/stream-function-call.sse"
        }
    }

    /// The text and input tokens each fixture carries, read independently of Switchyard's code.
    static func expected(_ kind: ProviderKind, stream: Bool) -> (text: String, stop: String, inputTokens: Int?) {
        switch (kind, stream) {
        case (.openai, false):
            let object =
                try! JSONSerialization.jsonObject(with: Data(ProviderFixture.text("openai/chat-completion-text.json").utf8))
                as! [String: Any]
            let message = ((object["choices"] as! [[String: Any]])[0]["message"] as! [String: Any])
            return (message["content"] as! String, "max", 11)
        case (.openai, true):
            var text = ""
            for line in ProviderFixture.text("openai/stream-text.sse").split(separator: "\n") where line.hasPrefix("data: {") {
                let chunk = try! JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as! [String: Any]
                let delta = (chunk["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any]
                text += delta?["content"] as? String ?? ""
            }
            return (text, "max", nil)  // llama.cpp streams report no usage: Switchyard estimates it
        case (.anthropic, false): return ("Hello! Paris is sunny today.", "end", 121)
        case (.anthropic, true): return ("Hello! Paris is sunny.", "end", 25)
        case (.gemini, _): return ("Hello! Paris is sunny.", "end", 8)
        }
    }

    func makeGateway() async throws -> TestGateway {
        try await TestGateway.make(yaml: ProviderFixture.configurationYAML, environment: ProviderFixture.keys) { request in
            let kind: ProviderKind =
                request.url.contains("anthropic") ? .anthropic : request.url.contains("googleapis") ? .gemini : .openai
            if let problem = ProviderFixture.problems(in: request, kind: kind) {
                return ProviderFixture.rejection(problem, kind: kind)
            }
            let object = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any]
            let streaming = object?["stream"] as? Bool == true || request.url.hasSuffix("alt=sse")
            let tool = object?["tools"] != nil
            let path = Self.fixture(kind, stream: streaming, tool: tool)
            if streaming {
                return ReplayTransport.respond(contentType: "text/event-stream", ProviderFixture.streamPieces(path))
            }
            return ReplayTransport.respond([ProviderFixture.text(path)])
        }
    }

    func send(_ test: TestGateway, _ cell: Cell, body: String) async throws -> (HTTPResponse.Status, String) {
        let server = test.gateway
        var headers: HTTPFields = [.contentType: "application/json"]
        if cell.ingress == .anthropicMessages {
            headers[.xAPIKey] = test.acmeKey
            headers[.anthropicVersion] = "2023-06-01"
        } else {
            headers[.authorization] = "Bearer \(test.acmeKey)"
        }
        let fields = headers
        return try await server.withLiveServer { client in
            try await client.execute(uri: Self.path(cell.ingress), method: .post, headers: fields, body: ByteBuffer(string: body))
            {
                ($0.status, String(buffer: $0.body))
            }
        }
    }

    // MARK: The matrix

    @Test(arguments: cells) func text(_ cell: Cell) async throws {
        let test = try await makeGateway()
        let (status, body) = try await send(
            test, cell, body: Self.requestBody(cell, route: Self.route(cell.egress), withTool: false))
        #expect(status == .ok, "\(body)")
        let view = try Self.read(body, format: cell.ingress, stream: cell.stream)
        let expected = Self.expected(cell.egress, stream: cell.stream)
        #expect(view.text == expected.text)
        #expect(view.toolName == nil)
        #expect(view.stop == expected.stop)

        let record = try #require(test.sink.last)
        #expect(record.status == 200)
        #expect(record.tenant == "acme")
        #expect(record.streamed == cell.stream)
        if let input = expected.inputTokens {
            #expect(record.usage.inputTokens == input)
            #expect(!record.usage.isEstimated)
            if cell.stream == false, cell.ingress != .anthropicMessages, let clientInput = view.inputTokens {
                #expect(clientInput == input)
            }
        } else {
            #expect(record.usage.isEstimated)
        }
        if cell.egress == .anthropic && !cell.stream { #expect(record.usage.cachedInputTokens == 100) }
    }

    @Test(arguments: cells) func forcedToolCall(_ cell: Cell) async throws {
        let test = try await makeGateway()
        let (status, body) = try await send(
            test, cell, body: Self.requestBody(cell, route: Self.route(cell.egress), withTool: true))
        #expect(status == .ok, "\(body)")
        let view = try Self.read(body, format: cell.ingress, stream: cell.stream)
        #expect(view.toolName == "get_weather")
        let arguments = try JSONSerialization.jsonObject(with: Data(view.toolArguments.utf8)) as? [String: Any]
        #expect((arguments?["city"] as? String)?.hasPrefix("Paris") == true, "arguments: \(view.toolArguments)")
        #expect(view.stop == "tool")
        // The upstream saw the tool and the forced choice in its own dialect.
        let sent = try #require(test.transport.requests.last)
        let sentBody = String(decoding: sent.body, as: UTF8.self)
        switch cell.egress {
        case .openai: #expect(sentBody.contains(#""tool_choice":{"#) && sentBody.contains(#""name":"get_weather""#))
        case .anthropic:
            let sentObject = try JSONSerialization.jsonObject(with: Data(sent.body)) as? [String: Any]
            #expect(sentBody.contains(#""input_schema""#))
            let choice = sentObject?["tool_choice"] as? [String: String]
            #expect(choice == ["type": "tool", "name": "get_weather"])
        case .gemini:
            #expect(sentBody.contains(#""functionDeclarations""#))
            #expect(sentBody.contains(#""allowedFunctionNames":["get_weather"]"#))
        }
    }

    @Test(arguments: [#""n":2"#, #""audio":{"voice":"alloy","format":"wav"}"#])
    func mixedRoutesSkipDeploymentsThatCannotExpressTheRequest(field: String) async throws {
        let test = try await makeGateway()
        let cell = Cell(ingress: .openAIChat, egress: .openai, stream: false)
        let body = #"{"model":"mixed","messages":[{"role":"user","content":"hi"}],\#(field)}"#
        let (status, answer) = try await send(test, cell, body: body)
        #expect(status == .ok, "\(answer)")
        // Claude is first on the route but cannot express the field: the OpenAI-compatible
        // deployment got the request, byte for byte but for the model.
        #expect(test.transport.requests.map(\.url) == ["http://127.0.0.1:1/v1/chat/completions"])
        #expect(String(decoding: test.transport.requests[0].body, as: UTF8.self).contains(field))
    }

    @Test func aFieldNoCandidateCanExpressIsA400NamingIt() async throws {
        let test = try await makeGateway()
        let cell = Cell(ingress: .openAIChat, egress: .anthropic, stream: false)
        let (status, answer) = try await send(
            test, cell, body: #"{"model":"via-anthropic","messages":[{"role":"user","content":"hi"}],"logprobs":true}"#)
        #expect(status == .badRequest)
        let error = try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: [String: Any]]
        #expect(error?["error"]?["param"] as? String == "logprobs")
        #expect(error?["error"]?["code"] as? String == "unsupported_parameter")
        #expect(test.transport.requests.isEmpty)
        #expect(test.sink.last?.status == 400)
    }

    // MARK: Reading answers as each SDK would

    static func read(_ body: String, format: ClientFormat, stream: Bool) throws -> ClientView {
        if stream {
            var parser = ServerSentEventParser()
            let events = parser.feed(Array(body.utf8))
            switch format {
            case .openAIChat: return try readOpenAIStream(events)
            case .anthropicMessages: return try readAnthropicStream(events)
            case .openAIResponses: return try readResponsesStream(events)
            }
        }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        var view = ClientView()
        switch format {
        case .openAIChat:
            let choice = try #require((object["choices"] as? [[String: Any]])?.first)
            let message = try #require(choice["message"] as? [String: Any])
            view.text = message["content"] as? String ?? ""
            if let call = (message["tool_calls"] as? [[String: Any]])?.first, let function = call["function"] as? [String: Any] {
                #expect(call["id"] is String)
                view.toolName = function["name"] as? String
                view.toolArguments = function["arguments"] as? String ?? ""
            }
            view.stop = ["stop": "end", "length": "max", "tool_calls": "tool"][choice["finish_reason"] as? String ?? ""] ?? "?"
            view.inputTokens = (object["usage"] as? [String: Any])?["prompt_tokens"] as? Int
        case .anthropicMessages:
            #expect(object["type"] as? String == "message")
            #expect((object["id"] as? String)?.hasPrefix("msg_") == true)
            for block in object["content"] as? [[String: Any]] ?? [] {
                switch block["type"] as? String {
                case "text": view.text += block["text"] as? String ?? ""
                case "tool_use":
                    view.toolName = block["name"] as? String
                    let input = try #require(block["input"] as? [String: Any])
                    view.toolArguments = String(decoding: try JSONSerialization.data(withJSONObject: input), as: UTF8.self)
                default: Issue.record("unexpected block \(block)")
                }
            }
            view.stop =
                ["end_turn": "end", "max_tokens": "max", "tool_use": "tool"][object["stop_reason"] as? String ?? ""] ?? "?"
            view.inputTokens = (object["usage"] as? [String: Any])?["input_tokens"] as? Int
        case .openAIResponses:
            #expect(object["object"] as? String == "response")
            for item in object["output"] as? [[String: Any]] ?? [] {
                switch item["type"] as? String {
                case "message":
                    for part in item["content"] as? [[String: Any]] ?? [] { view.text += part["text"] as? String ?? "" }
                case "function_call":
                    view.toolName = item["name"] as? String
                    view.toolArguments = item["arguments"] as? String ?? ""
                    #expect(item["call_id"] is String)
                default: Issue.record("unexpected item \(item)")
                }
            }
            let status = object["status"] as? String
            view.stop = status == "incomplete" ? "max" : view.toolName != nil ? "tool" : status == "completed" ? "end" : "?"
            view.inputTokens = (object["usage"] as? [String: Any])?["input_tokens"] as? Int
        }
        return view
    }

    static func json(_ event: ServerSentEvent) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(event.data)) as? [String: Any])
    }

    static func readOpenAIStream(_ events: [ServerSentEvent]) throws -> ClientView {
        var view = ClientView()
        #expect(events.last?.isDone == true, "an OpenAI stream ends with [DONE]")
        for event in events where !event.isDone {
            let chunk = try json(event)
            #expect(chunk["error"] == nil, "error event: \(chunk)")
            if let usage = chunk["usage"] as? [String: Any] { view.inputTokens = usage["prompt_tokens"] as? Int }
            guard let choice = (chunk["choices"] as? [[String: Any]])?.first else { continue }
            let delta = choice["delta"] as? [String: Any] ?? [:]
            view.text += delta["content"] as? String ?? ""
            for call in delta["tool_calls"] as? [[String: Any]] ?? [] {
                let function = call["function"] as? [String: Any] ?? [:]
                if let name = function["name"] as? String, view.toolName == nil { view.toolName = name }
                view.toolArguments += function["arguments"] as? String ?? ""
            }
            if let reason = choice["finish_reason"] as? String {
                view.stop = ["stop": "end", "length": "max", "tool_calls": "tool"][reason] ?? "?"
            }
        }
        return view
    }

    static func readAnthropicStream(_ events: [ServerSentEvent]) throws -> ClientView {
        var view = ClientView()
        #expect(events.first?.event == "message_start")
        #expect(events.last?.event == "message_stop")
        var open: Int?
        for event in events {
            let object = try json(event)
            #expect(object["type"] as? String == event.event, "the SSE event name matches the data's type")
            switch event.event {
            case "message_start":
                view.inputTokens = ((object["message"] as? [String: Any])?["usage"] as? [String: Any])?["input_tokens"] as? Int
            case "content_block_start":
                #expect(open == nil, "blocks do not overlap")
                open = object["index"] as? Int
                let block = object["content_block"] as? [String: Any] ?? [:]
                if block["type"] as? String == "tool_use" { view.toolName = block["name"] as? String }
            case "content_block_delta":
                #expect(object["index"] as? Int == open)
                let delta = object["delta"] as? [String: Any] ?? [:]
                view.text += delta["text"] as? String ?? ""
                view.toolArguments += delta["partial_json"] as? String ?? ""
            case "content_block_stop":
                #expect(object["index"] as? Int == open)
                open = nil
            case "message_delta":
                let reason = (object["delta"] as? [String: Any])?["stop_reason"] as? String ?? ""
                view.stop = ["end_turn": "end", "max_tokens": "max", "tool_use": "tool"][reason] ?? "?"
                #expect((object["usage"] as? [String: Any])?["output_tokens"] is Int)
            case "ping", "message_stop": break
            default: Issue.record("unexpected event \(event.event ?? "nil")")
            }
        }
        #expect(open == nil)
        return view
    }

    static func readResponsesStream(_ events: [ServerSentEvent]) throws -> ClientView {
        var view = ClientView()
        #expect(events.first?.event == "response.created")
        var sequence = -1
        var finalArguments: String?
        for event in events {
            let object = try json(event)
            #expect(object["type"] as? String == event.event)
            let number = try #require(object["sequence_number"] as? Int)
            #expect(number == sequence + 1)
            sequence = number
            switch event.event {
            case "response.output_text.delta": view.text += object["delta"] as? String ?? ""
            case "response.output_item.added":
                let item = object["item"] as? [String: Any] ?? [:]
                if item["type"] as? String == "function_call" { view.toolName = item["name"] as? String }
            case "response.function_call_arguments.delta": view.toolArguments += object["delta"] as? String ?? ""
            case "response.function_call_arguments.done": finalArguments = object["arguments"] as? String
            case "response.completed", "response.incomplete":
                let response = object["response"] as? [String: Any] ?? [:]
                view.inputTokens = (response["usage"] as? [String: Any])?["input_tokens"] as? Int
                let status = response["status"] as? String
                view.stop = status == "incomplete" ? "max" : view.toolName != nil ? "tool" : "end"
                #expect(event.event == "response.\(status ?? "")")
                #expect(events.last == event, "the terminal event is last")
            default: break
            }
        }
        if let finalArguments { #expect(finalArguments == view.toolArguments) }
        return view
    }
}
