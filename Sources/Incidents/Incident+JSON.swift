import SwitchyardCore

extension Incident {
    /// The incident as the admin API serves it and the store keeps it; also the webhook's body
    /// (with `type`).
    public func json(type: String? = nil) -> String {
        var fields: [(String, String)] = []
        if let type { fields.append(("type", Self.string(type))) }
        fields += [
            ("id", Self.string(id)), ("status", Self.string(status.rawValue)), ("summary", Self.string(summary)),
            ("cause", Self.string(cause)), ("cause_key", Self.string(causeKey.description)),
            ("opened_at", Self.string(openedAt.rfc3339Seconds)), ("updated_at", Self.string(updatedAt.rfc3339Seconds)),
            ("resolved_at", resolvedAt.map { Self.string($0.rfc3339Seconds) } ?? "null"),
            ("merged_into", mergedInto.map(Self.string) ?? "null"),
        ]
        if let attribution {
            fields.append(
                (
                    "where",
                    Self.object([
                        ("dimension", Self.string(attribution.dimension.rawValue)), ("value", Self.string(attribution.value)),
                        ("deviation_share", Self.number(attribution.deviationShare)),
                        ("traffic_share", Self.number(attribution.trafficShare)),
                    ])
                ))
        } else {
            fields.append(("where", "null"))
        }
        let signalObjects = signals.map { signal in
            Self.object([
                ("series", Self.string(signal.series.description)), ("metric", Self.string(signal.metric.rawValue)),
                ("expected", Self.number(signal.expected)), ("observed", Self.number(signal.observed)),
                ("worst", Self.number(signal.worst)), ("since", Self.string(signal.since.rfc3339Seconds)),
                ("summary", Self.string(signal.summary)),
            ])
        }
        fields.append(("signals", "[" + signalObjects.joined(separator: ",") + "]"))
        for (name, values) in [("tenants", tenants), ("agents", agents), ("routes", routes)] {
            fields.append((name, "[" + values.sorted().map(Self.string).joined(separator: ",") + "]"))
        }
        fields.append(("cost", Self.string(Money.format(nanos: costNanos))))
        fields.append(("mitigations", "[" + mitigations.map(Self.mitigationObject).joined(separator: ",") + "]"))
        return Self.object(fields)
    }

    static func mitigationObject(_ mitigation: Mitigation) -> String {
        object([
            ("action", string(mitigation.action)), ("target", string(mitigation.target)),
            ("at", string(mitigation.at.rfc3339Seconds)),
            ("undone_at", mitigation.undoneAt.map { string($0.rfc3339Seconds) } ?? "null"),
            ("refused", mitigation.refused.map(string) ?? "null"),
        ])
    }

    static func string(_ text: String) -> String { AuditValue.jsonString(text) }

    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if let whole = Int64(exactly: value) { return String(whole) }
        return "\((value * 1e6).rounded() / 1e6)"
    }

    static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { Self.string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }
}
