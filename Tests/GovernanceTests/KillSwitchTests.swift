import SwitchyardCore
import Synchronization
import Testing

@testable import Governance

@Suite struct KillSwitchTests {
    let bot = Principal(tenant: "acme", project: "web", agent: "bot", keyID: "k1")

    @Test func theMostSpecificEngagedSwitchStopsAPrincipal() {
        let board = KillSwitchBoard()
        #expect(board.stopping(bot) == nil)
        board.engage(KillSwitch(scope: .tenant("acme"), reason: "tenant", engagedBy: "admin"))
        board.engage(KillSwitch(scope: .agent(tenant: "acme", agent: "bot"), reason: "agent", engagedBy: "cli"))
        board.engage(KillSwitch(scope: .agent(tenant: "globex", agent: "bot"), reason: "other tenant", engagedBy: "cli"))
        #expect(board.stopping(bot)?.reason == "agent")
        board.release(.agent(tenant: "acme", agent: "bot"))
        #expect(board.stopping(bot)?.reason == "tenant")
        board.release(.tenant("acme"))
        #expect(board.stopping(bot) == nil)
        #expect(board.stopping(Principal(tenant: "globex", agent: "bot", keyID: "k2"))?.reason == "other tenant")
        board.replaceAll([])
        #expect(board.engaged.isEmpty)
        #expect(board.stopping(Principal(tenant: "globex", agent: "bot", keyID: "k2")) == nil)
    }

    @Test func aRunsSwitchStopsOnlyThatRunAndArmsApartFromTheOthers() {
        let board = KillSwitchBoard()
        let run = GovernanceScope.run(tenant: "acme", run: "r1")
        board.engage(KillSwitch(scope: run, reason: "looping", engagedBy: "switchyard"))
        #expect(board.stopping(bot, run: run)?.reason == "looping")
        #expect(board.stopping(bot) == nil)  // the same agent outside the run
        #expect(board.stopping(bot, run: .run(tenant: "acme", run: "r2")) == nil)
        board.engage(KillSwitch(scope: .tenant("acme"), reason: "tenant", engagedBy: "admin"))
        #expect(board.stopping(bot, run: run)?.reason == "looping")  // the most specific
        #expect(board.stopping(bot)?.reason == "tenant")
        board.release(.tenant("acme"))
        #expect(board.stopping(bot) == nil)
        #expect(board.stopping(bot, run: run)?.reason == "looping")
        board.replaceAll([KillSwitch(scope: .key("k1"), reason: "key", engagedBy: "admin")])
        #expect(board.stopping(bot, run: run)?.reason == "key")
    }

    @Test func engagingTwiceKeepsTheFirstReason() {
        let board = KillSwitchBoard()
        board.engage(KillSwitch(scope: .key("k1"), reason: "first", engagedBy: "admin"))
        board.engage(KillSwitch(scope: .key("k1"), reason: "second", engagedBy: "admin"))
        #expect(board.engaged.map(\.reason) == ["first"])
    }

    @Test func runawayProtectionTripsOnTheRollingHourAndEngagesTheSwitch() async throws {
        let agent = GovernanceScope.agent(tenant: "acme", agent: "bot")
        let stopped = KillLog()
        let governor = Governor(
            limits: [RateLimit(scope: agent, spendPerHour: Money(nanos: 1_000, currency: "USD"))],
            killSwitchEngaged: { stopped.append($0) })
        let facts = RequestFacts(route: "chat", estimatedInputTokens: 1, maxOutputTokens: 1, tags: [:])
        func run(costing nanos: Int64) async throws {
            let policy = try governor.check(facts, for: bot).get()
            let admission = try await governor.admit(
                facts, policy: policy, maximumCost: Money(nanos: nanos, currency: "USD"), for: bot
            ).get()
            governor.release(admission, principal: bot, usage: .none, cost: Money(nanos: nanos, currency: "USD"))
        }
        try await run(costing: 600)
        try await run(costing: 400)  // exactly the limit: not past it
        #expect(governor.kills.stopping(bot) == nil)
        try await run(costing: 1)
        let kill = try #require(governor.kills.stopping(bot))
        #expect(kill.scope == agent)
        #expect(kill.engagedBy == "switchyard")
        #expect(kill.reason.contains("spent 0.000001001 USD in the last hour"))
        #expect(stopped.all.map(\.scope) == [agent])
        guard case .failure(.killed(let refusing)) = governor.check(facts, for: bot) else {
            Issue.record("a stopped agent was admitted")
            return
        }
        #expect(refusing.scope == agent)
        // Another agent of the tenant is not stopped.
        #expect((try? governor.check(facts, for: Principal(tenant: "acme", agent: "other", keyID: "k9")).get()) != nil)
    }

