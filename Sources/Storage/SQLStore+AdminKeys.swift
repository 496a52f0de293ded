import SwitchyardCore

extension SQLStore {
    /// Stores a new admin key; with a `principal`, its `admin_key.create` audit entry is appended
    /// in the same transaction, so no admin credential exists unaudited.
    public func insertAdminKey(_ record: AdminKeyRecord, auditedAs principal: String? = nil) async throws {
        try await run { connection in
            try connection.writeTransaction(lock: Self.auditLock) {
                try connection.query(
                    "INSERT INTO admin_keys (id, key_hash, role, tenant, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        .text(record.id), .text(record.hash), .text(record.role.rawValue), .optional(record.tenant),
                        .integer(record.createdAt.value), .optional(record.revokedAt?.value),
                    ])
                guard let principal else { return }
                try self.appendAudit(
                    [
                        AuditEntry(
                            principal: principal, action: "admin_key.create", target: "admin-key:\(record.id)",
                            tenant: record.tenant,
                            after: AuditValue.object([
                                ("id", record.id), ("role", record.role.rawValue), ("tenant", record.tenant),
                            ]))
                    ], on: connection)
            }
        }
    }

    public func adminKey(id: String) async throws -> AdminKeyRecord? {
        try await run { connection in
            try connection.query(
                "SELECT id, key_hash, role, tenant, created_at, revoked_at FROM admin_keys WHERE id = ?", [.text(id)]
            ).first.flatMap(Self.adminKeyRecord)
        }
    }

    public func adminKeys() async throws -> [AdminKeyRecord] {
        try await run { connection in
            try connection.query(
                "SELECT id, key_hash, role, tenant, created_at, revoked_at FROM admin_keys ORDER BY created_at, id"
            )
            .compactMap(Self.adminKeyRecord)
        }
    }

    /// Revokes an admin key and, when it was active, appends its `admin_key.revoke` audit entry in
    /// the same transaction. Returns whether there is such a key.
    public func revokeAdminKey(id: String, at time: UnixMicros = .now(), auditedAs principal: String) async throws -> Bool {
        try await run { connection in
            try connection.writeTransaction(lock: Self.auditLock) {
                let select = "SELECT id, key_hash, role, tenant, created_at, revoked_at FROM admin_keys WHERE id = ?"
                guard let before = try connection.query(select, [.text(id)]).first.flatMap(Self.adminKeyRecord) else {
                    return false
                }
                guard before.revokedAt == nil else { return true }
                try connection.query("UPDATE admin_keys SET revoked_at = ? WHERE id = ?", [.integer(time.value), .text(id)])
                try self.appendAudit(
                    [
                        AuditEntry(
                            principal: principal, action: "admin_key.revoke", target: "admin-key:\(id)", tenant: before.tenant)
                    ],
                    on: connection)
                return true
            }
        }
    }

    public func revokeAdminKey(id: String, at time: UnixMicros = .now()) async throws -> Bool {
        try await run { connection in
            try connection.query(
                "UPDATE admin_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [.integer(time.value), .text(id)])
            return try !connection.query("SELECT id FROM admin_keys WHERE id = ?", [.text(id)]).isEmpty
        }
    }

    private static func adminKeyRecord(_ row: SQLRow) -> AdminKeyRecord? {
        guard let role = row[2].text.flatMap(AdminRole.init) else { return nil }
        return AdminKeyRecord(
            id: row[0].text ?? "", hash: row[1].text ?? "", role: role, tenant: row[3].text,
            createdAt: UnixMicros(row[4].integer ?? 0), revokedAt: row[5].integer.map(UnixMicros.init))
    }
}
