import Dispatch
import Foundation
import SwitchyardCore

/// Switchyard's durable state on SQLite or PostgreSQL, behind one async API.
///
/// The connection is blocking, so it lives on its own serial dispatch queue: database latency
/// never occupies one of the (few) threads of Swift's cooperative pool.
public final class SQLStore: @unchecked Sendable {
    // @unchecked: `connection` is touched only on `queue`.
    private let connection: SQLConnection
    private let queue: DispatchQueue
    public let url: StorageURL
    /// The caller-tag keys kept in usage rollups (nil: all). Records always keep every tag; the
    /// rollups, which reports read, keep only these, so a tag with a value per request (a trace
    /// id) cannot turn one rollup row per hour into one per request.
    public let rollupTagKeys: Set<String>?
    /// How the audit entries this process appends are MACed.
    public let auditSigning: AuditSigning

    private init(connection: SQLConnection, url: StorageURL, rollupTagKeys: Set<String>?, auditSigning: AuditSigning) {
        self.connection = connection
        self.url = url
        self.rollupTagKeys = rollupTagKeys
        self.auditSigning = auditSigning
        self.queue = DispatchQueue(label: "switchyard.store")
    }

    /// Connects and brings the schema up to date.
    public static func open(
        _ url: StorageURL, rollupTagKeys: Set<String>? = nil, auditSigning: AuditSigning = .off
    ) async throws -> SQLStore {
        try await open(connection: url.connect(), url: url, rollupTagKeys: rollupTagKeys, auditSigning: auditSigning)
    }

    /// On a connection already made (tests wrap one to inject faults).
    static func open(
        connection: SQLConnection, url: StorageURL, rollupTagKeys: Set<String>? = nil, auditSigning: AuditSigning = .off
    ) async throws -> SQLStore {
        let store = SQLStore(
            connection: connection, url: url, rollupTagKeys: rollupTagKeys, auditSigning: auditSigning)
        try await store.run { try Migrations.apply(on: $0) }
        return store
    }

    public var dialect: SQLDialect { connection.dialect }

    /// Runs `body` on the store's queue with exclusive use of the connection.
    public func run<T: Sendable>(_ body: @escaping @Sendable (SQLConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body(self.connection) })
            }
        }
    }

    public func close() async {
        _ = try? await run { $0.close() }
    }

    public func schemaVersion() async throws -> Int64 {
        try await run { try $0.query("SELECT MAX(version) FROM schema_migrations").first?[0].integer ?? 0 }
    }
}

// MARK: - Tenants

extension SQLStore {
    /// Makes sure every named tenant exists; tenants are never deleted here, so history stays valid.
    public func ensureTenants(_ names: [String]) async throws {
        let now = UnixMicros.now().value
        try await run { connection in
            try connection.transaction {
                for name in names {
                    try connection.query(
                        "INSERT INTO tenants (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                        [.text(name), .integer(now)])
                }
            }
        }
    }

    public func tenantNames() async throws -> [String] {
        try await run { try $0.query("SELECT name FROM tenants ORDER BY name").compactMap { $0[0].text } }
    }
}

// MARK: - API keys

extension SQLStore {
    public func insertKey(_ record: APIKeyRecord) async throws {
        try await run { connection in
            try connection.query(
                """
                INSERT INTO api_keys (id, key_hash, tenant, agent, created_at, expires_at, revoked_at, project)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(record.id), .text(record.hash), .text(record.tenant), .optional(record.agent),
                    .integer(record.createdAt.value), .optional(record.expiresAt?.value), .optional(record.revokedAt?.value),
                    .optional(record.project),
                ])
        }
    }

    static let keyColumns = "id, key_hash, tenant, agent, created_at, expires_at, revoked_at, project"

    public func keys(tenant: String? = nil) async throws -> [APIKeyRecord] {
        try await run { connection in
            let rows =
                if let tenant {
                    try connection.query(
                        "SELECT \(Self.keyColumns) FROM api_keys WHERE tenant = ? ORDER BY created_at, id", [.text(tenant)])
                } else {
                    try connection.query("SELECT \(Self.keyColumns) FROM api_keys ORDER BY created_at, id")
                }
            return rows.map(Self.keyRecord)
        }
    }

    public func key(id: String) async throws -> APIKeyRecord? {
        try await run { connection in
            try connection.query("SELECT \(Self.keyColumns) FROM api_keys WHERE id = ?", [.text(id)]).first.map(Self.keyRecord)
        }
    }

    /// Marks a key revoked; returns false when no such key exists. Revoking twice keeps the first time.
    public func revokeKey(id: String, at time: UnixMicros = .now()) async throws -> Bool {
        try await run { connection in
            try connection.query(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [.integer(time.value), .text(id)])
            return try !connection.query("SELECT id FROM api_keys WHERE id = ?", [.text(id)]).isEmpty
        }
    }

    private static func keyRecord(_ row: SQLRow) -> APIKeyRecord {
        APIKeyRecord(
            id: row[0].text ?? "", hash: row[1].text ?? "", tenant: row[2].text ?? "", project: row[7].text, agent: row[3].text,
            createdAt: UnixMicros(row[4].integer ?? 0), expiresAt: row[5].integer.map(UnixMicros.init),
            revokedAt: row[6].integer.map(UnixMicros.init))
    }
}
