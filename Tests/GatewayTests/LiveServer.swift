import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@testable import ControlPlane
@testable import DataPlane

/// Gateway tests go through the server production runs: `Gateway.makeServer()` (the ingress
/// with the gateway's responder, limits and timeouts) on a free port of 127.0.0.1, and a client
/// that opens a connection of its own for each request, so concurrent requests are concurrent on
/// the wire too.
extension Gateway {
    func withLiveServer<Value: Sendable>(_ body: @Sendable (LiveClient) async throws -> Value) async throws -> Value {
        let (ports, announce) = AsyncStream.makeStream(of: Int.self)
        let admin = AdminAPI(gateway: self)
        let server = makeServer(serving: [admin, Console(api: admin)]) { port in
            announce.yield(port)
            announce.finish()
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // A server that fails to start ends the stream, so the wait below ends too.
                defer { announce.finish() }
                try await server.run()
            }
            var announced = ports.makeAsyncIterator()
            guard let port = await announced.next() else {
                try await group.waitForAll()
                throw LiveServerError.didNotStart
            }
            let result: Result<Value, any Error>
            do {
                result = .success(try await body(LiveClient(port: port)))
            } catch {
                result = .failure(error)
            }
            // Cancelling stops the listener; `run` returns once every connection has closed.
            group.cancelAll()
            try await group.waitForAll()
            return try result.get()
        }
    }
}

enum LiveServerError: Error {
    case didNotStart
}

/// A client of a live test server: one connection per request, closed after the response.
struct LiveClient: Sendable {
    let port: Int

    /// Generous for a loaded 2-core machine: a response that has not come by then never will.
    static let readTimeout = Duration.seconds(30)

    @discardableResult
    func execute<Return>(
        uri: String, method: HTTPRequest.Method, headers: HTTPFields = [:], body: ByteBuffer? = nil,
        testCallback: (ServedResponse) async throws -> Return = { $0 }
    ) async throws -> Return {
        let request = TestClient.Request(uri, method: method, authority: "127.0.0.1", headers: headers, body: body)
        let response = try await TestClient.withClient(
            host: "127.0.0.1", port: port, configuration: .init(timeout: Self.readTimeout)
        ) { client in
            try await client.execute(request)
        }
        return try await testCallback(
            ServedResponse(head: response.head, body: response.body ?? ByteBuffer()))
    }
}

/// A whole response as the client received it.
struct ServedResponse: Sendable {
    let head: HTTPResponse
    let body: ByteBuffer

    var status: HTTPResponse.Status { head.status }
    var headers: HTTPFields { head.headerFields }
}
