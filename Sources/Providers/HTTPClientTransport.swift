import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import SwitchyardCore
import Synchronization

/// `UpstreamTransport` over AsyncHTTPClient, for https upstreams (the hosted providers): TLS is
/// what it adds over `NIOHTTPTransport`, which serves plain http. The two behave alike:
/// - HTTP/1.1 only, so `max_connections` means the same on both: at most that many connections
///   open to an origin, each carrying one request at a time. A request takes a slot of
///   `UpstreamConnectionPool` before it is sent and gives it back when its answer has ended;
///   past the limit it waits in the same bounded line, within its first-byte deadline.
/// - The same deadlines: first byte (slot and connection included), idle between body pieces
///   (streamed or read whole), and total; the same error classes. A non-streamed call
///   (`wholeBodyLimit`) is answered once its body is whole, within the limit.
/// - No redirects (outbound calls go only to the configured provider URLs), keep-alive pooling.
///
/// One client (and so one connection pool) per distinct connect timeout and pool size:
/// AsyncHTTPClient sets those per client, and deployments may each set their own.
public final class HTTPClientTransport: UpstreamTransport {
    struct ClientSettings: Hashable {
        var connect: Duration
        var maxConnections: Int
    }

    private let clients = Mutex<[ClientSettings: HTTPClient]>([:])
    private let tlsConfiguration: TLSConfiguration?
    let slots = UpstreamConnectionPool()

    /// `tlsConfiguration`: how upstream certificates are verified (default: the system's trust
    /// roots).
    public init(tlsConfiguration: TLSConfiguration? = nil) {
        self.tlsConfiguration = tlsConfiguration
    }

    private func client(for request: UpstreamRequest) -> HTTPClient {
        let settings = ClientSettings(connect: request.timeouts.connect, maxConnections: max(1, request.maxConnections))
        return clients.withLock { clients in
            if let client = clients[settings] { return client }
            var configuration = HTTPClient.Configuration()
            configuration.redirectConfiguration = .disallow
            configuration.httpVersion = .http1Only
            configuration.tlsConfiguration = tlsConfiguration
            // The first-byte, idle and total deadlines are this transport's (below), not the client's.
            configuration.timeout = .init(connect: .init(settings.connect))
            configuration.connectionPool = .init(
                idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: settings.maxConnections)
            configuration.decompression = .disabled
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[settings] = client
            return client
        }
    }

    public func enforcesDeadlines(_ request: UpstreamRequest) -> Bool { true }

