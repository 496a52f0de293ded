import SwitchyardCore

extension SQLStore {
    /// How a process MACs the audit entries it appends.
    public enum AuditSigning: Sendable {
        /// No audit key configured: entries carry no MAC.
        case off
        case keys(AuditKeyring)
        /// A key is configured but cannot be used (variable unset or malformed): appending fails
        /// with this reason rather than write an unsigned entry after signed ones.
        case unavailable(String)
    }

    /// Appending audit entries is refused: the configured audit key cannot be used.
    public struct AuditKeyUnavailable: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Appends entries to the audit chain, each hashed over its content and the previous entry's
    /// hash and MACed when a key is configured, and returns them as stored. The read of the
    /// chain's head and the insert happen under one write lock, so replicas and CLI processes
    /// appending at once still form one chain.
    @discardableResult
    public func appendAudit(_ entries: [AuditEntry]) async throws -> [AuditEntry] {
        guard !entries.isEmpty else { return [] }
        return try await run { connection in
            try connection.writeTransaction(lock: Self.auditLock) { try self.appendAudit(entries, on: connection) }
        }
    }

    /// The advisory lock (PostgreSQL) every writer of the audit chain holds.
    static let auditLock: Int64 = 7_418_002

    /// Appends within the caller's write transaction, which must hold `auditLock`.
    @discardableResult
    func appendAudit(_ entries: [AuditEntry], on connection: SQLConnection) throws -> [AuditEntry] {
        let keyring: AuditKeyring?
        switch auditSigning {
        case .off: keyring = nil
        case .keys(let keys): keyring = keys
        case .unavailable(let reason): throw AuditKeyUnavailable(description: reason)
        }
        var head = try connection.query("SELECT sequence, hash FROM audit_log ORDER BY sequence DESC LIMIT 1")
            .first.map { (sequence: $0[0].integer ?? 0, hash: $0[1].text ?? "") }
        var tenantHeads: [String: Int64] = [:]
        var stored: [AuditEntry] = []
        for entry in entries {
            var chained = entry.chained(after: head)
            if let keyring { chained = chained.signed(with: keyring) }
            if let tenant = chained.tenant {
                let last =
                    try tenantHeads[tenant]
                    ?? connection.query(
                        "SELECT MAX(tenant_sequence) FROM audit_log WHERE tenant = ?", [.text(tenant)]
                    ).first?[0].integer ?? 0
                chained.tenantSequence = last + 1
                tenantHeads[tenant] = last + 1
            }
            try connection.query(
                """
                INSERT INTO audit_log (sequence, at, principal, action, target, tenant, before_value, after_value,
                    detail, previous_hash, hash, key_id, mac, tenant_sequence)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .integer(chained.sequence), .integer(chained.time.value), .text(chained.principal),
                    .text(chained.action), .text(chained.target), .optional(chained.tenant), .optional(chained.before),
                    .optional(chained.after), .optional(chained.detail), .text(chained.previousHash), .text(chained.hash),
                    .optional(chained.keyID), .optional(chained.mac), .optional(chained.tenantSequence),
                ])
            head = (chained.sequence, chained.hash)
            stored.append(chained)
        }
        return stored
    }

    static let auditColumns =
        "sequence, at, principal, action, target, tenant, before_value, after_value, detail, previous_hash, hash, key_id, mac, tenant_sequence"

    static func auditEntry(_ row: SQLRow) -> AuditEntry {
        var entry = AuditEntry(
            time: UnixMicros(row[1].integer ?? 0), principal: row[2].text ?? "", action: row[3].text ?? "",
            target: row[4].text ?? "", tenant: row[5].text, before: row[6].text, after: row[7].text, detail: row[8].text)
        entry.sequence = row[0].integer ?? 0
        entry.previousHash = row[9].text ?? ""
        entry.hash = row[10].text ?? ""
        entry.keyID = row[11].text
        entry.mac = row[12].text
        entry.tenantSequence = row[13].integer
        return entry
    }

    /// Entries after `sequence` in chain order, at most `limit`; only `tenant`'s when given.
    public func auditEntries(after sequence: Int64 = 0, limit: Int = 1000, tenant: String? = nil) async throws -> [AuditEntry] {
        try await run { connection in
            let rows =
                if let tenant {
                    try connection.query(
                        "SELECT \(Self.auditColumns) FROM audit_log WHERE sequence > ? AND tenant = ? ORDER BY sequence LIMIT ?",
                        [.integer(sequence), .text(tenant), .integer(Int64(limit))])
                } else {
                    try connection.query(
                        "SELECT \(Self.auditColumns) FROM audit_log WHERE sequence > ? ORDER BY sequence LIMIT ?",
                        [.integer(sequence), .integer(Int64(limit))])
                }
            return rows.map(Self.auditEntry)
        }
    }

    /// `tenant`'s entries after its own number `tenantSequence`, in order, at most `limit`: the
    /// tenant's view, numbered without the gaps other tenants' entries leave in `sequence`.
    public func tenantAuditEntries(_ tenant: String, after tenantSequence: Int64 = 0, limit: Int = 1000) async throws
        -> [AuditEntry]
    {
        try await run { connection in
            try connection.query(
                """
                SELECT \(Self.auditColumns) FROM audit_log WHERE tenant = ? AND tenant_sequence > ?
                ORDER BY tenant_sequence LIMIT ?
                """,
                [.text(tenant), .integer(tenantSequence), .integer(Int64(limit))]
            ).map(Self.auditEntry)
        }
    }

    /// The chain's last entry, or nil while it is empty: one indexed query.
    public func auditHead() async throws -> AuditEntry? {
        try await run { connection in
            try connection.query("SELECT \(Self.auditColumns) FROM audit_log ORDER BY sequence DESC LIMIT 1").first
                .map(Self.auditEntry)
        }
    }

    /// Walks the whole chain in pages, checking MACs with `keyring` when given and the chain
    /// against `checkpoints` (whose own MACs the caller checked); the first break, if any, and how
    /// many entries were checked.
    public func verifyAudit(
        keyring: AuditKeyring? = nil, checkpoints: [AuditCheckpoint] = [], pageSize: Int = 5000
    ) async throws -> AuditChainVerifier {
        var verifier = AuditChainVerifier(keyring: keyring, checkpoints: checkpoints)
        var after: Int64 = 0
        while verifier.firstBreak == nil {
            let page = try await auditEntries(after: after, limit: pageSize)
            guard let last = page.last else { break }
            for entry in page { verifier.check(entry) }
            after = last.sequence
        }
        verifier.finish()
        return verifier
    }
}

extension SQLStore {
    /// What `scope` spent in `[since, until)`, in nano-units of `currency`, from the hourly
    /// rollups (budget periods start on whole hours). A project's spend is its keys' spend.
    public func spend(of scope: GovernanceScope, since: UnixMicros, until: UnixMicros, currency: String) async throws -> Int64 {
        try await run { connection in
            var sql =
                "SELECT COALESCE(SUM(cost_nanos), 0) FROM usage_rollups WHERE bucket_start >= ? AND bucket_start < ? AND currency = ?"
            var binds: [SQLValue] = [.integer(since.value), .integer(until.value), .text(currency)]
            switch scope {
            case .tenant(let tenant):
                sql += " AND tenant = ?"
                binds.append(.text(tenant))
            case .agent(let tenant, let agent):
                sql += " AND tenant = ? AND agent = ?"
                binds += [.text(tenant), .text(agent)]
            case .project(let tenant, let project):
                sql += " AND tenant = ? AND key_id IN (SELECT id FROM api_keys WHERE tenant = ? AND project = ?)"
                binds += [.text(tenant), .text(tenant), .text(project)]
            case .key(let id):
                sql += " AND key_id = ?"
                binds.append(.text(id))
            case .run(let tenant, let run):
                // Not a budget's scope (the configuration refuses it); read from the run's own hours.
                sql =
                    "SELECT COALESCE(SUM(cost_nanos), 0) FROM run_hours WHERE hour_start >= ? AND hour_start < ? AND currency = ? AND tenant = ? AND run_id = ?"
                binds += [.text(tenant), .text(run)]
            }
            return try connection.query(sql, binds).first?[0].integer ?? 0
        }
    }
}

extension SQLConnection {
    /// A transaction that takes the write lock at once: `BEGIN IMMEDIATE` on SQLite, a
    /// transaction-scoped advisory lock on PostgreSQL, so read-then-write sequences never interleave.
    public func writeTransaction<T>(lock: Int64, _ body: () throws -> T) throws -> T {
        switch dialect {
        case .sqlite:
            return try transaction(begin: "BEGIN IMMEDIATE", body)
        case .postgres:
            return try transaction {
                try query("SELECT pg_advisory_xact_lock(\(lock))")
                return try body()
            }
        }
    }
}
