import Governance
import Logging
import ServiceLifecycle
import Storage
import SwitchyardCore

/// Tells the run book what the rest of the fleet did in the runs this replica serves (the other
/// replicas, and this one before a restart): every `interval`, the runs active here in the last
/// `window` get their requests, cost and start from the ledger's `run_hours` and `runs` rows (a
/// few rows per run, off the request path). So a run's
/// `max_run_*` rules hold across the fleet, late by the ledger's batch delay plus `interval`.
public final class RunShareSync: Service {
    private let store: SQLStore
    private let runs: RunBook
    private let interval: Duration
    private let window: Duration
    private let logger: Logger

    public init(
        store: SQLStore, runs: RunBook, interval: Duration = .seconds(1), window: Duration = .seconds(3600),
        logger: Logger
    ) {
        self.store = store
        self.runs = runs
        self.interval = interval
        self.window = window
        self.logger = logger
    }

    /// How long a run stopped by its rules must have been quiet before its switch is released.
    public static let stoppedRunRetention = Duration.seconds(86_400)
    /// Once an hour: the switches of stopped runs quiet for `stoppedRunRetention` are released.
    public func releaseIdleStops(now: UnixMicros = .now()) async throws {
        let released = try await store.releaseIdleRunSwitches(
            idleSince: UnixMicros(now.value - Self.stoppedRunRetention.microseconds))
        if !released.isEmpty {
            logger.notice("released the kill switches of runs quiet for a day", metadata: ["count": "\(released.count)"])
        }
    }

    public func refresh(now: UnixMicros = .now()) async throws {
        let active = runs.active(since: UnixMicros(now.value - window.microseconds))
        guard !active.isEmpty else { return }
        runs.apply(try await store.runShares(of: active), read: active)
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var releasedAt = ContinuousClock.now - .seconds(3600)
            while !Task.isCancelled {
                do {
                    try await self.refresh()
                    if ContinuousClock.now - releasedAt >= .seconds(3600) {
                        releasedAt = ContinuousClock.now
                        try await self.releaseIdleStops()
                    }
                } catch {
                    // The shares last read stay in force while the store is unreachable.
                    self.logger.warning("run share refresh failed", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: self.interval)
            }
        }
    }
}
