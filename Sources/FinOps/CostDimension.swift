import SwitchyardCore

/// What costs can be grouped by: an attribute of every record, or the value of a caller tag.
public enum CostDimension: Hashable, Sendable, CustomStringConvertible {
    case tenant, agent, key, route, deployment, provider, model
    /// A caller tag's value (`x-switchyard-tags: customer=acme` → `--by customer`).
    case tag(String)

    public static let attributes: [CostDimension] = [.tenant, .agent, .key, .route, .deployment, .provider, .model]

    /// A known attribute name, or else a tag key.
    public init(_ name: String) {
        self = Self.attributes.first { $0.description == name } ?? .tag(name)
    }

    public var description: String {
        switch self {
        case .tenant: "tenant"
        case .agent: "agent"
        case .key: "key"
        case .route: "route"
        case .deployment: "deployment"
        case .provider: "provider"
        case .model: "model"
        case .tag(let key): key
        }
    }

    /// This dimension's value in `rollup`; nil when the record has none (e.g. no such tag).
    public func value(in rollup: UsageRollup) -> String? {
        switch self {
        case .tenant: rollup.tenant
        case .agent: rollup.agent
        case .key: rollup.keyID
        case .route: rollup.route
        case .deployment: rollup.deployment
        case .provider: rollup.provider
        case .model: rollup.model
        case .tag(let key): rollup.tags[key]
        }
    }
}

/// Time buckets a report can be split into (UTC).
public enum TimeBucket: String, Hashable, Sendable, CaseIterable {
    case hour, day, month

    public func start(of time: UnixMicros) -> UnixMicros {
        switch self {
        case .hour: CalendarPeriod.hour(containing: time).start
        case .day: CalendarPeriod.day(containing: time).start
        case .month: CalendarPeriod.month(containing: time).start
        }
    }
}

/// A half-open reporting period `[start, end)` on whole hours, the ledger rollups' grain.
public struct ReportPeriod: Hashable, Sendable {
    public var start: UnixMicros
    public var end: UnixMicros

    /// Widens `start` down and `end` up to whole hours.
    public init(start: UnixMicros, end: UnixMicros) {
        self.start = CalendarPeriod.hour(containing: start).start
        let endHour = CalendarPeriod.hour(containing: end)
        self.end = endHour.start == end ? end : endHour.end
    }

    public var hours: [UnixMicros] {
        stride(from: start.value, to: end.value, by: 3_600_000_000).map(UnixMicros.init)
    }

    /// The period of the same length just before this one, for trends.
    public var previous: ReportPeriod {
        ReportPeriod(start: UnixMicros(2 * start.value - end.value), end: start)
    }

    public func contains(_ time: UnixMicros) -> Bool { time >= start && time < end }
}
