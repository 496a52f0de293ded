import Storage
import SwitchyardConfig
import SwitchyardCore

/// Live governance state: the tenants, policies, limits and budgets in the store, which the admin
/// API and `switchyard config apply` change and every replica follows.
extension Gateway {
    /// At start: a store never written takes the file's declaration (audited as an import);
    /// otherwise the store's state is in force, and a file that differs is reported as drift.
    public func startLiveGovernance() async throws {
        let file = GovernanceDeclaration(configuration).records
        let (revision, live) = try await store.governanceState()
        if revision == 0 {
            let plan = GovernancePlan(live: live, desired: file)
            do {
                try await store.writeGovernance(
                    plan.writes, audit: plan.changes.map { $0.auditEntry(by: "config-import") }, by: "config-import",
                    expectedRevision: 0)
                logger.info("governance state imported from the configuration file", metadata: ["objects": "\(file.count)"])
            } catch is GovernanceConflict {
                // Another replica starting at the same time imported first: its state is the one in force.
            }
        } else {
            let drift = GovernancePlan(live: live, desired: file)
            if !drift.isEmpty {
                logger.warning(
                    "the configuration file differs from live governance state, which stays in force: 'switchyard config plan' shows the differences, 'switchyard config apply' applies the file",
                    metadata: ["changes": "\(drift.changes.count)"])
            }
        }
        guard try await syncLiveGovernance() else {
            throw ServerError("live governance state could not be put in force (see the error above)")
        }
    }

    /// Puts the store's governance state in force when it moved on. Returns false when the
    /// state is invalid for this configuration (the rules in force stay, and it is logged).
    @discardableResult
    package func syncLiveGovernance() async throws -> Bool {
        guard try await store.governanceRevision() != governor.revision else { return true }
        let (revision, records) = try await store.governanceState()
        let declaration: GovernanceDeclaration
        do {
            declaration = try liveDeclaration(records)
        } catch {
            logger.error(
                "live governance state is invalid for this configuration; the previous rules stay in force",
                metadata: ["revision": "\(revision)", "error": "\(error)"])
            return false
        }
        try await store.ensureTenants(declaration.tenants.map(\.name))
        let added = governor.reconfigure(
            revision: revision, tenants: declaration.tenants, policies: declaration.policies, limits: declaration.limits,
            budgets: declaration.budgets)
        if !added.isEmpty {
            try await GovernanceSetup.seedBudgets(governor.budgets, store: store, only: Set(added.map(\.name)))
        }
        return true
    }

    /// Reads stored records, checked against this configuration's routes and providers.
    package func liveDeclaration(_ records: [GovernanceRecord]) throws -> GovernanceDeclaration {
        try GovernanceDeclaration.reading(
            records, routes: Set(configuration.routes.map(\.name)), providers: Set(configuration.providers.map(\.name)),
            source: "live governance state")
    }
}
