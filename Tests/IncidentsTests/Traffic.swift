import Incidents
import SwitchyardCore

/// A window's traffic built request by request, as the recorder would count it.
struct Traffic {
    var cells: [TrafficKey: TrafficCell] = [:]

    mutating func add(
        _ count: Int, route: String = "chat", deployment: String, provider: String = "openai", tenant: String = "acme",
        agent: String = "", latencyMillis: Int64 = 100, error: ErrorClass? = nil, costNanos: Int64 = 1_000,
        outputTokens: Int = 5, firstTokenMillis: Int64? = nil
    ) {
        for _ in 0..<count {
            let record = UsageRecord(
                id: "r", startedAt: UnixMicros(0), finishedAt: UnixMicros(0), tenant: tenant, agent: agent.isEmpty ? nil : agent,
                keyID: nil, endpoint: "chat.completions", route: route, deployment: deployment, provider: provider,
                upstreamModel: "m", streamed: firstTokenMillis != nil,
                usage: TokenUsage(inputTokens: 10, outputTokens: outputTokens), cost: Money(nanos: costNanos, currency: "USD"),
                latencyMicros: latencyMillis * 1000, timeToFirstTokenMicros: firstTokenMillis.map { $0 * 1000 },
                status: error == nil ? 200 : 502, errorClass: error, tags: [:])
            cells[TrafficKey(record), default: TrafficCell()].add(record)
        }
    }

    /// Three deployments sharing route `chat`, 20 requests each, all at `latency` but `slow`'s.
    static func steady(slow: String? = nil, slowMillis: Int64 = 3_000) -> Traffic {
        var traffic = Traffic()
        for deployment in ["gpt-eu", "gpt-us", "claude"] {
            traffic.add(
                20, deployment: deployment, provider: deployment == "claude" ? "anthropic" : "openai",
                tenant: deployment == "gpt-us" ? "globex" : "acme", latencyMillis: deployment == slow ? slowMillis : 100)
        }
        return traffic
    }
}
