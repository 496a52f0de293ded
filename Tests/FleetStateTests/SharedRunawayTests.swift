import FleetState
import Foundation
import Logging
import SwitchyardCore
import Testing

@testable import Governance

/// Runaway protection (`spend_per_hour`) over a fleet: each replica reports its spend per minute
/// to Redis and counts the others' in its rolling hour, so a scope spending through three
/// replicas trips at the fleet's limit, not at three times it.
@Suite(.enabled(if: TestRedis.available), .serialized) struct SharedRunawayTests {
    static func replica(_ name: String, redis: TestRedis, limit: RateLimit) throws -> Governor {
        let fleet = FleetLeases(
            replica: name, store: try RedisFleetStore(url: redis.url), ledgerSpend: { _, _ in 0 },
            logger: Logger(label: "test"))
        return Governor(tenants: [Tenant(name: "acme")], limits: [limit], fleet: fleet)
    }

    static func spend(_ governor: Governor, _ nanos: Int64, as principal: Principal) async throws {
        let facts = RequestFacts(route: "chat", estimatedInputTokens: 1, maxOutputTokens: 1, tags: [:])
        let cost = Money(nanos: nanos, currency: "USD")
        let admission = try await governor.admit(facts, policy: .unrestricted, maximumCost: cost, for: principal).get()
        governor.release(admission, principal: principal, usage: .none, cost: cost)
    }

    @Test func threeReplicasTripAtTheFleetsHourlyLimit() async throws {
        let redis = try TestRedis()
        let agent = "bot-\(UUID().uuidString.prefix(8))"
        let scope = GovernanceScope.agent(tenant: "acme", agent: agent)
        let limit = RateLimit(scope: scope, spendPerHour: Money(nanos: 1_000, currency: "USD"))
        let bot = Principal(tenant: "acme", agent: agent, keyID: "k")
        let replicas = try ["a", "b", "c"].map { try Self.replica($0, redis: redis, limit: limit) }
        // 400 through each of the first two: 800 of 1,000, no replica past the limit on its own.
        try await Self.spend(replicas[0], 400, as: bot)
        try await Self.spend(replicas[1], 400, as: bot)
        for governor in replicas { await governor.fleet!.maintain(governor) }
        #expect(replicas.allSatisfy { $0.kills.stopping(bot) == nil })
        // 201 more through the third: the fleet's hour is 1,001. Alone it would have spent 201.
        try await Self.spend(replicas[2], 201, as: bot)
        let kill = try #require(replicas[2].kills.stopping(bot))
        #expect(kill.reason.contains("spent 0.000001001 USD in the last hour"))
    }

    @Test func aReportSentTwiceCountsOnce() async throws {
        let redis = try TestRedis()
        let store = try RedisFleetStore(url: redis.url)
        let scope = GovernanceScope.tenant("acme-\(UUID().uuidString.prefix(8))")
        let minute = UnixMicros.now().value / 60_000_000
        let call = RunawaySpendCall(replica: "a#1", scope: scope, currency: "USD", minutes: [minute: 700])
        _ = try await store.report(call)
        _ = try await store.report(call)
        let other = RunawaySpendCall(replica: "b#1", scope: scope, currency: "USD", minutes: [minute: 50])
        let fleet = try await store.report(other)
        #expect(fleet.minutes == [minute: 750])
    }
}

extension SharedRunawayTests {
    @Test func aReplicaDoesNotCountItsOwnSpendTwice() async throws {
        let redis = try TestRedis()
        let agent = "bot-\(UUID().uuidString.prefix(8))"
        let limit = RateLimit(
            scope: .agent(tenant: "acme", agent: agent), spendPerHour: Money(nanos: 1_000, currency: "USD"))
        let bot = Principal(tenant: "acme", agent: agent, keyID: "k")
        let (a, b) = (try Self.replica("a", redis: redis, limit: limit), try Self.replica("b", redis: redis, limit: limit))
        try await Self.spend(a, 400, as: bot)
        try await Self.spend(b, 400, as: bot)
        await a.fleet!.maintain(a)
        await b.fleet!.maintain(b)
        try await Task.sleep(for: .milliseconds(1_100))  // a's next report is due: it hears of b's 400
        await a.fleet!.maintain(a)
        // a's hour: its own 400 and b's 400, then 199: 999 of 1,000. Its own counted twice would trip.
        try await Self.spend(a, 199, as: bot)
        #expect(a.kills.stopping(bot) == nil)
        try await Self.spend(a, 2, as: bot)
        #expect(a.kills.stopping(bot) != nil)
    }
}
