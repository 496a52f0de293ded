import DataPlane
import Foundation
import Probes
import Storage
import SwitchyardCore

/// "Model changed" incidents: what runs behind a deployment's name no longer matches the probes'
/// baseline for its declared model. At most one is open per deployment, found in the store by
/// its cause key, so any replica's round updates or resolves it. It resolves when a round raises
/// no drift again: the old model came back, or the declared model changed (a new baseline).
struct DriftIncidents {
    let gateway: Gateway

    static func causeKey(_ deployment: String) -> String { "drift deployment=\(deployment)" }

    func follow(_ round: ProbeRound) async throws {
        let key = Self.causeKey(round.deployment)
        let open = try await gateway.store.openIncident(causeKey: key)
        let now = UnixMicros.now()
        let incident: StoredIncident
        let type: String
        let action: String
        switch (round.drift.isEmpty, open) {
        case (true, nil):
            return
        case (false, nil):
            let id = "inc_" + RandomIdentifier.base62(count: 16)
            incident = Self.incident(id: id, round: round, openedAt: now, at: now)
            (type, action) = ("incident.opened", "incident.opened")
        case (false, let existing?):
            incident = Self.incident(id: existing.id, round: round, openedAt: existing.openedAt, at: now)
            // Only a change of what is flagged is news, not each round's figures.
            guard Self.metrics(of: incident.detail) != Self.metrics(of: existing.detail) else {
                try await gateway.store.saveIncidents([incident], audit: [])
                return
            }
            (type, action) = ("incident.updated", "incident.updated")
        case (true, let existing?):
            var resolved = existing
            resolved.status = "resolved"
            resolved.updatedAt = now
            resolved.resolvedAt = now
            resolved.summary = existing.summary + "; resolved: a probe round matches the baseline again"
            resolved.detail = Self.detail(
                id: existing.id, deployment: round.deployment, declaredModel: round.declaredModel, signals: [],
                summary: resolved.summary, openedAt: existing.openedAt, updatedAt: now, resolvedAt: now)
            incident = resolved
            (type, action) = ("incident.resolved", "incident.resolved")
        }
        let audit = AuditEntry(
            time: now, principal: "switchyard", action: action, target: incident.id, tenant: nil, detail: incident.summary)
        try await gateway.store.saveIncidents([incident], audit: [audit])
        gateway.logger.warning(
            "\(type == "incident.resolved" ? "incident resolved" : type == "incident.opened" ? "incident opened" : "incident updated")",
            metadata: ["incident": "\(incident.id)", "summary": "\(incident.summary)"])
        if let webhook = gateway.configuration.governance.alertWebhook {
            let body = Array(Self.withType(type, incident.detail).utf8)
            await GovernanceSetup.post(body, to: webhook, transport: gateway.transport, logger: gateway.logger)
        }
    }

    static func incident(id: String, round: ProbeRound, openedAt: UnixMicros, at now: UnixMicros) -> StoredIncident {
        let summary =
            "model changed on deployment \(round.deployment) (declared \(round.declaredModel)): "
            + round.drift.map(\.summary).joined(separator: "; ")
        return StoredIncident(
            id: id, status: "open", openedAt: openedAt, updatedAt: now, resolvedAt: nil, causeKey: causeKey(round.deployment),
            summary: summary,
            detail: detail(
                id: id, deployment: round.deployment, declaredModel: round.declaredModel, signals: round.drift,
                summary: summary, openedAt: openedAt, updatedAt: now, resolvedAt: nil))
    }

    /// The same shape as a traffic incident's JSON, with `kind: drift`.
    static func detail(
        id: String, deployment: String, declaredModel: String, signals: [DriftSignal], summary: String,
        openedAt: UnixMicros, updatedAt: UnixMicros, resolvedAt: UnixMicros?
    ) -> String {
        func string(_ text: String) -> String { AuditValue.jsonString(text) }
        let signalObjects = signals.map { signal in
            "{\"series\":\(string("deployment=\(deployment)")),\"metric\":\(string(signal.metric)),"
                + "\"since\":\(string(openedAt.rfc3339Seconds)),\"summary\":\(string(signal.summary))}"
        }
        let fields: [(String, String)] = [
            ("id", string(id)), ("kind", string("drift")), ("status", string(resolvedAt == nil ? "open" : "resolved")),
            ("summary", string(summary)),
            (
                "cause",
                string(
                    "configuration drift at the model layer: deployment \(deployment) no longer answers like \(declaredModel) did"
                )
            ),
            ("cause_key", string(causeKey(deployment))), ("opened_at", string(openedAt.rfc3339Seconds)),
            ("updated_at", string(updatedAt.rfc3339Seconds)),
            ("resolved_at", resolvedAt.map { string($0.rfc3339Seconds) } ?? "null"), ("merged_into", "null"),
            ("where", "{\"dimension\":\"deployment\",\"value\":\(string(deployment))}"),
            ("signals", "[" + signalObjects.joined(separator: ",") + "]"), ("tenants", "[]"), ("agents", "[]"),
            ("routes", "[]"), ("cost", string("0")), ("mitigations", "[]"),
        ]
        return "{" + fields.map { string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }

    /// The kinds of signal an incident's JSON names.
    static func metrics(of detail: String) -> Set<String> {
        guard let object = try? JSONSerialization.jsonObject(with: Data(detail.utf8)) as? [String: Any],
            let signals = object["signals"] as? [[String: Any]]
        else { return [] }
        return Set(signals.compactMap { $0["metric"] as? String })
    }

    static func withType(_ type: String, _ detail: String) -> String {
        "{\"type\":\(AuditValue.jsonString(type))," + detail.dropFirst()
    }
}

extension DriftSignal {
    /// The signal's name in an incident's JSON.
    var metric: String {
        switch self {
        case .modelChanged: "response_model"
        case .fingerprintChanged: "system_fingerprint"
        case .qualityDropped: "canary_quality"
        case .outputLengthShifted: "output_length"
        }
    }
}
