import CLibPQ

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A connection to PostgreSQL through libpq, replacing its session when the server is known
/// to have closed it, and only then.
///
/// - A new session is opened only *before* a statement is sent, when the old one is already
///   gone (a backend terminated or restarted while idle), and never inside `withSession` (or a
///   transaction, which is one): there it would carry on without the transaction or lock.
/// - A statement whose session failed while it may have been sent is never re-run: it may have
///   been applied (a lost COMMIT may have committed), so a re-run could apply it twice. The error
///   goes to the caller, whose retry is idempotent (the ledger) or reported (everything else).
public final class PostgresConnection: SQLConnection {
    public let dialect = SQLDialect.postgres
    private var handle: OpaquePointer?
    private let url: String
    /// `withSession` calls in progress; above zero, a lost session fails statements, never reconnects.
    private var sessionDepth = 0

    /// Set on every session: the server cancels a statement that runs longer (nil: the server's
    /// setting).
    private let statementTimeout: Duration?

    /// - Parameters:
    ///   - url: a libpq connection URI, `postgres://user:pass@host:port/db`. Parameters it does not
    ///     set get defaults that bound a dead network: `connect_timeout` 10 s, TCP keepalives and
    ///     `tcp_user_timeout` 30 s.
    ///   - statementTimeout: the session's `statement_timeout`.
    public init(url: String, statementTimeout: Duration? = nil) throws(SQLError) {
        self.url = Self.withNetworkDefaults(url)
        self.statementTimeout = statementTimeout
        try connect()
    }

    static func withNetworkDefaults(_ url: String) -> String {
        let defaults = [
            ("connect_timeout", "10"), ("keepalives", "1"), ("keepalives_idle", "30"), ("keepalives_interval", "10"),
            ("keepalives_count", "3"), ("tcp_user_timeout", "30000"),
        ]
        // The query starts at the first `?` after the credentials (a password may hold a `?`).
        let hostStart = url.lastIndex(of: "@") ?? url.range(of: "://")?.upperBound ?? url.startIndex
        let queryStart = url[hostStart...].firstIndex(of: "?")
        let query = queryStart.map { url[url.index(after: $0)...] } ?? ""
        let given = Set(query.split(separator: "&").map { $0.split(separator: "=", maxSplits: 1)[0] })
        let missing = defaults.filter { !given.contains(Substring($0.0)) }.map { "\($0.0)=\($0.1)" }
        guard !missing.isEmpty else { return url }
        let separator = queryStart == nil ? "?" : query.isEmpty || query.hasSuffix("&") ? "" : "&"
        return url + separator + missing.joined(separator: "&")
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
        if let statementTimeout {
            let milliseconds =
                statementTimeout.components.seconds * 1000 + statementTimeout.components.attoseconds / 1_000_000_000_000_000
            let result = PQexec(handle, "SET statement_timeout = \(milliseconds)")
            defer { PQclear(result) }
            try check(result, "SET statement_timeout")
        }
    }

    public func executeScript(_ sql: String) throws(SQLError) {
        try onLiveSession()
        let result = PQexec(handle, sql)
        defer { PQclear(result) }
        try check(result, sql)
    }

    @discardableResult
    public func query(_ sql: String, _ binds: [SQLValue]) throws(SQLError) -> [SQLRow] {
        let numbered = Self.numberPlaceholders(sql)
        try onLiveSession()
        let texts: [String?] = binds.map { $0.text }
        let result = Self.withCStrings(texts) { pointers in
            PQexecParams(handle, numbered, Int32(binds.count), nil, pointers, nil, nil, 0)
        }
        defer { PQclear(result) }
        try check(result, sql)
        return readRows(result)
    }

    public func withSession<T>(_ body: () throws -> T) throws -> T {
        // Nothing of the session has been sent yet: a dead connection may still be replaced.
        if sessionDepth == 0 { try onLiveSession() }
        sessionDepth += 1
        defer { sessionDepth -= 1 }
        return try body()
    }

    /// Makes sure the next statement goes to a live session: outside `withSession` a session
    /// known to be gone is replaced; inside, it is an error (the transaction or lock is gone with
    /// it), and so is every later statement of that `withSession`.
    private func onLiveSession() throws(SQLError) {
        guard isKnownClosed else { return }
        guard sessionDepth == 0 else {
            throw SQLError(
                "connection to PostgreSQL lost inside a transaction or session; its work was abandoned",
                isConnectionFailure: true)
        }
        try connect()
    }

    /// Whether the server has closed this session, seen without a round trip. A backend that ends
    /// while idle (terminated, server restart) sends its last message and closes the socket;
    /// libpq notices only when it reads. An idle session is sent next to nothing else, so when
    /// something is waiting, read it and give the close that follows it a moment (50 ms) to land.
    private var isKnownClosed: Bool {
        guard let handle, PQstatus(handle) == CONNECTION_OK else { return true }
        var socket = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
        var wait: Int32 = 0
        for _ in 0..<4 {
            guard poll(&socket, 1, wait) > 0, PQconsumeInput(handle) == 1 else { break }
            wait = 50
        }
        return PQstatus(handle) != CONNECTION_OK
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
        guard let scheme = url.range(of: "://") else { return url }
        var masked = url
        var queryFrom = scheme.upperBound
        // The password of `user:password@host`: up to the last `@` before the path, so a password
        // holding an unencoded `@` or `?` is masked whole.
        let authorityEnd = url[scheme.upperBound...].firstIndex(of: "/") ?? url.endIndex
        if let at = url[scheme.upperBound..<authorityEnd].lastIndex(of: "@"),
            let colon = url[scheme.upperBound..<at].firstIndex(of: ":")
        {
            masked = String(url[..<url.index(after: colon)]) + "***" + String(url[at...])
            queryFrom = masked.index(masked.startIndex, offsetBy: url.distance(from: url.startIndex, to: colon) + 4)
        }
        guard let queryStart = masked[queryFrom...].firstIndex(of: "?") else { return masked }
        // `?password=…` and `?sslpassword=…` are credentials too (libpq reads both from the query).
        let parameters = masked[masked.index(after: queryStart)...].split(separator: "&", omittingEmptySubsequences: false)
        let query = parameters.map { parameter -> String in
            guard let equals = parameter.firstIndex(of: "=") else { return String(parameter) }
            let name = parameter[..<equals].lowercased()
            return name == "password" || name == "sslpassword" ? "\(parameter[..<equals])=***" : String(parameter)
        }
        return String(masked[..<queryStart]) + "?" + query.joined(separator: "&")
    }
}

extension String {
    fileprivate func trimmingSpace() -> String {
        var slice = Substring(self)
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
