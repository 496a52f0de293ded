import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// `UpstreamTransport` over AsyncHTTPClient, with keep-alive pooling and no redirects (outbound
/// calls go only to the configured provider URLs).
public final class HTTPClientTransport: UpstreamTransport {
    private let client: HTTPClient

    public init(connectTimeout: Duration = .seconds(5), readTimeout: Duration = .seconds(120), connectionsPerHost: Int = 64) {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .init(connectTimeout), read: .init(readTimeout))
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerHost)
        configuration.decompression = .disabled
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func send(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse {
        var outbound = HTTPClientRequest(url: request.url)
        outbound.method = .POST
        for (name, value) in request.headers { outbound.headers.add(name: name, value: value) }
        outbound.body = .bytes(ByteBuffer(bytes: request.body))
        do {
            let response = try await client.execute(outbound, timeout: .init(request.timeout))
            return UpstreamResponse(
                status: Int(response.status.code), contentType: response.headers.first(name: "content-type"),
                body: UpstreamBody(response.body))
        } catch {
            throw Self.classify(error)
        }
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    public static func classify(_ error: Error) -> UpstreamFailure {
        if let error = error as? UpstreamFailure { return error }
        if let error = error as? HTTPClientError {
            switch error {
            case .readTimeout, .deadlineExceeded, .connectTimeout:
                return UpstreamFailure(.upstreamTimeout, "upstream did not answer in time (\(error))")
            case .cancelled:
                return UpstreamFailure(.clientCancelled, "request cancelled")
            case .remoteConnectionClosed:
                return UpstreamFailure(.upstreamUnavailable, "upstream closed the connection")
            default:
                return UpstreamFailure(.upstreamUnavailable, "\(error)")
            }
        }
        if error is CancellationError { return UpstreamFailure(.clientCancelled, "request cancelled") }
        return UpstreamFailure(.upstreamUnavailable, "cannot reach upstream: \(error)")
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
