/// The values Switchyard stores: integers and text are enough for every column, on both engines.
public enum SQLValue: Hashable, Sendable {
    case null
    case integer(Int64)
    case text(String)

    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .text(let text): Int64(text)
        case .null: nil
        }
    }

    public var text: String? {
        switch self {
        case .text(let value): value
        case .integer(let value): String(value)
        case .null: nil
        }
    }

    public static func optional(_ text: String?) -> SQLValue { text.map { .text($0) } ?? .null }
    public static func optional(_ value: Int64?) -> SQLValue { value.map { .integer($0) } ?? .null }
}

/// One result row, addressed by column position.
public struct SQLRow: Sendable {
    public var values: [SQLValue]

    public init(values: [SQLValue]) { self.values = values }

    public subscript(index: Int) -> SQLValue { values[index] }
}

public enum SQLDialect: String, Sendable {
    case sqlite
    case postgres
}

public struct SQLError: Error, CustomStringConvertible, Sendable {
    public var message: String
    /// True when the connection itself failed: the next call may succeed on a new connection,
    /// but what this one sent may or may not have been applied.
    public var isConnectionFailure: Bool

    public init(_ message: String, isConnectionFailure: Bool = false) {
        self.message = message
        self.isConnectionFailure = isConnectionFailure
    }

    public var description: String { message }
}

/// A blocking connection to one database. Statements use `?` placeholders on every engine.
///
/// Not thread-safe: `SQLStore` confines each connection to its own serial queue.
public protocol SQLConnection: AnyObject {
    var dialect: SQLDialect { get }
    @discardableResult
    func query(_ sql: String, _ binds: [SQLValue]) throws(SQLError) -> [SQLRow]
    /// Runs several `;`-separated statements without parameters (migrations).
    func executeScript(_ sql: String) throws(SQLError)
    func close()
    /// Runs `body` on one database session. A connection that reconnects must not do so while
    /// `body` runs: a transaction or a session lock would not follow onto the new session, so a
    /// lost connection fails every later statement of `body` instead (`isConnectionFailure`).
    func withSession<T>(_ body: () throws -> T) throws -> T
}

extension SQLConnection {
    /// A connection that never reconnects (SQLite) is one session already.
    public func withSession<T>(_ body: () throws -> T) throws -> T { try body() }

    @discardableResult
    public func query(_ sql: String) throws(SQLError) -> [SQLRow] { try query(sql, []) }

    /// Runs `body` in a transaction, committing when it returns and rolling back when it throws.
    /// The whole transaction is one session: a connection lost inside it fails it whole, and
    /// ROLLBACK is never sent to a new session (the server already rolled back the lost one).
    ///
    /// On SQLite a plain BEGIN becomes BEGIN IMMEDIATE: with several connections on one file, a
    /// deferred transaction that reads and then writes fails at once (no busy wait) when another
    /// connection wrote meanwhile; IMMEDIATE waits for the write lock before reading.
    public func transaction<T>(begin: String = "BEGIN", _ body: () throws -> T) throws -> T {
        try withSession {
            try query(begin == "BEGIN" && dialect == .sqlite ? "BEGIN IMMEDIATE" : begin)
            do {
                let result = try body()
                try query("COMMIT")
                return result
            } catch {
                try? query("ROLLBACK")
                throw error
            }
        }
    }
}
