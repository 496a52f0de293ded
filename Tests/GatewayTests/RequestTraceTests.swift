import HTTPTypes
import InMemoryTracing
import Providers
import SwitchyardCore
import Testing
import Tracing

@testable import DataPlane

/// A request's spans through the swift-distributed-tracing API alone, as with a tracer other than
/// ours (the gateway's own `SpanRecorder` takes a direct path; the e2e tests cover that one).
@Suite struct RequestTraceTests {
    @Test func anotherTracerGetsTheSameSpansThroughTheAPI() throws {
        let tracer = InMemoryTracer()
        let deployment = Deployment(name: "gpt-eu", provider: "openai-eu", model: "gpt-4o", prices: .free())
        let provider = Provider(name: "openai-eu", kind: .openai, baseURL: "https://api.example:8443/v1")
        let trace = RequestTrace(
            tracer: tracer, parent: nil, endpoint: "chat.completions",
            providers: ["openai-eu": TracedProvider(provider)], at: DefaultTracerClock.now)
        var request = UpstreamRequest(
            url: "https://api.example:8443/v1/chat/completions", headers: [], body: [], timeouts: .init())
        let attempt = trace.startAttempt(deployment, request: &request)
        #expect(!request.headers.isEmpty)  // the tracer's own propagation headers
        trace.endAttempt(
            attempt, deployment: deployment, hedged: true, number: 2, status: 503, errorClass: .upstreamOverloaded)
        let record = UsageRecord(
            id: "req_1", startedAt: .now(), finishedAt: .now(), tenant: "acme", agent: nil, keyID: "k1",
            endpoint: "chat.completions", route: "chat", deployment: "gpt-eu", provider: "openai-eu", upstreamModel: "gpt-4o",
            streamed: false, usage: TokenUsage(inputTokens: 9, outputTokens: 4), cost: Money(nanos: 17_000, currency: "USD"),
            latencyMicros: 1, timeToFirstTokenMicros: nil, status: 200, errorClass: nil, tags: [:])
        trace.finish(record, project: "labs")

        let spans = tracer.finishedSpans
        let client = try #require(spans.first { $0.operationName == "chat gpt-4o" })
        let server = try #require(spans.first { $0.operationName == "chat chat" })
        #expect(client.spanContext.parentSpanID == server.spanContext.spanID)
        #expect(client.attributes.get("gen_ai.provider.name") == .string("openai"))
        #expect(client.attributes.get("server.address") == .string("api.example"))
        #expect(client.attributes.get("server.port") == .int64(8443))
        #expect(client.attributes.get("switchyard.hedged") == .bool(true))
        #expect(client.attributes.get("error.type") == .string("upstream_overloaded"))
        #expect(server.attributes.get("switchyard.cost") == .string("0.000017000"))
        #expect(server.attributes.get("switchyard.project") == .string("labs"))
        #expect(server.attributes.get("gen_ai.usage.input_tokens") == .int64(9))
    }
}
