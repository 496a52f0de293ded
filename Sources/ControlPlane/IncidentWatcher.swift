import DataPlane
import Incidents
import Logging
import Routing
import ServiceLifecycle
import Storage
import SwitchyardConfig
import SwitchyardCore
import Synchronization

/// Finds incidents in this replica's traffic, once per `incidents.window`: takes the window's
/// cells from the data plane's `TrafficRecorder`, reads every series against its band, and lets
/// the `IncidentBook` open, merge, update and resolve incidents. What changed is stored with its
/// audit entries; openings, notable updates and resolutions go to `governance.alert_webhook` and
/// the log; ejections are applied to the deployment monitor (and undone). All off the request
/// path: the request path only added to a cell.
public final class IncidentWatcher: Service, Sendable {
    private let gateway: Gateway
    private let traffic: TrafficRecorder
    private let window: Duration
    private let state: Mutex<(detector: AnomalyDetector, book: IncidentBook, runs: RunHealth)>
    /// What the store has not taken yet: the latest row of each incident, and audit entries.
    private let unsaved = Mutex<(rows: [String: StoredIncident], audit: [AuditEntry])>(([:], []))
    private let droppedRequests = Atomic<Int64>(0)
    /// `incidents.clock: manual`: the time of the last window closed by `advance(windows:)`;
    /// windows then close only when a test or a drill says, however long that takes.
    private let manualClock: Mutex<UnixMicros?>
    /// Agents' kill switches this watcher engaged (only those are released).
    private let stoppedByIncidents = Mutex<Set<GovernanceScope>>([])
    /// The webhook's posts in order: the last window's, which the next waits for.
    private let lastAnnouncement = Mutex<Task<Void, Never>?>(nil)
    private let pendingPosts = Atomic<Int>(0)
    private let droppedPosts = Atomic<Int>(0)
    static let maximumPendingPosts = 1_000
    static let unsavedRowLimit = 1_000
    static let unsavedAuditLimit = 10_000

    /// nil when detection is off (`incidents.enabled: false`).
    public init?(gateway: Gateway) {
        guard let traffic = gateway.traffic else { return nil }
        let file = gateway.configuration.incidents
        var settings = DetectionSettings()
        settings.sensitivity = file.sensitivity
        settings.consecutive = file.consecutive
        settings.resolveAfter = file.resolveAfter
        settings.minimumRequests = file.minimumRequests
        settings.history = file.history
        var mitigation = MitigationSettings()
        mitigation.ejectDeployments = file.ejectDeployments
        mitigation.shiftWeights = file.shiftWeights
        mitigation.ejectWindows = file.ejectWindows
        mitigation.stopAgents = file.stopAgents
        var runHealth = RunHealth.Settings()
        runHealth.consecutive = file.consecutive
        runHealth.resolveAfter = file.resolveAfter
        runHealth.history = file.history
        runHealth.stopRuns = file.stopRuns
        let routes = gateway.configuration.routes
        let monitor = gateway.monitor
        self.gateway = gateway
        self.traffic = traffic
        self.window = file.window
        self.manualClock = Mutex(file.manualClock ? UnixMicros.now() : nil)
        self.state = Mutex(
            (
                AnomalyDetector(settings: settings),
                IncidentBook(
                    settings: settings, mitigation: mitigation, windowMicros: Int64(file.window.microseconds),
                    ejectionRefusal: { deployment, ejected in
                        Self.ejectionRefusal(deployment, routes: routes, monitor: monitor, ejected: ejected)
                    }),
                RunHealth(settings: runHealth)
            ))
    }

    /// A deployment is never ejected from a route it would leave with nothing else to serve it:
    /// the others must be available, and not ejected by the book (this window's ejections are
    /// not yet on the monitor).
    static func ejectionRefusal(
        _ deployment: String, routes: [Route], monitor: DeploymentMonitor, ejected: Set<String>
    ) -> String? {
        for route in routes where route.targets.contains(where: { $0.deployment == deployment }) {
            let others = route.targets.filter {
                $0.deployment != deployment && !ejected.contains($0.deployment)
                    && monitor.snapshot($0.deployment)?.unavailability == nil
            }
            if others.isEmpty { return "not ejected: the only available deployment of route \(route.name)" }
        }
        return nil
    }

    public func run() async throws {
        guard manualClock.withLock({ $0 }) == nil else { return try await gracefulShutdown() }
        try? await cancelWhenGracefulShutdown {
            // On a fixed cadence, not a sleep after each tick: a slow tick must not lengthen the
            // next window (its volume would read as a surge).
            var next = ContinuousClock.now + self.window
            while true {
                try await Task.sleep(until: next, clock: .continuous)
                next += self.window
                await self.tick()
            }
        }
    }

