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
        // A refresh (the verbose health check) probes now, whatever the age.
        #expect(await health.refresh().reachable == false)
        #expect(probe.calls.load(ordering: .relaxed) == 1)
        #expect(!health.current().reachable)
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
            // Asked explicitly, the store is probed now.
            try await client.execute(uri: "/healthz?verbose", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ok","store":"unavailable"}"#)
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
        }
    }
}
