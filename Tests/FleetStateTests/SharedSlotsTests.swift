import FleetState
import Foundation
import SwitchyardCore
import Synchronization
import Testing

@testable import Routing

/// Deployment slots shared by replicas through leases on a real Redis: `max_concurrency` holds
/// for the fleet, the fleet's queue serves waiters in one fair order whichever replica they
/// wait on, a dead replica's slots come back, and an unreachable Redis leaves each replica its share.
@Suite(.enabled(if: TestRedis.available), .serialized) struct SharedSlotsTests {
    struct Replica {
        let monitor: DeploymentMonitor
        let slots: FleetSlots

        func step() async { await slots.maintain(monitor) }
    }

    static func deployment(limit: Int) -> Deployment {
        var deployment = Deployment(
            name: "d-\(UUID().uuidString.prefix(8))", provider: "p", model: "m", prices: .free(), maxConcurrency: limit)
        deployment.queue = AdmissionQueuePolicy(timeout: .seconds(30))
        return deployment
    }

    static func replica(_ name: String, redis: TestRedis, deployment: Deployment, leaseMilliseconds: Int64 = 10_000)
        throws -> Replica
    {
        let slots = FleetSlots(
            replica: "\(name)#\(UUID().uuidString.prefix(6))", store: try RedisFleetStore(url: redis.url),
            leaseMilliseconds: leaseMilliseconds)
        return Replica(monitor: DeploymentMonitor(deployments: [deployment], fleet: slots), slots: slots)
    }

    /// Each replica's keeper loop, as `FleetLeaseKeeper` runs it, until the task is cancelled.
    static func keepers(_ replicas: [Replica]) -> Task<Void, Never> {
        Task {
            await withTaskGroup(of: Void.self) { group in
                for replica in replicas {
                    group.addTask {
                        while !Task.isCancelled {
                            await replica.step()
                            await replica.slots.waitForKick(upTo: .milliseconds(50))
                        }
                    }
                }
            }
        }
    }

    @Test func threeReplicasNeverUseMoreThanTheFleetsSlots() async throws {
        let redis = try TestRedis()
        let deployment = Self.deployment(limit: 4)
        let replicas = try ["a", "b", "c"].map { try Self.replica($0, redis: redis, deployment: deployment) }
        let keepers = Self.keepers(replicas)
        let gauge = Gauge()
        await withTaskGroup(of: Void.self) { group in
            for replica in replicas {
                for worker in 0..<8 {
                    group.addTask {
                        for _ in 0..<10 {
                            // Half of the requests go through the queue, half take a slot or a lease step.
                            let claimed =
                                worker.isMultiple(of: 2)
                                ? await replica.monitor.waitForSlot(
                                    deployment.name, tenant: "t\(worker % 3)", priority: .interactive, weight: 1,
                                    policy: deployment.queue!)
                                : await replica.monitor.acquireLeasing(deployment.name)
                            guard case .success(let lease) = claimed else {
                                try? await Task.sleep(for: .milliseconds(5))
                                continue
                            }
                            gauge.enter()
                            try? await Task.sleep(for: .milliseconds(10))
                            gauge.leave()
                            replica.monitor.release(lease, outcome: .neutral)
                        }
                    }
                }
            }
        }
        keepers.cancel()
        await keepers.value
        let (served, most) = gauge.tally
        print("shared slots: \(served) served, at most \(most) at once")
        #expect(most <= 4)
        // The slots were used, not merely never exceeded.
        #expect(most >= 3)
        // Queued requests all got a slot (the others may have found none and moved on).
        #expect(served >= 120)
    }

    @Test func aQuietTenantOnAnotherReplicaGoesBeforeAFloodsBacklog() async throws {
        let redis = try TestRedis()
        let deployment = Self.deployment(limit: 1)
        let a = try Self.replica("a", redis: redis, deployment: deployment)
        let b = try Self.replica("b", redis: redis, deployment: deployment)
        guard case .success(let first) = await a.monitor.acquireLeasing(deployment.name) else {
            Issue.record("the one slot could not be leased")
            return
        }
        let granted = HeldLeases()
        func wait(_ replica: Replica, _ tenant: String) -> Task<Void, Never> {
            Task {
                let claimed = await replica.monitor.waitForSlot(
                    deployment.name, tenant: tenant, priority: .interactive, weight: 1, policy: deployment.queue!)
                if case .success(let lease) = claimed {
                    granted.put(lease, monitor: replica.monitor, tenant: tenant)
                }
            }
        }
        var waiters = (0..<6).map { _ in wait(a, "flood") }
        await Self.until { a.monitor.waiting(deployment.name) == 6 }
        await a.step()  // the flood is in the fleet's queue
        waiters.append(wait(b, "quiet"))
        await Self.until { b.monitor.waiting(deployment.name) == 1 }
        await b.step()  // then the quiet tenant, on the other replica
        // Free the slot seven times; each time both replicas step, as their keepers would.
        var holder = (lease: first, replica: a)
        for _ in 0..<7 {
            holder.replica.monitor.release(holder.lease, outcome: .neutral)
            await holder.replica.step()
            await (holder.replica.monitor === a.monitor ? b : a).step()
            await Self.until { granted.count == 1 }
            guard let next = granted.take() else {
                Issue.record("a freed slot reached no waiter")
                break
            }
            holder = (next.lease, next.monitor === a.monitor ? a : b)
        }
        for waiter in waiters { await waiter.value }
        let served = granted.order
        print("fleet queue order: \(served)")
        #expect(served.count == 7)
        // Weighted fair queuing: the quiet tenant waits for at most one flood request queued before it.
        #expect(served.prefix(2).contains("quiet"), "\(served)")
    }

    @Test func aDeadReplicasSlotsComeBackAfterItsLease() async throws {
        let redis = try TestRedis()
        let deployment = Self.deployment(limit: 2)
        let dead = try Self.replica("dead", redis: redis, deployment: deployment, leaseMilliseconds: 500)
        let live = try Self.replica("live", redis: redis, deployment: deployment, leaseMilliseconds: 500)
        for _ in 0..<2 {
            guard case .success = await dead.monitor.acquireLeasing(deployment.name) else {
                Issue.record("the first replica could not lease a slot")
                return
            }
        }
        // Both slots are held by a replica that will never step again.
        guard case .failure(.atCapacity) = await live.monitor.acquireLeasing(deployment.name) else {
            Issue.record("the fleet handed out a third slot of two")
            return
        }
        let started = ContinuousClock.now
        var claimed = false
        // Bounded: 100 tries over about 5 s, for a lease of 0.5 s.
        for _ in 0..<100 where !claimed {
            await live.step()
            if case .success = await live.monitor.acquireLeasing(deployment.name) { claimed = true }
            if !claimed { try await Task.sleep(for: .milliseconds(50)) }
        }
        let waited = ContinuousClock.now - started
        print("a dead replica's slots came back after \(waited)")
        #expect(claimed)
        #expect(waited >= .milliseconds(400))
    }

    @Test func anUnreachableRedisLeavesEachReplicaItsShare() async throws {
        let redis = try TestRedis()
        let deployment = Self.deployment(limit: 4)
        let a = try Self.replica("a", redis: redis, deployment: deployment)
        let b = try Self.replica("b", redis: redis, deployment: deployment)
        await a.step()
        await b.step()
        try await Task.sleep(for: .milliseconds(300))  // a's next step is due: it sees two live replicas
        await a.step()
        redis.stop()
        // Bounded: the next step is due within 250 ms (a spare slot is idle here).
        for _ in 0..<100 where a.monitor.fleetSlots(deployment.name)?.fallback != true {
            await a.step()
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(a.monitor.fleetSlots(deployment.name)?.fallback == true)
        #expect(a.slots.failedSteps >= 1)
        // 4 slots ÷ 2 replicas: two here, and not a third.
        var leases: [DeploymentMonitor.Lease] = []
        for _ in 0..<2 { leases.append(try a.monitor.acquire(deployment.name).get()) }
        #expect(throws: DeploymentMonitor.Unavailability.atCapacity) { try a.monitor.acquire(deployment.name).get() }
        // A waiter is served by this replica's own queue when a slot frees.
        let waiter = Task {
            await a.monitor.waitForSlot(
                deployment.name, tenant: "acme", priority: .interactive, weight: 1, policy: deployment.queue!)
        }
        await Self.until { a.monitor.waiting(deployment.name) == 1 }
        a.monitor.release(leases.removeFirst(), outcome: .neutral)
        guard case .success(let served) = await waiter.value else {
            Issue.record("the waiter was not served in fallback")
            return
        }
        leases.append(served)
        // Redis is back, empty: the replica registers the slots it uses and leaves fallback.
        try redis.start()
        for _ in 0..<100 where a.monitor.fleetSlots(deployment.name)?.fallback != false {
            await a.step()
            try await Task.sleep(for: .milliseconds(20))
        }
        let after = a.monitor.fleetSlots(deployment.name)
        #expect(after?.fallback == false)
        #expect(after?.holding == 2 && after?.inFlight == 2)
    }

    /// Waits (at most 5 s) until `condition` holds.
    static func until(_ condition: @Sendable () -> Bool) async {
        for _ in 0..<500 where !condition() { try? await Task.sleep(for: .milliseconds(10)) }
    }
}

/// Leases handed to waiters in the ordering test, for the test to release in turn.
final class HeldLeases: Sendable {
    private let leases = Mutex<[(lease: DeploymentMonitor.Lease, monitor: DeploymentMonitor)]>([])
    private let tenants = Mutex<[String]>([])

    func put(_ lease: DeploymentMonitor.Lease, monitor: DeploymentMonitor, tenant: String) {
        tenants.withLock { $0.append(tenant) }
        leases.withLock { $0.append((lease, monitor)) }
    }

    /// The tenants of the waiters served, in the order they were.
    var order: [String] { tenants.withLock { $0 } }

    func take() -> (lease: DeploymentMonitor.Lease, monitor: DeploymentMonitor)? {
        leases.withLock { $0.isEmpty ? nil : $0.removeFirst() }
    }

    var count: Int { leases.withLock { $0.count } }
}

/// Requests holding a slot now, the most at once, and how many were served.
final class Gauge: Sendable {
    private let state = Mutex<(now: Int, most: Int, served: Int)>((0, 0, 0))

    func enter() { state.withLock { $0 = ($0.now + 1, max($0.most, $0.now + 1), $0.served) } }
    func leave() { state.withLock { $0 = ($0.now - 1, $0.most, $0.served + 1) } }
    var tally: (served: Int, most: Int) { state.withLock { ($0.served, $0.most) } }
}

extension DeploymentMonitor {
    /// `acquire`, and at capacity one lease step and `acquire` again: what `UpstreamExecutor.claim` does.
    func acquireLeasing(_ name: String) async -> Result<Lease, Unavailability> {
        let first = acquire(name)
        guard case .failure(.atCapacity) = first, await leaseSlot(name) else { return first }
        return acquire(name)
    }
}
