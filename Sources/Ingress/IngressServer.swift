import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The gateway's HTTP/1.1 server: Hummingbird's router and handlers, served by a SwiftNIO
/// channel with one handler of our own (`IngressConnection`) instead of Hummingbird's `Application`.
///
/// Why: Hummingbird's server spent several times a bare NIO server's CPU per request (a
/// per-connection async channel, its writer and reader, and a thread hop each way; README,
/// Performance). Here a request's handler runs in a task on its connection's event loop
/// (`EventLoopTaskExecutor`) and writes straight to the channel. Later, NIO's HTTP/1.1 server codec (four handlers, every header
/// built twice as strings) was replaced by `IngressRequestParser` and `IngressResponseFraming`.
///
/// Graceful shutdown (`IngressDrain`): optionally keep serving while readiness says "draining",
/// then stop accepting, close idle connections, let each request in flight finish its response
/// within the drain timeout, then return (so the ledger writer, stopped after the server, gets
/// every record).
public final class IngressServer<Responder: HTTPResponder>: Service where Responder.Context == BasicRequestContext {
    private let responder: Responder
    private let host: String
    private let port: Int
    private let maxBodyBytes: Int
    private let timeouts: IngressTimeouts
    private let refusalBody: IngressRefusal.BodyWriter
    private let limits: IngressConnectionLimits
    private let logger: Logger
    private let onServerRunning: @Sendable (Int) async -> Void
    private let drain: IngressDrain
    private let connections = IngressConnections()

    public init(
        responder: Responder, host: String, port: Int, maxBodyBytes: Int, timeouts: IngressTimeouts,
        refusalBody: @escaping IngressRefusal.BodyWriter, limits: IngressConnectionLimits = IngressConnectionLimits(),
        logger: Logger, drain: IngressDrain = IngressDrain(),
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        self.responder = responder
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.timeouts = timeouts
        self.refusalBody = refusalBody
        self.limits = limits
        self.logger = logger
        self.onServerRunning = onServerRunning
        self.drain = drain
    }

    public func run() async throws {
        let (responder, maxBodyBytes, timeouts, refusalBody) = (
            self.responder, self.maxBodyBytes, self.timeouts, self.refusalBody
        )
        let (logger, connections, limits) = (self.logger, self.connections, self.limits)
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            // A flood from one address must not fill the accept queue: a dropped SYN costs every
            // other client a one-second retransmit. The kernel caps this at net.core.somaxconn.
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.maxMessagesPerRead, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                // Out of descriptors (EMFILE) the listening socket stays readable: without a pause
                // the accept loop would spin. Pause accepting briefly, then try again.
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        IngressAcceptPause { limits.recordAcceptBackoff() })
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                // Over a cap, the failed initializer makes NIO close the connection unread.
                let address = IngressConnectionLimits.client(of: channel.remoteAddress)
                if let refusal = limits.admit(address: address) {
                    return channel.eventLoop.makeFailedFuture(IngressConnectionRefused(refusal: refusal))
                }
                channel.closeFuture.whenComplete { _ in limits.release(address: address) }
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(
                        IngressConnection(
                            responder: responder, maxBodyBytes: maxBodyBytes, timeouts: timeouts,
                            refusalBody: refusalBody, logger: logger, registry: connections))
                }
            }
            .bind(host: host, port: port).get()
        await onServerRunning(listener.localAddress?.port ?? 0)
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                try? await listener.closeFuture.get()
            } onCancel: {
                listener.close(promise: nil)
            }
        } onGracefulShutdown: { [drain] in
            drain.onStart()
            listener.eventLoop.scheduleTask(in: .init(drain.delay)) { listener.close(promise: nil) }
        }
        let drained = await connections.quiesce(within: drain.timeout, onCut: drain.onCut)
        if drained.closed > 0 {
            logger.warning(
                "drain timeout: closed connections with a request still in flight",
                metadata: ["connections": "\(drained.closed)", "timeout": "\(drain.timeout)"])
        }
        if drained.unsettled > 0 {
            logger.error(
                "responses still running after the drain timeout and the settle limit: their usage records may be lost",
                metadata: ["connections": "\(drained.unsettled)"])
        }
    }
}

/// The open connections of an `IngressServer`, so a shutdown can wait for them. A connection
/// counts as open until its channel has closed and its response task has ended: a task settles
/// its request (the usage record) as it ends, and that must happen before the server's shutdown
/// lets the ledger writer stop.
final class IngressConnections: Sendable {
    /// What a connection is asked, from any thread.
    struct Handle: Sendable {
        /// Close once the response in flight has ended (at once when idle).
        var quiesce: @Sendable () -> Void
        /// Close now.
        var close: @Sendable () -> Void
    }

    /// How a drain ended: connections the timeout closed, and of those, how many were still not
    /// done when the settle limit passed.
    struct Drained: Sendable, Equatable {
        var closed = 0
        var unsettled = 0
    }

    private struct State {
        var open: [ObjectIdentifier: Handle] = [:]
        var quiescing = false
        var waiter: CheckedContinuation<Drained, Never>?
        var drained = Drained()
    }

    private let state = Mutex(State())
    /// After the drain timeout closed them, how long their response tasks get to end.
    static let settleLimit: Duration = .seconds(5)

    func add(_ id: ObjectIdentifier, _ handle: Handle) {
        let quiescing = state.withLock { state in
            state.open[id] = handle
            return state.quiescing
        }
        if quiescing { handle.quiesce() }
    }

    func remove(_ id: ObjectIdentifier) {
        let (waiter, drained) = state.withLock { state -> (CheckedContinuation<Drained, Never>?, Drained) in
            state.open[id] = nil
            guard state.open.isEmpty else { return (nil, state.drained) }
            defer { state.waiter = nil }
            return (state.waiter, state.drained)
        }
        waiter?.resume(returning: drained)
    }

    /// Asks every connection to close once its response in flight has ended; returns when all
    /// have. After `limit`, those still open are closed and their tasks get `settleLimit` to end.
    /// Returns how many the limit closed.
    func quiesce(within limit: Duration, onCut: @escaping @Sendable () -> Void = {}) async -> Drained {
        await withCheckedContinuation { continuation in
            let connections = state.withLock { state -> [Handle]? in
                state.quiescing = true
                guard !state.open.isEmpty else { return nil }
                state.waiter = continuation
                return Array(state.open.values)
            }
            guard let connections else { return continuation.resume(returning: Drained()) }
            for connection in connections { connection.quiesce() }
            MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .init(limit)) { self.closeRemaining(onCut) }
        }
    }

    /// The drain timeout: every connection still open is closed.
    private func closeRemaining(_ onCut: @Sendable () -> Void) {
        let remaining = state.withLock { state -> [Handle] in
            guard state.waiter != nil else { return [] }  // drained in time
            state.drained.closed = state.open.count
            return Array(state.open.values)
        }
        guard !remaining.isEmpty else { return }
        onCut()
        for connection in remaining { connection.close() }
        MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .init(Self.settleLimit)) { self.stopWaiting() }
    }

    /// A response task that does not end even when cancelled does not hold the shutdown forever.
    private func stopWaiting() {
        let (waiter, drained) = state.withLock { state in
            defer { state.waiter = nil }
            state.drained.unsettled = state.open.count
            return (state.waiter, state.drained)
        }
        waiter?.resume(returning: drained)
    }
}
