import Foundation
import Governance
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Providers
import Storage
import SwitchyardCore
import TestSupport
import Testing

@testable import ControlPlane
@testable import DataPlane

/// Agent runs through the server production uses: the run header in the ledger, loops flagged
/// and stopped, the run rules, and the runs in the admin API.
@Suite struct AgentRunGatewayTests {
    static let adminKey = "sy-admin-test"

    static func make(policy: String = "") async throws -> TestGateway {
        let yaml =
            TestGateway.configurationYAML + """

                admin:
                  key_env: TEST_ADMIN_KEY
                """ + (policy.isEmpty ? "" : "\npolicies:\n" + policy)
        return try await TestGateway.make(yaml: yaml, environment: ["TEST_ADMIN_KEY": adminKey]) { _ in
            ReplayTransport.respond([Recorded.llamaCompletion])
        }
    }

    func chat(
        _ client: LiveClient, key: String, run: String?, step: String? = nil, prompt: String = "Hi",
        extra: HTTPFields = [:]
    ) async throws -> (HTTPResponse.Status, String) {
        var headers: HTTPFields = [.authorization: "Bearer \(key)"]
        if let run { headers[HTTPField.Name("x-switchyard-run")!] = run }
        if let step { headers[HTTPField.Name("x-switchyard-step")!] = step }
        headers.append(contentsOf: extra)
        let body = #"{"model":"chat","max_tokens":8,"messages":[{"role":"user","content":"\#(prompt)"}]}"#
        return try await client.execute(
            uri: "/v1/chat/completions", method: .post, headers: headers, body: ByteBuffer(string: body)
        ) { ($0.status, String(buffer: $0.body)) }
    }

    @Test func recordsCarryTheRunAndStepAndTheFifthRepeatIsFlagged() async throws {
        let test = try await Self.make()
        try await test.gateway.withLiveServer { client throws in
            for step in 1...4 {
                #expect(try await chat(client, key: test.acmeKey, run: "nightly-1", step: "s\(step)").0 == .ok)
            }
            // Default rules: the 5th identical prompt within 10 minutes makes the run loop; flagged, not stopped.
            #expect(try await chat(client, key: test.acmeKey, run: "nightly-1", step: "s5").0 == .ok)
            #expect(try await chat(client, key: test.acmeKey, run: "nightly-1", prompt: "Something new").0 == .ok)
            #expect(try await chat(client, key: test.acmeKey, run: nil).0 == .ok)
        }
        let records = test.sink.all
        #expect(records.count == 7)
        #expect(records.prefix(6).allSatisfy { $0.run == "nightly-1" })
        #expect(records[0].runStep == "s1")
        #expect(records.map(\.runLoop) == [false, false, false, false, true, false, false])
        #expect(records[6].run == nil)
    }

    @Test func onLoopStopEngagesTheRunsKillSwitchAndNothingMoreReachesTheProvider() async throws {
        let test = try await Self.make(
            policy: """
                  - name: no-loops
                    scope: agent:acme/triage-bot
                    on_loop: stop
                    loop_repeats: 3
                """)
        try await test.gateway.withLiveServer { client throws in
            #expect(try await chat(client, key: test.acmeKey, run: "r1").0 == .ok)
            #expect(try await chat(client, key: test.acmeKey, run: "r1").0 == .ok)
            let (status, body) = try await chat(client, key: test.acmeKey, run: "r1")
            #expect(status == .forbidden)
            #expect(body.contains(#""code":"kill_switch""#))
            #expect(body.contains("looping"))
            // The run stays stopped, whatever it sends next; its other runs and other tenants go on.
            #expect(try await chat(client, key: test.acmeKey, run: "r1", prompt: "Different").0 == .forbidden)
            #expect(try await chat(client, key: test.acmeKey, run: "r2").0 == .ok)
            #expect(try await chat(client, key: test.globexKey, run: "r1").0 == .ok)
            #expect(try await chat(client, key: test.globexKey, run: "r1").0 == .ok)
            #expect(try await chat(client, key: test.globexKey, run: "r1").0 == .ok)
        }
        #expect(test.transport.requests.count == 6)  // 2 of r1, 1 of r2, 3 of globex's r1
        let kill = try #require(test.gateway.governor.kills.stoppingScope(.run(tenant: "acme", run: "r1")))
        #expect(kill.engagedBy == "switchyard")
        #expect(kill.reason.contains("no-loops"))
        #expect(test.gateway.governor.kills.stoppingScope(.run(tenant: "globex", run: "r1")) == nil)
        let stopped = test.sink.all.filter { $0.run == "r1" && $0.tenant == "acme" && $0.status == 403 }
        #expect(stopped.count == 2)
        #expect(stopped.first?.runLoop == true)
    }

