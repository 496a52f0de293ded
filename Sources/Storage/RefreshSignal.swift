import Synchronization

/// Wakes a polling watcher early: `wait(upTo:)` returns when the signal is raised (a raise while
/// nobody waited counts for the next wait), when `limit` has passed, or when the task is cancelled.
public final class RefreshSignal: Sendable {
    private struct State {
        var raised = false
        var waiter: CheckedContinuation<Void, Never>?
        /// Which wait a timer belongs to: a late timer must not end the next wait early.
        var generation = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func raise() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.raised = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    public func wait(upTo limit: Duration) async {
        let generation = state.withLock { state -> Int? in
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
                Task { [self] in
                    try? await Task.sleep(for: limit)
                    end(generation)
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
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