    public func send(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse {
        guard let url = URL(string: request.url), let host = url.host else {
            throw UpstreamFailure(.upstreamUnavailable, "not a URL: \(request.url)")
        }
        let key = UpstreamConnectionPool.Key(
            host: host, port: url.port ?? (url.scheme == "https" ? 443 : 80), limit: max(1, request.maxConnections))
        let client = client(for: request)
        var outbound = HTTPClientRequest(url: request.url)
        outbound.method = request.isProbe ? .GET : .POST
        for (name, value) in request.headers { outbound.headers.add(name: name, value: value) }
        if !request.isProbe { outbound.body = .bytes(ByteBuffer(bytes: request.body)) }
        let sent = outbound
        let started = NIODeadline.now()
        let slot = UpstreamSlot(pool: slots, key: key)
        do {
            // The first-byte deadline counts from here, the wait for a slot included.
            let firstByte = started + TimeAmount(request.timeouts.firstByte)
            guard case .connect = try await slots.acquire(key, deadline: firstByte) else {
                preconditionFailure("no connection is ever handed back to the slot pool")
            }
            slot.taken()
            // At least a moment: a timer for nothing might not be waited for.
            let left = max(.milliseconds(1), request.timeouts.firstByte - .nanoseconds((NIODeadline.now() - started).nanoseconds))
            let response = try await withUpstreamDeadline(left, "time to first byte") { () throws(UpstreamFailure) in
                do {
                    return try await client.execute(sent, deadline: started + TimeAmount(request.timeouts.total))
                } catch {
                    throw Self.classify(error)
                }
            }
            // AsyncHTTPClient's deadline covers the head only: the body's pieces are raced against
            // both the idle time and what is left of the total.
            let total = ContinuousClock.now + request.timeouts.total - .nanoseconds((NIODeadline.now() - started).nanoseconds)
            var body = UpstreamBody(
                PacedResponseBody(
                    body: response.body, idle: request.timeouts.idle, total: total, totalLimit: request.timeouts.total,
                    slot: slot))
            if let limit = request.wholeBodyLimit {
                // A non-streamed call: answered once the body is whole, within the same deadlines.
                body = .whole(ByteBuffer(bytes: try await body.collect(upTo: limit)))
            }
            return UpstreamResponse(
                status: Int(response.status.code), contentType: response.headers.first(name: "content-type"),
                retryAfter: RetryAfter.parse(response.headers.first(name: "retry-after")), body: body)
        } catch {
            slot.giveBack()
            throw Self.classify(error)
        }
    }

    public func shutdown() async {
        await slots.shutdown()
        for client in clients.withLock({ Array($0.values) }) { try? await client.shutdown() }
    }

    public static func classify(_ error: Error) -> UpstreamFailure {
        if let error = error as? UpstreamFailure { return error }
        if Task.isCancelled || error is CancellationError { return UpstreamFailure(.clientCancelled, "request cancelled") }
        if error is UpstreamConnectionPool.Full || error is UpstreamConnectionPool.NoConnectionInTime {
            return NIOHTTPTransport.classify(error)
        }
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded:
                return UpstreamFailure(.upstreamTimeout, "upstream took longer than its total deadline")
            case .readTimeout, .connectTimeout:
                return UpstreamFailure(.upstreamTimeout, "upstream did not answer in time (\(error))")
            case .cancelled:
                return UpstreamFailure(.clientCancelled, "request cancelled")
            case .remoteConnectionClosed:
                return UpstreamFailure(.upstreamUnavailable, "upstream closed the connection")
            default:
                return UpstreamFailure(.upstreamUnavailable, "\(error)")
            }
        }
        return UpstreamFailure(.upstreamUnavailable, "cannot reach upstream: \(error)")
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// One request's slot of an origin's `max_connections`: given back once, when its answer has
/// ended, failed, or been dropped unread (the body's deinit), whichever comes first.
final class UpstreamSlot: Sendable {
    private let pool: UpstreamConnectionPool
    private let key: UpstreamConnectionPool.Key
    /// 0: not taken yet, 1: held, 2: given back.
    private let state = Atomic<Int>(0)

    init(pool: UpstreamConnectionPool, key: UpstreamConnectionPool.Key) {
        self.pool = pool
        self.key = key
    }

    func taken() { state.store(1, ordering: .releasing) }

    func giveBack() {
        guard state.compareExchange(expected: 1, desired: 2, ordering: .acquiringAndReleasing).exchanged else { return }
        pool.abandon(key)
    }

    deinit { giveBack() }
}

/// AsyncHTTPClient's response body with the idle deadline between pieces and the total deadline
/// over all of them, giving the request's slot back at its end.
struct PacedResponseBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let body: HTTPClientResponse.Body
    let idle: Duration
    let total: ContinuousClock.Instant
    /// The total deadline as configured, for its message.
    let totalLimit: Duration
    let slot: UpstreamSlot

    func makeAsyncIterator() -> Iterator {
        Iterator(
            base: UpstreamBody.IteratorBox(body.makeAsyncIterator()), idle: idle, total: total,
            totalMessage: "upstream took longer than \(totalLimit)", slot: slot)
    }

    struct Iterator: AsyncIteratorProtocol {
        let base: UpstreamBody.IteratorBox<HTTPClientResponse.Body.AsyncIterator>
        let idle: Duration
        let total: ContinuousClock.Instant
        let totalMessage: String
        let slot: UpstreamSlot

        mutating func next() async throws -> ByteBuffer? {
            do {
                let (base, idle, totalMessage) = (self.base, self.idle, self.totalMessage)
                let left = total - .now
                guard left > .zero else { throw UpstreamFailure(.upstreamTimeout, totalMessage) }
                let piece = try await race({ try await base.next() }, against: Swift.max(.milliseconds(1), Swift.min(idle, left)))
                {
                    left < idle ? totalMessage : "no data from upstream for \(idle)"
                }
                if piece == nil { slot.giveBack() }
                return piece
            } catch {
                slot.giveBack()
                throw HTTPClientTransport.classify(error)
            }
        }
    }
}
