/// Where the store lives: `sqlite://PATH` (relative paths are relative to the working
/// directory) or a PostgreSQL URI.
public enum StorageURL: Hashable, Sendable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(url: String)

    public static let defaultSQLite = StorageURL.sqlite(path: "./switchyard.db")

    public init?(_ text: String) {
        if text.hasPrefix("sqlite://") {
            let path = String(text.dropFirst("sqlite://".count))
            guard !path.isEmpty else { return nil }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(url: text)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite://\(path)"
        case .postgres(let url): PostgresConnection.redacted(url)
        }
    }

    public func connect() throws(SQLError) -> SQLConnection {
        switch self {
        case .sqlite(let path): try SQLiteConnection(path: path)
        case .postgres(let url): try PostgresConnection(url: url)
        }
    }

    /// A connection for `lane`: on PostgreSQL with the lane's statement timeout.
    func connect(lane: StoreLane) throws(SQLError) -> SQLConnection {
        switch self {
        case .sqlite(let path): try SQLiteConnection(path: path)
        case .postgres(let url): try PostgresConnection(url: url, statementTimeout: lane.statementTimeout)
        }
    }
}
