import SwitchyardCore

extension SQLStore {
    /// Engages a kill switch and audits it in the same transaction. Returns false (and changes
    /// nothing) when the scope's switch was already engaged.
    @discardableResult
    public func engageKillSwitch(_ kill: KillSwitch, principal: String) async throws -> Bool {
        let engaged = try await run { connection in
            try connection.transaction {
                let existing = try connection.query(
                    "SELECT scope FROM kill_switches WHERE scope = ?", [.text(kill.scope.description)])
                guard existing.isEmpty else { return false }
                try connection.query(
                    "INSERT INTO kill_switches (scope, engaged_at, reason, engaged_by) VALUES (?, ?, ?, ?)",
                    [.text(kill.scope.description), .integer(kill.engagedAt.value), .text(kill.reason), .text(kill.engagedBy)])
                return true
            }
        }
        if engaged {
            try await appendAudit([
                AuditEntry(
                    principal: principal, action: "kill_switch.engage", target: kill.scope.description,
                    tenant: kill.scope.tenant, after: kill.auditValue, detail: kill.reason)
            ])
        }
        return engaged
    }

    /// Releases a kill switch; returns the one released, or nil when none was engaged.
    @discardableResult
    public func releaseKillSwitch(_ scope: GovernanceScope, principal: String) async throws -> KillSwitch? {
        let released = try await run { connection -> KillSwitch? in
            try connection.transaction {
                let rows = try connection.query(
                    "SELECT scope, engaged_at, reason, engaged_by FROM kill_switches WHERE scope = ?", [.text(scope.description)])
                guard let row = rows.first, let kill = Self.killSwitch(row) else { return nil }
                try connection.query("DELETE FROM kill_switches WHERE scope = ?", [.text(scope.description)])
                return kill
            }
        }
        if let released {
            try await appendAudit([
                AuditEntry(
                    principal: principal, action: "kill_switch.release", target: scope.description, tenant: scope.tenant,
                    before: released.auditValue)
            ])
        }
        return released
    }

    public func killSwitches() async throws -> [KillSwitch] {
        try await run { connection in
            try connection.query("SELECT scope, engaged_at, reason, engaged_by FROM kill_switches ORDER BY scope")
                .compactMap(Self.killSwitch)
        }
    }

    private static func killSwitch(_ row: SQLRow) -> KillSwitch? {
        guard let scope = row[0].text.flatMap(GovernanceScope.init) else { return nil }
        return KillSwitch(
            scope: scope, engagedAt: UnixMicros(row[1].integer ?? 0), reason: row[2].text ?? "", engagedBy: row[3].text ?? "")
    }
}
