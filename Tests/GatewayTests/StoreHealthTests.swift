import Synchronization
import TestSupport
import Testing

@testable import DataPlane

/// Readiness means "send me traffic": answered from the store's last known state at once, never
/// failed by the store, which every replica shares.
@Suite struct StoreHealthTests {
    /// A probe the test controls: each call waits at the gate, then answers `reachable`.
    final class ScriptedProbe: Sendable {
        let calls = Atomic<Int>(0)
        let reachable = Atomic<Bool>(false)
        let gate = Gate()

        func probe() async -> Bool {
            calls.add(1, ordering: .relaxed)
            await gate.wait()
            return reachable.load(ordering: .relaxed)
        }
    }

    @Test func aStaleResultIsAnsweredAtOnceAndProbedOnceInTheBackground() async throws {
        let probe = ScriptedProbe()
        let health = StoreHealth(maxAge: .zero) { await probe.probe() }
        try await Task.sleep(for: .milliseconds(1))  // the start-up result is now older than maxAge
        // The start-up state answers while the probe it started is held at the gate.
        #expect(health.current().reachable)
        try await waitUntil("the background probe started") { probe.calls.load(ordering: .relaxed) == 1 }
        for _ in 0..<10 { #expect(health.current().reachable) }
        #expect(probe.calls.load(ordering: .relaxed) == 1, "a second probe started while one was running")
        probe.gate.open()
        try await waitUntil("the probe's result is known") { !health.current().reachable }
    }

    @Test func aFreshResultStartsNoProbe() async throws {
        let probe = ScriptedProbe()
        probe.gate.open()
        let health = StoreHealth(maxAge: .seconds(3600)) { await probe.probe() }
        for _ in 0..<10 { #expect(health.current().reachable) }
        // Asked explicitly within the age too: the result is reused, the store is not asked.
        #expect(await health.refresh().reachable)
        #expect(probe.calls.load(ordering: .relaxed) == 0)
    }

    @Test func explicitQuestionsShareOneProbe() async throws {
        let probe = ScriptedProbe()
        let health = StoreHealth(maxAge: .zero) { await probe.probe() }
        try await Task.sleep(for: .milliseconds(1))  // the start-up result is now stale
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<20 { group.addTask { await health.refresh().reachable } }
            try await waitUntil("the probe started") { probe.calls.load(ordering: .relaxed) == 1 }
            _ = health.current()
            probe.gate.open()
            for try await reachable in group { #expect(!reachable) }
        }
        #expect(probe.calls.load(ordering: .relaxed) == 1, "every caller must share the probe that was running")
    }

    @Test func aStoreThatIsGoneLeavesTheGatewayReadyAndSaysSo() async throws {
        let test = try await TestGateway.make { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        try await test.gateway.withLiveServer { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ready"}"#)
            }
            try await client.execute(uri: "/healthz?verbose", method: .get) { response in
                #expect(String(buffer: response.body) == #"{"status":"ok","store":"ok"}"#)
            }
            await test.store.close()
            // Asked explicitly, the store is probed (once its last result is a second old).
            try await waitUntil("the verbose health check sees the store gone") {
                try await client.execute(uri: "/healthz?verbose", method: .get) { response in
                    response.status == .ok && String(buffer: response.body) == #"{"status":"ok","store":"unavailable"}"#
                }
            }
            // Readiness stays 200: degraded, not out of rotation.
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"degraded","store":"unavailable"}"#)
            }
            try await client.execute(uri: "/metrics", method: .get, headers: TestGateway.metricsHeaders) { response in
                #expect(String(buffer: response.body).contains("switchyard_store_up 0"))
            }
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
            }
            // Balancers that probe with HEAD: the same status.
            try await client.execute(uri: "/readyz", method: .head) { #expect($0.status == .ok) }
            try await client.execute(uri: "/healthz", method: .head) { #expect($0.status == .ok) }
        }
    }
}
