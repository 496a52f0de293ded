import SwitchyardCore

/// What mitigation may do (`incidents.mitigation:`), opt-in per action.
public struct MitigationSettings: Sendable, Equatable {
    /// Eject a deployment whose provider-side incident it is, as if its breaker opened.
    public var ejectDeployments = false
    /// Or shift routes' traffic away from it instead: it goes last in every route's order (no
    /// weighted draw picks it), still there as a fallback. The same rules and orders as an
    /// ejection, named `shift_weight`.
    public var shiftWeights = false
    /// Windows an ejection lasts before the deployment is readmitted to see whether it recovered
    /// (ejected again at once if it has not).
    public var ejectWindows = 5
    /// Engage the kill switch of an agent whose own requests or cost surge (a runaway its hourly
    /// cap has not caught yet); released when the incident resolves.
    public var stopAgents = false

    public init() {}
}

/// What the book asks of its owner after a window.
public enum IncidentEvent: Sendable, Equatable {
    case opened(Incident)
    /// `notable`: a new signal, cause or mitigation, worth a webhook; otherwise the figures moved.
    case updated(Incident, notable: Bool)
    case resolved(Incident)
}

public enum MitigationOrder: Sendable, Equatable {
    case eject(deployment: String, incident: String)
    case readmit(deployment: String, incident: String)
    case stopAgent(tenant: String, agent: String, incident: String)
    case releaseAgent(tenant: String, agent: String, incident: String)
}

/// The open incidents and their lifecycle: each window's readings open incidents for metrics out
/// of band long enough, merge signals that share a cause, update figures and scope, resolve an
/// incident when every signal has been back in band long enough (or silent for a whole history),
/// and order the mitigations the settings allow, undone when the incident resolves.
public struct IncidentBook: Sendable {
    public let settings: DetectionSettings
    public let mitigation: MitigationSettings
    /// Why a deployment may not be ejected (the last available one of a route's, counting those
    /// this book has ejected, given), or nil.
    private let ejectionRefusal: @Sendable (String, Set<String>) -> String?
    private let windowMicros: Int64

    public private(set) var open: [Incident] = []
    /// Ejected deployments: the incident and the window they are readmitted at.
    private var ejected: [String: (incident: String, until: Int)] = [:]
    /// Agents stopped (by series value, `tenant/agent`): their tenant, agent and incident.
    private var stopped: [String: (tenant: String, agent: String, incident: String)] = [:]
    /// Deployments ejected once by an incident still open: ejected again as soon as they deviate.
    private var onProbation: [String: String] = [:]
    private var window = 0

    public static let scopeLimit = 50
    /// Open incidents at most: past them, new deviations open nothing (counted in `refused`).
    public static let maximumOpen = 100
    public private(set) var refused = 0

    public init(
        settings: DetectionSettings, mitigation: MitigationSettings, windowMicros: Int64,
        ejectionRefusal: @escaping @Sendable (String, Set<String>) -> String? = { _, _ in nil }
    ) {
        self.settings = settings
        self.mitigation = mitigation
        self.windowMicros = windowMicros
        self.ejectionRefusal = ejectionRefusal
    }

    public var ejectedDeployments: Set<String> { Set(ejected.keys) }

