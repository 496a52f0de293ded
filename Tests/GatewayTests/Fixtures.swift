import Foundation
import Governance
import HTTPTypes
import Logging
import NIOCore
import Providers
import Storage
import SwitchyardConfig
import SwitchyardCore
import Synchronization
import TestSupport

@testable import DataPlane
@testable import Ledger

/// Recorded provider wire formats, replayed by `ReplayTransport`.
enum Recorded {
    /// llama-cpp-python 0.3.36 serving Gemma 3 270M: a non-streamed completion.
    static let llamaCompletion =
        #"{"id":"chatcmpl-6302939a","object":"chat.completion","created":1795384018,"model":"gemma-3-270m","choices":[{"index":0,"message":{"content":"you can see the data of the user","role":"assistant"},"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":10,"completion_tokens":8,"total_tokens":18}}"#

    /// llama-cpp-python streaming: note there is no usage chunk even when asked for one.
    static let llamaStream: [String] = [
        #"data: {"id": "chatcmpl-a4", "model": "gemma-3-270m", "created": 1795384018, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant"}, "logprobs": null, "finish_reason": null}]}"#
            + "\n\n",
        #"data: {"id": "chatcmpl-a4", "model": "gemma-3-270m", "created": 1795384018, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "Hi"}, "logprobs": null, "finish_reason": null}]}"#
            + "\n\n",
        #"data: {"id": "chatcmpl-a4", "model": "gemma-3-270m", "created": 1795384018, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": " there"}, "logprobs": null, "finish_reason": null}]}"#
            + "\n\ndata: {\"id\": \"chatcmpl-a4\", \"model\": \"gemma-3-270m\", \"created\": 1795384018, \"object\": \"chat.completion.chunk\", \"choices\": [{\"index\": 0, \"delta\": {\"content\": \" friend\"}, \"logprobs\": null, \"finish_reason\": null}]}\n\n",
        #"data: {"id": "chatcmpl-a4", "model": "gemma-3-270m", "created": 1795384018, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "logprobs": null, "finish_reason": "length"}]}"#
            + "\n\n",
        "data: [DONE]\n\n",
    ]

    /// OpenAI's documented stream with `stream_options.include_usage`: a final chunk with empty
    /// `choices` carries the usage, including cached prompt tokens.
    static let openAIStreamWithUsage: [String] = [
        #"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}"#
            + "\n\n",
        #"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}],"usage":null}"#
            + "\n\n",
        #"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#
            + "\n\n",
        #"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":2000,"completion_tokens":1,"total_tokens":2001,"prompt_tokens_details":{"cached_tokens":1920}}}"#
            + "\n\n",
        "data: [DONE]\n\n",
    ]

    /// OpenAI's 429 body.
    static let openAIRateLimited =
        #"{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-x on requests per min (RPM): Limit 3, Used 3, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#

    /// llama-cpp-python's answer to a request it cannot parse: plain text 500.
    static let llamaInternalError = "Internal Server Error"
}

