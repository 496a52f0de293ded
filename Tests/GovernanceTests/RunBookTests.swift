import Foundation
import SwitchyardCore
import Testing

@testable import Governance

/// The run rules, judged by `RunBook` with times given: duration, requests, cost and loops.
@Suite struct RunBookTests {
    static let run = GovernanceScope.run(tenant: "acme", run: "r1")
    static let start = UnixMicros(1_800_000_000_000_000)

    static func rules(_ configure: (inout Policy) -> Void) -> RunBook.Rules {
        var policy = Policy(name: "p", scope: .tenant("acme"))
        configure(&policy)
        return RunBook.Rules(EffectivePolicy(combining: [policy]))
    }

    static func at(seconds: Int64) -> UnixMicros { UnixMicros(start.value + seconds * 1_000_000) }

    /// A request of `run` with prompt `fingerprint`, answered when admitted: the verdict.
    static func send(
        _ book: RunBook, _ fingerprint: UInt64, _ rules: RunBook.Rules, at time: UnixMicros, run: GovernanceScope = run
    ) -> RunBook.Verdict {
        let verdict = book.admit(run, fingerprint: fingerprint, rules: rules, at: time)
        if case .admitted = verdict {
            _ = book.record(run, cost: Money(nanos: 0, currency: "USD"), fingerprint: fingerprint, answered: true, at: time)
        }
        return verdict
    }

