import HTTPWire
import NIOCore
import NIOPosix
import SwitchyardCore
import Synchronization

/// `UpstreamTransport` straight on SwiftNIO for plain-HTTP upstreams — the self-hosted model
/// servers (vLLM, llama.cpp) a gateway sits closest to. One HTTP/1.1 request per connection at a
/// time, kept alive in a pool per host; no redirects are followed. Other schemes (https) go to
/// `fallback`.
///
/// Why: AsyncHTTPClient's per-request machinery was most of the gateway's CPU under load (see
/// BUILD-NOTES); this path writes the request and hands the response's bytes to the caller
/// with nothing in between.
public final class NIOHTTPTransport: UpstreamTransport {
    private let group: any EventLoopGroup
    let fallback: any UpstreamTransport
    let pool = UpstreamConnectionPool()
    private let targets = Mutex<[String: PlainHTTPTarget?]>([:])

    public init(
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        fallback: any UpstreamTransport = HTTPClientTransport()
    ) {
        self.group = group
        self.fallback = fallback
    }

    public func send(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse {
        guard let target = target(request.url) else { return try await fallback.send(request) }
        let key = UpstreamConnectionPool.Key(host: target.host, port: target.port, limit: max(1, request.maxConnections))
        let head = try Self.requestHead(request, target: target)
        // Like the race it replaces, the first-byte deadline counts from here, waiting for a
        // connection and connecting included.
        let started = NIODeadline.now()
        let firstByte = started + TimeAmount(request.timeouts.firstByte)
        do {
            // A pooled connection the upstream closed while idle fails before any answer: trying
            // another is safe, since the upstream never saw the request. Each such one is closed,
            // so after at most `limit` of them a slot for a fresh connection comes.
            for _ in 0...key.limit {
                switch try await pool.acquire(key, deadline: firstByte) {
                case .pooled(let channel):
                    do {
                        return try await exchange(on: channel, head: head, request: request, key: key, started: started)
                    } catch is StaleConnection {
                        if Task.isCancelled { throw CancellationError() }
                        continue
                    }
                case .connect:
                    let channel: any Channel
                    do {
                        let left = max(.milliseconds(1), firstByte - .now())
                        channel = try await connect(key, timeout: min(TimeAmount(request.timeouts.connect), left))
                    } catch {
                        pool.abandon(key)
                        throw error
                    }
                    pool.opened(channel, key)
                    return try await exchange(on: channel, head: head, request: request, key: key, started: started)
                }
            }
            throw StaleConnection()
        } catch {
            throw Self.classify(error)
        }
    }

    public func shutdown() async {
        await pool.shutdown()
        await fallback.shutdown()
    }

    // MARK: One exchange

    public func enforcesDeadlines(_ request: UpstreamRequest) -> Bool {
        target(request.url) != nil || fallback.enforcesDeadlines(request)
    }

    /// Each URL split once: the few distinct ones (a provider's base URL and endpoint paths) are
    /// asked for twice per request.
    private func target(_ url: String) -> PlainHTTPTarget? {
        if let known = targets.withLock({ $0[url] }) { return known }
        let target = PlainHTTPTarget(url)
        targets.withLock { targets in
            if targets.count >= 1024 { targets.removeAll(keepingCapacity: true) }
            targets[url] = .some(target)
        }
        return target
    }

    private func exchange(
        on channel: any Channel, head: [UInt8], request: UpstreamRequest, key: UpstreamConnectionPool.Key,
        started: NIODeadline
    ) async throws -> UpstreamResponse {
        let answer = channel.eventLoop.makePromise(of: UpstreamExchange.Answer.self)
        let delivery: UpstreamExchange.Delivery
        var streamed: PacedBody?
        if let limit = request.wholeBodyLimit {
            // Read whole on the event loop and handed over once: no stream between the two.
            delivery = .whole(limit: limit)
        } else {
            let (body, continuation) = AsyncThrowingStream.makeStream(of: ByteBuffer.self)
            let pacer = ReadPacer(channel)
            // Dropping the body before its end (client gone, kill switch, deadline) ends the
            // upstream request: the connection is closed, never reused mid-response.
            continuation.onTermination = { termination in
                if case .cancelled = termination { channel.close(promise: nil) }
            }
            delivery = .stream(continuation, pacer)
            streamed = PacedBody(base: body, pacer: pacer)
        }
        let exchange = UpstreamExchange(
            answer: answer, delivery: delivery,
            deadlines: .init(request.timeouts, from: started),
            finished: { [pool, paced = streamed != nil] reusable in
                // The pacer may have paused reading just as the end arrived: a pooled connection reads.
                if reusable && paced { try? channel.syncOptions?.setOption(.autoRead, value: true) }
                pool.release(channel, key, reusable: reusable)
            })
        streamed?.pacer.exchange = exchange
        // The whole request in one buffer and one write.
        var bytes = channel.allocator.buffer(capacity: head.count + request.body.count)
        bytes.writeBytes(head)
        if !request.isProbe { bytes.writeBytes(request.body) }
        let requestBytes = bytes
        let write: @Sendable () -> Void = {
            guard let handler = try? channel.pipeline.syncOperations.handler(type: UpstreamResponseHandler.self) else {
                exchange.fail(StaleConnection())
                return
            }
            handler.start(exchange)
            exchange.begin()
            channel.writeAndFlush(requestBytes).whenComplete { result in
                switch result {
                case .success: exchange.requestWritten = true
                // Not all of the request reached the upstream: unless it already answered (an early
                // refusal), it cannot have acted on it.
                case .failure(let error): exchange.fail(exchange.receivedAnything ? error : StaleConnection())
                }
            }
        }
        // The request task normally runs on this connection's event loop: write without a hop.
        if channel.eventLoop.inEventLoop { write() } else { channel.eventLoop.execute(write) }
        let received = try await withTaskCancellationHandler {
            try await answer.futureResult.get()
        } onCancel: {
            channel.close(promise: nil)
        }
        let body: UpstreamBody
        if let whole = received.wholeBody {
            body = .whole(whole)
        } else if let streamed {
            body = UpstreamBody(streamed)
        } else {
            throw UpstreamFailure(.upstreamError, "upstream answer without a body")  // unreachable: stream delivery
        }
        return UpstreamResponse(
            status: received.head.status, contentType: received.head.contentType,
            retryAfter: RetryAfter.parse(received.head.retryAfter), body: body)
    }

    /// The request line and headers, serialized. Names and values that would break the framing
    /// (CR, LF, NUL; a name that is not a token) are refused rather than sent.
    static func requestHead(_ request: UpstreamRequest, target: PlainHTTPTarget) throws(UpstreamFailure) -> [UInt8] {
        func refuse(_ what: String) -> UpstreamFailure {
            UpstreamFailure(.upstreamError, "cannot send the upstream request: \(what) would break its framing")
        }
        func isSafe(_ text: String) -> Bool { !text.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 } }
        guard isSafe(target.path), !target.path.utf8.contains(0x20) else { throw refuse("its path") }
        var head: [UInt8] = []
        head.reserveCapacity(256)
        head += (request.isProbe ? "GET " : "POST ").utf8
        head += target.path.utf8
        head += " HTTP/1.1\r\nhost: ".utf8
        head += target.hostHeader.utf8
        for (name, value) in request.headers {
            if HTTPSyntax.isName(name.utf8, "host") || HTTPSyntax.isName(name.utf8, "content-length") {
                continue
            }
            guard !name.isEmpty, name.utf8.allSatisfy(HTTPSyntax.isTokenByte) else { throw refuse("header name '\(name)'") }
            guard isSafe(value) else { throw refuse("the value of header '\(name)'") }
            head += "\r\n".utf8
            head += name.utf8
            head += ": ".utf8
            head += value.utf8
        }
        if !request.isProbe {
            head += "\r\ncontent-length: ".utf8
            head += String(request.body.count).utf8
        }
        head += "\r\n\r\n".utf8
        return head
    }

