import Foundation
import Governance
import Logging
import Providers
import Storage
import SwitchyardConfig
import SwitchyardCore

/// Builds the governor `serve` runs with: budgets seeded from the ledger, alerts to the webhook.
public enum GovernanceSetup {
    /// With `fleetStore`, budgets are shared by every replica on that store (leases).
    public static func governor(
        _ configuration: SwitchyardConfiguration, store: SQLStore, audit: AuditTrail, transport: any UpstreamTransport,
        fleetStore: (any FleetQuotaStore)? = nil, logger: Logger
    ) async throws -> Governor {
        let webhook = configuration.governance.alertWebhook
        let fleet = fleetStore.map { fleetStore in
            FleetLeases(
                replica: configuration.server.replicaID, store: fleetStore,
                leaseMilliseconds: Int64(configuration.storage.leaseSeconds) * 1000,
                ledgerSpend: { budget, period in
                    try await store.spend(
                        of: budget.scope, since: period.start, until: period.end, currency: budget.limit.currency)
                }, logger: logger)
        }
        let governor = Governor(
            tenants: configuration.tenants, policies: configuration.policies, limits: configuration.limits,
            budgets: configuration.budgets, audit: audit,
            assumedOutputTokens: configuration.governance.assumedOutputTokens, fleet: fleet,
            alert: { event in
                logger.warning("budget alert", metadata: ["budget": "\(event.budget.name)", "event": "\(event.summary)"])
                guard let webhook else { return }
                Task { await post(payload(event), to: webhook, transport: transport, logger: logger) }
            },
            killSwitchEngaged: { kill in
                logger.error(
                    "governance engaged a kill switch", metadata: ["scope": "\(kill.scope)", "reason": "\(kill.reason)"])
                Task {
                    // Retried for a minute: until stored, the other replicas do not know it, and the
                    // next refresh from the store drops it here too.
                    for attempt in 1...12 {
                        do {
                            // Announced once: a second stop of the same scope (a race) is not new.
                            guard try await store.engageKillSwitch(kill, principal: "switchyard") else { return }
                            if let webhook { await post(payload(kill), to: webhook, transport: transport, logger: logger) }
                            return
                        } catch {
                            logger.error(
                                "could not store the kill switch", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                            try? await Task.sleep(for: .seconds(5))
                        }
                    }
                }
            })
        try await seedBudgets(governor.budgets, store: store)
        return governor
    }

    /// Each budget starts from what its scope already spent in the current period.
    static func seedBudgets(
        _ keeper: BudgetKeeper, store: SQLStore, only names: Set<String>? = nil, now: UnixMicros = .now()
    ) async throws {
        for status in keeper.status(now: now) {
            guard let period = status.period, names?.contains(status.budget.name) ?? true else { continue }
            let spent = try await store.spend(
                of: status.budget.scope, since: period.start, until: period.end, currency: status.budget.limit.currency)
            keeper.load(budget: status.budget.name, period: period, spent: spent)
        }
    }

    static func payload(_ event: BudgetEvent, at time: UnixMicros = .now()) -> [UInt8] {
        var object: [(String, String?)] = [
            ("type", event.kind), ("budget", event.budget.name), ("scope", event.budget.scope.description),
            ("tenant", event.budget.scope.tenant), ("limit", event.budget.limit.decimalString),
            ("spent", event.spent.decimalString), ("currency", event.budget.limit.currency),
            ("at", time.rfc3339Seconds), ("message", event.summary),
        ]
        if case .threshold(_, let fraction, _) = event { object.append(("threshold", "\(fraction)")) }
        return Array(AuditValue.orderedObject(object).utf8)
    }

    static func payload(_ kill: KillSwitch) -> [UInt8] {
        Array(
            AuditValue.object([
                ("type", "kill_switch.engaged"), ("scope", kill.scope.description), ("tenant", kill.scope.tenant),
                ("reason", kill.reason), ("engaged_by", kill.engagedBy), ("at", kill.engagedAt.rfc3339Seconds),
            ]).utf8)
    }

    public static func post(_ body: [UInt8], to url: String, transport: any UpstreamTransport, logger: Logger) async {
        let request = UpstreamRequest(
            url: url, headers: [("content-type", "application/json")], body: body,
            timeouts: Timeouts(connect: .seconds(5), firstByte: .seconds(10), idle: .seconds(10), total: .seconds(15)),
            maxConnections: 2)
        do {
            let response = try await transport.send(request)
            for try await _ in response.body {}
            if !(200..<300).contains(response.status) {
                logger.warning("governance webhook refused", metadata: ["status": "\(response.status)"])
            }
        } catch {
            logger.warning("governance webhook failed", metadata: ["error": "\(error)"])
        }
    }
}
