import Foundation
import Storage
import SwitchyardCore
import TestSupport
import Testing

@Suite struct SQLStoreTests {
    func openFresh(_ engine: TestEngine) async throws -> SQLStore {
        try await SQLStore.open(engine.freshURL())
    }

    func record(
        id: String = RandomIdentifier.requestID(), tenant: String? = "acme", agent: String? = nil, at time: Int64 = 1_000_000,
        input: Int = 10, output: Int = 5, cached: Int = 0, nanos: Int64 = 500, status: Int = 200, estimated: Bool = false,
        deployment: String = "gemma-local", currency: String = "USD"
    ) -> UsageRecord {
        UsageRecord(
            id: id, startedAt: UnixMicros(time), finishedAt: UnixMicros(time + 1000), tenant: tenant, agent: agent,
            keyID: tenant == nil ? nil : "key1", endpoint: "chat.completions", route: "chat", deployment: deployment,
            provider: "local", upstreamModel: "gemma-3-270m", streamed: estimated,
            usage: TokenUsage(inputTokens: input, outputTokens: output, cachedInputTokens: cached, isEstimated: estimated),
            cost: Money(nanos: nanos, currency: currency), latencyMicros: 1000, timeToFirstTokenMicros: estimated ? 300 : nil,
            status: status, errorClass: status >= 400 ? .upstreamError : nil, tags: ["customer": "c-\(tenant ?? "")"])
    }

    @Test(arguments: TestEngine.available)
    func migrationsAreVersionedAndIdempotent(_ engine: TestEngine) async throws {
        let url = try engine.freshURL()
        let first = try await SQLStore.open(url)
        #expect(try await first.schemaVersion() == 18)
        await first.close()
        let second = try await SQLStore.open(url)
        #expect(try await second.schemaVersion() == 18)
        await second.close()
    }

    /// SQLite keeps prepared statements for reuse: one that failed, or whose rows were not all
    /// read, must leave its next use clean (bindings and position reset), and more distinct
    /// statements than it keeps must still run.
    /// Text is read by its length: a NUL inside (as a database writer could put in an audit
    /// entry's tenant) must not make 'acme\0x' read as 'acme'.
    @Test func sqliteTextWithANulInsideReadsWhole() async throws {
        let store = try await openFresh(.sqlite)
        let read = try await store.run { connection in
            try connection.query("SELECT CAST('acme' || char(0) || 'x' AS BLOB), 'acme' || char(0)").first!
        }
        #expect(read[0].text == "acme\u{0}x")
        #expect(read[1].text == "acme\u{0}")
    }

