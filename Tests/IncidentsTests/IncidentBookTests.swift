import Incidents
import SwitchyardCore
import Synchronization
import Testing

/// The book's lifecycle over windows of real readings: open after `consecutive` windows, signals
/// sharing a cause merged, mitigation ordered and undone, resolution after `resolveAfter`.
@Suite struct IncidentBookTests {
    static let window: Int64 = 60_000_000

    struct Run {
        var detector: AnomalyDetector
        var book: IncidentBook
        var clock: Int64 = 1_800_000_000_000_000
        var ids = 0

        init(
            eject: Bool, shift: Bool = false, stopAgents: Bool = false,
            refusal: @escaping @Sendable (String, Set<String>) -> String? = { _, _ in nil }
        ) {
            var settings = DetectionSettings()
            settings.minimumHistory = 5
            var mitigation = MitigationSettings()
            mitigation.ejectDeployments = eject
            mitigation.shiftWeights = shift
            mitigation.ejectWindows = 2
            mitigation.stopAgents = stopAgents
            detector = AnomalyDetector(settings: settings)
            book = IncidentBook(
                settings: settings, mitigation: mitigation, windowMicros: IncidentBookTests.window, ejectionRefusal: refusal)
        }

        mutating func step(_ traffic: Traffic) -> (events: [IncidentEvent], orders: [MitigationOrder]) {
            clock += IncidentBookTests.window
            let readings = detector.observe(traffic.cells)
            var ids = self.ids
            defer { self.ids = ids }
            return book.advance(readings: readings, cells: traffic.cells, at: UnixMicros(clock)) {
                ids += 1
                return "inc_\(ids)"
            }
        }
    }

    static func opened(_ events: [IncidentEvent]) -> [Incident] {
        events.compactMap { if case .opened(let incident) = $0 { incident } else { nil } }
    }

