import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
import NIOCore
import Providers
import SwitchyardCore
import Testing
import WireFormats

@testable import DataPlane

@Suite struct ChatCompletionsTests {
    static let chatBody =
        #"{"model":"chat","messages":[{"role":"user","content":"Hello"}],"max_tokens":8,"temperature":0,"x_vendor_field":{"kept":true}}"#

    func post(
        _ test: TestGateway, path: String = "/v1/chat/completions", key: String?, body: String,
        headers extra: HTTPFields = [:], _ check: @escaping @Sendable (ServedResponse) throws -> Void
    ) async throws {
        let server = test.gateway
        var fields = extra
        if let key { fields[.authorization] = "Bearer \(key)" }
        let headers = fields
        try await server.withLiveServer { client in
            try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body)) { response in
                try check(response)
            }
        }
    }

    func errorObject(_ response: ServedResponse) -> [String: Any] {
        let object = try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
        guard let error = object?["error"] as? [String: Any] else {
            Issue.record("not an OpenAI error body: \(String(buffer: response.body))")
            return [:]
        }
        return error
    }

    @Test func nonStreamingPassesTheBodyThroughAndMetersReportedUsage() async throws {
        let test = try await TestGateway.make { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        try await post(test, key: test.acmeKey, body: Self.chatBody, headers: [.switchyardTags: "customer=c42"]) { response in
            #expect(response.status == .ok)
            #expect(String(buffer: response.body) == Recorded.llamaCompletion)
            #expect(response.headers[.switchyardDeployment] == "gemma-local")
            #expect(response.headers[.switchyardRoute] == "chat")
            #expect(response.headers[.requestID]?.hasPrefix("req_") == true)
        }
        // The upstream got the client's body with only the model replaced.
        let sent = try #require(test.transport.requests.first)
        #expect(sent.url == "http://127.0.0.1:1/v1/chat/completions")
        #expect(
            String(decoding: sent.body, as: UTF8.self)
                == Self.chatBody.replacingOccurrences(of: #""chat""#, with: #""gemma-3-270m""#))
        #expect(!sent.headers.contains { $0.0 == "authorization" })

        let record = try #require(test.sink.last)
        #expect(record.tenant == "acme")
        #expect(record.agent == "triage-bot")
        #expect(record.usage == TokenUsage(inputTokens: 10, outputTokens: 8, cachedInputTokens: 0, isEstimated: false))
        #expect(record.cost == Money(nanos: 10 * 20 + 8 * 40, currency: "USD"))
        #expect(record.status == 200)
        #expect(record.errorClass == nil)
        #expect(record.deployment == "gemma-local")
        #expect(record.provider == "local")
        #expect(record.upstreamModel == "gemma-3-270m")
        #expect(record.tags == ["customer": "c42"])
        #expect(!record.streamed)
    }

    @Test func streamWithoutUpstreamUsageIsEstimatedAndMarked() async throws {
        let test = try await TestGateway.make { _ in
            ReplayTransport.respond(contentType: "text/event-stream", Recorded.llamaStream)
        }
        let body = Self.chatBody.replacingOccurrences(of: #""max_tokens":8"#, with: #""max_tokens":8,"stream":true"#)
        try await post(test, key: test.acmeKey, body: body) { response in
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/event-stream")
            var parser = ServerSentEventParser()
            let events = parser.feed(response.body.readableBytesView)
            #expect(events.count == 6)
            #expect(events.last?.isDone == true)
        }
        // Usage was requested from the upstream even though the client did not ask.
        let sent = String(decoding: try #require(test.transport.requests.first).body, as: UTF8.self)
        #expect(sent.hasSuffix(#","stream_options":{"include_usage":true}}"#))
        let record = try #require(test.sink.last)
        #expect(record.streamed)
        #expect(record.usage.isEstimated)
        #expect(record.usage.outputTokens == 3)  // three content chunks
        let messages = try JSONDecoder().decode(
            [OpenAIChatMessage].self, from: Data(#"[{"role":"user","content":"Hello"}]"#.utf8))
        #expect(record.usage.inputTokens == TokenEstimator.inputTokens(of: messages))
        #expect(record.cost == Money(nanos: Int64(record.usage.inputTokens) * 20 + 3 * 40, currency: "USD"))
        #expect(record.timeToFirstTokenMicros != nil)
        #expect(record.status == 200)
    }

    @Test func streamUsageIsCapturedAndHiddenWhenTheClientDidNotAskForIt() async throws {
        let test = try await TestGateway.make { _ in
            ReplayTransport.respond(contentType: "text/event-stream", Recorded.openAIStreamWithUsage)
        }
        let body = #"{"model":"smart","messages":[{"role":"user","content":"Hi"}],"stream":true}"#
        try await post(test, key: test.acmeKey, body: body) { response in
            let text = String(buffer: response.body)
            #expect(!text.contains("prompt_tokens"))
            #expect(text.contains("Hello"))
            #expect(text.hasSuffix("data: [DONE]\n\n"))
        }
        let sent = try #require(test.transport.requests.first)
        #expect(sent.url == "https://api.openai.test/v1/chat/completions")
        #expect(sent.headers.contains { $0 == ("authorization", "Bearer sk-upstream-secret") })
        let record = try #require(test.sink.last)
        #expect(record.usage == TokenUsage(inputTokens: 2000, outputTokens: 1, cachedInputTokens: 1920, isEstimated: false))
        // 80 uncached × 150 + 1920 cached × 75 + 1 × 600 nano-dollars.
        #expect(record.cost.nanos == 80 * 150 + 1920 * 75 + 600)
    }

    @Test func streamUsageIsForwardedWhenTheClientAskedForIt() async throws {
        let test = try await TestGateway.make { _ in
            ReplayTransport.respond(contentType: "text/event-stream", Recorded.openAIStreamWithUsage)
        }
        let body =
            #"{"model":"smart","messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}}"#
        try await post(test, key: test.acmeKey, body: body) { response in
            #expect(String(buffer: response.body).contains(#""cached_tokens":1920"#))
        }
        let sent = String(decoding: try #require(test.transport.requests.first).body, as: UTF8.self)
        #expect(sent == body.replacingOccurrences(of: #""smart""#, with: #""gpt-4o-mini""#))
    }

    @Test func streamInterruptedByTheUpstreamEndsWithAnErrorEventAndIsRecorded() async throws {
        let test = try await TestGateway.make { _ in
            UpstreamResponse(
                status: 200, contentType: "text/event-stream",
                body: UpstreamBody(FailingBody(chunks: Array(Recorded.llamaStream.prefix(3)))))
        }
        let body = #"{"model":"chat","messages":[{"role":"user","content":"Hi"}],"stream":true,"max_tokens":50}"#
        try await post(test, key: test.acmeKey, body: body) { response in
            var parser = ServerSentEventParser()
            let events = parser.feed(response.body.readableBytesView)
            let last = try #require(events.last)
            #expect(!last.isDone)
            let object = try JSONSerialization.jsonObject(with: Data(last.data)) as? [String: Any]
            let error = try #require(object?["error"] as? [String: Any])
            #expect(error["code"] as? String == "stream_interrupted")
        }
        let record = try #require(test.sink.last)
        #expect(record.errorClass == .streamInterrupted)
        #expect(record.status == 502)
        #expect(record.usage.outputTokens == 3)
        #expect(record.usage.isEstimated)
    }

    @Test func fallbackTriesTheNextDeploymentWhenOneIsRateLimited() async throws {
        let test = try await TestGateway.make { request in
            if request.url.contains("openai.test") {
                return ReplayTransport.respond(status: 429, [Recorded.openAIRateLimited])
            }
            return ReplayTransport.respond([Recorded.llamaCompletion])
        }
        try await post(test, key: test.acmeKey, body: #"{"model":"smart","messages":[]}"#) { response in
            #expect(response.status == .ok)
            #expect(response.headers[.switchyardDeployment] == "gemma-local")
            #expect(response.headers[.switchyardAttempts] == "2")
        }
        #expect(test.transport.requests.count == 2)
        #expect(test.sink.last?.deployment == "gemma-local")
    }

    @Test func unreachableUpstreamIs502AndTimeoutIs504() async throws {
        let refused = try await TestGateway.make { _ throws(UpstreamFailure) in
            throw UpstreamFailure(.upstreamUnavailable, "connection refused")
        }
        try await post(refused, key: refused.acmeKey, body: Self.chatBody) { response in
            #expect(response.status == .badGateway)
            let error = errorObject(response)
            #expect(error["code"] as? String == "upstream_unavailable")
            #expect((error["message"] as? String)?.contains("gemma-local") == true)
        }
        #expect(refused.sink.last?.errorClass == .upstreamUnavailable)

        let slow = try await TestGateway.make { _ throws(UpstreamFailure) in
            throw UpstreamFailure(.upstreamTimeout, "read timeout")
        }
        try await post(slow, key: slow.acmeKey, body: Self.chatBody) { response in
            #expect(response.status == .gatewayTimeout)
        }
        #expect(slow.sink.last?.errorClass == .upstreamTimeout)
    }

    @Test func upstreamServerErrorBecomes502InOpenAIShape() async throws {
        let test = try await TestGateway.make { _ in
            ReplayTransport.respond(status: 500, contentType: "text/plain", [Recorded.llamaInternalError])
        }
        try await post(test, key: test.acmeKey, body: Self.chatBody) { response in
            #expect(response.status == .badGateway)
            let error = errorObject(response)
            #expect(error["type"] as? String == "api_error")
            #expect((error["message"] as? String)?.contains("status 500") == true)
        }
        #expect(test.sink.last?.errorClass == .upstreamError)
    }

    @Test func badKeysAre401InOpenAIShapeAndRecorded() async throws {
        let test = try await TestGateway.make { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        for key in [nil, "sk-wrong", "sk-sy-" + String(repeating: "a", count: 12) + "_" + String(repeating: "b", count: 40)] {
            try await post(test, key: key, body: Self.chatBody) { response in
                #expect(response.status == .unauthorized)
                let error = errorObject(response)
                #expect(error["code"] as? String == "invalid_api_key")
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
            }
        }
        #expect(test.transport.requests.isEmpty)
        #expect(test.sink.all.count == 3)
        #expect(test.sink.all.allSatisfy { $0.errorClass == .authentication && $0.tenant == nil })
    }

    @Test func xAPIKeyHeaderIsAccepted() async throws {
        let test = try await TestGateway.make { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        try await post(test, key: nil, body: Self.chatBody, headers: [.xAPIKey: test.acmeKey]) { response in
            #expect(response.status == .ok)
        }
    }

    /// The scheme in any case and blanks around the token are accepted, as clients send them.
    @Test func bearerTokensAreReadAsClientsSendThem() async throws {
        let test = try await TestGateway.make { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        for header in [
            "Bearer \(test.acmeKey)", "bearer \(test.acmeKey)", "BEARER  \(test.acmeKey) \t", "Bearer\t\(test.acmeKey)",
        ] {
            try await post(test, key: nil, body: Self.chatBody, headers: [.authorization: header]) { response in
                #expect(response.status == (header.hasPrefix("Bearer\t") ? .unauthorized : .ok), "\(header)")
            }
        }
        #expect(BearerToken.presented("Bearer  sk-sy-abc ") == "sk-sy-abc")
        #expect(BearerToken.presented("sk-sy-abc") == "sk-sy-abc")
        #expect(BearerToken.presented("Bearer ") == "")
        #expect(BearerToken.presented("Basic dXNlcg==") == "Basic dXNlcg==")
    }

    @Test func unknownKeyIdsAreRememberedUntilTheNextRefresh() async throws {
        let test = try await TestGateway.make { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let (secret, record) = APIKeyFormat.issue(tenant: "acme", agent: nil, expiresAt: nil)
        try await post(test, key: secret, body: Self.chatBody) { #expect($0.status == .unauthorized) }
        // Created after the miss: still refused (no query per request for ids known to be missing)…
        try await test.store.insertKey(record)
        try await post(test, key: secret, body: Self.chatBody) { #expect($0.status == .unauthorized) }
        // …until the next refresh, which every replica does every 2 s.
        try await test.gateway.keys.refresh()
        try await post(test, key: secret, body: Self.chatBody) { #expect($0.status == .ok) }
    }

    @Test func revokedKeysAreRefused() async throws {
        let test = try await TestGateway.make { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let id = try #require(APIKeyFormat.keyID(of: test.acmeKey))
        _ = try await test.store.revokeKey(id: id)
        try await test.gateway.keys.refresh()
        try await post(test, key: test.acmeKey, body: Self.chatBody) { response in
            #expect(response.status == .unauthorized)
            #expect((errorObject(response)["message"] as? String)?.contains("revoked") == true)
        }
    }

    @Test(arguments: [
        ("{not json", "not valid JSON"),
        (#"{"messages":[]}"#, "Missing required parameter: 'model'"),
        (#"{"model":7,"messages":[]}"#, "Invalid type for 'model'"),
        (#"{"model":"chat","messages":"hi"}"#, "'messages'"),
        (#"["model"]"#, "not a valid JSON object"),
        (#"{"model":"chat","messages":[]}"#.replacingOccurrences(of: "}", with: #","metadata":{"a":1}}"#), "'metadata.a'"),
    ])
    func malformedBodiesAre400(_ body: String, _ message: String) async throws {
        let test = try await TestGateway.make { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        try await post(test, key: test.acmeKey, body: body) { response in
            #expect(response.status == .badRequest)
            let error = errorObject(response)
            #expect(error["type"] as? String == "invalid_request_error")
            #expect((error["message"] as? String)?.contains(message) == true, "\(error)")
        }
        #expect(test.transport.requests.isEmpty)
        #expect(test.sink.last?.errorClass == .invalidRequest)
        #expect(test.sink.last?.tenant == "acme")
    }

    @Test func unknownModelIs404AndForbiddenModelIs403() async throws {
        let test = try await TestGateway.make { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        try await post(test, key: test.acmeKey, body: #"{"model":"gpt-9","messages":[]}"#) { response in
            #expect(response.status == .notFound)
            let error = errorObject(response)
            #expect(error["code"] as? String == "model_not_found")
            #expect((error["message"] as? String)?.contains("chat, smart") == true)
        }
        try await post(test, key: test.globexKey, body: #"{"model":"smart","messages":[]}"#) { response in
            #expect(response.status == .forbidden)
            #expect(errorObject(response)["code"] as? String == "model_not_allowed")
        }
        #expect(test.sink.last?.errorClass == .permissionDenied)
        #expect(test.sink.last?.tenant == "globex")
        #expect(test.transport.requests.isEmpty)
    }

    @Test func oversizedBodiesAre413() async throws {
        let test = try await TestGateway.make { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let big = #"{"model":"chat","messages":[{"role":"user","content":""# + String(repeating: "x", count: 4096) + #""}]}"#
        try await post(test, key: test.acmeKey, body: big) { response in
            #expect(response.status == .contentTooLarge)
            #expect(errorObject(response)["code"] as? String == "request_too_large")
        }
        // The server refuses it from its Content-Length, before any handler: nothing reaches the
        // provider, and nothing is booked (README, "Security model").
        #expect(test.transport.requests.isEmpty)
        #expect(test.sink.all.isEmpty)
    }

    @Test func invalidTagsHeaderIs400() async throws {
        let test = try await TestGateway.make { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        try await post(test, key: test.acmeKey, body: Self.chatBody, headers: [.switchyardTags: "customer"]) { response in
            #expect(response.status == .badRequest)
            #expect((errorObject(response)["message"] as? String)?.contains("x-switchyard-tags") == true)
        }
    }

    @Test func modelsListsOnlyTheRoutesTheKeyMayUse() async throws {
        let test = try await TestGateway.make { _ in ReplayTransport.respond([]) }
        let server = test.gateway
        try await server.withLiveServer { client in
            try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer \(test.globexKey)"]) {
                response in
                let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                let ids = (object?["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
                #expect(ids == ["chat"])
            }
            try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer \(test.acmeKey)"]) {
                response in
                #expect(String(buffer: response.body).contains(#""id":"smart""#))
            }
        }
    }

    @Test func embeddingsAreProxiedAndMetered() async throws {
        let test = try await TestGateway.make { _ in
            ReplayTransport.respond([
                #"{"object":"list","data":[{"object":"embedding","embedding":[0.1,0.2],"index":0}],"model":"gemma-3-270m","usage":{"prompt_tokens":4,"total_tokens":4}}"#
            ])
        }
        try await post(test, path: "/v1/embeddings", key: test.acmeKey, body: #"{"model":"chat","input":"hello world"}"#) {
            response in
            #expect(response.status == .ok)
        }
        #expect(test.transport.requests.first?.url.hasSuffix("/v1/embeddings") == true)
        let record = try #require(test.sink.last)
        #expect(record.endpoint == "embeddings")
        #expect(record.usage == TokenUsage(inputTokens: 4, outputTokens: 0))
        #expect(record.cost.nanos == 80)
        try await post(test, path: "/v1/embeddings", key: test.acmeKey, body: #"{"model":"chat","input":{"x":1}}"#) { response in
            #expect(response.status == .badRequest)
        }
    }

    @Test func metricsExposeRequestsTokensAndCost() async throws {
        let test = try await TestGateway.make { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        try await post(test, key: test.acmeKey, body: Self.chatBody) { _ in }
        let server = test.gateway
        try await server.withLiveServer { client in
            // Every tenant's spend: not for anyone without a credential.
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(!String(buffer: response.body).contains("tenant="))
            }
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(test.acmeKey)"]) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(uri: "/metrics", method: .get, headers: TestGateway.metricsHeaders) { response in
                let text = String(buffer: response.body)
                #expect(
                    text.contains(
                        #"switchyard_requests_total{endpoint="chat.completions",route="chat",deployment="gemma-local",provider="local",status="200"} 1"#
                    ))
                #expect(
                    text.contains(
                        #"switchyard_tokens_total{tenant="acme",deployment="gemma-local",type="output",estimated="false"} 8"#))
                #expect(text.contains(#"switchyard_cost_nanos_total{tenant="acme",deployment="gemma-local",currency="USD"} 520"#))
                #expect(text.contains("switchyard_request_duration_seconds_bucket"))
            }
            try await client.execute(uri: "/healthz", method: .get) { response in #expect(response.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { response in #expect(response.status == .ok) }
        }
    }
}

@Suite struct LedgerMetricsTests {
    @Test func metricsShowTheLedgerQueueAndWrites() async throws {
        let test = try await TestGateway.make { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let writer = LedgerWriter(
            store: test.store,
            configuration: .init(
                journalPath: NSTemporaryDirectory() + "sy-metrics-\(RandomIdentifier.lowercase(count: 8)).ndjson"),
            logger: test.gateway.logger)
        let gateway = Gateway(
            configuration: test.gateway.configuration, store: test.store, keys: test.gateway.keys, usageSink: writer,
            transport: test.transport, environment: test.gateway.environment, logger: test.gateway.logger)
        let server = gateway
        try await server.withLiveServer { client in
            try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: [.authorization: "Bearer \(test.acmeKey)"],
                body: ByteBuffer(string: ChatCompletionsTests.chatBody)
            ) { #expect($0.status == .ok) }
            try await client.execute(uri: "/metrics", method: .get, headers: TestGateway.metricsHeaders) { response in
                #expect(String(buffer: response.body).contains("switchyard_ledger_pending_records 1"))
            }
            await writer.flush()
            try await client.execute(uri: "/metrics", method: .get, headers: TestGateway.metricsHeaders) { response in
                let text = String(buffer: response.body)
                #expect(text.contains("switchyard_ledger_pending_records 0"))
                #expect(text.contains(#"switchyard_ledger_records{state="written"} 1"#))
                #expect(text.contains("switchyard_ledger_store_failures_total 0"))
            }
        }
    }
}