    public mutating func advance(
        readings detected: [SeriesKey: [Metric: AnomalyDetector.Reading]], cells: [TrafficKey: TrafficCell],
        at now: UnixMicros, newID: () -> String
    ) -> (events: [IncidentEvent], orders: [MitigationOrder]) {
        window += 1
        var events: [IncidentEvent] = []
        var orders: [MitigationOrder] = []
        var notable = Set<String>()
        var opened = Set<String>()

        // Readmit what has served its ejection.
        for (deployment, ejection) in ejected.sorted(by: { $0.key < $1.key }) where ejection.until <= window {
            ejected[deployment] = nil
            onProbation[deployment] = ejection.incident
            orders.append(.readmit(deployment: deployment, incident: ejection.incident))
        }

        // The open incidents' signals, figures and scope.
        for index in open.indices {
            for signalIndex in open[index].signals.indices {
                let signal = open[index].signals[signalIndex]
                switch detected[signal.series]?[signal.metric] ?? .unknown {
                case .outOfBand(_, let expected, let observed):
                    open[index].signals[signalIndex].expected = expected
                    open[index].signals[signalIndex].observed = observed
                    open[index].signals[signalIndex].worst =
                        signal.metric.lowIsDeviation ? min(signal.worst, observed) : max(signal.worst, observed)
                    open[index].signals[signalIndex].settledWindows = 0
                    open[index].signals[signalIndex].silentWindows = 0
                case .inBand:
                    open[index].signals[signalIndex].settledWindows += 1
                    open[index].signals[signalIndex].silentWindows = 0
                case .unknown:
                    open[index].signals[signalIndex].silentWindows += 1
                }
            }
            absorbScope(into: &open[index], cells: cells)
            open[index].updatedAt = now
        }

        // New deviations: a signal of an open incident already, merged into one sharing its
        // cause, or a new incident.
        let deviations = detected.flatMap { series, metrics in
            metrics.compactMap { metric, reading -> (SeriesKey, Metric, Int, Double, Double)? in
                guard case .outOfBand(let windows, let expected, let observed) = reading, windows >= settings.consecutive
                else { return nil }
                return (series, metric, windows, expected, observed)
            }
        }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        for (series, metric, windows, expected, observed) in deviations {
            guard !open.contains(where: { $0.signals.contains { $0.series == series && $0.metric == metric } }) else {
                continue
            }
            let signal = Incident.Signal(
                series: series, metric: metric, expected: expected, observed: observed,
                since: UnixMicros(now.value - Int64(windows - 1) * windowMicros), worst: observed)
            let attribution =
                metric.isVolume
                ? Attribution.locateSurge(
                    series, metric: metric, excess: observed - expected, cells: cells, readings: detected)
                : Attribution.locate(series, metric: metric, expected: expected, cells: cells)
            let shift = Self.isTrafficShift(signal, attribution: attribution)
            if let index = incidentSharingCause(of: series, attribution: attribution, cells: cells, shift: shift) {
                let providerSideBefore = open[index].signals.contains { Incident.providerSideMetrics.contains($0.metric) }
                open[index].signals.append(signal)
                // A signal that locates the incident's own cause says by how much, and a
                // provider-side one says more than the traffic signals it opened with: the
                // cause's sentence follows.
                if open[index].attribution == nil, let attribution, attribution.key == open[index].causeKey {
                    open[index].attribution = attribution
                    open[index].cause = Incident.cause(of: signal, attribution: attribution)
                } else if !providerSideBefore, Incident.providerSideMetrics.contains(metric) {
                    open[index].cause = Incident.cause(of: signal, attribution: open[index].attribution)
                }
                notable.insert(open[index].id)
                continue
            }
            guard open.count < Self.maximumOpen else {
                refused += 1
                continue
            }
            var incident = Incident(
                id: newID(), status: .open, causeKey: attribution?.key ?? series, attribution: attribution,
                cause: Incident.cause(of: signal, attribution: attribution), signals: [signal], openedAt: signal.since,
                updatedAt: now)
            absorbScope(into: &incident, cells: cells)
            open.append(incident)
            opened.insert(incident.id)
        }

        mergeTrafficDrops(at: now, events: &events, notable: &notable)

        // Mitigation, then resolution.
        for index in open.indices {
            var incident = open[index]
            if mitigation.ejectDeployments || mitigation.shiftWeights {
                mitigate(&incident, detected: detected, cells: cells, at: now, orders: &orders, notable: &notable)
            }
            if mitigation.stopAgents { stopAgent(&incident, cells: cells, at: now, orders: &orders, notable: &notable) }
            open[index] = incident
        }
        var stillOpen: [Incident] = []
        for var incident in open {
            let settled = Self.deciding(incident.signals).allSatisfy {
                $0.settledWindows >= settings.resolveAfter || $0.silentWindows >= settings.history
            }
            guard settled else {
                stillOpen.append(incident)
                events.append(
                    opened.contains(incident.id)
                        ? .opened(incident) : .updated(incident, notable: notable.contains(incident.id)))
                continue
            }
            incident.status = .resolved
            incident.resolvedAt = now
            for deployment in ejected.keys.sorted() where ejected[deployment]?.incident == incident.id {
                ejected[deployment] = nil
                orders.append(.readmit(deployment: deployment, incident: incident.id))
            }
            onProbation = onProbation.filter { $0.value != incident.id }
            orders += releaseAgents(of: incident.id)
            for index in incident.mitigations.indices where incident.mitigations[index].undoneAt == nil {
                incident.mitigations[index].undoneAt = now
            }
            events.append(.resolved(incident))
        }
        open = stillOpen
        return (events, orders)
    }

