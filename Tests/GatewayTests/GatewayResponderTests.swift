import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import ControlPlane
@testable import DataPlane

/// The fixed routes are found by exact method and path; everything else gets the router's answer.
@Suite struct GatewayResponderTests {
    /// A fixed route's handler answers its exact method and path; with a query, another method or
    /// another path, the router answers instead.
    @Test func fixedRoutesFirstThenTheRouter() async throws {
        let router = Router(context: BasicRequestContext.self)
        router.get("/fixed") { _, _ in Response(status: .noContent) }
        router.get("/items/{id}") { _, context in
            Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: context.parameters.get("id") ?? "")))
        }
        let responder = GatewayResponder(
            fixedRoutes: [.init(.get, "/fixed") { _ in Response(status: .accepted) }], router: router.buildResponder())
        try await Application(responder: responder).test(.router) { client in
            try await client.execute(uri: "/fixed", method: .get) { #expect($0.status == .accepted) }
            try await client.execute(uri: "/fixed?probe=1", method: .get) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/fixed", method: .post) { #expect($0.status != .accepted) }
            try await client.execute(uri: "/items/42", method: .get) { #expect(String(buffer: $0.body) == "42") }
            try await client.execute(uri: "/nowhere", method: .get) { #expect($0.status == .notFound) }
        }
    }

    /// The gateway's own responder answers like its router: the data plane, the operations
    /// endpoints, admin routes with parameters, and unknown paths.
    @Test func theGatewaysResponderAnswersLikeItsRouter() async throws {
        let test = try await TestGateway.make { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let requests: [(String, HTTPRequest.Method, HTTPFields, String?)] = [
            (
                "/v1/chat/completions", .post, [.authorization: "Bearer \(test.acmeKey)", .contentType: "application/json"],
                ChatCompletionsTests.chatBody
            ),
            (
                "/v1/chat/completions?x=1", .post, [.authorization: "Bearer \(test.acmeKey)", .contentType: "application/json"],
                ChatCompletionsTests.chatBody
            ),
            ("/v1/models", .get, [.authorization: "Bearer \(test.acmeKey)"], nil),
            ("/v1/models", .get, [:], nil),
            ("/healthz", .get, [:], nil),
            ("/v1/chat/completions", .get, [:], nil),
            ("/admin/v1/tenants/acme", .get, [:], nil),
            ("/v1/nothing", .post, [:], nil),
        ]
        func answers<R: HTTPResponder>(_ responder: R) async throws -> [(HTTPResponse.Status, String?, String)]
        where R.Context == BasicRequestContext {
            try await Application(responder: responder).test(.router) { client in
                var answers: [(HTTPResponse.Status, String?, String)] = []
                for (uri, method, headers, body) in requests {
                    let answer = try await client.execute(
                        uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }
                    ) { response in
                        (response.status, response.headers[.switchyardDeployment], String(buffer: response.body))
                    }
                    answers.append(answer)
                }
                return answers
            }
        }
        let admin = AdminAPI(gateway: test.gateway)
        let direct = try await answers(test.gateway.makeResponder(serving: [admin]))
        let routed = try await answers(test.gateway.makeRouter(serving: [admin]).buildResponder())
        #expect(direct.map(\.0) == routed.map(\.0))
        #expect(direct.map(\.1) == routed.map(\.1))
        #expect(direct.map(\.2) == routed.map(\.2))
        #expect(direct[0].0 == .ok && direct[0].1 == "gemma-local")
        #expect(direct[2].0 == .ok && direct[2].2.contains("\"object\":\"list\""))
        #expect(direct[3].0 == .unauthorized)
        #expect(direct[6].0 == .unauthorized)
        #expect(direct[7].0 == .notFound)
    }
}