/// An in-process stand-in for providers, answering from recorded wire formats.
final class ReplayTransport: UpstreamTransport {
    typealias Handler = @Sendable (UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse
    private let handler: Handler
    private let log = Mutex<[UpstreamRequest]>([])

    init(_ handler: @escaping Handler) { self.handler = handler }

    var requests: [UpstreamRequest] { log.withLock { $0 } }

    func send(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse {
        log.withLock { $0.append(request) }
        return try await handler(request)
    }

    func shutdown() async {}

    static func respond(status: Int = 200, contentType: String = "application/json", _ chunks: [String]) -> UpstreamResponse {
        UpstreamResponse(status: status, contentType: contentType, body: .bytes(chunks.map { Array($0.utf8) }))
    }
}

/// A stream body that fails after its chunks, like a provider dying mid-stream.
struct FailingBody: AsyncSequence, Sendable {
    let chunks: [String]

    func makeAsyncIterator() -> Iterator { Iterator(chunks: chunks) }

    struct Iterator: AsyncIteratorProtocol {
        var chunks: [String]
        mutating func next() async throws -> ByteBuffer? {
            if chunks.isEmpty { throw UpstreamFailure(.upstreamUnavailable, "connection reset by peer") }
            return ByteBuffer(string: chunks.removeFirst())
        }
    }
}

final class CollectingSink: UsageSink {
    private let records = Mutex<[UsageRecord]>([])
    func record(_ record: UsageRecord) -> UsageReceipt {
        records.withLock { $0.append(record) }
        return .immediate
    }
    var all: [UsageRecord] { records.withLock { $0 } }
    var last: UsageRecord? { all.last }
}

struct TestGateway {
    let gateway: Gateway
    let sink: CollectingSink
    let transport: ReplayTransport
    let acmeKey: String
    let globexKey: String
    let store: SQLStore

    /// Audit entries after the import of the file's governance state (which every new store starts with).
    func auditEntries() async throws -> [AuditEntry] {
        try await store.auditEntries().filter { $0.principal != "config-import" }
    }

    static let configurationYAML = """
        server:
          max_body_bytes: 2048
        providers:
          - name: local
            kind: openai
            base_url: "http://127.0.0.1:1/v1"
          - name: openai
            kind: openai
            base_url: "https://api.openai.test/v1"
            api_key_env: TEST_OPENAI_KEY
        deployments:
          - name: gemma-local
            provider: local
            model: gemma-3-270m
            price: { input_per_mtok: "0.02", output_per_mtok: "0.04", cached_input_per_mtok: "0.01" }
          - name: gpt-4o-mini
            provider: openai
            model: gpt-4o-mini
            price: { input_per_mtok: "0.15", output_per_mtok: "0.60", cached_input_per_mtok: "0.075" }
        routes:
          - name: chat
            targets: [gemma-local]
          - name: smart
            targets: [gpt-4o-mini, gemma-local]
        tenants:
          - name: acme
          - name: globex
            allowed_routes: [chat]
        observability:
          metrics_token_env: TEST_METRICS_TOKEN
        """

    /// What `/metrics` takes as a Bearer token in these gateways.
    static let metricsToken = "test-metrics-token"
    static let metricsHeaders: HTTPFields = [.authorization: "Bearer \(metricsToken)"]

    static func make(
        yaml: String = configurationYAML, environment: [String: String] = [:], audited: Bool = false,
        engine: TestEngine = .sqlite, _ handler: @escaping ReplayTransport.Handler
    ) async throws -> TestGateway {
        var configuration = try ConfigurationLoader.parse(yaml, file: "test.yaml")
        configuration.server.port = 0  // `withLiveServer`: any free port
        let store = try await SQLStore.open(try engine.freshURL())
        try await store.ensureTenants(["acme", "globex"])
        let (acmeKey, acme) = APIKeyFormat.issue(tenant: "acme", agent: "triage-bot", expiresAt: nil)
        let (globexKey, globex) = APIKeyFormat.issue(tenant: "globex", agent: nil, expiresAt: nil)
        try await store.insertKey(acme)
        try await store.insertKey(globex)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let keys = KeyDirectory(store: store, logger: logger)
        let sink = CollectingSink()
        let transport = ReplayTransport(handler)
        let governor = Governor(
            tenants: configuration.tenants, policies: configuration.policies, limits: configuration.limits,
            budgets: configuration.budgets,
            audit: audited ? AuditTrail(store: store, logger: logger) : nil,
            assumedOutputTokens: configuration.governance.assumedOutputTokens)
        let gateway = Gateway(
            configuration: configuration, store: store, keys: keys, usageSink: sink, transport: transport, governor: governor,
            environment: environment.merging(["TEST_OPENAI_KEY": "sk-upstream-secret", "TEST_METRICS_TOKEN": metricsToken]) {
                first, _ in first
            }, logger: logger)
        // As `serve` does: the new store imports the file's governance state, which is then in force.
        try await gateway.startLiveGovernance()
        return TestGateway(
            gateway: gateway, sink: sink, transport: transport, acmeKey: acmeKey, globexKey: globexKey, store: store)
    }
}

/// Holds upstream calls until the test opens it, so a queue can be built up whole before any of
/// it is served, however slowly a loaded machine delivers the requests.
final class Gate: Sendable {
    private struct State {
        var isOpen = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func wait() async {
        await withCheckedContinuation { continuation in
            let proceed = state.withLock { state in
                if state.isOpen { return true }
                state.waiting.append(continuation)
                return false
            }
            if proceed { continuation.resume() }
        }
    }

    func open() {
        let waiting = state.withLock { state in
            state.isOpen = true
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }
}
