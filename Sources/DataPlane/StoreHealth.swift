import Synchronization

/// Whether the store answered its last probe, known without waiting for it.
///
/// Readiness must mean "send me traffic". Every replica shares the store, so a readiness that
/// failed with it would take the whole fleet out of a load balancer at once, while each replica
/// could still serve known keys and journal its usage. And a probe that waited on a hung store
/// (the control lane's deadline is 10 s) would fail the balancer's own probe timeout all the
/// same. So readers get the last result at once; a result older than `maxAge` starts one probe
/// in the background (never two at a time) for the next reader.
final class StoreHealth: Sendable {
    struct Status: Sendable, Equatable {
        var reachable: Bool
        var checkedAt: ContinuousClock.Instant
    }

    private struct State {
        var last: Status
        var probing = false
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

    /// The last probe's result; starts a new probe when it is older than `maxAge`.
    func current() -> Status {
        let (last, start) = state.withLock { state -> (Status, Bool) in
            let stale = ContinuousClock.now - state.last.checkedAt > maxAge
            let start = stale && !state.probing
            if start { state.probing = true }
            return (state.last, start)
        }
        if start { Task { await self.runProbe() } }
        return last
    }

    /// Probes now and returns the result (an operator's explicit question: it may wait up to the
    /// store's own deadline).
    func refresh() async -> Status {
        await runProbe()
    }

    @discardableResult
    private func runProbe() async -> Status {
        let reachable = await probe()
        return state.withLock { state in
            state.last = Status(reachable: reachable, checkedAt: .now)
            state.probing = false
            return state.last
        }
    }
}
