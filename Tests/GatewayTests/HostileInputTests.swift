import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import DataPlane

/// Bodies built to hurt: each gets a clear 4xx in the client's format (or is served), and the
/// gateway keeps serving afterwards.
@Suite struct HostileInputTests {
    static let yaml = TestGateway.configurationYAML.replacingOccurrences(
        of: "max_body_bytes: 2048", with: "max_body_bytes: 8388608")

    func send(_ test: TestGateway, _ body: [UInt8], path: String = "/v1/chat/completions") async throws -> (
        HTTPResponse.Status, String
    ) {
        var headers: HTTPFields = [.authorization: "Bearer \(test.acmeKey)", .contentType: "application/json"]
        if path == "/v1/messages" { headers[HTTPField.Name("anthropic-version")!] = "2023-06-01" }
        let fields = headers
        return try await test.gateway.withLiveServer { client in
            try await client.execute(uri: path, method: .post, headers: fields, body: ByteBuffer(bytes: body)) {
                ($0.status, String(buffer: $0.body))
            }
        }
    }

    @Test(arguments: ["/v1/chat/completions", "/v1/messages", "/v1/responses"])
    func deepNestingIsRefusedNotRecursedInto(_ path: String) async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let depth = 200_000
        let body =
            Array(#"{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"#.utf8)
            + Array(repeating: UInt8(ascii: "["), count: depth) + Array(repeating: UInt8(ascii: "]"), count: depth)
            + Array("}]}".utf8)
        let (status, text) = try await send(test, body, path: path)
        #expect(status == .badRequest, "\(path): \(status) \(text.prefix(200))")
        #expect(text.contains("error"))
        #expect(
            try await send(test, Array(#"{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"Hi"}]}"#.utf8)).0
                == .ok)
    }

    @Test func invalidUTF8IsA400() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let body =
            Array(#"{"model":"chat","messages":[{"role":"user","content":""#.utf8) + [0xFF, 0xC0, 0x80] + Array(#""}]}"#.utf8)
        let (status, text) = try await send(test, body)
        #expect(status == .badRequest)
        #expect(text.contains("invalid_request_error"))
        #expect(test.transport.requests.isEmpty)
    }

    @Test func fiftyThousandMessagesAreServedWithinTheBodyLimit() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let message = #"{"role":"user","content":"x"}"#
        let body = #"{"model":"chat","messages":["# + Array(repeating: message, count: 50_000).joined(separator: ",") + "]}"
        let (status, _) = try await send(test, Array(body.utf8))
        #expect(status == .ok)
        #expect(test.transport.requests.count == 1)
    }
}
