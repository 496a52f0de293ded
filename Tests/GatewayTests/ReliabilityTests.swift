import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Providers
import SwitchyardCore
import Synchronization
import Testing

@testable import DataPlane

/// Retries, fallback, breakers, timeouts, hedging and routing policy, against replayed upstreams.
@Suite struct ReliabilityTests {
    static let yaml = """
        providers:
          - name: alpha
            kind: openai
            base_url: "http://alpha.test/v1"
            region: us
          - name: beta
            kind: openai
            base_url: "http://beta.test/v1"
            region: eu
        deployments:
          - name: a
            provider: alpha
            model: model-a
            context_window: 1000
            timeouts: { first_byte_seconds: 0.3, idle_seconds: 0.3 }
            circuit_breaker: { consecutive_failures: 2, open_seconds: 30 }
            price: { input_per_mtok: "1", output_per_mtok: "2" }
          - name: b
            provider: beta
            model: model-b
            max_concurrency: 1
            price: { input_per_mtok: "3", output_per_mtok: "4" }
          # Like `a` without its tight timeouts, so a loaded machine cannot turn a lost hedge into a timeout.
          - name: a-untimed
            provider: alpha
            model: model-a
            price: { input_per_mtok: "1", output_per_mtok: "2" }
        routes:
          - name: ab
            targets: [a, b]
            retry: { max_attempts: 3, backoff_base_ms: 1, backoff_max_ms: 5 }
          - name: only-a
            targets: [a]
            retry: { max_attempts: 3, backoff_base_ms: 1, backoff_max_ms: 5, budget_ratio: 0, min_retries_per_second: 1 }
          - name: hedged
            targets: [a-untimed, b]
            hedge: { delay_ms: 50 }
          - name: hedged-patient
            targets: [a, b]
            hedge: { delay_ms: 2000 }
          - name: eu-only
            targets: [a, b]
            residency: { regions: [eu] }
        tenants:
          - name: acme
          - name: globex
        """

    static let ok = Recorded.llamaCompletion
    /// The same gateway with a breaker that never opens, to watch retries alone.
    static let patientYAML = yaml.replacingOccurrences(
        of: "circuit_breaker: { consecutive_failures: 2, open_seconds: 30 }",
        with: "circuit_breaker: { consecutive_failures: 1000, minimum_requests: 100000 }")