    /// Closes `windows` windows on the manual clock, each one `window` after the last (the
    /// traffic since the previous close is the first one's); the clock after them. nil when the
    /// clock is the wall's.
    public func advance(windows: Int) async -> UnixMicros? {
        guard manualClock.withLock({ $0 }) != nil else { return nil }
        for _ in 0..<windows {
            let now = manualClock.withLock { clock -> UnixMicros in
                let next = UnixMicros((clock?.value ?? 0) + Int64(window.microseconds))
                clock = next
                return next
            }
            await tick(at: now)
        }
        return manualClock.withLock { $0 }
    }

    /// One window: detection, then what it asks for done.
    func tick(at now: UnixMicros = .now()) async {
        let (cells, runs, dropped) = traffic.harvest()
        let (events, runEvents, counts) = state.withLock { state in
            let readings = state.detector.observe(cells)
            let newID = { "inc_" + RandomIdentifier.base62(count: 16) }
            let (events, orders) = state.book.advance(readings: readings, cells: cells, at: now, newID: newID)
            var (runEvents, runOrders) = state.runs.advance(runs, at: now, newID: newID)
            // Under the lock: an undo must not be overtaken by an ejection decided before it.
            apply(orders)
            for (incident, reason) in apply(runOrders) {
                guard let document = state.runs.stopNotTaken(incident: incident, reason: reason) else { continue }
                runEvents = runEvents.map { event in
                    switch event {
                    case .opened(let old) where old.id == incident: .opened(document)
                    case .updated(let old, let notable) where old.id == incident: .updated(document, notable: notable)
                    default: event
                    }
                }
            }
            runOrders = []
            return (
                events, runEvents,
                (
                    open: state.book.open.count + state.runs.openCount, series: state.detector.seriesCount,
                    refusedSeries: state.detector.seriesRefused,
                    refusedIncidents: state.book.refused, refusedRuns: state.runs.refused
                )
            )
        }
        droppedRequests.add(Int64(dropped), ordering: .relaxed)
        let metrics = gateway.metrics
        metrics.set("switchyard_incidents_open", help: "Incidents open now (this replica's detection).", to: Int64(counts.open))
        metrics.set("switchyard_incident_series", help: "Series kept for incident detection now.", to: Int64(counts.series))
        for (what, count) in [
            ("requests", droppedRequests.load(ordering: .relaxed)), ("series", Int64(counts.refusedSeries)),
            ("incidents", Int64(counts.refusedIncidents)), ("runs", Int64(counts.refusedRuns)),
            ("webhook_posts", Int64(droppedPosts.load(ordering: .relaxed))),
        ] {
            metrics.set(
                "switchyard_incident_detection_refused_total",
                help:
                    "Past incident detection's caps since start: requests past a window's 10,000 combinations, series past the cap, incidents past 100 open, run windows past the runs followed (10,000; 1,000 a tenant) or run incidents past 100 open, webhook posts past 1,000 waiting.",
                kind: .counter, labels: [("what", what)], to: count)
        }
        await record(events, at: now)
        await record(runEvents, at: now)
    }

    /// Ends an incident's mitigation by hand (this replica's); nil when no open incident has that id.
    /// Ends an incident's mitigation by hand (this replica's): a traffic incident's ejections or
    /// shifts and agent stops, or a run incident's stop. Its JSON; nil when no open incident of
    /// this replica has that id.
    public func undoMitigation(of id: String, principal: String) async -> String? {
        let now = UnixMicros.now()
        let undone = state.withLock { state -> StoredIncident? in
            if let (incident, orders) = state.book.undoMitigation(of: id, at: now) {
                apply(orders)
                return Self.stored(incident)
            }
            if let (document, orders) = state.runs.undoMitigation(of: id, at: now) {
                apply(orders)
                return Self.stored(document)
            }
            return nil
        }
        guard let incident = undone else { return nil }
        let entry = AuditEntry(
            principal: principal, action: "incident.mitigation_undone", target: incident.id, tenant: nil,
            detail: incident.summary)
        await save([incident], audit: [entry])
        return incident.detail
    }