    @Test func maxRunRequestsAndMaxRunCostStopTheRun() async throws {
        let test = try await Self.make(
            policy: """
                  - name: short-runs
                    scope: tenant:acme
                    max_run_requests: 3
                  - name: cheap-runs
                    scope: tenant:globex
                    max_run_cost: "0.000000001"
                """)
        try await test.gateway.withLiveServer { client throws in
            for index in 1...3 {
                #expect(try await chat(client, key: test.acmeKey, run: "a", prompt: "p\(index)").0 == .ok)
            }
            let (status, body) = try await chat(client, key: test.acmeKey, run: "a", prompt: "p4")
            #expect(status == .forbidden)
            #expect(body.contains("max_run_requests"))
            // The first request's cost reaches the cap: the run is stopped when it settles.
            #expect(try await chat(client, key: test.globexKey, run: "b").0 == .ok)
            let (refused, reason) = try await chat(client, key: test.globexKey, run: "b", prompt: "again")
            #expect(refused == .forbidden)
            #expect(reason.contains("max_run_cost"))
        }
        #expect(test.transport.requests.count == 4)
    }

    @Test func aStoppedRunsStreamEndsAtItsNextChunkAndTheAgentsOtherStreamsGoOn() async throws {
        let sent = ChunkCount()
        let calls = ChunkCount()
        let test = try await TestGateway.make { _ in
            calls.increment()
            // The first stream drips until stopped; the next one ends at once, properly.
            if calls.value > 1 {
                return ReplayTransport.respond(
                    contentType: "text/event-stream",
                    [
                        #"data: {"id":"c2","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"done"},"finish_reason":"stop"}]}"#
                            + "\n\ndata: [DONE]\n\n"
                    ])
            }
            return UpstreamResponse(
                status: 200, contentType: "text/event-stream",
                body: UpstreamBody(DrippingBody(every: .milliseconds(20), sent: sent)))
        }
        let engager = Task {
            try await waitUntil("3 chunks sent") { sent.value >= 3 }
            test.gateway.governor.kills.engage(
                KillSwitch(scope: .run(tenant: "acme", run: "r1"), reason: "stop the run", engagedBy: "admin"))
        }
        try await test.gateway.withLiveServer { client in
            let body = #"{"model":"chat","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#
            func stream(run: String) async throws -> String {
                try await client.execute(
                    uri: "/v1/chat/completions", method: .post,
                    headers: [.authorization: "Bearer \(test.acmeKey)", HTTPField.Name("x-switchyard-run")!: run],
                    body: ByteBuffer(string: body)
                ) { String(buffer: $0.body) }
            }
            let stopped = try await stream(run: "r1")
            #expect(stopped.contains(#""code":"kill_switch""#))
            #expect(!stopped.contains("[DONE]"))
            try await engager.value
            let other = try await stream(run: "r2")
            #expect(other.contains("[DONE]"))
            #expect(!other.contains("kill_switch"))
        }
        #expect(test.sink.all.map { $0.errorClass } == [ErrorClass.killSwitch, nil])
    }

