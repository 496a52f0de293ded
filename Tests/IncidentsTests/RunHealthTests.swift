import Incidents
import SwitchyardCore
import Testing

@Suite struct RunHealthTests {
    let key = RunKey(tenant: "acme", run: "nightly-42")

    static func activity(
        requests: Int = 4, answered: Int? = nil, loops: Int = 0, cost: Int64 = 1_000, failed: Int = 0
    ) -> RunActivity {
        var activity = RunActivity(agent: "triage")
        activity.requests = requests
        activity.answered = answered ?? requests
        activity.loops = loops
        activity.costNanos = cost
        activity.failedUpstream = failed
        return activity
    }

    /// Runs `windows` through a fresh detector; the events of each window.
    func run(
        _ windows: [RunActivity?], settings: RunHealth.Settings = RunHealth.Settings()
    ) -> [(events: [RunHealth.Event], orders: [RunHealth.Order])] {
        var health = RunHealth(settings: settings)
        var ids = 0
        return windows.enumerated().map { index, window in
            health.advance(window.map { [key: $0] } ?? [:], at: UnixMicros(Int64(index) * 60_000_000)) {
                ids += 1
                return "inc_\(ids)"
            }
        }
    }

    static func opened(_ step: (events: [RunHealth.Event], orders: [RunHealth.Order])) -> IncidentDocument? {
        step.events.compactMap { if case .opened(let document) = $0 { document } else { nil } }.first
    }

    static func resolved(_ step: (events: [RunHealth.Event], orders: [RunHealth.Order])) -> IncidentDocument? {
        step.events.compactMap { if case .resolved(let document) = $0 { document } else { nil } }.first
    }

