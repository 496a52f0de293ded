import DataPlane
import Foundation
import Incidents
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
        let open = try await gateway.store.openIncident(causeKey: Self.causeKey(round.deployment))
        let now = UnixMicros.now()
        let document: IncidentDocument
        let type: String
        switch (round.drift.isEmpty, open) {
        case (true, nil):
            return
        case (false, nil):
            document = Self.document(id: "inc_" + RandomIdentifier.base62(count: 16), round: round, openedAt: now, at: now)
            type = "incident.opened"
        case (false, let existing?):
            document = Self.document(id: existing.id, round: round, openedAt: existing.openedAt, at: now)
            // Only a change of what is flagged is news, not each round's figures.
            guard Set(document.signals.map(\.metric)) != Self.metrics(of: existing.detail) else {
                try await gateway.store.saveIncidents([IncidentWatcher.stored(document)], audit: [])
                return
            }
            type = "incident.updated"
        case (true, let existing?):
            var resolved = Self.document(id: existing.id, round: round, openedAt: existing.openedAt, at: now)
            resolved.summary = existing.summary + "; resolved: a probe round matches the baseline again"
            resolved.resolvedAt = now
            document = resolved
            type = "incident.resolved"
        }
        let audit = AuditEntry(
            time: now, principal: "switchyard", action: type, target: document.id, tenant: nil, detail: document.summary)
        try await gateway.store.saveIncidents([IncidentWatcher.stored(document)], audit: [audit])
        gateway.logger.warning(
            "\(type == "incident.resolved" ? "incident resolved" : type == "incident.opened" ? "incident opened" : "incident updated")",
            metadata: ["incident": "\(document.id)", "summary": "\(document.summary)"])
        if let webhook = gateway.configuration.governance.alertWebhook {
            await GovernanceSetup.post(
                Array(document.json(type: type).utf8), to: webhook, transport: gateway.transport, logger: gateway.logger)
        }
    }

    /// Resolves the drift incidents of deployments no longer probed (taken out of `probes:`, or
    /// of the configuration): no round would ever resolve them.
    func resolveUnprobed(probed: Set<String>) async throws {
        let prefix = Self.causeKey("")
        for stored in try await gateway.store.incidents(status: "open", limit: SQLStore.maximumIncidents)
        where stored.causeKey.hasPrefix(prefix) && !probed.contains(String(stored.causeKey.dropFirst(prefix.count))) {
            let now = UnixMicros.now()
            var resolved = stored
            resolved.status = "resolved"
            resolved.updatedAt = now
            resolved.resolvedAt = now
            resolved.summary = stored.summary + "; resolved: the deployment is no longer probed"
            if var object = try? JSONSerialization.jsonObject(with: Data(stored.detail.utf8)) as? [String: Any] {
                object["status"] = "resolved"
                object["summary"] = resolved.summary
                object["updated_at"] = now.rfc3339Seconds
                object["resolved_at"] = now.rfc3339Seconds
                object["signals"] = [Any]()
                if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
                    resolved.detail = String(decoding: data, as: UTF8.self)
                }
            }
            let audit = AuditEntry(
                time: now, principal: "switchyard", action: "incident.resolved", target: stored.id, tenant: nil,
                detail: resolved.summary)
            try await gateway.store.saveIncidents([resolved], audit: [audit])
            if let webhook = gateway.configuration.governance.alertWebhook {
                await GovernanceSetup.post(
                    Array(("{\"type\":\"incident.resolved\"," + resolved.detail.dropFirst()).utf8), to: webhook,
                    transport: gateway.transport, logger: gateway.logger)
            }
        }
    }

    static func document(id: String, round: ProbeRound, openedAt: UnixMicros, at now: UnixMicros) -> IncidentDocument {
        IncidentDocument(
            id: id, kind: "drift",
            summary: "model changed on deployment \(round.deployment) (declared \(round.declaredModel)): "
                + round.drift.map(\.summary).joined(separator: "; "),
            cause:
                "configuration drift at the model layer: deployment \(round.deployment) no longer answers like \(round.declaredModel) did",
            causeKey: causeKey(round.deployment), openedAt: openedAt, updatedAt: now, where: "deployment", round.deployment,
            signals: round.drift.map {
                IncidentDocument.Signal(
                    series: "deployment=\(round.deployment)", metric: $0.metric, since: openedAt, summary: $0.summary)
            })
    }

    /// The kinds of signal an incident's JSON names.
    static func metrics(of detail: String) -> Set<String> {
        guard let object = try? JSONSerialization.jsonObject(with: Data(detail.utf8)) as? [String: Any],
            let signals = object["signals"] as? [[String: Any]]
        else { return [] }
        return Set(signals.compactMap { $0["metric"] as? String })
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
