import Foundation
import Logging
import PostgresNIO
import Storage

// Usage: PGClients postgres://USER@HOST:PORT/DB [batches] [lookups]
let arguments = CommandLine.arguments
guard arguments.count >= 2, let url = URLComponents(string: arguments[1]), let host = url.host else {
    print("usage: PGClients postgres://USER@HOST:PORT/DB [batches] [lookups]")
    exit(2)
}
let batches = arguments.count > 2 ? Int(arguments[2])! : 300
let lookups = arguments.count > 3 ? Int(arguments[3])! : 3000
let rowsPerBatch = 100

/// Process CPU time (user + system) so far.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// Wall and CPU microseconds per operation of `body`, run `count` times one after another.
func measure(_ name: String, _ count: Int, _ body: @Sendable (Int) async throws -> Void) async throws {
    let cpu = cpuSeconds()
    let start = ContinuousClock.now
    for index in 0..<count { try await body(index) }
    let wall = ContinuousClock.now - start
    let wallMicros = Double(wall.components.seconds) * 1e6 + Double(wall.components.attoseconds) / 1e12
    print(
        String(
            format: "%-34@ %8.1f µs wall/op %8.1f µs CPU/op", name as NSString, wallMicros / Double(count),
            (cpuSeconds() - cpu) * 1e6 / Double(count)))
}

let columns = 5
func insertSQL(dollar: Bool) -> String {
    let rows = (0..<rowsPerBatch).map { row in
        "(" + (0..<columns).map { column in dollar ? "$\(row * columns + column + 1)" : "?" }.joined(separator: ", ") + ")"
    }
    return "INSERT INTO bench_rows (id, tenant, at, cost, body) VALUES " + rows.joined(separator: ", ")
}
func row(_ run: String, _ batch: Int, _ index: Int) -> (String, String, Int64, Int64, String) {
    (
        "\(run)-\(batch)-\(index)", "tenant-\(index % 7)", Int64(batch * 1000 + index), Int64(index * 1_234_567),
        String(repeating: "x", count: 400)
    )
}

let store = try await SQLStore.open(StorageURL(arguments[1])!)
_ = try await store.run { try $0.query("DROP TABLE IF EXISTS bench_rows") }
_ = try await store.run {
    try $0.query("CREATE TABLE bench_rows (id TEXT PRIMARY KEY, tenant TEXT, at BIGINT, cost BIGINT, body TEXT)")
}

let configuration = PostgresClient.Configuration(
    host: host, port: url.port ?? 5432, username: url.user ?? "postgres", password: url.password,
    database: String(url.path.dropFirst()), tls: .disable)
let client = PostgresClient(configuration: configuration)
let running = Task { await client.run() }
do {
    let questionSQL = insertSQL(dollar: false)
    let dollarSQL = insertSQL(dollar: true)
    for round in 0..<2 {
        try await measure("libpq: insert 100 rows, 1 tx", batches) { batch in
            var binds: [SQLValue] = []
            for index in 0..<rowsPerBatch {
                let r = row("lq\(round)", batch, index)
                binds += [.text(r.0), .text(r.1), .integer(r.2), .integer(r.3), .text(r.4)]
            }
            let values = binds
            _ = try await store.run(.ledger) { connection in
                try connection.transaction { try connection.query(questionSQL, values) }
            }
        }
        try await measure("postgres-nio: insert 100 rows, 1 tx", batches) { batch in
            var bindings = PostgresBindings(capacity: rowsPerBatch * columns)
            for index in 0..<rowsPerBatch {
                let r = row("nio\(round)", batch, index)
                bindings.append(r.0)
                bindings.append(r.1)
                bindings.append(r.2)
                bindings.append(r.3)
                bindings.append(r.4)
            }
            let query = PostgresQuery(unsafeSQL: dollarSQL, binds: bindings)
            try await client.withTransaction(logger: Logger(label: "bench")) { connection in
                _ = try await connection.query(query, logger: Logger(label: "bench"))
            }
        }
        try await measure("libpq: key lookup", lookups) { index in
            let id = "lq\(round)-\(index % batches)-\(index % rowsPerBatch)"
            let rows = try await store.run { try $0.query("SELECT tenant, cost FROM bench_rows WHERE id = ?", [.text(id)]) }
            precondition(rows.count == 1)
        }
        try await measure("postgres-nio: key lookup", lookups) { index in
            let id = "nio\(round)-\(index % batches)-\(index % rowsPerBatch)"
            let rows = try await client.query("SELECT tenant, cost FROM bench_rows WHERE id = \(id)")
            var count = 0
            for try await _ in rows.decode((String, Int64).self) { count += 1 }
            precondition(count == 1)
        }
    }
    _ = try await store.run { try $0.query("DROP TABLE bench_rows") }
    await store.close()
}
running.cancel()
