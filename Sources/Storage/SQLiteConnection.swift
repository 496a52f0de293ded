import CSQLite

/// A connection to an SQLite file, in WAL mode so the CLI can read while the server writes.
public final class SQLiteConnection: SQLConnection {
    public let dialect = SQLDialect.sqlite
    private var handle: OpaquePointer?
    /// Prepared statements by SQL text, reused: the ledger runs the same few statements
    /// thousands of times, and preparing its 100-row INSERT (2,600 parameters) every batch cost
    /// more than running it. Bounded: emptied when full (ad-hoc report queries vary). 32: the
    /// ledger alone keeps nine (eight INSERT sizes and the rollup upsert), and the watchers, key
    /// lookups and audit appends add their own: 16 left them little room before it emptied.
    private var statements: [String: OpaquePointer] = [:]
    private static let maxStatements = 32

    public init(path: String) throws(SQLError) {
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        guard sqlite3_open_v2(path, &handle, flags, nil) == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            throw SQLError("cannot open SQLite database at \(path): \(message)")
        }
        sqlite3_busy_timeout(handle, 10_000)
        try executeScript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
    }

    deinit { close() }

    public func close() {
        finalizeStatements()
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    private func finalizeStatements() {
        for statement in statements.values { sqlite3_finalize(statement) }
        statements.removeAll()
    }

    private func prepared(_ sql: String) throws(SQLError) -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            sqlite3_finalize(statement)
            throw SQLError("\(lastError) in: \(sql)")
        }
        if statements.count >= Self.maxStatements { finalizeStatements() }
        statements[sql] = statement
        return statement
    }

    public func executeScript(_ sql: String) throws(SQLError) {
        var error: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(handle, sql, nil, nil, &error) == SQLITE_OK else {
            let message = error.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(error)
            throw SQLError(message)
        }
    }

    @discardableResult
    public func query(_ sql: String, _ binds: [SQLValue]) throws(SQLError) -> [SQLRow] {
        let statement = try prepared(sql)
        // Ready for its next use, whatever happens in this one.
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        for (offset, value) in binds.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32
            switch value {
            case .null: status = sqlite3_bind_null(statement, index)
            case .integer(let integer): status = sqlite3_bind_int64(statement, index, integer)
            case .text(let text): status = sqlite3_bind_text(statement, index, text, -1, Self.transient)
            }
            guard status == SQLITE_OK else { throw SQLError(lastError) }
        }
        var rows: [SQLRow] = []
        while true {
            switch sqlite3_step(statement) {
            case SQLITE_ROW:
                rows.append(readRow(statement))
            case SQLITE_DONE:
                return rows
            default:
                throw SQLError(lastError)
            }
        }
    }

    private func readRow(_ statement: OpaquePointer?) -> SQLRow {
        let count = sqlite3_column_count(statement)
        var values: [SQLValue] = []
        values.reserveCapacity(Int(count))
        for column in 0..<count {
            switch sqlite3_column_type(statement, column) {
            case SQLITE_NULL:
                values.append(.null)
            case SQLITE_INTEGER:
                values.append(.integer(sqlite3_column_int64(statement, column)))
            case SQLITE_FLOAT:
                // Only aggregates over integer columns can produce these; keep them integral.
                values.append(.integer(Int64(sqlite3_column_double(statement, column))))
            default:
                // By length, not up to the first NUL: a value with a NUL inside (or a blob) must not read
                // as a shorter one (an audit entry's tenant 'acme\0' is not 'acme').
                // column_text before column_bytes, as SQLite asks (the length is of the converted text).
                let text = sqlite3_column_text(statement, column)
                let bytes = UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(statement, column)))
                values.append(.text(String(decoding: bytes, as: UTF8.self)))
            }
        }
        return SQLRow(values: values)
    }

    private var lastError: String { String(cString: sqlite3_errmsg(handle)) }

    /// SQLITE_TRANSIENT: SQLite copies bound text before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}
