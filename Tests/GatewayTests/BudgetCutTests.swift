import Foundation
import Governance
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Providers
import SwitchyardCore
import TestSupport
import Testing

@testable import DataPlane

/// `on_exceed: cut`: a stream whose running cost passes what its budget can still cover ends at
/// its next chunk, in the client's format, and its record says so.
@Suite struct BudgetCutTests {
    /// Gemma costs 20 nano-USD per input and 40 per output token; a request reserves its input
    /// estimate and 2 output tokens (about 220), and the budget holds 1,000.
    static func yaml(onExceed: String) -> String {
        TestGateway.configurationYAML + """

            budgets:
              - name: acme-day
                scope: tenant:acme
                period: day
                limit: "0.000001"
                on_exceed: \(onExceed)
            governance:
              assumed_output_tokens: 2
            """
    }

    func stream(_ client: LiveClient, key: String) async throws -> (HTTPResponse.Status, String) {
        let body = #"{"model":"chat","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#
        return try await client.execute(
            uri: "/v1/chat/completions", method: .post, headers: [.authorization: "Bearer \(key)"],
            body: ByteBuffer(string: body)
        ) { ($0.status, String(buffer: $0.body)) }
    }

    @Test func aStreamThatOutgrowsItsBudgetIsCutAtItsNextChunk() async throws {
        let sent = ChunkCount()
        let test = try await TestGateway.make(yaml: Self.yaml(onExceed: "cut"), audited: true) { _ in
            UpstreamResponse(
                status: 200, contentType: "text/event-stream",
                body: UpstreamBody(DrippingBody(every: .milliseconds(5), sent: sent)))
        }
        let started = ContinuousClock.now
        try await test.gateway.withLiveServer { client in
            let (status, text) = try await stream(client, key: test.acmeKey)
            #expect(status == .ok)  // the stream had started
            let ticks = text.components(separatedBy: #""content":"tick""#).count - 1
            #expect(ticks >= 5 && ticks <= 30, "relayed \(ticks) chunks")
            #expect(text.contains(#""code":"budget_exceeded""#))
            #expect(!text.contains("[DONE]"))
        }
        // The drip would run for 25 s: the upstream call ended with the stream.
        #expect(ContinuousClock.now - started < .seconds(10))
        let record = try #require(test.sink.last)
        #expect(record.errorClass == .budgetExceeded && record.status == 429)
        #expect(record.cost.nanos <= 1_000)
        let status = try #require(test.gateway.governor.budgets.status().first)
        #expect(status.spent == record.cost.nanos && status.reserved == 0)
        await test.gateway.governor.audit?.flush()
        #expect(try await test.auditEntries().map(\.action).contains("budget.refuse"))
    }

    /// `spend_per_hour` with `on_exceed: cut`: a stream is cut before its running cost takes the
    /// tenant's rolling hour past the limit (no budget at all); with `finish` it runs to its end
    /// and trips runaway protection afterwards.
    @Test(arguments: ["cut", "finish"]) func aStreamIsCutAtTheHourlySpendLimit(onExceed: String) async throws {
        let yaml =
            TestGateway.configurationYAML + """

                limits:
                  - scope: tenant:acme
                    spend_per_hour: "0.000001"
                    on_exceed: \(onExceed)
                governance:
                  assumed_output_tokens: 2
                """
        let sent = ChunkCount()
        let test = try await TestGateway.make(yaml: yaml) { _ in
            UpstreamResponse(
                status: 200, contentType: "text/event-stream",
                body: UpstreamBody(DrippingBody(every: .milliseconds(5), sent: sent, limit: onExceed == "cut" ? 5_000 : 60)))
        }
        try await test.gateway.withLiveServer { client in
            let (status, text) = try await stream(client, key: test.acmeKey)
            #expect(status == .ok)
            if onExceed == "cut" {
                #expect(text.contains(#""code":"budget_exceeded""#) && !text.contains("[DONE]"), "\(text.suffix(300))")
                // Two more, at once: the hour's spend and each other's holds leave them little or
                // no room (refused before they start, or cut), and the hour never passes its limit.
                async let second = stream(client, key: test.acmeKey)
                async let third = stream(client, key: test.acmeKey)
                for (status, text) in try await [second, third] {
                    #expect(status == .tooManyRequests || text.contains(#""code":"budget_exceeded""#))
                }
            } else {
                #expect(!text.contains("budget_exceeded"))
            }
        }
        let record = try #require(test.sink.last)
        if onExceed == "cut" {
            #expect(record.errorClass == .budgetExceeded && record.status == 429)
            let spent = test.sink.all.reduce(Int64(0)) { $0 + $1.cost.nanos }
            #expect(spent <= 1_000, "spent \(spent) of 1,000 nano-USD in the hour")
            #expect(test.gateway.governor.kills.stopping(Principal(tenant: "acme", agent: nil, keyID: "k")) == nil)
        } else {
            #expect(record.errorClass != .budgetExceeded && record.cost.nanos > 1_000)
            #expect(test.gateway.governor.kills.stopping(Principal(tenant: "acme", agent: nil, keyID: "k")) != nil)
        }
    }

    /// `n` answers may each write `max_tokens`: the worst case reserved is n times the output.
    @Test func nAnswersReserveNTimesTheOutput() async throws {
        let yaml =
            TestGateway.configurationYAML + """

                budgets:
                  - name: acme-day
                    scope: tenant:acme
                    period: day
                    limit: "0.00001"
                """
        let test = try await TestGateway.make(yaml: yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        try await test.gateway.withLiveServer { client in
            func ask(_ answers: Int) async throws -> HTTPResponse.Status {
                let body = #"{"model":"chat","n":\#(answers),"max_tokens":100,"messages":[{"role":"user","content":"Hi"}]}"#
                return try await client.execute(
                    uri: "/v1/chat/completions", method: .post, headers: [.authorization: "Bearer \(test.acmeKey)"],
                    body: ByteBuffer(string: body)
                ) { $0.status }
            }
            // 100 output tokens at 40 nano-USD: 4,000 and the input for one answer, 16,000 for four.
            let (four, one, none) = (try await ask(4), try await ask(1), try await ask(0))
            #expect(four == .tooManyRequests)
            #expect(one == .ok)
            #expect(none == .badRequest)
        }
    }

    @Test func withFinishTheSameStreamRunsPastTheLimit() async throws {
        let sent = ChunkCount()
        let test = try await TestGateway.make(yaml: Self.yaml(onExceed: "finish")) { _ in
            UpstreamResponse(
                status: 200, contentType: "text/event-stream",
                body: UpstreamBody(DrippingBody(every: .milliseconds(1), sent: sent, limit: 60)))
        }
        try await test.gateway.withLiveServer { client in
            let (status, text) = try await stream(client, key: test.acmeKey)
            #expect(status == .ok)
            #expect(!text.contains("budget_exceeded"))
        }
        let record = try #require(test.sink.last)
        // The drip ends without a finish reason (interrupted), but nothing cut it: it cost more than the budget.
        #expect(record.errorClass != .budgetExceeded && record.cost.nanos > 1_000)
    }
}

/// The input estimate counts tool schemas: a large `tools` array must not look like a small prompt.
@Suite struct InputEstimateTests {
    @Test func toolSchemasCountAgainstMaxInputTokens() async throws {
        let yaml =
            TestGateway.configurationYAML + """

                policies:
                  - name: acme-small
                    scope: tenant:acme
                    max_input_tokens: 200
                """
        let test = try await TestGateway.make(yaml: yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let description = String(repeating: "a", count: 1_500)  // the body stays under max_body_bytes (2048)
        try await test.gateway.withLiveServer { client in
            func ask(tools: Bool) async throws -> HTTPResponse.Status {
                let toolsJSON =
                    tools
                    ? #","tools":[{"type":"function","function":{"name":"f","description":"\#(description)","parameters":{}}}]"#
                    : ""
                let body =
                    #"{"model":"chat","max_tokens":8,"messages":[{"role":"user","content":"Hi"}]\#(toolsJSON)}"#
                return try await client.execute(
                    uri: "/v1/chat/completions", method: .post, headers: [.authorization: "Bearer \(test.acmeKey)"],
                    body: ByteBuffer(string: body)
                ) { $0.status }
            }
            let (plain, withTools) = (try await ask(tools: false), try await ask(tools: true))
            #expect(plain == .ok)
            // About 375 tokens of tool schema: past the policy's 200 (it passed before).
            #expect(withTools == .forbidden)
        }
    }
}
