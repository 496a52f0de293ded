import SwitchyardCore

extension SQLStore {
    /// Engages a kill switch and audits it in the same transaction. Returns false (and changes
    /// nothing) when the scope's switch was already engaged with as much authority; a switch
    /// engaged with less is taken over, so a tenant-admin's earlier switch cannot hold the admin's.
    @discardableResult
    public func engageKillSwitch(_ kill: KillSwitch, principal: String) async throws -> Bool {
        try await run { connection in
            try connection.writeTransaction(lock: Self.auditLock) {
                let existing = try connection.query(
                    "SELECT scope, engaged_at, reason, engaged_by, authority FROM kill_switches WHERE scope = ?",
                    [.text(kill.scope.description)]
                ).first.flatMap(Self.killSwitch)
                if let existing {
                    guard existing.authority < kill.authority else { return false }
                    try connection.query("DELETE FROM kill_switches WHERE scope = ?", [.text(kill.scope.description)])
                }
                try connection.query(
                    "INSERT INTO kill_switches (scope, engaged_at, reason, engaged_by, authority) VALUES (?, ?, ?, ?, ?)",
                    [
                        .text(kill.scope.description), .integer(kill.engagedAt.value), .text(kill.reason), .text(kill.engagedBy),
                        .text(kill.authority.rawValue),
                    ])
                try self.appendAudit(
                    [
                        AuditEntry(
                            principal: principal, action: "kill_switch.engage", target: kill.scope.description,
                            tenant: kill.scope.tenant, before: existing?.auditValue, after: kill.auditValue, detail: kill.reason)
                    ], on: connection)
                try connection.announce(.killSwitches)
                return true
            }
        }
    }

    /// Releases a kill switch and audits it in the same transaction; returns the one released, or
    /// nil when none was engaged. A principal with less `authority` than the switch was engaged
    /// with changes nothing: the attempt is audited and `KillSwitch.ReleaseRefused` thrown.
    @discardableResult
    public func releaseKillSwitch(
        _ scope: GovernanceScope, principal: String, authority: KillSwitch.Authority = .admin
    ) async throws -> KillSwitch? {
        let (released, refused) = try await run { connection -> (KillSwitch?, KillSwitch?) in
            try connection.writeTransaction(lock: Self.auditLock) {
                let rows = try connection.query(
                    "SELECT scope, engaged_at, reason, engaged_by, authority FROM kill_switches WHERE scope = ?",
                    [.text(scope.description)])
                guard let row = rows.first, let kill = Self.killSwitch(row) else { return (nil, nil) }
                guard authority >= kill.authority else {
                    let refusal = KillSwitch.ReleaseRefused(kill: kill, authority: authority)
                    try self.appendAudit(
                        [
                            AuditEntry(
                                principal: principal, action: "kill_switch.release_refused", target: scope.description,
                                tenant: scope.tenant, before: kill.auditValue, detail: refusal.message)
                        ], on: connection)
                    return (nil, kill)
                }
                try connection.query("DELETE FROM kill_switches WHERE scope = ?", [.text(scope.description)])
                try self.appendAudit(
                    [
                        AuditEntry(
                            principal: principal, action: "kill_switch.release", target: scope.description,
                            tenant: scope.tenant, before: kill.auditValue)
                    ], on: connection)
                try connection.announce(.killSwitches)
                return (kill, nil)
            }
        }
        if let refused { throw KillSwitch.ReleaseRefused(kill: refused, authority: authority) }
        return released
    }

    public func killSwitches() async throws -> [KillSwitch] {
        try await run { connection in
            try connection.query("SELECT scope, engaged_at, reason, engaged_by, authority FROM kill_switches ORDER BY scope")
                .compactMap(Self.killSwitch)
        }
    }

    private static func killSwitch(_ row: SQLRow) -> KillSwitch? {
        guard let scope = row[0].text.flatMap(GovernanceScope.init) else { return nil }
        // Rows from before authority was recorded (NULL) count as admin's, the reading that lets fewest release them.
        return KillSwitch(
            scope: scope, engagedAt: UnixMicros(row[1].integer ?? 0), reason: row[2].text ?? "", engagedBy: row[3].text ?? "",
            authority: row[4].text.flatMap(KillSwitch.Authority.init) ?? .admin)
    }
}
