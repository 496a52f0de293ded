import SwitchyardCore

extension SQLStore {
    /// Appends entries to the audit chain, each hashed over its content and the previous entry's
    /// hash, and returns them as stored. The read of the chain's head and the insert happen under
    /// one write lock, so replicas and CLI processes appending at once still form one chain.
    @discardableResult
    public func appendAudit(_ entries: [AuditEntry]) async throws -> [AuditEntry] {
        guard !entries.isEmpty else { return [] }
        return try await run { connection in
            try connection.writeTransaction(lock: Self.auditLock) { try Self.appendAudit(entries, on: connection) }
        }
    }

    /// The advisory lock (PostgreSQL) every writer of the audit chain holds.
    static let auditLock: Int64 = 7_418_002

    /// Appends within the caller's write transaction, which must hold `auditLock`.
    @discardableResult
    static func appendAudit(_ entries: [AuditEntry], on connection: SQLConnection) throws -> [AuditEntry] {
        var head = try connection.query("SELECT sequence, hash FROM audit_log ORDER BY sequence DESC LIMIT 1")
            .first.map { (sequence: $0[0].integer ?? 0, hash: $0[1].text ?? "") }
        var stored: [AuditEntry] = []
        for entry in entries {
            let chained = entry.chained(after: head)
            try connection.query(
                """
                INSERT INTO audit_log (sequence, at, principal, action, target, tenant, before_value, after_value,
                    detail, previous_hash, hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .integer(chained.sequence), .integer(chained.time.value), .text(chained.principal),
                    .text(chained.action), .text(chained.target), .optional(chained.tenant), .optional(chained.before),
                    .optional(chained.after), .optional(chained.detail), .text(chained.previousHash), .text(chained.hash),
                ])
            head = (chained.sequence, chained.hash)
            stored.append(chained)
        }
        return stored
    }

    /// Entries after `sequence` in chain order, at most `limit`; only `tenant`'s when given.
    public func auditEntries(after sequence: Int64 = 0, limit: Int = 1000, tenant: String? = nil) async throws -> [AuditEntry] {
        try await run { connection in
            let columns =
                "sequence, at, principal, action, target, tenant, before_value, after_value, detail, previous_hash, hash"
            let rows =
                if let tenant {
                    try connection.query(
                        "SELECT \(columns) FROM audit_log WHERE sequence > ? AND tenant = ? ORDER BY sequence LIMIT ?",
                        [.integer(sequence), .text(tenant), .integer(Int64(limit))])
                } else {
                    try connection.query(
                        "SELECT \(columns) FROM audit_log WHERE sequence > ? ORDER BY sequence LIMIT ?",
                        [.integer(sequence), .integer(Int64(limit))])
                }
            return rows.map { row in
                var entry = AuditEntry(
                    time: UnixMicros(row[1].integer ?? 0), principal: row[2].text ?? "", action: row[3].text ?? "",
                    target: row[4].text ?? "", tenant: row[5].text, before: row[6].text, after: row[7].text,
                    detail: row[8].text)
                entry.sequence = row[0].integer ?? 0
                entry.previousHash = row[9].text ?? ""
                entry.hash = row[10].text ?? ""
                return entry
            }
        }
    }

    /// Walks the whole chain in pages; the first break, if any, and how many entries were checked.
    public func verifyAudit(pageSize: Int = 5000) async throws -> AuditChainVerifier {
        var verifier = AuditChainVerifier()
        var after: Int64 = 0
        while verifier.firstBreak == nil {
            let page = try await auditEntries(after: after, limit: pageSize)
            guard let last = page.last else { break }
            for entry in page { verifier.check(entry) }
            after = last.sequence
        }
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