    /// A slow deployment: nothing for two windows, then one incident on the third, caused by the
    /// deployment, with the route's, the provider's and the tenant's signals merged into it (they
    /// all concentrate there); its figures and scope; resolved three windows after it recovers.
    @Test func aSlowDeploymentOpensOneIncidentAndResolves() throws {
        var run = Run(eject: false)
        for _ in 0..<8 { _ = run.step(.steady()) }
        #expect(Self.opened(run.step(.steady(slow: "gpt-eu")).events).isEmpty)
        #expect(Self.opened(run.step(.steady(slow: "gpt-eu")).events).isEmpty)
        let third = run.step(.steady(slow: "gpt-eu"))
        let incident = try #require(Self.opened(third.events).first)
        #expect(Self.opened(third.events).count == 1)
        #expect(incident.causeKey == SeriesKey(.deployment, "gpt-eu"))
        #expect(incident.cause.contains("provider-side degradation on deployment gpt-eu"))
        let series = Set(incident.signals.map(\.series))
        #expect(series.contains(SeriesKey(.deployment, "gpt-eu")) && series.contains(SeriesKey(.route, "chat")))
        #expect(!series.contains(SeriesKey(.deployment, "claude")))
        #expect(incident.tenants == ["acme"] && incident.routes == ["chat"] && incident.costNanos == 20_000)
        // Opened at the first deviating window, not the third.
        #expect(incident.openedAt.value == run.clock - 2 * Self.window)
        #expect(third.orders.isEmpty)
        for _ in 0..<2 { #expect(run.step(.steady()).events.allSatisfy { if case .resolved = $0 { false } else { true } }) }
        let resolved = run.step(.steady()).events.compactMap { if case .resolved(let incident) = $0 { incident } else { nil } }
        #expect(resolved.map(\.id) == [incident.id])
        #expect(run.book.open.isEmpty)
    }

    /// With ejection on: the deployment is ejected when the incident opens, readmitted after two
    /// windows to see, ejected again while it still deviates, and readmitted for good when the
    /// incident resolves, the ejections marked undone.
    @Test func mitigationEjectsReadmitsAndIsUndoneOnResolution() throws {
        var run = Run(eject: true)
        for _ in 0..<8 { _ = run.step(.steady()) }
        _ = run.step(.steady(slow: "gpt-eu"))
        _ = run.step(.steady(slow: "gpt-eu"))
        let opened = run.step(.steady(slow: "gpt-eu"))
        let id = try #require(Self.opened(opened.events).first?.id)
        #expect(opened.orders == [.eject(deployment: "gpt-eu", incident: id)])
        #expect(run.book.ejectedDeployments == ["gpt-eu"])
        // Ejected: no traffic reaches it.
        var without = Traffic.steady()
        without.cells = without.cells.filter { $0.key.deployment != "gpt-eu" }
        #expect(run.step(without).orders.isEmpty)
        #expect(run.step(without).orders == [.readmit(deployment: "gpt-eu", incident: id)])
        // Still slow once readmitted: ejected again.
        #expect(run.step(.steady(slow: "gpt-eu")).orders == [.eject(deployment: "gpt-eu", incident: id)])
        _ = run.step(without)
        #expect(run.step(without).orders == [.readmit(deployment: "gpt-eu", incident: id)])
        // Recovered: three windows in band, resolved.
        var resolved: Incident?
        for _ in 0..<3 {
            for event in run.step(.steady()).events { if case .resolved(let incident) = event { resolved = incident } }
        }
        let incident = try #require(resolved)
        #expect(incident.mitigations.map(\.action) == ["eject", "eject"])
        #expect(incident.mitigations.allSatisfy { $0.undoneAt != nil })
        #expect(run.book.ejectedDeployments.isEmpty)
    }

    /// Traffic moved by the incident (acme's claude share landing on gpt-us) joins it as signals,
    /// and stays out of band after the slow deployment recovers; the incident resolves on its
    /// cause's signals all the same, three windows after recovery.
    @Test func trafficMovedByAnIncidentDoesNotHoldItOpen() throws {
        func moved(slow: String?) -> Traffic {
            var traffic = Traffic()
            traffic.add(20, deployment: "gpt-eu", latencyMillis: slow == "gpt-eu" ? 3_000 : 100)
            traffic.add(20, deployment: "gpt-us", tenant: "globex")
            traffic.add(20, deployment: "gpt-us")
            return traffic
        }
        var run = Run(eject: false)
        for _ in 0..<8 { _ = run.step(.steady()) }
        for _ in 0..<3 { _ = run.step(.steady(slow: "gpt-eu")) }
        let incident = try #require(run.book.open.first)
        for _ in 0..<3 { _ = run.step(moved(slow: "gpt-eu")) }
        let moving = try #require(run.book.open.first { $0.id == incident.id })
        #expect(moving.signals.contains { $0.series == SeriesKey(.deployment, "gpt-us") && $0.metric == .requests })
        var resolved: [String] = []
        for _ in 0..<3 {
            for case .resolved(let incident) in run.step(moved(slow: nil)).events { resolved.append(incident.id) }
        }
        #expect(resolved.contains(incident.id))
    }

    /// shift_weight: the same decision and orders as an ejection (the watcher applies them as a
    /// shift of traffic), named for what it does.
    @Test func aShiftOfWeightFollowsTheEjectionRules() throws {
        var run = Run(eject: false, shift: true)
        for _ in 0..<8 { _ = run.step(.steady()) }
        _ = run.step(.steady(slow: "gpt-eu"))
        _ = run.step(.steady(slow: "gpt-eu"))
        let opened = run.step(.steady(slow: "gpt-eu"))
        let incident = try #require(Self.opened(opened.events).first)
        #expect(opened.orders == [.eject(deployment: "gpt-eu", incident: incident.id)])
        #expect(incident.mitigations.map(\.action) == ["shift_weight"])
        var neither = Run(eject: false)
        for _ in 0..<8 { _ = neither.step(.steady()) }
        for _ in 0..<3 { #expect(neither.step(.steady(slow: "gpt-eu")).orders.isEmpty) }
    }

    /// A deployment that may not be ejected (the last of a route's): the refusal is recorded
    /// once and nothing is ordered; an ejection undone by hand readmits and is not repeated.
    @Test func refusedAndUndoneMitigations() throws {
        var refused = Run(
            eject: true, refusal: { deployment, _ in "the last deployment of route \(deployment == "gpt-eu" ? "chat" : "?")" })
        for _ in 0..<8 { _ = refused.step(.steady()) }
        for _ in 0..<4 { #expect(refused.step(.steady(slow: "gpt-eu")).orders.isEmpty) }
        let incident = try #require(refused.book.open.first)
        #expect(incident.mitigations.count == 1 && incident.mitigations.first?.refused == "the last deployment of route chat")

        var undone = Run(eject: true)
        for _ in 0..<8 { _ = undone.step(.steady()) }
        for _ in 0..<3 { _ = undone.step(.steady(slow: "gpt-eu")) }
        let id = try #require(undone.book.open.first?.id)
        let undoing = undone.book.undoMitigation(of: id, at: UnixMicros(undone.clock))
        let (held, orders) = try #require(undoing)
        #expect(orders == [.readmit(deployment: "gpt-eu", incident: id)])
        #expect(held.mitigations.allSatisfy { $0.undoneAt != nil })
        for _ in 0..<4 { #expect(undone.step(.steady(slow: "gpt-eu")).orders.isEmpty) }
        let none = undone.book.undoMitigation(of: "inc_none", at: UnixMicros(0))
        #expect(none == nil)
    }

    /// One tenant's slow requests (7 of a deployment's 27, 58 % of its slow ones: under the 60 %
    /// that would make the incident the tenant's) make the deployment deviate; ejecting it would
    /// punish the others, so the refusal says whose they are. Two deployments degrading in one window: the book hands its own ejections to the
    /// refusal check, so the second sees the first (the monitor does not know it yet).
    @Test func aTenantsSlowRequestsAndASecondEjectionAreRefused() throws {
        var run = Run(eject: true)
        func traffic(slowTenant: Bool) -> Traffic {
            var traffic = Traffic()
            for deployment in ["gpt-us", "claude"] {
                traffic.add(20, deployment: deployment, provider: deployment == "claude" ? "anthropic" : "openai")
            }
            traffic.add(slowTenant ? 15 : 20, deployment: "gpt-eu")
            if slowTenant { traffic.add(5, deployment: "gpt-eu", latencyMillis: 9_000) }
            traffic.add(7, deployment: "gpt-eu", tenant: "initech", latencyMillis: slowTenant ? 9_000 : 100)
            return traffic
        }
        for _ in 0..<8 { _ = run.step(traffic(slowTenant: false)) }
        for _ in 0..<4 { #expect(run.step(traffic(slowTenant: true)).orders.isEmpty) }
        let incident = try #require(run.book.open.first { $0.causeKey == SeriesKey(.deployment, "gpt-eu") })
        #expect(incident.mitigations.first?.refused?.contains("tenant initech's requests") == true, "\(incident.mitigations)")

        let seen = Mutex<[Set<String>]>([])
        var two = Run(
            eject: true,
            refusal: { deployment, ejected in
                seen.withLock { $0.append(ejected) }
                return ejected.isEmpty ? nil : "not ejected: \(deployment) would be the last"
            })
        for _ in 0..<8 { _ = two.step(.steady()) }
        // Two deployments of two providers: a deployment's incident each.
        var both = Traffic()
        both.add(20, deployment: "gpt-eu", latencyMillis: 3_000)
        both.add(20, deployment: "claude", provider: "anthropic", latencyMillis: 3_000)
        both.add(20, deployment: "gpt-us")
        var orders: [MitigationOrder] = []
        for _ in 0..<3 { orders += two.step(both).orders }
        #expect(orders.count == 1, "\(orders)")
        #expect(seen.withLock { $0.contains { !$0.isEmpty } })
    }

    /// A runaway agent: its own requests surge, the incident is the agent's and its kill switch is
    /// ordered, once; the agent gone quiet for a whole history, the incident resolves and the
    /// switch is released. A deployment is never ejected for it.
    @Test func aRunawayAgentIsStoppedAndReleased() throws {
        var run = Run(eject: true, stopAgents: true)
        func traffic(agentRequests: Int) -> Traffic {
            var traffic = Traffic.steady()
            if agentRequests > 0 { traffic.add(agentRequests, deployment: "gpt-us", tenant: "globex", agent: "nightly") }
            return traffic
        }
        for _ in 0..<8 { _ = run.step(traffic(agentRequests: 5)) }
        var orders: [MitigationOrder] = []
        for _ in 0..<4 { orders += run.step(traffic(agentRequests: 200)).orders }
        let incident = try #require(run.book.open.first { $0.causeKey == SeriesKey(.agent, "globex/nightly") })
        #expect(orders == [.stopAgent(tenant: "globex", agent: "nightly", incident: incident.id)])
        #expect(incident.mitigations.map(\.target) == ["agent:globex/nightly"])
        var released: [MitigationOrder] = []
        for _ in 0..<31 { released += run.step(traffic(agentRequests: 0)).orders }
        #expect(released == [.releaseAgent(tenant: "globex", agent: "nightly", incident: incident.id)])
        #expect(run.book.open.isEmpty)
    }

    /// A tenant whose own traffic surges: a request-rate incident caused by the tenant, with no
    /// mitigation (ejecting a deployment would not help).
    @Test func aTenantSurgeIsTheTenants() throws {
        var run = Run(eject: true)
        for _ in 0..<8 { _ = run.step(.steady()) }
        var surge = Traffic.steady()
        surge.add(200, deployment: "gpt-us", tenant: "globex")
        for _ in 0..<3 { _ = run.step(surge) }
        let incident = try #require(run.book.open.first { $0.signals.contains { $0.metric == .requests } })
        #expect(incident.causeKey == SeriesKey(.tenant, "globex"))
        #expect(incident.cause.contains("tenant globex"))
        // The route's, the deployment's and the provider's rises are the same surge.
        #expect(run.book.open.count == 1)
        #expect(
            Set(incident.signals.map(\.series)).isSuperset(of: [SeriesKey(.route, "chat"), SeriesKey(.deployment, "gpt-us")]))
        #expect(run.book.ejectedDeployments.isEmpty)
    }
}
