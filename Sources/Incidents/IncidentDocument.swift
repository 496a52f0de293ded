import SwitchyardCore

/// An incident that is not a traffic anomaly (a run's pattern, a model's drift), in the same JSON
/// shape as `Incident.json` with a `kind`, so lists, the CLI and webhooks treat all alike.
public struct IncidentDocument: Sendable, Equatable {
    public struct Signal: Sendable, Equatable {
        public var series: String
        public var metric: String
        public var since: UnixMicros
        public var summary: String

        public init(series: String, metric: String, since: UnixMicros, summary: String) {
            self.series = series
            self.metric = metric
            self.since = since
            self.summary = summary
        }
    }

    public var id: String
    public var kind: String
    public var resolvedAt: UnixMicros?
    public var summary: String
    public var cause: String
    public var causeKey: String
    public var openedAt: UnixMicros
    public var updatedAt: UnixMicros
    public var whereDimension: String
    public var whereValue: String
    public var signals: [Signal]
    public var tenants: [String] = []
    public var agents: [String] = []
    public var costNanos: Int64 = 0
    public var mitigations: [Incident.Mitigation] = []

    public init(
        id: String, kind: String, summary: String, cause: String, causeKey: String, openedAt: UnixMicros,
        updatedAt: UnixMicros, where dimension: String, _ value: String, signals: [Signal]
    ) {
        self.id = id
        self.kind = kind
        self.summary = summary
        self.cause = cause
        self.causeKey = causeKey
        self.openedAt = openedAt
        self.updatedAt = updatedAt
        self.whereDimension = dimension
        self.whereValue = value
        self.signals = signals
    }

    public var status: String { resolvedAt == nil ? "open" : "resolved" }

    public func json(type: String? = nil) -> String {
        func string(_ text: String) -> String { AuditValue.jsonString(text) }
        func list(_ values: [String]) -> String { "[" + values.map(string).joined(separator: ",") + "]" }
        let signalObjects = signals.map { signal in
            Incident.object([
                ("series", string(signal.series)), ("metric", string(signal.metric)),
                ("since", string(signal.since.rfc3339Seconds)), ("summary", string(signal.summary)),
            ])
        }
        var fields: [(String, String)] = []
        if let type { fields.append(("type", string(type))) }
        fields += [
            ("id", string(id)), ("kind", string(kind)), ("status", string(status)), ("summary", string(summary)),
            ("cause", string(cause)), ("cause_key", string(causeKey)), ("opened_at", string(openedAt.rfc3339Seconds)),
            ("updated_at", string(updatedAt.rfc3339Seconds)),
            ("resolved_at", resolvedAt.map { string($0.rfc3339Seconds) } ?? "null"), ("merged_into", "null"),
            ("where", Incident.object([("dimension", string(whereDimension)), ("value", string(whereValue))])),
            ("signals", "[" + signalObjects.joined(separator: ",") + "]"), ("tenants", list(tenants)),
            ("agents", list(agents)), ("routes", "[]"), ("cost", string(Money.format(nanos: costNanos))),
            ("mitigations", "[" + mitigations.map(Incident.mitigationObject).joined(separator: ",") + "]"),
        ]
        return Incident.object(fields)
    }
}
