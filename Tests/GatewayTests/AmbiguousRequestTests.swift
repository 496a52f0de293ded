import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import WireFormats

@testable import DataPlane

private let hi = #""model":"chat","messages":[{"role":"user","content":"Hi"}]"#

/// Requests a tenant could word so that the gateway judges one thing and the provider does
/// another: repeated members, token maxima of zero or two at once, tools named in another case or
/// another shape. Each is refused (or judged by its worst reading), and nothing refused reaches
/// the provider.
@Suite struct AmbiguousRequestTests {
    static let yaml =
        TestGateway.configurationYAML + """

            policies:
              - name: acme-tools
                scope: tenant:acme
                denied_tools: [shell]
                allowed_tools: [search, Shell, web_search]
                max_output_tokens: 100
            """

    func send(_ test: TestGateway, _ body: String, path: String = "/v1/chat/completions") async throws -> (
        HTTPResponse.Status, String
    ) {
        var headers: HTTPFields = [.authorization: "Bearer \(test.acmeKey)", .contentType: "application/json"]
        if path == "/v1/messages" { headers[.anthropicVersion] = "2023-06-01" }
        let fields = headers
        return try await test.gateway.withLiveServer { client in
            try await client.execute(uri: path, method: .post, headers: fields, body: ByteBuffer(string: body)) {
                ($0.status, String(buffer: $0.body))
            }
        }
    }

