import Benchmark
import Foundation
import Routing
import SwitchyardCore
import WireFormats

let requestBody = Array(
    #"{"model":"chat","messages":[{"role":"system","content":"You are a concise assistant."},{"role":"user","content":"What is the capital of France? Answer in two sentences."}],"max_tokens":64,"temperature":0.2,"stream":true}"#
        .utf8)

let chunk =
    Array(
        #"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1795384018,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" Paris"},"logprobs":null,"finish_reason":null}],"usage":null}"#
            .utf8) + [0x0A, 0x0A]

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal, .instructions], maxDuration: .seconds(2))

    Benchmark("request decode (JSONDecoder, validation + estimate)") { benchmark in
        let decoder = JSONDecoder()
        for _ in benchmark.scaledIterations {
            blackHole(try decoder.decode(OpenAIChatRequest.self, from: Data(requestBody)))
        }
    }

    Benchmark("request read (own JSON parser, the gateway's path)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(OpenAIChatRequest(json: try JSONValue.parse(requestBody)))
        }
    }

    Benchmark("request rewrite (model + stream_options, byte-level)") { benchmark in
        for _ in benchmark.scaledIterations {
            let editor = JSONObjectEditor(requestBody)!
            blackHole(
                editor.replacing([
                    ("model", JSONText.string("gpt-4o-mini")), ("stream_options", Array(#"{"include_usage":true}"#.utf8)),
                ]))
        }
    }

    Benchmark("key lookup (SHA-256 + constant-time compare)") { benchmark in
        let (secret, record) = APIKeyFormat.issue(tenant: "acme", agent: nil, expiresAt: nil)
        for _ in benchmark.scaledIterations {
            blackHole(APIKeyFormat.keyID(of: secret))
            blackHole(APIKeyFormat.matches(secret, record))
        }
    }

    Benchmark("route decision (cheapest of 3, with residency)") { benchmark in
        let deployments = (0..<3).map {
            Deployment(
                name: "d\($0)", provider: "p\($0)", model: "m", contextWindow: 128_000,
                prices: TokenPrices(inputPerMillion: Decimal($0 + 1), outputPerMillion: Decimal(3 - $0)))
        }
        let providers = (0..<3).map { Provider(name: "p\($0)", kind: .openai, baseURL: "http://x/v1", region: "eu") }
        let route = Route(name: "r", strategy: .cheapest, targets: deployments.map { RouteTarget($0.name) })
        let planner = RoutePlanner(routes: [route], deployments: deployments, providers: providers)
        let monitor = DeploymentMonitor(deployments: deployments)
        let tenant = Tenant(name: "acme", residency: Residency(regions: ["eu"]))
        let profile = RequestProfile(estimatedInputTokens: 40, maxOutputTokens: 64, requiredCapabilities: [.streaming])
        for _ in benchmark.scaledIterations {
            blackHole(planner.plan(route, profile: profile, tenant: tenant, monitor: monitor, random: 0.5))
        }
    }

    Benchmark("SSE parse + chunk scan + encode (one chunk)") { benchmark in
        var parser = ServerSentEventParser()
        for _ in benchmark.scaledIterations {
            let events = chunk.withUnsafeBytes { parser.feed(raw: $0) }
            for event in events {
                blackHole(OpenAIChunkScanner.summarize(event.data))
                blackHole(event.encoded())
            }
        }
    }

    Benchmark("usage record: cost + journal encode") { benchmark in
        let encoder = JSONEncoder()
        let prices = TokenPrices(inputPerMillion: Decimal(string: "0.15")!, outputPerMillion: Decimal(string: "0.60")!)
        for _ in benchmark.scaledIterations {
            let usage = TokenUsage(inputTokens: 28, outputTokens: 50)
            let record = UsageRecord(
                id: RandomIdentifier.requestID(), startedAt: .now(), finishedAt: .now(), tenant: "acme", agent: nil, keyID: "k",
                endpoint: "chat.completions", route: "chat", deployment: "d", provider: "p", upstreamModel: "m", streamed: false,
                usage: usage, cost: prices.cost(of: usage), latencyMicros: 500, timeToFirstTokenMicros: nil, status: 200,
                errorClass: nil, tags: [:])
            blackHole(try encoder.encode(record))
        }
    }
}
