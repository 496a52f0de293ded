import Dispatch
import Foundation
import Synchronization
import TestSupport
import Testing

@testable import Storage

/// The store's lanes: work on one connection never waits behind another's, and a call that does
/// not finish in time fails instead of holding its caller.
@Suite struct StoreLaneTests {
    /// Polls without holding a thread of the cooperative pool (the lane's work runs off it),
    /// for at most 30 s.
    static func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition() {
            try #require(ContinuousClock.now < deadline, "condition not met within 30 s")
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// A report holding its connection (a long aggregation, a lock) does not hold a key lookup,
    /// `/readyz` or a ledger batch.
    @Test(arguments: TestEngine.available)
    func aBusyReportsLaneHoldsNoOtherLane(_ engine: TestEngine) async throws {
        let store = try await SQLStore.open(try engine.freshURL())
        let release = DispatchSemaphore(value: 0)
        let reportStarted = Atomic<Bool>(false)
        let report = Task {
            try await store.run(.reports) { _ in
                reportStarted.store(true, ordering: .releasing)
                _ = release.wait(timeout: .now() + 60)
            }
        }
        defer { release.signal() }
        try await Self.waitUntil { reportStarted.load(ordering: .acquiring) }
        // The reports lane is taken until `release`; these would wait for it on a shared connection.
        #expect(try await store.schemaVersion() == 18)
        try await store.insertUsage([SQLStoreTests().record()])
        #expect(try await store.run(.ledger) { try $0.query("SELECT COUNT(*) FROM usage_records").first?[0].integer } == 1)
        release.signal()
        try await report.value
        #expect(try await store.usageCount() == 1)
        await store.close()
    }

    /// A call still in line at its deadline fails and is never run; the call running ahead of
    /// it is not cut off.
    @Test func aCallStillInLineAtItsDeadlineFailsAndIsSkipped() async throws {
        let lane = StoreLaneConnection(
            try StorageURL.sqlite(path: NSTemporaryDirectory() + UUID().uuidString + ".db").connect(), label: "test")
        let release = DispatchSemaphore(value: 0)
        let started = Atomic<Bool>(false)
        let ran = Atomic<Int>(0)
        let stuck = Task {
            try await lane.run(deadline: .milliseconds(200)) { _ in
                started.store(true, ordering: .releasing)
                _ = release.wait(timeout: .now() + 60)
            }
        }
        try await Self.waitUntil { started.load(ordering: .acquiring) }
        await #expect(throws: SQLError.self) {
            try await lane.run(deadline: .milliseconds(200)) { _ in ran.add(1, ordering: .relaxed) }
        }
        // The running call is not cut off (it could still commit): it is waited for.
        release.signal()
        try await stuck.value
        // The lane is free again: a new call runs, and only it.
        try await lane.run(deadline: .seconds(30)) { _ in ran.add(10, ordering: .relaxed) }
        #expect(ran.load(ordering: .relaxed) == 10)
    }

    /// On PostgreSQL the server ends a statement past the session's `statement_timeout`, and the
    /// session goes on serving.
    @Test(.enabled(if: TestEngine.postgresURL != nil))
    func postgresCancelsAStatementPastItsTimeoutAndTheSessionGoesOn() throws {
        let connection = try PostgresConnection(url: TestEngine.postgresURL!, statementTimeout: .milliseconds(300))
        defer { connection.close() }
        let started = ContinuousClock.now
        #expect(throws: SQLError.self) { try connection.query("SELECT pg_sleep(20)") }
        #expect(ContinuousClock.now - started < .seconds(15))
        #expect(try connection.query("SELECT 1").first?[0].integer == 1)
    }

    @Test func postgresURLsGetNetworkDeadlinesUnlessTheyNameTheirOwn() {
        let plain = PostgresConnection.withNetworkDefaults("postgres://u@h:5432/db")
        #expect(plain.hasPrefix("postgres://u@h:5432/db?connect_timeout=10&"))
        #expect(plain.contains("tcp_user_timeout=30000"))
        let own = PostgresConnection.withNetworkDefaults("postgres://u@h/db?sslmode=require&connect_timeout=3")
        #expect(own.hasPrefix("postgres://u@h/db?sslmode=require&connect_timeout=3&keepalives=1"))
        #expect(!own.contains("connect_timeout=10"))
        let questionInPassword = PostgresConnection.withNetworkDefaults("postgres://u:pa?ss@h/db")
        #expect(questionInPassword.hasPrefix("postgres://u:pa?ss@h/db?connect_timeout=10&"))
        #expect(PostgresConnection.withNetworkDefaults("postgres://u@h/db?").hasPrefix("postgres://u@h/db?connect_timeout=10&"))
    }
}