    // MARK: Connections

    private func connect(_ origin: UpstreamConnectionPool.Key, timeout: TimeAmount) async throws -> any Channel {
        // On the event loop this task runs on (when it runs on one): the connection's reads then
        // wake the same thread that handles the request, with no hop between threads.
        try await ClientBootstrap(group: group.any())
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamResponseHandler(eventLoop: channel.eventLoop))
                }
            }
            .connect(host: origin.host, port: origin.port).get()
    }

    static func classify(_ error: any Error) -> UpstreamFailure {
        // A request whose task was cancelled (its client left) ends its exchange by closing the
        // connection: whatever that looked like, it is the client's doing, not the upstream's.
        if Task.isCancelled { return UpstreamFailure(.clientCancelled, "request cancelled") }
        switch error {
        case let failure as UpstreamFailure: return failure
        case is CancellationError: return UpstreamFailure(.clientCancelled, "request cancelled")
        case is UpstreamConnectionPool.Full:
            return UpstreamFailure(.upstreamUnavailable, "every connection to the upstream is busy and the line for one is full")
        case is UpstreamConnectionPool.NoConnectionInTime:
            return UpstreamFailure(.upstreamTimeout, "no connection to the upstream came free before the first-byte deadline")
        case ChannelError.connectTimeout: return UpstreamFailure(.upstreamTimeout, "connecting to the upstream timed out")
        case is StaleConnection, ChannelError.ioOnClosedChannel, ChannelError.alreadyClosed, ChannelError.eof:
            return UpstreamFailure(.upstreamUnavailable, "upstream closed the connection")
        default: return UpstreamFailure(.upstreamUnavailable, "cannot reach upstream: \(error)")
        }
    }
}

/// The connection ended before any answer arrived.
struct StaleConnection: Error {}
