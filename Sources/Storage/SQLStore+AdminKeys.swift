import SwitchyardCore

extension SQLStore {
    public func insertAdminKey(_ record: AdminKeyRecord) async throws {
        try await run { connection in
            try connection.query(
                "INSERT INTO admin_keys (id, key_hash, role, tenant, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    .text(record.id), .text(record.hash), .text(record.role.rawValue), .optional(record.tenant),
                    .integer(record.createdAt.value), .optional(record.revokedAt?.value),
                ])
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
