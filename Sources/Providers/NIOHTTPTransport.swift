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
    private let fallback: any UpstreamTransport
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

    public func enforcesDeadlines(_ request: UpstreamRequest) -> Bool { target(request.url) != nil }

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

/// `http://host[:port]/path` split once; anything else (https, userinfo, no host) is not ours.
/// Read as UTF-8 bytes: this runs for every upstream request.
struct PlainHTTPTarget {
    var host: String
    var port: Int
    var path: String
    var hostHeader: String

    init?(_ url: String) {
        let bytes = url.utf8
        guard bytes.starts(with: "http://".utf8) else { return nil }
        let rest = bytes.dropFirst(7)
        let authorityEnd = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard !authority.isEmpty, !authority.contains(UInt8(ascii: "@")), authority.first != UInt8(ascii: "[") else {
            return nil
        }
        var hostEnd = authority.endIndex
        if let colon = authority.lastIndex(of: UInt8(ascii: ":")) {
            let digits = authority[authority.index(after: colon)...]
            guard (1...5).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            let port = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            guard (1...65535).contains(port) else { return nil }
            self.port = port
            hostEnd = colon
        } else {
            port = 80
        }
        guard hostEnd > authority.startIndex else { return nil }
        host = String(Substring(authority[..<hostEnd]))
        let remainder = Substring(bytes[authorityEnd...])
        path = remainder.isEmpty ? "/" : (remainder.hasPrefix("?") ? "/" + remainder : String(remainder))
        hostHeader = String(Substring(authority))
    }
}

/// One request's answer as it arrives: the head, then the body — handed over piece by piece
/// (streams) or once it is whole (non-streamed calls) — within the request's deadlines. Lives on
/// the channel's event loop; each step happens at most once.
final class UpstreamExchange: @unchecked Sendable {
    /// When the answer must start, end, and the longest silence inside it.
    struct Deadlines {
        var start: NIODeadline
        var firstByte: NIODeadline
        var total: NIODeadline
        var idle: TimeAmount
        var timeouts: Timeouts

        init(_ timeouts: Timeouts, from start: NIODeadline) {
            self.start = start
            firstByte = start + TimeAmount(timeouts.firstByte)
            total = start + TimeAmount(timeouts.total)
            idle = TimeAmount(timeouts.idle)
            self.timeouts = timeouts
        }
    }

    /// What the caller waits for: the head, with the body when it is read whole.
    struct Answer: Sendable {
        var head: UpstreamResponseParser.Head
        var wholeBody: ByteBuffer?
    }

    enum Delivery {
        /// Each piece as it arrives, reading paced by the consumer.
        case stream(AsyncThrowingStream<ByteBuffer, any Error>.Continuation, ReadPacer)
        /// The whole body at the end, at most `limit` bytes.
        case whole(limit: Int)
    }

    enum State {
        case awaitingHead
        case streaming
        case collecting(UpstreamResponseParser.Head, ByteBuffer)
        case done
    }

    private let answer: EventLoopPromise<Answer>
    private let delivery: Delivery
    private let deadlines: Deadlines
    private let finished: @Sendable (_ reusable: Bool) -> Void
    private var state = State.awaitingHead
    private var keepAlive = false
    /// The connection's handler, whose one timer wakes this exchange for its deadlines.
    weak var clock: UpstreamResponseHandler?
    private var lastData: NIODeadline
    /// Reading is paused for a slow consumer: silence then is not the upstream's.
    private var readingPaused = false

    init(
        answer: EventLoopPromise<Answer>, delivery: Delivery, deadlines: Deadlines,
        finished: @escaping @Sendable (Bool) -> Void
    ) {
        self.answer = answer
        self.delivery = delivery
        self.deadlines = deadlines
        self.finished = finished
        self.lastData = deadlines.start
    }

    var receivedAnything: Bool {
        if case .awaitingHead = state { return false }
        return true
    }
    /// The whole request was written: from here on the upstream may have acted on it.
    var requestWritten = false
    /// Whether a retry on another connection is safe after this one failed.
    var mayRetry: Bool { !receivedAnything && !requestWritten }

