import DataPlane
import Logging
import ServiceLifecycle
import Storage

/// Keeps the gateway's tenants, policies, limits and budgets in step with live governance state,
/// which the admin API of any replica and `switchyard config apply` change. A change made
/// elsewhere takes effect here when its notice arrives (PostgreSQL: `changed` is raised) or within
/// `interval`; one made through this gateway's admin API at once.
public final class GovernanceWatcher: Service {
    private let gateway: Gateway
    private let interval: Duration
    /// Raised when another replica announces a change: refresh now.
    public let changed = RefreshSignal()

    public init(gateway: Gateway, interval: Duration = .seconds(1)) {
        self.gateway = gateway
        self.interval = interval
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.gateway.syncLiveGovernance()
                } catch {
                    // The rules in force stay while the store is unreachable.
                    self.gateway.logger.warning("governance state refresh failed", metadata: ["error": "\(error)"])
                }
                await self.changed.wait(upTo: self.interval)
            }
        }
    }
}