    /// `on_exceed: cut`: streams hold their running cost in the hour; the one that would take it
    /// past the limit is refused, the holds go when the streams end and their cost is recorded.
    @Test func streamsHoldTheirRunningCostInTheHour() {
        let agent = GovernanceScope.agent(tenant: "acme", agent: "bot")
        let guardian = RunawayGuard([
            RateLimit(scope: agent, spendPerHour: Money(nanos: 100, currency: "USD"), onExceed: .cut)
        ])
        #expect(guardian.cuts(bot))
        _ = guardian.record(Money(nanos: 30, currency: "USD"), for: bot)
        var first: Int64 = 0
        var second: Int64 = 0
        #expect(guardian.extend(&first, to: 40, currency: "USD", for: bot) == nil)
        #expect(guardian.extend(&second, to: 30, currency: "USD", for: bot) == nil)  // 30 spent + 40 + 30 held: 100
        let refusal = try? #require(guardian.extend(&second, to: 31, currency: "USD", for: bot))
        #expect(refusal?.spent == 30 && refusal?.reserved == 70 && second == 30)
        // The first ends below its hold: hold and cost change places under one lock.
        _ = guardian.record(Money(nanos: 35, currency: "USD"), for: bot, releasing: first)
        #expect(guardian.extend(&second, to: 35, currency: "USD", for: bot) == nil)  // 65 spent + 35 held
        #expect(guardian.extend(&second, to: 36, currency: "USD", for: bot) != nil)
        // A cost in another currency is not held against this limit.
        var euros: Int64 = 0
        #expect(guardian.extend(&euros, to: 1_000, currency: "EUR", for: bot) == nil)
        // The hour is full (65 spent, 35 held): a new request's first nano-unit does not fit.
        var third: Int64 = 0
        #expect(guardian.extend(&third, to: 1, currency: "USD", for: bot)?.budget.name == "spend_per_hour:\(agent)")
        let finishing = RunawayGuard([RateLimit(scope: agent, spendPerHour: Money(nanos: 100, currency: "USD"))])
        #expect(!finishing.cuts(bot))
    }

    @Test func spendOlderThanAnHourLeavesTheWindow() {
        let agent = GovernanceScope.agent(tenant: "acme", agent: "bot")
        let guardian = RunawayGuard([RateLimit(scope: agent, spendPerHour: Money(nanos: 100, currency: "USD"))])
        let start = UnixMicros(dateOrTimestamp: "2026-11-23T00:00:00Z")!
        func at(minutes: Int64) -> UnixMicros { UnixMicros(start.value + minutes * 60_000_000) }
        let usd = { (nanos: Int64) in Money(nanos: nanos, currency: "USD") }
        #expect(guardian.record(usd(60), for: bot, at: at(minutes: 0)).isEmpty)
        #expect(guardian.record(usd(40), for: bot, at: at(minutes: 59)).isEmpty)
        #expect(guardian.record(usd(1), for: bot, at: at(minutes: 59)).count == 1)  // 101 within the hour
        #expect(guardian.record(usd(1), for: bot, at: at(minutes: 60)).isEmpty)  // minute 0 has left: 42
        #expect(guardian.record(usd(5), for: bot, at: at(minutes: 200)).isEmpty)  // everything old is gone
    }
}

final class KillLog: Sendable {
    private let kills = Mutex<[KillSwitch]>([])
    func append(_ kill: KillSwitch) { kills.withLock { $0.append(kill) } }
    var all: [KillSwitch] { kills.withLock { $0 } }
}