    /// Starts the deadlines, before the request is written.
    func begin() {
        armTimer()
    }

    func received(_ part: UpstreamResponseParser.Part) {
        switch (state, part) {
        case (.awaitingHead, .head(let responseHead)):
            keepAlive = responseHead.keepAlive
            lastData = .now()
            switch delivery {
            case .stream:
                state = .streaming
                answer.succeed(Answer(head: responseHead, wholeBody: nil))
            case .whole:
                state = .collecting(responseHead, ByteBuffer())
            }
        case (.streaming, .body(let buffer)):
            lastData = .now()
            guard case .stream(let body, let pacer) = delivery else { return }
            if pacer.produced() { readingPaused = true }
            body.yield(buffer)
        case (.collecting(let head, var whole), .body(let buffer)):
            lastData = .now()
            guard case .whole(let limit) = delivery else { return }
            guard whole.readableBytes + buffer.readableBytes <= limit else { return fail(UpstreamBody.tooLarge(limit)) }
            state = .done  // so `whole` is uniquely referenced while it grows
            if whole.readableBytes == 0 {
                whole = buffer
            } else {
                whole.writeImmutableBuffer(buffer)
            }
            state = .collecting(head, whole)
        case (.streaming, .end):
            state = .done
            if case .stream(let body, _) = delivery { body.finish() }
            finished(keepAlive)
        case (.collecting(let head, let whole), .end):
            state = .done
            // Back in the pool before the caller resumes, so its next request can take it.
            finished(keepAlive)
            answer.succeed(Answer(head: head, wholeBody: whole))
        default:
            fail(UpstreamFailure(.upstreamError, "upstream sent an HTTP response out of order"))
        }
    }

    func fail(_ error: any Error) {
        switch state {
        case .awaitingHead, .collecting:
            answer.fail(error)
            if case .stream(let body, _) = delivery { body.finish(throwing: error) }
        case .streaming:
            if case .stream(let body, _) = delivery { body.finish(throwing: error) }
        case .done: return
        }
        state = .done
        finished(false)
    }

    /// The consumer caught up and reading resumed: the upstream's silence counts again from now.
    func readingResumed() {
        guard case .streaming = state else { return }
        readingPaused = false
        lastData = .now()
        armTimer()
    }

    /// The earliest deadline still ahead. Before the head, `start + idle` is a harmless early
    /// check (the idle deadline once data flows can only be later), so the usual exchange never
    /// needs a second timer.
    private func nextDeadline(after now: NIODeadline) -> NIODeadline? {
        // Without an array: this runs for every exchange.
        var next: NIODeadline?
        func consider(_ deadline: NIODeadline) {
            if deadline > now, next.map({ deadline < $0 }) ?? true { next = deadline }
        }
        consider(deadlines.total)
        switch state {
        case .awaitingHead:
            consider(deadlines.firstByte)
            consider(deadlines.start + deadlines.idle)
        case .streaming, .collecting:
            if !readingPaused { consider(lastData + deadlines.idle) }
        case .done: return nil
        }
        return next
    }

    private func armTimer() {
        guard let deadline = nextDeadline(after: .now()) else { return }
        clock?.wake(at: deadline)
    }

    /// Called by the connection's timer (which may fire early: it is not moved back when an
    /// exchange ends), so each deadline is checked against the clock.
    func checkDeadlines() {
        let now = NIODeadline.now()
        let timeouts = deadlines.timeouts
        switch state {
        case .done: return
        case .awaitingHead where now >= deadlines.firstByte:
            timeOut("time to first byte took longer than \(timeouts.firstByte)")
        case _ where now >= deadlines.total:
            timeOut("upstream took longer than \(timeouts.total)")
        case .streaming where !readingPaused && now >= lastData + deadlines.idle,
            .collecting where !readingPaused && now >= lastData + deadlines.idle:
            timeOut("no data from upstream for \(timeouts.idle)")
        default:
            armTimer()
        }
    }

    /// Failing closes the connection (`finished(false)`), which ends the upstream request.
    private func timeOut(_ message: String) {
        fail(UpstreamFailure(.upstreamTimeout, message))
    }
}

