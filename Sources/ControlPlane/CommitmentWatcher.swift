import DataPlane
import FinOps
import Foundation
import Logging
import Providers
import ServiceLifecycle
import Storage
import SwitchyardCore

/// Checks provider contracts on an interval: tells routing which providers' commitments are
/// forecast to be under-used (for `prefer_committed` routes), and alerts — a log line and a JSON
/// POST to `finops.alert_webhook` — once per contract, period and kind of warning.
public final class CommitmentWatcher: Service {
    private let gateway: Gateway
    private let interval: Duration
    private let alerted = AlertLog()

    /// Warnings already sent, so a standing shortfall is announced once per period, not every check.
    actor AlertLog {
        private var sent: Set<String> = []

        func firstTime(_ key: String) -> Bool { sent.insert(key).inserted }
    }

    public init(gateway: Gateway, interval: Duration = .seconds(300)) {
        self.gateway = gateway
        self.interval = interval
    }

    public func run() async throws {
        guard !gateway.configuration.commitments.isEmpty else { return try await gracefulShutdown() }
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.check()
                try await Task.sleep(for: self.interval)
            }
        }
    }

    /// One check at `now`; returns the statuses it computed.
    @discardableResult
    func check(now: UnixMicros = .now()) async -> [CommitmentStatus] {
        let commitments = gateway.configuration.commitments
        let periods = commitments.compactMap { $0.period(containing: now) }
        guard let earliest = periods.map(\.start).min() else {
            gateway.monitor.setUnderUsedCommitments(providers: [])
            return []
        }
        let rollups: [UsageRollup]
        do {
            rollups = try await gateway.store.usageRollups(since: earliest, until: UnixMicros(now.value + 1))
        } catch {
            gateway.logger.warning("commitment check could not read the ledger", metadata: ["error": "\(error)"])
            return []
        }
        let statuses = commitments.compactMap { CommitmentStatus(commitment: $0, rollups: rollups, asOf: now) }
        gateway.monitor.setUnderUsedCommitments(
            providers: Set(statuses.filter { ($0.forecastUtilization ?? 1) < 1 }.map(\.provider)))
        for status in statuses {
            for warning in status.warnings {
                let kind = warning.hasPrefix("forecast exceeds") ? "overage" : "shortfall"
                guard await alerted.firstTime("\(status.commitment)|\(status.periodStart.value)|\(kind)") else { continue }
                gateway.logger.warning(
                    "commitment forecast warning",
                    metadata: ["commitment": "\(status.commitment)", "provider": "\(status.provider)", "warning": "\(warning)"])
                await sendWebhook(status, kind: kind, warning: warning)
            }
        }
        return statuses
    }

    static func payload(_ status: CommitmentStatus, kind: String, warning: String) -> String {
        func field(_ name: String, _ value: String?) -> String {
            ReportTable.jsonString(name) + ":" + (value.map(ReportTable.jsonString) ?? "null")
        }
        let fields = [
            field("type", "commitment.\(kind)"), field("commitment", status.commitment), field("provider", status.provider),
            field("period_start", FocusExport.timestamp(status.periodStart)),
            field("period_end", FocusExport.timestamp(status.periodEnd)), field("as_of", FocusExport.timestamp(status.asOf)),
            field("spend_to_date", Money.format(nanos: status.spendToDateNanos)),
            field("forecast_spend", Money.format(nanos: status.forecastSpendNanos)),
            field("committed_spend", status.committedSpendNanos.map(Money.format)),
            field("shortfall", status.shortfallNanos.map(Money.format)), field("overage", status.overageNanos.map(Money.format)),
            field("forecast_utilization", status.forecastUtilization.map { "\($0)" }), field("currency", status.currency),
            field("message", warning),
        ]
        return "{" + fields.joined(separator: ",") + "}"
    }

    private func sendWebhook(_ status: CommitmentStatus, kind: String, warning: String) async {
        guard let url = gateway.configuration.finOps.alertWebhook else { return }
        let request = UpstreamRequest(
            url: url, headers: [("content-type", "application/json")],
            body: Array(Self.payload(status, kind: kind, warning: warning).utf8),
            timeouts: Timeouts(connect: .seconds(5), firstByte: .seconds(10), idle: .seconds(10), total: .seconds(15)),
            maxConnections: 2)
        do {
            let response = try await gateway.transport.send(request)
            for try await _ in response.body {}
            if !(200..<300).contains(response.status) {
                gateway.logger.warning("alert webhook refused", metadata: ["status": "\(response.status)"])
            }
        } catch {
            gateway.logger.warning("alert webhook failed", metadata: ["error": "\(error)"])
        }
    }
}