    /// Ends an incident's mitigation by hand: its deployments are readmitted and not ejected
    /// again while it stays open. nil when no open incident has that id.
    public mutating func undoMitigation(of id: String, at now: UnixMicros) -> (Incident, [MitigationOrder])? {
        guard let index = open.firstIndex(where: { $0.id == id }) else { return nil }
        var orders: [MitigationOrder] = []
        for deployment in ejected.keys.sorted() where ejected[deployment]?.incident == id {
            ejected[deployment] = nil
            orders.append(.readmit(deployment: deployment, incident: id))
        }
        onProbation = onProbation.filter { $0.value != id }
        orders += releaseAgents(of: id)
        for mitigationIndex in open[index].mitigations.indices where open[index].mitigations[mitigationIndex].undoneAt == nil {
            open[index].mitigations[mitigationIndex].undoneAt = now
        }
        open[index].mitigationsHeld = true
        open[index].updatedAt = now
        return (open[index], orders)
    }

    /// An agent whose own requests or cost surge is stopped by its kill switch, once per incident.
    private mutating func stopAgent(
        _ incident: inout Incident, cells: [TrafficKey: TrafficCell], at now: UnixMicros, orders: inout [MitigationOrder],
        notable: inout Set<String>
    ) {
        let series = incident.causeKey
        guard !incident.mitigationsHeld, series.dimension == .agent, stopped[series.value] == nil,
            !incident.mitigations.contains(where: { $0.action == "stop" }),
            incident.signals.contains(where: {
                $0.series == series && ($0.metric == .requests || $0.metric == .cost) && $0.observed > $0.expected
            }),
            let key = cells.keys.first(where: { $0.value(.agent) == series.value })
        else { return }
        stopped[series.value] = (key.tenant, key.agent, incident.id)
        incident.mitigations.append(.init(action: "stop", target: "agent:\(series.value)", at: now))
        orders.append(.stopAgent(tenant: key.tenant, agent: key.agent, incident: incident.id))
        notable.insert(incident.id)
    }

    private mutating func releaseAgents(of incident: String) -> [MitigationOrder] {
        var orders: [MitigationOrder] = []
        for (series, agent) in stopped.sorted(by: { $0.key < $1.key }) where agent.incident == incident {
            stopped[series] = nil
            orders.append(.releaseAgent(tenant: agent.tenant, agent: agent.agent, incident: incident))
        }
        return orders
    }

    /// Requests (and their cost) moving with no agent or tenant behind them: clients waiting on
    /// a slow deployment send fewer, and an ejection moves its share to the other deployments. A
    /// tenant's or agent's rise is its own surge; only their drop is a shift.
    static func isTrafficShift(_ signal: Incident.Signal, attribution: Attribution?) -> Bool {
        guard signal.metric == .requests || signal.metric == .cost, attribution == nil else { return false }
        switch signal.series.dimension {
        case .route, .deployment, .provider: return true
        case .tenant, .agent: return signal.observed < signal.expected
        }
    }

    /// The signals an incident's resolution waits for. Traffic that moved because of a cause
    /// (clients leaving a slow deployment, retries and a shift of weight landing on the others)
    /// stays out of band until a whole history has relearned it, long after the cause is gone: an
    /// incident with any other signal resolves on those. An incident of moved traffic only waits
    /// for all of it.
    static func deciding(_ signals: [Incident.Signal]) -> [Incident.Signal] {
        let causes = signals.filter { !isTrafficShift($0, attribution: nil) }
        return causes.isEmpty ? signals : causes
    }

    /// An incident of shifted traffic only, on routes a deployment's provider-side incident also
    /// touches, is that incident's: its signals move there and it is closed as merged. It can
    /// open first: a slowed deployment finishes too few requests to read in its first window,
    /// while the drop shows at once.
    private mutating func mergeTrafficDrops(at now: UnixMicros, events: inout [IncidentEvent], notable: inout Set<String>) {
        for targetIndex in open.indices {
            let target = open[targetIndex]
            guard target.causeKey.dimension == .deployment,
                target.signals.contains(where: { Incident.providerSideMetrics.contains($0.metric) })
            else { continue }
            for index in open.indices where index != targetIndex && open[index].mergedInto == nil {
                let other = open[index]
                guard other.signals.allSatisfy({ Self.isTrafficShift($0, attribution: other.attribution) }),
                    !other.routes.isDisjoint(with: target.routes)
                else { continue }
                open[targetIndex].signals += other.signals
                open[index].mergedInto = target.id
                notable.insert(target.id)
            }
        }
        for incident in open where incident.mergedInto != nil {
            var merged = incident
            merged.status = .resolved
            merged.resolvedAt = now
            merged.updatedAt = now
            events.append(.resolved(merged))
        }
        open.removeAll { $0.mergedInto != nil }
    }