    private func apply(_ orders: [MitigationOrder]) {
        for order in orders {
            switch order {
            case .eject(let deployment, let incident) where gateway.configuration.incidents.shiftWeights:
                gateway.monitor.setDemoted(true, deployment: deployment)
                gateway.logger.warning(
                    "incident mitigation: traffic shifted away from a deployment",
                    metadata: ["deployment": "\(deployment)", "incident": "\(incident)"])
            case .readmit(let deployment, let incident) where gateway.configuration.incidents.shiftWeights:
                gateway.monitor.setDemoted(false, deployment: deployment)
                gateway.logger.notice(
                    "incident mitigation: traffic shifted back to a deployment",
                    metadata: ["deployment": "\(deployment)", "incident": "\(incident)"])
            case .eject(let deployment, let incident):
                gateway.monitor.setEjected(true, deployment: deployment)
                gateway.logger.warning(
                    "incident mitigation: deployment ejected",
                    metadata: ["deployment": "\(deployment)", "incident": "\(incident)"])
            case .readmit(let deployment, let incident):
                gateway.monitor.setEjected(false, deployment: deployment)
                gateway.logger.notice(
                    "incident mitigation: deployment readmitted",
                    metadata: ["deployment": "\(deployment)", "incident": "\(incident)"])
            case .stopAgent(let tenant, let agent, let incident):
                stop(.agent(tenant: tenant, agent: agent), incident: incident, because: "the agent's requests or cost surged")
            case .releaseAgent(let tenant, let agent, let incident):
                release(.agent(tenant: tenant, agent: agent), incident: incident)
            }
        }
    }

    /// Applies a run incident's orders; the stops not taken (the run was already stopped), with why.
    @discardableResult
    private func apply(_ orders: [RunHealth.Order]) -> [(incident: String, reason: String)] {
        var notTaken: [(String, String)] = []
        for order in orders {
            switch order {
            case .stopRun(let tenant, let run, let incident):
                if let reason = stop(
                    .run(tenant: tenant, run: run), incident: incident, because: "the run loops or its cost accelerates")
                {
                    notTaken.append((incident, reason))
                }
            case .releaseRun(let tenant, let run, let incident):
                release(.run(tenant: tenant, run: run), incident: incident)
            }
        }
        return notTaken
    }

    /// An agent's or a run's kill switch, engaged here at once and stored for the other replicas.
    /// One already engaged (by an operator) is left as it is, and is not released later.
    /// Why not, when the scope was already stopped.
    @discardableResult
    private func stop(_ scope: GovernanceScope, incident: String, because reason: String) -> String? {
        if let stopping = gateway.governor.kills.stoppingScope(scope) {
            return "not stopped here: \(stopping.scope) was already stopped by \(stopping.engagedBy)"
        }
        let kill = KillSwitch(scope: scope, reason: "incident \(incident): \(reason)", engagedBy: "switchyard")
        gateway.governor.kills.engage(kill)
        stoppedByIncidents.withLock { _ = $0.insert(scope) }
        gateway.logger.warning(
            "incident mitigation: kill switch engaged", metadata: ["scope": "\(scope)", "incident": "\(incident)"])
        storeForTheFleet("store an incident's kill switch") { try await $0.engageKillSwitch(kill, principal: "switchyard") }
        return nil
    }

    private func release(_ scope: GovernanceScope, incident: String) {
        guard stoppedByIncidents.withLock({ $0.remove(scope) }) != nil else { return }
        gateway.governor.kills.release(scope)
        gateway.logger.notice(
            "incident mitigation: kill switch released", metadata: ["scope": "\(scope)", "incident": "\(incident)"])
        storeForTheFleet("release an incident's kill switch") {
            try await $0.releaseKillSwitch(scope, principal: "switchyard")
        }
    }

    /// A kill-switch change written for the other replicas from a task of its own: it is in
    /// force here already, and the caller holds the detection lock.
    private func storeForTheFleet(_ what: String, _ write: @escaping @Sendable (SQLStore) async throws -> Void) {
        let (store, logger) = (gateway.store, gateway.logger)
        Task {
            do {
                try await write(store)
            } catch {
                logger.error("could not \(what)", metadata: ["error": "\(error)"])
            }
        }
    }

    private func record(_ events: [RunHealth.Event], at now: UnixMicros) async {
        var stored: [StoredIncident] = []
        var audit: [AuditEntry] = []
        var announcements: [String] = []
        for event in events {
            let (type, document, notable): (String, IncidentDocument, Bool) =
                switch event {
                case .opened(let document): ("incident.opened", document, true)
                case .updated(let document, let notable): ("incident.updated", document, notable)
                case .resolved(let document): ("incident.resolved", document, true)
                }
            stored.append(Self.stored(document))
            guard notable else { continue }
            audit.append(
                AuditEntry(
                    time: now, principal: "switchyard", action: type, target: document.id, tenant: document.tenants.first,
                    after: document.mitigations.isEmpty ? nil : document.json(), detail: document.summary))
            announcements.append(document.json(type: type))
            if type != "incident.updated" {
                gateway.logger.warning(
                    "\(type == "incident.opened" ? "incident opened" : "incident resolved")",
                    metadata: ["incident": "\(document.id)", "summary": "\(document.summary)"])
            }
        }
        await save(stored, audit: audit)
        announce(announcements)
    }