    @Test func aRequestThatTakesTheRunPastItsCostEndsTheRunsStreamInFlight() async throws {
        let sent = ChunkCount()
        let calls = ChunkCount()
        let yaml =
            TestGateway.configurationYAML + """

                policies:
                  - name: cheap-runs
                    scope: tenant:acme
                    max_run_cost: "0.000000001"
                """
        let test = try await TestGateway.make(yaml: yaml) { _ in
            calls.increment()
            // The first call is the stream that drips; the second a whole answer with its usage.
            if calls.value > 1 { return ReplayTransport.respond([Recorded.llamaCompletion]) }
            return UpstreamResponse(
                status: 200, contentType: "text/event-stream",
                body: UpstreamBody(DrippingBody(every: .milliseconds(20), sent: sent)))
        }
        try await test.gateway.withLiveServer { client in
            let headers: HTTPFields = [
                .authorization: "Bearer \(test.acmeKey)", HTTPField.Name("x-switchyard-run")!: "r1",
            ]
            let streaming = Task {
                try await client.execute(
                    uri: "/v1/chat/completions", method: .post, headers: headers,
                    body: ByteBuffer(string: #"{"model":"chat","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#)
                ) { String(buffer: $0.body) }
            }
            try await waitUntil("3 chunks sent") { sent.value >= 3 }
            let whole = try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: headers,
                body: ByteBuffer(string: #"{"model":"chat","max_tokens":8,"messages":[{"role":"user","content":"Other"}]}"#)
            ) { $0.status }
            #expect(whole == .ok)
            let stream = try await streaming.value
            #expect(stream.contains(#""code":"kill_switch""#))
            #expect(stream.contains("max_run_cost"))
        }
        #expect(test.gateway.governor.kills.stoppingScope(.run(tenant: "acme", run: "r1")) != nil)
    }

    @Test func aMalformedRunHeaderIsRefusedBeforeTheProviderAndBaggageNamesARun() async throws {
        let test = try await Self.make()
        try await test.gateway.withLiveServer { client throws in
            let (status, body) = try await chat(client, key: test.acmeKey, run: "has space")
            #expect(status == .badRequest)
            #expect(body.contains("x-switchyard-run"))
            #expect(try await chat(client, key: test.acmeKey, run: String(repeating: "x", count: 129)).0 == .badRequest)
            #expect(try await chat(client, key: test.acmeKey, run: "ok", step: "bad/step").0 == .badRequest)
            // Two run headers are not two guesses at which counts: refused, as a malformed one.
            let twice: HTTPFields = [HTTPField.Name("x-switchyard-run")!: "other"]
            let (status2, body2) = try await chat(client, key: test.acmeKey, run: "one", extra: twice)
            #expect(status2 == .badRequest)
            #expect(body2.contains("x-switchyard-run"))
            let baggage: HTTPFields = [HTTPField.Name("baggage")!: "user=1, gen_ai.conversation.id=conv%2D7;p=1"]
            #expect(try await chat(client, key: test.acmeKey, run: nil, extra: baggage).0 == .ok)
        }
        #expect(test.transport.requests.count == 1)
        #expect(test.sink.last?.run == "conv-7")
    }

    @Test func theAdminAPIShowsRunsFromTheLedgerToTheirTenantOnly() async throws {
        let test = try await Self.make()
        try await test.gateway.withLiveServer { client throws in
            for step in 1...3 {
                _ = try await chat(client, key: test.acmeKey, run: "shared-id", step: "s\(step)", prompt: "p\(step)")
            }
            _ = try await chat(client, key: test.globexKey, run: "shared-id")
        }
        try await test.store.insertUsage(test.sink.all)
        // A replayed batch adds nothing twice.
        try await test.store.insertUsage(test.sink.all)
        let (adminAcmeKey, adminAcme) = AdminKeyFormat.issue(role: .tenantAdmin, tenant: "acme")
        try await test.store.insertAdminKey(adminAcme)
        try await test.gateway.withLiveServer { client throws in
            func get(_ path: String, key: String = Self.adminKey) async throws -> (HTTPResponse.Status, String) {
                try await client.execute(uri: path, method: .get, headers: [.authorization: "Bearer \(key)"]) {
                    ($0.status, String(buffer: $0.body))
                }
            }
            let (status, body) = try await get("/admin/v1/tenants/acme/runs/shared-id", key: adminAcmeKey)
            #expect(status == .ok)
            let run = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            #expect(run["tenant"] as? String == "acme")
            #expect(run["requests"] as? Int == 3)
            #expect(run["agent"] as? String == "triage-bot")
            #expect(run["last_step"] as? String == "s3")
            #expect(run["models"] as? [String] == ["gemma-3-270m"])
            #expect((run["hours"] as? [Any])?.count == 1)
            // Its tenant's admin cannot read another tenant's run, nor the gateway-wide list.
            #expect(try await get("/admin/v1/tenants/globex/runs/shared-id", key: adminAcmeKey).0 == .notFound)
            #expect(try await get("/admin/v1/runs", key: adminAcmeKey).0 == .forbidden)
            let (listed, list) = try await get("/admin/v1/tenants/acme/runs", key: adminAcmeKey)
            #expect(listed == .ok)
            #expect(!list.contains("globex"))
            // Gateway-wide, the id is in two tenants: the admin must say which.
            #expect(try await get("/admin/v1/runs/shared-id").0 == .conflict)
            #expect(try await get("/admin/v1/runs/shared-id?tenant=globex").1.contains(#""tenant":"globex""#))
            #expect(try await get("/admin/v1/runs?limit=0").0 == .badRequest)
            #expect(try await get("/admin/v1/runs/nope").0 == .notFound)
        }
    }
}