    @Test func theNthRepeatWithinTheWindowLoopsAndOlderRepeatsDoNotCount() {
        let book = RunBook()
        let rules = Self.rules {
            $0.loopRepeats = 3; $0.loopWindow = .seconds(60)
        }
        #expect(Self.send(book, 7, rules, at: Self.at(seconds: 0)) == .admitted(loop: false))
        #expect(Self.send(book, 7, rules, at: Self.at(seconds: 10)) == .admitted(loop: false))
        #expect(Self.send(book, 8, rules, at: Self.at(seconds: 20)) == .admitted(loop: false))
        #expect(Self.send(book, 7, rules, at: Self.at(seconds: 30)) == .admitted(loop: true))
        // 100 s on, the repeats at 0, 10 and 30 s are out of the 60 s window.
        #expect(Self.send(book, 7, rules, at: Self.at(seconds: 100)) == .admitted(loop: false))
        // Another run with the same prompts is its own.
        let other = GovernanceScope.run(tenant: "globex", run: "r1")
        #expect(Self.send(book, 7, rules, at: Self.at(seconds: 100), run: other) == .admitted(loop: false))
        #expect(book.snapshot(Self.run)?.requests == 5)
        // Requests that were refused or failed (an SDK retries them as they were) are no repeats.
        let retried = GovernanceScope.run(tenant: "acme", run: "retried")
        for second in 0..<5 {
            #expect(
                book.admit(retried, fingerprint: 9, rules: rules, at: Self.at(seconds: Int64(second))) == .admitted(loop: false))
            _ = book.record(retried, cost: Money(nanos: 0, currency: "USD"), fingerprint: 9, answered: false)
        }
    }

    @Test func onLoopStopStopsTheLoopingRequestAndDoesNotCountIt() {
        let book = RunBook()
        let rules = Self.rules {
            $0.onLoop = .stop; $0.loopRepeats = 2
        }
        #expect(Self.send(book, 1, rules, at: Self.start) == .admitted(loop: false))
        guard case .stop(let reason, let loop) = book.admit(Self.run, fingerprint: 1, rules: rules, at: Self.start) else {
            Issue.record("the repeat was admitted")
            return
        }
        #expect(loop)
        #expect(reason.contains("on_loop: stop of policy 'p'"))
        #expect(book.snapshot(Self.run)?.requests == 1)
    }

    @Test func requestsDurationAndCostEachStopTheRun() {
        let book = RunBook()
        let requests = Self.rules { $0.maxRunRequests = 2 }
        #expect(book.admit(Self.run, fingerprint: nil, rules: requests, at: Self.start) == .admitted(loop: false))
        #expect(book.admit(Self.run, fingerprint: nil, rules: requests, at: Self.start) == .admitted(loop: false))
        guard case .stop(let reason, false) = book.admit(Self.run, fingerprint: nil, rules: requests, at: Self.start) else {
            Issue.record("a third request was admitted")
            return
        }
        #expect(reason.contains("max_run_requests"))

        let duration = Self.rules { $0.maxRunDuration = .seconds(3600) }
        let long = GovernanceScope.run(tenant: "acme", run: "long")
        #expect(book.admit(long, fingerprint: nil, rules: duration, at: Self.start) == .admitted(loop: false))
        #expect(book.admit(long, fingerprint: nil, rules: duration, at: Self.at(seconds: 3599)) == .admitted(loop: false))
        guard case .stop(let late, _) = book.admit(long, fingerprint: nil, rules: duration, at: Self.at(seconds: 3600)) else {
            Issue.record("a request after the run's hour was admitted")
            return
        }
        #expect(late.contains("1 h"))

        let cost = Self.rules { $0.maxRunCost = Money(nanos: 1_000, currency: "USD") }
        let dear = GovernanceScope.run(tenant: "acme", run: "dear")
        #expect(book.admit(dear, fingerprint: nil, rules: cost, at: Self.start) == .admitted(loop: false))
        #expect(book.record(dear, cost: Money(nanos: 5, currency: "EUR")) == nil)  // another currency is not added
        #expect(book.record(dear, cost: Money(nanos: 999, currency: "USD")) == nil)  // even when it came first
        #expect(book.admit(dear, fingerprint: nil, rules: cost, at: Self.start) == .admitted(loop: false))
        #expect(book.record(dear, cost: Money(nanos: 1, currency: "USD"))?.contains("max_run_cost") == true)
        guard case .stop = book.admit(dear, fingerprint: nil, rules: cost, at: Self.start) else {
            Issue.record("a request of a run past its cost was admitted")
            return
        }
    }

    @Test func theOtherReplicasShareCountsTowardsEveryRule() {
        let book = RunBook()
        let rules = Self.rules {
            $0.maxRunRequests = 10
            $0.maxRunCost = Money(nanos: 1_000, currency: "USD")
            $0.maxRunDuration = .seconds(600)
        }
        #expect(book.admit(Self.run, fingerprint: nil, rules: rules, at: Self.start) == .admitted(loop: false))
        #expect(book.active(since: Self.start) == [Self.run])
        #expect(book.active(since: Self.at(seconds: 1)).isEmpty)
        // Another replica sent 9 of the run's requests.
        book.apply([Self.run: RunShare(requests: 9)], read: [Self.run])
        guard case .stop(let requests, _) = book.admit(Self.run, fingerprint: nil, rules: rules, at: Self.start) else {
            Issue.record("the fleet's 11th request was admitted")
            return
        }
        #expect(requests.contains("max_run_requests"))
        // It spent most of the money: this replica's next cost takes the run past the cap.
        book.apply([Self.run: RunShare(requests: 0, costs: [Money(nanos: 900, currency: "USD")])], read: [Self.run])
        #expect(book.record(Self.run, cost: Money(nanos: 99, currency: "USD")) == nil)
        #expect(book.record(Self.run, cost: Money(nanos: 1, currency: "USD"))?.contains("0.000001000 USD") == true)
        // It began the run 10 minutes before this replica saw it.
        let late = GovernanceScope.run(tenant: "acme", run: "late")
        let timed = Self.rules { $0.maxRunDuration = .seconds(600) }
        #expect(book.admit(late, fingerprint: nil, rules: timed, at: Self.at(seconds: 600)) == .admitted(loop: false))
        book.apply([late: RunShare(startedAt: Self.start)], read: [late, Self.run])
        guard case .stop = book.admit(late, fingerprint: nil, rules: timed, at: Self.at(seconds: 601)) else {
            Issue.record("a run older than its duration elsewhere was admitted")
            return
        }
        // A run read with no share (the others have none) is back to its own figures.
        #expect(
            book.admit(Self.run, fingerprint: nil, rules: Self.rules { $0.maxRunRequests = 2 }, at: Self.start)
                == .admitted(loop: false))
    }

    @Test func theBookKeepsAtMostItsCapacityForgettingTheIdlest() {
        let book = RunBook(capacity: 10)
        let rules = Self.rules { _ in }
        for index in 0..<25 {
            _ = book.admit(
                .run(tenant: "acme", run: "r\(index)"), fingerprint: nil, rules: rules, at: Self.at(seconds: Int64(index)))
        }
        #expect(book.count <= 10)
        #expect(book.snapshot(.run(tenant: "acme", run: "r24")) != nil)
        #expect(book.snapshot(.run(tenant: "acme", run: "r0")) == nil)
    }

    @Test func aTenantNamingEndlessRunsForgetsOnlyItsOwn() {
        let book = RunBook(capacity: 100, perTenant: 10)
        let rules = Self.rules { $0.maxRunRequests = 1 }
        let victim = GovernanceScope.run(tenant: "globex", run: "long")
        #expect(book.admit(victim, fingerprint: nil, rules: rules, at: Self.start) == .admitted(loop: false))
        for index in 0..<500 {
            _ = book.admit(
                .run(tenant: "acme", run: "r\(index)"), fingerprint: nil, rules: rules, at: Self.at(seconds: Int64(index)))
        }
        #expect(book.count <= 11)
        // globex's run is remembered: its second request is still its second.
        guard case .stop = book.admit(victim, fingerprint: nil, rules: rules, at: Self.at(seconds: 600)) else {
            Issue.record("another tenant's flood made the run start over")
            return
        }
    }

    @Test func runScopesAndIdsReadBackAndRefuseWhatAHeaderCouldAbuse() {
        #expect(GovernanceScope("run:acme/nightly-1.2:a_b") == .run(tenant: "acme", run: "nightly-1.2:a_b"))
        #expect(GovernanceScope.run(tenant: "acme", run: "x").description == "run:acme/x")
        #expect(GovernanceScope("run:acme/has space") == nil)
        #expect(GovernanceScope("run:acme") == nil)
        // A tenant's name may hold '/', a run id may not: the last '/' divides them.
        #expect(GovernanceScope("run:org/team/r1") == .run(tenant: "org/team", run: "r1"))
        #expect(GovernanceScope.run(tenant: "org/team", run: "r1").description == "run:org/team/r1")
        #expect(GovernanceScope("run:/r1") == nil)
        #expect(!RunIdentity.isValid(String(repeating: "a", count: 129)))
        #expect(RunIdentity.isValid(String(repeating: "a", count: 128)))
        #expect(!RunIdentity.isValid(""))
        #expect(!RunIdentity.isValid("é"))
    }
}