    @Test func reusedSQLiteStatementsStartClean() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let connection = try SQLiteConnection(path: directory.appendingPathComponent("s.db").path)
        try connection.executeScript("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER)")
        let insert = "INSERT INTO t (id, n) VALUES (?, ?) RETURNING id"
        #expect(try connection.query(insert, [.text("a"), .integer(1)]).first?[0].text == "a")
        #expect(throws: SQLError.self) { try connection.query(insert, [.text("a"), .integer(2)]) }
        #expect(try connection.query(insert, [.text("b"), .null]).first?[0].text == "b")
        let count = "SELECT COUNT(*), SUM(n) FROM t WHERE id >= ?"
        for _ in 0..<3 {
            let row = try #require(try connection.query(count, [.text("a")]).first)
            #expect(row[0].integer == 2 && row[1].integer == 1)
        }
        for extra in 0..<40 {
            let sum = try connection.query("SELECT COUNT(*) + \(extra) FROM t", []).first?[0].integer
            #expect(sum == Int64(2 + extra))
        }
        #expect(try connection.query(count, [.text("b")]).first?[0].integer == 1)
        connection.close()
    }

    @Test(arguments: TestEngine.available)
    func keysAreStoredListedAndRevoked(_ engine: TestEngine) async throws {
        let store = try await openFresh(engine)
        try await store.ensureTenants(["acme", "globex"])
        try await store.ensureTenants(["acme"])
        #expect(try await store.tenantNames() == ["acme", "globex"])
        let (secret, record) = APIKeyFormat.issue(tenant: "acme", agent: "bot", expiresAt: UnixMicros(9_000_000_000_000_000))
        let (_, other) = APIKeyFormat.issue(tenant: "globex", agent: nil, expiresAt: nil)
        try await store.insertKey(record)
        try await store.insertKey(other)
        #expect(try await store.key(id: record.id) == record)
        #expect(try await store.keys(tenant: "acme") == [record])
        #expect(try await store.keys().count == 2)
        // Only the hash is stored.
        #expect(try await store.key(id: record.id)?.hash == APIKeyFormat.hash(secret))
        #expect(try await store.revokeKey(id: record.id, at: UnixMicros(5)) == true)
        #expect(try await store.revokeKey(id: record.id, at: UnixMicros(9)) == true)
        #expect(try await store.key(id: record.id)?.revokedAt == UnixMicros(5))
        #expect(try await store.revokeKey(id: "nope") == false)
        await store.close()
    }

    @Test(arguments: TestEngine.available)
    func keysNeedAKnownTenant(_ engine: TestEngine) async throws {
        let store = try await openFresh(engine)
        let (_, record) = APIKeyFormat.issue(tenant: "ghost", agent: nil, expiresAt: nil)
        await #expect(throws: (any Error).self) { try await store.insertKey(record) }
        await store.close()
    }

    @Test(arguments: TestEngine.available)
    func usageRecordsRoundTripAndReinsertIsHarmless(_ engine: TestEngine) async throws {
        let store = try await openFresh(engine)
        var replicated = record(cached: 4)
        replicated.replica = "gw-eu-1"  // which replica served it; nil in records from before
        let records = [record(estimated: true), record(tenant: nil, status: 401), replicated]
        try await store.insertUsage(records)
        try await store.insertUsage(records)  // a journal replay after a partial write
        #expect(try await store.usageCount() == 3)
        for original in records {
            #expect(try await store.usageRecord(id: original.id) == original)
        }
        await store.close()
    }

    @Test(arguments: TestEngine.available)
    func summariesAddUpExactlyPerGroupAndCurrency(_ engine: TestEngine) async throws {
        let store = try await openFresh(engine)
        try await store.insertUsage([
            record(tenant: "acme", at: 100, input: 10, output: 5, nanos: 520),
            record(tenant: "acme", at: 200, input: 7, output: 3, nanos: 260, estimated: true),
            record(tenant: "acme", at: 300, input: 1, output: 0, nanos: 0, status: 502),
            record(tenant: "globex", at: 150, input: 100, output: 50, nanos: 4_000_000_000_123),
            record(tenant: "globex", at: 160, input: 1, output: 1, nanos: 7, currency: "EUR"),
            record(tenant: nil, at: 170, input: 0, output: 0, nanos: 0, status: 401),
        ])
        let byTenant = try await store.usageSummary(by: .tenant)
        let acme = try #require(byTenant.first { $0.group == "acme" })
        #expect(acme.requests == 3)
        #expect(acme.errors == 1)
        #expect(acme.inputTokens == 18)
        #expect(acme.outputTokens == 8)
        #expect(acme.estimatedRequests == 1)
        #expect(acme.costNanos == 780)
        let globexUSD = try #require(byTenant.first { $0.group == "globex" && $0.currency == "USD" })
        #expect(globexUSD.costNanos == 4_000_000_000_123)
        #expect(byTenant.contains { $0.group == "globex" && $0.currency == "EUR" && $0.costNanos == 7 })
        #expect(byTenant.contains { $0.group == nil && $0.errors == 1 })

        let window = try await store.usageSummary(by: .tenant, since: UnixMicros(150), until: UnixMicros(300))
        #expect(window.first { $0.group == "acme" }?.requests == 1)
        #expect(window.filter { $0.group == "globex" }.map(\.requests).reduce(0, +) == 2)

        let byModel = try await store.usageSummary(by: .model)
        #expect(byModel.map(\.requests).reduce(0, +) == 6)
        let byStatus = try await store.usageSummary(by: .status)
        #expect(byStatus.first { $0.group == "502" }?.requests == 1)
        await store.close()
    }

    /// A batch whose size is not a multiple of the statement size goes in as full statements and
    /// power-of-two remainders; every record lands once, each field intact.
    @Test(arguments: TestEngine.available)
    func oddSizedBatchesLandWhole(_ engine: TestEngine) async throws {
        let store = try await openFresh(engine)
        let records = (0..<227).map { index in record(at: Int64(index), input: index) }
        try await store.insertUsage(records)
        #expect(try await store.usageCount() == 227)
        for index in [0, 99, 100, 199, 200, 215, 223, 225, 226] {
            #expect(try await store.usageRecord(id: records[index].id) == records[index])
        }
        try await store.insertUsage(Array(records[150..<227]))  // replayed: nothing added
        #expect(try await store.usageCount() == 227)
        await store.close()
    }

    @Test(arguments: TestEngine.available)
    func concurrentWritersDoNotLoseRecords(_ engine: TestEngine) async throws {
        let store = try await openFresh(engine)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for batch in 0..<8 {
                group.addTask {
                    try await store.insertUsage((0..<50).map { index in self.record(at: Int64(batch * 1000 + index)) })
                }
            }
            try await group.waitForAll()
        }
        #expect(try await store.usageCount() == 400)
        await store.close()
    }
}

@Suite struct StorageURLTests {
    @Test func parsesBothEngines() {
        #expect(StorageURL("sqlite://./switchyard.db") == .sqlite(path: "./switchyard.db"))
        #expect(StorageURL("sqlite:///var/lib/sy.db") == .sqlite(path: "/var/lib/sy.db"))
        #expect(StorageURL("postgres://u:p@h:5432/d") == .postgres(url: "postgres://u:p@h:5432/d"))
        #expect(StorageURL("mysql://x") == nil)
        #expect(StorageURL("sqlite://") == nil)
    }

    @Test func descriptionHidesThePassword() {
        #expect(StorageURL("postgres://u:secret@h:5432/d")!.description == "postgres://u:***@h:5432/d")
    }

    /// What error messages and the start-up log show of a PostgreSQL URL: never a password, in
    /// the user part or in the query (libpq reads `password` and `sslpassword` from both).
    @Test(arguments: [
        ("postgres://app@db/ledger", "postgres://app@db/ledger"),
        ("postgres://app:p@ss@db/ledger", "postgres://app:***@db/ledger"),
        ("postgres://app:pa?ss@db/ledger?password=s3cret", "postgres://app:***@db/ledger?password=***"),
        ("postgres://h?password=s3cret", "postgres://h?password=***"),
        ("postgres://db/ledger?password=s3cret", "postgres://db/ledger?password=***"),
        (
            "postgres://app:a@db/l?sslmode=require&SSLPassword=s3cret&application_name=x",
            "postgres://app:***@db/l?sslmode=require&SSLPassword=***&application_name=x"
        ),
        ("postgres://db/l?options=-c%20a%3Db@c&password=s3cret", "postgres://db/l?options=-c%20a%3Db@c&password=***"),
    ])
    func passwordsAreMaskedWhereverTheURLCarriesThem(url: String, shown: String) {
        #expect(StorageURL(url)!.description == shown)
    }
}
