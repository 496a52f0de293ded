import SwitchyardCore

/// Agent health per run: once per window, each agent run's activity is read for three patterns,
/// and a run showing any of them is an incident naming the run, its agent and the pattern.
///
/// - **loop**: requests that repeated an earlier prompt of the run (the run rules' loop
///   detection flags them);
/// - **stalled**: the run keeps calling but nothing is answered, `consecutive` windows in a row
///   (requests the gateway refused, a kill switch's included, are not counted: they are what
///   stopping a run looks like);
/// - **cost accelerating**: the run's cost per window rose `consecutive` windows in a row, and
///   the latest is at least `accelerationFactor` times the median of its earlier windows (an
///   agent's context grows, so a slow rise is normal; a doubling is not).
///
/// The incident is updated while a pattern shows, resolves after `resolveAfter` windows without
/// one (or as many idle), and, with `stopRuns`, a loop or an acceleration engages the run's kill
/// switch, released when the incident resolves. State per run: `history` window costs and a few
/// counters, at most `maximumRuns` runs.
public struct RunHealth: Sendable {
    public struct Settings: Sendable {
        public var consecutive = 3
        public var resolveAfter = 3
        public var history = 30
        public var accelerationFactor = 2.0
        public var stopRuns = false

        public init() {}
    }

    public enum Pattern: Sendable, Equatable {
        case loop(repeats: Int)
        case stalled(requests: Int, windows: Int)
        case costAccelerating(latestNanos: Int64, medianNanos: Int64, windows: Int)

        public var metric: String {
            switch self {
            case .loop: "run_loop"
            case .stalled: "run_stalled"
            case .costAccelerating: "run_cost_acceleration"
            }
        }

        public var summary: String {
            switch self {
            case .loop(let repeats): "loops: \(repeats) requests repeated an earlier prompt of the run"
            case .stalled(let requests, let windows): "stalled: \(requests) requests over \(windows) windows, none answered"
            case .costAccelerating(let latest, let median, let windows):
                "cost accelerating: \(Money.format(nanos: latest)) this window vs \(Money.format(nanos: median)) median, rising \(windows) windows in a row"
            }
        }

        var stopsTheRun: Bool {
            switch self {
            case .loop, .costAccelerating: true
            case .stalled: false
            }
        }
    }

    public enum Event: Sendable, Equatable {
        case opened(IncidentDocument)
        /// `notable`: the kinds of pattern changed, or a mitigation was taken.
        case updated(IncidentDocument, notable: Bool)
        case resolved(IncidentDocument)
    }

    public enum Order: Sendable, Equatable {
        case stopRun(tenant: String, run: String, incident: String)
        case releaseRun(tenant: String, run: String, incident: String)
    }

    struct Tracked {
        var agent: String?
        /// The cost of each of the last `history` windows, oldest first.
        var costs: [Int64] = []
        var rising = 0
        var failing = 0
        var failingRequests = 0
        var idle = 0
        var quiet = 0
        var open: IncidentDocument?
        var stopped = false
        /// Its mitigation was undone by hand: not taken again while the incident stays open.
        var held = false
    }

    public static let maximumRuns = 10_000
    public let settings: Settings
    var runs: [RunKey: Tracked] = [:]
    /// Runs not followed because `maximumRuns` were.
    public private(set) var refused = 0

    public init(settings: Settings = Settings()) {
        self.settings = settings
    }

    public var openCount: Int { runs.values.count { $0.open != nil } }

