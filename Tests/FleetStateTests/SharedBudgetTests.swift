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
                        await governor.fleet!.maintain(governor)
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
        for governor in replicas { await governor.fleet!.returnLeases(governor) }
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
        // Both replicas in contact: each has leased, and each has seen the other's lease (a
        // replica's view is one renewal old at most; what others leased since is the bound).
        for governor in replicas { #expect(await Self.request(governor, maximum: 10_000, cost: 10_000)) }
        for round in 1...2 {
            for governor in replicas {
                let later = UnixMicros(UnixMicros.now().value + Int64(round) * 10_000_000)
                await governor.fleet!.maintain(governor, now: later)
            }
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

/// What the review of the lease protocol found, each as a test that fails without its fix.
@Suite(.enabled(if: TestRedis.available), .serialized) struct SharedBudgetEdgeTests {
    @Test func anAbsurdWorstCaseIsRefusedWithoutTrapping() async throws {
        let redis = try TestRedis()
        let budget = SharedBudgetTests.budget(limit: 1_000_000)
        let governor = try SharedBudgetTests.replica("a", redis: redis, budget: budget)
        #expect(await SharedBudgetTests.request(governor, maximum: 100_000, cost: 100_000))
        // A held reservation plus Int64.max overflowed before; now it is refused.
        let held = await governor.admit(
            SharedBudgetTests.facts, policy: .unrestricted, maximumCost: Money(nanos: 10_000, currency: "USD"),
            for: SharedBudgetTests.principal)
        #expect(await !SharedBudgetTests.request(governor, maximum: .max, cost: 0))
        await governor.fleet!.maintain(governor, now: UnixMicros(UnixMicros.now().value + 5_000_000))
        if case .success(let admission) = held {
            governor.release(
                admission, principal: SharedBudgetTests.principal, usage: .none, cost: Money(nanos: 0, currency: "USD"))
        }
        // Unshared, the same.
        let alone = Governor(tenants: [Tenant(name: "acme")], budgets: [budget])
        let first = await alone.admit(
            SharedBudgetTests.facts, policy: .unrestricted, maximumCost: Money(nanos: 10, currency: "USD"),
            for: SharedBudgetTests.principal)
        #expect((try? first.get()) != nil)
        #expect(await !SharedBudgetTests.request(alone, maximum: .max, cost: 0))
    }

    @Test func aStepSentTwiceBooksItsSpendOnce() async throws {
        let redis = try TestRedis()
        let store = try RedisFleetStore(url: redis.url)
        let period = try #require(Budget.Period.day.containing(.now()))
        var call = BudgetLeaseCall(
            replica: "r#1", budget: "b-\(UUID().uuidString.prefix(8))", period: period, limit: 1_000_000, epoch: nil,
            seed: 0, settled: 0, held: 0, need: 0, want: 100_000, giveBack: 0, leaseMilliseconds: 10_000)
        guard case .granted(let first) = try await store.lease(call) else { throw RedisDidNotStart(port: 0) }
        #expect(first.granted == 100_000 && first.lease == 100_000)
        // 30,000 spent; the answer to this step is lost, and the same step is sent again.
        call.settled = 30_000
        call.want = 0
        call.epoch = first.epoch
        _ = try await store.lease(call)
        guard case .granted(let again) = try await store.lease(call) else { throw RedisDidNotStart(port: 0) }
        #expect(again.fleetSpent == 30_000)
        #expect(again.lease == 70_000)
    }

    @Test func aShareSpentWhileRedisWasAwayIsReplacedByTheStoresLease() async throws {
        let redis = try TestRedis()
        let budget = SharedBudgetTests.budget(limit: 1_000_000)
        let replicas = try ["a", "b"].map { try SharedBudgetTests.replica($0, redis: redis, budget: budget) }
        for governor in replicas { #expect(await SharedBudgetTests.request(governor, maximum: 10_000, cost: 10_000)) }
        for round in 1...2 {
            for governor in replicas {
                await governor.fleet!.maintain(governor, now: UnixMicros(UnixMicros.now().value + Int64(round) * 10_000_000))
            }
        }
        // Redis stops answering (paused, its data kept): a spends into its share.
        redis.pause()
        var spentInOutage: Int64 = 0
        for _ in 0..<5 where await SharedBudgetTests.request(replicas[0], maximum: 10_000, cost: 10_000) {
            spentInOutage += 10_000
        }
        #expect(replicas[0].budgets.budgetsInFallback == 1)
        redis.resume()
        for round in 3...4 {
            for governor in replicas {
                await governor.fleet!.maintain(governor, now: UnixMicros(UnixMicros.now().value + Int64(round) * 10_000_000))
            }
        }
        #expect(replicas[0].budgets.budgetsInFallback == 0)
        // Back in contact, what each replica may spend is the lease the store holds for it:
        // with the fleet's booked spend, never more than the limit.
        let available = replicas.map { $0.budgets.accounts.withLock { $0[0].share!.available } }
        let fleetSpent = try await SharedBudgetTests.fleetSpent(redis: redis, budget: budget)
        print("after the outage: spent \(fleetSpent) (\(spentInOutage) during it), leases \(available)")
        #expect(fleetSpent == 20_000 + spentInOutage)
        #expect(fleetSpent + available.reduce(0, +) <= budget.limit.nanos)
    }
}
