import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Providers
import SwitchyardCore
import Synchronization
import Testing

@testable import Gateway

/// Two tenants on one saturated deployment (2 slots, each request holds one for 100 ms).
@Suite struct FairShareGatewayTests {
    static func yaml(acmeWeight: Int = 1, timeout: String = "10") -> String {
        TestGateway.configurationYAML
            .replacingOccurrences(
                of: "    model: gemma-3-270m\n",
                with: "    model: gemma-3-270m\n    max_concurrency: 2\n    queue: { timeout_seconds: \(timeout) }\n"
            )
            .replacingOccurrences(of: "  - name: acme\n", with: "  - name: acme\n    weight: \(acmeWeight)\n")
    }

    static func slowUpstream(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse {
        try? await Task.sleep(for: .milliseconds(100))
        return ReplayTransport.respond([Recorded.llamaCompletion])
    }

    func chat(_ client: some TestClientProtocol, key: String, priority: String? = nil, tags: String? = nil) async throws
        -> (HTTPResponse.Status, Duration)
    {
        var headers: HTTPFields = [.authorization: "Bearer \(key)"]
        if let priority { headers[HTTPField.Name("x-switchyard-priority")!] = priority }
        if let tags { headers[HTTPField.Name("x-switchyard-tags")!] = tags }
        let fields = headers
        let started = ContinuousClock.now
        let status = try await client.execute(
            uri: "/v1/chat/completions", method: .post, headers: fields,
            body: ByteBuffer(string: #"{"model":"chat","messages":[{"role":"user","content":"Hi"}]}"#)
        ) { $0.status }
        return (status, ContinuousClock.now - started)
    }

    @Test func aFloodingTenantCannotPushAnotherPastTheBound() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml(), Self.slowUpstream)
        try await Application(router: test.gateway.makeRouter()).test(.router) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                // acme floods: 80 requests × 100 ms on 2 slots is 4 s of work.
                for _ in 0..<80 {
                    group.addTask {
                        let (status, _) = try await chat(client, key: test.acmeKey)
                        #expect(status == .ok)
                    }
                }
                while test.gateway.monitor.waiting("gemma-local") < 70 { try await Task.sleep(for: .milliseconds(5)) }
                // globex, arriving behind 70+ queued acme requests, waits about one slot, not the flood.
                var worst = Duration.zero
                for _ in 0..<5 {
                    let (status, latency) = try await chat(client, key: test.globexKey)
                    #expect(status == .ok)
                    worst = max(worst, latency)
                }
                try await group.waitForAll()
                // Each globex request waits about one slot, not the flood: judged by the order of
                // service, not by time, so a loaded machine slows both alike. Behind the flood, no
                // acme request would finish after globex's last; with fair share most of the ~70
                // queued ones do (5 globex requests take ~5 of the flood's 40 slot-turns).
                let records = test.sink.all
                let lastGlobex = records.filter { $0.tenant == "globex" }.map(\.finishedAt.value).max() ?? .max
                let acmeAfter = records.filter { $0.tenant == "acme" && $0.finishedAt.value > lastGlobex }.count
                #expect(acmeAfter >= 30, "only \(acmeAfter) acme requests were served after globex's (worst wait \(worst))")
            }
        }
        #expect(test.sink.all.count == 85)
        #expect(test.gateway.monitor.snapshot("gemma-local")?.inFlight == 0)
        #expect(test.gateway.monitor.waiting("gemma-local") == 0)
    }

    @Test func sharesFollowTheWeightsWhileBothTenantsWait() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml(acmeWeight: 3), Self.slowUpstream)
        try await Application(router: test.gateway.makeRouter()).test(.router) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<2 { group.addTask { _ = try await chat(client, key: test.acmeKey) } }  // take both slots
                while test.gateway.monitor.snapshot("gemma-local")?.inFlight ?? 0 < 2 {
                    try await Task.sleep(for: .milliseconds(2))
                }
                for _ in 0..<30 {
                    group.addTask { _ = try await chat(client, key: test.acmeKey) }
                    group.addTask { _ = try await chat(client, key: test.globexKey) }
                }
                try await group.waitForAll()
            }
        }
        // Among the first 32 queued requests served (both tenants still waiting), 3 in 4 are acme's.
        let served = test.sink.all.sorted { $0.finishedAt < $1.finishedAt }.dropFirst(2).prefix(32)
        let acme = served.filter { $0.tenant == "acme" }.count
        #expect((20...28).contains(acme), "acme got \(acme) of 32 with weight 3:1")
    }

    @Test func interactiveRequestsOvertakeBatchAndTheQueueTimesOut() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml(timeout: "0.25"), Self.slowUpstream)
        try await Application(router: test.gateway.makeRouter()).test(.router) { client in
            try await withThrowingTaskGroup(of: (HTTPResponse.Status, Duration).self) { group in
                for _ in 0..<12 { group.addTask { try await chat(client, key: test.acmeKey, priority: "batch") } }
                var statuses: [HTTPResponse.Status] = []
                for try await (status, _) in group { statuses.append(status) }
                // 2 run at once, ~2 more in the 250 ms the others may wait: the rest time out with 429.
                #expect(statuses.contains(.tooManyRequests))
                #expect(statuses.contains(.ok))
            }
        }
        let timedOut = test.sink.all.filter { $0.status == 429 }
        #expect(!timedOut.isEmpty && timedOut.allSatisfy { $0.errorClass == .atCapacity })
        #expect(test.gateway.monitor.waiting("gemma-local") == 0)
        #expect(test.gateway.monitor.snapshot("gemma-local")?.inFlight == 0)

        // Priority: with batch requests queued, an interactive one is served first.
        let ordered = try await TestGateway.make(yaml: Self.yaml(), Self.slowUpstream)
        try await Application(router: ordered.gateway.makeRouter()).test(.router) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 { group.addTask { _ = try await chat(client, key: ordered.acmeKey, priority: "batch") } }
                while ordered.gateway.monitor.waiting("gemma-local") < 6 { try await Task.sleep(for: .milliseconds(2)) }
                // The same tenant, so fair share between tenants cannot be what puts it first.
                let (status, _) = try await chat(
                    client, key: ordered.acmeKey, priority: "interactive", tags: "class=interactive")
                #expect(status == .ok)
                try await group.waitForAll()
            }
        }
        // Order, not time (robust on a loaded machine): at least 6 batch requests were waiting when
        // the interactive one arrived. Served first, it finishes before most of them; in arrival
        // order at most one batch request would finish after it.
        let records = ordered.sink.all
        let interactive = try #require(records.first { $0.tags["class"] == "interactive" })
        let batchAfter = records.filter { $0.tags["class"] == nil && $0.finishedAt.value > interactive.finishedAt.value }
        #expect(batchAfter.count >= 4, "only \(batchAfter.count) batch requests finished after the interactive one")
    }
}
