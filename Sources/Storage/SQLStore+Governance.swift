import SwitchyardCore

extension SQLStore {
    /// Live governance state: every record and the revision it is at. Revision 0 means it was
    /// never written (a new store), which `serve` answers by importing the configuration file.
    public func governanceState() async throws -> (revision: Int64, records: [GovernanceRecord]) {
        try await run { connection in
            try connection.transaction {
                let revision = try Self.governanceRevision(connection)
                let records = try connection.query(
                    "SELECT kind, name, declaration FROM governance_objects ORDER BY kind, name"
                ).compactMap { row -> GovernanceRecord? in
                    guard let kind = row[0].text.flatMap(GovernanceRecord.Kind.init(rawValue:)) else { return nil }
                    return GovernanceRecord(kind: kind, name: row[1].text ?? "", declaration: row[2].text ?? "")
                }
                return (revision, records.sorted { ($0.kind, $0.name) < ($1.kind, $1.name) })
            }
        }
    }

    /// The revision alone: cheap enough for every replica to poll each second.
    public func governanceRevision() async throws -> Int64 {
        try await run { connection in try Self.governanceRevision(connection) }
    }

    /// Writes `changes` and their audit entries in one transaction, and moves the revision on
    /// (also when `changes` is empty, so an import marks the state as written). With
    /// `expectedRevision`, a state changed meanwhile by another writer fails with `GovernanceConflict`.
    @discardableResult
    public func writeGovernance(
        _ changes: [GovernanceWrite], audit: [AuditEntry], by principal: String, expectedRevision: Int64? = nil,
        now: UnixMicros = .now()
    ) async throws -> Int64 {
        try await run { connection in
            // The audit chain's lock: the objects, the revision and the chain change together.
            try connection.writeTransaction(lock: Self.auditLock) {
                let revision = try Self.governanceRevision(connection)
                if let expectedRevision, expectedRevision != revision {
                    throw GovernanceConflict(expected: expectedRevision, found: revision)
                }
                for change in changes {
                    switch change {
                    case .put(let record):
                        try connection.query(
                            "DELETE FROM governance_objects WHERE kind = ? AND name = ?",
                            [.text(record.kind.rawValue), .text(record.name)])
                        try connection.query(
                            """
                            INSERT INTO governance_objects (kind, name, declaration, updated_at, updated_by)
                            VALUES (?, ?, ?, ?, ?)
                            """,
                            [
                                .text(record.kind.rawValue), .text(record.name), .text(record.declaration), .integer(now.value),
                                .text(principal),
                            ])
                    case .remove(let kind, let name):
                        try connection.query(
                            "DELETE FROM governance_objects WHERE kind = ? AND name = ?", [.text(kind.rawValue), .text(name)])
                    }
                }
                try connection.announce(.governance)
                try connection.query("UPDATE governance_revision SET revision = ? WHERE id = 1", [.integer(revision + 1)])
                try self.appendAudit(audit, on: connection)
                return revision + 1
            }
        }
    }

    static func governanceRevision(_ connection: SQLConnection) throws -> Int64 {
        try connection.query("SELECT revision FROM governance_revision WHERE id = 1").first?[0].integer ?? 0
    }
}