    /// Posts incidents' JSON to `governance.alert_webhook`, off the tick (a slow receiver must not
    /// hold detection) and in order: each window's posts wait for the last window's. Past
    /// `maximumPendingPosts` waiting, a window's posts are dropped and counted.
    private func announce(_ bodies: [String]) {
        guard let webhook = gateway.configuration.governance.alertWebhook, !bodies.isEmpty else { return }
        guard pendingPosts.add(bodies.count, ordering: .relaxed).newValue <= Self.maximumPendingPosts else {
            pendingPosts.subtract(bodies.count, ordering: .relaxed)
            droppedPosts.add(bodies.count, ordering: .relaxed)
            gateway.logger.warning(
                "incident webhook posts dropped: the receiver is too slow", metadata: ["posts": "\(bodies.count)"])
            return
        }
        let (transport, logger) = (gateway.transport, gateway.logger)
        lastAnnouncement.withLock { last in
            let previous = last
            last = Task {
                await previous?.value
                for body in bodies {
                    await GovernanceSetup.post(Array(body.utf8), to: webhook, transport: transport, logger: logger)
                    self.pendingPosts.subtract(1, ordering: .relaxed)
                }
            }
        }
    }

    static func stored(_ document: IncidentDocument) -> StoredIncident {
        StoredIncident(
            id: document.id, status: document.status, openedAt: document.openedAt, updatedAt: document.updatedAt,
            resolvedAt: document.resolvedAt, causeKey: document.causeKey, summary: document.summary, detail: document.json())
    }

    private func record(_ events: [IncidentEvent], at now: UnixMicros) async {
        var stored: [StoredIncident] = []
        var audit: [AuditEntry] = []
        var announcements: [String] = []
        for event in events {
            switch event {
            case .opened(let incident):
                stored.append(Self.stored(incident))
                audit.append(Self.audit("incident.opened", incident, at: now))
                announcements.append(incident.json(type: "incident.opened"))
                gateway.logger.warning(
                    "incident opened", metadata: ["incident": "\(incident.id)", "summary": "\(incident.summary)"])
            case .updated(let incident, let notable):
                stored.append(Self.stored(incident))
                if notable {
                    audit.append(Self.audit("incident.updated", incident, at: now))
                    announcements.append(incident.json(type: "incident.updated"))
                }
            case .resolved(let incident):
                stored.append(Self.stored(incident))
                audit.append(Self.audit("incident.resolved", incident, at: now))
                announcements.append(incident.json(type: "incident.resolved"))
                gateway.logger.notice(
                    "incident resolved", metadata: ["incident": "\(incident.id)", "summary": "\(incident.summary)"])
            }
        }
        await save(stored, audit: audit)
        announce(announcements)
    }

    /// Stores what changed with its audit entries. What the store refused waits for the next
    /// window: rows are rewritten whole, so only each incident's latest is kept, and audit
    /// entries keep their order, both bounded so an outage cannot grow them without end.
    private func save(_ incidents: [StoredIncident], audit: [AuditEntry]) async {
        let (rows, entries) = unsaved.withLock { unsaved -> ([StoredIncident], [AuditEntry]) in
            for incident in incidents { unsaved.rows[incident.id] = incident }
            unsaved.audit += audit
            defer { unsaved = ([:], []) }
            return (unsaved.rows.values.sorted { $0.id < $1.id }, unsaved.audit)
        }
        do {
            try await gateway.store.saveIncidents(rows, audit: entries)
        } catch {
            gateway.logger.warning("could not store incidents; retried next window", metadata: ["error": "\(error)"])
            unsaved.withLock { unsaved in
                for row in rows where unsaved.rows[row.id] == nil { unsaved.rows[row.id] = row }
                unsaved.audit = Array((entries + unsaved.audit).suffix(Self.unsavedAuditLimit))
                while unsaved.rows.count > Self.unsavedRowLimit, let oldest = unsaved.rows.keys.min() {
                    unsaved.rows[oldest] = nil
                }
            }
        }
    }

    static func stored(_ incident: Incident) -> StoredIncident {
        StoredIncident(
            id: incident.id, status: incident.status.rawValue, openedAt: incident.openedAt, updatedAt: incident.updatedAt,
            resolvedAt: incident.resolvedAt, causeKey: incident.causeKey.description, summary: incident.summary,
            detail: incident.json())
    }

    static func audit(_ action: String, _ incident: Incident, at now: UnixMicros) -> AuditEntry {
        AuditEntry(
            time: now, principal: "switchyard", action: action, target: incident.id, tenant: nil,
            after: incident.mitigations.isEmpty ? nil : incident.json(), detail: incident.summary)
    }
}
