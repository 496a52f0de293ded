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
    private let state: Mutex<(detector: AnomalyDetector, book: IncidentBook)>

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
        mitigation.ejectWindows = file.ejectWindows
        let routes = gateway.configuration.routes
        let monitor = gateway.monitor
        self.gateway = gateway
        self.traffic = traffic
        self.window = file.window
        self.state = Mutex(
            (
                AnomalyDetector(settings: settings),
                IncidentBook(
                    settings: settings, mitigation: mitigation, windowMicros: Int64(file.window.microseconds),
                    ejectionRefusal: { deployment in
                        Self.ejectionRefusal(deployment, routes: routes, monitor: monitor)
                    })
            ))
    }

    /// A deployment is never ejected from a route it would leave with nothing else to serve it.
    static func ejectionRefusal(_ deployment: String, routes: [Route], monitor: DeploymentMonitor) -> String? {
        for route in routes where route.targets.contains(where: { $0.deployment == deployment }) {
            let others = route.targets.filter {
                $0.deployment != deployment && monitor.snapshot($0.deployment)?.unavailability == nil
            }
            if others.isEmpty { return "not ejected: the only available deployment of route \(route.name)" }
        }
        return nil
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: self.window)
                await self.tick()
            }
        }
    }

    /// The open incidents now.
    public var open: [Incident] { state.withLock { $0.book.open } }

    /// One window: detection, then what it asks for done.
    func tick(at now: UnixMicros = .now()) async {
        let (cells, _) = traffic.harvest()
        let (events, orders) = state.withLock { state in
            let readings = state.detector.observe(cells)
            return state.book.advance(readings: readings, cells: cells, at: now) {
                "inc_" + RandomIdentifier.base62(count: 16)
            }
        }
        apply(orders)
        await record(events, at: now)
    }

    /// Ends an incident's mitigation by hand (this replica's); nil when no open incident has that id.
    public func undoMitigation(of id: String, principal: String) async -> Incident? {
        let now = UnixMicros.now()
        guard let (incident, orders) = state.withLock({ $0.book.undoMitigation(of: id, at: now) }) else { return nil }
        apply(orders)
        let entry = AuditEntry(
            principal: principal, action: "incident.mitigation_undone", target: incident.id, tenant: nil,
            detail: incident.summary)
        do {
            try await gateway.store.saveIncidents([Self.stored(incident)], audit: [entry])
        } catch {
            gateway.logger.warning("could not store an incident", metadata: ["incident": "\(id)", "error": "\(error)"])
        }
        return incident
    }

    private func apply(_ orders: [MitigationOrder]) {
        for order in orders {
            switch order {
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
            }
        }
    }

    private func record(_ events: [IncidentEvent], at now: UnixMicros) async {
        var stored: [StoredIncident] = []
        var audit: [AuditEntry] = []
        var announcements: [(String, Incident)] = []
        for event in events {
            switch event {
            case .opened(let incident):
                stored.append(Self.stored(incident))
                audit.append(Self.audit("incident.opened", incident, at: now))
                announcements.append(("incident.opened", incident))
                gateway.logger.warning(
                    "incident opened", metadata: ["incident": "\(incident.id)", "summary": "\(incident.summary)"])
            case .updated(let incident, let notable):
                stored.append(Self.stored(incident))
                if notable {
                    audit.append(Self.audit("incident.updated", incident, at: now))
                    announcements.append(("incident.updated", incident))
                }
            case .resolved(let incident):
                stored.append(Self.stored(incident))
                audit.append(Self.audit("incident.resolved", incident, at: now))
                announcements.append(("incident.resolved", incident))
                gateway.logger.notice(
                    "incident resolved", metadata: ["incident": "\(incident.id)", "summary": "\(incident.summary)"])
            }
        }
        gateway.metrics.set(
            "switchyard_incidents_open", help: "Incidents open now (this replica's detection).",
            to: Int64(state.withLock { $0.book.open.count }))
        do {
            try await gateway.store.saveIncidents(stored, audit: audit)
        } catch {
            gateway.logger.warning("could not store incidents", metadata: ["error": "\(error)"])
        }
        guard let webhook = gateway.configuration.governance.alertWebhook else { return }
        for (type, incident) in announcements {
            await GovernanceSetup.post(
                Array(incident.json(type: type).utf8), to: webhook, transport: gateway.transport, logger: gateway.logger)
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