/// The only handler of an upstream connection: reads the response of the exchange in progress
/// from the bytes as they arrive and passes its parts on.
final class UpstreamResponseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private var exchange: UpstreamExchange?
    private var parser = UpstreamResponseParser()
    /// Inside `parser.feed`: an exchange failing there closes the channel at once, and the
    /// parser must not be touched again until `feed` returns.
    private var feeding = false
    /// One timer for the connection's exchanges, armed for the earliest deadline asked for and
    /// left running when an exchange ends: on a busy connection it is armed about once per
    /// first-byte timeout instead of scheduled and cancelled for every exchange.
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func start(_ exchange: UpstreamExchange) {
        self.exchange = exchange
        exchange.clock = self
        parser = UpstreamResponseParser()
    }

    /// Wakes the exchange in progress (if any) at `deadline` or earlier.
    func wake(at deadline: NIODeadline) {
        if let armed = timerDeadline, armed <= deadline { return }
        timer?.cancel()
        timerDeadline = deadline
        // Weak: a closed connection's handler is not kept until its timer fires.
        timer = eventLoop.scheduleTask(deadline: deadline) { [weak self] in
            guard let self else { return }
            timer = nil
            timerDeadline = nil
            exchange?.checkDeadlines()
        }
    }

    private func stopTimer() {
        timer?.cancel()
        timer = nil
        timerDeadline = nil
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopTimer()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let exchange else {
            // Bytes nobody asked for: this connection cannot be trusted any more.
            context.close(promise: nil)
            return
        }
        feeding = true
        defer { feeding = false }
        do {
            try parser.feed(unwrapInboundIn(data)) { part in
                if case .end = part { self.exchange = nil }
                exchange.received(part)
            }
        } catch {
            self.exchange = nil
            exchange.fail(error)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopTimer()
        if let exchange {
            self.exchange = nil
            do {
                // A body that runs until the connection closes ends here; anything else was cut short.
                guard exchange.receivedAnything, !feeding else { throw StaleConnection() }
                try parser.inputClosed { exchange.received($0) }
            } catch {
                exchange.fail(
                    exchange.mayRetry
                        ? StaleConnection() : UpstreamFailure(.upstreamUnavailable, "upstream closed the connection"))
            }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let exchange {
            self.exchange = nil
            exchange.fail(exchange.mayRetry ? StaleConnection() : error)
        }
        context.close(promise: nil)
    }
}

/// Back-pressure for a response body: the connection stops reading while `high` pieces wait for
/// a slow consumer, and reads again once it has taken them down to `low`.
final class ReadPacer: @unchecked Sendable {
    static let high = 64
    static let low = 16
    private let pending = Atomic<Int>(0)
    private let channel: any Channel
    /// Told when reading resumes; set once, before the exchange starts, read on the event loop.
    weak var exchange: UpstreamExchange?

    init(_ channel: any Channel) { self.channel = channel }

    /// On the event loop, as a piece is handed over; true when this paused reading.
    func produced() -> Bool {
        guard pending.add(1, ordering: .relaxed).newValue == Self.high else { return false }
        try? channel.syncOptions?.setOption(.autoRead, value: false)
        return true
    }

    /// By the consumer, as it takes a piece.
    func consumed() {
        if pending.subtract(1, ordering: .relaxed).newValue == Self.low {
            channel.eventLoop.execute { [self] in
                try? channel.syncOptions?.setOption(.autoRead, value: true)
                channel.read()
                exchange?.readingResumed()
            }
        }
    }
}

/// A response body that tells its pacer about each piece taken.
struct PacedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: AsyncThrowingStream<ByteBuffer, any Error>
    let pacer: ReadPacer

    func makeAsyncIterator() -> Iterator { Iterator(base: base.makeAsyncIterator(), pacer: pacer) }

    struct Iterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<ByteBuffer, any Error>.AsyncIterator
        let pacer: ReadPacer

        mutating func next() async throws -> ByteBuffer? {
            // On the caller's executor: the stream's plain `next()` is `@concurrent`.
            let piece = try await base.next(isolation: #isolation)
            if piece != nil { pacer.consumed() }
            return piece
        }
    }
}
