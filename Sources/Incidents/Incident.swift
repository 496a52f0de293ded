import SwitchyardCore

/// An anomaly explained: what deviates (its signals), where it concentrates, the probable cause
/// in one sentence, whom it touches and what it cost, and what was done about it.
public struct Incident: Sendable, Equatable {
    public enum Status: String, Sendable { case open, resolved }

    /// One metric of one series out of its band.
    public struct Signal: Sendable, Equatable {
        public var series: SeriesKey
        public var metric: Metric
        public var expected: Double
        public var observed: Double
        /// The first window it was out of band, and the worst it read since.
        public var since: UnixMicros
        public var worst: Double
        /// Consecutive windows back in band (0 while out of it).
        public var settledWindows = 0
        /// Consecutive windows without enough traffic to read.
        public var silentWindows = 0

        public var summary: String {
            "\(metric.phrase) of \(series.dimension.rawValue) \(series.value) \(metric.format(observed)) vs \(metric.format(expected))"
        }
    }

    /// An action taken on the incident's behalf.
    public struct Mitigation: Sendable, Equatable {
        public var action: String
        public var target: String
        public var at: UnixMicros
        public var undoneAt: UnixMicros?
        /// Why it was not taken, when it was refused (the last deployment of a route).
        public var refused: String?
    }

    public var id: String
    public var status: Status
    /// Incidents merge on this: where the deviation concentrates (`deployment=gpt-eu`), or the
    /// deviating series itself when it is broad.
    public var causeKey: SeriesKey
    public var attribution: Attribution?
    public var cause: String
    public var signals: [Signal]
    public var openedAt: UnixMicros
    public var updatedAt: UnixMicros
    public var resolvedAt: UnixMicros?
    public var tenants: Set<String> = []
    public var agents: Set<String> = []
    public var routes: Set<String> = []
    /// What the requests in the cause's scope cost while the incident was open.
    public var costNanos: Int64 = 0
    public var mitigations: [Mitigation] = []
    /// Closed because another incident explains it (its signals moved there).
    public var mergedInto: String?
    /// Mitigation undone by hand: not taken again while the incident stays open.
    public var mitigationsHeld = false

    /// Metrics a provider's trouble moves (an ejection helps with these, not with a surge).
    static let providerSideMetrics: Set<Metric> = [
        .latencyP50, .latencyP95, .firstTokenP95, .outputTokensPerSecond, .errorRate, .timeoutRate, .overloadRate,
        .refusalRate,
    ]

    /// One line: the signal that says most (the route's, where the cause shows against the rest
    /// of the traffic; else the cause's own), since when, and the probable cause.
    public var summary: String {
        let telling =
            signals.first { $0.series.dimension == .route && Self.providerSideMetrics.contains($0.metric) }
            ?? signals.first { $0.series == causeKey } ?? signals.first
        let first = telling.map { "\($0.summary) since \($0.since.rfc3339Seconds)" } ?? ""
        return "\(first); \(cause)"
    }

    /// The probable cause of `signal`'s deviation, located by `attribution` (nil: broad).
    static func cause(of signal: Signal, attribution: Attribution?) -> String {
        let providerSide = providerSideMetrics
        guard let attribution else {
            switch signal.series.dimension {
            case .deployment, .provider:
                return providerSide.contains(signal.metric)
                    ? "provider-side degradation on \(signal.series.dimension.rawValue) \(signal.series.value)"
                    : "\(signal.metric.phrase) changed on \(signal.series.dimension.rawValue) \(signal.series.value)"
            case .tenant, .agent:
                return
                    "\(signal.metric.phrase) changed in \(signal.series.dimension.rawValue) \(signal.series.value)'s own traffic"
            case .route:
                return "broad: spread over the deployments and tenants of route \(signal.series.value)"
            }
        }
        let share =
            "\(percent(attribution.deviationShare)) of the deviation is on \(attribution.dimension.rawValue) \(attribution.value), which carries \(percent(attribution.trafficShare)) of the traffic"
        switch attribution.dimension {
        case .deployment, .provider:
            return providerSide.contains(signal.metric)
                ? "\(share) → provider-side degradation on \(attribution.dimension.rawValue) \(attribution.value)"
                : "\(share) → change on \(attribution.dimension.rawValue) \(attribution.value)"
        case .tenant, .agent:
            return providerSide.contains(signal.metric)
                ? "\(share) → \(attribution.dimension.rawValue) \(attribution.value)'s requests, not the deployments"
                : "\(share) → surge from \(attribution.dimension.rawValue) \(attribution.value)"
        case .route:
            return "\(share) → route \(attribution.value)"
        }
    }

    static func percent(_ share: Double) -> String { "\(Int((share * 100).rounded())) %" }
}
