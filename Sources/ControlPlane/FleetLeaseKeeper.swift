import Governance
import Logging
import Routing
import ServiceLifecycle

/// Keeps this replica's leases of the fleet's shared quotas topped up, reported and renewed, in
/// the background (`FleetLeases.maintain`), so requests spend from them without waiting; and,
/// with `slots`, its deployment slot leases and its part of the fleet's queue
/// (`FleetSlots.maintain`), woken early when a freed slot is wanted elsewhere. On a graceful
/// shutdown, after the server drained, it reports the last spend and gives every lease and slot
/// back, so the rest of the fleet can use them at once rather than after their expiry.
public final class FleetLeaseKeeper: Service {
    private let governor: Governor
    private let fleet: FleetLeases
    private let slots: (FleetSlots, DeploymentMonitor)?
    private let interval: Duration

    public init(
        governor: Governor, fleet: FleetLeases, slots: (FleetSlots, DeploymentMonitor)? = nil,
        interval: Duration = .milliseconds(50)
    ) {
        self.governor = governor
        self.fleet = fleet
        self.slots = slots
        self.interval = interval
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var lastQuotaStep = ContinuousClock.now - self.interval
            while !Task.isCancelled {
                // Kicks come as often as slots are freed: quotas keep their own pace.
                if ContinuousClock.now - lastQuotaStep >= self.interval {
                    lastQuotaStep = .now
                    await self.fleet.maintain(self.governor)
                }
                if let (slots, monitor) = self.slots {
                    await slots.maintain(monitor)
                    await slots.waitForKick(upTo: self.interval)
                } else {
                    try await Task.sleep(for: self.interval)
                }
            }
        }
        await fleet.returnLeases(governor)
        if let (slots, monitor) = slots { await slots.returnSlots(monitor) }
    }
}
