import FleetState
import Foundation
import Logging
import SwitchyardCore
import Synchronization
import Testing

@testable import Governance

/// `concurrent_requests` over a fleet: a pool of slots on Redis, leased per replica, so three
/// replicas never hold more requests in flight for a scope than the limit.
@Suite(.enabled(if: TestRedis.available), .serialized) struct SharedConcurrencyTests {
    @Test func threeReplicasNeverHoldMoreThanTheLimitInFlight() async throws {
        let redis = try TestRedis()
        let tenant = "acme-\(UUID().uuidString.prefix(8))"
        let limit = RateLimit(scope: .tenant(tenant), concurrentRequests: 4)
        let replicas = try ["a", "b", "c"].map { name in
            Governor(
                tenants: [Tenant(name: tenant)], limits: [limit],
                fleet: FleetLeases(
                    replica: name, store: try RedisFleetStore(url: redis.url), ledgerSpend: { _, _ in 0 },
                    logger: Logger(label: "test")))
        }
        let principal = Principal(tenant: tenant, agent: nil, keyID: "k")
        let facts = RequestFacts(route: "chat", estimatedInputTokens: 1, maxOutputTokens: 1, tags: [:])
        let zero = Money(nanos: 0, currency: "USD")
        let gauge = Gauge()
        let refused = Tally()
        let keepers = Task {
            await withTaskGroup(of: Void.self) { group in
                for governor in replicas {
                    group.addTask {
                        while !Task.isCancelled {
                            await governor.fleet!.maintain(governor)
                            try? await Task.sleep(for: .milliseconds(50))
                        }
                    }
                }
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for governor in replicas {
                for _ in 0..<6 {
                    group.addTask {
                        for _ in 0..<20 {
                            let admitted = await governor.admit(
                                facts, policy: .unrestricted, maximumCost: zero, for: principal)
                            guard case .success(let admission) = admitted else {
                                refused.add(0)
                                try? await Task.sleep(for: .milliseconds(5))
                                continue
                            }
                            gauge.enter()
                            try? await Task.sleep(for: .milliseconds(10))
                            gauge.leave()
                            governor.release(admission, principal: principal, usage: .none, cost: zero)
                        }
                    }
                }
            }
        }
        keepers.cancel()
        await keepers.value
        let (served, most) = gauge.tally
        print("shared concurrent_requests 4: \(served) served, \(refused.value.count) refused, at most \(most) at once")
        #expect(most <= 4)
        #expect(most >= 3)
        #expect(served >= 60)
    }

    @Test func aSlotIdleOnOneReplicaGoesToAnotherThatAsks() async throws {
        let redis = try TestRedis()
        let tenant = "acme-\(UUID().uuidString.prefix(8))"
        let limit = RateLimit(scope: .tenant(tenant), concurrentRequests: 1)
        let (idle, busy) = try (
            Self.replica("idle", redis: redis, limit: limit), Self.replica("busy", redis: redis, limit: limit)
        )
        await idle.fleet!.maintain(idle)  // the one slot is its spare now
        let principal = Principal(tenant: tenant, agent: nil, keyID: "k")
        let facts = RequestFacts(route: "chat", estimatedInputTokens: 1, maxOutputTokens: 1, tags: [:])
        let zero = Money(nanos: 0, currency: "USD")
        let started = ContinuousClock.now
        var admitted = false
        // Bounded: 200 tries over about 5 s; both replicas' keepers tick meanwhile.
        for _ in 0..<200 where !admitted {
            if case .success(let admission) = await busy.admit(facts, policy: .unrestricted, maximumCost: zero, for: principal) {
                admitted = true
                busy.release(admission, principal: principal, usage: .none, cost: zero)
            } else {
                await idle.fleet!.maintain(idle)
                await busy.fleet!.maintain(busy)
                try await Task.sleep(for: .milliseconds(25))
            }
        }
        let waited = ContinuousClock.now - started
        print("concurrent_requests 1: a slot idle on one replica reached the other after \(waited)")
        #expect(admitted)
        // The idle replica hears of the ask at its next step (250 ms), the asker tries again after 250 ms.
        #expect(waited < .seconds(2))
    }

    static func replica(_ name: String, redis: TestRedis, limit: RateLimit) throws -> Governor {
        Governor(
            tenants: [Tenant(name: limit.scope.tenant ?? "acme")], limits: [limit],
            fleet: FleetLeases(
                replica: name, store: try RedisFleetStore(url: redis.url), ledgerSpend: { _, _ in 0 },
                logger: Logger(label: "test")))
    }
}
