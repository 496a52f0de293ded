import Foundation
import Probes
import Storage
import SwitchyardConfig
import SwitchyardCore

/// The scorecard per provider and model: the latest canary quality score and recall curve, and
/// from the ledger (probes included) p95 latency, provider-side error rate and cost per million
/// tokens over 24 hours, and availability (the share of minutes with traffic in which the
/// deployment answered) over 24 hours and 7 days. Served by `GET /admin/v1/probes/scorecard` and
/// `switchyard probes scorecard`.
public enum ProbeScorecard {
    public static func rows(
        configuration: SwitchyardConfiguration, store: SQLStore, now: UnixMicros = .now()
    ) async throws -> [ScorecardRow] {
        let latest = Dictionary(
            try await store.latestProbeRounds().compactMap(CanaryProber.decode).map { ($0.deployment, $0) },
            uniquingKeysWith: { first, _ in first })
        var groups: [String: [Deployment]] = [:]
        for deployment in configuration.deployments {
            groups["\(deployment.provider)\u{0}\(deployment.model)", default: []].append(deployment)
        }
        var rows: [ScorecardRow] = []
        for key in groups.keys.sorted() {
            let deployments = groups[key]!
            let names = deployments.map(\.name)
            let day = try await store.deploymentTraffic(names, since: UnixMicros(now.value - 86_400_000_000))
            let week = try await store.deploymentTraffic(names, since: UnixMicros(now.value - 7 * 86_400_000_000))
            rows.append(
                ScorecardRow(
                    provider: deployments[0].provider, model: deployments[0].model, deployments: names,
                    latest: names.compactMap { latest[$0] }, day: day, week: week))
        }
        return rows
    }

    public static func json(_ rows: [ScorecardRow]) -> String {
        func string(_ text: String) -> String { AuditValue.jsonString(text) }
        func number(_ value: Double?) -> String {
            guard let value, value.isFinite else { return "null" }
            return String(format: "%.4f", value)
        }
        let objects = rows.map { row -> String in
            let points = row.curve.byLength.map {
                "{\"tokens\":\($0.tokens),\"recalled\":\($0.recalled),\"planted\":\($0.planted),\"recall\":\(number($0.recall))}"
            }
            let depths = row.curve.byDepth.map { "{\"depth\":\(number($0.depth)),\"recall\":\(number($0.recall))}" }
            let fields: [(String, String)] = [
                ("provider", string(row.provider)), ("model", string(row.model)),
                ("deployments", "[" + row.deployments.map(string).joined(separator: ",") + "]"),
                ("quality", number(row.quality)), ("probed_at", row.probedAt.map { string($0.rfc3339Seconds) } ?? "null"),
                ("recall_by_length", "[" + points.joined(separator: ",") + "]"),
                ("recall_by_depth", "[" + depths.joined(separator: ",") + "]"),
                ("drift", "[" + row.drift.map { string($0.summary) }.joined(separator: ",") + "]"),
                ("requests_24h", String(row.day.requests)), ("requests_7d", String(row.week.requests)),
                ("p95_latency_ms_24h", row.day.p95LatencyMicros.map { number(Double($0) / 1000) } ?? "null"),
                ("error_rate_24h", number(row.day.errorRate)),
                (
                    "cost_per_mtok_24h",
                    row.day.costPerMillionTokensNanos.map { string(Money.format(nanos: $0)) } ?? "null"
                ),
                ("currency", row.day.currency.map(string) ?? "null"),
                ("availability_24h", number(row.day.availability)), ("availability_7d", number(row.week.availability)),
            ]
            return "{" + fields.map { string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
        }
        return "[" + objects.joined(separator: ",") + "]"
    }

    /// The table `switchyard probes scorecard` prints.
    public static func table(_ rows: [ScorecardRow]) -> (header: [String], rows: [[String]]) {
        func percent(_ value: Double?) -> String { value.map { String(format: "%.1f %%", $0 * 100) } ?? "-" }
        let header = [
            "provider", "model", "quality", "recall by length", "p95 24h", "errors 24h", "cost/1M tok 24h", "avail 24h",
            "avail 7d", "drift",
        ]
        let lines = rows.map { row -> [String] in
            [
                row.provider, row.model, row.quality.map { String(format: "%.2f", $0) } ?? "-",
                row.curve.byLength.map { "\($0.tokens):\($0.recalled)/\($0.planted)" }.joined(separator: " "),
                row.day.p95LatencyMicros.map { String(format: "%.0f ms", Double($0) / 1000) } ?? "-",
                percent(row.day.errorRate),
                row.day.costPerMillionTokensNanos.map { "\(Money.format(nanos: $0)) \(row.day.currency ?? "")" } ?? "-",
                percent(row.day.availability), percent(row.week.availability),
                row.drift.isEmpty ? "" : row.drift.map(\.summary).joined(separator: "; "),
            ]
        }
        return (header, lines)
    }
}