    @Test(arguments: [
        (#"{\#(hi),"max_tokens":5,"max_tokens":100000}"#, "max_tokens"),
        (
            #"{\#(hi),"max_tokens":5,"tools":[{"type":"function","function":{"name":"search","name":"shell","parameters":{}}}]}"#,
            "tools[0].function.name"
        ),
        (#"{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"a","content":"long"}]}"#, "messages[0].content"),
        (#"{\#(hi),"max_tokens":5,"stream":false,"stream":true}"#, "stream"),
        (
            #"{\#(hi),"max_tokens":5,"stream":true,"stream_options":{"include_usage":true,"include_usage":false}}"#,
            "stream_options.include_usage"
        ),
        (#"{\#(hi),"max_tokens":5,"max\u005ftokens":100000}"#, "max_tokens"),
    ])
    func repeatedMembersAreRefusedBeforeAnythingElse(body: String, path: String) async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let (status, text) = try await send(test, body)
        #expect(status == .badRequest, "\(text)")
        #expect(text.contains(#""code":"duplicate_key""#), "\(text)")
        #expect(text.contains(#""param":"\#(path)""#), "\(text)")
        #expect(test.transport.requests.isEmpty)
    }

    @Test(arguments: [
        (#"{\#(hi),"max_tokens":5,"MAX_TOKENS":100000}"#, "MAX_TOKENS"),
        (#"{\#(hi),"max_tokens":5,"max_to\u212Aens":100000}"#, "[\"max_to\u{212A}ens\"]"),
        (#"{\#(hi),"stream":false,"Stream":true}"#, "Stream"),
        (
            #"{\#(hi),"tools":[{"type":"function","function":{"name":"search","Name":"shell","parameters":{}}}]}"#,
            "tools[0].function.Name"
        ),
        (#"{"model":"chat","messages":[{"role":"user","content":"a","Content":"long"}]}"#, "messages[0].Content"),
        // Alone, without a lowercase twin: a case-insensitive upstream still reads them.
        (#"{\#(hi),"max_completion_tokens":5,"MAX_TOKENS":100000}"#, "MAX_TOKENS"),
        (#"{\#(hi),"max_tokens":5,"TOOLS":[{"type":"function","function":{"name":"shell"}}]}"#, "TOOLS"),
        (#"{\#(hi),"max_tokens":5,"tools":[{"type":"function","function":{"NAME":"shell"}}]}"#, "tools[0].function.NAME"),
        (
            #"{\#(hi),"max_tokens":5,"tool_choice":{"type":"function","Function":{"name":"shell"}}}"#,
            "tool_choice.Function"
        ),
    ])
    func memberNamesNotInLowercaseAreRefused(body: String, path: String) async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let (status, text) = try await send(test, body)
        #expect(status == .badRequest, "\(text)")
        #expect(text.contains(#""code":"invalid_member_name""#), "\(text)")
        let param = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: [String: Any]]
        #expect(param?["error"]?["param"] as? String == path, "\(text)")
        #expect(test.transport.requests.isEmpty)
    }

    /// Names the caller chooses (schema properties, metadata, tool arguments) are read exactly by
    /// every reader, so `id` next to `ID` there is served, as are non-ASCII names.
    @Test func callerNamedObjectsMayHoldAnyNames() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let schema = #"{"type":"object","properties":{"id":{"type":"string"},"ID":{"type":"string"}}}"#
        let body =
            #"{\#(hi),"max_tokens":5,"metadata":{"team":"a","Team":"b","straße":"c"},"#
            + #""tools":[{"type":"function","function":{"name":"search","parameters":\#(schema)}}],"#
            + #""response_format":{"type":"json_schema","json_schema":{"name":"r","schema":\#(schema)}}}"#
        let (status, text) = try await send(test, body)
        #expect(status == .ok, "\(text)")
    }

    /// On the translated endpoints too: MCP servers the provider would run, and a forced choice.
    @Test(arguments: [
        ("/v1/messages", #"{\#(hi),"max_tokens":5,"mcp_servers":[{"type":"url","url":"https://x.example/mcp","name":"x"}]}"#),
        (
            "/v1/messages",
            #"{\#(hi),"max_tokens":5,"tools":[{"name":"search","input_schema":{}}],"tool_choice":{"type":"tool","name":"shell"}}"#
        ),
    ])
    func translatedEndpointsJudgeProviderRunToolsAndForcedChoices(path: String, body: String) async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let (status, text) = try await send(test, body, path: path)
        #expect(status == .forbidden, "\(text)")
        #expect(text.contains("_tools"), "\(text)")
        #expect(test.transport.requests.isEmpty)
    }

    @Test func everyWayOfNamingAToolIsCollected() throws {
        let json = try JSONValue.parse(
            Array(
                #"{"tools":[{"type":"function","function":{"name":"a"}},{"type":"custom","custom":{"name":"b"}},{"type":"web_search"}],"#
                    .utf8)
                + Array(
                    #""functions":[{"name":"c"}],"tool_choice":{"type":"function","function":{"name":"d"}},"#.utf8)
                + Array(#""function_call":{"name":"e"},"web_search_options":{}}"#.utf8))
        #expect(DeclaredTools.names(in: json) == ["a", "b", "web_search", "c", "web_search", "d", "e"])
    }

    /// An embedding has no output to bound: a `max_output_tokens` rule does not refuse it.
    @Test func embeddingsMeetAnOutputTokenRule() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in
            ReplayTransport.respond([
                #"{"object":"list","data":[{"object":"embedding","embedding":[0.1],"index":0}],"model":"m","usage":{"prompt_tokens":2,"total_tokens":2}}"#
            ])
        }
        let (status, text) = try await send(test, #"{"model":"chat","input":"hello"}"#, path: "/v1/embeddings")
        #expect(status == .ok, "\(text)")
        #expect(test.transport.requests.count == 1)
    }

    @Test(arguments: ["/v1/messages", "/v1/responses"])
    func everyClientFormatRefusesThemInItsOwnShape(_ path: String) async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let body =
            path == "/v1/messages"
            ? #"{\#(hi),"max_tokens":5,"max_tokens":100000}"#
            : #"{"model":"chat","input":"Hi","max_output_tokens":5,"max_output_tokens":100000}"#
        let (status, text) = try await send(test, body, path: path)
        #expect(status == .badRequest, "\(text)")
        #expect(text.contains("more than once"), "\(text)")
        if path == "/v1/messages" { #expect(text.contains(#""type":"error""#)) }
        #expect(test.transport.requests.isEmpty)
    }

    @Test(arguments: [
        ("/v1/chat/completions", #"{\#(hi),"max_tokens":0}"#),
        ("/v1/chat/completions", #"{\#(hi),"max_tokens":-5}"#),
        ("/v1/chat/completions", #"{\#(hi),"max_tokens":5,"max_completion_tokens":0}"#),
        ("/v1/messages", #"{\#(hi),"max_tokens":0}"#),
        ("/v1/responses", #"{"model":"chat","input":"Hi","max_output_tokens":-1}"#),
    ])
    func tokenMaximaBelowOneAreRefused(path: String, body: String) async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let (status, text) = try await send(test, body, path: path)
        #expect(status == .badRequest, "\(path) \(body): \(text)")
        #expect(text.contains("at least 1"), "\(text)")
        #expect(test.transport.requests.isEmpty)
    }

    @Test func withBothMaximaTheLargerIsJudged() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        for body in [
            #"{\#(hi),"max_tokens":5,"max_completion_tokens":1000}"#, #"{\#(hi),"max_completion_tokens":5,"max_tokens":1000}"#,
        ] {
            let (status, text) = try await send(test, body)
            #expect(status == .forbidden, "\(body): \(text)")
            #expect(text.contains("rule max_output_tokens"), "\(text)")
        }
        #expect(test.transport.requests.isEmpty)
        #expect(try await send(test, #"{\#(hi),"max_tokens":5,"max_completion_tokens":100}"#).0 == .ok)
    }

    @Test(arguments: [
        // Denied names in another case, and in every tool shape.
        (#"[{"type":"function","function":{"name":"SHELL","parameters":{}}}]"#, "denied_tools"),
        (#"[{"type":"custom","custom":{"name":"Shell"}}]"#, "denied_tools"),
        (#"[{"type":"shell"}]"#, "denied_tools"),
        (#"[{"type":"function","name":"shell","function":{"name":"search"}}]"#, "denied_tools"),
        // Denied names a model would read as the same tool.
        (#"[{"type":"function","function":{"name":"ｓｈｅｌｌ"}}]"#, "denied_tools"),
        (#"[{"type":"function","function":{"name":" shell\n"}}]"#, "denied_tools"),
        (#"[{"type":"function","function":{"name":"sh\u200Bell"}}]"#, "denied_tools"),
        (#"[{"type":"function","function":{"name":"\u017Fhell"}}]"#, "denied_tools"),
        // A forced choice of a denied tool.
        (
            #"[{"type":"function","function":{"name":"search"}}],"tool_choice":{"type":"function","function":{"name":"shell"}}"#,
            "denied_tools"
        ),
        // Outside the allow-list: a built-in tool, a nameless one, a legacy function, tools not in an array.
        (#"{"type":"function","function":{"name":"search"}}"#, "allowed_tools"),
        (#"[{"type":"code_interpreter"}]"#, "allowed_tools"),
        (#"[{"type":"function","function":{"parameters":{}}}]"#, "allowed_tools"),
    ])
    func toolRulesCoverEveryToolShapeWithoutRegardToCase(tools: String, rule: String) async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let (status, text) = try await send(test, #"{\#(hi),"max_tokens":5,"tools":\#(tools)}"#)
        #expect(status == .forbidden, "\(tools): \(text)")
        #expect(text.contains("rule \(rule)"), "\(text)")
        #expect(test.transport.requests.isEmpty)
    }

    @Test func allowedToolsInAnyCaseAreServed() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let tools = #"[{"type":"function","function":{"name":"Search","parameters":{}}},{"type":"web_search"}]"#
        let (status, text) = try await send(test, #"{\#(hi),"max_tokens":5,"tools":\#(tools)}"#)
        #expect(status == .ok, "\(text)")
        let legacy = #"{\#(hi),"max_tokens":5,"functions":[{"name":"calculator","parameters":{}}]}"#
        let (refused, refusal) = try await send(test, legacy)
        #expect(refused == .forbidden, "\(refusal)")
    }
}
