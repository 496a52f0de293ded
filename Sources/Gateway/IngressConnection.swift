import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTPTypes
import SwitchyardConfig

/// One client connection of the `IngressServer`: collects a request, runs the responder in a task
/// on the connection's own event loop, writes the response, and keeps the connection for the
/// next request unless the client or a shutdown says otherwise.
///
/// NIO's pipelining handler, in front, holds back a pipelined request until the response to the
/// one before it has ended, so at most one request per connection is in `State`. It hands the
/// next request over while the previous response's end is being written, so the state moves on
/// when that end passes through here (`write`), not when the response task returns.
///
/// A client cannot hold a connection by saying nothing or by sending a request slowly: an idle
/// connection (no request head yet, which includes a head trickling in) closes after
/// `timeouts.idle`, and a request must arrive whole within `timeouts.requestRead` of its head.
/// Responses have no such limit here (a stream may run for minutes; upstream deadlines bound it).
final class IngressConnection<Responder: HTTPResponder>: ChannelDuplexHandler, RemovableChannelHandler
where Responder.Context == BasicRequestContext {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    enum State {
        /// No request under way since `since` (the connection opened or the last response ended).
        case idle(since: NIODeadline)
        /// The body is kept up to one byte over the limit: enough for the handler's own size
        /// check to refuse it with 413, without holding an arbitrarily large body. `since`: when
        /// the head arrived.
        case receiving(HTTPRequest, body: ByteBuffer, since: NIODeadline)
        case responding(keepAlive: Bool)
        case closed
    }

    private let responder: Responder
    private let maxBodyBytes: Int
    private let logger: Logger
    private let registry: IngressConnections
    private var state = State.idle(since: .now())
    /// Set by a graceful shutdown: close once the response in flight (if any) has ended.
    private var quiescing = false
    private var executor: EventLoopTaskExecutor?
    private var context: ChannelHandlerContext?
    private let timeouts: IngressTimeouts
    /// One timer per connection, re-armed when it fires: state changes only note the time.
    private var timer: Scheduled<Void>?

    init(
        responder: Responder, maxBodyBytes: Int, timeouts: IngressTimeouts, logger: Logger, registry: IngressConnections
    ) {
        self.responder = responder
        self.maxBodyBytes = maxBodyBytes
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
        registry.add(ObjectIdentifier(self)) { connection.eventLoop.execute { connection.value.quiesce() } }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        cancelTimer()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        cancelTimer()
        registry.remove(ObjectIdentifier(self))
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .idle):
            state = .receiving(head, body: context.channel.allocator.buffer(capacity: 0), since: .now())
            // curl sends large bodies only after "100 Continue" (or after waiting a second for it).
            if head.headerFields[.expect]?.lowercased() == "100-continue" {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
            }
        case (.body(var piece), .receiving(let head, var body, let since)):
            let room = maxBodyBytes + 1 - body.readableBytes
            if room > 0, let kept = piece.readSlice(length: min(room, piece.readableBytes)) {
                state = .closed  // drop the reference so `body` is uniquely owned while it grows
                body.writeImmutableBuffer(kept)
            }
            state = .receiving(head, body: body, since: since)
        case (.end, .receiving(let head, let body, _)):
            respond(to: Request(head: head, body: RequestBody(buffer: body)), channel: context.channel)
        case (_, .closed):
            break
        default:
            // A part out of order: the HTTP decoder in front should make this impossible.
            logger.debug("unexpected HTTP request part; closing the connection")
            state = .closed
            context.close(promise: nil)
        }
    }

    /// A request that cannot be parsed (already answered 400 in front) or a socket error: the
    /// connection cannot continue.
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

    private func respond(to request: Request, channel: any Channel) {
        let keepAlive = !(request.headers[.connection]?.lowercased().contains("close") ?? false)
        state = .responding(keepAlive: keepAlive)
        let (responder, logger) = (self.responder, self.logger)
        let connection = NIOLoopBound(self, eventLoop: channel.eventLoop)
        Task(executorPreference: executor) {
            let context = BasicRequestContext(source: .init(channel: channel, logger: logger))
            var response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch let error as any HTTPResponseError {
                response = (try? error.response(from: request, context: context)) ?? Response(status: .internalServerError)
            } catch {
                logger.debug("unhandled error from a handler", metadata: ["error": "\(error)"])
                response = Response(status: .internalServerError)
            }
            if !keepAlive { response.headers[.connection] = "close" }
            let written: Bool
            do {
                try await IngressResponseWriter.write(response, to: channel)
                written = true
            } catch {
                written = false
            }
            channel.eventLoop.execute { connection.value.responseEnded(written: written) }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data), case .responding(let keepAlive) = state else {
            return context.write(data, promise: promise)
        }
        if keepAlive, !quiescing {
            state = .idle(since: .now())
            armTimer(context.eventLoop)
            context.write(data, promise: promise)
        } else {
            state = .closed
            let written = promise ?? context.eventLoop.makePromise()
            written.futureResult.whenComplete { _ in context.close(promise: nil) }
            context.write(data, promise: written)
        }
    }

    /// After the response task: a response that could not be written whole ends the connection.
    private func responseEnded(written: Bool) {
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

    /// The defaults are the configuration's (`server.idle_timeout_seconds`, `server.request_read_timeout_seconds`).
    public init(
        idle: Duration = SwitchyardConfiguration.Server().idleTimeout,
        requestRead: Duration = SwitchyardConfiguration.Server().requestReadTimeout
    ) {
        self.idle = idle
        self.requestRead = requestRead
    }
}
