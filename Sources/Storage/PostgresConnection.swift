import CLibPQ

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A connection to PostgreSQL through libpq, reconnecting once when the server went away.
public final class PostgresConnection: SQLConnection {
    public let dialect = SQLDialect.postgres
    private var handle: OpaquePointer?
    private let url: String

    /// - Parameter url: a libpq connection URI, `postgres://user:pass@host:port/db`.
    public init(url: String) throws(SQLError) {
        self.url = url
        try connect()
    }

    deinit { close() }

    public func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    private func connect() throws(SQLError) {
        close()
        handle = PQconnectdb(url)
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(handle)).trimmingSpace()
            close()
            throw SQLError("cannot connect to PostgreSQL (\(Self.redacted(url))): \(message)", isConnectionFailure: true)
        }
        // Keep the server's notices (e.g. "relation already exists, skipping") out of our logs.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
    }

    public func executeScript(_ sql: String) throws(SQLError) {
        try withReconnect { () throws(SQLError) in
            let result = PQexec(handle, sql)
            defer { PQclear(result) }
            try check(result, sql)
        }
    }

    @discardableResult
    public func query(_ sql: String, _ binds: [SQLValue]) throws(SQLError) -> [SQLRow] {
        let numbered = Self.numberPlaceholders(sql)
        return try withReconnect { () throws(SQLError) -> [SQLRow] in
            let texts: [String?] = binds.map { $0.text }
            let result = Self.withCStrings(texts) { pointers in
                PQexecParams(handle, numbered, Int32(binds.count), nil, pointers, nil, nil, 0)
            }
            defer { PQclear(result) }
            try check(result, sql)
            return readRows(result)
        }
    }

    private func withReconnect<T>(_ body: () throws(SQLError) -> T) throws(SQLError) -> T {
        if handle == nil || PQstatus(handle) != CONNECTION_OK { try connect() }
        do {
            return try body()
        } catch  where PQstatus(handle) != CONNECTION_OK {
            try connect()
            return try body()
        }
    }

    private func check(_ result: OpaquePointer?, _ sql: String) throws(SQLError) {
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            let message = String(cString: PQerrorMessage(handle)).trimmingSpace()
            throw SQLError("\(message) in: \(sql.prefix(200))", isConnectionFailure: PQstatus(handle) != CONNECTION_OK)
        }
    }

    private func readRows(_ result: OpaquePointer?) -> [SQLRow] {
        let rowCount = PQntuples(result)
        let columnCount = PQnfields(result)
        let integerColumns = (0..<columnCount).map { Self.integerTypes.contains(PQftype(result, $0)) }
        var rows: [SQLRow] = []
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            var values: [SQLValue] = []
            for column in 0..<columnCount {
                if PQgetisnull(result, row, column) == 1 {
                    values.append(.null)
                    continue
                }
                let text = String(cString: PQgetvalue(result, row, column))
                if integerColumns[Int(column)], let integer = Int64(text) {
                    values.append(.integer(integer))
                } else {
                    values.append(.text(text))
                }
            }
            rows.append(SQLRow(values: values))
        }
        return rows
    }

    /// int2, int4, int8 and numeric (what SUM over bigint returns).
    private static let integerTypes: Set<Oid> = [21, 23, 20, 1700]

    /// Rewrites `?` placeholders as `$1`, `$2`, … (our SQL has no `?` inside literals).
    static func numberPlaceholders(_ sql: String) -> String {
        var output = ""
        output.reserveCapacity(sql.utf8.count + 16)
        var number = 0
        for character in sql {
            if character == "?" {
                number += 1
                output += "$\(number)"
            } else {
                output.append(character)
            }
        }
        return output
    }

    private static func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        let duplicates = strings.map { $0.map { strdup($0) } ?? nil }
        defer { duplicates.forEach { free($0) } }
        return body(duplicates.map { $0.map { UnsafePointer($0) } })
    }

    /// The URL with its password masked, for error messages.
    static func redacted(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let scheme = url.range(of: "://") else { return url }
        let credentials = url[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        var masked = url
        masked.replaceSubrange(url.index(after: colon)..<at, with: "***")
        return masked
    }
}

extension String {
    fileprivate func trimmingSpace() -> String {
        var slice = Substring(self)
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