    func post(
        _ test: TestGateway, model: String, extra: String = "", headers headerFields: HTTPFields = [:],
        _ check: @escaping @Sendable (ServedResponse) throws -> Void = { _ in }
    ) async throws {
        let server = test.gateway
        var fields = headerFields
        fields[.authorization] = "Bearer \(test.acmeKey)"
        let headers = fields
        let body = #"{"model":"\#(model)","messages":[{"role":"user","content":"Hi"}]\#(extra)}"#
        try await server.withLiveServer { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: headers, body: ByteBuffer(string: body))
            {
                response in try check(response)
            }
        }
    }

    /// A scripted upstream: answers from a queue per host, then the fallback.
    final class Script: Sendable {
        let queue: Mutex<[String: [@Sendable () async throws(UpstreamFailure) -> UpstreamResponse]]>
        let hits = Mutex<[String: Int]>([:])

        init(_ steps: [String: [@Sendable () async throws(UpstreamFailure) -> UpstreamResponse]]) {
            queue = Mutex(steps)
        }

        func handle(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse {
            let host = URL(string: request.url)!.host!
            hits.withLock { $0[host, default: 0] += 1 }
            let step = queue.withLock { queue -> (@Sendable () async throws(UpstreamFailure) -> UpstreamResponse)? in
                guard var steps = queue[host], !steps.isEmpty else { return nil }
                let first = steps.removeFirst()
                queue[host] = steps
                return first
            }
            if let step { return try await step() }
            return ReplayTransport.respond([ReliabilityTests.ok])
        }

        func count(_ host: String) -> Int { hits.withLock { $0[host] ?? 0 } }
    }

    static let serverError: @Sendable () async throws(UpstreamFailure) -> UpstreamResponse = {
        ReplayTransport.respond(status: 500, contentType: "text/plain", ["boom"])
    }
    static let refused: @Sendable () async throws(UpstreamFailure) -> UpstreamResponse = { () throws(UpstreamFailure) in
        throw UpstreamFailure(.upstreamUnavailable, "connection refused")
    }
    static func slow(_ delay: Duration) -> @Sendable () async throws(UpstreamFailure) -> UpstreamResponse {
        {
            try? await Task.sleep(for: delay)
            return ReplayTransport.respond([ok])
        }
    }

    @Test func failoverToTheNextDeploymentIsInvisibleToTheClientAndInTheLedger() async throws {
        let script = Script(["alpha.test": [Self.refused]])
        let test = try await TestGateway.make(yaml: Self.yaml) { request throws(UpstreamFailure) in
            try await script.handle(request)
        }
        try await post(test, model: "ab") { response in
            #expect(response.status == .ok)
            #expect(response.headers[.switchyardDeployment] == "b")
            #expect(response.headers[.switchyardAttempts] == "2")
        }
        let record = try #require(test.sink.last)
        #expect(record.attempts.map(\.deployment) == ["a", "b"])
        #expect(record.attempts.map(\.errorClass) == [.upstreamUnavailable, nil])
        #expect(record.attempts.map(\.status) == [nil, 200])
        #expect(record.deployment == "b")
        #expect(record.cost.nanos == 10 * 3000 + 8 * 4000)  // priced at b's prices
    }

    @Test func retriesTheSameDeploymentWithBackoffWhenItIsTheOnlyOne() async throws {
        let script = Script(["alpha.test": [Self.serverError, Self.serverError]])
        let test = try await TestGateway.make(yaml: Self.patientYAML) { request throws(UpstreamFailure) in
            try await script.handle(request)
        }
        try await post(test, model: "only-a") { response in
            #expect(response.status == .ok)
            #expect(response.headers[.switchyardAttempts] == "3")
        }
        #expect(script.count("alpha.test") == 3)
        #expect(test.sink.last?.attempts.map(\.status) == [500, 500, 200])
    }

    @Test func retryAfterIsHonouredBeforeRetryingTheSameDeployment() async throws {
        let rateLimited: @Sendable () async throws(UpstreamFailure) -> UpstreamResponse = {
            UpstreamResponse(
                status: 429, contentType: "application/json", retryAfter: .milliseconds(400),
                body: .bytes([Array(Recorded.openAIRateLimited.utf8)]))
        }
        let script = Script(["alpha.test": [rateLimited]])
        let test = try await TestGateway.make(yaml: Self.yaml) { request throws(UpstreamFailure) in
            try await script.handle(request)
        }
        let started = ContinuousClock.now
        try await post(test, model: "only-a") { response in #expect(response.status == .ok) }
        #expect(ContinuousClock.now - started >= .milliseconds(400))
        #expect(test.sink.last?.attempts.map(\.errorClass) == [.rateLimited, nil])
    }

    @Test func theRetryBudgetBoundsRetriesDuringAnOutage() async throws {
        // only-a: ratio 0, floor 1/s → 10 retries per 10 s window, whatever the traffic.
        let test = try await TestGateway.make(yaml: Self.patientYAML) { _ in
            ReplayTransport.respond(status: 500, contentType: "text/plain", ["down"])
        }
        for _ in 0..<20 { try await post(test, model: "only-a") { #expect($0.status == .badGateway) } }
        let upstreamCalls = test.transport.requests.count
        // 20 first attempts + at most 10 retries from the budget.
        #expect(upstreamCalls == 30)
    }

    @Test func theBreakerOpensSkipsTheDeploymentAndSaysWhenToComeBack() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { request throws(UpstreamFailure) in
            if request.url.contains("alpha.test") { throw UpstreamFailure(.upstreamUnavailable, "refused") }
            return ReplayTransport.respond([Self.ok])
        }
        // ab: a fails twice (two requests) → breaker open; the traffic carries on at b.
        for _ in 0..<4 { try await post(test, model: "ab") { #expect($0.status == .ok) } }
        let alphaCalls = test.transport.requests.filter { $0.url.contains("alpha.test") }.count
        #expect(alphaCalls == 2)
        #expect(test.gateway.monitor.breakerState("a").map { if case .open = $0 { true } else { false } } == true)
        try await post(test, model: "only-a") { response in
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter].flatMap(Int.init).map { (1...30).contains($0) } == true)
            let body = String(buffer: response.body)
            #expect(body.contains("no_healthy_deployment") && body.contains("circuit open"))
        }
    }

    @Test func firstByteTimeoutFailsOverAndIsRecordedAsATimeout() async throws {
        let script = Script(["alpha.test": [Self.slow(.seconds(60))]])
        let test = try await TestGateway.make(yaml: Self.yaml) { request throws(UpstreamFailure) in
            try await script.handle(request)
        }
        let started = ContinuousClock.now
        try await post(test, model: "ab") { response in
            #expect(response.status == .ok)
            #expect(response.headers[.switchyardDeployment] == "b")
        }
        // Far under the 60 s the slow upstream would take; loose against the 0.3 s deadline, since
        // a loaded CI machine runs the whole suite at once.
        #expect(ContinuousClock.now - started < .seconds(20))
        #expect(test.sink.last?.attempts.first?.errorClass == .upstreamTimeout)
    }

    @Test func streamsThatGoSilentEndWithATimeoutEvent() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in
            UpstreamResponse(
                status: 200, contentType: "text/event-stream", body: UpstreamBody(StallingBody(first: Recorded.llamaStream[1])))
        }
        try await post(test, model: "only-a", extra: #","stream":true"#) { response in
            let text = String(buffer: response.body)
            #expect(text.contains("Hi"))
            #expect(text.contains("upstream_timeout"))
        }
        #expect(test.sink.last?.errorClass == .upstreamTimeout)
        #expect(test.transport.requests.count == 1)  // nothing retried after the first byte
    }

    @Test func hedgingRacesASecondDeploymentAndCancelsTheLoser() async throws {
        let script = Script(["alpha.test": [Self.slow(.seconds(60))]])
        let test = try await TestGateway.make(yaml: Self.yaml) { request throws(UpstreamFailure) in
            try await script.handle(request)
        }
        let started = ContinuousClock.now
        try await post(test, model: "hedged") { response in
            #expect(response.status == .ok)
            #expect(response.headers[.switchyardDeployment] == "b")
        }
        // The slow one takes 60 s; the hedge (50 ms) answers far sooner, even on a loaded machine
        // (over 4 s was seen while the whole suite started at once).
        #expect(ContinuousClock.now - started < .seconds(20))
        let attempts = try #require(test.sink.last?.attempts)
        #expect(Set(attempts.map(\.deployment)) == ["a-untimed", "b"])
        #expect(attempts.first { $0.deployment == "b" }?.hedged == true)
        #expect(attempts.first { $0.deployment == "a-untimed" }?.errorClass == .hedgeLost)
        #expect(test.gateway.monitor.snapshot("a-untimed")?.inFlight == 0)
    }

    @Test func hedgingDoesNotStartWhenTheFirstAnswersInTime() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Self.ok]) }
        // A delay far above the immediate answer, so a loaded test machine cannot start a hedge.
        try await post(test, model: "hedged-patient") { #expect($0.headers[.switchyardDeployment] == "a") }
        #expect(test.transport.requests.count == 1)
    }

    @Test func concurrencyLimitsAnswer429WhenEveryDeploymentIsFull() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Self.ok]) }
        let hold = try test.gateway.monitor.acquire("b").get()  // b allows one at a time
        try await post(test, model: "ab", headers: [.switchyardDeployment: "b"]) { response in
            #expect(response.status == .tooManyRequests)
            #expect(response.headers[.retryAfter] == "1")
            #expect(String(buffer: response.body).contains("at_capacity"))
        }
        test.gateway.monitor.release(hold, outcome: .neutral)
        try await post(test, model: "ab", headers: [.switchyardDeployment: "b"]) { #expect($0.status == .ok) }
    }

    @Test func residencyIsEnforcedAndHintsCannotBypassIt() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Self.ok]) }
        try await post(test, model: "eu-only") { #expect($0.headers[.switchyardDeployment] == "b") }
        try await post(test, model: "eu-only", headers: [.switchyardDeployment: "a"]) { response in
            #expect(response.status == .forbidden)
            #expect(String(buffer: response.body).contains("region 'us'"))
        }
        #expect(test.transport.requests.allSatisfy { $0.url.contains("beta.test") })
        #expect(test.sink.last?.errorClass == .policyDenied)
    }

    @Test func strategyHintsReorderAndBadHintsAre400() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Self.ok]) }
        try await post(test, model: "ab", extra: #","max_tokens":10"#, headers: [.switchyardStrategy: "cheapest"]) {
            #expect($0.headers[.switchyardDeployment] == "a")
        }
        try await post(test, model: "ab", headers: [.switchyardStrategy: "psychic"]) { #expect($0.status == .badRequest) }
    }

    @Test func requestsTooLongForEveryContextWindowAre400() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Self.ok]) }
        try await post(test, model: "only-a", extra: #","max_tokens":5000"#) { response in
            #expect(response.status == .badRequest)
            #expect(String(buffer: response.body).contains("context_length_exceeded"))
        }
        #expect(test.transport.requests.isEmpty)
    }
}

/// Sends one chunk, then nothing, like an upstream that hangs mid-stream.
struct StallingBody: AsyncSequence, Sendable {
    let first: String

    func makeAsyncIterator() -> Iterator { Iterator(first: first) }

    struct Iterator: AsyncIteratorProtocol {
        var first: String?
        mutating func next() async throws -> ByteBuffer? {
            if let chunk = first {
                first = nil
                return ByteBuffer(string: chunk)
            }
            try await Task.sleep(for: .seconds(60))
            return nil
        }
    }
}
