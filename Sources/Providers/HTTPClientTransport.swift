import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import SwitchyardCore
import Synchronization

/// `UpstreamTransport` over AsyncHTTPClient, with keep-alive pooling and no redirects (outbound
/// calls go only to the configured provider URLs).
///
/// One client (and so one connection pool) per distinct connect timeout, read timeout and pool
/// size: AsyncHTTPClient sets those per client, and deployments may each set their own.
public final class HTTPClientTransport: UpstreamTransport {
    struct ClientSettings: Hashable {
        var connect: Duration
        var read: Duration
        var maxConnections: Int
    }

    private let clients = Mutex<[ClientSettings: HTTPClient]>([:])

    public init() {}

    private func client(for request: UpstreamRequest) -> HTTPClient {
        // The read timeout is the longest silence allowed on the connection. The wait for the
        // first byte and the gaps inside a stream are bounded more tightly by the gateway.
        let settings = ClientSettings(
            connect: request.timeouts.connect, read: max(request.timeouts.firstByte, request.timeouts.idle),
            maxConnections: request.maxConnections)
        return clients.withLock { clients in
            if let client = clients[settings] { return client }
            var configuration = HTTPClient.Configuration()
            configuration.redirectConfiguration = .disallow
            configuration.timeout = .init(connect: .init(settings.connect), read: .init(settings.read))
            configuration.connectionPool = .init(
                idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: settings.maxConnections)
            configuration.decompression = .disabled
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[settings] = client
            return client
        }
    }

    public func send(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse {
        let client = client(for: request)
        var outbound = HTTPClientRequest(url: request.url)
        outbound.method = request.isProbe ? .GET : .POST
        for (name, value) in request.headers { outbound.headers.add(name: name, value: value) }
        if !request.isProbe { outbound.body = .bytes(ByteBuffer(bytes: request.body)) }
        do {
            let response = try await client.execute(outbound, timeout: .init(request.timeouts.total))
            return UpstreamResponse(
                status: Int(response.status.code), contentType: response.headers.first(name: "content-type"),
                retryAfter: RetryAfter.parse(response.headers.first(name: "retry-after")), body: UpstreamBody(response.body))
        } catch {
            throw Self.classify(error)
        }
    }

    public func shutdown() async {
        for client in clients.withLock({ Array($0.values) }) { try? await client.shutdown() }
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
