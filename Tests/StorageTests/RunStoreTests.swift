import Foundation
import Storage
import SwitchyardCore
import TestSupport
import Testing

/// Runs as the ledger batch keeps them: one row per run and per run-hour, on both engines.
@Suite struct RunStoreTests {
    static let start = UnixMicros(dateOrTimestamp: "2026-12-01T10:00:00Z")!

    static func record(
        _ id: String, tenant: String = "acme", run: String?, step: String? = nil, minute: Int64, model: String = "m1",
        nanos: Int64 = 1_000, currency: String = "USD", status: Int = 200, loop: Bool = false
    ) -> UsageRecord {
        let started = UnixMicros(start.value + minute * 60_000_000)
        return UsageRecord(
            id: id, startedAt: started, finishedAt: UnixMicros(started.value + 1_000_000), tenant: tenant, agent: "bot",
            keyID: "k", endpoint: "chat.completions", route: "chat", deployment: "d", provider: "p", upstreamModel: model,
            streamed: false, usage: TokenUsage(inputTokens: 10, outputTokens: 5), cost: Money(nanos: nanos, currency: currency),
            latencyMicros: 1_000_000, timeToFirstTokenMicros: nil, status: status, errorClass: nil, tags: [:], run: run,
            runStep: step, runLoop: loop)
    }

    @Test(arguments: TestEngine.available)
    func batchesAddToOneRowPerRunAndReplaysAddNothing(_ engine: TestEngine) async throws {
        let url = try engine.freshURL()
        let store = try await SQLStore.open(url)
        let first = [
            Self.record("a1", run: "r1", step: "plan", minute: 5),
            Self.record("a2", run: "r1", step: "act", minute: 70, model: "m2", status: 500, loop: true),
            Self.record("b1", tenant: "globex", run: "r1", minute: 1, nanos: 7),
            Self.record("n1", run: nil, minute: 2),
        ]
        try await store.insertUsage(first)
        try await store.insertUsage(first)  // a journal replay
        // A later batch: one record of r1 started before the others (arrived late), one in euros.
        try await store.insertUsage([
            Self.record("a0", run: "r1", step: "early", minute: 0, nanos: 500, currency: "EUR"),
            Self.record("a3", run: "r1", step: "done", minute: 80, loop: true),
        ])
        let runs = try await store.runs(id: "r1", tenant: "acme")
        let run = try #require(runs.first)
        #expect(runs.count == 1)
        #expect(run.requests == 4)
        #expect(run.errors == 1)
        #expect(run.inputTokens == 40)
        #expect(run.loops == 2)
        #expect(run.lastStep == "done")
        #expect(run.startedAt == Self.start)
        #expect(run.lastActivity == UnixMicros(Self.start.value + 80 * 60_000_000 + 1_000_000))
        #expect(run.models == ["m1", "m2"])
        #expect(Set(run.costs) == [Money(nanos: 3_000, currency: "USD"), Money(nanos: 500, currency: "EUR")])
        #expect(run.hours.map(\.requests) == [1, 1, 2])  // 10:00 EUR, 10:00 USD, 11:00 USD
        #expect(run.hours.reduce(0) { $0 + ($1.cost.currency == "USD" ? $1.cost.nanos : 0) } == 3_000)
        #expect(try await store.runs(id: "r1").count == 2)  // the same id in two tenants is two runs

        let listed = try await store.runs(RunQuery(tenant: "acme"))
        #expect(listed.map(\.id) == ["r1"])
        #expect(try await store.runs(RunQuery()).map(\.tenant) == ["acme", "globex"])  // most recently active first
        #expect(try await store.runs(RunQuery(limit: 1)).count == 1)
        #expect(
            try await store.runs(RunQuery(activeSince: UnixMicros(Self.start.value + 3_600_000_000))).map(\.tenant) == ["acme"])
        #expect(try await store.runs(RunQuery(agent: "nobody")).isEmpty)

