import SwitchyardCore

/// Console sessions by the SHA-256 of their token: any replica resolves a session another opened.
extension SQLStore {
    /// Stores a session, and drops the expired ones (so the table holds live sessions only).
    public func insertConsoleSession(_ session: ConsoleSession, tokenHash: String) async throws {
        try await run { connection in
            try connection.query(
                "DELETE FROM console_sessions WHERE expires_at <= ?", [.integer(session.createdAt.value)])
            try connection.query(
                """
                INSERT INTO console_sessions (token_hash, key_id, role, tenant, csrf, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(tokenHash), .optional(session.keyID), .text(session.role.rawValue), .optional(session.tenant),
                    .text(session.csrf), .integer(session.createdAt.value), .integer(session.expiresAt.value),
                ])
        }
    }

    /// The session, unless it has expired by `now`.
    public func consoleSession(tokenHash: String, at now: UnixMicros) async throws -> ConsoleSession? {
        try await run { connection in
            try connection.query(
                """
                SELECT key_id, role, tenant, csrf, created_at, expires_at FROM console_sessions
                WHERE token_hash = ? AND expires_at > ?
                """, [.text(tokenHash), .integer(now.value)]
            ).first.flatMap { row in
                guard let role = row[1].text.flatMap(AdminRole.init(rawValue:)), let csrf = row[3].text,
                    let created = row[4].integer, let expires = row[5].integer
                else { return nil }
                return ConsoleSession(
                    keyID: row[0].text, role: role, tenant: row[2].text, csrf: csrf, createdAt: UnixMicros(created),
                    expiresAt: UnixMicros(expires))
            }
        }
    }

    public func deleteConsoleSession(tokenHash: String) async throws {
        try await run { connection in
            try connection.query("DELETE FROM console_sessions WHERE token_hash = ?", [.text(tokenHash)])
        }
    }
}
