/// How the server stops on a graceful shutdown.
///
/// First `delay`: it keeps accepting and serving while `onStart` has told readiness to say
/// "draining", so a load balancer stops sending before any connection is refused. Then it stops
/// accepting, closes idle connections, and gives requests in flight (streams included) `timeout`
/// to finish; the connections still open after it are closed, so what runs after the server
/// (the ledger's last flush) still fits in an orchestrator's grace period.
public struct IngressDrain: Sendable {
    public var delay: Duration
    public var timeout: Duration
    /// Called once, when the shutdown starts.
    public var onStart: @Sendable () -> Void
    /// Called once, when the timeout has passed with requests in flight, before they are cancelled
    /// (so their settlement can tell a cut from a client's departure).
    public var onCut: @Sendable () -> Void

    public init(
        delay: Duration = .zero, timeout: Duration = .seconds(20), onStart: @escaping @Sendable () -> Void = {},
        onCut: @escaping @Sendable () -> Void = {}
    ) {
        self.delay = delay
        self.timeout = timeout
        self.onStart = onStart
        self.onCut = onCut
    }
}