        // A stopped run names its kill switch.
        _ = try await store.engageKillSwitch(
            KillSwitch(scope: .run(tenant: "acme", run: "r1"), reason: "looping", engagedBy: "switchyard"),
            principal: "switchyard")
        #expect(try await store.runs(id: "r1", tenant: "acme").first?.stoppedBy?.reason == "looping")
        #expect(try await store.runs(id: "r1", tenant: "globex").first?.stoppedBy == nil)
        // The rest of the fleet's share of a run: what every other process stored (another replica,
        // or this one before a restart), not what this process did.
        let other = try await SQLStore.open(url)
        // This process's own record (started since it opened the store), and a predecessor's
        // it replays (started before): only the first is left out of its share.
        var own = Self.record("x1", run: "fleet", minute: 3, nanos: 10)
        own.startedAt = UnixMicros.now()
        own.finishedAt = own.startedAt
        try await store.insertUsage([own, Self.record("x0", run: "fleet", minute: 1, nanos: 1)])
        try await other.insertUsage([
            Self.record("x2", run: "fleet", minute: 2, nanos: 20),
            Self.record("x3", run: "fleet", minute: 4, nanos: 30),
            Self.record("x4", run: "fleet", minute: 5, nanos: 5, currency: "EUR"),
        ])
        let fleet = GovernanceScope.run(tenant: "acme", run: "fleet")
        let shares = try await store.runShares(of: [fleet, .run(tenant: "acme", run: "none")])
        #expect(shares.count == 1)
        #expect(shares[fleet]?.requests == 4)
        #expect(Set(shares[fleet]?.costs ?? []) == [Money(nanos: 51, currency: "USD"), Money(nanos: 5, currency: "EUR")])
        #expect(shares[fleet]?.startedAt == UnixMicros(Self.start.value + 1 * 60_000_000))
        // The other process reads the first's two, and its own three too: they started before it
        // opened the store, as a predecessor's replayed records do, and its memory never had them.
        #expect(try await other.runShares(of: [fleet])[fleet]?.requests == 5)
        #expect(try await store.runs(id: "fleet").first?.requests == 5)  // the run itself is every process's
        await other.close()
        // Records keep their run.
        let stored = try #require(try await store.usageRecord(id: "a2"))
        #expect(stored.run == "r1" && stored.runStep == "act" && stored.runLoop)
        await store.close()
    }

    /// A run's steps: one row per step and currency, added to by every batch (a replay adds
    /// nothing), in the order the steps began; requests without a step are a step of their own.
    @Test(arguments: TestEngine.available)
    func aRunsStepsAddUpAcrossBatches(_ engine: TestEngine) async throws {
        let url = try engine.freshURL()
        let store = try await SQLStore.open(url)
        let first = [
            Self.record("p1", run: "r", step: "plan", minute: 1, nanos: 100),
            Self.record("a1", run: "r", step: "act", minute: 3, nanos: 1_000, status: 502),
            Self.record("n1", run: "r", minute: 4, nanos: 1),
            Self.record("o1", run: "other", step: "plan", minute: 2, nanos: 9),
        ]
        try await store.insertUsage(first)
        try await store.insertUsage(first)  // a journal replay
        try await store.insertUsage([
            Self.record("p0", run: "r", step: "plan", minute: 0, nanos: 50),
            Self.record("p2", run: "r", step: "plan", minute: 9, nanos: 200),
            Self.record("p3", run: "r", step: "plan", minute: 10, nanos: 7, currency: "EUR"),
        ])
        let run = try #require(try await store.runs(id: "r", tenant: "acme").first)
        let minute = { (m: Int64) in UnixMicros(Self.start.value + m * 60_000_000) }
        #expect(
            run.steps == [
                AgentRun.Step(
                    name: "plan", firstAt: minute(0), lastAt: UnixMicros(minute(9).value + 1_000_000), requests: 3, errors: 0,
                    inputTokens: 30, outputTokens: 15, cost: Money(nanos: 350, currency: "USD")),
                AgentRun.Step(
                    name: "act", firstAt: minute(3), lastAt: UnixMicros(minute(3).value + 1_000_000), requests: 1, errors: 1,
                    inputTokens: 10, outputTokens: 5, cost: Money(nanos: 1_000, currency: "USD")),
                AgentRun.Step(
                    name: nil, firstAt: minute(4), lastAt: UnixMicros(minute(4).value + 1_000_000), requests: 1, errors: 0,
                    inputTokens: 10, outputTokens: 5, cost: Money(nanos: 1, currency: "USD")),
                AgentRun.Step(
                    name: "plan", firstAt: minute(10), lastAt: UnixMicros(minute(10).value + 1_000_000), requests: 1,
                    errors: 0, inputTokens: 10, outputTokens: 5, cost: Money(nanos: 7, currency: "EUR")),
            ])
        #expect(!run.moreSteps)
        // The steps add up to the run.
        #expect(run.steps.reduce(0) { $0 + $1.requests } == run.requests)

        // A client names steps freely: a run shows its first steps, and says there are more.
        try await store.insertUsage(
            (0...AgentRun.maximumSteps).map { Self.record("m\($0)", run: "many", step: "s\($0)", minute: Int64($0)) })
        let many = try #require(try await store.runs(id: "many").first)
        #expect(many.steps.count == AgentRun.maximumSteps && many.moreSteps)
        #expect(many.steps.first?.name == "s0")

        // An id in two tenants: two runs, a conflict to resolve (`--tenant`), not a page of steps each.
        try await store.insertUsage([Self.record("g1", tenant: "globex", run: "r", step: "x", minute: 1)])
        let both = try await store.runs(id: "r")
        #expect(both.count == 2 && both.allSatisfy { $0.steps.isEmpty })
        #expect(try await store.runs(id: "r", tenant: "globex").first?.steps.map(\.name) == ["x"])

        // Records stored before the table existed: the migration fills it from them.
        try await store.run { connection in
            try connection.executeScript("DROP TABLE run_steps; DELETE FROM schema_migrations WHERE version = 13")
        }
        await store.close()
        let upgraded = try await SQLStore.open(url)
        #expect(try await upgraded.runs(id: "r", tenant: "acme").first?.steps == run.steps)
        await upgraded.close()
    }

    @Test(arguments: TestEngine.available)
    func theSwitchesOfRunsQuietForADayAreReleasedAndAudited(_ engine: TestEngine) async throws {
        let store = try await SQLStore.open(try engine.freshURL())
        let now = UnixMicros.now()
        let twoDaysAgo = UnixMicros(now.value - 2 * 86_400_000_000)
        var old = Self.record("o1", run: "old", minute: 0)
        old.startedAt = twoDaysAgo
        old.finishedAt = twoDaysAgo
        var busy = Self.record("b1", run: "busy", minute: 0)
        busy.startedAt = now
        busy.finishedAt = now
        try await store.insertUsage([old, busy])
        for run in ["old", "busy"] {
            _ = try await store.engageKillSwitch(
                KillSwitch(
                    scope: .run(tenant: "acme", run: run), engagedAt: twoDaysAgo, reason: "looping", engagedBy: "switchyard"),
                principal: "switchyard")
        }
        // An operator's switch on a run is the operator's to release.
        _ = try await store.engageKillSwitch(
            KillSwitch(scope: .run(tenant: "globex", run: "held"), engagedAt: twoDaysAgo, reason: "hold", engagedBy: "cli"),
            principal: "cli")
        let released = try await store.releaseIdleRunSwitches(idleSince: UnixMicros(now.value - 86_400_000_000))
        #expect(released == [.run(tenant: "acme", run: "old")])
        #expect(
            Set(try await store.killSwitches().map(\.scope))
                == [.run(tenant: "acme", run: "busy"), .run(tenant: "globex", run: "held")])
        await store.close()
    }
}
