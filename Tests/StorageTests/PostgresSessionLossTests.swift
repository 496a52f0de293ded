import Foundation
import SwitchyardCore
import TestSupport
import Testing

@testable import Storage

/// A PostgreSQL session lost between two statements (an operator's `pg_terminate_backend`, a
/// server restart, a failover) fails the whole transaction: nothing of it is committed, no
/// statement is re-run alone on a new session, and the next call on the store works again.
@Suite(.enabled(if: TestEngine.available.contains(.postgres), "PostgreSQL only (SWITCHYARD_TEST_POSTGRES_URL)"))
struct PostgresSessionLossTests {
    /// The statement of a 150-record batch (150 = 100 + 32 + 16 + 2, four INSERTs) whose session is killed.
    enum BatchKillPoint: String, CaseIterable, CustomTestStringConvertible {
        case secondRecordInsert, rollupUpsert, commit
        var testDescription: String { rawValue }
    }

    @Test(arguments: BatchKillPoint.allCases)
    func aSessionLostInAUsageBatchFailsItWhole(_ point: BatchKillPoint) async throws {
        let (store, connection) = try await openStore()
        let batch = (0..<150).map { record(id: "r\($0)", at: 1_000_000 + Int64($0)) }
        var recordInserts = 0
        connection.killBefore = { sql in
            switch point {
            case .secondRecordInsert:
                if sql.contains("INSERT INTO usage_records") { recordInserts += 1 }
                return recordInserts == 2
            case .rollupUpsert: return sql.contains("INSERT INTO usage_rollups")
            case .commit: return sql == "COMMIT"
            }
        }
        let error = await #expect(throws: SQLError.self) { try await store.insertUsage(batch) }
        #expect(error?.isConnectionFailure == true)
        #expect(connection.kills == 1)
        // The next call reconnects, and finds nothing of the batch: neither records nor rollups.
        #expect(try await store.usageCount() == 0)
        #expect(try await store.usageRollups().isEmpty)
        // The writer's retry (or journal replay) stores it once.
        try await store.insertUsage(batch)
        #expect(try await store.usageCount() == 150)
        #expect(try await store.usageRollups().map(\.requests).reduce(0, +) == 150)
        await store.close()
    }

    @Test func aSessionLostInAnAuditAppendFailsItWhole() async throws {
        let (store, connection) = try await openStore()
        let entries = (1...3).map { AuditEntry(principal: "admin", action: "key.create", target: "key:k\($0)", tenant: nil) }
        var inserts = 0
        connection.killBefore = { sql in
            if sql.contains("INSERT INTO audit_log") { inserts += 1 }
            return inserts == 2
        }
        await #expect(throws: SQLError.self) { try await store.appendAudit(entries) }
        #expect(connection.kills == 1)
        #expect(try await store.auditEntries().isEmpty)
        try await store.appendAudit(entries)
        #expect(try await store.auditEntries().map(\.sequence) == [1, 2, 3])
        #expect(try await store.verifyAudit().firstBreak == nil)
        await store.close()
    }

