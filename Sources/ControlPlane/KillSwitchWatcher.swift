import Governance
import Logging
import ServiceLifecycle
import Storage
import SwitchyardCore

/// Keeps the gateway's kill switches in step with the store, where the CLI, the admin API of any
/// replica and runaway protection engage them. A switch engaged elsewhere takes effect here
/// when its notice arrives (PostgreSQL: `changed` is raised) or within `interval`; one engaged
/// through this gateway's admin API at once.
public final class KillSwitchWatcher: Service {
    private let store: SQLStore
    private let board: KillSwitchBoard
    private let interval: Duration
    private let logger: Logger
    /// Raised when another replica announces a change: refresh now.
    public let changed = RefreshSignal()

    public init(store: SQLStore, board: KillSwitchBoard, interval: Duration = .seconds(1), logger: Logger) {
        self.store = store
        self.board = board
        self.interval = interval
        self.logger = logger
    }

    public func refresh() async throws {
        board.replaceAll(try await store.killSwitches())
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.refresh()
                } catch {
                    // Switches already known stay engaged while the store is unreachable.
                    self.logger.warning("kill switch refresh failed", metadata: ["error": "\(error)"])
                }
                await self.changed.wait(upTo: self.interval)
            }
        }
    }
}