    public mutating func advance(
        _ activity: [RunKey: RunActivity], at now: UnixMicros, newID: () -> String
    ) -> (events: [Event], orders: [Order]) {
        var events: [Event] = []
        var orders: [Order] = []
        for key in Set(runs.keys).union(activity.keys).sorted() {
            let window = activity[key] ?? RunActivity()
            guard var tracked = runs[key] ?? (window.requests > 0 ? Tracked(agent: window.agent) : nil) else { continue }
            if runs[key] == nil, runs.count >= Self.maximumRuns {
                refused += 1
                continue
            }
            tracked.agent = tracked.agent ?? window.agent
            let patterns = observe(window, into: &tracked)
            if !patterns.isEmpty {
                tracked.quiet = 0
                let opening = tracked.open == nil
                var document = tracked.open ?? Self.document(key, agent: tracked.agent, id: newID(), at: now)
                let before = Set(document.signals.map(\.metric))
                document.signals = patterns.map { pattern in
                    IncidentDocument.Signal(
                        series: "run=\(key)", metric: pattern.metric,
                        since: document.signals.first { $0.metric == pattern.metric }?.since ?? now,
                        summary: pattern.summary)
                }
                document.summary = Self.summary(key, agent: tracked.agent, patterns: patterns)
                document.updatedAt = now
                document.costNanos = document.costNanos.addingClamped(window.costNanos)
                var notable = Set(document.signals.map(\.metric)) != before
                if settings.stopRuns, !tracked.stopped, !tracked.held, patterns.contains(where: \.stopsTheRun) {
                    tracked.stopped = true
                    document.mitigations.append(
                        Incident.Mitigation(action: "stop_run", target: "run:\(key)", at: now, undoneAt: nil, refused: nil))
                    orders.append(.stopRun(tenant: key.tenant, run: key.run, incident: document.id))
                    notable = true
                }
                tracked.open = document
                events.append(opening ? .opened(document) : .updated(document, notable: notable))
            } else if var document = tracked.open {
                tracked.quiet += 1
                document.costNanos = document.costNanos.addingClamped(window.costNanos)
                if tracked.quiet >= settings.resolveAfter || tracked.idle >= settings.resolveAfter {
                    document.resolvedAt = now
                    document.updatedAt = now
                    if tracked.stopped {
                        tracked.stopped = false
                        for index in document.mitigations.indices where document.mitigations[index].undoneAt == nil {
                            document.mitigations[index].undoneAt = now
                        }
                        orders.append(.releaseRun(tenant: key.tenant, run: key.run, incident: document.id))
                    }
                    events.append(.resolved(document))
                    tracked.open = nil
                    tracked.held = false
                } else {
                    tracked.open = document
                }
            }
            runs[key] = tracked.idle >= settings.history && tracked.open == nil ? nil : tracked
        }
        return (events, orders)
    }

    /// Ends an open run incident's mitigation by hand: the run's kill switch is released and not
    /// engaged again while the incident stays open. nil when no open run incident has that id.
    public mutating func undoMitigation(of id: String, at now: UnixMicros) -> (IncidentDocument, [Order])? {
        guard let (key, tracked) = runs.first(where: { $0.value.open?.id == id }), var document = tracked.open else {
            return nil
        }
        var orders: [Order] = []
        if tracked.stopped { orders.append(.releaseRun(tenant: key.tenant, run: key.run, incident: id)) }
        for index in document.mitigations.indices where document.mitigations[index].undoneAt == nil {
            document.mitigations[index].undoneAt = now
        }
        document.updatedAt = now
        runs[key]?.open = document
        runs[key]?.stopped = false
        runs[key]?.held = true
        return (document, orders)
    }

    /// The patterns `window` shows, given what came before it.
    func observe(_ window: RunActivity, into tracked: inout Tracked) -> [Pattern] {
        let previous = tracked.costs.last
        tracked.costs.append(window.costNanos)
        if tracked.costs.count > settings.history { tracked.costs.removeFirst(tracked.costs.count - settings.history) }
        tracked.idle = window.requests == 0 ? tracked.idle + 1 : 0
        tracked.rising = window.costNanos > 0 && window.costNanos > (previous ?? .max) ? tracked.rising + 1 : 0
        let counted = window.requests - window.refusedByGateway
        if counted > 0 && window.answered == 0 {
            tracked.failing += 1
            tracked.failingRequests += counted
        } else {
            tracked.failing = 0
            tracked.failingRequests = 0
        }
        var patterns: [Pattern] = []
        if window.loops > 0 { patterns.append(.loop(repeats: window.loops)) }
        if tracked.failing >= settings.consecutive {
            patterns.append(.stalled(requests: tracked.failingRequests, windows: tracked.failing))
        }
        let earlier = tracked.costs.dropLast().filter { $0 > 0 }.sorted()
        if tracked.rising >= settings.consecutive, earlier.count >= settings.consecutive {
            let median = earlier[earlier.count / 2]
            if median > 0, Double(window.costNanos) >= settings.accelerationFactor * Double(median) {
                patterns.append(
                    .costAccelerating(latestNanos: window.costNanos, medianNanos: median, windows: tracked.rising))
            }
        }
        return patterns
    }

    static func document(_ key: RunKey, agent: String?, id: String, at now: UnixMicros) -> IncidentDocument {
        var document = IncidentDocument(
            id: id, kind: "run", summary: "", cause: "", causeKey: "run=\(key)", openedAt: now, updatedAt: now,
            where: "run", key.description, signals: [])
        document.tenants = [key.tenant]
        document.agents = agent.map { ["\(key.tenant)/\($0)"] } ?? []
        document.cause = "agent health: run \(key)\(agent.map { " of agent \(key.tenant)/\($0)" } ?? "") needs a look"
        return document
    }

    static func summary(_ key: RunKey, agent: String?, patterns: [Pattern]) -> String {
        "run \(key)\(agent.map { " of agent \(key.tenant)/\($0)" } ?? ""): "
            + patterns.map(\.summary).joined(separator: "; ")
    }
}
