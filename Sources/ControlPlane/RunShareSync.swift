import Governance
import Logging
import ServiceLifecycle
import Storage
import SwitchyardCore

/// Tells the run book what the other replicas did in the runs this one serves: every `interval`,
/// the runs active here in the last `window` get the others' requests, cost and start from the
/// ledger's `run_hours` and `runs` rows (a few rows per run, off the request path). So a run's
/// `max_run_*` rules hold across the fleet, late by the ledger's batch delay plus `interval`.
public final class RunShareSync: Service {
    private let store: SQLStore
    private let runs: RunBook
    private let replica: String
    private let interval: Duration
    private let window: Duration
    private let logger: Logger

    public init(
        store: SQLStore, runs: RunBook, replica: String, interval: Duration = .seconds(1), window: Duration = .seconds(3600),
        logger: Logger
    ) {
        self.store = store
        self.runs = runs
        self.replica = replica
        self.interval = interval
        self.window = window
        self.logger = logger
    }

    public func refresh(now: UnixMicros = .now()) async throws {
        let active = runs.active(since: UnixMicros(now.value - window.components.seconds * 1_000_000))
        guard !active.isEmpty else { return }
        runs.apply(try await store.runShares(of: active, excludingReplica: replica), read: active)
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.refresh()
                } catch {
                    // The shares last read stay in force while the store is unreachable.
                    self.logger.warning("run share refresh failed", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: self.interval)
            }
        }
    }
}
