import Dispatch
import Synchronization

/// Which of the store's connections a call uses. Each lane has a connection and a serial queue of
/// its own, so a long report or a ledger batch never stands in line before a key lookup or
/// `/readyz`; each has a deadline, so a store that stops answering fails calls instead of
/// holding them.
public enum StoreLane: Int, Sendable, CaseIterable {
    /// What serving requests and operating the gateway needs now: keys, readiness, governance,
    /// kill switches, the audit trail, budget spend.
    case control
    /// Usage batches from the ledger writer and journal replays.
    case ledger
    /// Reports and exports: reads over many rows that may take long.
    case reports

    /// How long a call may wait in line for this lane's connection before its caller gets an
    /// error (the call is then never run).
    public var deadline: Duration {
        switch self {
        case .control: .seconds(10)
        case .ledger: .seconds(30)
        case .reports: .seconds(120)
        }
    }

    /// How long one statement may run on this lane's PostgreSQL session before the server
    /// cancels it (`statement_timeout`); the session stays usable.
    var statementTimeout: Duration { deadline - .seconds(1) }
}

/// One lane: a blocking connection confined to its serial queue.
final class StoreLaneConnection: @unchecked Sendable {
    // @unchecked: `connection` is touched only on `queue`.
    let connection: SQLConnection
    private let queue: DispatchQueue

    init(_ connection: SQLConnection, label: String) {
        self.connection = connection
        self.queue = DispatchQueue(label: label)
    }

    /// Runs `body` on the queue with exclusive use of the connection, or throws when `deadline`
    /// passes before its turn comes (the call is then never run). A call that has started is
    /// waited for: its statements are bounded by the session's own timeouts (`statement_timeout`,
    /// `tcp_user_timeout` on PostgreSQL, `busy_timeout` on SQLite).
    func run<T: Sendable>(deadline: Duration, _ body: @escaping @Sendable (SQLConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let call = PendingStoreCall(continuation)
            // A dispatch work item, not a Task sleeping: a cancelled `Task.sleep` still resumes
            // its task at the original deadline, so every store call would wake the cooperative
            // pool once more, 10 to 120 s later, all of a burst at once.
            let expiry = DispatchWorkItem { call.expireIfWaiting(with: SQLError.timedOut(after: deadline)) }
            let timer = UncheckedWorkItem(expiry)
            queue.async {
                timer.item.cancel()
                guard call.start() else { return }
                call.finish(with: Result { try body(self.connection) })
            }
            let (seconds, attoseconds) = deadline.components
            DispatchQueue.global().asyncAfter(
                deadline: .now() + .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)),
                execute: expiry)
        }
    }
}

/// `DispatchWorkItem` is thread-safe (cancel from any thread) but not marked Sendable.
private struct UncheckedWorkItem: @unchecked Sendable {
    let item: DispatchWorkItem
    init(_ item: DispatchWorkItem) { self.item = item }
}

/// A store call's continuation, resumed exactly once: by the call's result or by its deadline.
private final class PendingStoreCall<T: Sendable>: Sendable {
    private enum State {
        case waiting(CheckedContinuation<T, any Error>)
        case running(CheckedContinuation<T, any Error>)
        case finished
    }

    private let state: Mutex<State>

    init(_ continuation: CheckedContinuation<T, any Error>) {
        state = Mutex(.waiting(continuation))
    }

    /// False when the caller has already been answered (its deadline passed): skip the call.
    func start() -> Bool {
        state.withLock { state in
            guard case .waiting(let continuation) = state else { return false }
            state = .running(continuation)
            return true
        }
    }

    /// The deadline passed: a call still in line is answered with `error` and will be skipped. A
    /// call already running is left to finish (its statements are bounded by the session's
    /// timeouts): answering now could report a failure for work that then commits.
    func expireIfWaiting(with error: any Error) {
        let continuation = state.withLock { state -> CheckedContinuation<T, any Error>? in
            guard case .waiting(let continuation) = state else { return nil }
            state = .finished
            return continuation
        }
        continuation?.resume(throwing: error)
    }

    func finish(with result: Result<T, any Error>) {
        let continuation = state.withLock { state -> CheckedContinuation<T, any Error>? in
            switch state {
            case .waiting(let continuation), .running(let continuation):
                state = .finished
                return continuation
            case .finished:
                return nil
            }
        }
        continuation?.resume(with: result)
    }
}

extension SQLError {
    static func timedOut(after deadline: Duration) -> SQLError {
        SQLError("the store did not answer within \(deadline)", isConnectionFailure: false)
    }
}
