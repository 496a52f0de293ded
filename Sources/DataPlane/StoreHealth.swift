import Synchronization

/// Whether the store answered its last probe, known without waiting for it.
///
/// Readiness must mean "send me traffic". Every replica shares the store, so a readiness that
/// failed with it would take the whole fleet out of a load balancer at once, while each replica
/// could still serve known keys and journal its usage. And a probe that waited on a hung store
/// (the control lane's deadline is 10 s) would fail the balancer's own probe timeout all the
/// same. So readers get the last result at once; a result older than `maxAge` starts a probe in
/// the background for the next reader. One probe runs at a time, and a result is reused for
/// `maxAge`, so however many ask, the store (and the control lane that key lookups share) sees at
/// most one probe per `maxAge`.
final class StoreHealth: Sendable {
    struct Status: Sendable, Equatable {
        var reachable: Bool
        var checkedAt: ContinuousClock.Instant
    }

    private struct State {
        var last: Status
        var running: Task<Status, Never>?
    }

    private let probe: @Sendable () async -> Bool
    private let maxAge: Duration
    private let state: Mutex<State>

    /// `probe` returns whether the store answered; the store was reachable at start-up.
    init(maxAge: Duration = .seconds(1), probe: @escaping @Sendable () async -> Bool) {
        self.probe = probe
        self.maxAge = maxAge
        self.state = Mutex(State(last: Status(reachable: true, checkedAt: .now)))
    }

    /// The last probe's result; starts a probe when it is older than `maxAge` and none runs.
    func current() -> Status {
        state.withLock { state in
            if isStale(state.last), state.running == nil { state.running = startProbe() }
            return state.last
        }
    }

    /// A result no older than `maxAge`: the last one, or the one of the probe running or started
    /// now (an operator's explicit question: it may wait up to the store's own deadline).
    func refresh() async -> Status {
        let running = state.withLock { state -> Task<Status, Never>? in
            guard isStale(state.last) else { return nil }
            if state.running == nil { state.running = startProbe() }
            return state.running
        }
        guard let running else { return state.withLock { $0.last } }
        return await running.value
    }

    private func isStale(_ status: Status) -> Bool {
        ContinuousClock.now - status.checkedAt > maxAge
    }

    /// Called with the state locked: the task takes the lock only once the probe has answered.
    private func startProbe() -> Task<Status, Never> {
        Task {
            let reachable = await probe()
            return state.withLock { state in
                state.last = Status(reachable: reachable, checkedAt: .now)
                state.running = nil
                return state.last
            }
        }
    }
}
