import FleetState
import Foundation
import Logging
import SwitchyardCore
import Testing

@testable import Governance

/// Rate limits shared by replicas through leases of the buckets on a real Redis: the fleet
/// admits what one bucket would, and an unreachable Redis leaves each replica its share of the rate.
@Suite(.enabled(if: TestRedis.available), .serialized) struct SharedRateLimitTests {
    static let logger = Logger(label: "test")

    static func replica(_ name: String, redis: TestRedis, limit: RateLimit) throws -> Governor {
        let fleet = FleetLeases(
            replica: name, store: try RedisFleetStore(url: redis.url), ledgerSpend: { _, _ in 0 }, logger: logger)
        return Governor(tenants: [Tenant(name: "acme")], limits: [limit], fleet: fleet)
    }

    static func request(_ governor: Governor, tenant: String) async -> Bool {
        let principal = Principal(tenant: tenant, agent: nil, keyID: "k")
        let facts = RequestFacts(route: "chat", estimatedInputTokens: 10, maxOutputTokens: 10, tags: [:])
        let admitted = await governor.admit(
            facts, policy: .unrestricted, maximumCost: Money(nanos: 0, currency: "USD"), for: principal)
        guard case .success(let admission) = admitted else { return false }
        governor.release(admission, principal: principal, usage: .none, cost: Money(nanos: 0, currency: "USD"))
        return true
    }

    @Test func threeReplicasAdmitWhatOneBucketWould() async throws {
        let redis = try TestRedis()
        // A tenant of its own per run: the bucket in Redis starts full.
        let tenant = "acme-\(UUID().uuidString.prefix(8))"
        let limit = RateLimit(scope: .tenant(tenant), requestsPerMinute: 600)
        let replicas = try ["a", "b", "c"].map { try Self.replica($0, redis: redis, limit: limit) }
        let started = ContinuousClock.now
        let tally = Tally()
        await withTaskGroup(of: Void.self) { group in
            for governor in replicas {
                group.addTask {
                    for _ in 0..<100 {
                        await governor.fleet!.maintain(governor)
                        try? await Task.sleep(for: .milliseconds(10))
                    }
                }
                for _ in 0..<4 {
                    group.addTask {
                        // Bounded: 4 x 3 x 300 attempts, far more than the minute's 600.
                        for _ in 0..<300 where await Self.request(governor, tenant: tenant) { tally.add(0) }
                    }
                }
            }
        }
        let elapsed = (ContinuousClock.now - started).secondsValue
        let admitted = tally.value.count
        // The shared bucket held 600 and refilled 10 a second meanwhile, also while the replicas
        // held slices of it (30 at most each): never more than that.
        let ceiling = 600 + Int((elapsed * 10).rounded(.up)) + 3 * 30
        print("shared rate limit: \(admitted) admitted by 3 replicas in \(elapsed) s (ceiling \(ceiling))")
        #expect(admitted <= ceiling)
        // Left in leases when the attempts ended: at most a slice (30) per replica.
        #expect(admitted >= 600 - 3 * 30)
    }

    @Test func anUnreachableRedisRefillsEachReplicaAtItsShareOfTheRate() async throws {
        let redis = try TestRedis()
        let tenant = "acme-\(UUID().uuidString.prefix(8))"
        let limit = RateLimit(scope: .tenant(tenant), requestsPerMinute: 600)
        let replicas = try ["a", "b"].map { try Self.replica($0, redis: redis, limit: limit) }
        for governor in replicas { #expect(await Self.request(governor, tenant: tenant)) }
        // A second later each renews its lease and learns that two replicas are live.
        try await Task.sleep(for: .milliseconds(1100))
        for governor in replicas { await governor.fleet!.maintain(governor) }
        #expect(replicas.allSatisfy { $0.limiter.buckets.withLock { $0[0].share?.liveReplicas } == 2 })
        redis.stop()
        let outage = ContinuousClock.now
        // Spend what each holds, then the first refused request puts each into its fallback.
        for governor in replicas {
            for _ in 0..<100 where await Self.request(governor, tenant: tenant) {}
            #expect(governor.limiter.limitsInFallback == 1)
        }
        // From its fallback on, each refills at its share: 300 a minute, 5 a second.
        try await Task.sleep(for: .seconds(1))
        var admitted = 0
        for governor in replicas {
            for _ in 0..<100 where await Self.request(governor, tenant: tenant) { admitted += 1 }
        }
        let elapsed = (ContinuousClock.now - outage).secondsValue
        let ceiling = 2 * (Int((elapsed * 5).rounded(.up)) + 1)
        print("fallback rate: \(admitted) admitted by 2 replicas in \(elapsed) s (ceiling \(ceiling) at 300/min each)")
        // At the whole rate each it would be twice as many; with no refill, none.
        #expect(admitted >= 2 && admitted <= ceiling)
    }
}
