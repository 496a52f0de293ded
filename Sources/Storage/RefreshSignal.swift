import Synchronization

/// Wakes a polling watcher early: `wait(upTo:)` returns when the signal is raised (a raise while
/// nobody waited counts for the next wait), when `limit` has passed, or when the task is cancelled.
/// One waiter at a time (each watcher has its own signal). A wait never ends sooner than
/// `minimumGap` after the previous one did (unless cancelled): changes a tenant can make in a loop
/// (keys, kill switches) cost each replica at most one refresh per gap.
public final class RefreshSignal: Sendable {
    private struct State {
        var raised = false
        var waiter: CheckedContinuation<Void, Never>?
        /// Which wait a timer belongs to: a late timer must not end the next wait early.
        var generation = 0
        var timer: Task<Void, Never>?
        var lastEnded: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    private let minimumGap: Duration

    public init(minimumGap: Duration = .milliseconds(100)) {
        self.minimumGap = minimumGap
    }

    public func raise() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.raised = true
                return nil
            }
            state.waiter = nil
            state.timer?.cancel()
            state.timer = nil
            return waiter
        }
        waiter?.resume()
    }

    public func wait(upTo limit: Duration) async {
        let previousEnd = state.withLock { $0.lastEnded }
        await raisedOrElapsed(limit)
        if let previousEnd, !Task.isCancelled {
            let left = minimumGap - (ContinuousClock.now - previousEnd)
            if left > .zero { try? await Task.sleep(for: left) }
        }
        state.withLock { $0.lastEnded = .now }
    }

    private func raisedOrElapsed(_ limit: Duration) async {
        let generation = state.withLock { state -> Int? in
            precondition(state.waiter == nil, "RefreshSignal has one waiter at a time")
            if state.raised {
                state.raised = false
                return nil
            }
            state.generation += 1
            return state.generation
        }
        guard let generation else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    // Raised, or cancelled, between the check above and here.
                    if state.raised || state.generation != generation {
                        state.raised = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { return continuation.resume() }
                let timer = Task { [self] in
                    try? await Task.sleep(for: limit)
                    if !Task.isCancelled { end(generation) }
                }
                state.withLock { state in
                    // Ended (raised, cancelled) already: the timer has nothing left to end.
                    if state.waiter == nil { timer.cancel() } else { state.timer = timer }
                }
            }
        } onCancel: {
            end(generation)
        }
    }

    /// Ends wait `generation` if it is still the one waiting.
    private func end(_ generation: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.generation == generation else { return nil }
            state.generation += 1  // a cancel before the wait parked makes it return at once
            state.timer?.cancel()
            state.timer = nil
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
