import Foundation
import NIOCore
import Providers
import SwitchyardCore
import WireFormats

/// The recorded and reference wire formats under `Tests/Fixtures/`.
enum ProviderFixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func text(_ path: String) -> String {
        (try? String(contentsOf: directory.appendingPathComponent(path), encoding: .utf8)) ?? "missing fixture \(path)"
    }

    /// A stream fixture cut into pieces at arbitrary byte offsets, as a network would deliver it.
    static func streamPieces(_ path: String, pieceSize: Int = 37) -> [String] {
        let bytes = Array(text(path).utf8)
        return stride(from: 0, to: bytes.count, by: pieceSize).map {
            String(decoding: bytes[$0..<min($0 + pieceSize, bytes.count)], as: UTF8.self)
        }
    }

    static let keys = ["TEST_ANTHROPIC_KEY": "sk-ant-test-secret", "TEST_GEMINI_KEY": "gemini-test-secret"]

    static let configurationYAML = """
        providers:
          - name: local
            kind: openai
            base_url: "http://127.0.0.1:1/v1"
          - name: anthropic
            kind: anthropic
            base_url: "https://api.anthropic.test/v1"
            api_key_env: TEST_ANTHROPIC_KEY
          - name: google
            kind: gemini
            base_url: "https://generativelanguage.googleapis.test/v1beta"
            api_key_env: TEST_GEMINI_KEY
        deployments:
          - name: gemma-local
            provider: local
            model: gemma-3-270m
          - name: claude
            provider: anthropic
            model: claude-sonnet-4-5
            price: { input_per_mtok: "3", output_per_mtok: "15", cached_input_per_mtok: "0.30" }
          - name: gemini-flash
            provider: google
            model: gemini-2.5-flash
        routes:
          - name: via-openai
            targets: [gemma-local]
          - name: via-anthropic
            targets: [claude]
          - name: via-gemini
            targets: [gemini-flash]
          - name: mixed
            targets: [claude, gemma-local]
        tenants:
          - name: acme
          - name: globex
        """

    /// Checks a request Switchyard sent against the provider's documented shape; returns what is
    /// wrong, or nil.
    static func problems(in request: UpstreamRequest, kind: ProviderKind) -> String? {
        func header(_ name: String) -> String? { request.headers.first { $0.0 == name }?.1 }
        guard let object = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any] else {
            return "body is not a JSON object"
        }
        if header("content-type") != "application/json" { return "content-type is not application/json" }
        switch kind {
        case .openai:
            guard request.url.hasSuffix("/chat/completions") else { return "wrong endpoint \(request.url)" }
            guard object["model"] is String, let messages = object["messages"] as? [[String: Any]], !messages.isEmpty else {
                return "model and messages are required"
            }
            for message in messages where !["system", "user", "assistant", "tool"].contains(message["role"] as? String ?? "") {
                return "unknown role in \(message)"
            }
            if object["stream"] as? Bool == true,
                (object["stream_options"] as? [String: Any])?["include_usage"] as? Bool != true
            {
                return "streams must ask for usage"
            }
        case .anthropic:
            guard request.url == "https://api.anthropic.test/v1/messages" else { return "wrong endpoint \(request.url)" }
            if header("x-api-key") != "sk-ant-test-secret" { return "x-api-key missing or wrong" }
            if header("anthropic-version") != "2023-06-01" { return "anthropic-version missing" }
            if header("authorization") != nil { return "Anthropic takes x-api-key, not Authorization" }
            guard object["model"] as? String == "claude-sonnet-4-5" else { return "model must be the deployment's" }
            guard let maxTokens = object["max_tokens"] as? Int, maxTokens > 0 else { return "max_tokens is required" }
            if let system = object["system"], !(system is String) && !(system is [Any]) { return "system must be text" }
            for key in ["n", "stream_options", "response_format"] {
                if object[key] != nil { return "'\(key)' is not an Anthropic parameter" }
            }
            guard let messages = object["messages"] as? [[String: Any]], !messages.isEmpty else { return "messages required" }
            for message in messages {
                guard ["user", "assistant"].contains(message["role"] as? String ?? "") else { return "bad role \(message)" }
                if message["content"] is String { continue }  // shorthand for one text block
                guard let blocks = message["content"] as? [[String: Any]], !blocks.isEmpty else { return "content required" }
                for block in blocks {
                    switch block["type"] as? String {
                    case "text": if !(block["text"] is String) { return "text block without text" }
                    case "tool_use": if !(block["input"] is [String: Any]) { return "tool_use input must be an object" }
                    case "tool_result": if !(block["tool_use_id"] is String) { return "tool_result without tool_use_id" }
                    case "image": if !(block["source"] is [String: Any]) { return "image without source" }
                    default: return "unknown block \(block)"
                    }
                }
            }
            for tool in object["tools"] as? [[String: Any]] ?? [] {
                if !(tool["name"] is String) || !(tool["input_schema"] is [String: Any]) {
                    return "tool needs name and input_schema"
                }
            }
            if let choice = object["tool_choice"] as? [String: Any],
                !["auto", "any", "tool", "none"].contains(choice["type"] as? String ?? "")
            {
                return "bad tool_choice"
            }
        case .gemini:
            let streaming = request.url.hasSuffix(":streamGenerateContent?alt=sse")
            guard
                request.url.hasPrefix("https://generativelanguage.googleapis.test/v1beta/models/gemini-2.5-flash:")
                    && (streaming || request.url.hasSuffix(":generateContent"))
            else { return "wrong endpoint \(request.url)" }
            if header("x-goog-api-key") != "gemini-test-secret" { return "x-goog-api-key missing or wrong" }
            if object["model"] != nil || object["messages"] != nil { return "OpenAI members in a Gemini body" }
            guard let contents = object["contents"] as? [[String: Any]], !contents.isEmpty else { return "contents required" }
            for content in contents {
                guard ["user", "model"].contains(content["role"] as? String ?? "") else { return "bad role \(content)" }
                guard let parts = content["parts"] as? [[String: Any]], !parts.isEmpty else { return "parts required" }
                for part in parts
                where part.keys.filter({ ["text", "inlineData", "functionCall", "functionResponse"].contains($0) }).count != 1 {
                    return "a part holds exactly one of text/inlineData/functionCall/functionResponse: \(part)"
                }
            }
            if let system = object["systemInstruction"] as? [String: Any], !(system["parts"] is [[String: Any]]) {
                return "systemInstruction needs parts"
            }
            for tool in object["tools"] as? [[String: Any]] ?? [] {
                guard let declarations = tool["functionDeclarations"] as? [[String: Any]] else {
                    return "functionDeclarations required"
                }
                for declaration in declarations where !(declaration["name"] is String) { return "declaration without name" }
            }
        }
        return nil
    }

    /// The provider's error body for a request that breaks its schema.
    static func rejection(_ problem: String, kind: ProviderKind) -> UpstreamResponse {
        let body: String =
            switch kind {
            case .openai: #"{"error":{"message":"\#(problem)","type":"invalid_request_error","param":null,"code":null}}"#
            case .anthropic: #"{"type":"error","error":{"type":"invalid_request_error","message":"\#(problem)"}}"#
            case .gemini: #"{"error":{"code":400,"message":"\#(problem)","status":"INVALID_ARGUMENT"}}"#
            }
        return ReplayTransport.respond(status: 400, [body.replacingOccurrences(of: "\n", with: " ")])
    }
}
