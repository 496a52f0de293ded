import Governance
import Logging
import ServiceLifecycle

/// Keeps this replica's leases of the fleet's shared quotas topped up, reported and renewed, in
/// the background (`FleetLeases.maintain`), so requests spend from them without waiting. On a
/// graceful shutdown, after the server drained, it reports the last spend and gives every
/// lease back, so the rest of the fleet can use it at once rather than after its expiry.
public final class FleetLeaseKeeper: Service {
    private let governor: Governor
    private let fleet: FleetLeases
    private let interval: Duration

    public init(governor: Governor, fleet: FleetLeases, interval: Duration = .milliseconds(50)) {
        self.governor = governor
        self.fleet = fleet
        self.interval = interval
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.fleet.maintain(self.governor)
                try await Task.sleep(for: self.interval)
            }
        }
        await fleet.returnLeases(governor)
    }
}
