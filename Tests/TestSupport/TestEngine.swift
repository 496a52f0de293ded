import Foundation
import Storage
import SwitchyardCore
import Testing

/// The engines the store-backed suites run on: SQLite always; PostgreSQL when
/// `SWITCHYARD_TEST_POSTGRES_URL` names a server (scripts/test.sh starts one). Each test gets a
/// database of its own.
public enum TestEngine: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    public var testDescription: String { rawValue }

    public static var postgresURL: String? { ProcessInfo.processInfo.environment["SWITCHYARD_TEST_POSTGRES_URL"] }

    /// SQLite always; PostgreSQL when configured. `SWITCHYARD_REQUIRE_POSTGRES=1` (set by CI)
    /// makes a missing server an error rather than a silent skip.
    public static var available: [TestEngine] {
        if postgresURL != nil { return [.sqlite, .postgres] }
        precondition(
            ProcessInfo.processInfo.environment["SWITCHYARD_REQUIRE_POSTGRES"] != "1",
            "SWITCHYARD_REQUIRE_POSTGRES=1 but SWITCHYARD_TEST_POSTGRES_URL is not set")
        return [.sqlite]
    }

    /// A fresh, empty database on this engine.
    public func freshURL() throws -> StorageURL {
        let name = "sy_test_" + RandomIdentifier.lowercase(count: 10)
        switch self {
        case .sqlite:
            return .sqlite(path: NSTemporaryDirectory() + name + ".db")
        case .postgres:
            let base = TestEngine.postgresURL!
            let admin = try PostgresConnection(url: base)
            try admin.query("CREATE DATABASE \(name)")
            admin.close()
            guard let slash = base.lastIndex(of: "/") else { return .postgres(url: base) }
            return .postgres(url: String(base[..<slash]) + "/" + name)
        }
    }
}
