import SwitchyardCore

/// Agent health per run: once per window, each agent run's activity is read for three patterns,
/// and a run showing any of them is an incident naming the run, its agent and the pattern.
///
/// - **loop**: requests that repeated an earlier prompt of the run (the run rules' loop
///   detection flags them);
/// - **stalled**: the run keeps calling but its providers answer nothing, `consecutive` windows
///   in a row (only failures at a provider count: the gateway's own refusals, a kill switch's
///   included, are not the run's lack of progress);
/// - **cost accelerating**: the run's cost per window rose `consecutive` windows in a row, and
///   the latest is at least `accelerationFactor` times the median of its windows before that
///   rise (an agent's context grows, so a slow rise is normal; a doubling is not).
///
/// The incident is updated while a pattern shows, resolves after `resolveAfter` windows without
/// one (or as many idle), and, with `stopRuns`, a loop or an acceleration engages the run's kill
/// switch; a stopped run's incident resolves, and its switch is released, only once the run has
/// been idle `resolveAfter` windows (its refused requests show no pattern, and releasing it while
/// it still calls would only stop it again). A run is followed from a window in which it reached a
/// provider or cost something. State per run: the last `history` (at most 120) window costs and a
/// few counters; at most `maximumRuns` runs, `maximumRunsPerTenant` of one tenant, and
/// `maximumOpen` open incidents (past them, counted in `refused`).
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
    public static let maximumRunsPerTenant = 1_000
    public static let maximumOpen = 100
    public let settings: Settings
    var runs: [RunKey: Tracked] = [:]
    var runsPerTenant: [String: Int] = [:]
    /// Run windows not followed past the caps, and incidents not opened past `maximumOpen`.
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
            guard var tracked = runs[key] ?? (window.reachedAProvider ? Tracked(agent: window.agent) : nil) else { continue }
            if runs[key] == nil {
                guard runs.count < Self.maximumRuns, runsPerTenant[key.tenant, default: 0] < Self.maximumRunsPerTenant else {
                    refused += 1
                    continue
                }
                runsPerTenant[key.tenant, default: 0] += 1
            }
            tracked.agent = tracked.agent ?? window.agent
            let patterns = observe(window, into: &tracked)
            if !patterns.isEmpty, tracked.open == nil, openCount >= Self.maximumOpen {
                refused += 1
            } else if !patterns.isEmpty {
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
                let settled =
                    tracked.stopped
                    ? tracked.idle >= settings.resolveAfter
                    : tracked.quiet >= settings.resolveAfter || tracked.idle >= settings.resolveAfter
                if settled {
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
            if tracked.idle >= historyKept && tracked.open == nil {
                runs[key] = nil
                runsPerTenant[key.tenant, default: 1] -= 1
                if runsPerTenant[key.tenant] == 0 { runsPerTenant[key.tenant] = nil }
            } else {
                runs[key] = tracked
            }
        }
        return (events, orders)
    }

    /// Window costs kept per run.
    var historyKept: Int { min(settings.history, 120) }

    /// The watcher could not take `incident`'s stop (its run was already stopped, by an operator
    /// or the run rules): the mitigation is recorded as refused, and nothing is released later.
    public mutating func stopNotTaken(incident: String, reason: String) -> IncidentDocument? {
        guard let key = runs.first(where: { $0.value.open?.id == incident })?.key, var document = runs[key]?.open else {
            return nil
        }
        for index in document.mitigations.indices
        where document.mitigations[index].action == "stop_run" && document.mitigations[index].undoneAt == nil {
            document.mitigations[index].refused = reason
            document.mitigations[index].undoneAt = nil
        }
        runs[key]?.open = document
        runs[key]?.stopped = false
        // Not tried again while this incident stays open.
        runs[key]?.held = true
        return document
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
        runs[key]?.held = tracked.stopped
        runs[key]?.stopped = false
        return (document, orders)
    }

    /// The patterns `window` shows, given what came before it.
    func observe(_ window: RunActivity, into tracked: inout Tracked) -> [Pattern] {
        let previous = tracked.costs.last
        tracked.costs.append(window.costNanos)
        if tracked.costs.count > historyKept { tracked.costs.removeFirst(tracked.costs.count - historyKept) }
        tracked.idle = window.requests == 0 ? tracked.idle + 1 : 0
        tracked.rising = window.costNanos > 0 && window.costNanos > (previous ?? .max) ? tracked.rising + 1 : 0
        if window.failedUpstream > 0 && window.answered == 0 {
            tracked.failing += 1
            tracked.failingRequests += window.failedUpstream
        } else {
            tracked.failing = 0
            tracked.failingRequests = 0
        }
        var patterns: [Pattern] = []
        if window.loops > 0 { patterns.append(.loop(repeats: window.loops)) }
        if tracked.failing >= settings.consecutive {
            patterns.append(.stalled(requests: tracked.failingRequests, windows: tracked.failing))
        }
        if tracked.rising >= settings.consecutive {
            // The windows before the rise: a young run's own rise is not its baseline.
            let before = tracked.costs.dropLast(tracked.rising).filter { $0 > 0 }.sorted()
            if before.count >= settings.consecutive, case let median = before[before.count / 2], median > 0,
                Double(window.costNanos) >= settings.accelerationFactor * Double(median)
            {
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
