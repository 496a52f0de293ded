import SwitchyardCore
import Synchronization

/// Where a request's traffic is counted: the values of the dimensions incidents are found in.
public struct TrafficKey: Hashable, Sendable {
    public var route: String
    public var deployment: String
    public var provider: String
    public var tenant: String
    public var agent: String

    public init(route: String, deployment: String, provider: String, tenant: String, agent: String) {
        self.route = route
        self.deployment = deployment
        self.provider = provider
        self.tenant = tenant
        self.agent = agent
    }

    public init(_ record: UsageRecord) {
        self.init(
            route: record.route ?? "", deployment: record.deployment ?? "", provider: record.provider ?? "",
            tenant: record.tenant ?? "", agent: record.agent ?? "")
    }

    /// The series value for `dimension`. An agent is named within its tenant (`acme/nightly`):
    /// two tenants' agents of one name are two series, never one.
    public func value(_ dimension: Dimension) -> String {
        switch dimension {
        case .route: route
        case .deployment: deployment
        case .provider: provider
        case .tenant: tenant
        case .agent: agent.isEmpty ? "" : "\(tenant)/\(agent)"
        }
    }
}

/// The dimensions a series is kept for.
public enum Dimension: String, Sendable, CaseIterable, Comparable {
    case route, deployment, provider, tenant, agent

    public static func < (lhs: Dimension, rhs: Dimension) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// The request path's side of detection: each settled request adds to its combination's cell of
/// the current window, under one lock; the detector takes the window away once per window.
/// At most `maximumCells` combinations per window: past them, requests are counted as dropped
/// (a tenant cannot grow the state by inventing agent names).
public final class TrafficRecorder: Sendable {
    public static let maximumCells = 10_000

    struct Window {
        var cells: [TrafficKey: TrafficCell] = [:]
        /// Agent runs' activity (requests that named a run), for `RunHealth`.
        var runs: [RunKey: RunActivity] = [:]
        var dropped = 0
    }

    private let window = Mutex(Window())

    public init() {}

    public func record(_ record: UsageRecord) {
        let key = TrafficKey(record)
        window.withLock { window in
            if let index = window.cells.index(forKey: key) {
                window.cells.values[index].add(record)
            } else if window.cells.count < Self.maximumCells {
                var cell = TrafficCell()
                cell.add(record)
                window.cells[key] = cell
            } else {
                window.dropped += 1
            }
            guard let run = record.run, let tenant = record.tenant else { return }
            let key = RunKey(tenant: tenant, run: run)
            if let index = window.runs.index(forKey: key) {
                window.runs.values[index].add(record)
            } else if window.runs.count < Self.maximumCells {
                var activity = RunActivity(agent: record.agent)
                activity.add(record)
                window.runs[key] = activity
            } else {
                window.dropped += 1
            }
        }
    }

    /// The window so far, and a fresh one begun.
    public func harvest() -> (cells: [TrafficKey: TrafficCell], runs: [RunKey: RunActivity], dropped: Int) {
        let taken = window.withLock { window in
            defer { window = Window() }
            return window
        }
        return (taken.cells, taken.runs, taken.dropped)
    }
}
