import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTPTypes

/// One client connection of the `IngressServer`: reads requests (`IngressRequestParser`), runs
/// the responder for each in a task on the connection's own event loop, writes the response
/// (`IngressResponseFraming`), and keeps the connection for the next request unless the client
/// or a shutdown says otherwise. The only handler on the connection: bytes in, bytes out.
///
/// One request at a time: a pipelined request stays in the parser until the response before it
/// has ended, and while one waits there the connection stops reading, so a client cannot make
/// it buffer more than one read ahead. The state moves on when the response's end is written
/// (`writeResponse`, called by the response task's `IngressResponseWriter`), not when the task
/// returns.
///
/// A client cannot hold a connection by saying nothing or by sending a request slowly: an idle
/// connection (no request head yet, which includes a head trickling in) closes after
/// `timeouts.idle`, and a request must arrive whole within `timeouts.requestRead` of its head.
/// Responses have no such limit here (a stream may run for minutes; upstream deadlines bound it).
final class IngressConnection<Responder: HTTPResponder>: ChannelDuplexHandler, RemovableChannelHandler,
    IngressResponseSink
where Responder.Context == BasicRequestContext {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum State {
        /// No request under way since `since` (the connection opened or the last response ended).
        case idle(since: NIODeadline)
        /// The body so far, never over the limit (a body that passes it is refused with 413 at
        /// once). `since`: when the head arrived.
        case receiving(IngressRequestParser.Head, body: ByteBuffer, since: NIODeadline)
        /// `framing` is known once the response's head has been written.
        case responding(IngressExchange, framing: IngressResponseFraming?)
        /// A refusal was sent and our side shut; what the client still sends is read and dropped
        /// until it closes, pauses for `lingerPause`, or `lingerTime` has passed, so the refusal
        /// is not lost to a reset (closing with unread bytes makes the kernel send RST, which can
        /// discard the answer before the client reads it).
        case draining(since: NIODeadline, lastRead: NIODeadline)
        case closed
    }

    private let responder: Responder
    private let maxBodyBytes: Int
    private let refusalBody: IngressRefusal.BodyWriter
    private let logger: Logger
    private let registry: IngressConnections
    private var state = State.idle(since: .now())
    private var parser: IngressRequestParser
    /// A read the channel asked for while a pipelined request waits: done when it may go on.
    private var readHeldBack = false
    /// Set by a graceful shutdown: close once the response in flight (if any) has ended.
    private var quiescing = false
    private var executor: EventLoopTaskExecutor?
    /// The task answering the request under way, cancelled if the client leaves before the
    /// answer begins: the upstream call ends and its concurrency slot and budget reservation
    /// are freed then, not when the upstream would have answered. (Once a stream has begun, the
    /// relay sees the departure itself and settles it.)
    private var responseTask: Task<Void, Never>?
    /// Response tasks not yet ended (two for a moment when a pipelined request starts as the one
    /// before it finishes), and whether the channel has closed: the registry keeps the connection
    /// until both are done.
    private var responsesRunning = 0
    private var channelClosed = false
    private var context: ChannelHandlerContext?
    private let timeouts: IngressTimeouts
    /// One timer per connection, re-armed when it fires: state changes only note the time.
    private var timer: Scheduled<Void>?
    /// An empty buffer, written where a write must happen (its promise keeps its place in line)
    /// but carries nothing.
    private let noBytes = ByteBuffer()

    init(
        responder: Responder, maxBodyBytes: Int, timeouts: IngressTimeouts, refusalBody: @escaping IngressRefusal.BodyWriter,
        logger: Logger, registry: IngressConnections
    ) {
        self.responder = responder
        self.maxBodyBytes = maxBodyBytes
        self.refusalBody = refusalBody
        self.parser = IngressRequestParser(maxBodyBytes: maxBodyBytes)
        self.timeouts = timeouts
        self.logger = logger
        self.registry = registry
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        state = .idle(since: .now())
        armTimer(context.eventLoop)
        executor = EventLoopTaskExecutor(context.eventLoop)
        let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
        registry.add(
            ObjectIdentifier(self),
            .init(
                quiesce: { connection.eventLoop.execute { connection.value.quiesce() } },
                close: { connection.eventLoop.execute { connection.value.closeNow() } }))
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        cancelTimer()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .responding(_, framing: nil) = state { responseTask?.cancel() }
        // The task is kept until it ends: the drain timeout may still have to cancel a relay that
        // waits on its upstream and has not yet noticed that its client left.
        state = .closed
        channelClosed = true
        cancelTimer()
        // Open, for a shutdown, until the response task has settled its request too.
        if responsesRunning == 0 { registry.remove(ObjectIdentifier(self)) }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .draining(let since, _) = state { return state = .draining(since: since, lastRead: .now()) }
        parser.append(unwrapInboundIn(data))
        readRequests(context: context)
    }

    /// Hands the parser's parts over while no response is under way.
    private func readRequests(context: ChannelHandlerContext) {
        while true {
            switch state {
            case .idle, .receiving: break
            case .responding, .draining, .closed: return
            }
            let part: IngressRequestParser.Part?
            do {
                part = try parser.next()
            } catch {
                return refuse(error, context: context)
            }
            guard let part else { return }
            receive(part, context: context)
        }
    }

    private func receive(_ part: IngressRequestParser.Part, context: ChannelHandlerContext) {
        switch (part, state) {
        case (.head(let head), .idle):
            state = .receiving(head, body: context.channel.allocator.buffer(capacity: 0), since: .now())
            // curl sends large bodies only after "100 Continue" (or after waiting a second for it).
            if head.expectsContinue && !head.isHTTP10 {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
            }
        case (.body(var piece), .receiving(let head, var body, let since)):
            guard body.readableBytes + piece.readableBytes <= maxBodyBytes else {
                // A chunked body has no announced length: refuse it as soon as it passes the limit,
                // not after the sender chose to stop.
                return refuse(.payloadTooLarge(limit: maxBodyBytes), context: context)
            }
            state = .closed  // drop the reference so `body` is uniquely owned while it grows
            body.writeBuffer(&piece)
            state = .receiving(head, body: body, since: since)
        case (.end, .receiving(let head, let body, _)):
            respond(to: head, body: body, channel: context.channel)
        default:
            // The parser hands parts over in order; nothing else can happen.
            logger.debug("unexpected HTTP request part; closing the connection")
            state = .closed
            context.close(promise: nil)
        }
    }

    /// A request that cannot be read: answered with the reason in the API's error format, then
    /// the connection closes (where the next request would begin is unknown).
    private func refuse(_ error: IngressRefusal, context: ChannelHandlerContext) {
        state = .draining(since: .now(), lastRead: .now())
        cancelTimer()
        armTimer(context.eventLoop)
        logger.debug("refused a malformed request", metadata: ["reason": "\(error.message)"])
        let body = refusalBody(error)
        let response = HTTPResponse(
            status: HTTPResponse.Status(code: error.status),
            headerFields: [.contentType: "application/json", .contentLength: String(body.count)])
        var buffer = context.channel.allocator.buffer(capacity: 256 + body.count)
        _ = IngressResponseFraming.writeHead(
            response, answering: IngressExchange(keepAlive: false, isHTTP10: false, isHeadRequest: false), into: &buffer)
        buffer.writeBytes(body)
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { result in
            guard case .success = result else { return context.close(promise: nil) }
            let shut = context.eventLoop.makePromise(of: Void.self)
            shut.futureResult.whenFailure { _ in context.close(promise: nil) }
            context.close(mode: .output, promise: shut)
        }
    }

    /// How long a refused connection is drained at most, and how long a pause in what it sends
    /// ends the draining early.
    static var lingerTime: TimeAmount { .seconds(2) }
    static var lingerPause: TimeAmount { .milliseconds(250) }

    /// A socket error: the connection cannot continue.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        state = .closed
        context.close(promise: nil)
    }

    /// Called (on the event loop) when the server shuts down gracefully.
    func quiesce() {
        quiescing = true
        if case .idle = state {
            state = .closed
            context?.close(promise: nil)
        }
    }

    /// The drain timeout passed with a response still in flight: its task is cancelled (a relay
    /// waiting on its upstream stops waiting), whether or not the client is still there, and the
    /// connection closes.
    func closeNow() {
        responseTask?.cancel()
        context?.close(promise: nil)
    }

    private func respond(to head: IngressRequestParser.Head, body: ByteBuffer, channel: any Channel) {
        let exchange = IngressExchange(
            keepAlive: head.keepAlive, isHTTP10: head.isHTTP10, isHeadRequest: head.request.method == .head)
        state = .responding(exchange, framing: nil)
        let request = Request(head: head.request, body: RequestBody(buffer: body))
        let (responder, logger) = (self.responder, self.logger)
        let target = IngressResponseTarget(self, eventLoop: channel.eventLoop)
        responsesRunning += 1
        responseTask = Task(executorPreference: executor) {
            let context = BasicRequestContext(source: .init(channel: channel, logger: logger))
            let response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch let error as any HTTPResponseError {
                response = (try? error.response(from: request, context: context)) ?? Response(status: .internalServerError)
            } catch {
                logger.debug("unhandled error from a handler", metadata: ["error": "\(error)"])
                response = Response(status: .internalServerError)
            }
            let written: Bool
            do {
                try await IngressResponseWriter.write(response, to: channel, through: target)
                written = true
            } catch {
                written = false
            }
            target.ended(written: written)
        }
    }

    func flushResponse() { context?.flush() }

    /// A part of the response under way, framed and written (and flushed if `flush`).
    func writeResponse(_ part: HTTPResponsePart, flush: Bool, promise: EventLoopPromise<Void>?) {
        guard let context, case .responding(var exchange, let framing) = state else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        defer { if flush { context.flush() } }
        switch part {
        case .head(let response):
            if quiescing { exchange.keepAlive = false }
            // Room for a head with the gateway's own headers, so it is not reallocated while written.
            var buffer = context.channel.allocator.buffer(capacity: 1024)
            let framing = IngressResponseFraming.writeHead(response, answering: exchange, into: &buffer)
            state = .responding(exchange, framing: framing)
            context.write(wrapOutboundOut(buffer), promise: promise)
        case .body(let piece):
            let bytes = framing?.encode(piece, allocator: context.channel.allocator)
            context.write(wrapOutboundOut(bytes ?? noBytes), promise: promise)
        case .end:
            var bytes = noBytes  // most responses end with nothing to send: no allocation for it
            if let end = framing?.end { bytes.writeStaticString(end) }
            guard let framing, framing.keepAlive, !quiescing else {
                state = .closed
                let written = promise ?? context.eventLoop.makePromise()
                written.futureResult.whenComplete { _ in context.close(promise: nil) }
                return context.write(wrapOutboundOut(bytes), promise: written)
            }
            state = .idle(since: .now())
            armTimer(context.eventLoop)
            context.write(wrapOutboundOut(bytes), promise: promise)
            // A pipelined request may be waiting, and the read held back for it.
            if readHeldBack {
                readHeldBack = false
                context.read()
            }
            readRequests(context: context)
        }
    }

    /// While a response is under way, bytes of the next request stay unread in the socket once
    /// some have arrived: back-pressure on a pipelining client instead of a growing buffer.
    func read(context: ChannelHandlerContext) {
        if case .responding = state, parser.bufferedBytes > 0 {
            readHeldBack = true
            return
        }
        context.read()
    }

    /// After the response task: a response that could not be written whole ends the connection.
    func responseEnded(written: Bool) {
        responsesRunning -= 1
        if responsesRunning == 0 { responseTask = nil }
        if channelClosed {
            if responsesRunning == 0 { registry.remove(ObjectIdentifier(self)) }
            return
        }
        guard !written, case .responding = state else { return }
        state = .closed
        context?.close(promise: nil)
    }

    // MARK: Timeouts

    /// The moment the current state may last until, if it is limited.
    private var deadline: NIODeadline? {
        switch state {
        case .idle(let since): since + TimeAmount(timeouts.idle)
        case .receiving(_, _, let since): since + TimeAmount(timeouts.requestRead)
        case .draining(let since, let lastRead): min(since + Self.lingerTime, lastRead + Self.lingerPause)
        case .responding, .closed: nil
        }
    }

    /// When to look next. While idle, early enough for a request that might begin at once (its
    /// own deadline may come before the idle one), so the timer never needs moving forward.
    private func nextCheck(after now: NIODeadline) -> NIODeadline? {
        guard let deadline else { return nil }
        if case .idle(let since) = state {
            let early = since + TimeAmount(min(timeouts.idle, timeouts.requestRead))
            if early > now { return early }
        }
        return deadline
    }

    private func armTimer(_ eventLoop: any EventLoop) {
        guard timer == nil, let next = nextCheck(after: .now()) else { return }
        timer = eventLoop.scheduleTask(deadline: next) { [self] in
            timer = nil
            checkDeadline(eventLoop)
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }

    private func checkDeadline(_ eventLoop: any EventLoop) {
        guard let deadline else { return }  // responding: armed again when the response ends
        guard NIODeadline.now() >= deadline else { return armTimer(eventLoop) }
        if case .receiving = state {
            logger.debug("request not received in time; closing the connection")
        }
        state = .closed
        context?.close(promise: nil)
    }
}

/// How long a client connection may wait between requests, and how long a request may take to
/// arrive once its head has.
public struct IngressTimeouts: Sendable, Equatable {
    public var idle: Duration
    public var requestRead: Duration

    /// The gateway passes the configuration's (`server.idle_timeout_seconds`,
    /// `server.request_read_timeout_seconds`).
    public init(idle: Duration, requestRead: Duration) {
        self.idle = idle
        self.requestRead = requestRead
    }
}