    @Test func aLoopOpensAtOnceAndResolvesWhenQuiet() {
        let steps = run([Self.activity(), Self.activity(loops: 2), Self.activity(), Self.activity(), Self.activity()])
        #expect(Self.opened(steps[0]) == nil)
        let document = try! #require(Self.opened(steps[1]))
        #expect(document.causeKey == "run=acme/nightly-42" && document.kind == "run")
        #expect(document.agents == ["acme/triage"] && document.tenants == ["acme"])
        #expect(
            document.summary
                == "run acme/nightly-42 of agent acme/triage: loops: 2 requests repeated an earlier prompt of the run")
        #expect(Self.resolved(steps[3]) == nil)
        #expect(Self.resolved(steps[4])?.id == document.id)
    }

    /// Stalled: its providers answer nothing for three windows in a row; what the gateway refused
    /// (a kill switch, a bad request) is not the run stalling, and such a run is not even followed.
    @Test func aRunThatGetsNoAnswersStalls() {
        let failing = Self.activity(requests: 5, answered: 0, cost: 0, failed: 5)
        let steps = run([failing, failing, failing])
        #expect(Self.opened(steps[1]) == nil)
        #expect(Self.opened(steps[2])?.signals.map(\.summary) == ["stalled: 15 requests over 3 windows, none answered"])
        let refused = Self.activity(requests: 5, answered: 0, cost: 0)
        #expect(run([refused, refused, refused, refused]).allSatisfy { $0.events.isEmpty })
        var health = RunHealth()
        _ = health.advance([key: refused], at: UnixMicros(0)) { "inc" }
        #expect(health.openCount == 0)
        // One answered window breaks the streak.
        #expect(run([failing, failing, Self.activity(), failing, failing]).allSatisfy { $0.events.isEmpty })
    }

    /// Cost accelerating: rising three windows in a row to at least twice the median of the
    /// earlier windows; a rise of a few percent a window (a context growing) is not.
    @Test func costAccelerationNeedsARunOfRisesToTwiceTheMedian() {
        let base = Array(repeating: Self.activity(cost: 1_000) as RunActivity?, count: 4)
        let doubling = base + [Self.activity(cost: 1_500), Self.activity(cost: 2_200), Self.activity(cost: 4_000)]
        let steps = run(doubling)
        #expect(steps.dropLast().allSatisfy { $0.events.isEmpty })
        let document = try! #require(Self.opened(steps[6]))
        #expect(
            document.signals.map(\.summary) == [
                "cost accelerating: 0.000004000 this window vs 0.000001000 median, rising 3 windows in a row"
            ])
        let creeping = base + [Self.activity(cost: 1_100), Self.activity(cost: 1_200), Self.activity(cost: 1_300)]
        #expect(run(creeping).allSatisfy { $0.events.isEmpty })
        // A young run whose context grows step by step: its own rise is not its baseline.
        let growing = (1...8).map { Self.activity(cost: Int64($0) * 1_000) as RunActivity? }
        #expect(run(growing).allSatisfy { $0.events.isEmpty })
    }

    /// A stopped run whose client keeps calling (refused, so no pattern shows) stays stopped:
    /// resolved and released only once it has been idle.
    @Test func aStoppedRunIsReleasedOnlyWhenIdle() {
        var settings = RunHealth.Settings()
        settings.stopRuns = true
        let refused = Self.activity(requests: 6, answered: 0, cost: 0)
        let steps = run([Self.activity(loops: 1), refused, refused, refused, refused, nil, nil, nil], settings: settings)
        #expect(steps[1...4].allSatisfy { $0.orders.isEmpty && Self.resolved($0) == nil })
        #expect(steps[5...6].allSatisfy { Self.resolved($0) == nil })
        #expect(steps[7].orders == [.releaseRun(tenant: "acme", run: "nightly-42", incident: "inc_1")])
    }

    /// A stop the watcher could not take (the run was already stopped) is recorded as refused,
    /// and neither taken again nor released.
    @Test func aStopNotTakenIsRecordedAsRefused() throws {
        var settings = RunHealth.Settings()
        settings.stopRuns = true
        var health = RunHealth(settings: settings)
        _ = health.advance([key: Self.activity(loops: 1)], at: UnixMicros(0)) { "inc_1" }
        let notTaken = health.stopNotTaken(incident: "inc_1", reason: "already stopped")
        let document = try #require(notTaken)
        #expect(document.mitigations.map(\.refused) == ["already stopped"])
        #expect(health.advance([key: Self.activity(loops: 1)], at: UnixMicros(1)) { "inc_2" }.orders.isEmpty)
        var releases: [RunHealth.Order] = []
        for index in 2..<6 { releases += health.advance([:], at: UnixMicros(Int64(index))) { "inc" }.orders }
        #expect(releases.isEmpty)
    }

    /// With stop_run, a loop engages the run's kill switch, released when the incident resolves;
    /// without it, nothing is stopped.
    @Test func stopRunStopsAndReleases() {
        var settings = RunHealth.Settings()
        settings.stopRuns = true
        let windows: [RunActivity?] = [Self.activity(loops: 1), nil, nil, nil]
        let steps = run(windows, settings: settings)
        #expect(steps[0].orders == [.stopRun(tenant: "acme", run: "nightly-42", incident: "inc_1")])
        #expect(Self.opened(steps[0])?.mitigations.map(\.action) == ["stop_run"])
        #expect(steps[3].orders == [.releaseRun(tenant: "acme", run: "nightly-42", incident: "inc_1")])
        #expect(Self.resolved(steps[3])?.mitigations.first?.undoneAt != nil)
        #expect(run(windows).allSatisfy { $0.orders.isEmpty })
    }

    /// Undone by hand: the switch is released and not engaged again while the incident is open.
    @Test func anUndoneStopIsNotTakenAgain() throws {
        var settings = RunHealth.Settings()
        settings.stopRuns = true
        var health = RunHealth(settings: settings)
        let looping = [key: Self.activity(loops: 1)]
        let first = health.advance(looping, at: UnixMicros(0)) { "inc_1" }
        #expect(first.orders == [.stopRun(tenant: "acme", run: "nightly-42", incident: "inc_1")])
        let undone = health.undoMitigation(of: "inc_1", at: UnixMicros(1))
        let (document, orders) = try #require(undone)
        #expect(orders == [.releaseRun(tenant: "acme", run: "nightly-42", incident: "inc_1")])
        #expect(document.mitigations.allSatisfy { $0.undoneAt != nil })
        #expect(health.advance(looping, at: UnixMicros(2)) { "inc_2" }.orders.isEmpty)
        let unknown = health.undoMitigation(of: "inc_9", at: UnixMicros(3))
        #expect(unknown == nil)
    }
}