    private func incidentSharingCause(
        of series: SeriesKey, attribution: Attribution?, cells: [TrafficKey: TrafficCell], shift: Bool
    ) -> Int? {
        if let attribution { return open.firstIndex { $0.causeKey == attribution.key } }
        if let index = open.firstIndex(where: { $0.causeKey == series }) { return index }
        let routes = Set(cells.keys.filter { $0.value(series.dimension) == series.value }.map(\.route))
        // Requests shifting on a route while one of its deployments degrades: the same incident.
        if shift,
            let index = open.firstIndex(where: { incident in
                incident.causeKey.dimension == .deployment && !incident.routes.isDisjoint(with: routes)
                    && incident.signals.contains { Incident.providerSideMetrics.contains($0.metric) }
            })
        {
            return index
        }
        // Broad on its own series, but all of it within an open incident's located cause (a
        // provider with one deployment, a tenant that uses only the slow one): the same cause. A
        // broad route's incident locates nothing, and takes in nothing this way.
        let inSeries = cells.filter { $0.key.value(series.dimension) == series.value }.map(\.key)
        guard !inSeries.isEmpty else { return nil }
        return open.firstIndex { incident in
            (incident.causeKey.dimension == .deployment || incident.causeKey.dimension == .provider)
                && inSeries.allSatisfy { $0.value(incident.causeKey.dimension) == incident.causeKey.value }
        }
    }

    private func absorbScope(into incident: inout Incident, cells: [TrafficKey: TrafficCell]) {
        for (key, cell) in cells where key.value(incident.causeKey.dimension) == incident.causeKey.value {
            incident.costNanos &+= cell.costNanos
            for (set, value) in [
                (\Incident.tenants, key.tenant), (\.agents, key.value(.agent)), (\.routes, key.route),
            ]
            where !value.isEmpty && incident[keyPath: set].count < Self.scopeLimit {
                incident[keyPath: set].insert(value)
            }
        }
    }

    private mutating func mitigate(
        _ incident: inout Incident, detected: [SeriesKey: [Metric: AnomalyDetector.Reading]],
        cells: [TrafficKey: TrafficCell], at now: UnixMicros, orders: inout [MitigationOrder], notable: inout Set<String>
    ) {
        // Only a deployment that deviates as a whole, on a metric its provider moves: a tenant's
        // signal merged into the incident, or a surge in volume, ejects nothing.
        guard !incident.mitigationsHeld, incident.causeKey.dimension == .deployment,
            let own = incident.signals.first(where: {
                $0.series == incident.causeKey && Incident.providerSideMetrics.contains($0.metric)
            })
        else { return }
        let deployment = incident.causeKey.value
        guard ejected[deployment] == nil else { return }
        let ejectionName = mitigation.shiftWeights ? "shift_weight" : "eject"
        // Readmitted on probation: ejected again only once its provider-side metrics deviate again.
        if onProbation[deployment] == incident.id {
            let deviates = detected[incident.causeKey]?.contains { metric, reading in
                guard Incident.providerSideMetrics.contains(metric), case .outOfBand = reading else { return false }
                return true
            }
            guard deviates == true else { return }
        } else if incident.mitigations.contains(where: { $0.target == deployment && $0.refused == nil }) {
            return
        }
        let refusal =
            Self.concentration(of: own, on: incident.causeKey, cells: cells)
            ?? ejectionRefusal(deployment, Set(ejected.keys))
        if let refusal {
            // Recorded once; tried again every window, in case what refused it passes.
            guard !incident.mitigations.contains(where: { $0.target == deployment && $0.refused != nil }) else { return }
            incident.mitigations.append(.init(action: ejectionName, target: deployment, at: now, refused: refusal))
            notable.insert(incident.id)
            return
        }
        ejected[deployment] = (incident.id, window + mitigation.ejectWindows)
        onProbation[deployment] = nil
        incident.mitigations.append(.init(action: ejectionName, target: deployment, at: now))
        orders.append(.eject(deployment: deployment, incident: incident.id))
        notable.insert(incident.id)
    }

    /// A deviation carried by one tenant's or agent's requests far beyond its share of the
    /// traffic (its prompts are huge, its calls time out) is theirs: ejecting the deployment would
    /// punish every other tenant for it.
    static func concentration(of signal: Incident.Signal, on deployment: SeriesKey, cells: [TrafficKey: TrafficCell])
        -> String?
    {
        guard
            let heaviest = Attribution.heaviest(
                of: [.tenant, .agent], in: deployment, metric: signal.metric, expected: signal.expected, cells: cells),
            heaviest.deviationShare >= 0.4, heaviest.deviationShare - heaviest.trafficShare >= 0.2
        else { return nil }
        return
            "not ejected: \(Incident.percent(heaviest.deviationShare)) of the deviation is \(heaviest.dimension.rawValue) \(heaviest.value)'s requests, \(Incident.percent(heaviest.trafficShare)) of the traffic"
    }
}
