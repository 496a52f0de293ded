import NIOCore
import NIOPosix
import Synchronization

/// Sleeps like `Task.sleep(for:)`, but when cancelled it releases its timer at once.
///
/// A cancelled `Task.sleep` returns promptly yet keeps its timer (and the memory behind it)
/// until the original deadline. The gateway races a 60-second first-byte deadline and a
/// 30-second idle deadline against every upstream call and stream chunk, so under load those
/// leftovers held hundreds of MiB; an event-loop timer is removed when it is cancelled.
public func cancellableSleep(for duration: Duration) async throws {
    let state = Mutex<SleepState>(.initial)
    try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            let scheduled = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .init(duration)) {
                let waiting = state.withLock { state -> CheckedContinuation<Void, Error>? in
                    guard case .waiting(let continuation, _) = state else { return nil }
                    state = .finished
                    return continuation
                }
                waiting?.resume()
            }
            let cancelledEarly = state.withLock { state -> Bool in
                switch state {
                case .initial:
                    state = .waiting(continuation, scheduled)
                    return false
                case .cancelled:
                    return true
                case .waiting, .finished:
                    return false
                }
            }
            if cancelledEarly {
                scheduled.cancel()
                continuation.resume(throwing: CancellationError())
            }
        }
    } onCancel: {
        let toCancel = state.withLock { state -> (CheckedContinuation<Void, Error>, Scheduled<Void>)? in
            switch state {
            case .initial:
                state = .cancelled
                return nil
            case .waiting(let continuation, let scheduled):
                state = .finished
                return (continuation, scheduled)
            case .cancelled, .finished:
                return nil
            }
        }
        if let (continuation, scheduled) = toCancel {
            scheduled.cancel()
            continuation.resume(throwing: CancellationError())
        }
    }
}

private enum SleepState: @unchecked Sendable {
    case initial
    case waiting(CheckedContinuation<Void, Error>, Scheduled<Void>)
    case cancelled
    case finished
}
