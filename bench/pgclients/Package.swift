// swift-tools-version:6.1
// libpq (through Switchyard's SQLStore lanes) against postgres-nio's PostgresClient, on the two
// store calls that matter per request: a ledger batch insert and a key lookup. A separate package
// so the main build and CI never compile postgres-nio.
//   swift run -c release --package-path bench/pgclients PGClients postgres://USER@127.0.0.1:PORT/DB
import PackageDescription

let package = Package(
    name: "PGClients",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "switchyard", path: "../.."),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        .executableTarget(
            name: "PGClients",
            dependencies: [
                .product(name: "Storage", package: "switchyard"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        )
    ],
    // A throwaway measuring script: Swift 5 mode spares its top-level code the Sendable checks.
    swiftLanguageModes: [.v5]
)
