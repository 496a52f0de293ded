import SwitchyardCore

/// An incident as stored: the columns lists filter on, and its JSON.
public struct StoredIncident: Sendable, Equatable {
    public var id: String
    public var status: String
    public var openedAt: UnixMicros
    public var updatedAt: UnixMicros
    public var resolvedAt: UnixMicros?
    public var causeKey: String
    public var summary: String
    /// The incident's JSON, as `GET /admin/v1/incidents/{id}` serves it.
    public var detail: String

    public init(
        id: String, status: String, openedAt: UnixMicros, updatedAt: UnixMicros, resolvedAt: UnixMicros?, causeKey: String,
        summary: String, detail: String
    ) {
        self.id = id
        self.status = status
        self.openedAt = openedAt
        self.updatedAt = updatedAt
        self.resolvedAt = resolvedAt
        self.causeKey = causeKey
        self.summary = summary
        self.detail = detail
    }
}

extension SQLStore {
    public static let maximumIncidents = 1000

    /// Writes incidents (new or changed) and their audit entries in one transaction.
    public func saveIncidents(_ incidents: [StoredIncident], audit: [AuditEntry]) async throws {
        guard !incidents.isEmpty || !audit.isEmpty else { return }
        try await run { connection in
            try connection.writeTransaction(lock: Self.auditLock) {
                for incident in incidents {
                    try connection.query(
                        """
                        INSERT INTO incidents (id, status, opened_at, updated_at, resolved_at, cause_key, summary, detail)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at,
                            resolved_at = excluded.resolved_at, cause_key = excluded.cause_key,
                            summary = excluded.summary, detail = excluded.detail
                        """,
                        [
                            .text(incident.id), .text(incident.status), .integer(incident.openedAt.value),
                            .integer(incident.updatedAt.value), incident.resolvedAt.map { .integer($0.value) } ?? .null,
                            .text(incident.causeKey), .text(incident.summary), .text(incident.detail),
                        ])
                }
                if !audit.isEmpty { try self.appendAudit(audit, on: connection) }
            }
        }
    }

    /// Incidents, most recently opened first: `status` open or resolved (nil: both).
    public func incidents(status: String? = nil, limit: Int = 50) async throws -> [StoredIncident] {
        let bounded = min(max(1, limit), Self.maximumIncidents)
        return try await run { connection in
            let filter = status == nil ? "" : "WHERE status = ?"
            return try connection.query(
                """
                SELECT id, status, opened_at, updated_at, resolved_at, cause_key, summary, detail FROM incidents \(filter)
                ORDER BY opened_at DESC, id LIMIT \(bounded)
                """, status.map { [.text($0)] } ?? []
            ).compactMap(Self.storedIncident)
        }
    }

    public func incident(id: String) async throws -> StoredIncident? {
        try await run { connection in
            try connection.query(
                "SELECT id, status, opened_at, updated_at, resolved_at, cause_key, summary, detail FROM incidents WHERE id = ?",
                [.text(id)]
            ).first.flatMap(Self.storedIncident)
        }
    }

    /// The open incident of a cause, if any (the newest, should there be several).
    public func openIncident(causeKey: String) async throws -> StoredIncident? {
        try await run { connection in
            try connection.query(
                """
                SELECT id, status, opened_at, updated_at, resolved_at, cause_key, summary, detail FROM incidents
                WHERE status = 'open' AND cause_key = ? ORDER BY opened_at DESC LIMIT 1
                """, [.text(causeKey)]
            ).first.flatMap(Self.storedIncident)
        }
    }

    static func storedIncident(_ row: SQLRow) -> StoredIncident? {
        guard row.values.count == 8, let id = row[0].text, let status = row[1].text, let opened = row[2].integer,
            let updated = row[3].integer, let cause = row[5].text, let summary = row[6].text, let detail = row[7].text
        else { return nil }
        return StoredIncident(
            id: id, status: status, openedAt: UnixMicros(opened), updatedAt: UnixMicros(updated),
            resolvedAt: row[4].integer.map(UnixMicros.init), causeKey: cause, summary: summary, detail: detail)
    }
}
