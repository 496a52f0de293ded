import Foundation
import Governance
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SwitchyardCore
import TestSupport
import Testing

@testable import DataPlane

/// Policies, rate limits and budgets on the request path, answered in each client's wire format.
@Suite struct GovernanceGatewayTests {
    static let yaml =
        TestGateway.configurationYAML.replacingOccurrences(
            of: "  - name: acme\n",
            with: "  - name: acme\n    projects: [web]\n")
            + """

            policies:
              - name: acme-tools
                scope: tenant:acme
                denied_tools: [shell]
                max_output_tokens: 100
              - name: triage-bot-models
                scope: agent:acme/triage-bot
                denied_routes: [smart]
            governance:
              assumed_output_tokens: 50
            """

    func chat(
        _ test: TestGateway, body: String, headers extra: HTTPFields = [:],
        _ check: @escaping @Sendable (ServedResponse) throws -> Void
    ) async throws {
        var headers = extra
        headers[.authorization] = "Bearer \(test.acmeKey)"
        let fields = headers
        try await test.gateway.withLiveServer { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: fields, body: ByteBuffer(string: body))
            {
                try check($0)
            }
        }
    }

    static func hi(model: String = "chat", extra: String = #","max_tokens":10"#) -> String {
        #"{"model":"\#(model)","messages":[{"role":"user","content":"Hi"}]\#(extra)}"#
    }

    @Test(arguments: TestEngine.available) func aPolicyRefusalIs403NamingTheRuleAndIsAudited(_ engine: TestEngine) async throws {
        let test = try await TestGateway.make(yaml: Self.yaml, audited: true, engine: engine) { _ in
            ReplayTransport.respond([Recorded.llamaCompletion])
        }
        let tools = #","max_tokens":10,"tools":[{"type":"function","function":{"name":"shell","parameters":{}}}]"#
        try await chat(test, body: Self.hi(extra: tools)) { response in
            #expect(response.status == .forbidden)
            let body = String(buffer: response.body)
            #expect(body.contains(#""code":"policy_denied""#))
            #expect(body.contains("policy 'acme-tools' (rule denied_tools)"))
        }
        try await chat(test, body: Self.hi(model: "smart")) { response in
            #expect(response.status == .forbidden)
            #expect(String(buffer: response.body).contains("rule denied_routes"))
        }
        try await chat(test, body: Self.hi(extra: #","max_tokens":500"#)) { response in
            #expect(response.status == .forbidden)
            #expect(String(buffer: response.body).contains(#""param":"max_tokens""#))
        }
        try await chat(test, body: Self.hi()) { #expect($0.status == .ok) }
        #expect(test.transport.requests.count == 1)  // nothing refused reached the upstream
        #expect(test.sink.all.filter { $0.errorClass == .policyDenied }.count == 3)

        await test.gateway.governor.audit?.flush()
        let entries = try await test.auditEntries()
        #expect(entries.map(\.action) == ["policy.refuse", "policy.refuse", "policy.refuse"])
        #expect(entries.allSatisfy { $0.tenant == "acme" && $0.principal.hasPrefix("key:") })
        let everything = entries.map { "\($0.principal) \($0.target) \($0.detail ?? "")" }.joined()
        #expect(!everything.contains(test.acmeKey))  // the key's id, never its secret
        #expect(try await test.store.verifyAudit().firstBreak == nil)
    }

    /// Tool names come from the fast reader's tree when it read the body, else from the byte
    /// editor: the refusal must hold on both paths, and a repeated `tools` member cannot hide one.
    @Test func theToolRuleHoldsWhicheverReaderReadTheBody() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let shell = #"[{"type":"function","function":{"name":"shell","parameters":{}}}]"#
        // `10.0` is left to JSONDecoder by the fast reader.
        try await chat(test, body: Self.hi(extra: #","max_tokens":10.0,"tools":\#(shell)"#)) { response in
            #expect(response.status == .forbidden)
            #expect(String(buffer: response.body).contains("rule denied_tools"))
        }
        try await chat(test, body: Self.hi(extra: #","max_tokens":10,"tools":[],"tools":\#(shell)"#)) { response in
            #expect(response.status != .ok)
        }
        #expect(test.transport.requests.isEmpty)
    }

    @Test func anthropicClientsGetTheRefusalInTheirFormat() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let body =
            #"{"model":"chat","max_tokens":10,"messages":[{"role":"user","content":"Hi"}],"tools":[{"name":"shell","input_schema":{"type":"object"}}]}"#
        try await test.gateway.withLiveServer { client in
            try await client.execute(
                uri: "/v1/messages", method: .post,
                headers: [.xAPIKey: test.acmeKey, .anthropicVersion: "2023-06-01", .contentType: "application/json"],
                body: ByteBuffer(string: body)
            ) { response in
                #expect(response.status == .forbidden)
                let text = String(buffer: response.body)
                #expect(text.contains(#""type":"error""#))
                #expect(text.contains(#""permission_error""#))
                #expect(text.contains("rule denied_tools"))
            }
        }
    }

    @Test func rateLimitsAnswer429WithRetryAfterAndHeaders() async throws {
        let yaml =
            TestGateway.configurationYAML + """

                limits:
                  - scope: agent:acme/triage-bot
                    requests_per_minute: 2
                    tokens_per_minute: 100000
                """
        let test = try await TestGateway.make(yaml: yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        try await chat(test, body: Self.hi()) { response in
            #expect(response.status == .ok)
            #expect(response.headers[HTTPField.Name("x-ratelimit-limit-requests")!] == "2")
            #expect(response.headers[HTTPField.Name("x-ratelimit-remaining-requests")!] == "1")
            #expect(response.headers[HTTPField.Name("x-ratelimit-limit-tokens")!] == "100000")
        }
        try await chat(test, body: Self.hi()) { #expect($0.status == .ok) }
        try await chat(test, body: Self.hi()) { response in
            #expect(response.status == .tooManyRequests)
            #expect(response.headers[.retryAfter].flatMap(Int.init).map { (1...30).contains($0) } == true)
            #expect(response.headers[HTTPField.Name("x-ratelimit-remaining-requests")!] == "0")
            let body = String(buffer: response.body)
            #expect(body.contains(#""code":"rate_limit_exceeded""#))
            #expect(body.contains("agent:acme/triage-bot"))
        }
        #expect(test.transport.requests.count == 2)
        #expect(test.gateway.governor.limiter.inFlight(.agent(tenant: "acme", agent: "triage-bot")) == 0)
    }

    @Test(arguments: TestEngine.available) func anExhaustedBudgetRefusesUntilItsPeriodEnds(_ engine: TestEngine) async throws {
        // The recorded answer costs 10 × 0.02 + 8 × 0.04 = 0.52 µ$; each request may cost up to
        // about 0.5 µ$ (a few input tokens and max_tokens 10), so a 0.8 µ$ budget admits one.
        let yaml =
            TestGateway.configurationYAML + """

                budgets:
                  - name: acme-daily
                    scope: tenant:acme
                    period: day
                    limit: "0.0000008"
                    alert_at: [0.5]
                """
        let test = try await TestGateway.make(yaml: yaml, audited: true, engine: engine) { _ in
            ReplayTransport.respond([Recorded.llamaCompletion])
        }
        try await chat(test, body: Self.hi()) { #expect($0.status == .ok) }
        try await chat(test, body: Self.hi()) { response in
            #expect(response.status == .tooManyRequests)
            let body = String(buffer: response.body)
            #expect(body.contains(#""type":"insufficient_quota""#))
            #expect(body.contains(#""code":"budget_exceeded""#))
            #expect(body.contains("Budget 'acme-daily' for tenant:acme is exhausted"))
            #expect(response.headers[.retryAfter].flatMap(Int.init).map { (1...86_400).contains($0) } == true)
        }
        #expect(test.transport.requests.count == 1)
        #expect(test.sink.last?.errorClass == .budgetExceeded)
        let status = try #require(test.gateway.governor.budgets.status().first)
        #expect(status.spent == 520)
        #expect(status.reserved == 0)
        await test.gateway.governor.audit?.flush()
        let actions = try await test.auditEntries().map(\.action)
        #expect(actions == ["budget.threshold", "budget.refuse"])  // 0.52 of 0.8: past half, not exhausted
    }

    @Test func policyResidencyFiltersDeploymentsAndNamesThePolicy() async throws {
        let yaml =
            TestGateway.configurationYAML.replacingOccurrences(
                of: "    base_url: \"http://127.0.0.1:1/v1\"\n", with: "    base_url: \"http://127.0.0.1:1/v1\"\n    region: us\n"
            )
                + """

                policies:
                  - name: eu-data
                    scope: tenant:acme
                    allowed_regions: [eu]
                """
        let test = try await TestGateway.make(yaml: yaml, audited: true) { _ in
            ReplayTransport.respond([Recorded.llamaCompletion])
        }
        try await chat(test, body: Self.hi()) { response in
            #expect(response.status == .forbidden)
            #expect(String(buffer: response.body).contains("by policy 'eu-data'"))
        }
        #expect(test.transport.requests.isEmpty)
        await test.gateway.governor.audit?.flush()
        #expect(try await test.auditEntries().map(\.target) == ["policy:eu-data"])
    }

    @Test func budgetAlertsArePostedToTheWebhookOncePerCrossing() async throws {
        let yaml =
            TestGateway.configurationYAML + """

                budgets:
                  - name: acme-daily
                    scope: tenant:acme
                    period: day
                    limit: "1"
                    alert_at: [0.5]
                governance:
                  alert_webhook: "http://hooks.test/budget"
                """
        let test = try await TestGateway.make(yaml: yaml) { _ in ReplayTransport.respond(["ok"]) }
        let governor = try await GovernanceSetup.governor(
            test.gateway.configuration, store: test.store, audit: AuditTrail(store: test.store, logger: test.gateway.logger),
            transport: test.transport, logger: test.gateway.logger)
        let principal = Principal(tenant: "acme", agent: nil, keyID: "k")
        let facts = RequestFacts(route: "chat", estimatedInputTokens: 1, maxOutputTokens: 1, tags: [:])
        let dollar = Money(nanos: 1_000_000_000, currency: "USD")
        for _ in 0..<3 {
            let admission = try await governor.admit(
                facts, policy: .unrestricted, maximumCost: Money(nanos: 300_000_000, currency: "USD"), for: principal
            ).get()
            governor.release(
                admission, principal: principal, usage: .none, cost: Money(nanos: dollar.nanos * 3 / 10, currency: "USD"))
        }
        try await waitUntil("the threshold alert posted") { test.transport.requests.count == 1 }
        let hook = try #require(test.transport.requests.first)
        #expect(hook.url == "http://hooks.test/budget")
        let payload = String(decoding: hook.body, as: UTF8.self)
        #expect(payload.contains(#""type":"budget.threshold""#))
        #expect(payload.contains(#""spent":"0.600000000""#))
        #expect(payload.contains(#""threshold":"0.5""#))
        // 0.9 crossed nothing new. Alerts are posted in order, so the next one, exhaustion at 1.0,
        // is the second request: a repeated threshold alert would have come before it.
        let last = try await governor.admit(
            facts, policy: .unrestricted, maximumCost: Money(nanos: 100_000_000, currency: "USD"), for: principal
        ).get()
        governor.release(last, principal: principal, usage: .none, cost: Money(nanos: 100_000_000, currency: "USD"))
        try await waitUntil("the exhaustion alert posted") { test.transport.requests.count >= 2 }
        #expect(test.transport.requests.count == 2)
        #expect(String(decoding: test.transport.requests[1].body, as: UTF8.self).contains(#""type":"budget.exhausted""#))
    }
}

extension GovernanceGatewayTests {
    static let guarded =
        TestGateway.configurationYAML + """

            policies:
              - name: acme-content
                scope: tenant:acme
                guardrails: { secrets: block, credit_cards: redact, emails: allow }
            """

    @Test func secretsAreBlockedAndCardsRedactedBeforeTheUpstreamSeesThem() async throws {
        let test = try await TestGateway.make(yaml: Self.guarded, audited: true) { _ in
            ReplayTransport.respond([Recorded.llamaCompletion])
        }
        let secret = "sk-live-0123456789abcdefghijklmnop"
        try await chat(test, body: Self.hi(extra: #","max_tokens":10,"user":"use \#(secret)""#)) { response in
            #expect(response.status == .forbidden)
            let body = String(buffer: response.body)
            #expect(body.contains(#""code":"content_blocked""#))
            #expect(body.contains("rule guardrails.secrets"))
            #expect(!body.contains(secret))
        }
        #expect(test.transport.requests.isEmpty)

        let prompt = "pay with 4111 1111 1111 1111 and mail jane@example.com"
        let body = #"{"model":"chat","max_tokens":10,"messages":[{"role":"user","content":"\#(prompt)"}]}"#
        try await chat(test, body: body) { response in
            #expect(response.status == .ok)
            #expect(response.headers[HTTPField.Name("x-switchyard-redactions")!] == "1")
        }
        let sent = String(decoding: try #require(test.transport.requests.first).body, as: UTF8.self)
        #expect(sent.contains("pay with [REDACTED:credit_cards] and mail jane@example.com"))
        #expect(!sent.contains("4111"))

        await test.gateway.governor.audit?.flush()
        let entries = try await test.auditEntries()
        #expect(entries.map(\.action) == ["guardrail.block", "guardrail.redact", "guardrail.allow"])
        #expect(entries.map { $0.detail ?? "" } == ["secrets: 1", "credit_cards: 1", "emails: 1"])
        let everything = entries.map { "\($0.detail ?? "") \($0.target)" }.joined()
        #expect(!everything.contains(secret) && !everything.contains("4111") && !everything.contains("jane@"))
        let metrics = test.gateway.metrics.render()
        #expect(metrics.contains(#"switchyard_guardrail_hits_total{detector="credit_cards",action="redact"} 1"#))
    }
}
