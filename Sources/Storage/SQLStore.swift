import Dispatch
import Foundation
import SwitchyardCore

/// Switchyard's durable state on SQLite or PostgreSQL, behind one async API.
///
/// Connections are blocking, so each lives on its own serial dispatch queue: database latency
/// never occupies one of the (few) threads of Swift's cooperative pool. There is one connection
/// per `StoreLane` (control, ledger, reports), so one kind of work never waits behind another.
public final class SQLStore: Sendable {
    private let lanes: [StoreLaneConnection]
    public let url: StorageURL
    /// The caller-tag keys kept in usage rollups (nil: all). Records always keep every tag; the
    /// rollups, which reports read, keep only these, so a tag with a value per request (a trace
    /// id) cannot turn one rollup row per hour into one per request.
    public let rollupTagKeys: Set<String>?
    /// How the audit entries this process appends are MACed.
    public let auditSigning: AuditSigning
    public let dialect: SQLDialect
    /// Names this process's writes of agent runs' figures (`run_hours.writer`), so a replica reads
    /// the rest of the fleet's share, its own earlier processes' included, without its own.
    public let writerID = RandomIdentifier.base62(count: 12)
    /// When this process opened the store: a record started before it is a predecessor's (taken
    /// from its write-ahead log or journal), and is written under another writer than this one's.
    public let openedAt = UnixMicros.now()

    private init(lanes: [StoreLaneConnection], url: StorageURL, rollupTagKeys: Set<String>?, auditSigning: AuditSigning) {
        self.lanes = lanes
        self.url = url
        self.rollupTagKeys = rollupTagKeys
        self.auditSigning = auditSigning
        self.dialect = lanes[0].connection.dialect
    }

    /// Connects (a connection per lane) and brings the schema up to date.
    public static func open(
        _ url: StorageURL, rollupTagKeys: Set<String>? = nil, auditSigning: AuditSigning = .off
    ) async throws -> SQLStore {
        // Migrations on a connection of their own, without the lanes' statement timeout: waiting
        // for another process's migration lock, or rebuilding an index, may take minutes.
        let migration = StoreLaneConnection(try url.connect(), label: "switchyard.store.migrations")
        try await migration.run(deadline: migrationDeadline) { connection in
            defer { connection.close() }
            try Migrations.apply(on: connection)
        }
        let lanes = try StoreLane.allCases.map { lane in
            StoreLaneConnection(try url.connect(lane: lane), label: "switchyard.store.\(lane)")
        }
        return SQLStore(lanes: lanes, url: url, rollupTagKeys: rollupTagKeys, auditSigning: auditSigning)
    }

    /// On one connection already made, for every lane (tests wrap one to inject faults).
    static func open(
        connection: SQLConnection, url: StorageURL, rollupTagKeys: Set<String>? = nil, auditSigning: AuditSigning = .off
    ) async throws -> SQLStore {
        let lane = StoreLaneConnection(connection, label: "switchyard.store")
        try await lane.run(deadline: migrationDeadline) { try Migrations.apply(on: $0) }
        return SQLStore(
            lanes: StoreLane.allCases.map { _ in lane }, url: url, rollupTagKeys: rollupTagKeys, auditSigning: auditSigning)
    }

    /// Migrations are the first call on their connection, so they never wait in line for it;
    /// once started they run to the end (waiting for another process's migration lock included).
    private static let migrationDeadline = Duration.seconds(3600)

    /// Runs `body` with exclusive use of `lane`'s connection, failing if its turn does not come
    /// within the lane's deadline.
    public func run<T: Sendable>(
        _ lane: StoreLane = .control, _ body: @escaping @Sendable (SQLConnection) throws -> T
    ) async throws -> T {
        try await lanes[lane.rawValue].run(deadline: lane.deadline, body)
    }

    public func close() async {
        for lane in StoreLane.allCases {
            _ = try? await run(lane) { $0.close() }
        }
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
    /// Stores a new key; with a `principal`, its `key.create` audit entry is appended in the
    /// same transaction, so a key never exists unaudited.
    public func insertKey(_ record: APIKeyRecord, auditedAs principal: String? = nil) async throws {
        try await run { connection in
            try connection.writeTransaction(lock: Self.auditLock) {
                try connection.query(
                    """
                    INSERT INTO api_keys (id, key_hash, tenant, agent, created_at, expires_at, revoked_at, project)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .text(record.id), .text(record.hash), .text(record.tenant), .optional(record.agent),
                        .integer(record.createdAt.value), .optional(record.expiresAt?.value),
                        .optional(record.revokedAt?.value), .optional(record.project),
                    ])
                // A replica that looked this id up before remembers it as unknown until told.
                try connection.announce(.keys)
                guard let principal else { return }
                try self.appendAudit(
                    [
                        AuditEntry(
                            principal: principal, action: "key.create", target: "key:\(record.id)", tenant: record.tenant,
                            after: AuditValue.key(record))
                    ], on: connection)
            }
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
            try connection.announce(.keys)
            return try !connection.query("SELECT id FROM api_keys WHERE id = ?", [.text(id)]).isEmpty
        }
    }

    /// Revokes a key and, when it was active, appends its `key.revoke` audit entry in the same
    /// transaction. Returns the key before and after, or nil when there is no such key.
    public func revokeKey(
        id: String, at time: UnixMicros = .now(), auditedAs principal: String
    ) async throws -> (before: APIKeyRecord, after: APIKeyRecord)? {
        try await run { connection in
            try connection.writeTransaction(lock: Self.auditLock) {
                let select = "SELECT \(Self.keyColumns) FROM api_keys WHERE id = ?"
                guard let before = try connection.query(select, [.text(id)]).first.map(Self.keyRecord) else { return nil }
                guard before.revokedAt == nil else { return (before, before) }
                try connection.query("UPDATE api_keys SET revoked_at = ? WHERE id = ?", [.integer(time.value), .text(id)])
                try connection.announce(.keys)
                var after = before
                after.revokedAt = time
                try self.appendAudit(
                    [
                        AuditEntry(
                            principal: principal, action: "key.revoke", target: "key:\(id)", tenant: before.tenant,
                            before: AuditValue.key(before), after: AuditValue.key(after))
                    ], on: connection)
                return (before, after)
            }
        }
    }

    private static func keyRecord(_ row: SQLRow) -> APIKeyRecord {
        APIKeyRecord(
            id: row[0].text ?? "", hash: row[1].text ?? "", tenant: row[2].text ?? "", project: row[7].text, agent: row[3].text,
            createdAt: UnixMicros(row[4].integer ?? 0), expiresAt: row[5].integer.map(UnixMicros.init),
            revokedAt: row[6].integer.map(UnixMicros.init))
    }
}