    /// The migration lock is a session's: when that session is lost, the server has released the
    /// lock, so the migration must stop there, not carry on (and "unlock") on a new session.
    @Test func aSessionLostDuringMigrationsAbandonsThem() throws {
        let url = try freshPostgresURL()
        let connection = try SessionKillingConnection(url: url)
        defer { connection.close() }
        connection.killBefore = { $0.contains("CREATE TABLE audit_log") }  // step 4
        #expect(throws: SQLError.self) { try Migrations.apply(on: connection) }
        #expect(connection.kills == 1)
        let observer = try PostgresConnection(url: url)
        defer { observer.close() }
        #expect(try observer.query("SELECT MAX(version) FROM schema_migrations").first?[0].integer == 3)
        #expect(try observer.query("SELECT to_regclass('audit_log') IS NULL").first?[0].text == "t")
        // The lock went with the lost session; the next run takes it again and finishes.
        try Migrations.apply(on: connection)
        #expect(
            try observer.query("SELECT MAX(version) FROM schema_migrations").first?[0].integer == Migrations.latestVersion)
        #expect(try observer.query("SELECT pg_try_advisory_lock(7418001)").first?[0].text == "t")
    }

    /// A statement whose session failed after it was sent may have been applied: it is not re-run.
    /// `nextval` is not rolled back, so a re-run would show as a sequence moved twice.
    @Test func aStatementThatMayHaveRunIsNotRunAgain() throws {
        let connection = try PostgresConnection(url: freshPostgresURL())
        defer { connection.close() }
        try connection.query("CREATE SEQUENCE probe")
        let error = #expect(throws: SQLError.self) {
            try connection.query("SELECT nextval('probe'), pg_terminate_backend(pg_backend_pid()), pg_sleep(5)")
        }
        #expect(error?.isConnectionFailure == true)
        #expect(try connection.query("SELECT last_value FROM probe").first?[0].integer == 1)
    }

    /// Outside a transaction, a session known to be gone before anything is sent is replaced.
    @Test func aSessionLostWhileIdleIsReplacedBeforeTheNextStatement() async throws {
        let (store, connection) = try await openStore()
        try await store.insertUsage([record(id: "a", at: 1_000_000)])
        connection.killBefore = { $0.contains("COUNT(*) FROM usage_records") }
        #expect(try await store.usageCount() == 1)
        #expect(connection.kills == 1)
        await store.close()
    }

    // MARK: - Helpers

    func freshPostgresURL() throws -> String {
        guard case .postgres(let url) = try TestEngine.postgres.freshURL() else { fatalError("not PostgreSQL") }
        return url
    }

    func openStore() async throws -> (SQLStore, SessionKillingConnection) {
        let url = try freshPostgresURL()
        let connection = try SessionKillingConnection(url: url)
        return (try await SQLStore.open(connection: connection, url: .postgres(url: url)), connection)
    }

    func record(id: String, at time: Int64) -> UsageRecord {
        UsageRecord(
            id: id, startedAt: UnixMicros(time), finishedAt: UnixMicros(time + 1000), tenant: "acme", agent: nil,
            keyID: "key1", endpoint: "chat.completions", route: "chat", deployment: "gemma-local", provider: "local",
            upstreamModel: "gemma-3-270m", streamed: false, usage: TokenUsage(inputTokens: 10, outputTokens: 5),
            cost: Money(nanos: 500, currency: "USD"), latencyMicros: 1000, timeToFirstTokenMicros: nil, status: 200,
            errorClass: nil, tags: [:])
    }
}

/// A PostgreSQL connection whose backend is terminated, from a second connection, just before
/// the statement `killBefore` picks is sent: what an operator or a server restart does to a
/// gateway between two statements.
final class SessionKillingConnection: SQLConnection {
    let dialect = SQLDialect.postgres
    private let victim: PostgresConnection
    private let admin: PostgresConnection
    /// Asked with each statement's text before it is sent; the first `true` kills the session.
    var killBefore: ((String) -> Bool)?
    private(set) var kills = 0

    init(url: String) throws {
        victim = try PostgresConnection(url: url)
        admin = try PostgresConnection(url: url)
    }

    @discardableResult
    func query(_ sql: String, _ binds: [SQLValue]) throws(SQLError) -> [SQLRow] {
        try killIfPicked(sql)
        return try victim.query(sql, binds)
    }

    func executeScript(_ sql: String) throws(SQLError) {
        try killIfPicked(sql)
        try victim.executeScript(sql)
    }

    func withSession<T>(_ body: () throws -> T) throws -> T { try victim.withSession(body) }

    func close() {
        victim.close()
        admin.close()
    }

    private func killIfPicked(_ sql: String) throws(SQLError) {
        guard let pick = killBefore, pick(sql) else { return }
        killBefore = nil
        // Asked on the victim's own session: a read, harmless inside its transaction.
        guard let pid = try victim.query("SELECT pg_backend_pid()").first?[0].integer else { return }
        try admin.query("SELECT pg_terminate_backend(?)", [.integer(pid)])
        let deadline = ContinuousClock.now + .seconds(10)
        while try admin.query("SELECT 1 FROM pg_stat_activity WHERE pid = ?", [.integer(pid)]).count > 0 {
            guard ContinuousClock.now < deadline else { throw SQLError("backend \(pid) still there after 10 s") }
            usleep(5000)
        }
        kills += 1
    }
}
