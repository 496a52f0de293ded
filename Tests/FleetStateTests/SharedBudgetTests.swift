import FleetState
import Foundation
import Logging
import SwitchyardCore
import Synchronization
import Testing

@testable import Governance

/// Budgets shared by replicas through leases on a real Redis: the fleet's total never passes the
/// limit, a dead replica's lease is booked as spent, and an unreachable Redis leaves each replica
/// its share and no more.
@Suite(.enabled(if: TestRedis.available), .serialized) struct SharedBudgetTests {
    static let principal = Principal(tenant: "acme", agent: "bot", keyID: "k1")
    static let facts = RequestFacts(route: "chat", estimatedInputTokens: 10, maxOutputTokens: 10, tags: [:])
    static let logger = Logger(label: "test")

    static func budget(limit: Int64) -> Budget {
        Budget(
            name: "acme-day-\(UUID().uuidString.prefix(8))", scope: .tenant("acme"), period: .day,
            limit: Money(nanos: limit, currency: "USD"))
    }

    static func replica(
        _ name: String, redis: TestRedis, budget: Budget, leaseMilliseconds: Int64 = 10_000, ledger: Int64 = 0
    ) throws -> Governor {
        let fleet = FleetLeases(
            replica: name, store: try RedisFleetStore(url: redis.url), leaseMilliseconds: leaseMilliseconds,
            ledgerSpend: { _, _ in ledger }, logger: logger)
        return Governor(tenants: [Tenant(name: "acme")], budgets: [budget], fleet: fleet)
    }

    /// One request: admitted against the lease (or refused), then settled at `cost`.
    static func request(_ governor: Governor, maximum: Int64, cost: Int64) async -> Bool {
        let admitted = await governor.admit(
            facts, policy: .unrestricted, maximumCost: Money(nanos: maximum, currency: "USD"), for: principal)
        guard case .success(let admission) = admitted else { return false }
        governor.release(admission, principal: principal, usage: .none, cost: Money(nanos: cost, currency: "USD"))
        return true
    }

    @Test func replicasHammeringOneBudgetNeverSpendPastItsLimit() async throws {
        let redis = try TestRedis()
        let budget = Self.budget(limit: 10_000_000)
        let replicas = try ["a", "b", "c"].map { try Self.replica($0, redis: redis, budget: budget) }
        let tally = Tally()
        await withTaskGroup(of: Void.self) { group in
            for governor in replicas {
                group.addTask {
                    // The background keeper of each replica, as `FleetLeaseKeeper` runs it.
                    for _ in 0..<200 {
                        await governor.fleet!.maintain(governor.budgets)
                        try? await Task.sleep(for: .milliseconds(5))
                    }
                }
                for worker in 0..<8 {
                    group.addTask {
                        // Bounded: far more requests than the budget holds.
                        for index in 0..<400 {
                            let cost = Int64(20_000 + (worker * 7 + index) % 10 * 2_000)
                            if await Self.request(governor, maximum: 40_000, cost: cost) { tally.add(cost) }
                        }
                    }
                }
            }
        }
        for governor in replicas { await governor.fleet!.returnLeases(governor.budgets, governor.limiter) }
        let (total, admitted) = tally.value
        print("shared budget: \(admitted) admitted, spent \(total) of 10000000 nanos")
        #expect(total <= budget.limit.nanos)
        // Left unspent at the end: less than a request's worth in each lease and in the store.
        #expect(total > budget.limit.nanos - 4 * 40_000)
        // Every replica's spend was reported: the fleet's counter is the sum, to the nano-unit.
        let counted = try await Self.fleetSpent(redis: redis, budget: budget)
        #expect(counted == total)
        #expect(replicas.allSatisfy { $0.budgets.status().first?.spent == total })
    }

    @Test func aReplicaThatStopsRenewingHasItsLeaseBookedAsSpent() async throws {
        let redis = try TestRedis()
        let budget = Self.budget(limit: 1_000_000)
        let dying = try Self.replica("dying", redis: redis, budget: budget, leaseMilliseconds: 300)
        let survivor = try Self.replica("survivor", redis: redis, budget: budget, leaseMilliseconds: 300)
        #expect(await Self.request(dying, maximum: 100_000, cost: 100_000))
        // The dying replica holds a lease and is never heard from again. Its lease counts as spent
        // (it may have spent it) once it expires, so the survivor can never take it as well.
        let held = try #require(dying.budgets.accounts.withLock { $0[0].share?.available })
        #expect(held > 0)
        try await Task.sleep(for: .milliseconds(400))
        var served = 0
        for _ in 0..<20 where await Self.request(survivor, maximum: 100_000, cost: 100_000) { served += 1 }
        let spentBySurvivor = Int64(served) * 100_000
        #expect(spentBySurvivor + 100_000 + held <= budget.limit.nanos)
        #expect(spentBySurvivor >= budget.limit.nanos - 100_000 - held - 100_000)
    }

    @Test func aRedisThatLostEverythingIsSeededFromTheLedger() async throws {
        let redis = try TestRedis()
        let budget = Self.budget(limit: 1_000_000)
        // The ledger says 900_000 is spent this period: only one more request of 100_000 fits.
        let governor = try Self.replica("a", redis: redis, budget: budget, ledger: 900_000)
        #expect(await Self.request(governor, maximum: 100_000, cost: 100_000))
        #expect(await !Self.request(governor, maximum: 100_000, cost: 100_000))
        #expect(try await Self.fleetSpent(redis: redis, budget: budget) == 900_000)
    }

    @Test func anUnreachableRedisLeavesEachReplicaItsShareAndNoMore() async throws {
        let redis = try TestRedis()
        let budget = Self.budget(limit: 1_000_000)
        let replicas = try ["a", "b"].map { try Self.replica($0, redis: redis, budget: budget) }
        // Both replicas in contact: each has leased, and the fleet counts two live replicas.
        for governor in replicas { #expect(await Self.request(governor, maximum: 10_000, cost: 10_000)) }
        for governor in replicas {
            await governor.fleet!.maintain(governor.budgets, now: UnixMicros(UnixMicros.now().value + 10_000_000))
        }
        redis.stop()
        var served = 0
        for governor in replicas {
            for _ in 0..<200 where await Self.request(governor, maximum: 10_000, cost: 10_000) { served += 1 }
            #expect(governor.budgets.budgetsInFallback == 1)
        }
        let total = Int64(served + 2) * 10_000
        print("fallback: \(served) served during the outage, \(total) of 1000000 nanos")
        #expect(total <= budget.limit.nanos)
        // Each replica had its part of what was free at its last contact: most of the budget.
        #expect(total >= budget.limit.nanos / 2)
    }

    static func fleetSpent(redis: TestRedis, budget: Budget) async throws -> Int64 {
        let period = try #require(budget.period.containing(.now()))
        let key = "switchyard:budget:\(budget.name):\(period.start.value)"
        let connection = try RedisConnection(url: redis.url)
        return try #require(try await connection.command(["HGET", key, "spent"]).int64)
    }
}

final class Tally: Sendable {
    private let state = Mutex<(spent: Int64, count: Int)>((0, 0))

    func add(_ cost: Int64) { state.withLock { $0 = ($0.spent + cost, $0.count + 1) } }
    var value: (spent: Int64, count: Int) { state.withLock { $0 } }
}
