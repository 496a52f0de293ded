import Foundation
import Storage
import SwitchyardCore
import TestSupport
import Testing

/// What budgets are seeded with at start-up: a scope's spend in a period, from the rollups.
@Suite struct BudgetSpendStoreTests {
    @Test(arguments: TestEngine.available) func spendIsSummedPerScopeAndPeriod(_ engine: TestEngine) async throws {
        let store = try await SQLStore.open(try engine.freshURL())
        try await store.ensureTenants(["acme", "globex"])
        let (_, webKey) = APIKeyFormat.issue(tenant: "acme", project: "web", agent: "bot", expiresAt: nil)
        let (_, otherKey) = APIKeyFormat.issue(tenant: "acme", agent: nil, expiresAt: nil)
        try await store.insertKey(webKey)
        try await store.insertKey(otherKey)
        let day = UnixMicros(dateOrTimestamp: "2026-11-10")!
        func record(_ id: String, _ key: APIKeyRecord, hours: Int64, nanos: Int64, currency: String = "USD") -> UsageRecord {
            let time = UnixMicros(day.value + hours * 3_600_000_000)
            return UsageRecord(
                id: id, startedAt: time, finishedAt: time, tenant: key.tenant, agent: key.agent, keyID: key.id, endpoint: "e",
                route: "chat", deployment: "d", provider: "p", upstreamModel: "m", streamed: false, usage: .none,
                cost: Money(nanos: nanos, currency: currency), latencyMicros: 1, timeToFirstTokenMicros: nil, status: 200,
                errorClass: nil, tags: [:])
        }
        try await store.insertUsage([
            record("a", webKey, hours: 1, nanos: 100), record("b", webKey, hours: 5, nanos: 20),
            record("c", otherKey, hours: 2, nanos: 3), record("d", otherKey, hours: 30, nanos: 4000),  // the next day
            record("e", otherKey, hours: 3, nanos: 7, currency: "EUR"),
        ])
        let (start, end) = (day, UnixMicros(day.value + 86_400_000_000))
        func spend(_ scope: GovernanceScope) async throws -> Int64 {
            try await store.spend(of: scope, since: start, until: end, currency: "USD")
        }
        #expect(try await spend(.tenant("acme")) == 123)
        #expect(try await spend(.project(tenant: "acme", project: "web")) == 120)
        #expect(try await spend(.agent(tenant: "acme", agent: "bot")) == 120)
        #expect(try await spend(.key(otherKey.id)) == 3)
        #expect(try await spend(.tenant("globex")) == 0)
        #expect(try await store.spend(of: .tenant("acme"), since: start, until: end, currency: "EUR") == 7)
    }
}
